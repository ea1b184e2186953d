//! Context modelling: which adaptive model codes each symbol.
//!
//! A detail coefficient is coded as a significance flag, then (if nonzero)
//! its magnitude less one and its sign. The models are picked by
//! - the band group: component class (luma, chroma) x level group x
//!   orientation class (HL/LH, HH);
//! - a weighted sum of the magnitudes of already-coded neighbours in the band
//!   (oriented: HL bands weigh the coefficient above most, LH the one left);
//! - "extra" evidence: the parent (same orientation, one level coarser), the
//!   siblings of the same level coded before, the co-located luma (and Cb)
//!   coefficients for chroma, and a ring of farther neighbours;
//! - for signs, the signs of the two nearest neighbours.
//!
//! A model coding its first symbol starts from the distribution of its twin
//! one level group coarser (or luma's, for the coarsest chroma group), which
//! is usually trained by then: with hundreds of contexts this saves much of
//! the learning cost on small images.
//!
//! Encoder and decoder share this code: there is one context function.

use super::adaptive::{new_model, AdaptiveModel};
use super::transform::{Band, BandKind};

/// Magnitudes `0..ESCAPE` are symbols; `ESCAPE` announces a longer one.
pub const ESCAPE: u32 = 15;
/// Bit lengths an escape may have: magnitudes and LL residuals stay below 2^24.
const ESCAPE_LENGTHS: usize = 25;

const COMPONENT_CLASSES: usize = 2;
const LEVEL_GROUPS: usize = 4;
/// Detail band groups: component class x level group x (HL or LH, HH).
const GROUPS: usize = COMPONENT_CLASSES * LEVEL_GROUPS * 2;
const NEIGHBOUR_CLASSES: usize = 12;
const EXTRA_CLASSES: usize = 4;
const SIGNIFICANCE_PER_GROUP: usize = NEIGHBOUR_CLASSES * EXTRA_CLASSES;
const MAGNITUDE_CLASSES: usize = 8;
/// Sign models: component class x orientation (HL, LH, HH) x level (1, 2, 3+) x 9 sign pairs.
const SIGN_LEVELS: usize = 3;
const SIGN_PER_ORIENTATION: usize = SIGN_LEVELS * 9;
const SIGN_PER_CLASS: usize = 3 * SIGN_PER_ORIENTATION;
const LL_CLASSES: usize = 6;

/// Weights of the parent and sibling magnitudes in the extra evidence.
pub const PARENT_WEIGHT: u32 = 2;
pub const SIBLING_WEIGHT: u32 = 1;
/// Counts a fresh model inherits from its twin (a symbol adds 32).
const INHERIT_MASS: u32 = 512;

/// All adaptive state of one stream.
pub struct Models {
    pub band_zero: AdaptiveModel,
    ll: Vec<AdaptiveModel>,
    significance: Vec<AdaptiveModel>,
    magnitude: Vec<AdaptiveModel>,
    sign: Vec<AdaptiveModel>,
    escape: Vec<AdaptiveModel>,
}

/// Model indexes for one detail coefficient.
#[derive(Debug, Clone, Copy)]
pub struct DetailContext {
    pub significance: usize,
    pub magnitude: usize,
    pub sign: usize,
}

/// The models a detail coefficient uses, borrowed together.
pub struct DetailModels<'a> {
    pub significance: &'a mut AdaptiveModel,
    pub magnitude: &'a mut AdaptiveModel,
    pub sign: &'a mut AdaptiveModel,
    pub escape: &'a mut AdaptiveModel,
}

impl Models {
    pub fn new() -> Self {
        let magnitude = || new_model(ESCAPE as usize + 1);
        Self {
            band_zero: new_model(2),
            ll: (0..COMPONENT_CLASSES * LL_CLASSES).map(|_| magnitude()).collect(),
            significance: (0..GROUPS * SIGNIFICANCE_PER_GROUP).map(|_| new_model(2)).collect(),
            magnitude: (0..GROUPS * MAGNITUDE_CLASSES).map(|_| magnitude()).collect(),
            sign: (0..COMPONENT_CLASSES * SIGN_PER_CLASS).map(|_| new_model(2)).collect(),
            escape: (0..COMPONENT_CLASSES).map(|_| new_model(ESCAPE_LENGTHS)).collect(),
        }
    }

