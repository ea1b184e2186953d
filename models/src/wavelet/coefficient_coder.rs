//! Coding of the quantized subbands.
//!
//! Planes are coded one after another (Y, Cb, Cr), each band in raster
//! order: LL first, then from the coarsest level to the finest. Every band
//! starts with an all-zero flag. The LL band is coded as residuals of the
//! median edge detector (LOCO-I) prediction; detail coefficients as
//! significance, magnitude and sign with the contexts of [`super::context`].
//! From format version 3 the binary decisions (significance, a "magnitude
//! above one" flag, from version 4 an "above two" flag, from version 6 an
//! "above three" flag, sign) are coded by context mixing
//! ([`super::mixed_context`]), and the magnitude model codes the rest; from
//! version 6 the LL residuals are mixed decisions too ([`super::ll_mixed`]).
//! Magnitudes of at least [`ESCAPE`] escape to an Exp-Golomb code whose length
//! has its own adaptive model.
//!
//! [`code_planes`] serves both directions through [`Coder`], so the encoder
//! and decoder cannot drift apart. The encoder also chooses each detail
//! coefficient's level as it goes, trading distortion against the current
//! models' bit costs (greedy rate-distortion optimised quantization).

use super::adaptive::{AdaptiveModel, Coder};
use super::context::{BandContext, BinaryModel, DetailModels, Models, ESCAPE, PARENT_WEIGHT, SIBLING_WEIGHT};
use super::ll_mixed::LlContext;
use super::quantize::{Quantizer, MAX_Q};
use super::transform::{Band, BandKind, Layout};
use anyhow::Result;

/// What the encoder quantizes: transformed planes, their band quantizers, and
/// the rate-distortion trade-off `lambda` (squared error, in luma steps, per bit).
pub struct Source<'a> {
    pub planes: &'a [Vec<f32>; 3],
    pub quantizers: &'a [Vec<Quantizer>; 3],
    pub lambda: f32,
}

/// Codes (encoder) or fills in (decoder, from zeroed planes) the three
/// quantized planes laid out by `layout`. The encoder passes `source` and
/// planes holding a plain deadzone quantization; detail coefficients are
/// re-decided as they are coded, and `planes` ends up holding what was coded.
/// `models`: fresh ones of the payload format version (see [`Models::new`]).
pub fn code_planes<C: Coder>(
    io: &mut C,
    layout: &Layout,
    planes: &mut [Vec<i32>; 3],
    source: Option<&Source>,
    models: &mut Models,
) -> Result<()> {
    let [y, cb, cr] = planes;
    let src = |c: usize| source.map(|s| (s.planes[c].as_slice(), s.quantizers[c].as_slice(), s.lambda));
    code_plane(io, models, layout, 0, y, &[], src(0))?;
    code_plane(io, models, layout, 1, cb, &[y], src(1))?;
    code_plane(io, models, layout, 2, cr, &[y, cb], src(2))
}

fn code_plane<C: Coder>(
    io: &mut C,
    models: &mut Models,
    layout: &Layout,
    component: usize,
    plane: &mut [i32],
    cross: &[&Vec<i32>],
    source: Option<(&[f32], &[Quantizer], f32)>,
) -> Result<()> {
    let stride = layout.width;
    for (b, band) in layout.bands.iter().enumerate() {
        // The decoder's plane starts zeroed, so a zero band needs no more work.
        let all_zero = band_is_zero(plane, stride, band);
        if io.symbol(&mut models.band_zero, u32::from(all_zero))? == 1 {
            if !all_zero {
                // Unreachable for a well-behaved coder; keeps the plane consistent.
                clear_band(plane, stride, band);
            }
            continue;
        }
        if band.kind == BandKind::Ll {
            code_ll(io, models, usize::from(component > 0), stride, band, plane)?;
            continue;
        }
        let mut refs: Vec<(&Band, u32)> = band.parent.map(|p| (&layout.bands[p], PARENT_WEIGHT)).into_iter().collect();
        refs.extend(band.siblings.iter().map(|&s| (&layout.bands[s], SIBLING_WEIGHT)));
        let mut ctx = BandContext::new(component, band, stride, refs, plane, cross);
        let rdo = source.and_then(|(xs, qs, lambda)| qs.get(b).map(|&quant| Rdo { coefficients: xs, quant, lambda }));
        for y in 0..band.h {
            ctx.start_row(y);
            for x in 0..band.w {
                let i = (band.y0 + y) * stride + band.x0 + x;
                let mut m = models.detail(&ctx, &ctx.evidence(plane, cross, x, y));
                let v = match &rdo {
                    Some(r) => r.choose(r.coefficients[i], &mut m),
                    None => plane[i],
                };
                plane[i] = code_detail(io, m, v)?;
                ctx.record(x, y, plane[i]);
            }
        }
    }
    Ok(())
}

