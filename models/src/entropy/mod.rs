//! Learned entropy models, usable both for training (likelihoods) and for coding (symbols and
//! table indexes for `neco_bitstream`).

mod bottleneck;
mod checksum;
mod gaussian;

pub use bottleneck::{EntropyBottleneck, TABLES_KEY};
pub use checksum::{desync_error, SymbolChecksum, SymbolDigest, DESYNC_DECODE_MESSAGE, MISMATCH_MESSAGE};
pub use gaussian::GaussianConditional;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use tch::Tensor;

/// Likelihoods below this are clamped (CompressAI's `likelihood_lower_bound`), so a rate term
/// never becomes infinite.
pub const LIKELIHOOD_BOUND: f64 = 1e-9;

/// How a latent is quantized in `forward`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantization {
    /// Training: additive uniform noise in U(−½, ½) for both the likelihood and the decoder input
    /// (CompressAI's default).
    Noise,
    /// Training: noise for the likelihood, straight-through rounding (`round(y − μ) + μ` forward,
    /// identity gradient) for the decoder input, which removes the train/test mismatch.
    StraightThrough,
    /// Evaluation: `round(y − μ) + μ` everywhere, exactly what compress/decompress produce.
    Round,
    /// Encoder-side refinement ([`crate::refine`]): stochastic Gumbel annealing (Yang et al.
    /// 2020). Each `v = y − μ` becomes a random mix of ⌊v⌋ and ⌈v⌉, the nearer one likelier,
    /// through a Gumbel-softmax at `temperature`; as it falls to 0 the mix becomes hard rounding.
    /// Unlike straight-through rounding the gradient sees what crossing a bin boundary would
    /// do. The same value feeds the likelihood and the decoder.
    SoftRound { temperature: f64 },
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
        Quantization::SoftRound { temperature } => {
            let annealed = soft_round(&(x - offset), temperature) + offset;
            (annealed.shallow_clone(), annealed)
        }
        Quantization::StraightThrough => {
            let noisy = x + x.rand_like() - 0.5;
            let rounded = x + (dequantize(x, offset) - x).detach();
            (noisy, rounded)
        }
    }
}

/// Stochastic Gumbel annealing of `v` to its two neighbouring integers: logits
/// −atanh(distance)/τ (so the nearer integer is likelier, certainly so at distance 0), then a
/// relaxed one-hot sample at temperature τ (Yang et al. 2020, "Improving inference for neural
/// image compression", their `sga_round`).
fn soft_round(v: &Tensor, temperature: f64) -> Tensor {
    const EDGE: f64 = 1e-5;
    let (lower, upper) = (v.floor(), v.ceil());
    let logit = |distance: Tensor| -distance.clamp(EDGE, 1.0 - EDGE).atanh() / temperature;
    let logits = Tensor::stack(&[logit(v - &lower), logit(&upper - v)], 0);
    let uniform = soft_round_uniform(&logits).clamp(1e-10, 1.0 - 1e-10);
    let gumbel = -(-uniform.log()).log();
    let weights = ((logits + gumbel) / temperature).softmax(0, tch::Kind::Float);
    lower * weights.get(0) + upper * weights.get(1)
}

thread_local! {
    /// The soft rounding's noise source: one per thread, not libtorch's global generator, so
    /// that refinements running side by side (`neco eval --jobs`, a library's threads) draw
    /// the same noise as one alone, and a refined encode is repeatable.
    static SOFT_ROUND_NOISE: RefCell<ChaCha8Rng> = RefCell::new(ChaCha8Rng::seed_from_u64(0));
}

/// Restarts this thread's soft-rounding noise at `seed` ([`crate::refine`] does, per image).
pub(crate) fn seed_soft_round(seed: u64) {
    SOFT_ROUND_NOISE.with(|rng| *rng.borrow_mut() = ChaCha8Rng::seed_from_u64(seed));
}

/// Uniform noise in [0, 1) shaped, typed and placed as `like`, from this thread's source.
fn soft_round_uniform(like: &Tensor) -> Tensor {
    let n = like.numel();
    let values: Vec<f32> = SOFT_ROUND_NOISE.with(|rng| {
        let mut rng = rng.borrow_mut();
        (0..n).map(|_| rng.gen::<f32>()).collect()
    });
    Tensor::from_slice(&values).view(like.size().as_slice()).to_kind(like.kind()).to_device(like.device())
}

/// Total bits of a likelihood tensor: `Σ −log2 p`.
pub fn total_bits(likelihoods: &Tensor) -> Tensor {
    likelihoods.log2().sum(tch::Kind::Float).neg()
}

/// A tensor's values as a flat CPU `Vec<f32>` in memory order.
pub fn to_f32_vec(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    gaussian::tensor_to_f32_vec(t)
}
