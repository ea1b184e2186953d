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
//! Anchors are coded first (spatial context zero), then non-anchors, each as one parallel step.
//! `forward` runs the same two steps, so a Round forward reproduces the decoder exactly.
//!
//! Variable names follow CompressAI's conventions: `g_a`, `g_s`, `h_a`, `h_s`,
//! `entropy_bottleneck`, `cc_transforms.{k}.{0,2,4}`, `context_prediction.{k}`,
//! `entropy_parameters.{k}.{0,2,4}`, and with gain units `gain.{y,y_inv,z,z_inv}`. Note that
//! `cc_transforms` is indexed by slice (it starts at 1), where a PyTorch `ModuleList` over
//! slices 1.. would start at 0.

mod context;

use crate::entropy::{quantize, EntropyBottleneck, GaussianConditional, Quantization, SymbolChecksum};
use crate::hyperprior::{compress_hyper, decompress_hyper, gdn_analysis, gdn_synthesis, latent_size, GainUnit};
use crate::layers::{conv, deconv};
use crate::model::{CompressedLatents, ForwardOutput, ImageModel, Rate};
use anyhow::{ensure, Context, Result};
use context::{code_step, keep, Checkerboard, Coder, SliceModel};
use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

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
    g_s: nn::Sequential,
    h_a: nn::Sequential,
    h_s: nn::Sequential,
    entropy_bottleneck: EntropyBottleneck,
    gaussian_conditional: GaussianConditional,
    slices: Vec<SliceModel>,
    /// Gains on y and on z; absent for a fixed-rate model.
    gains: Option<(GainUnit, GainUnit)>,
}

/// (gain, inverse gain) of one latent, shaped for broadcasting.
type GainPair = (Tensor, Tensor);

/// The latents of one pass.
struct Latents {
    y: Tensor,
    y_inverse: Tensor,
    z: Tensor,
    z_inverse: Tensor,
}

