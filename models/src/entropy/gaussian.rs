//! The conditional Gaussian (mean-scale) entropy model.

use super::{desync_error, quantize, Quantization, SymbolChecksum, LIKELIHOOD_BOUND};
use crate::layers::{lower_bound, scale_lower_bound};
use anyhow::{ensure, Result};
use neco_bitstream::entropy::GaussianConditional as GaussianTables;
use tch::{Kind, Tensor};

/// Scales below this are raised to it (CompressAI's `scale_bound`, also the first table entry).
pub const SCALE_BOUND: f64 = 0.11;

/// A Gaussian of predicted mean and scale, convolved with a unit-width box: the likelihood of
/// each quantized latent. Coding uses `neco_bitstream`'s fixed scale table (CompressAI's
/// 64 log-spaced scales from 0.11 to 256 by default); the table index of each latent is the
/// first table scale at least as large as its predicted scale.
#[derive(Debug, Clone)]
pub struct GaussianConditional {
    tables: GaussianTables,
}

impl Default for GaussianConditional {
    fn default() -> Self {
        Self { tables: GaussianTables::with_default_scales() }
    }
}

impl GaussianConditional {
    /// A model over a given scale table (e.g. one stored in a CompressAI checkpoint).
    pub fn with_scale_table(scale_table: &[f64]) -> Result<Self> {
        ensure!(scale_table.len() >= 2, "scale table needs at least two entries");
        let tables = GaussianTables::new(scale_table, neco_bitstream::entropy::DEFAULT_TAIL_MASS)?;
        Ok(Self { tables })
    }

    pub fn tables(&self) -> &GaussianTables {
        &self.tables
    }

    /// Quantizes `y` around `means` and returns (ŷ for the decoder, likelihoods).
    pub fn forward(&self, y: &Tensor, scales: &Tensor, means: &Tensor, mode: Quantization) -> (Tensor, Tensor) {
        let (for_likelihood, y_hat) = quantize(y, mode, means);
        (y_hat, self.likelihood(&for_likelihood, scales, means))
    }

    /// `P(ŷ)` under N(mean, scale²) integrated over [ŷ − ½, ŷ + ½], bounded below.
    pub fn likelihood(&self, y_hat: &Tensor, scales: &Tensor, means: &Tensor) -> Tensor {
        let values = (y_hat - means).abs();
        let scales = scale_lower_bound(scales, &values, SCALE_BOUND);
        // Evaluating both tails on the negative side (|v|) keeps precision for large deviations.
        let upper = standardized_cumulative(&((-&values + 0.5) / &scales));
        let lower = standardized_cumulative(&((-&values - 0.5) / &scales));
        lower_bound(&(upper - lower), LIKELIHOOD_BOUND)
    }

    /// Table index per element of `scales` (any shape, flattened in memory order).
    pub fn indexes(&self, scales: &Tensor) -> Result<Vec<u16>> {
        let scales = tensor_to_f32_vec(scales)?;
        Ok(self.tables.indexes_for_scales(&scales))
    }
}

/// Φ(x) = ½·erfc(−x/√2).
fn standardized_cumulative(x: &Tensor) -> Tensor {
    (x * -std::f64::consts::FRAC_1_SQRT_2).erfc() * 0.5
}

/// A tensor's values as a flat `Vec<f32>` on the CPU (memory order of the contiguous tensor).
pub(crate) fn tensor_to_f32_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
    Ok(Vec::<f32>::try_from(&t)?)
}

impl GaussianConditional {
    /// Codes `round(y − means)` with the table chosen by each predicted scale; returns the stream
    /// and ŷ = symbol + mean exactly as [`decompress`](Self::decompress) rebuilds it. The coded
    /// symbols go into `checksum`.
    pub fn compress(
        &self,
        y: &Tensor,
        scales: &Tensor,
        means: &Tensor,
        checksum: &mut SymbolChecksum,
    ) -> Result<(Vec<u8>, Tensor)> {
        let indexes = self.indexes(scales)?;
        let means_v = tensor_to_f32_vec(means)?;
        let symbols = neco_bitstream::entropy::mean_shifted_symbols(&tensor_to_f32_vec(y)?, &means_v);
        let mut enc = neco_bitstream::entropy::SymbolEncoder::new();
        enc.encode_indexed(self.tables.tables(), &symbols, &indexes)?;
        checksum.update(&symbols);
        checksum.update_parameters(&indexes, &means_v);
        Ok((enc.finish(), symbols_to_latent(&symbols, means)))
    }

    /// Decodes ŷ (shaped like `scales`) from `stream`. The decoded symbols go into `checksum`.
    pub fn decompress(
        &self,
        stream: &[u8],
        scales: &Tensor,
        means: &Tensor,
        checksum: &mut SymbolChecksum,
    ) -> Result<Tensor> {
        let indexes = self.indexes(scales)?;
        let mut symbols = vec![0i32; indexes.len()];
        neco_bitstream::entropy::SymbolDecoder::new(stream)?
            .decode_indexed(self.tables.tables(), &indexes, &mut symbols)
            .map_err(desync_error)?;
        checksum.update(&symbols);
        checksum.update_parameters(&indexes, &tensor_to_f32_vec(means)?);
        Ok(symbols_to_latent(&symbols, means))
    }
}

/// symbol + mean, shaped and placed like `means`.
fn symbols_to_latent(symbols: &[i32], means: &Tensor) -> Tensor {
    Tensor::from_slice(symbols).to_kind(Kind::Float).view(means.size().as_slice()).to_device(means.device()) + means
}
