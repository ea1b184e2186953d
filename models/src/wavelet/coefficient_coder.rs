//! Context-modelled coding of quantized subbands.
//!
//! Planes are coded one after another (Y, Cb, Cr), each band in raster order,
//! LL first and then from the coarsest level to the finest. A detail
//! coefficient's magnitude is coded with an adaptive model picked by
//! - its band group: component class (luma / chroma), level, orientation;
//! - the magnitudes of its already-coded neighbours in the band (oriented:
//!   HL bands look mostly up, LH bands mostly left);
//! - its parent (same orientation, one level coarser) and, for chroma, the
//!   co-located luma (and Cb for Cr) coefficients.
//!
//! Magnitudes of at least [`ESCAPE`] escape to an Exp-Golomb code whose
//! length has its own adaptive model; signs are bypass bits. The LL band is
//! coded as residuals of a median edge detector prediction.
//!
//! [`code_planes`] serves both directions through [`Coder`], so the encoder's
//! and decoder's contexts cannot drift apart.

use super::adaptive::{AdaptiveModel, Coder};
use super::quantize::{Quantizer, MAX_Q};
use super::transform::{Band, BandKind, Layout};
use anyhow::Result;

/// Magnitudes `0..ESCAPE` are symbols; `ESCAPE` announces a longer one.
const ESCAPE: u32 = 15;
/// Bit lengths an escape may have: magnitudes and LL residuals stay below 2^24.
const ESCAPE_LENGTHS: usize = 25;

const NEIGHBOUR_CLASSES: usize = 12;
const EXTRA_CLASSES: usize = 4;
const LEVEL_GROUPS: usize = 4;
const LL_CLASSES: usize = 6;
const PARENT_WEIGHT: u32 = 2;
const SIBLING_WEIGHT: u32 = 1;
/// Component classes: luma, chroma.
const COMPONENT_CLASSES: usize = 2;
/// Detail band groups: component class x level group x (HL or LH, HH).
const GROUPS: usize = COMPONENT_CLASSES * LEVEL_GROUPS * 2;
const MAGNITUDE_CLASSES: usize = 8;
const SIG_PER_GROUP: usize = NEIGHBOUR_CLASSES * EXTRA_CLASSES;

/// All adaptive state of one stream.
pub struct Models {
    band_zero: AdaptiveModel,
    ll: Vec<AdaptiveModel>,
    significance: Vec<AdaptiveModel>,
    detail: Vec<AdaptiveModel>,
    sign: Vec<AdaptiveModel>,
    escape: Vec<AdaptiveModel>,
}

impl Models {
    pub fn new() -> Self {
        let magnitude = || AdaptiveModel::new(ESCAPE as usize + 1);
        Self {
            band_zero: AdaptiveModel::new(2),
            ll: (0..COMPONENT_CLASSES * LL_CLASSES).map(|_| magnitude()).collect(),
            significance: (0..GROUPS * NEIGHBOUR_CLASSES * EXTRA_CLASSES).map(|_| AdaptiveModel::new(2)).collect(),
            detail: (0..GROUPS * MAGNITUDE_CLASSES).map(|_| magnitude()).collect(),
            sign: (0..COMPONENT_CLASSES * 3 * 3 * 9).map(|_| AdaptiveModel::new(2)).collect(),
            escape: (0..COMPONENT_CLASSES).map(|_| AdaptiveModel::new(ESCAPE_LENGTHS)).collect(),
        }
    }
}

/// What the encoder quantizes: transformed planes, their band quantizers, and
/// the rate-distortion trade-off (squared error in luma steps per bit).
pub struct Source<'a> {
    pub planes: &'a [Vec<f32>; 3],
    pub quantizers: &'a [Vec<Quantizer>; 3],
    pub lambda: f32,
}

