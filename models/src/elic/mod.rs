//! ELIC-style model (He et al. 2022, "ELIC: Efficient Learned Image Compression with Unevenly
//! Grouped Space-Channel Contextual Adaptive Coding"): mbt2018-mean's transforms and
//! hyperprior, with y split into unevenly sized channel slices, each coded in two checkerboard
//! steps conditioned on the slices before it.
//!
//! Entropy model of y, slice `k` of `g_k` channels (`ElicConfig::groups`):
//! - channel context `cc_transforms.{k}` (k ≥ 1): three 5×5 convs (ReLU between) over the
//!   concatenation of the decoded slices ŷ₀..ŷₖ₋₁, widths `context_width`, `context_width·4/7`,
//!   `2·g_k`;
//! - spatial context `context_prediction.{k}`: a 5×5 conv g_k → 2·g_k over ŷₖ with the
//!   non-anchors zeroed, used only at non-anchors (zero at anchors). Anchors are the positions
//!   where `row + col` is even;
//! - parameter aggregation `entropy_parameters.{k}`: 1×1 convs (LeakyReLU between) from
//!   hyper parameters (2M, `h_s`'s output) ‖ channel context (2·g_k, absent for k = 0) ‖
//!   spatial context (2·g_k), widths `in → 2·in/3 → in/3 → 2·g_k`, split into (scales, means).
//!
//! Anchors are coded first (spatial context zero), then non-anchors, each as one parallel step;
//! the aggregation, being pointwise, is evaluated only at the positions of its step.
//!
//! Coding (`compress`, `decompress`, `decompress_latent`, `quantized_latent`) evaluates `h_s`
//! and all the context and aggregation networks in exact fixed point (`crate::exact`), so a
//! decoder on any device, thread count or machine rebuilds every scale index and mean bit for
//! bit. `forward` (training) uses the float networks in the same two steps, so a Round forward
//! is close to, but no longer bit-identical with, what the decoder produces: that is
//! `synthesize(quantized_latent)`. Decoding runs g_s in exact fixed point too, so the pixels are
//! identical everywhere. `set_exact_arithmetic(false)` uses the float networks instead, for
//! measuring what exactness costs.
//!
//! Variable names follow CompressAI's conventions: `g_a`, `g_s`, `h_a`, `h_s`,
//! `entropy_bottleneck`, `cc_transforms.{k}.{0,2,4}`, `context_prediction.{k}`,
//! `entropy_parameters.{k}.{0,2,4}`, and with gain units `gain.{y,y_inv,z,z_inv}`. Note that
//! `cc_transforms` is indexed by slice (it starts at 1), where a PyTorch `ModuleList` over
//! slices 1.. would start at 0.

mod context;

use crate::entropy::{quantize, EntropyBottleneck, GaussianConditional, Quantization, SymbolChecksum};
use crate::exact::{fixed_input, ExactNetSpec};
use crate::hyperprior::gain::{self, GainedLatents, LatentGains};
use crate::hyperprior::{
    compress_hyper, decompress_hyper, gdn_analysis, gdn_synthesis, latent_size, mean_scale_hyper_transforms,
    GdnSynthesis,
};
use crate::model::{CompressedLatents, ForwardOutput, ImageModel, Rate};
use crate::refine::{self, Refinement, RefinementReport};
use anyhow::{ensure, Context, Result};
use context::{code_step, Checkerboard, Coder, ExactNets, FloatNets, SliceModel, SliceNets};
use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};
use tch::nn::{self, Module};
use tch::Tensor;

/// The widths of an ELIC model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElicConfig {
    /// Transform width.
    pub n: i64,
    /// Latent channels (sum of `groups`).
    pub m: i64,
    /// Gain levels; 1 means fixed rate (no gain units).
    pub rate_levels: i64,
    /// Channel slice sizes, coded in order.
    pub groups: Vec<i64>,
    /// Width of the channel-context transforms (ELIC: 224 for M = 320).
    pub context_width: i64,
}

