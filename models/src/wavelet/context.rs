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
//! These per-context models code format versions 1 and 2. Version 3 codes the
//! binary decisions by mixing several views of the same [`Evidence`]
//! ([`super::mixed_context`]); magnitudes keep the models here.
//!
//! A model coding its first symbol starts from the distribution of its twin
//! one level group coarser (or luma's, for the coarsest chroma group), which
//! is usually trained by then: with hundreds of contexts this saves much of
//! the learning cost on small images.
//!
//! Encoder and decoder share this code: there is one context function.

use super::adaptive::{new_model, AdaptiveModel, Coder};
use super::initial_states::{self, InitialStates, MixerStart, Statistics};
use super::ll_mixed::LlModels;
use super::mixed_context::MixedModels;
use super::mixing::{Contexts, Mixer};
use super::transform::{Band, BandKind};
use anyhow::Result;

/// Magnitudes `0..ESCAPE` are symbols; `ESCAPE` announces a longer one.
pub const ESCAPE: u32 = 15;
/// Bit lengths an escape may have: magnitudes and LL residuals stay below 2^24.
const ESCAPE_LENGTHS: usize = 25;

const COMPONENT_CLASSES: usize = 2;
const LEVEL_GROUPS: usize = 4;
/// Detail band groups: component class x level group x (HL or LH, HH).
pub const GROUPS: usize = COMPONENT_CLASSES * LEVEL_GROUPS * 2;
const NEIGHBOUR_CLASSES: usize = 12;
const EXTRA_CLASSES: usize = 4;
pub const SIGNIFICANCE_PER_GROUP: usize = NEIGHBOUR_CLASSES * EXTRA_CLASSES;
const MAGNITUDE_CLASSES: usize = 8;
/// Sign models: component class x orientation (HL, LH, HH) x level (1, 2, 3+) x 9 sign pairs.
const SIGN_LEVELS: usize = 3;
const SIGN_PER_ORIENTATION: usize = SIGN_LEVELS * 9;
const SIGN_PER_CLASS: usize = 3 * SIGN_PER_ORIENTATION;
/// Band classes of the sign models: component class x orientation x level.
pub const SIGN_BANDS: usize = COMPONENT_CLASSES * 3 * SIGN_LEVELS;
const LL_CLASSES: usize = 6;

/// Weights of the parent and sibling magnitudes in the extra evidence.
pub const PARENT_WEIGHT: u32 = 2;
pub const SIBLING_WEIGHT: u32 = 1;
/// Counts a fresh model inherits from its twin (a symbol adds 32).
const INHERIT_MASS: u32 = 512;
/// Counts a fresh LL model inherits (format version 5 on): less than the
/// details' (measured on Kodak q15-60: 256 −0.09 % BD-rate against no priming).
const LL_INHERIT_MASS: u32 = 256;

/// All adaptive state of one stream.
pub struct Models {
    pub band_zero: AdaptiveModel,
    /// Context mixing for the binary decisions (format version 3 on); the
    /// per-context `significance` and `sign` models serve older streams.
    mixed: Option<MixedModels>,
    ll: Vec<AdaptiveModel>,
    /// Whether fresh LL models inherit (format version 5 on).
    prime_ll: bool,
    significance: Vec<AdaptiveModel>,
    magnitude: Vec<AdaptiveModel>,
    sign: Vec<AdaptiveModel>,
    escape: Vec<AdaptiveModel>,
    /// Format version 6 on: the LL residuals by context mixing.
    pub ll_mixed: Option<LlModels>,
}

/// What is known about a detail coefficient before it is coded: its band
/// group and what the already-coded coefficients around it say. Both the
/// per-context models and the mixed ones are chosen from it.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    pub group: usize,
    /// Index of the sign models' band class (component, orientation, level).
    pub sign_band: usize,
    /// Weighted magnitudes of the nearest coded neighbours.
    pub neighbours: u32,
    /// Farther neighbours (halved), parent, siblings and cross-component magnitudes.
    pub extra: u32,
    /// Magnitudes of the ring of farther neighbours.
    pub far: u32,
    pub parent: i32,
    /// Magnitudes of the co-located coefficients of the planes coded before.
    pub cross: u32,
    /// Magnitude sums over the 3x3 neighbourhoods, in fully coded bands, of
    /// the parent, of the siblings' co-located coefficients and of the cross
    /// planes' ones: unlike this band's own, they reach below and right.
    pub parent_area: u32,
    pub sibling_area: u32,
    pub cross_area: u32,
    /// Coded values: left, up, two along the band's orientation, up-left, up-right.
    pub left: i32,
    pub up: i32,
    pub along2: i32,
    pub up_left: i32,
    pub up_right: i32,
    /// The first cross plane (luma, for chroma) here, left and up; then the second (Cb, for Cr).
    pub first_cross: [i32; 3],
    pub second_cross: [i32; 3],
    /// Whether the band is LH (its edges run along rows, so "along" is left).
    pub along_rows: bool,
}

