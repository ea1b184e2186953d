//! Format versions 3 and 4's models of the binary decisions: significance,
//! "magnitude above one" (and, from version 4, "above two") and sign, each by
//! context mixing ([`super::mixing`]).
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
//!
//! Version 4 adds evidence this band's own neighbourhood cannot give: the
//! 3×3 magnitude sums of the parent, the siblings and the cross planes at
//! the co-located place, which reach below and to the right (those bands are
//! fully coded). It gives each view a smaller initial weight, picks a second
//! weight vector by that evidence and mixes the two outputs, and codes
//! "above two" by mixing too. Against version 3 on Kodak q15-60 (each step
//! measured on top of the previous): the views with scaled initial weights
//! -0.57 %, "above two" -0.18 %, the second selector -0.16 %.
//!
//! Version 6 adds an "above three" flag with the same views (Kodak q15-60:
//! -0.10 % against version 5).

use super::context::{
    neighbour_class, sign_index, significance_context, BinaryModel, Evidence, MixedDecision, GROUPS,
    SIGNIFICANCE_PER_GROUP, SIGN_BANDS,
};
use super::mixing::{Contexts, Mixer, VERSION_3_INITIAL_WEIGHT};

/// Counter tables per band group of the significance and "above one" views,
/// in the order of [`magnitude_views`]. Format version 3 uses the first
/// [`VERSION_3_MAGNITUDE_VIEWS`].
const MAGNITUDE_VIEWS: [usize; 7] = [SIGNIFICANCE_PER_GROUP, 96, 64, 128, 256, 512, 512];
const VERSION_3_MAGNITUDE_VIEWS: usize = 5;
/// Counter tables per sign band class, in the order of [`sign_views`].
const SIGN_VIEWS: [usize; 6] = [9, 27, 27, 27, 27, 81];
/// Counters settle at a rate of 1/256.
const COUNTER_LIMIT: u8 = 255;
/// Mixer weight sets for significance and "above one": group x the first
/// four neighbour classes (the rest share the fourth).
const NEIGHBOUR_SETS: usize = 4;
/// Version 4's second weight-set selector for significance and the magnitude
/// flags: group x the parent's and cross planes' area class (8) x the left
/// and upper magnitudes (4). A second mixing layer combines the two.
const AREA_SETS: usize = 32;
/// Version 4's initial weights sum to this (16.16) over the views: fewer
/// than version 3's 0.3 each, as a confident start costs more while the
/// counters learn (sums 0.9-1.2 measured alike on Kodak, 1.5 and 2.1 worse).
const INITIAL_VOTE: i32 = 65536 * 21 / 20;
/// Mixer learning rates, tuned on Kodak.
const SIGNIFICANCE_RATE: i32 = 6;
const VERSION_3_SIGNIFICANCE_RATE: i32 = 8;
const ABOVE_ONE_RATE: i32 = 12;
const SIGN_RATE: i32 = 10;