impl ElicConfig {
    /// ELIC's grouping [16, 16, 32, 64, M − 128] (for M = 320) scaled to `m`: with u = ⌊m/20⌋,
    /// groups = [u, u, 2u, 4u, m − 8u]; the context width is 224·m/320 rounded (at least 16).
    ///
    /// The proportional split needs m ≥ 20; a smaller `m` (never a useful model, but a
    /// weights file can say so) gets a single slice, so that building never fails.
    pub fn new(n: i64, m: i64, rate_levels: i64) -> Self {
        let groups = if m >= 20 {
            let u = m / 20;
            vec![u, u, 2 * u, 4 * u, m - 8 * u]
        } else {
            vec![m.max(1)]
        };
        let context_width = ((224 * m) as f64 / 320.0).round().max(16.0) as i64;
        Self { n, m, rate_levels, groups, context_width }
    }

    /// Checks that the widths are positive and the groups cover the latent.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.n > 0 && self.m > 0, "ELIC widths N={} M={} must be positive", self.n, self.m);
        ensure!(self.rate_levels >= 1, "rate_levels must be at least 1");
        ensure!(
            !self.groups.is_empty() && self.groups.iter().all(|&g| g > 0),
            "ELIC groups {:?} must be positive",
            self.groups
        );
        ensure!(self.groups.iter().sum::<i64>() == self.m, "ELIC groups {:?} do not sum to M={}", self.groups, self.m);
        ensure!(self.context_width > 0, "ELIC context width must be positive");
        Ok(())
    }
}

/// The ELIC-style model. `ŷ` (and `quantized_latent`) live in the gained domain, as in
/// mbt2018-mean: y·g is quantized, ŷ·g⁻¹ feeds g_s.
#[derive(Debug)]
pub struct Elic {
    config: ElicConfig,
    g_a: nn::Sequential,
    g_s: GdnSynthesis,
    h_a: nn::Sequential,
    h_s: nn::Sequential,
    /// h_s's layers for the exact (fixed-point) evaluation that coding uses.
    h_s_exact: ExactNetSpec,
    /// Code with exact entropy parameters (the default); false uses the float networks.
    exact: bool,
    entropy_bottleneck: EntropyBottleneck,
    gaussian_conditional: GaussianConditional,
    slices: Vec<SliceModel>,
    /// Gains on y and on z; absent for a fixed-rate model.
    gains: Option<LatentGains>,
}

impl Elic {
    /// Builds the variables under `vs`. Panics on a config that fails
    /// [`ElicConfig::validate`] ([`ElicConfig::new`] always passes); see [`Elic::try_new`].
    pub fn new(vs: &nn::Path, config: &ElicConfig) -> Self {
        Self::try_new(vs, config).expect("valid ELIC config")
    }

    pub fn try_new(vs: &nn::Path, config: &ElicConfig) -> Result<Self> {
        config.validate()?;
        let (n, m) = (config.n, config.m);
        let (h_a, h_s, h_s_exact) = mean_scale_hyper_transforms(vs, n, m);
        let mut previous = 0;
        let mut slices = Vec::with_capacity(config.groups.len());
        for (k, &g) in config.groups.iter().enumerate() {
            slices.push(SliceModel::new(vs, k, m, previous, g, config.context_width));
            previous += g;
        }
        let gains = LatentGains::new(vs, config.rate_levels, m, n);
        Ok(Self {
            config: config.clone(),
            g_a: gdn_analysis(vs / "g_a", n, m),
            g_s: gdn_synthesis(vs / "g_s", n, m),
            h_a,
            h_s,
            h_s_exact,
            exact: true,
            entropy_bottleneck: EntropyBottleneck::new(vs / "entropy_bottleneck", n),
            gaussian_conditional: GaussianConditional::default(),
            slices,
            gains,
        })
    }

    pub fn config(&self) -> &ElicConfig {
        &self.config
    }

    pub fn set_gaussian(&mut self, gaussian: GaussianConditional) {
        self.gaussian_conditional = gaussian;
    }

    /// y (gained), its inverse gain, z (gained) and its inverse gain.
    fn analyse(&self, x: &Tensor, rate: &Rate) -> Result<GainedLatents> {
        gain::analyse(self.gains.as_ref(), &self.g_a, &self.h_a, x, rate)
    }

    /// The hyper parameters (B, 2M, h, w) from ẑ (gained domain) and z's inverse gain.
    fn hyper_parameters(&self, z_hat: &Tensor, z_inverse: &Tensor) -> Tensor {
        self.h_s.forward(&(z_hat * z_inverse))
    }