impl Evidence {
    /// The coded neighbours along the band's orientation and across it.
    pub fn along_across(&self) -> (i32, i32) {
        if self.along_rows {
            (self.left, self.up)
        } else {
            (self.up, self.left)
        }
    }
}

/// A binary decision's model.
pub enum BinaryModel<'a> {
    /// One adaptive model per context (format versions 1 and 2).
    Adaptive(&'a mut AdaptiveModel),
    /// Context mixing (format version 3 on).
    Mixed(MixedDecision<'a>),
}

/// A decision coded by context mixing. The mixer predicts only when the
/// probability is first needed: most coefficients are zero, and their
/// "above one" and sign decisions are never coded (and, in the encoder,
/// rarely priced), so predicting them all would waste most of the work.
pub struct MixedDecision<'a> {
    pub mixer: &'a mut Mixer,
    pub contexts: &'a Contexts,
    /// Each selector's mixer context.
    pub sets: &'a Contexts,
    /// The mixer's prediction (1/65536) of a 1, once made.
    pub p: Option<u32>,
}

impl MixedDecision<'_> {
    fn p(&mut self) -> u32 {
        match self.p {
            Some(p) => p,
            None => {
                let p = self.mixer.predict(self.contexts.as_slice(), self.sets.as_slice());
                self.p = Some(p);
                p
            }
        }
    }
}

impl BinaryModel<'_> {
    /// Approximate cost in bits of `bit`, for encoder decisions.
    pub fn cost(&mut self, bit: bool) -> f32 {
        match self {
            Self::Adaptive(m) => m.cost(u32::from(bit)),
            Self::Mixed(d) => {
                let p = d.p();
                let q = if bit { p } else { 65536 - p };
                -(q as f32 / 65536.0).log2()
            }
        }
    }

    /// Codes `bit` (the encoder's; ignored when decoding) and learns from it.
    pub fn code<C: Coder>(&mut self, io: &mut C, bit: bool) -> Result<bool> {
        match self {
            Self::Adaptive(m) => Ok(io.symbol(m, u32::from(bit))? == 1),
            Self::Mixed(d) => {
                let bit = io.binary(d.p(), bit)?;
                d.mixer.update(bit);
                Ok(bit)
            }
        }
    }
}

/// The models a detail coefficient uses, borrowed together.
pub struct DetailModels<'a> {
    pub significance: BinaryModel<'a>,
    /// Format version 3 on: whether a nonzero magnitude exceeds 1; then
    /// `magnitude` codes it less two instead of less one.
    pub above_one: Option<BinaryModel<'a>>,
    /// Format version 4 on: whether a magnitude above one exceeds 2; then
    /// `magnitude` codes it less three.
    pub above_two: Option<BinaryModel<'a>>,
    /// Format version 6 on: whether a magnitude above two exceeds 3; then
    /// `magnitude` codes it less four.
    pub above_three: Option<BinaryModel<'a>>,
    pub magnitude: &'a mut AdaptiveModel,
    pub sign: BinaryModel<'a>,
    pub escape: &'a mut AdaptiveModel,
}

impl Models {
    /// The models of payload format `version`: from 3 on, significance,
    /// "above one" and signs are coded by context mixing; from 5 on, fresh
    /// LL models inherit (see [`ll`](Self::ll)); from 7 on, the mixers start
    /// from the trained states of `quality`'s class ([`initial_states::shipped`]).
    pub fn new(version: u32, quality: u8) -> Self {
        let mut models = Self::untrained(version);
        if version >= 7 {
            let states = initial_states::shipped().for_quality(quality);
            models.start_from(states).expect("the shipped initial states fit (tested)");
        }
        models
    }

