//! mbt2018-mean: a Gaussian on y with mean and scale predicted from a hyper-latent z
//! (Minnen et al. 2018 without the autoregressive context), optionally with gain units for
//! continuous variable rate.

use super::gain::{self, GainedLatents, LatentGains};
use super::{
    compress_hyper, decompress_hyper, gdn_analysis, gdn_synthesis, latent_size, mean_scale_hyper_transforms,
    GdnSynthesis,
};
use crate::entropy::{EntropyBottleneck, GaussianConditional, Quantization, SymbolChecksum};
use crate::exact::{fixed_input, fixed_to_f32, ExactNetSpec, Precision};
use crate::model::{CompressedLatents, ForwardOutput, ImageModel, Rate};
use crate::refine::{self, Refinement, RefinementReport};
use anyhow::{Context, Result};
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug)]
pub struct MeanScaleHyperprior {
    g_a: nn::Sequential,
    g_s: GdnSynthesis,
    h_a: nn::Sequential,
    h_s: nn::Sequential,
    /// h_s's layers for the exact (fixed-point) evaluation that coding uses.
    h_s_exact: ExactNetSpec,
    /// Code with exact entropy parameters and decode with the exact g_s (the default); false
    /// uses the float networks, for measuring what exactness costs.
    exact: bool,
    /// Train h_s through its fixed-point rounding (see `ExactNetSpec::forward_quantization_aware`).
    quantization_aware: bool,
    entropy_bottleneck: EntropyBottleneck,
    gaussian_conditional: GaussianConditional,
    /// Gains on y and on z; absent for the fixed-rate (CompressAI-compatible) model.
    gains: Option<LatentGains>,
}

impl MeanScaleHyperprior {
    /// `rate_levels > 1` adds gain units (variables `gain.y`, `gain.y_inv`, `gain.z`, `gain.z_inv`).
    pub fn new(vs: &nn::Path, n: i64, m: i64, rate_levels: i64) -> Self {
        let (h_a, h_s, h_s_exact) = mean_scale_hyper_transforms(vs, n, m);
        let gains = LatentGains::new(vs, rate_levels, m, n);
        Self {
            g_a: gdn_analysis(vs / "g_a", n, m),
            g_s: gdn_synthesis(vs / "g_s", n, m),
            h_a,
            h_s,
            h_s_exact,
            exact: true,
            quantization_aware: false,
            entropy_bottleneck: EntropyBottleneck::new(vs / "entropy_bottleneck", n),
            gaussian_conditional: GaussianConditional::default(),
            gains,
        }
    }

    pub fn set_gaussian(&mut self, gaussian: GaussianConditional) {
        self.gaussian_conditional = gaussian;
    }

    /// y (gained), its inverse gain, z (gained) and its inverse gain.
    fn analyse(&self, x: &Tensor, rate: &Rate) -> Result<GainedLatents> {
        gain::analyse(self.gains.as_ref(), &self.g_a, &self.h_a, x, rate)
    }

    /// (scales, means) of y from ẑ (gained domain) and z's inverse gain.
    fn entropy_parameters(&self, z_hat: &Tensor, z_inverse: &Tensor) -> (Tensor, Tensor) {
        let input = z_hat * z_inverse;
        let params = if self.quantization_aware {
            self.h_s_exact.forward_quantization_aware(&input, Precision::ENTROPY)
        } else {
            self.h_s.forward(&input)
        };
        let mut parts = params.chunk(2, 1);
        let means = parts.pop().expect("two chunks");
        let scales = parts.pop().expect("two chunks");
        (scales, means)
    }

    /// (scales, means) for coding: from the exact fixed-point h_s (identical on every device,
    /// thread count and machine), or from the float h_s when exactness is switched off.
    fn coding_parameters(&self, z_hat: &Tensor, z_inverse: &Tensor, rate: &Rate) -> Result<(Tensor, Tensor)> {
        if !self.exact {
            return Ok(self.entropy_parameters(z_hat, z_inverse));
        }
        let factors = gain::exact_z_factors(self.gains.as_ref(), rate, z_hat.size()[1] as usize)?;
        let params = self.h_s_exact.build().forward(&fixed_input(z_hat, &factors)?)?;
        let params = fixed_to_f32(&params)?.to_device(z_hat.device());
        let mut parts = params.chunk(2, 1);
        let means = parts.pop().context("two chunks")?;
        let scales = parts.pop().context("two chunks")?;
        Ok((scales, means))
    }