    /// The hyper parameters for coding, in the domain of `nets`: float (the float h_s), or
    /// fixed point from the exact h_s (with z's inverse gains computed exactly).
    fn coding_hyper(&self, z_hat: &Tensor, z_inverse: &Tensor, rate: &Rate) -> Result<Tensor> {
        if !self.exact {
            return Ok(self.hyper_parameters(z_hat, z_inverse));
        }
        let factors = gain::exact_z_factors(self.gains.as_ref(), rate, z_hat.size()[1] as usize)?;
        self.h_s_exact.build().forward(&fixed_input(z_hat, &factors)?)
    }

    /// The context and aggregation networks coding uses.
    fn coding_nets(&self) -> Box<dyn SliceNets + '_> {
        if self.exact {
            Box::new(ExactNets::build(&self.slices))
        } else {
            Box::new(FloatNets(&self.slices))
        }
    }

    /// Codes (encoding: `y` given) or decodes ŷ slice by slice, anchors then non-anchors, each
    /// step in parallel. `hyper` is [`coding_hyper`](Self::coding_hyper)'s output. Returns the
    /// full ŷ (1, M, h, w) on `device`, identical on both sides. The symbols go into `checksum`
    /// in coding order.
    fn code_latent(
        &self,
        coder: &mut Coder,
        y: Option<&Tensor>,
        hyper: &Tensor,
        device: tch::Device,
        checksum: &mut SymbolChecksum,
    ) -> Result<Tensor> {
        let nets = self.coding_nets();
        let (_, _, h, w) = hyper.size4()?;
        let board = Checkerboard::new(h, w);
        let hyper_anchors = board.gather(hyper, true);
        let hyper_non_anchors = board.gather(hyper, false);
        let ys = y.map(|y| y.split_with_sizes(self.config.groups.as_slice(), 1));
        let mut decoded: Vec<Tensor> = Vec::with_capacity(self.slices.len());
        let mut decoded_domain: Vec<Tensor> = Vec::with_capacity(self.slices.len());
        for (k, slice) in self.slices.iter().enumerate() {
            let y_k = |anchors: bool| ys.as_ref().map(|ys| board.gather(&ys[k], anchors));
            let channel = nets.channel_context(k, &decoded_domain)?;
            let with_channel = |hyper: &Tensor, anchors: bool| {
                let mut parts = vec![hyper.shallow_clone()];
                parts.extend(channel.as_ref().map(|c| board.gather(c, anchors)));
                parts
            };
            // Anchors: no spatial context.
            let mut parts = with_channel(&hyper_anchors, true);
            let (_, _, _, p) = hyper_anchors.size4()?;
            parts.push(Tensor::zeros([1, 2 * slice.channels, 1, p], (hyper.kind(), hyper.device())));
            let (scales, means) = nets.parameters(k, &Tensor::cat(&parts, 1), device)?;
            let anchors = code_step(&self.gaussian_conditional, coder, y_k(true).as_ref(), &scales, &means, checksum)?;
            // Non-anchors: spatial context from the decoded anchors.
            let spatial = nets.spatial_context(k, &nets.domain(&board.scatter_anchors(&anchors))?)?;
            let mut parts = with_channel(&hyper_non_anchors, false);
            parts.push(board.gather(&spatial, false));
            let (scales, means) = nets.parameters(k, &Tensor::cat(&parts, 1), device)?;
            let non_anchors =
                code_step(&self.gaussian_conditional, coder, y_k(false).as_ref(), &scales, &means, checksum)?;
            let y_hat = board.scatter(&anchors, &non_anchors);
            decoded_domain.push(nets.domain(&y_hat)?);
            decoded.push(y_hat);
        }
        Ok(Tensor::cat(&decoded, 1))
    }

    /// Decodes ŷ (1, M, h, w), gained domain, from the streams of a padded `height × width`
    /// image: what [`quantized_latent`](ImageModel::quantized_latent) returns on the encoder side.
    /// Fails if the decoded symbols do not match the stored symbol checksum (a desync).
    pub fn decompress_latent(
        &self,
        latents: &CompressedLatents,
        height: i64,
        width: i64,
        rate: &Rate,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let (zh, zw) = latent_size(height, width, self.stride(), 64)?;
        let device = self.entropy_bottleneck.medians().device();
        let (_, z_inverse) = gain::inverse_gains(self.gains.as_ref(), rate, device)?;
        let hyper_stream = latents.hyper.as_deref().context("missing hyper-latent stream")?;
        let mut checksum = SymbolChecksum::new();
        let z_hat = decompress_hyper(&self.entropy_bottleneck, hyper_stream, zh, zw, device, &mut checksum)?;
        let hyper = self.coding_hyper(&z_hat, &z_inverse, rate)?;
        let mut coder = Coder::Decode(SymbolDecoder::new(&latents.latent)?);
        let y_hat = self.code_latent(&mut coder, None, &hyper, device, &mut checksum)?;
        latents.symbol_checksum.verify(checksum.digest())?;
        Ok(y_hat)
    }

    /// Encodes y and returns the stream and ŷ.
    fn encode_latent(&self, y: &Tensor, hyper: &Tensor, checksum: &mut SymbolChecksum) -> Result<(Vec<u8>, Tensor)> {
        let mut coder = Coder::Encode(SymbolEncoder::new());
        let y_hat = self.code_latent(&mut coder, Some(y), hyper, y.device(), checksum)?;
        let Coder::Encode(enc) = coder else { unreachable!("the coder stays an encoder") };
        Ok((enc.finish(), y_hat))
    }

    /// The training forward pass from gained latents `y` and `z` (the analysis transforms'
    /// or, in refinement, the searched ones), with `l`'s inverse gains; each latent is
    /// quantized with `mode`.
    fn forward_latents(&self, y: &Tensor, z: &Tensor, l: &GainedLatents, mode: Quantization) -> ForwardOutput {
        let (z_hat, z_likelihoods) = self.entropy_bottleneck.forward(z, mode);
        let hyper = self.hyper_parameters(&z_hat, &l.z_inverse);
        let (_, _, h, w) = y.size4().expect("y is B×M×h×w");
        let board = Checkerboard::new(h, w);
        let hyper_anchors = board.gather(&hyper, true);
        let hyper_non_anchors = board.gather(&hyper, false);
        let ys = y.split_with_sizes(self.config.groups.as_slice(), 1);
        let mut decoded: Vec<Tensor> = Vec::with_capacity(self.slices.len());
        let mut likelihoods = Vec::with_capacity(self.slices.len());
        for (slice, y_k) in self.slices.iter().zip(&ys) {
            let channel = slice.channel_context(&decoded);
            let with_channel = |hyper: &Tensor, anchors: bool| {
                let mut parts = vec![hyper.shallow_clone()];
                parts.extend(channel.as_ref().map(|c| board.gather(c, anchors)));
                parts
            };
            // Anchors: no spatial context.
            let mut parts = with_channel(&hyper_anchors, true);
            let (b, _, _, p) = hyper_anchors.size4().expect("B×C×1×P");
            parts.push(Tensor::zeros([b, 2 * slice.channels, 1, p], (hyper.kind(), hyper.device())));
            let (scales_a, means_a) = slice.parameters(&Tensor::cat(&parts, 1));
            let (noisy_a, y_hat_a) = quantize(&board.gather(y_k, true), mode, &means_a);
            // Non-anchors: spatial context from the anchors' decoder-side ŷ.
            let spatial = slice.spatial_context(&board.scatter_anchors(&y_hat_a));
            let mut parts = with_channel(&hyper_non_anchors, false);
            parts.push(board.gather(&spatial, false));
            let (scales_n, means_n) = slice.parameters(&Tensor::cat(&parts, 1));
            let (noisy_n, y_hat_n) = quantize(&board.gather(y_k, false), mode, &means_n);
            let likelihood = |noisy: &Tensor, scales: &Tensor, means: &Tensor| {
                self.gaussian_conditional.likelihood(noisy, scales, means)
            };
            likelihoods.push(
                board.scatter(&likelihood(&noisy_a, &scales_a, &means_a), &likelihood(&noisy_n, &scales_n, &means_n)),
            );
            decoded.push(board.scatter(&y_hat_a, &y_hat_n));
        }
        let y_hat = Tensor::cat(&decoded, 1);
        let y_likelihoods = Tensor::cat(&likelihoods, 1);
        ForwardOutput {
            x_hat: self.g_s.forward(&(y_hat * &l.y_inverse)),
            likelihoods: vec![y_likelihoods, z_likelihoods],
        }
    }

    /// One image's gained latents, as compress codes them (a batch of one).
    fn analyse_one(&self, x: &Tensor, rate: &Rate) -> Result<GainedLatents> {
        let (b, _, _, _) = x.size4()?;
        ensure!(b == 1, "compress codes one image at a time, got a batch of {b}");
        self.analyse(x, rate)
    }

    /// Codes gained latents y and z (with z's inverse gain): z with the factorized prior, y
    /// with the contexts and the hyper parameters its ẑ gives. Also returns ŷ.
    fn code_latents(
        &self,
        y: &Tensor,
        z: &Tensor,
        z_inverse: &Tensor,
        rate: &Rate,
    ) -> Result<(CompressedLatents, Tensor)> {
        let mut checksum = SymbolChecksum::new();
        let (hyper_stream, z_hat) = compress_hyper(&self.entropy_bottleneck, z, &mut checksum)?;
        let hyper = self.coding_hyper(&z_hat, z_inverse, rate)?;
        let (latent, y_hat) = self.encode_latent(y, &hyper, &mut checksum)?;
        Ok((CompressedLatents { hyper: Some(hyper_stream), latent, symbol_checksum: checksum.digest() }, y_hat))
    }
}

