//! Learned entropy models, usable both for training (likelihoods) and for coding (symbols and
//! table indexes for `neco_bitstream`).

mod bottleneck;
mod checksum;
mod gaussian;

pub use bottleneck::{EntropyBottleneck, TABLES_KEY};
pub use checksum::{desync_error, SymbolChecksum, SymbolDigest, DESYNC_DECODE_MESSAGE, MISMATCH_MESSAGE};
pub use gaussian::GaussianConditional;

use tch::Tensor;

/// Likelihoods below this are clamped (CompressAI's `likelihood_lower_bound`), so a rate term
/// never becomes infinite.
pub const LIKELIHOOD_BOUND: f64 = 1e-9;

/// How a latent is quantized in `forward`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// Training: additive uniform noise in U(−½, ½) for both the likelihood and the decoder input
    /// (CompressAI's default).
    Noise,
    /// Training: noise for the likelihood, straight-through rounding (`round(y − μ) + μ` forward,
    /// identity gradient) for the decoder input, which removes the train/test mismatch.
    StraightThrough,
    /// Evaluation: `round(y − μ) + μ` everywhere, exactly what compress/decompress produce.
    Round,
}

/// `round(x − offset) + offset` (ties to even, as torch.round and the coder).
pub fn dequantize(x: &Tensor, offset: &Tensor) -> Tensor {
    (x - offset).round() + offset
}

/// Returns (value for the likelihood, value for the decoder) under `mode`.
pub fn quantize(x: &Tensor, mode: Quantization, offset: &Tensor) -> (Tensor, Tensor) {
    match mode {
        Quantization::Round => {
            let q = dequantize(x, offset);
            (q.shallow_clone(), q)
        }
        Quantization::Noise => {
            let noisy = x + x.rand_like() - 0.5;
            (noisy.shallow_clone(), noisy)
        }
        Quantization::StraightThrough => {
            let noisy = x + x.rand_like() - 0.5;
            let rounded = x + (dequantize(x, offset) - x).detach();
            (noisy, rounded)
        }
    }
}

/// Total bits of a likelihood tensor: `Σ −log2 p`.
pub fn total_bits(likelihoods: &Tensor) -> Tensor {
    likelihoods.log2().sum(tch::Kind::Float).neg()
}

/// A tensor's values as a flat CPU `Vec<f32>` in memory order.
pub fn to_f32_vec(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    gaussian::tensor_to_f32_vec(t)
}
