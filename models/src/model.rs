//! What every learned image model offers: one definition for training, evaluation and coding.

use crate::entropy::{total_bits, EntropyBottleneck, Quantization, SymbolDigest, TABLES_KEY};
use crate::refine::{Refinement, RefinementReport};
use anyhow::Result;
use tch::Tensor;

/// The rate point a variable-rate model runs at. Fixed-rate models ignore it.
#[derive(Debug)]
pub enum Rate<'a> {
    /// The model's only rate point (fixed-rate models) or its top level.
    Default,
    /// Training: one gain level per batch element (B,), int64.
    Levels(&'a Tensor),
    /// Coding: a continuous level in `0 ..= levels − 1`; fractional values interpolate
    /// geometrically between neighbouring gain vectors.
    Continuous(f64),
}

/// What `forward` returns.
#[derive(Debug)]
pub struct ForwardOutput {
    /// The reconstruction (unclamped, for the distortion loss).
    pub x_hat: Tensor,
    /// Likelihoods of each latent (e.g. `y`, then `z`).
    pub likelihoods: Vec<Tensor>,
}

impl ForwardOutput {
    /// Estimated bits per pixel of each batch element, (B,).
    pub fn bpp_per_image(&self, pixels_per_image: i64) -> Tensor {
        let mut bits: Option<Tensor> = None;
        for l in &self.likelihoods {
            let per_image = l.log2().neg().flatten(1, -1).sum_dim_intlist(1, false, tch::Kind::Float);
            bits = Some(match bits {
                Some(b) => b + per_image,
                None => per_image,
            });
        }
        bits.expect("a model has at least one latent") / pixels_per_image as f64
    }

    /// Estimated total bits over the batch.
    pub fn total_bits(&self) -> Tensor {
        self.likelihoods.iter().map(total_bits).reduce(|a, b| a + b).expect("a model has at least one latent")
    }
}

/// The coded latents of one image: the entropy-coded streams plus the latent sizes the decoder
/// needs (derived from the padded image size by the container layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedLatents {
    /// Side information (hyper-latent z), absent for single-latent models.
    pub hyper: Option<Vec<u8>>,
    /// The main latent y.
    pub latent: Vec<u8>,
    /// CRC-32 and count of every symbol coded, in coding order (hyper-latent first): `decompress`
    /// recomputes it over what it decoded and fails on a mismatch (a desync), see
    /// [`SymbolChecksum`](crate::entropy::SymbolChecksum).
    pub symbol_checksum: SymbolDigest,
}

