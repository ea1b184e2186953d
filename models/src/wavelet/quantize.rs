//! Uniform scalar quantization with per-subband steps.
//!
//! Steps are the quality's pixel-domain step divided by each band's synthesis
//! gain, so every band's errors weigh alike in the image. The LL band rounds
//! to nearest; detail bands use a deadzone and reconstruct slightly toward
//! zero, where their (Laplacian-like) values concentrate. The encoder refines
//! detail levels with rate-distortion optimisation while coding them.

use super::transform::{Band, BandKind};

/// Largest quantized magnitude; larger values are clamped (no 8-bit image gets near it).
pub const MAX_Q: u32 = 1 << 22;

/// Step at quality 1 and the per-quality-point ratio: quality 100 gets
/// 150 * RATIO^99 = 1.5 (about 48 dB, near-lossless).
const STEP_Q1: f32 = 150.0;
const STEP_RATIO: f32 = 0.954_548_9; // (1.5 / 150)^(1/99) = 10^(-2/99)

/// How a band's values are quantized, `|q| = floor(|x| / step + rounding)`,
/// and reconstructed, `|x'| = (|q| + recon) * step` for `q != 0`.
#[derive(Debug, Clone, Copy)]
pub struct Quantizer {
    pub step: f32,
    /// Weight of this band's errors (in units of its step) against the luma's: `factor^2`.
    pub weight: f32,
    pub rounding: f32,
    pub recon: f32,
}

/// The LL band gets a finer step than the balanced one: it costs few bits, and
/// it keeps flat areas (graphics, skies) free of visible offsets. Format
/// versions 1-3 used half the balanced step; version 4 uses 3/4, as PSNR on
/// Kodak prefers coarser (0.7 and 1.0 measured alike, -0.2 % BD-rate
/// against 0.5), and 3/4 keeps most of the protection.
pub fn ll_step_factor(version: u32) -> f32 {
    if version >= 4 {
        0.75
    } else {
        0.5
    }
}
/// Detail bands: a deadzone, with reconstruction biased toward zero.
const DETAIL_ROUNDING: f32 = 0.3;
const DETAIL_RECON: f32 = 0.06;

/// The pixel-domain step for `quality` (1..=100, clamped), log-linear in quality.
/// Repeated multiplication keeps it bit-exact across platforms (no `powf`).
pub fn base_step(quality: u8) -> f32 {
    let mut step = STEP_Q1;
    for _ in 1..quality.clamp(1, 100) {
        step *= STEP_RATIO;
    }
    step
}

/// The step of a band: pixel-domain errors are balanced by dividing by its synthesis gain.
fn band_step(base: f32, band: &Band, factor: f32) -> f32 {
    base * factor / band.gain.max(1e-6)
}

impl Quantizer {
    /// The quantizer of `band`, with pixel-domain step `base * factor`; an LL
    /// band's step is scaled by `ll_factor` (see [`ll_step_factor`]).
    pub fn for_band(base: f32, factor: f32, ll_factor: f32, band: &Band) -> Self {
        let step = band_step(base, band, factor);
        if band.kind == BandKind::Ll {
            Self { step: step * ll_factor, weight: factor * factor, rounding: 0.5, recon: 0.0 }
        } else {
            Self { step, weight: factor * factor, rounding: DETAIL_ROUNDING, recon: DETAIL_RECON }
        }
    }

    pub fn quantize(&self, x: f32) -> i32 {
        // `as` truncates toward zero (floor, for these non-negative values),
        // saturates and maps NaN to 0; the min keeps within MAX_Q.
        let m = ((x.abs() / self.step + self.rounding) as u32).min(MAX_Q) as i32;
        if x < 0.0 {
            -m
        } else {
            m
        }
    }

    pub fn dequantize(&self, q: i32) -> f32 {
        if q == 0 {
            return 0.0;
        }
        let m = (q.unsigned_abs() as f32 + self.recon) * self.step;
        if q < 0 {
            -m
        } else {
            m
        }
    }
}

/// Quantizes one band of a plane (row stride `stride`) into the same positions of `out`.
pub fn quantize_band(plane: &[f32], out: &mut [i32], stride: usize, band: &Band, quant: &Quantizer) {
    for y in band.y0..band.y0 + band.h {
        let row = y * stride + band.x0..y * stride + band.x0 + band.w;
        for (o, &x) in out[row.clone()].iter_mut().zip(&plane[row]) {
            *o = quant.quantize(x);
        }
    }
}

/// Inverse of [`quantize_band`].
pub fn dequantize_band(q: &[i32], out: &mut [f32], stride: usize, band: &Band, quant: &Quantizer) {
    for y in band.y0..band.y0 + band.h {
        let row = y * stride + band.x0..y * stride + band.x0 + band.w;
        for (o, &v) in out[row.clone()].iter_mut().zip(&q[row]) {
            *o = quant.dequantize(v);
        }
    }
}