fn band_is_zero(plane: &[i32], stride: usize, band: &Band) -> bool {
    (band.y0..band.y0 + band.h).all(|y| plane[y * stride + band.x0..][..band.w].iter().all(|&v| v == 0))
}

fn clear_band(plane: &mut [i32], stride: usize, band: &Band) {
    for y in band.y0..band.y0 + band.h {
        plane[y * stride + band.x0..][..band.w].fill(0);
    }
}

/// Codes a magnitude `m` (the encoder's; ignored when decoding): with
/// `magnitude` below [`ESCAPE`], else escaped. Returns at most `2 * MAX_Q`.
fn code_magnitude<C: Coder>(
    io: &mut C,
    magnitude: &mut AdaptiveModel,
    escape: &mut AdaptiveModel,
    m: u32,
) -> Result<u32> {
    let mut mag = io.symbol(magnitude, m.min(ESCAPE))?;
    if mag == ESCAPE {
        // n >= 1 has bit length k + 1; its k low bits follow.
        let n = m.saturating_sub(ESCAPE).saturating_add(1);
        let k = io.symbol(escape, n.ilog2())?;
        let low = if k > 0 { io.wide_bits(n & ((1 << k) - 1), k)? } else { 0 };
        mag = ((1u32 << k) | low) - 1 + ESCAPE;
    }
    Ok(mag.min(2 * MAX_Q))
}

/// Codes a detail coefficient (the encoder's `v`) and returns the coded value.
fn code_detail<C: Coder>(io: &mut C, mut m: DetailModels, v: i32) -> Result<i32> {
    if !m.significance.code(io, v != 0)? {
        return Ok(0);
    }
    let rest = v.unsigned_abs().saturating_sub(1);
    // Unary flags first ("above one", "above two", "above three", as the version has them),
    // then the magnitude model codes what is left.
    let mut mag = 1;
    let flags = [m.above_one.as_mut(), m.above_two.as_mut(), m.above_three.as_mut()];
    for flag in flags.into_iter().flatten() {
        if !flag.code(io, rest >= mag as u32)? {
            return code_sign(io, &mut m.sign, v, mag);
        }
        mag += 1;
    }
    let mag = code_magnitude(io, m.magnitude, m.escape, rest.saturating_sub(mag as u32 - 1))? as i32 + mag;
    code_sign(io, &mut m.sign, v, mag)
}

/// Codes the sign of `v` (the encoder's), returning `mag` with the coded sign.
fn code_sign<C: Coder>(io: &mut C, sign: &mut BinaryModel, v: i32, mag: i32) -> Result<i32> {
    Ok(if sign.code(io, v < 0)? { -mag } else { mag })
}

