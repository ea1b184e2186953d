//! The Gaussian conditional: a fixed table of scales, one quantized
//! distribution per scale, and mean-shifted integer symbols.

use super::det_math::{exp, ln, normal_cdf};
use super::tables::{IndexedTables, QuantizedDistribution};
use crate::error::{Error, Result};

/// CompressAI's default: 64 scales log-spaced from 0.11 to 256.
pub const DEFAULT_SCALE_MIN: f64 = 0.11;
pub const DEFAULT_SCALE_MAX: f64 = 256.0;
pub const DEFAULT_SCALE_LEVELS: usize = 64;
/// Probability mass left to the escape symbol of each table.
pub const DEFAULT_TAIL_MASS: f64 = 1e-9;

/// The tables of a Gaussian conditional entropy model.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianConditional {
    scale_table: Vec<f64>,
    tables: IndexedTables,
}

/// `exp(linspace(ln min, ln max, levels))`, computed deterministically.
pub fn log_spaced_scales(min: f64, max: f64, levels: usize) -> Vec<f64> {
    let (lo, hi) = (ln(min), ln(max));
    let step = (hi - lo) / (levels - 1).max(1) as f64;
    (0..levels).map(|i| exp(lo + step * i as f64)).collect()
}

impl GaussianConditional {
    /// Tables for CompressAI's default scale table.
    pub fn with_default_scales() -> Self {
        let scales = log_spaced_scales(DEFAULT_SCALE_MIN, DEFAULT_SCALE_MAX, DEFAULT_SCALE_LEVELS);
        Self::new(&scales, DEFAULT_TAIL_MASS).expect("default scale table is valid")
    }

    /// Builds one distribution per scale: support `[-c, c]` with
    /// `c = ceil(scale * z)`, where `z` puts `tail_mass` outside it, and the
    /// rest of the mass on the escape. Scales must be positive, finite and increasing.
    pub fn new(scale_table: &[f64], tail_mass: f64) -> Result<Self> {
        if scale_table.is_empty() || scale_table.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidArgument(format!("scale table of {} entries", scale_table.len())));
        }
        if !scale_table.iter().all(|s| s.is_finite() && *s > 0.0) || scale_table.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidArgument("scale table must be positive, finite and increasing".into()));
        }
        if !(tail_mass > 0.0 && tail_mass < 0.5) {
            return Err(Error::InvalidArgument(format!("tail mass {tail_mass}")));
        }
        let z = tail_quantile(tail_mass);
        let dists = scale_table
            .iter()
            .map(|&s| {
                let c = ceil_to_i64(s * z).max(1);
                if c > 30_000 {
                    return Err(Error::InvalidArgument(format!("scale {s} needs a table wider than the coder allows")));
                }
                let pmf: Vec<f64> = (-c..=c)
                    .map(|v| {
                        // Both ends from the lower tail, where Φ is accurate in relative terms.
                        let a = v.unsigned_abs() as f64;
                        normal_cdf((0.5 - a) / s) - normal_cdf((-0.5 - a) / s)
                    })
                    .collect();
                let tail = 2.0 * normal_cdf(-(c as f64 + 0.5) / s);
                QuantizedDistribution::from_pmf(-c as i32, &pmf, tail)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { scale_table: scale_table.to_vec(), tables: IndexedTables::new(dists)? })
    }

    pub fn scale_table(&self) -> &[f64] {
        &self.scale_table
    }

    pub fn tables(&self) -> &IndexedTables {
        &self.tables
    }

    /// The first table entry at least as large as `scale` (the last entry
    /// for larger scales), as CompressAI's `build_indexes` does. NaN maps to
    /// the widest table.
    pub fn index_for_scale(&self, scale: f32) -> u16 {
        let s = f64::from(scale);
        let last = self.scale_table.len() - 1;
        let i = self.scale_table[..last].partition_point(|&t| t < s);
        if s.is_nan() {
            last as u16
        } else {
            i as u16
        }
    }

    pub fn indexes_for_scales(&self, scales: &[f32]) -> Vec<u16> {
        scales.iter().map(|&s| self.index_for_scale(s)).collect()
    }
}

/// `round(y - mean)` with ties to even (as torch.round), saturating at the i32 range.
pub fn mean_shifted_symbols(y: &[f32], means: &[f32]) -> Vec<i32> {
    y.iter().zip(means).map(|(&v, &m)| (v - m).round_ties_even() as i32).collect()
}

/// `symbol + mean`: the dequantized latent.
pub fn dequantize(symbols: &[i32], means: &[f32]) -> Vec<f32> {
    symbols.iter().zip(means).map(|(&s, &m)| s as f32 + m).collect()
}

/// The z with 2Φ(-z) = tail_mass, by bisection (deterministic: fixed 200 steps).
fn tail_quantile(tail_mass: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if 2.0 * normal_cdf(-mid) > tail_mass {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

fn ceil_to_i64(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) < x {
        t + 1
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_quantile_matches_compressai_multiplier() {
        // -scipy.stats.norm.ppf(1e-9 / 2)
        assert!((tail_quantile(1e-9) - 6.109410204869).abs() < 1e-9);
    }

    #[test]
    fn default_scale_table_matches_compressai() {
        let g = GaussianConditional::with_default_scales();
        let t = g.scale_table();
        assert_eq!(t.len(), 64);
        assert!((t[0] - 0.11).abs() < 1e-15 && (t[63] - 256.0).abs() < 1e-12);
        // Widest table: c = ceil(256 * 6.1094) = 1565.
        assert_eq!(g.tables().get(63).unwrap().offset(), -1565);
    }

    #[test]
    fn indexes_follow_compressai_build_indexes() {
        let g = GaussianConditional::with_default_scales();
        assert_eq!(g.index_for_scale(0.0), 0);
        assert_eq!(g.index_for_scale(0.11), 0);
        assert_eq!(g.index_for_scale(0.1100001), 1);
        assert_eq!(g.index_for_scale(1e9), 63);
        assert_eq!(g.index_for_scale(f32::NAN), 63);
    }
}
