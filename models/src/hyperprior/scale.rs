//! bmshj2018-hyperprior: a zero-mean Gaussian on y whose scales come from a hyper-latent z.

use super::{compress_hyper, decompress_hyper, gdn_analysis, gdn_synthesis, latent_size, GdnSynthesis};
use crate::entropy::{EntropyBottleneck, GaussianConditional, Quantization, SymbolChecksum};
use crate::exact::{fixed_input, fixed_to_f32, Activation, ExactNetSpec};
use crate::layers::conv;
use crate::layers::deconv;
use crate::model::{CompressedLatents, ForwardOutput, ImageModel, Rate};
use crate::refine::{self, Refinement, RefinementReport};
use anyhow::Result;
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug)]
pub struct ScaleHyperprior {
    g_a: nn::Sequential,
    g_s: GdnSynthesis,
    h_a: nn::Sequential,
    h_s: nn::Sequential,
    /// h_s's layers for the exact (fixed-point) evaluation that coding uses.
    h_s_exact: ExactNetSpec,
    exact: bool,
    entropy_bottleneck: EntropyBottleneck,
    gaussian_conditional: GaussianConditional,
}

impl ScaleHyperprior {
    pub fn new(vs: &nn::Path, n: i64, m: i64) -> Self {
        let ha = vs / "h_a";
        let h_a = nn::seq()
            .add(conv(&ha / 0, m, n, 3, 1))
            .add_fn(|x| x.relu())
            .add(conv(&ha / 2, n, n, 5, 2))
            .add_fn(|x| x.relu())
            .add(conv(&ha / 4, n, n, 5, 2));
        let hs = vs / "h_s";
        let (d0, d2, c4) = (deconv(&hs / 0, n, n, 5, 2), deconv(&hs / 2, n, n, 5, 2), conv(&hs / 4, n, m, 3, 1));
        let h_s_exact = ExactNetSpec::new()
            .deconv(&d0, 2, 2, Activation::Relu)
            .deconv(&d2, 2, 2, Activation::Relu)
            .conv(&c4, 1, 1, Activation::Relu);
        let h_s = nn::seq().add(d0).add_fn(|x| x.relu()).add(d2).add_fn(|x| x.relu()).add(c4).add_fn(|x| x.relu());
        Self {
            g_a: gdn_analysis(vs / "g_a", n, m),
            g_s: gdn_synthesis(vs / "g_s", n, m),
            h_a,
            h_s,
            h_s_exact,
            exact: true,
            entropy_bottleneck: EntropyBottleneck::new(vs / "entropy_bottleneck", n),
            gaussian_conditional: GaussianConditional::default(),
        }
    }

    /// Scales for coding: the exact fixed-point h_s (see `crate::exact`), or the float one when
    /// exactness is switched off.
    fn coding_scales(&self, z_hat: &Tensor) -> Result<Tensor> {
        if !self.exact {
            return Ok(self.h_s.forward(z_hat));
        }
        let ones = vec![1.0; z_hat.size()[1] as usize];
        let scales = self.h_s_exact.build().forward(&fixed_input(z_hat, &ones)?)?;
        Ok(fixed_to_f32(&scales)?.to_device(z_hat.device()))
    }

    /// Replaces the Gaussian scale table (CompressAI checkpoints store theirs).
    pub fn set_gaussian(&mut self, gaussian: GaussianConditional) {
        self.gaussian_conditional = gaussian;
    }

    /// The analysis: y = g_a(x) and z = h_a(|y|).
    fn analyse(&self, x: &Tensor) -> (Tensor, Tensor) {
        let y = self.g_a.forward(x);
        let z = self.h_a.forward(&y.abs());
        (y, z)
    }

    /// The training/evaluation pass from the latents y and z.
    fn forward_latents(&self, y: &Tensor, z: &Tensor, mode: Quantization) -> ForwardOutput {
        let (z_hat, z_likelihoods) = self.entropy_bottleneck.forward(z, mode);
        let scales = self.h_s.forward(&z_hat);
        let (y_hat, y_likelihoods) = self.gaussian_conditional.forward(y, &scales, &y.zeros_like(), mode);
        ForwardOutput { x_hat: self.g_s.forward(&y_hat), likelihoods: vec![y_likelihoods, z_likelihoods] }
    }

