//! Gain units for continuous variable rate (Cui et al. 2021, "asymmetric gained" VAE).

use anyhow::{ensure, Result};
use tch::{nn, Kind, Tensor};

use crate::model::Rate;

/// Per-level channel gains `g` (applied before quantization) and inverse gains `g⁻¹` (after).
/// A larger gain means a finer quantization step (higher rate). Levels are ordered from the
/// lowest rate to the highest; a fractional level interpolates geometrically.
#[derive(Debug)]
pub struct GainUnit {
    gain: Tensor,
    inverse: Tensor,
    levels: i64,
}

/// Initial ratio between neighbouring levels' gains: CompressAI's λ list roughly doubles per
/// quality, and the step size that balances λ·MSE against rate scales like λ^-½.
const INIT_LEVEL_RATIO: f64 = std::f64::consts::SQRT_2;

impl GainUnit {
    /// Variables `{name}` and `{name}_inv`, each (levels, channels).
    pub fn new(vs: &nn::Path, name: &str, levels: i64, channels: i64) -> Self {
        let centre = (levels - 1) as f64 / 2.0;
        let init: Vec<f32> = (0..levels).map(|k| INIT_LEVEL_RATIO.powf(k as f64 - centre) as f32).collect();
        let init = Tensor::from_slice(&init).to_device(vs.device()).view([levels, 1]).repeat([1, channels]);
        let gain = vs.var_copy(name, &init);
        let inverse = vs.var_copy(&format!("{name}_inv"), &init.reciprocal());
        Self { gain, inverse, levels }
    }

    pub fn levels(&self) -> i64 {
        self.levels
    }

    /// (gain, inverse gain), each shaped (B or 1, C, 1, 1) for broadcasting.
    pub fn select(&self, rate: &Rate) -> Result<(Tensor, Tensor)> {
        let c = self.gain.size()[1];
        match rate {
            Rate::Levels(idx) => {
                let idx = idx.to_device(self.gain.device()).to_kind(Kind::Int64);
                let b = idx.size()[0];
                Ok((
                    self.gain.index_select(0, &idx).abs().view([b, c, 1, 1]),
                    self.inverse.index_select(0, &idx).abs().view([b, c, 1, 1]),
                ))
            }
            Rate::Default => Ok((
                self.row(&self.gain, (self.levels - 1) as f64)?,
                self.row(&self.inverse, (self.levels - 1) as f64)?,
            )),
            Rate::Continuous(level) => Ok((self.row(&self.gain, *level)?, self.row(&self.inverse, *level)?)),
        }
    }

    fn row(&self, table: &Tensor, level: f64) -> Result<Tensor> {
        let top = (self.levels - 1) as f64;
        ensure!(level.is_finite() && (0.0..=top).contains(&level), "rate level {level} outside 0..={top}");
        let lower = (level.floor() as i64).min(self.levels - 2).max(0);
        let t = level - lower as f64;
        let c = table.size()[1];
        let a = table.get(lower).abs();
        let row = if self.levels == 1 {
            a
        } else {
            let b = table.get(lower + 1).abs();
            // Geometric interpolation: the gains are step-size multipliers.
            (a.log() * (1.0 - t) + b.log() * t).exp()
        };
        Ok(row.view([1, c, 1, 1]))
    }
}

impl GainUnit {
    /// The inverse gains at `level` in float64, computed with neco's own deterministic `exp`/`ln`
    /// from the stored values: identical on every machine (the exact entropy-parameter path
    /// needs this; `select` uses libtorch's `exp`/`log`, which may differ in the last bit).
    pub fn inverse_row_exact(&self, rate: &Rate) -> Result<Vec<f64>> {
        use neco_bitstream::entropy::det_math::{exp, ln};
        let top = (self.levels - 1) as f64;
        let level = match rate {
            Rate::Default => top,
            Rate::Continuous(l) => *l,
            Rate::Levels(_) => anyhow::bail!("coding runs at one rate level, not per-element levels"),
        };
        ensure!(level.is_finite() && (0.0..=top).contains(&level), "rate level {level} outside 0..={top}");
        let table: Vec<f32> = Vec::try_from(
            &self.inverse.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]),
        )?;
        let c = self.inverse.size()[1] as usize;
        let row = |k: i64| -> Vec<f64> {
            table[k as usize * c..(k as usize + 1) * c].iter().map(|v| f64::from(v.abs())).collect()
        };
        if self.levels == 1 {
            return Ok(row(0));
        }
        let lower = (level.floor() as i64).min(self.levels - 2).max(0);
        let t = level - lower as f64;
        let (a, b) = (row(lower), row(lower + 1));
        Ok(a.iter().zip(&b).map(|(&a, &b)| exp(ln(a) * (1.0 - t) + ln(b) * t)).collect())
    }
}

