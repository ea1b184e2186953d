//! bmshj2018-factorized: GDN transforms with a factorized prior on y.

use super::{decompress_hyper, gdn_analysis, gdn_synthesis, latent_size, GdnSynthesis};
use crate::entropy::{EntropyBottleneck, Quantization, SymbolChecksum};
use crate::model::{CompressedLatents, ForwardOutput, ImageModel, Rate};
use crate::refine::{self, Refinement, RefinementReport};
use anyhow::Result;
use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug)]
pub struct FactorizedPriorModel {
    g_a: nn::Sequential,
    g_s: GdnSynthesis,
    entropy_bottleneck: EntropyBottleneck,
    /// Decode with the exact g_s (the default); false uses the float one.
    exact: bool,
}

impl FactorizedPriorModel {
    pub fn new(vs: &nn::Path, n: i64, m: i64) -> Self {
        Self {
            g_a: gdn_analysis(vs / "g_a", n, m),
            g_s: gdn_synthesis(vs / "g_s", n, m),
            entropy_bottleneck: EntropyBottleneck::new(vs / "entropy_bottleneck", m),
            exact: true,
        }
    }

    /// The training/evaluation pass from the latent y.
    fn forward_latent(&self, y: &Tensor, mode: Quantization) -> ForwardOutput {
        let (y_hat, y_likelihoods) = self.entropy_bottleneck.forward(y, mode);
        ForwardOutput { x_hat: self.g_s.forward(&y_hat), likelihoods: vec![y_likelihoods] }
    }

    /// Codes y with the factorized prior.
    fn code_latent(&self, y: &Tensor) -> Result<CompressedLatents> {
        let mut checksum = SymbolChecksum::new();
        let (latent, _) = super::compress_hyper(&self.entropy_bottleneck, y, &mut checksum)?;
        Ok(CompressedLatents { hyper: None, latent, symbol_checksum: checksum.digest() })
    }
}

impl ImageModel for FactorizedPriorModel {
    fn arch(&self) -> &'static str {
        "bmshj2018-factorized"
    }

    fn stride(&self) -> i64 {
        16
    }

    fn forward(&self, x: &Tensor, mode: Quantization, _rate: &Rate) -> ForwardOutput {
        self.forward_latent(&self.g_a.forward(x), mode)
    }

    fn bottleneck(&self) -> &EntropyBottleneck {
        &self.entropy_bottleneck
    }

    fn bottleneck_mut(&mut self) -> &mut EntropyBottleneck {
        &mut self.entropy_bottleneck
    }

    fn compress(&self, x: &Tensor, _rate: &Rate) -> Result<CompressedLatents> {
        let y = tch::no_grad(|| self.g_a.forward(x));
        self.code_latent(&y)
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
        let y = tch::no_grad(|| self.g_a.forward(x));
        let (best, report) = refine::minimise(x, &[y], refinement, |v, mode| self.forward_latent(&v[0], mode))?;
        Ok((tch::no_grad(|| self.code_latent(&best[0]))?, report))
    }

    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, _rate: &Rate) -> Result<Tensor> {
        let (h, w) = latent_size(height, width, self.stride(), 16)?;
        let device = self.entropy_bottleneck.medians().device();
        let mut checksum = SymbolChecksum::new();
        let y_hat = decompress_hyper(&self.entropy_bottleneck, &latents.latent, h, w, device, &mut checksum)?;
        latents.symbol_checksum.verify(checksum.digest())?;
        self.synthesize(&y_hat, &Rate::Default)
    }

    fn inspect(&self, x: &Tensor, rate: &Rate) -> Result<Vec<(&'static str, Tensor)>> {
        let y = tch::no_grad(|| self.g_a.forward(x));
        Ok(vec![("y", y), ("y_hat", self.quantized_latent(x, rate)?)])
    }

    fn synthesize(&self, y_hat: &Tensor, _rate: &Rate) -> Result<Tensor> {
        self.g_s.reconstruct(y_hat, &vec![1.0; y_hat.size()[1] as usize], self.exact)
    }

    fn set_exact_arithmetic(&mut self, exact: bool) -> bool {
        self.exact = exact;
        true
    }

    fn quantized_latent(&self, x: &Tensor, _rate: &Rate) -> Result<Tensor> {
        let y = tch::no_grad(|| self.g_a.forward(x));
        let (_, y_hat) = super::compress_hyper(&self.entropy_bottleneck, &y, &mut SymbolChecksum::new())?;
        Ok(y_hat)
    }
}