    /// Codes y and z: z with the factorized prior, y with the exact scales its ẑ gives.
    fn code_latents(&self, y: &Tensor, z: &Tensor) -> Result<CompressedLatents> {
        let mut checksum = SymbolChecksum::new();
        let (hyper, z_hat) = compress_hyper(&self.entropy_bottleneck, z, &mut checksum)?;
        let scales = self.coding_scales(&z_hat)?;
        let (latent, _) = self.gaussian_conditional.compress(y, &scales, &scales.zeros_like(), &mut checksum)?;
        Ok(CompressedLatents { hyper: Some(hyper), latent, symbol_checksum: checksum.digest() })
    }
}

impl ImageModel for ScaleHyperprior {
    fn arch(&self) -> &'static str {
        "bmshj2018-hyperprior"
    }

    fn stride(&self) -> i64 {
        64
    }

    fn forward(&self, x: &Tensor, mode: Quantization, _rate: &Rate) -> ForwardOutput {
        let (y, z) = self.analyse(x);
        self.forward_latents(&y, &z, mode)
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

    fn compress(&self, x: &Tensor, _rate: &Rate) -> Result<CompressedLatents> {
        let _guard = tch::no_grad_guard();
        let (y, z) = self.analyse(x);
        self.code_latents(&y, &z)
    }

    fn supports_refinement(&self) -> bool {
        true
    }

    fn compress_refined(
        &self,
        x: &Tensor,
        _rate: &Rate,
        refinement: &Refinement,
    ) -> Result<(CompressedLatents, RefinementReport)> {
        let (y, z) = tch::no_grad(|| self.analyse(x));
        let (best, report) =
            refine::minimise(x, &[y, z], refinement, |v, mode| self.forward_latents(&v[0], &v[1], mode))?;
        let _guard = tch::no_grad_guard();
        Ok((self.code_latents(&best[0], &best[1])?, report))
    }

    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, _rate: &Rate) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let (zh, zw) = latent_size(height, width, self.stride(), 64)?;
        let device = self.entropy_bottleneck.medians().device();
        let hyper = latents.hyper.as_deref().ok_or_else(|| anyhow::anyhow!("missing hyper-latent stream"))?;
        let mut checksum = SymbolChecksum::new();
        let z_hat = decompress_hyper(&self.entropy_bottleneck, hyper, zh, zw, device, &mut checksum)?;
        let scales = self.coding_scales(&z_hat)?;
        let y_hat =
            self.gaussian_conditional.decompress(&latents.latent, &scales, &scales.zeros_like(), &mut checksum)?;
        latents.symbol_checksum.verify(checksum.digest())?;
        self.synthesize(&y_hat, &Rate::Default)
    }

    fn inspect(&self, x: &Tensor, _rate: &Rate) -> Result<Vec<(&'static str, Tensor)>> {
        let _guard = tch::no_grad_guard();
        let (y, z) = self.analyse(x);
        let (_, z_hat) = compress_hyper(&self.entropy_bottleneck, &z, &mut SymbolChecksum::new())?;
        let scales = self.h_s.forward(&z_hat);
        let y_hat = y.round();
        Ok(vec![("y", y), ("z", z), ("z_hat", z_hat), ("scales_hat", scales), ("y_hat", y_hat)])
    }

    fn quantized_latent(&self, x: &Tensor, _rate: &Rate) -> Result<Tensor> {
        Ok(tch::no_grad(|| self.g_a.forward(x).round()))
    }

    fn synthesize(&self, y_hat: &Tensor, _rate: &Rate) -> Result<Tensor> {
        self.g_s.reconstruct(y_hat, &vec![1.0; y_hat.size()[1] as usize], self.exact)
    }

    fn set_exact_arithmetic(&mut self, exact: bool) -> bool {
        self.exact = exact;
        true
    }
}