    /// The models of `version` with every mixer in its untrained state.
    pub fn untrained(version: u32) -> Self {
        let magnitude = || new_model(ESCAPE as usize + 1);
        Self {
            band_zero: new_model(2),
            mixed: (version >= 3).then(|| MixedModels::new(version)),
            ll: (0..COMPONENT_CLASSES * LL_CLASSES).map(|_| magnitude()).collect(),
            prime_ll: version >= 5,
            significance: (0..GROUPS * SIGNIFICANCE_PER_GROUP).map(|_| new_model(2)).collect(),
            magnitude: (0..GROUPS * MAGNITUDE_CLASSES).map(|_| magnitude()).collect(),
            sign: (0..COMPONENT_CLASSES * SIGN_PER_CLASS).map(|_| new_model(2)).collect(),
            escape: (0..COMPONENT_CLASSES).map(|_| new_model(ESCAPE_LENGTHS)).collect(),
            ll_mixed: (version >= 6).then(LlModels::new),
        }
    }

    /// The mixers, in [`initial_states::MIXERS`] order.
    fn mixers_mut(&mut self) -> Vec<&mut Mixer> {
        let mut mixers = self.mixed.as_mut().map(MixedModels::mixers_mut).unwrap_or_default();
        mixers.extend(self.ll_mixed.as_mut().map(LlModels::mixer_mut));
        mixers
    }

    /// Starts the mixers from `states` (training: the shipped states serve
    /// [`new`](Self::new)); an error if they do not fit.
    pub fn start_from(&mut self, states: &InitialStates) -> Result<()> {
        let mut mixers = self.mixers_mut();
        initial_states::check_fits(states, &mixers.iter().map(|m| &**m).collect::<Vec<_>>())?;
        for (m, start) in mixers.iter_mut().zip(&states.mixers) {
            m.start_from(start);
        }
        Ok(())
    }

    /// The mixers' current states.
    pub fn starts(&mut self) -> InitialStates {
        InitialStates { mixers: self.mixers_mut().iter().map(|m| MixerStart::of(m)).collect() }
    }

    /// Makes the mixers count what they code (training).
    pub fn gather_statistics(&mut self) {
        self.mixers_mut().iter_mut().for_each(|m| m.gather_statistics());
    }

    /// What the mixers counted since [`gather_statistics`](Self::gather_statistics)
    /// (nothing, if never asked to).
    pub fn statistics(&mut self) -> Statistics {
        let mixers = self.mixers_mut();
        Statistics::of_image(&mixers.iter().map(|m| &**m).collect::<Vec<_>>())
    }

    /// The LL residual model for `activity`, and the escape model. From
    /// format version 5 a fresh model starts from its nearest trained twin:
    /// the same component's neighbouring activity class, else luma's same
    /// class (the LL band has a few hundred values per plane, too few for a
    /// dozen 16-symbol models to learn from uniform).
    pub fn ll(&mut self, class: usize, activity: u32) -> (&mut AdaptiveModel, &mut AdaptiveModel) {
        let k = ll_class(activity);
        let target = class * LL_CLASSES + k;
        if self.prime_ll && self.ll[target].is_fresh() {
            let donors = [
                k.checked_sub(1).map(|d| class * LL_CLASSES + d),
                (k + 1 < LL_CLASSES).then(|| class * LL_CLASSES + k + 1),
                (class > 0).then_some(k),
            ];
            if let Some(donor) = donors.into_iter().flatten().find(|&d| !self.ll[d].is_fresh()) {
                prime(&mut self.ll, target, donor, LL_INHERIT_MASS);
            }
        }
        (&mut self.ll[target], &mut self.escape[class])
    }