pub(crate) fn lap(label: &str, t: &mut std::time::Instant) {
    if std::env::var_os("NECO_ELIC_PROFILE").is_some() {
        eprintln!("  {label}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    *t = std::time::Instant::now();
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
        let ha = vs / "h_a";
        let h_a = nn::seq()
            .add(conv(&ha / 0, m, n, 3, 1))
            .add_fn(|x| x.leaky_relu())
            .add(conv(&ha / 2, n, n, 5, 2))
            .add_fn(|x| x.leaky_relu())
            .add(conv(&ha / 4, n, n, 5, 2));
        let hs = vs / "h_s";
        let h_s = nn::seq()
            .add(deconv(&hs / 0, n, m, 5, 2))
            .add_fn(|x| x.leaky_relu())
            .add(deconv(&hs / 2, m, m * 3 / 2, 5, 2))
            .add_fn(|x| x.leaky_relu())
            .add(conv(&hs / 4, m * 3 / 2, m * 2, 3, 1));
        let mut previous = 0;
        let mut slices = Vec::with_capacity(config.groups.len());
        for (k, &g) in config.groups.iter().enumerate() {
            slices.push(SliceModel::new(vs, k, m, previous, g, config.context_width));
            previous += g;
        }
        let gains = (config.rate_levels > 1).then(|| {
            let g = vs / "gain";
            (GainUnit::new(&g, "y", config.rate_levels, m), GainUnit::new(&g, "z", config.rate_levels, n))
        });
        Ok(Self {
            config: config.clone(),
            g_a: gdn_analysis(vs / "g_a", n, m),
            g_s: gdn_synthesis(vs / "g_s", n, m),
            h_a,
            h_s,
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

    fn gains(&self, rate: &Rate) -> Result<Option<(GainPair, GainPair)>> {
        match &self.gains {
            None => Ok(None),
            Some((gy, gz)) => Ok(Some((gy.select(rate)?, gz.select(rate)?))),
        }
    }

    /// y (gained), its inverse gain, z (gained) and its inverse gain.
    fn analyse(&self, x: &Tensor, rate: &Rate) -> Result<Latents> {
        let y = self.g_a.forward(x);
        let gains = self.gains(rate)?;
        let (y, y_inverse) = match &gains {
            Some(((g, ig), _)) => (&y * g, ig.shallow_clone()),
            None => (y.shallow_clone(), y.ones_like()),
        };
        let z = self.h_a.forward(&y);
        let (z, z_inverse) = match &gains {
            Some((_, (g, ig))) => (&z * g, ig.shallow_clone()),
            None => (z.shallow_clone(), z.ones_like()),
        };
        Ok(Latents { y, y_inverse, z, z_inverse })
    }

    /// The hyper parameters (B, 2M, h, w) from ẑ (gained domain) and z's inverse gain.
    fn hyper_parameters(&self, z_hat: &Tensor, z_inverse: &Tensor) -> Tensor {
        self.h_s.forward(&(z_hat * z_inverse))
    }

    fn decoder_inverse_gains(&self, rate: &Rate, device: tch::Device) -> Result<(Tensor, Tensor)> {
        Ok(match self.gains(rate)? {
            Some(((_, yi), (_, zi))) => (yi, zi),
            None => (Tensor::ones([1], (Kind::Float, device)), Tensor::ones([1], (Kind::Float, device))),
        })
    }

    /// Codes (encoding: `y` given) or decodes ŷ slice by slice, anchors then non-anchors, each
    /// step in parallel. Returns the full ŷ (1, M, h, w), identical on both sides. The symbols go
    /// into `checksum` in coding order.
    fn code_latent(
        &self,
        coder: &mut Coder,
        y: Option<&Tensor>,
        hyper: &Tensor,
        checksum: &mut SymbolChecksum,
    ) -> Result<Tensor> {
        let (_, _, h, w) = hyper.size4()?;
        let board = Checkerboard::new(h, w, hyper.device());
        let ys = y.map(|y| y.split_with_sizes(self.config.groups.as_slice(), 1));
        let mut decoded: Vec<Tensor> = Vec::with_capacity(self.slices.len());
        let mut t = std::time::Instant::now();
        for (k, slice) in self.slices.iter().enumerate() {
            let y_k = ys.as_ref().map(|ys| &ys[k]);
            let channel = slice.channel_context(&decoded);
            lap(&format!("slice {k} cc"), &mut t);
            let zeros = slice.no_spatial_context(hyper);
            let (scales, means) = slice.parameters(hyper, channel.as_ref(), &zeros);
            lap(&format!("slice {k} agg A"), &mut t);
            let anchors = code_step(&self.gaussian_conditional, coder, y_k, &scales, &means, &board.anchor, checksum)?;
            lap(&format!("slice {k} code A"), &mut t);
            let spatial = slice.spatial_context(&anchors, &board);
            lap(&format!("slice {k} spatial"), &mut t);
            let (scales, means) = slice.parameters(hyper, channel.as_ref(), &spatial);
            lap(&format!("slice {k} agg N"), &mut t);
            let non_anchors =
                code_step(&self.gaussian_conditional, coder, y_k, &scales, &means, &board.non_anchor, checksum)?;
            decoded.push(anchors.where_self(&board.anchor, &non_anchors));
            lap(&format!("slice {k} code N"), &mut t);
        }
        let r = Tensor::cat(&decoded, 1);
        lap("cat", &mut t);
        Ok(r)
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
        let (_, z_inverse) = self.decoder_inverse_gains(rate, device)?;
        let hyper_stream = latents.hyper.as_deref().context("missing hyper-latent stream")?;
        let mut checksum = SymbolChecksum::new();
        let mut t = std::time::Instant::now();
        let z_hat = decompress_hyper(&self.entropy_bottleneck, hyper_stream, zh, zw, device, &mut checksum)?;
        lap("decode z", &mut t);
        let hyper = self.hyper_parameters(&z_hat, &z_inverse);
        lap("h_s", &mut t);
        let mut coder = Coder::Decode(SymbolDecoder::new(&latents.latent)?);
        let y_hat = self.code_latent(&mut coder, None, &hyper, &mut checksum)?;
        latents.symbol_checksum.verify(checksum.digest())?;
        Ok(y_hat)
    }

    /// Encodes y and returns the stream and ŷ.
    fn encode_latent(&self, y: &Tensor, hyper: &Tensor, checksum: &mut SymbolChecksum) -> Result<(Vec<u8>, Tensor)> {
        let mut coder = Coder::Encode(SymbolEncoder::new());
        let y_hat = self.code_latent(&mut coder, Some(y), hyper, checksum)?;
        let Coder::Encode(enc) = coder else { unreachable!("the coder stays an encoder") };
        Ok((enc.finish(), y_hat))
    }

    /// Latent y, hyper stream and hyper parameters of one image, as compress computes them.
    fn analyse_for_coding(
        &self,
        x: &Tensor,
        rate: &Rate,
        checksum: &mut SymbolChecksum,
    ) -> Result<(Latents, Vec<u8>, Tensor)> {
        let (b, _, _, _) = x.size4()?;
        ensure!(b == 1, "compress codes one image at a time, got a batch of {b}");
        let mut t = std::time::Instant::now();
        let l = self.analyse(x, rate)?;
        lap("g_a+h_a", &mut t);
        let (hyper_stream, z_hat) = compress_hyper(&self.entropy_bottleneck, &l.z, checksum)?;
        lap("code z", &mut t);
        let hyper = self.hyper_parameters(&z_hat, &l.z_inverse);
        lap("h_s", &mut t);
        Ok((l, hyper_stream, hyper))
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
        self.gains.as_ref().map_or(1, |(g, _)| g.levels() as usize)
    }

    fn forward(&self, x: &Tensor, mode: Quantization, rate: &Rate) -> ForwardOutput {
        let mut t = std::time::Instant::now();
        let l = self.analyse(x, rate).expect("rate selection is valid");
        lap("fwd g_a+h_a", &mut t);
        let (z_hat, z_likelihoods) = self.entropy_bottleneck.forward(&l.z, mode);
        let hyper = self.hyper_parameters(&z_hat, &l.z_inverse);
        lap("fwd eb+h_s", &mut t);
        let (_, _, h, w) = l.y.size4().expect("y is B×M×h×w");
        let board = Checkerboard::new(h, w, l.y.device());
        let ys = l.y.split_with_sizes(self.config.groups.as_slice(), 1);
        let mut decoded: Vec<Tensor> = Vec::with_capacity(self.slices.len());
        let mut likelihoods = Vec::with_capacity(self.slices.len());
        for (slice, y_k) in self.slices.iter().zip(&ys) {
            let channel = slice.channel_context(&decoded);
            // Anchors: no spatial context.
            let zeros = slice.no_spatial_context(y_k);
            let (scales_a, means_a) = slice.parameters(&hyper, channel.as_ref(), &zeros);
            let (noisy_a, y_hat_a) = quantize(y_k, mode, &means_a);
            // Non-anchors: spatial context from the anchors' decoder-side ŷ.
            let spatial = slice.spatial_context(&keep(&y_hat_a, &board.anchor), &board);
            let (scales_n, means_n) = slice.parameters(&hyper, channel.as_ref(), &spatial);
            let (noisy_n, y_hat_n) = quantize(y_k, mode, &means_n);
            let pick = |a: &Tensor, n: &Tensor| a.where_self(&board.anchor, n);
            let (scales, means) = (pick(&scales_a, &scales_n), pick(&means_a, &means_n));
            likelihoods.push(self.gaussian_conditional.likelihood(&pick(&noisy_a, &noisy_n), &scales, &means));
            decoded.push(pick(&y_hat_a, &y_hat_n));
            lap("fwd slice", &mut t);
        }
        let y_hat = Tensor::cat(&decoded, 1);
        let y_likelihoods = Tensor::cat(&likelihoods, 1);
        let x_hat = self.g_s.forward(&(y_hat * &l.y_inverse));
        lap("fwd g_s", &mut t);
        ForwardOutput { x_hat, likelihoods: vec![y_likelihoods, z_likelihoods] }
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
        let mut checksum = SymbolChecksum::new();
        let (l, hyper_stream, hyper) = self.analyse_for_coding(x, rate, &mut checksum)?;
        let (latent, _) = self.encode_latent(&l.y, &hyper, &mut checksum)?;
        Ok(CompressedLatents { hyper: Some(hyper_stream), latent, symbol_checksum: checksum.digest() })
    }

    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let y_hat = self.decompress_latent(latents, height, width, rate)?;
        let mut t = std::time::Instant::now();
        let device = y_hat.device();
        let (y_inverse, _) = self.decoder_inverse_gains(rate, device)?;
        let r = self.g_s.forward(&(y_hat * y_inverse)).clamp(0.0, 1.0);
        lap("g_s", &mut t);
        Ok(r)
    }

    fn synthesize(&self, y_hat: &Tensor, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let (y_inverse, _) = self.decoder_inverse_gains(rate, y_hat.device())?;
        Ok(self.g_s.forward(&(y_hat * y_inverse)).clamp(0.0, 1.0))
    }

    fn quantized_latent(&self, x: &Tensor, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let mut checksum = SymbolChecksum::new();
        let (l, _, hyper) = self.analyse_for_coding(x, rate, &mut checksum)?;
        Ok(self.encode_latent(&l.y, &hyper, &mut checksum)?.1)
    }
}