/// A learned image compression model.
pub trait ImageModel: Send {
    /// Architecture name, e.g. `mbt2018-mean`.
    fn arch(&self) -> &'static str;
    /// Total downsampling of the deepest latent: inputs are padded to a multiple of this.
    fn stride(&self) -> i64;
    /// Number of rate levels (gain vectors); 1 for fixed-rate models.
    fn rate_levels(&self) -> usize {
        1
    }
    /// Training and evaluation pass on a batch (B, 3, H, W) in [0, 1], H and W multiples of
    /// `stride()`.
    fn forward(&self, x: &Tensor, mode: Quantization, rate: &Rate) -> ForwardOutput;
    /// The factorized prior on the hyper-latent (or on y, for the factorized model).
    fn bottleneck(&self) -> &EntropyBottleneck;
    fn bottleneck_mut(&mut self) -> &mut EntropyBottleneck;
    /// The entropy models' auxiliary loss (quantile fitting), trained by its own optimizer.
    fn aux_loss(&self) -> Tensor {
        self.bottleneck().aux_loss()
    }
    /// Recomputes the coding tables from the learned densities (after training or loading
    /// weights without stored tables).
    fn update_tables(&mut self) -> Result<()> {
        self.bottleneck_mut().update_tables()
    }
    /// Extra tensors (coding tables) to store next to the variables in a weights file.
    fn table_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(vec![(format!("entropy_bottleneck.{TABLES_KEY}"), self.bottleneck().tables_tensor()?)])
    }
    /// Installs coding tables from a weights file's non-variable tensors; false if absent.
    fn load_tables(&mut self, extra: &std::collections::HashMap<String, Tensor>) -> Result<bool> {
        self.bottleneck_mut().load_tables(extra, "entropy_bottleneck.")
    }
    /// Replaces the Gaussian scale table (CompressAI checkpoints store theirs). Models without a
    /// Gaussian conditional ignore it.
    fn set_scale_table(&mut self, _table: &[f64]) -> Result<()> {
        Ok(())
    }
    /// Codes one padded image (1, 3, H, W).
    fn compress(&self, x: &Tensor, rate: &Rate) -> Result<CompressedLatents>;
    /// Whether [`compress_refined`](Self::compress_refined) can refine this model's latents.
    fn supports_refinement(&self) -> bool {
        false
    }
    /// Codes one padded image (1, 3, H, W) after refining its latents for this image by
    /// gradient descent on the rate-distortion cost ([`crate::refine`]). The streams are
    /// ordinary ones: only the encoder's choice of latents changes. Fails for models that
    /// [do not support it](Self::supports_refinement).
    fn compress_refined(
        &self,
        _x: &Tensor,
        _rate: &Rate,
        _refinement: &Refinement,
    ) -> Result<(CompressedLatents, RefinementReport)> {
        anyhow::bail!("model '{}' has no encoder-side latent refinement", self.arch())
    }
    /// Decodes to the padded reconstruction (1, 3, H, W), clamped to [0, 1]. `height` and
    /// `width` are the padded image size.
    fn decompress(&self, latents: &CompressedLatents, height: i64, width: i64, rate: &Rate) -> Result<Tensor>;
    /// Codes each image of a padded batch (B, 3, H, W) into its own streams.
    fn compress_batch(&self, x: &Tensor, rate: &Rate) -> Result<Vec<CompressedLatents>> {
        (0..x.size()[0]).map(|i| self.compress(&x.narrow(0, i, 1), rate)).collect()
    }
    /// Decodes several images of the same padded size into one batch (B, 3, H, W).
    fn decompress_batch(&self, latents: &[CompressedLatents], height: i64, width: i64, rate: &Rate) -> Result<Tensor> {
        anyhow::ensure!(!latents.is_empty(), "nothing to decode");
        let images = latents.iter().map(|l| self.decompress(l, height, width, rate)).collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(&images, 0))
    }
    /// The quantized main latent ŷ that `compress` codes (for tests and analysis).
    fn quantized_latent(&self, x: &Tensor, rate: &Rate) -> Result<Tensor>;
    /// The reconstruction x̂ (clamped to [0, 1]) of a quantized main latent as
    /// [`quantized_latent`](Self::quantized_latent) returns it: what `decompress` outputs.
    fn synthesize(&self, y_hat: &Tensor, rate: &Rate) -> Result<Tensor>;
    /// Switches between exact fixed-point arithmetic for coding (the entropy parameters, and the
    /// synthesis that `decompress` and `synthesize` run), the default where a model has it, and
    /// the float networks (for measuring what exactness costs, or decoding faster without the
    /// pixel guarantee). Returns false when the model has no exact path.
    fn set_exact_arithmetic(&mut self, _exact: bool) -> bool {
        false
    }
    /// Quantization-aware training: `forward` evaluates the entropy-parameter network h_s with
    /// the exact path's rounding (straight-through gradients), so fine-tuning learns the integer
    /// parts that coding uses. Returns false when the model has no such path.
    fn set_quantization_aware(&mut self, _on: bool) -> bool {
        false
    }
    /// Named intermediate tensors of the float pass (`y`, `z`, `z_hat`, `scales_hat`,
    /// `means_hat`, `y_hat`, as far as the model has them), with CompressAI's names, for
    /// analysis and parity checks. Unlike coding, this uses the float entropy networks.
    fn inspect(&self, x: &Tensor, rate: &Rate) -> Result<Vec<(&'static str, Tensor)>> {
        Ok(vec![("y_hat", self.quantized_latent(x, rate)?)])
    }
}

/// Pads (B, C, H, W) on the bottom and right to multiples of `stride` by repeating the edge
/// pixels (cheaper to code than zeros). Crop the reconstruction back with `narrow`.
pub fn pad_to_stride(x: &Tensor, stride: i64) -> Tensor {
    let size = x.size();
    let (h, w) = (size[2], size[3]);
    let (ph, pw) = ((stride - h % stride) % stride, (stride - w % stride) % stride);
    if ph == 0 && pw == 0 {
        return x.shallow_clone();
    }
    // Replication padding needs the padded amount to be at most the size; repeat for tiny inputs.
    let mut out = x.shallow_clone();
    let (mut rh, mut rw) = (ph, pw);
    while rh > 0 || rw > 0 {
        let s = out.size();
        let (dh, dw) = (rh.min(s[2]), rw.min(s[3]));
        out = out.replication_pad2d([0, dw, 0, dh]);
        rh -= dh;
        rw -= dw;
    }
    out
}