    /// The models of a coefficient with `evidence` (see [`BandContext::evidence`]),
    /// priming fresh per-context models from their twins.
    pub fn detail(&mut self, band: &BandContext, evidence: &Evidence) -> DetailModels<'_> {
        let magnitude = evidence.group * MAGNITUDE_CLASSES + magnitude_class(evidence.neighbours + evidence.extra);
        if let Some(d) = band.donor_group {
            prime(&mut self.magnitude, magnitude, d * MAGNITUDE_CLASSES + magnitude % MAGNITUDE_CLASSES, INHERIT_MASS);
        }
        let escape = &mut self.escape[band.class];
        let magnitude = &mut self.magnitude[magnitude];
        if let Some(mixed) = &mut self.mixed {
            let (significance, above_one, above_two, above_three, sign) = mixed.decisions(evidence);
            return DetailModels {
                significance,
                above_one: Some(above_one),
                above_two,
                above_three,
                magnitude,
                sign,
                escape,
            };
        }
        let significance = significance_context(evidence);
        let (along, across) = evidence.along_across();
        let sign = evidence.sign_band * 9 + sign_index(along) * 3 + sign_index(across);
        if let Some(d) = band.donor_group {
            let donor = d * SIGNIFICANCE_PER_GROUP + significance % SIGNIFICANCE_PER_GROUP;
            prime(&mut self.significance, significance, donor, INHERIT_MASS);
        }
        if let Some(d) = band.sign_donor {
            prime(&mut self.sign, sign, d + sign % 9, INHERIT_MASS);
        }
        DetailModels {
            significance: BinaryModel::Adaptive(&mut self.significance[significance]),
            above_one: None,
            above_two: None,
            above_three: None,
            magnitude,
            sign: BinaryModel::Adaptive(&mut self.sign[sign]),
            escape,
        }
    }
}

/// The per-context significance model's index: group x neighbour class x extra class.
pub fn significance_context(e: &Evidence) -> usize {
    e.group * SIGNIFICANCE_PER_GROUP + neighbour_class(e.neighbours) * EXTRA_CLASSES + extra_class(e.extra)
}

/// 0, 1, 2 for a negative, zero, positive value.
pub fn sign_index(v: i32) -> usize {
    (v.signum() + 1) as usize
}

/// Primes `models[target]` from `models[donor]` if the target is still
/// untouched and the donor has learnt something.
#[inline]
fn prime(models: &mut [AdaptiveModel], target: usize, donor: usize, mass: u32) {
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
    target.inherit(donor, mass);
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
    /// Per reference band, its [`area_map`], and the current row's offset in it.
    ref_areas: Vec<Vec<u16>>,
    ref_area_rows: Vec<usize>,
    /// The [`area_map`] of this band in each cross plane.
    cross_areas: Vec<Vec<u16>>,
    /// Saturated magnitudes of the band's coded coefficients, zero-padded.
    mags: Vec<u8>,
}