    /// The training/evaluation pass from gained latents y and z and their inverse gains.
    fn forward_latents(&self, y: &Tensor, z: &Tensor, l: &GainedLatents, mode: Quantization) -> ForwardOutput {
        let (z_hat, z_likelihoods) = self.entropy_bottleneck.forward(z, mode);
        let (scales, means) = self.entropy_parameters(&z_hat, &l.z_inverse);
        let (y_hat, y_likelihoods) = self.gaussian_conditional.forward(y, &scales, &means, mode);
        ForwardOutput {
            x_hat: self.g_s.forward(&(y_hat * &l.y_inverse)),
            likelihoods: vec![y_likelihoods, z_likelihoods],
        }
    }

    /// Codes gained latents y and z: z with the factorized prior, y with the exact entropy
    /// parameters its ẑ gives.
    fn code_latents(&self, y: &Tensor, z: &Tensor, z_inverse: &Tensor, rate: &Rate) -> Result<CompressedLatents> {
        let mut checksum = SymbolChecksum::new();
        let (hyper, z_hat) = compress_hyper(&self.entropy_bottleneck, z, &mut checksum)?;
        let (scales, means) = self.coding_parameters(&z_hat, z_inverse, rate)?;
        let (latent, _) = self.gaussian_conditional.compress(y, &scales, &means, &mut checksum)?;
        Ok(CompressedLatents { hyper: Some(hyper), latent, symbol_checksum: checksum.digest() })
    }
}

impl ImageModel for MeanScaleHyperprior {
    fn arch(&self) -> &'static str {
        "mbt2018-mean"
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
        let l = self.analyse(x, rate)?;
        self.code_latents(&l.y, &l.z, &l.z_inverse, rate)
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
        let l = tch::no_grad(|| self.analyse(x, rate))?;
        let (y, z, report) =
            refine::minimise_gained(x, &l, refinement, |y, z, mode| self.forward_latents(y, z, &l, mode))?;
        let _guard = tch::no_grad_guard();
        Ok((self.code_latents(&y, &z, &l.z_inverse, rate)?, report))
    }

    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let (zh, zw) = latent_size(height, width, self.stride(), 64)?;
        let device = self.entropy_bottleneck.medians().device();
        let (_, z_inverse) = gain::inverse_gains(self.gains.as_ref(), rate, device)?;
        let hyper = latents.hyper.as_deref().context("missing hyper-latent stream")?;
        let mut checksum = SymbolChecksum::new();
        let z_hat = decompress_hyper(&self.entropy_bottleneck, hyper, zh, zw, device, &mut checksum)?;
        let (scales, means) = self.coding_parameters(&z_hat, &z_inverse, rate)?;
        let y_hat = self.gaussian_conditional.decompress(&latents.latent, &scales, &means, &mut checksum)?;
        latents.symbol_checksum.verify(checksum.digest())?;
        self.synthesize(&y_hat, rate)
    }

    fn inspect(&self, x: &Tensor, rate: &Rate) -> Result<Vec<(&'static str, Tensor)>> {
        let _guard = tch::no_grad_guard();
        let l = self.analyse(x, rate)?;
        let (_, z_hat) = compress_hyper(&self.entropy_bottleneck, &l.z, &mut SymbolChecksum::new())?;
        let (scales, means) = self.entropy_parameters(&z_hat, &l.z_inverse);
        let y_hat = crate::entropy::dequantize(&l.y, &means);
        Ok(vec![
            ("y", l.y),
            ("z", l.z),
            ("z_hat", z_hat),
            ("scales_hat", scales),
            ("means_hat", means),
            ("y_hat", y_hat),
        ])
    }

    fn quantized_latent(&self, x: &Tensor, rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let l = self.analyse(x, rate)?;
        let (_, z_hat) = compress_hyper(&self.entropy_bottleneck, &l.z, &mut SymbolChecksum::new())?;
        let (_, means) = self.coding_parameters(&z_hat, &l.z_inverse, rate)?;
        Ok(crate::entropy::dequantize(&l.y, &means))
    }

    fn synthesize(&self, y_hat: &Tensor, rate: &Rate) -> Result<Tensor> {
        let factors = gain::exact_y_factors(self.gains.as_ref(), rate, y_hat.size()[1] as usize)?;
        self.g_s.reconstruct(y_hat, &factors, self.exact)
    }

    fn set_exact_arithmetic(&mut self, exact: bool) -> bool {
        self.exact = exact;
        true
    }

    fn set_quantization_aware(&mut self, on: bool) -> bool {
        self.quantization_aware = on;
        true
    }
}