    /// The LL residual model for `activity`, and the escape model.
    pub fn ll(&mut self, class: usize, activity: u32) -> (&mut AdaptiveModel, &mut AdaptiveModel) {
        (&mut self.ll[class * LL_CLASSES + ll_class(activity)], &mut self.escape[class])
    }

    /// The models of `ctx` (see [`BandContext::context`]), priming fresh ones from their twins.
    pub fn detail(&mut self, band: &BandContext, ctx: DetailContext) -> DetailModels<'_> {
        if let Some(d) = band.donor_group {
            let donor = d * SIGNIFICANCE_PER_GROUP + ctx.significance % SIGNIFICANCE_PER_GROUP;
            prime(&mut self.significance, ctx.significance, donor);
            prime(&mut self.magnitude, ctx.magnitude, d * MAGNITUDE_CLASSES + ctx.magnitude % MAGNITUDE_CLASSES);
        }
        if let Some(d) = band.sign_donor {
            prime(&mut self.sign, ctx.sign, d + ctx.sign % 9);
        }
        DetailModels {
            significance: &mut self.significance[ctx.significance],
            magnitude: &mut self.magnitude[ctx.magnitude],
            sign: &mut self.sign[ctx.sign],
            escape: &mut self.escape[band.class],
        }
    }
}

/// Primes `models[target]` from `models[donor]` if the target is still
/// untouched and the donor has learnt something.
#[inline]
fn prime(models: &mut [AdaptiveModel], target: usize, donor: usize) {
    if !models[target].is_fresh() || models[donor].is_fresh() || target == donor {
        return;
    }
    let (target, donor) = if target < donor {
        let (a, b) = models.split_at_mut(donor);
        (&mut a[target], &b[0])
    } else {
        let (a, b) = models.split_at_mut(target);
        (&mut b[0], &a[donor])
    };
    target.inherit(donor, INHERIT_MASS);
}

/// Per-band context state: model bases and the geometry of the evidence.
pub struct BandContext<'a> {
    class: usize,
    kind: BandKind,
    group: usize,
    donor_group: Option<usize>,
    sign_base: usize,
    sign_donor: Option<usize>,
    band: &'a Band,
    stride: usize,
    /// Reference bands (parent, siblings) with their weights and, per column of
    /// this band, the co-located column of each.
    refs: Vec<(&'a Band, u32, Vec<usize>)>,
    /// Row offsets of the co-located reference rows for the current row.
    ref_rows: Vec<usize>,
    /// Saturated magnitudes of the band's coded coefficients, zero-padded.
    mags: Vec<u8>,
}