impl<'a> BandContext<'a> {
    /// `refs`: the bands whose co-located magnitudes count as extra evidence,
    /// with weights; the first is the parent if the band has one. `plane`
    /// (row stride `stride`) holds them, coded; `cross` are the planes coded before.
    pub fn new(
        component: usize,
        band: &'a Band,
        stride: usize,
        refs: Vec<(&'a Band, u32)>,
        plane: &[i32],
        cross: &[&Vec<i32>],
    ) -> Self {
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
        let ref_areas = refs.iter().map(|(r, _, _)| area_map(plane, stride, r)).collect();
        let ref_area_rows = vec![0; refs.len()];
        let cross_areas = cross.iter().map(|c| area_map(c, stride, band)).collect();
        let mags = vec![0; (band.w + PAD_LEFT + PAD_RIGHT) * (band.h + PAD_TOP)];
        Self {
            class,
            kind: band.kind,
            group,
            donor_group,
            sign_base,
            sign_donor,
            band,
            stride,
            refs,
            ref_rows,
            ref_areas,
            ref_area_rows,
            cross_areas,
            mags,
        }
    }

    /// Call at the start of each row `y` of the band.
    pub fn start_row(&mut self, y: usize) {
        for ((row, area_row), (r, _, _)) in self.ref_rows.iter_mut().zip(&mut self.ref_area_rows).zip(&self.refs) {
            let ry = scale(y, r.h, self.band.h);
            *row = (r.y0 + ry) * self.stride;
            *area_row = ry * r.w;
        }
    }

    /// The evidence on the coefficient at band position (`x`, `y`), from the
    /// already-coded values of the band (recorded with [`record`](Self::record)),
    /// of the reference bands in `plane` and of the `cross` planes.
    pub fn evidence(&self, plane: &[i32], cross: &[&Vec<i32>], x: usize, y: usize) -> Evidence {
        // Magnitudes around (x, y), read from the padded buffer.
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
        let mut parent = 0;
        let (mut parent_area, mut sibling_area) = (0, 0);
        let stride = self.stride;
        for (k, (&row, (r, weight, xs))) in self.ref_rows.iter().zip(&self.refs).enumerate() {
            let v = plane[row + xs[x]];
            let area = u32::from(self.ref_areas[k][self.ref_area_rows[k] + xs[x] - r.x0]);
            if k == 0 && self.band.parent.is_some() {
                parent = v;
                parent_area = area;
            } else {
                sibling_area += area;
            }
            extra += weight * magnitude(v);
        }
        let i = (self.band.y0 + y) * stride + self.band.x0 + x;
        let cross_sum: u32 = cross.iter().map(|c| magnitude(c[i])).sum();
        let cross_area = self.cross_areas.iter().map(|a| u32::from(a[y * self.band.w + x])).sum();
        extra += cross_sum;
        // Signed values of the band's coded neighbours (zero off the band).
        let value = |dx: isize, dy: isize| {
            let (xx, yy) = (x as isize + dx, y as isize + dy);
            if xx < 0 || yy < 0 || xx >= self.band.w as isize {
                0
            } else {
                plane[(i as isize + dy * stride as isize + dx) as usize]
            }
        };
        let cross_values = |c: Option<&&Vec<i32>>| match c {
            Some(c) => [c[i], if x > 0 { c[i - 1] } else { 0 }, if y > 0 { c[i - stride] } else { 0 }],
            None => [0; 3],
        };
        let along_rows = self.kind == BandKind::Lh;
        Evidence {
            group: self.group,
            sign_band: self.sign_base / 9,
            neighbours,
            extra,
            far,
            parent,
            cross: cross_sum,
            parent_area,
            sibling_area,
            cross_area,
            left: value(-1, 0),
            up: value(0, -1),
            along2: if along_rows { value(-2, 0) } else { value(0, -2) },
            up_left: value(-1, -1),
            up_right: value(1, -1),
            first_cross: cross_values(cross.first()),
            second_cross: cross_values(cross.get(1)),
            along_rows,
        }
    }

    /// Records the coded value at band position (`x`, `y`) for later contexts.
    pub fn record(&mut self, x: usize, y: usize, v: i32) {
        let pw = self.band.w + PAD_LEFT + PAD_RIGHT;
        self.mags[(y + PAD_TOP) * pw + x + PAD_LEFT] = magnitude(v) as u8;
    }
}

/// For each position of `band` in `plane` (row stride `stride`), the sum of
/// the [`magnitude`]s within one position of it (at most 9 * 255).
fn area_map(plane: &[i32], stride: usize, band: &Band) -> Vec<u16> {
    let (w, h) = (band.w, band.h);
    // Horizontal sums of three, then vertical sums of three of those.
    let mut rows = vec![0u16; w * h];
    for y in 0..h {
        let src = &plane[(band.y0 + y) * stride + band.x0..][..w];
        for x in 0..w {
            let lo = x.saturating_sub(1);
            let hi = (x + 2).min(w);
            rows[y * w + x] = src[lo..hi].iter().map(|&v| magnitude(v) as u16).sum();
        }
    }
    let mut area = vec![0u16; w * h];
    for y in 0..h {
        for yy in y.saturating_sub(1)..(y + 2).min(h) {
            for (a, &r) in area[y * w..][..w].iter_mut().zip(&rows[yy * w..][..w]) {
                *a += r;
            }
        }
    }
    area
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

pub fn neighbour_class(v: u32) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wavelet::transform::Layout;

    #[test]
    fn area_map_sums_each_clipped_neighbourhood() {
        let layout = Layout::new(23, 17, 2);
        let stride = layout.width;
        let plane: Vec<i32> = (0..stride * layout.height).map(|i| ((i * 7919) % 601) as i32 - 300).collect();
        for band in &layout.bands {
            let area = area_map(&plane, stride, band);
            for y in 0..band.h {
                for x in 0..band.w {
                    let mut sum = 0;
                    for yy in y.saturating_sub(1)..=(y + 1).min(band.h - 1) {
                        for xx in x.saturating_sub(1)..=(x + 1).min(band.w - 1) {
                            sum += magnitude(plane[(band.y0 + yy) * stride + band.x0 + xx]);
                        }
                    }
                    assert_eq!(u32::from(area[y * band.w + x]), sum, "band at ({}, {}), ({x}, {y})", band.x0, band.y0);
                }
            }
        }
    }
}