/// Codes (encoder) or fills in (decoder) the three quantized planes laid out by `layout`.
/// The encoder passes `source` and planes holding plain deadzone quantization; detail
/// coefficients are then re-decided with rate-distortion optimisation as they are coded.
pub fn code_planes<C: Coder>(
    io: &mut C,
    layout: &Layout,
    planes: &mut [Vec<i32>; 3],
    source: Option<&Source>,
) -> Result<()> {
    let mut models = Models::new();
    if source.is_some() && std::env::var("PRETRAIN").is_ok() {
        let mut dummy = neco_bitstream::entropy::SymbolEncoder::new();
        let mut copy = planes.clone();
        let [y, cb, cr] = &mut copy;
        let src = |c: usize| source.map(|s| (s.planes[c].as_slice(), s.quantizers[c].as_slice(), s.lambda));
        code_plane(&mut dummy, &mut models, layout, 0, y, &[], src(0))?;
        code_plane(&mut dummy, &mut models, layout, 1, cb, &[y], src(1))?;
        code_plane(&mut dummy, &mut models, layout, 2, cr, &[y, cb], src(2))?;
    }
    let [y, cb, cr] = planes;
    let src = |c: usize| source.map(|s| (s.planes[c].as_slice(), s.quantizers[c].as_slice(), s.lambda));
    code_plane(io, &mut models, layout, 0, y, &[], src(0))?;
    code_plane(io, &mut models, layout, 1, cb, &[y], src(1))?;
    code_plane(io, &mut models, layout, 2, cr, &[y, cb], src(2))
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
    let class = usize::from(component > 0);
    let dbg = std::env::var("DEBUG_BITS").is_ok();
    for (b, band) in layout.bands.iter().enumerate() {
        let start = io.position();
        let nz = (band.y0..band.y0 + band.h)
            .map(|y| plane[y * layout.width + band.x0..][..band.w].iter().filter(|&&v| v != 0).count())
            .sum::<usize>();
        if dbg {
            eprintln!("c{component} L{} {:?} {}x{} nz={} ", band.level, band.kind, band.w, band.h, nz);
        }
        let _ = start;
        // The decoder's plane starts zeroed, so a zero band needs no more work.
        let all_zero = band_is_zero(plane, layout.width, band);
        if io.symbol(&mut models.band_zero, u32::from(all_zero))? == 1 {
            continue;
        }
        if band.kind == BandKind::Ll {
            code_ll(io, models, class, layout.width, band, plane)?;
        } else {
            let mut refs: Vec<(&Band, u32)> =
                band.parent.map(|p| (&layout.bands[p], PARENT_WEIGHT)).into_iter().collect();
            refs.extend(band.siblings.iter().map(|&s| (&layout.bands[s], SIBLING_WEIGHT)));
            let rdo =
                source.and_then(|(xs, qs, lambda)| qs.get(b).map(|q| Rdo { coefficients: xs, quant: *q, lambda }));
            code_detail(io, models, class, layout.width, band, &refs, plane, cross, rdo)?;
        }
        if dbg {
            eprintln!("   bits {}", io.position() - start);
        }
    }
    Ok(())
}

fn band_is_zero(plane: &[i32], stride: usize, band: &Band) -> bool {
    (band.y0..band.y0 + band.h).all(|y| plane[y * stride + band.x0..][..band.w].iter().all(|&v| v == 0))
}

/// Codes a magnitude `m`: with `magnitude` below [`ESCAPE`], else escaped with an
/// Exp-Golomb code whose length is coded with `escape`. Returns at most `2 * MAX_Q`.
fn code_magnitude<C: Coder>(
    io: &mut C,
    magnitude: &mut AdaptiveModel,
    escape: &mut AdaptiveModel,
    m: u32,
) -> Result<u32> {
    let mut mag = io.symbol(magnitude, m.min(ESCAPE))?;
    if mag == ESCAPE {
        // n >= 1 with bit length k + 1; only its k low bits are sent.
        let n = m.saturating_sub(ESCAPE) + 1;
        let k = io.symbol(escape, 31 - n.leading_zeros())?;
        let low = if k > 0 { io.wide_bits(n & ((1 << k) - 1), k)? } else { 0 };
        mag = ((1u32 << k) | low) - 1 + ESCAPE;
    }
    Ok(mag.min(2 * MAX_Q))
}

/// Codes the sign of a nonzero magnitude.
fn code_sign<C: Coder>(io: &mut C, mag: u32, v: i32) -> Result<i32> {
    let negative = io.bits(u32::from(v < 0), 1)? == 1;
    let mag = mag as i32;
    Ok(if negative { -mag } else { mag })
}

/// Codes a signed value: magnitude with `magnitude`, escapes with `escape`, then a sign bit.
fn code_value<C: Coder>(io: &mut C, magnitude: &mut AdaptiveModel, escape: &mut AdaptiveModel, v: i32) -> Result<i32> {
    let mag = code_magnitude(io, magnitude, escape, v.unsigned_abs())?;
    if mag == 0 {
        return Ok(0);
    }
    code_sign(io, mag, v)
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
            let pred = if c >= a.max(b) {
                a.min(b)
            } else if c <= a.min(b) {
                a.max(b)
            } else {
                a + b - c
            };
            let activity = (a - c).unsigned_abs() + (b - c).unsigned_abs();
            let ctx = class * LL_CLASSES + ll_class(activity);
            let residual = plane[i].saturating_sub(pred);
            let r = code_value(io, &mut models.ll[ctx], &mut models.escape[class], residual)?;
            plane[i] = pred.saturating_add(r).clamp(-lim, lim);
        }
    }
    Ok(())
}

