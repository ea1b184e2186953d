//! Entropy coding on constriction's range coder.
//!
//! - [`IndexedTables`]: families of quantized distributions with escape
//!   coding; the [`FactorizedPrior`] and [`GaussianConditional`] build them.
//! - [`CategoricalModel`] / [`AdaptiveCategoricalModel`]: for VQ indices.
//! - [`SymbolEncoder`] / [`SymbolDecoder`]: one stream, any mix of the above.
//!
//! All probabilities are integers summing to 2^[`PRECISION`], built with
//! deterministic arithmetic ([`det_math`]), so tables are bit-identical on
//! every machine.

mod bypass;
mod categorical;
mod cdf_model;
mod coder;
pub mod det_math;
mod factorized;
mod gaussian;
mod quantize;
mod tables;

pub use categorical::{AdaptationSchedule, AdaptiveCategoricalModel, CategoricalModel, MAX_CATEGORIES};
pub use coder::{SymbolDecoder, SymbolEncoder};
pub use factorized::{ChannelPmf, FactorizedPrior};
pub use gaussian::{
    dequantize, log_spaced_scales, mean_shifted_symbols, GaussianConditional, DEFAULT_SCALE_LEVELS, DEFAULT_SCALE_MAX,
    DEFAULT_SCALE_MIN, DEFAULT_TAIL_MASS,
};
pub use quantize::{quantize_counts, quantize_masses, TOTAL};
pub use tables::{IndexedTables, QuantizedDistribution, MAX_ALPHABET, MAX_DISTRIBUTIONS};

/// Bits of probability resolution: constriction's default range coder
/// (32-bit words, 64-bit state) supports up to 32; 24 keeps tails accurate.
pub const PRECISION: usize = 24;