impl<'a> BandContext<'a> {
    /// `refs`: the bands whose co-located magnitudes count as extra evidence, with weights.
    pub fn new(component: usize, band: &'a Band, stride: usize, refs: Vec<(&'a Band, u32)>) -> Self {
        let class = usize::from(component > 0);
        let orient_group = usize::from(band.kind == BandKind::Hh);
        let level_group = band.level.clamp(1, LEVEL_GROUPS) - 1;
        let group = (class * LEVEL_GROUPS + level_group) * 2 + orient_group;
        let donor_group = if level_group + 1 < LEVEL_GROUPS {
            Some(group + 2)
        } else if class > 0 {
            Some(level_group * 2 + orient_group)
        } else {
            None
        };
        let orientation = match band.kind {
            BandKind::Hl => 0,
            BandKind::Lh => 1,
            _ => 2,
        };
        let sign_level = band.level.clamp(1, SIGN_LEVELS) - 1;
        let sign_base = class * SIGN_PER_CLASS + orientation * SIGN_PER_ORIENTATION + sign_level * 9;
        let sign_donor = if sign_level + 1 < SIGN_LEVELS {
            Some(sign_base + 9)
        } else if class > 0 {
            Some(sign_base - SIGN_PER_CLASS)
        } else {
            None
        };
        let refs = refs
            .into_iter()
            .map(|(r, weight)| {
                let xs = (0..band.w).map(|x| r.x0 + scale(x, r.w, band.w)).collect();
                (r, weight, xs)
            })
            .collect::<Vec<_>>();
        let ref_rows = vec![0; refs.len()];
        let mags = vec![0; (band.w + PAD_LEFT + PAD_RIGHT) * (band.h + PAD_TOP)];
        Self { class, kind: band.kind, group, donor_group, sign_base, sign_donor, band, stride, refs, ref_rows, mags }
    }

    /// Call at the start of each row `y` of the band.
    pub fn start_row(&mut self, y: usize) {
        for (row, (r, _, _)) in self.ref_rows.iter_mut().zip(&self.refs) {
            *row = (r.y0 + scale(y, r.h, self.band.h)) * self.stride;
        }
    }

    /// The contexts of the coefficient at band position (`x`, `y`), from the
    /// already-coded values of the band (recorded with [`record`](Self::record)),
    /// of the reference bands in `plane` and of the `cross` planes.
    pub fn context(&self, plane: &[i32], cross: &[&Vec<i32>], x: usize, y: usize) -> DetailContext {
        // Magnitudes around (x, y): `m[k]` is row y - 3 + k/..., read from the padded buffer.
        let pw = self.band.w + PAD_LEFT + PAD_RIGHT;
        let c = (y + PAD_TOP) * pw + x + PAD_LEFT;
        let m = &self.mags;
        let at = |dx: isize, dy: isize| u32::from(m[(c as isize + dy * pw as isize + dx) as usize]);
        let (ml, mu, mul, mur) = (at(-1, 0), at(0, -1), at(-1, -1), at(1, -1));
        let neighbours = match self.kind {
            BandKind::Hl => 3 * mu + 2 * ml + mul + mur + at(0, -2),
            BandKind::Lh => 3 * ml + 2 * mu + mul + mur + at(-2, 0),
            _ => 2 * (ml + mu) + mul + mur + (at(-2, 0) + at(0, -2)).div_ceil(2),
        };
        let far = at(-2, -1) + at(2, -1) + at(-1, -2) + at(1, -2) + at(-3, 0) + at(0, -3) + at(2, -2) + at(-2, -2);
        let mut extra = far.div_ceil(2);
        for (&row, (_, weight, xs)) in self.ref_rows.iter().zip(&self.refs) {
            extra += weight * magnitude(plane[row + xs[x]]);
        }
        let i = (self.band.y0 + y) * self.stride + self.band.x0 + x;
        for c in cross {
            extra += magnitude(c[i]);
        }
        let sign_of = |v: i32| (v.signum() + 1) as usize;
        let l = if x > 0 { plane[i - 1] } else { 0 };
        let u = if y > 0 { plane[i - self.stride] } else { 0 };
        let (along, across) = if self.kind == BandKind::Lh { (l, u) } else { (u, l) };
        DetailContext {
            significance: self.group * SIGNIFICANCE_PER_GROUP
                + neighbour_class(neighbours) * EXTRA_CLASSES
                + extra_class(extra),
            magnitude: self.group * MAGNITUDE_CLASSES + magnitude_class(neighbours + extra),
            sign: self.sign_base + sign_of(along) * 3 + sign_of(across),
        }
    }

    /// Records the coded value at band position (`x`, `y`) for later contexts.
    pub fn record(&mut self, x: usize, y: usize, v: i32) {
        let pw = self.band.w + PAD_LEFT + PAD_RIGHT;
        self.mags[(y + PAD_TOP) * pw + x + PAD_LEFT] = magnitude(v) as u8;
    }
}

/// Padding of the magnitude buffer: the context reaches 3 left, 3 up, 2 right.
const PAD_LEFT: usize = 3;
const PAD_RIGHT: usize = 2;
const PAD_TOP: usize = 3;

/// A magnitude as context evidence, saturated at 255.
fn magnitude(v: i32) -> u32 {
    v.unsigned_abs().min(255)
}

/// `v * to / from`, clamped below `to` (nearest co-located index between bands).
fn scale(v: usize, to: usize, from: usize) -> usize {
    let s = (v as u64 * to as u64 / from.max(1) as u64) as usize;
    s.min(to.saturating_sub(1))
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

fn extra_class(v: u32) -> usize {
    match v {
        0 => 0,
        1..=2 => 1,
        3..=5 => 2,
        _ => 3,
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
