//! Format version 3's models of the binary decisions: significance, "magnitude
//! above one" and sign, each by context mixing ([`super::mixing`]).
//!
//! Each decision is predicted from several views of the same [`Evidence`],
//! each a table of adaptive counters: the per-context model's own index, and
//! finer or differently cut ones (the exact neighbour sum, the nearest
//! magnitudes with the parent's, the extra evidence, the far ring with the
//! cross-component one). Signs look at the signs along the band's
//! orientation, the parent's, and, for chroma, the co-located luma (and Cb)
//! signs next to the left and upper ones: at a colour edge the chroma
//! coefficient's sign follows luma's with a sign that holds along the edge.
//!
//! Measured on Kodak (q15-60), against version 2's per-context models:
//! significance -1.15 % BD-rate, signs a further -0.75 %, "above one" a
//! further -0.45 %.

use super::context::{
    neighbour_class, sign_index, significance_context, BinaryModel, Evidence, GROUPS, SIGNIFICANCE_PER_GROUP,
    SIGN_BANDS,
};
use super::mixing::Mixer;

/// Counter tables per band group of the significance and "above one" views,
/// in the order of [`magnitude_views`].
const MAGNITUDE_VIEWS: [usize; 5] = [SIGNIFICANCE_PER_GROUP, 96, 64, 128, 256];
/// Counter tables per sign band class, in the order of [`sign_views`].
const SIGN_VIEWS: [usize; 6] = [9, 27, 27, 27, 27, 81];
/// Counters settle at a rate of 1/256.
const COUNTER_LIMIT: u8 = 255;
/// Mixer weight sets for significance and "above one": group x the first
/// four neighbour classes (the rest share the fourth).
const NEIGHBOUR_SETS: usize = 4;
/// Mixer learning rates, tuned on Kodak.
const SIGNIFICANCE_RATE: i32 = 8;
const ABOVE_ONE_RATE: i32 = 12;
const SIGN_RATE: i32 = 10;

pub struct MixedModels {
    significance: Mixer,
    above_one: Mixer,
    sign: Mixer,
}

impl MixedModels {
    pub fn new() -> Self {
        let magnitude_tables: Vec<_> = MAGNITUDE_VIEWS.iter().map(|&n| (GROUPS * n, COUNTER_LIMIT)).collect();
        let sign_tables: Vec<_> = SIGN_VIEWS.iter().map(|&n| (SIGN_BANDS * n, COUNTER_LIMIT)).collect();
        let sets = GROUPS * NEIGHBOUR_SETS;
        Self {
            significance: Mixer::new(&magnitude_tables, sets, SIGNIFICANCE_RATE),
            above_one: Mixer::new(&magnitude_tables, sets, ABOVE_ONE_RATE),
            sign: Mixer::new(&sign_tables, SIGN_BANDS, SIGN_RATE),
        }
    }

    /// The significance, "above one" and sign models of a coefficient, each
    /// with its prediction made. Only the decisions actually coded learn.
    pub fn predict(&mut self, e: &Evidence) -> [BinaryModel<'_>; 3] {
        let views = magnitude_views(e);
        let set = e.group * NEIGHBOUR_SETS + neighbour_class(e.neighbours).min(NEIGHBOUR_SETS - 1);
        let significance = self.significance.predict(&views, set);
        let above_one = self.above_one.predict(&views, set);
        let sign = self.sign.predict(&sign_views(e), e.sign_band);
        [
            BinaryModel::Mixed(&mut self.significance, significance),
            BinaryModel::Mixed(&mut self.above_one, above_one),
            BinaryModel::Mixed(&mut self.sign, sign),
        ]
    }
}

fn cap(v: u32, max: u32) -> usize {
    v.min(max) as usize
}

fn magnitude_views(e: &Evidence) -> [usize; MAGNITUDE_VIEWS.len()] {
    let g = e.group;
    let (ml, mu) = (e.left.unsigned_abs(), e.up.unsigned_abs());
    let parent = e.parent.unsigned_abs();
    [
        significance_context(e),
        g * 96 + cap(e.neighbours, 95),
        g * 64 + cap(parent, 3) * 16 + cap(mu, 3) * 4 + cap(ml, 3),
        g * 128 + cap(e.extra, 31) * 4 + cap(e.neighbours, 3),
        g * 256 + cap(e.far, 15) * 16 + cap(ml.saturating_add(mu), 3) * 4 + cap(e.cross, 3),
    ]
}

fn sign_views(e: &Evidence) -> [usize; SIGN_VIEWS.len()] {
    let b = e.sign_band;
    let (along, across) = e.along_across();
    let s = sign_index;
    let [y, y_left, y_up] = e.first_cross;
    let [cb, cb_left, cb_up] = e.second_cross;
    [
        b * 9 + s(along) * 3 + s(across),
        b * 27 + s(along) * 9 + s(e.along2) * 3 + s(e.parent),
        b * 27 + s(y) * 9 + s(y_left) * 3 + s(e.left),
        b * 27 + s(y) * 9 + s(y_up) * 3 + s(e.up),
        b * 27 + s(e.up_left) * 9 + s(e.up_right) * 3 + s(along),
        b * 81 + s(cb) * 27 + s(cb_left) * 9 + s(e.left) * 3 + s(cb_up.saturating_add(e.up)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_stay_inside_their_tables() {
        // The largest evidence in the last group and sign band class.
        let big = i32::MAX;
        let e = Evidence {
            group: GROUPS - 1,
            sign_band: SIGN_BANDS - 1,
            neighbours: u32::MAX / 4,
            extra: u32::MAX / 4,
            far: u32::MAX / 4,
            parent: -big,
            cross: u32::MAX / 4,
            left: big,
            up: -big,
            along2: big,
            up_left: -big,
            up_right: big,
            first_cross: [big, -big, big],
            second_cross: [-big, big, big],
            along_rows: false,
        };
        for (v, n) in magnitude_views(&e).iter().zip(MAGNITUDE_VIEWS) {
            assert!(*v < GROUPS * n);
        }
        for (v, n) in sign_views(&e).iter().zip(SIGN_VIEWS) {
            assert!(*v < SIGN_BANDS * n);
        }
    }
}