/// Significance, "above one", "above two" (version 4 on), "above three"
/// (version 6 on) and sign.
pub type MixedDecisions<'a> =
    (BinaryModel<'a>, BinaryModel<'a>, Option<BinaryModel<'a>>, Option<BinaryModel<'a>>, BinaryModel<'a>);

pub struct MixedModels {
    significance: Mixer,
    above_one: Mixer,
    /// Format version 4 on.
    above_two: Option<Mixer>,
    /// Format version 6 on.
    above_three: Option<Mixer>,
    sign: Mixer,
    magnitude_views: usize,
    /// Whether significance and the magnitude flags also select weights by
    /// [`AREA_SETS`] (version 4 on).
    second_selector: bool,
    /// The current coefficient's views and mixer contexts, which its
    /// decisions borrow: magnitude flags, then sign.
    views: [Contexts; 2],
    sets: [Contexts; 2],
}

impl MixedModels {
    /// The models of payload format `version` (3 on).
    pub fn new(version: u32) -> Self {
        let v4 = version >= 4;
        let magnitude_views = if v4 { MAGNITUDE_VIEWS.len() } else { VERSION_3_MAGNITUDE_VIEWS };
        let magnitude_tables: Vec<_> =
            MAGNITUDE_VIEWS[..magnitude_views].iter().map(|&n| (GROUPS * n, COUNTER_LIMIT)).collect();
        let sign_tables: Vec<_> = SIGN_VIEWS.iter().map(|&n| (SIGN_BANDS * n, COUNTER_LIMIT)).collect();
        let neighbour_sets = GROUPS * NEIGHBOUR_SETS;
        let (sets, significance_rate) = if v4 {
            (vec![neighbour_sets, GROUPS * AREA_SETS], SIGNIFICANCE_RATE)
        } else {
            (vec![neighbour_sets], VERSION_3_SIGNIFICANCE_RATE)
        };
        let initial = |tables: usize| if v4 { INITIAL_VOTE / tables as i32 } else { VERSION_3_INITIAL_WEIGHT };
        let (magnitude_weight, sign_weight) = (initial(magnitude_tables.len()), initial(sign_tables.len()));
        Self {
            significance: Mixer::new(&magnitude_tables, &sets, significance_rate, magnitude_weight),
            above_one: Mixer::new(&magnitude_tables, &sets, ABOVE_ONE_RATE, magnitude_weight),
            above_two: v4.then(|| Mixer::new(&magnitude_tables, &sets, ABOVE_ONE_RATE, magnitude_weight)),
            above_three: (version >= 6).then(|| Mixer::new(&magnitude_tables, &sets, ABOVE_ONE_RATE, magnitude_weight)),
            sign: Mixer::new(&sign_tables, &[SIGN_BANDS], SIGN_RATE, sign_weight),
            magnitude_views,
            second_selector: v4,
            views: [Contexts::new(&[]); 2],
            sets: [Contexts::new(&[]); 2],
        }
    }

    /// The mixers, in the order of [`MIXERS`](super::initial_states::MIXERS)
    /// (those of older versions are fewer).
    pub fn mixers_mut(&mut self) -> Vec<&mut Mixer> {
        let flags = [self.above_two.as_mut(), self.above_three.as_mut()].into_iter().flatten();
        [&mut self.significance, &mut self.above_one].into_iter().chain(flags).chain([&mut self.sign]).collect()
    }

    /// The significance, "above one", "above two" (version 4 on), "above
    /// three" (version 6 on) and sign
    /// models of a coefficient. Each predicts when first asked, and only the
    /// decisions actually coded learn.
    pub fn decisions(&mut self, e: &Evidence) -> MixedDecisions<'_> {
        self.views = [Contexts::new(&magnitude_views(e)[..self.magnitude_views]), Contexts::new(&sign_views(e))];
        let set = e.group * NEIGHBOUR_SETS + neighbour_class(e.neighbours).min(NEIGHBOUR_SETS - 1);
        let magnitude_sets = if self.second_selector {
            let (ml, mu) = (e.left.unsigned_abs(), e.up.unsigned_abs());
            let area = area_class(e.parent_area.saturating_add(e.cross_area));
            Contexts::new(&[set, e.group * AREA_SETS + area * 4 + cap(ml.saturating_add(mu), 3)])
        } else {
            Contexts::new(&[set])
        };
        self.sets = [magnitude_sets, Contexts::new(&[e.sign_band])];
        let [views, sign_views] = &self.views;
        let [sets, sign_sets] = &self.sets;
        let decision = |mixer, contexts, sets| BinaryModel::Mixed(MixedDecision { mixer, contexts, sets, p: None });
        (
            decision(&mut self.significance, views, sets),
            decision(&mut self.above_one, views, sets),
            self.above_two.as_mut().map(|m| decision(m, views, sets)),
            self.above_three.as_mut().map(|m| decision(m, views, sets)),
            decision(&mut self.sign, sign_views, sign_sets),
        )
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
        g * 512 + area_class(e.parent_area) * 64 + area_class(e.sibling_area) * 8 + area_class(e.neighbours),
        g * 512 + area_class(e.cross_area) * 64 + area_class(e.parent_area) * 8 + cap(ml.saturating_add(mu), 7),
    ]
}

/// Eight classes of a magnitude sum, finer near zero.
fn area_class(v: u32) -> usize {
    match v {
        0..=2 => v as usize,
        3..=4 => 3,
        5..=7 => 4,
        8..=12 => 5,
        13..=20 => 6,
        _ => 7,
    }
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
            parent_area: u32::MAX / 4,
            sibling_area: u32::MAX / 4,
            cross_area: u32::MAX / 4,
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