fn ll_class(activity: u32) -> usize {
    match activity {
        0 => 0,
        1..=2 => 1,
        3..=6 => 2,
        7..=14 => 3,
        15..=30 => 4,
        _ => 5,
    }
}

fn neighbour_class(v: u32) -> usize {
    match v {
        0 => 0,
        1 => 1,
        2 => 2,
        3..=4 => 3,
        5..=6 => 4,
        7..=9 => 5,
        10..=13 => 6,
        14..=19 => 7,
        20..=27 => 8,
        28..=39 => 9,
        40..=59 => 10,
        _ => 11,
    }
}

fn magnitude_class(v: u32) -> usize {
    match v {
        0..=1 => 0,
        2..=3 => 1,
        4..=6 => 2,
        7..=11 => 3,
        12..=19 => 4,
        20..=35 => 5,
        36..=63 => 6,
        _ => 7,
    }
}

fn extra_class(v: u32) -> usize {
    match v {
        0 => 0,
        1..=2 => 1,
        3..=5 => 2,
        _ => 3,
    }
}

#[allow(clippy::too_many_arguments)]
fn code_detail<C: Coder>(
    io: &mut C,
    models: &mut Models,
    class: usize,
    stride: usize,
    band: &Band,
    refs: &[(&Band, u32)],
    plane: &mut [i32],
    cross: &[&Vec<i32>],
    rdo: Option<Rdo>,
) -> Result<()> {
    let group = (class * LEVEL_GROUPS + band.level.min(LEVEL_GROUPS) - 1) * 2 + usize::from(band.kind == BandKind::Hh);
    // Co-located column of each reference band, for each column of this band.
    let ref_x: Vec<Vec<usize>> =
        refs.iter().map(|(r, _)| (0..band.w).map(|x| r.x0 + (x * r.w / band.w).min(r.w - 1)).collect()).collect();
    let mut ref_rows = vec![0usize; refs.len()];
    let nbs = 4u32;
    let inherit_mass = 512u32;
    // Fresh models start from the same context one level group coarser (or, at the
    // coarsest, from luma's), which has usually been trained already.
    let level_group = band.level.min(LEVEL_GROUPS) - 1;
    let orient_group = usize::from(band.kind == BandKind::Hh);
    let donor_group = if level_group + 1 < LEVEL_GROUPS {
        Some((class * LEVEL_GROUPS + level_group + 1) * 2 + orient_group)
    } else if class > 0 {
        Some(level_group * 2 + orient_group)
    } else {
        None
    };
    let exs = 4u32;
    let mgs = 4u32;
    let mag = |v: i32| v.unsigned_abs().min(255);
    let orientation = match band.kind {
        BandKind::Hl => 0,
        BandKind::Lh => 1,
        _ => 2,
    };
    for y in 0..band.h {
        for (row, (r, _)) in ref_rows.iter_mut().zip(refs) {
            *row = (r.y0 + (y * r.h / band.h).min(r.h - 1)) * stride;
        }
        for x in 0..band.w {
            let i = (band.y0 + y) * stride + band.x0 + x;
            let l = if x > 0 { mag(plane[i - 1]) } else { 0 };
            let u = if y > 0 { mag(plane[i - stride]) } else { 0 };
            let ul = if x > 0 && y > 0 { mag(plane[i - stride - 1]) } else { 0 };
            let ur = if y > 0 && x + 1 < band.w { mag(plane[i - stride + 1]) } else { 0 };
            let ll = if x > 1 { mag(plane[i - 2]) } else { 0 };
            let uu = if y > 1 { mag(plane[i - 2 * stride]) } else { 0 };
            let neighbours = match band.kind {
                BandKind::Hl => 3 * u + 2 * l + ul + ur + uu,
                BandKind::Lh => 3 * l + 2 * u + ul + ur + ll,
                _ => 2 * (l + u) + ul + ur + (ll + uu + 1) / 2,
            };
            let mut extra = 0;
            {
                let at = |dx: isize, dy: isize| -> u32 {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    if xx < 0 || yy < 0 || xx >= band.w as isize {
                        0
                    } else {
                        mag(plane[(band.y0 + yy as usize) * stride + band.x0 + xx as usize])
                    }
                };
                let far =
                    at(-2, -1) + at(2, -1) + at(-1, -2) + at(1, -2) + at(-3, 0) + at(0, -3) + at(2, -2) + at(-2, -2);
                extra += (far + 1) / 2;
            }
            for ((&row, xs), &(_, weight)) in ref_rows.iter().zip(&ref_x).zip(refs) {
                extra += weight * mag(plane[row + xs[x]]);
            }
            for c in cross {
                extra += mag(c[i]);
            }
            let sig_ctx = group * NEIGHBOUR_CLASSES * EXTRA_CLASSES
                + neighbour_class(neighbours * nbs / 4) * EXTRA_CLASSES
                + extra_class(extra * exs / 4);
            let mag_ctx = group * MAGNITUDE_CLASSES + magnitude_class((neighbours + extra) * mgs / 4);
            let sign_of = |v: i32| (v.signum() + 1) as usize;
            let l = if x > 0 { sign_of(plane[i - 1]) } else { 1 };
            let u = if y > 0 { sign_of(plane[i - stride]) } else { 1 };
            let (along, across) = if band.kind == BandKind::Lh { (l, u) } else { (u, l) };
            let sign_ctx = ((class * 3 + orientation) * 3 + band.level.min(3) - 1) * 9 + along * 3 + across;
            if models.significance[sig_ctx].is_fresh() {
                if let Some(d) = donor_group {
                    let (donor, target) = (d * SIG_PER_GROUP + (sig_ctx - group * SIG_PER_GROUP), sig_ctx);
                    let donor = models.significance[donor].clone();
                    models.significance[target].inherit(&donor, inherit_mass);
                }
            }
            if models.detail[mag_ctx].is_fresh() {
                if let Some(d) = donor_group {
                    let donor = models.detail[d * MAGNITUDE_CLASSES + (mag_ctx - group * MAGNITUDE_CLASSES)].clone();
                    models.detail[mag_ctx].inherit(&donor, inherit_mass);
                }
            }
            if models.sign[sign_ctx].is_fresh() {
                let lvl = band.level.min(3) - 1;
                let donor = if lvl + 1 < 3 {
                    Some(sign_ctx + 9)
                } else if class > 0 {
                    Some(sign_ctx - 27 * 3)
                } else {
                    None
                };
                if let Some(d) = donor {
                    {
                        let donor = models.sign[d].clone();
                        models.sign[sign_ctx].inherit(&donor, inherit_mass);
                    }
                }
            }
            let v = match &rdo {
                Some(r) => r.choose(
                    r.coefficients[i],
                    &models.significance[sig_ctx],
                    &models.detail[mag_ctx],
                    &models.sign[sign_ctx],
                ),
                None => plane[i],
            };
            if io.symbol(&mut models.significance[sig_ctx], u32::from(v != 0))? == 0 {
                plane[i] = 0;
                continue;
            }
            let m = code_magnitude(
                io,
                &mut models.detail[mag_ctx],
                &mut models.escape[class],
                v.unsigned_abs().wrapping_sub(1),
            )?;
            let negative = io.symbol(&mut models.sign[sign_ctx], u32::from(v < 0))? == 1;
            let m = (m + 1) as i32;
            plane[i] = if negative { -m } else { m };
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
    /// The level minimising weighted squared error (in steps) + lambda * bits,
    /// among the nearest level and the one below it.
    fn choose(&self, x: f32, sig: &AdaptiveModel, magnitude: &AdaptiveModel, sign: &AdaptiveModel) -> i32 {
        let a = x.abs() / self.quant.step;
        let nearest = ((a + 0.5).floor() as u32).min(MAX_Q);
        if nearest == 0 {
            return 0;
        }
        let sign_bits = sign.cost(u32::from(x < 0.0));
        let cost = |q: u32| -> f32 {
            if q == 0 {
                return self.quant.weight * a * a + self.lambda * sig.cost(0);
            }
            let err = a - (q as f32 + self.quant.recon);
            let m = q - 1;
            let escape_bits = if m >= ESCAPE { 2.0 * (m - ESCAPE + 1).ilog2() as f32 + 1.0 } else { 0.0 };
            let bits = sig.cost(1) + magnitude.cost(m.min(ESCAPE)) + escape_bits + sign_bits;
            self.quant.weight * err * err + self.lambda * bits
        };
        let best = if cost(nearest - 1) <= cost(nearest) { nearest - 1 } else { nearest };
        let best = best as i32;
        if x < 0.0 {
            -best
        } else {
            best
        }
    }
}