impl ImageModel for Elic {
    fn arch(&self) -> &'static str {
        "elic"
    }

    fn stride(&self) -> i64 {
        64
    }

    fn rate_levels(&self) -> usize {
        gain::rate_levels(self.gains.as_ref())
    }

    fn forward(&self, x: &Tensor, mode: Quantization, rate: &Rate) -> ForwardOutput {
        let l = self.analyse(x, rate).expect("rate selection is valid");
        self.forward_latents(&l.y, &l.z, &l, mode)
    }

    fn supports_refinement(&self) -> bool {
        true
    }

    fn compress_refined(
        &self,
        x: &Tensor,
        rate: &Rate,
        refinement: &Refinement,
    ) -> Result<(CompressedLatents, RefinementReport)> {
        let l = tch::no_grad(|| self.analyse_one(x, rate))?;
        let (y, z, report) =
            refine::minimise_gained(x, &l, refinement, |y, z, mode| self.forward_latents(y, z, &l, mode))?;
        let _guard = tch::no_grad_guard();
        Ok((self.code_latents(&y, &z, &l.z_inverse, rate)?.0, report))
    }

    fn bottleneck(&self) -> &EntropyBottleneck {
        &self.entropy_bottleneck
    }

    fn bottleneck_mut(&mut self) -> &mut EntropyBottleneck {
        &mut self.entropy_bottleneck
    }

    fn set_scale_table(&mut self, table: &[f64]) -> Result<()> {
        self.gaussian_conditional = GaussianConditional::with_scale_table(table)?;
        Ok(())
    }

    fn compress(&self, x: &Tensor, rate: &Rate) -> Result<CompressedLatents> {
        let _guard = tch::no_grad_guard();
        let l = self.analyse_one(x, rate)?;
        Ok(self.code_latents(&l.y, &l.z, &l.z_inverse, rate)?.0)
    }

    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let y_hat = self.decompress_latent(latents, height, width, rate)?;
        self.synthesize(&y_hat, rate)
    }

    fn synthesize(&self, y_hat: &Tensor, rate: &Rate) -> Result<Tensor> {
        let factors = gain::exact_y_factors(self.gains.as_ref(), rate, y_hat.size()[1] as usize)?;
        self.g_s.reconstruct(y_hat, &factors, self.exact)
    }

    fn quantized_latent(&self, x: &Tensor, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let l = self.analyse_one(x, rate)?;
        Ok(self.code_latents(&l.y, &l.z, &l.z_inverse, rate)?.1)
    }

    fn set_exact_arithmetic(&mut self, exact: bool) -> bool {
        self.exact = exact;
        true
    }
}