/// The gain units of a variable-rate hyperprior model: one on y (M channels), one on z
/// (N channels). Models hold `Option<LatentGains>`; `None` is a fixed-rate model.
#[derive(Debug)]
pub struct LatentGains {
    y: GainUnit,
    z: GainUnit,
}

/// One pass's gained latents and the inverse gains that undo them.
pub struct GainedLatents {
    pub y: Tensor,
    pub y_inverse: Tensor,
    pub z: Tensor,
    pub z_inverse: Tensor,
}

impl LatentGains {
    /// Variables `gain.y`, `gain.y_inv`, `gain.z`, `gain.z_inv`; `None` when `levels <= 1`.
    pub fn new(vs: &nn::Path, levels: i64, m: i64, n: i64) -> Option<Self> {
        let g = vs / "gain";
        (levels > 1).then(|| Self { y: GainUnit::new(&g, "y", levels, m), z: GainUnit::new(&g, "z", levels, n) })
    }
}

/// Number of rate levels of a model with these gains.
pub fn rate_levels(gains: Option<&LatentGains>) -> usize {
    gains.map_or(1, |g| g.y.levels() as usize)
}

/// Runs the analysis `g_a` and hyper-analysis `h_a` with the gains of `rate` applied: y·g goes
/// to quantization and to h_a, z·g to quantization.
pub fn analyse(
    gains: Option<&LatentGains>,
    g_a: &impl nn::Module,
    h_a: &impl nn::Module,
    x: &Tensor,
    rate: &Rate,
) -> Result<GainedLatents> {
    let y = g_a.forward(x);
    let Some(gains) = gains else {
        let z = h_a.forward(&y);
        return Ok(GainedLatents { y_inverse: y.ones_like(), z_inverse: z.ones_like(), y, z });
    };
    let ((gy, iy), (gz, iz)) = (gains.y.select(rate)?, gains.z.select(rate)?);
    let y = y * gy;
    let z = h_a.forward(&y) * gz;
    Ok(GainedLatents { y, y_inverse: iy, z, z_inverse: iz })
}

/// The decoder's inverse gains (for ŷ, for ẑ); ones for a fixed-rate model.
pub fn inverse_gains(gains: Option<&LatentGains>, rate: &Rate, device: tch::Device) -> Result<(Tensor, Tensor)> {
    Ok(match gains {
        Some(g) => (g.y.select(rate)?.1, g.z.select(rate)?.1),
        None => (Tensor::ones([1], (Kind::Float, device)), Tensor::ones([1], (Kind::Float, device))),
    })
}

/// ẑ's inverse gains in float64, computed deterministically (for the exact entropy-parameter
/// path); ones for a fixed-rate model.
pub fn exact_z_factors(gains: Option<&LatentGains>, rate: &Rate, channels: usize) -> Result<Vec<f64>> {
    match gains {
        Some(g) => g.z.inverse_row_exact(rate),
        None => Ok(vec![1.0; channels]),
    }
}

/// ŷ's inverse gains in float64, computed deterministically (for the exact synthesis); ones for
/// a fixed-rate model.
pub fn exact_y_factors(gains: Option<&LatentGains>, rate: &Rate, channels: usize) -> Result<Vec<f64>> {
    match gains {
        Some(g) => g.y.inverse_row_exact(rate),
        None => Ok(vec![1.0; channels]),
    }
}