/// LL band: residuals of the MED (LOCO-I) predictor on the quantized values.
fn code_ll<C: Coder>(
    io: &mut C,
    models: &mut Models,
    class: usize,
    stride: usize,
    band: &Band,
    plane: &mut [i32],
) -> Result<()> {
    let lim = MAX_Q as i32;
    let mut residuals = vec![0u32; band.w * band.h];
    for y in 0..band.h {
        for x in 0..band.w {
            let i = (band.y0 + y) * stride + band.x0 + x;
            let a = if x > 0 {
                plane[i - 1]
            } else if y > 0 {
                plane[i - stride]
            } else {
                0
            };
            let b = if y > 0 { plane[i - stride] } else { a };
            let c = if x > 0 && y > 0 { plane[i - stride - 1] } else { b };
            let prediction = if c >= a.max(b) {
                a.min(b)
            } else if c <= a.min(b) {
                a.max(b)
            } else {
                a + b - c
            };
            let activity = (a - c).unsigned_abs() + (b - c).unsigned_abs();
            let residual = plane[i] - prediction;
            let r = if let Some(ll) = models.ll_mixed.as_mut() {
                // The residual magnitudes coded left and above (at the left
                // edge, the row above's first).
                let left = if x > 0 {
                    residuals[y * band.w + x - 1]
                } else if y > 0 {
                    residuals[(y - 1) * band.w]
                } else {
                    0
                };
                let up = if y > 0 { residuals[(y - 1) * band.w + x] } else { left };
                ll.code(io, &LlContext::new(class, activity, left, up), residual)?
            } else {
                let (magnitude, escape) = models.ll(class, activity);
                let m = code_magnitude(io, magnitude, escape, residual.unsigned_abs())? as i32;
                if m != 0 && io.bits(u32::from(residual < 0), 1)? == 1 {
                    -m
                } else {
                    m
                }
            };
            residuals[y * band.w + x] = r.unsigned_abs();
            plane[i] = (prediction + r).clamp(-lim, lim);
        }
    }
    Ok(())
}

/// Encoder-side rate-distortion choice of a detail coefficient's level.
struct Rdo<'a> {
    coefficients: &'a [f32],
    quant: Quantizer,
    lambda: f32,
}

impl Rdo<'_> {
    /// Of the nearest level and the one below it, the one minimising weighted
    /// squared error (in steps) plus `lambda` times its bits under the current models.
    fn choose(&self, x: f32, m: &mut DetailModels) -> i32 {
        let a = x.abs() / self.quant.step;
        // `as` truncates (and saturates), which is floor for non-negative values.
        let nearest = ((a + 0.5) as u32).min(MAX_Q);
        if nearest == 0 {
            return 0;
        }
        let sign_bits = m.sign.cost(x < 0.0);
        let mut cost = |q: u32| -> f32 {
            if q == 0 {
                return self.quant.weight * a * a + self.lambda * m.significance.cost(false);
            }
            let err = a - (q as f32 + self.quant.recon);
            let bits = m.significance.cost(true) + magnitude_bits(m, q - 1) + sign_bits;
            self.quant.weight * err * err + self.lambda * bits
        };
        let level = if cost(nearest - 1) <= cost(nearest) { nearest - 1 } else { nearest };
        if x < 0.0 {
            -(level as i32)
        } else {
            level as i32
        }
    }
}

/// Approximate bits of a nonzero magnitude less one, `rest`, as
/// [`code_detail`] codes it (escape lengths counted as Exp-Golomb).
fn magnitude_bits(m: &mut DetailModels, rest: u32) -> f32 {
    // The unary flags the version has, as `code_detail` codes them.
    let mut flag_bits = 0.0;
    let mut rest = rest;
    for flag in [m.above_one.as_mut(), m.above_two.as_mut(), m.above_three.as_mut()].into_iter().flatten() {
        if rest == 0 {
            return flag_bits + flag.cost(false);
        }
        flag_bits += flag.cost(true);
        rest -= 1;
    }
    let escape_bits = if rest >= ESCAPE { 2.0 * (rest - ESCAPE + 1).ilog2() as f32 + 1.0 } else { 0.0 };
    flag_bits + m.magnitude.cost(rest.min(ESCAPE)) + escape_bits
}
