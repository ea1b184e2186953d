//! An adaptive restoration filter on the decoded image, in the manner of
//! VVC's adaptive loop filter: the encoder fits, per RGB channel and per
//! activity class, the Wiener filter that takes the decoded image closest to
//! the original, and sends it when it saves more error than its bits cost.
//!
//! Why: the wavelet codec's errors at low and middle rates are blur and
//! ringing around edges, which are partly predictable from the decoded
//! neighbourhood. On Kodak the filters gain 0.10 dB BD-PSNR (−1.8 % BD-rate)
//! net of their bits. From format version 4 each channel's filter also reads
//! the other two channels' Laplacians and clipped copies of its own taps
//! (see [`FEATURES`]): a further −3.1 % on Kodak q15-60. From version 5 each
//! pixel sees its class's filter transposed, flipped or rotated as its local
//! gradients say ([`transform`]), so that one filter serves edges of every
//! orientation (−0.5 % on all of Kodak, at no cost in bits); a channel may
//! split each activity class into directed and undirected pixels
//! ([`directed`]); coefficients are coded as residuals of the previous
//! filter's, and the encoder moves each coefficient where a step costs
//! less error than it saves bits ([`ClassStatistics::refine`]): together
//! a further −0.27 % on Kodak q15-60.
//!
//! Everything the decoder does here is integer arithmetic on the 8-bit
//! decoded image (activities, a rank-based classification, 7×7 diamond
//! filters with coefficients in 1/128), so it gives the same pixels on every
//! machine. Only the encoder's choice of coefficients uses floating point.
//!
//! The filter is DC-preserving by construction: each input is a sum of
//! differences of neighbours to the centre, zero on a flat area, so
//! `out = p + Σ w_i f_i / 128` (with, for a plain tap, `f_i = a_i + b_i − 2p`),
//! rounded and clamped.

use super::adaptive::Coder;
use anyhow::{ensure, Result};

/// The filter's inputs, each a sum over symmetric pairs of neighbours
/// `(dy, dx)` and `(−dy, −dx)` in a plane of the differences `a − p` and
/// `b − p` to the centre, clipped where marked: first the 12 taps
/// of the channel's own 7×7 diamond, then (format version 4 on) the 4- and
/// diagonal-neighbour Laplacians of each of the other two channels, in RGB
/// order, and the channel's own 12 pairs again with each difference clipped
/// to ± the stream's bound (see [`clip_for_step`]).
///
/// Why the other channels: the image's error is mostly luma error, which all
/// three channels carry, so their detail helps estimate it. Why clipped
/// copies: a linear filter must trade smoothing ringing against blurring the
/// edge next to it; with clipped differences beside the plain ones it can
/// tell small ripples (ringing, noise) from edges, as VVC's nonlinear ALF
/// does. On Kodak (q15-60, BD-rate against the same stream with the 12 own
/// taps only): the other channels −0.27 %, then the six nearest pairs
/// clipped −2.46 % (+0.15 dB at the lowest rates), all 12 clipped −2.80 %.
const FEATURES: [Feature; 28] = features();

/// The symmetric 7×7 diamond: one `(dy, dx)` per neighbour pair.
const TAPS: [(isize, isize); 12] =
    [(0, 1), (0, 2), (0, 3), (1, -2), (1, -1), (1, 0), (1, 1), (1, 2), (2, -1), (2, 0), (2, 1), (3, 0)];
/// The order of the clipped taps (indexes into [`TAPS`]): nearest first.
const CLIPPED_ORDER: [usize; 12] = [0, 5, 6, 4, 1, 9, 2, 3, 7, 8, 10, 11];

const fn features() -> [Feature; 28] {
    let mut all = [Feature::own(0, 0); 28];
    let mut i = 0;
    while i < TAPS.len() {
        all[i] = Feature::own(TAPS[i].0, TAPS[i].1);
        let (dy, dx) = TAPS[CLIPPED_ORDER[i]];
        all[16 + i] = Feature::clipped(dy, dx);
        i += 1;
    }
    all[12] = Feature::laplacian(Plane::FirstOther, (0, 1), (1, 0));
    all[13] = Feature::laplacian(Plane::FirstOther, (1, 1), (1, -1));
    all[14] = Feature::laplacian(Plane::SecondOther, (0, 1), (1, 0));
    all[15] = Feature::laplacian(Plane::SecondOther, (1, 1), (1, -1));
    all
}

/// One filter input (see [`FEATURES`]): the pairs `pairs[..len]` of `plane`.
#[derive(Debug, Clone, Copy)]
struct Feature {
    plane: Plane,
    pairs: [(isize, isize); 2],
    len: usize,
    /// Whether the differences are clipped to the stream's bound.
    clip: bool,
}

/// Bits of the stream's clipping bound, and so its largest value.
const CLIP_BITS: u32 = 4;
const MAX_CLIP: i32 = (1 << CLIP_BITS) - 1;

/// The encoder's clipping bound for a pixel-domain quantization step: about
/// its square root, as coarser steps leave larger ripples (on Kodak the best
/// fixed bound was 9 at quality 15 (step 78), 6 to 9 at 25 (49), 6 at 40
/// (24), 3 at 60 (9.6); any fixed one of 3 to 9 gained 2.3-2.4 % BD-rate).
pub fn clip_for_step(step: f64) -> i32 {
    (step.max(0.0).sqrt().round() as i32).clamp(1, MAX_CLIP)
}

impl Feature {
    const fn own(dy: isize, dx: isize) -> Self {
        Self { plane: Plane::Own, pairs: [(dy, dx), (0, 0)], len: 1, clip: false }
    }

    const fn clipped(dy: isize, dx: isize) -> Self {
        Self { plane: Plane::Own, pairs: [(dy, dx), (0, 0)], len: 1, clip: true }
    }

    /// Two pairs at right angles: a Laplacian of `plane`.
    const fn laplacian(plane: Plane, a: (isize, isize), b: (isize, isize)) -> Self {
        Self { plane, pairs: [a, b], len: 2, clip: false }
    }
}

/// Features of the own channel only: all that format versions 2 and 3 have.
const OWN_FEATURES: usize = 12;
const N: usize = FEATURES.len();
/// A class's filter coefficients, one per feature.
type Coefficients = [i32; N];

/// Which channel's plane a feature reads, relative to the filtered one.
#[derive(Debug, Clone, Copy)]
enum Plane {
    Own,
    FirstOther,
    SecondOther,
}

impl Plane {
    /// The RGB channel this reads when filtering channel `c`.
    fn channel(self, c: usize) -> usize {
        let others = [[1, 2], [0, 2], [0, 1]][c];
        match self {
            Self::Own => c,
            Self::FirstOther => others[0],
            Self::SecondOther => others[1],
        }
    }
}
/// Coefficients are integers in units of 1/2^SHIFT.
const SHIFT: u32 = 7;
/// Largest coefficient magnitude (in 1/128).
const COEFF_LIMIT: i32 = 255;
/// Exp-Golomb order of the coded coefficient magnitudes.
const COEFF_ORDER: u32 = 3;
/// Class counts a channel may use; the index into this (or `CLASS_COUNTS.len()`
/// for "off") is what the stream carries.
const CLASS_COUNTS: [usize; 4] = [1, 2, 4, 8];
const MAX_CLASSES: usize = 8;
/// Geometric transforms of a filter (format version 5 on), as in VVC's ALF:
/// identity, transpose, horizontal flip, rotation by a right angle.
const TRANSFORMS: usize = 4;
/// Bits of a channel's class-count index.
const CLASS_COUNT_BITS: u32 = 3;

/// The filters of one channel: per class, its coefficients or `None` (unfiltered).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelFilters {
    classes: Vec<Option<Coefficients>>,
    /// Whether each activity class is split in two by directionality
    /// (version 5 on): `classes` then holds, per activity class, the
    /// undirected pixels' filter and the directed ones'.
    split: bool,
}

impl ChannelFilters {
    fn activity_classes(&self) -> usize {
        self.classes.len() >> usize::from(self.split)
    }

    /// The class of a pixel of packed class `packed` (see [`Padded::classify`]).
    fn class(&self, packed: u8) -> usize {
        let k = usize::from(packed >> 3);
        if self.split {
            2 * k + usize::from((packed >> 2) & 1)
        } else {
            k
        }
    }
}

/// The filters of the three RGB channels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    channels: [ChannelFilters; 3],
    /// The payload format version whose form these filters have: version 4
    /// added the other channels' and the clipped inputs, version 5 the
    /// transforms, the split by directionality and predicted coefficients.
    version: u32,
    /// The bound of the clipped inputs (version 4 on), 1..=[`MAX_CLIP`].
    clip: i32,
}

impl Filters {
    /// No filters, in the form of payload format `version` (before
    /// [`code`](Self::code) reads them).
    pub fn for_version(version: u32) -> Self {
        Self { version, ..Self::default() }
    }

    /// Whether the filters have version 4's inputs (the other channels, clipped pairs).
    fn extended(&self) -> bool {
        self.version >= 4
    }

    /// Whether version 5's tools are on: each pixel sees its class's filter
    /// under the geometric transform its gradients pick (see [`transform`]),
    /// a channel may split its classes by directionality ([`directed`]),
    /// and coefficients are coded as residuals of a prediction (see [`carried`]).
    fn version_5(&self) -> bool {
        self.version >= 5
    }

    /// How many coefficients a class has in the stream.
    fn features(&self) -> usize {
        if self.extended() {
            N
        } else {
            OWN_FEATURES
        }
    }

    /// Codes (encoder) or reads (decoder, from `Filters::default()`) the filters.
    pub fn code<C: Coder>(&mut self, io: &mut C) -> Result<()> {
        let features = self.features();
        if self.extended() {
            self.clip = io.bits(self.clip.clamp(0, MAX_CLIP) as u32, CLIP_BITS)? as i32;
            ensure!(self.clip > 0, "corrupt wavelet payload: zero filter clipping bound");
        }
        let v5 = self.version_5();
        let order = if v5 { RESIDUAL_ORDER } else { COEFF_ORDER };
        let mut last = [0; N];
        for channel in &mut self.channels {
            let mut prediction = carried(&last);
            let activity = channel.activity_classes();
            let index = CLASS_COUNTS.iter().position(|&n| n == activity).unwrap_or(CLASS_COUNTS.len());
            let index = io.bits(index as u32, CLASS_COUNT_BITS)? as usize;
            ensure!(index <= CLASS_COUNTS.len(), "corrupt wavelet payload: filter class count {index}");
            let count = CLASS_COUNTS.get(index).copied().unwrap_or(0);
            channel.split = v5 && count > 0 && io.bits(u32::from(channel.split), 1)? == 1;
            channel.classes.resize(count << usize::from(channel.split), None);
            for class in &mut channel.classes {
                let on = io.bits(u32::from(class.is_some()), 1)? == 1;
                if !on {
                    *class = None;
                    continue;
                }
                let mut coeffs = class.unwrap_or([0; N]);
                if v5 {
                    for (c, &p) in coeffs[..features].iter_mut().zip(&prediction) {
                        *c = p + code_signed(io, *c - p, order, 2 * COEFF_LIMIT as u32)?;
                        ensure!(c.abs() <= COEFF_LIMIT, "corrupt wavelet payload: filter coefficient {c} out of range");
                    }
                    prediction = coeffs;
                    last = coeffs;
                } else {
                    for c in &mut coeffs[..features] {
                        *c = code_signed(io, *c, COEFF_ORDER, COEFF_LIMIT as u32)?;
                    }
                }
                *class = Some(coeffs);
            }
        }
        Ok(())
    }

    /// Whether no channel is filtered.
    pub fn is_off(&self) -> bool {
        self.channels.iter().all(|c| c.classes.iter().all(Option::is_none))
    }

    /// Applies the filters to interleaved RGB8 `rgb` (`width * height * 3` bytes), in place.
    #[allow(clippy::needless_range_loop)] // a feature index picks both the input and each class's weight
    pub fn apply(&self, rgb: &mut [u8], width: usize, height: usize) {
        if self.is_off() {
            return;
        }
        // Every channel's filter reads the unfiltered planes.
        let planes: [Padded; 3] = std::array::from_fn(|c| Padded::channel(rgb, c, width, height));
        let features = self.features();
        for (c, channel) in self.channels.iter().enumerate() {
            if channel.classes.iter().all(Option::is_none) {
                continue;
            }
            let plane = &planes[c];
            let classes = plane.classify(channel.activity_classes(), self.version_5());
            // Per class and transform, the weights of the untransformed
            // features: a transformed filter is a permuted one.
            let weights: Vec<Coefficients> = channel
                .classes
                .iter()
                .flat_map(|w| (0..TRANSFORMS).map(move |r| transformed(&w.unwrap_or([0; N]), r)))
                .collect();
            let index = |packed: u8| channel.class(packed) * TRANSFORMS + usize::from(packed & 3);
            let mut acc = vec![0i32; width];
            let mut feature = vec![0i32; width];
            let mut row_weights: Vec<&Coefficients> = Vec::with_capacity(width);
            for y in 0..height {
                let row_classes = &classes[y * width..][..width];
                row_weights.clear();
                row_weights.extend(row_classes.iter().map(|&k| &weights[index(k)]));
                acc.fill(1 << (SHIFT - 1));
                for t in 0..features {
                    feature_row(&planes, c, t, y, self.clip, &mut feature);
                    for x in 0..width {
                        acc[x] += row_weights[x][t] * feature[x];
                    }
                }
                let centre = plane.at(0, y);
                for x in 0..width {
                    if channel.classes[channel.class(row_classes[x])].is_some() {
                        let v = plane.data[centre + x] + (acc[x] >> SHIFT);
                        rgb[(y * width + x) * 3 + c] = v.clamp(0, 255) as u8;
                    }
                }
            }
        }
    }

    /// The encoder's choice: per channel, the class count and per-class
    /// filters that minimise squared error plus `lambda` (squared error per
    /// bit, summed over the three channels) times the filters' bits.
    /// `clip`: the bound of the clipped inputs (1..=15; see [`clip_for_step`]).
    /// `version`: the payload format version (4 on), which decides the form.
    pub fn design(
        decoded: &[u8],
        original: &[u8],
        width: usize,
        height: usize,
        lambda: f64,
        clip: i32,
        version: u32,
    ) -> Self {
        let mut filters = Self { clip: clip.clamp(1, MAX_CLIP), ..Self::for_version(version.max(4)) };
        let planes: [Padded; 3] = std::array::from_fn(|c| Padded::channel(decoded, c, width, height));
        let v5 = filters.version_5();
        let order = if v5 { RESIDUAL_ORDER } else { COEFF_ORDER };
        let mut last = [0; N];
        for (c, channel) in filters.channels.iter_mut().enumerate() {
            let stats = Statistics::gather(&planes, original, c, filters.clip, v5);
            // "Off" costs the class-count index only.
            let mut best = (0.0, ChannelFilters::default());
            let shapes = CLASS_COUNTS.iter().flat_map(|&count| [(count, false), (count, true)]);
            for (count, split) in shapes.filter(|&(_, split)| !split || v5) {
                let mut cost = if v5 { lambda } else { 0.0 }; // the split flag
                let mut classes = Vec::with_capacity(count);
                let mut prediction = if v5 { carried(&last) } else { [0; N] };
                for class in stats.merged(count, split) {
                    let off = lambda; // the class's on/off bit
                    let candidate = class.solve().map(|w| {
                        let w = class.refine(w, &prediction, order, lambda);
                        let bits = 1.0
                            + w.iter().zip(&prediction).map(|(&q, &p)| signed_bits(q - p, order) as f64).sum::<f64>();
                        (class.error_change(&w) + lambda * bits, w)
                    });
                    match candidate {
                        Some((on, w)) if on < off => {
                            cost += on;
                            classes.push(Some(w));
                            if v5 {
                                prediction = w;
                            }
                        }
                        _ => {
                            cost += off;
                            classes.push(None);
                        }
                    }
                }
                if cost < best.0 {
                    best = (cost, ChannelFilters { classes, split });
                }
            }
            *channel = best.1;
            if let Some(w) = channel.classes.iter().flatten().last() {
                last = *w;
            }
        }
        filters
    }
}

/// Margin of a [`Padded`] plane: the filter reaches 3 pixels, the activity 2.
const PAD: usize = 3;

/// A channel with its edges replicated [`PAD`] pixels outwards, so that
/// neighbourhoods need no bounds checks.
struct Padded {
    data: Vec<i32>,
    stride: usize,
    width: usize,
    height: usize,
}

impl Padded {
    /// Channel `c` of interleaved RGB8 `rgb`.
    fn channel(rgb: &[u8], c: usize, width: usize, height: usize) -> Self {
        let stride = width + 2 * PAD;
        let mut data = Vec::with_capacity(stride * (height + 2 * PAD));
        for y in 0..height + 2 * PAD {
            let row = &rgb[y.saturating_sub(PAD).min(height - 1) * width * 3..][..width * 3];
            let first = i32::from(row[c]);
            let last = i32::from(row[(width - 1) * 3 + c]);
            data.extend(std::iter::repeat_n(first, PAD));
            data.extend(row.iter().skip(c).step_by(3).map(|&v| i32::from(v)));
            data.extend(std::iter::repeat_n(last, PAD));
        }
        Self { data, stride, width, height }
    }

    /// Index of image pixel (`x`, `y`).
    #[inline]
    fn at(&self, x: usize, y: usize) -> usize {
        (y + PAD) * self.stride + x + PAD
    }

    /// Each pixel's packed class: bits 3 and up its activity class among
    /// `count` (a power of two up to 8), the rank of its activity (3×3 sum
    /// of absolute Laplacians) in the image, in equal-sized groups; if
    /// `transforms`, bit 2 whether it is [`directed`] and bits 0-1 its
    /// [`transform`] (else zero). Both sides compute it from the decoded image alone.
    fn classify(&self, count: usize, transforms: bool) -> Vec<u8> {
        let (w, h, s) = (self.width, self.height, self.stride);
        // Laplacians over the image and a 1-pixel ring (edges replicated),
        // and for the transforms the four directional second differences
        // (horizontal, vertical, ↘, ↙), each a plane of (w + 2) × (h + 2).
        let lw = w + 2;
        let mut laplacian = vec![0u16; lw * (h + 2)];
        let offsets = [1, s, s + 1, s - 1];
        let mut second: Vec<Vec<u16>> = if transforms { vec![vec![0u16; lw * (h + 2)]; 4] } else { Vec::new() };
        let d = &self.data;
        for y in 0..h + 2 {
            let i0 = (y + PAD - 1) * s + PAD - 1;
            for x in 0..lw {
                let i = i0 + x;
                laplacian[y * lw + x] = (4 * d[i] - d[i - 1] - d[i + 1] - d[i - s] - d[i + s]).unsigned_abs() as u16;
            }
            for (plane, &o) in second.iter_mut().zip(&offsets) {
                for x in 0..lw {
                    let i = i0 + x;
                    plane[y * lw + x] = (2 * d[i] - d[i - o] - d[i + o]).unsigned_abs() as u16;
                }
            }
        }
        let activity = box_sums(&laplacian, w, h);
        drop(laplacian);
        let mut classes = vec![0u8; w * h];
        if transforms {
            // Per row, the column sums of three rows of each difference; a
            // pixel's 3×3 sums are then three of those.
            let mut columns = vec![[0u16; 4]; lw];
            for (y, row) in classes.chunks_exact_mut(w).enumerate() {
                for (x, column) in columns.iter_mut().enumerate() {
                    let i = y * lw + x;
                    *column = std::array::from_fn(|k| second[k][i] + second[k][i + lw] + second[k][i + 2 * lw]);
                }
                for (x, class) in row.iter_mut().enumerate() {
                    let sums = std::array::from_fn(|k| columns[x][k] + columns[x + 1][k] + columns[x + 2][k]);
                    *class = transform(sums) | (directed(sums) << 2);
                }
            }
        }
        // Octile thresholds from a histogram (an activity is at most 9 · 4 · 255);
        // a coarser count takes every other one, so that class `k` of `count`
        // groups is exactly octile classes `k · 8 / count ..`.
        let mut histogram = vec![0usize; 9 * 4 * 255 + 1];
        for &a in &activity {
            histogram[a as usize] += 1;
        }
        let n = activity.len();
        let mut thresholds = Vec::with_capacity(MAX_CLASSES - 1);
        let mut below = 0;
        for (value, &count) in histogram.iter().enumerate() {
            below += count;
            // The j-th threshold is the value of rank j·n/8 in sorted order.
            while thresholds.len() < MAX_CLASSES - 1 && below > (thresholds.len() + 1) * n / MAX_CLASSES {
                thresholds.push(value as u16);
            }
        }
        let shift = (MAX_CLASSES / count.max(1)).trailing_zeros();
        for (class, a) in classes.iter_mut().zip(&activity) {
            let k = thresholds.partition_point(|t| t <= a) >> shift;
            *class += (k as u8) << 3;
        }
        classes
    }
}

/// The 3×3 sums of a plane of (`w` + 2) × (`h` + 2) values, one per inner
/// position (`w` × `h`): per row, sums of three along columns, then three
/// of those (exact: each sum stays below 2^16 for the values here).
fn box_sums(plane: &[u16], w: usize, h: usize) -> Vec<u16> {
    let lw = w + 2;
    let mut columns = vec![0u16; lw];
    let mut sums = vec![0u16; w * h];
    for (y, row) in sums.chunks_exact_mut(w).enumerate() {
        let (a, b, c) = (&plane[y * lw..][..lw], &plane[(y + 1) * lw..][..lw], &plane[(y + 2) * lw..][..lw]);
        for x in 0..lw {
            columns[x] = a[x] + b[x] + c[x];
        }
        for (x, v) in row.iter_mut().enumerate() {
            *v = columns[x] + columns[x + 1] + columns[x + 2];
        }
    }
    sums
}

/// The geometric transform under which a pixel sees its filter, from the
/// 3×3 sums of its absolute second differences `[horizontal, vertical,
/// diagonal ↘, diagonal ↙]`: the one that presents every neighbourhood with
/// its horizontal difference at most its vertical, and its ↘ at most its ↙
/// (identity, transpose, horizontal flip or right-angle rotation, in that
/// order; see [`transformed_tap`]). So one filter serves an edge in any
/// orientation, as in VVC's ALF: an edge's filter can smooth along it.
fn transform(sums: [u16; 4]) -> u8 {
    let [h, v, d0, d1] = sums;
    u8::from(v < h) + 2 * u8::from(d1 < d0)
}

/// Whether a pixel is directed: one of its second differences (by the
/// sums of [`transform`]) more than [`DIRECTED_RATIO`] times its counterpart
/// at right angles.
fn directed(sums: [u16; 4]) -> u8 {
    let [h, v, d0, d1] = sums.map(u32::from);
    let r = DIRECTED_RATIO;
    u8::from(h.max(v) > r * h.min(v) || d0.max(d1) > r * d0.min(d1))
}

/// How many times one second difference must exceed its counterpart for a
/// [`directed`] pixel (2 and 3 measured −0.05 % and −0.09 % on Kodak q15-60).
const DIRECTED_RATIO: u32 = 3;

/// Where transform `r` (see [`transform`]) takes the offset `(dy, dx)`.
const fn transformed_tap(r: usize, (dy, dx): (isize, isize)) -> (isize, isize) {
    match r {
        0 => (dy, dx),
        1 => (dx, dy),
        2 => (dy, -dx),
        _ => (dx, -dy),
    }
}

/// Per transform, per feature, the feature that a pixel under the transform
/// reads in its place: pairs map to pairs (the 7×7 diamond is closed under
/// the transforms, a pair is the same read either way round), Laplacians to
/// themselves.
const TRANSFORMED_FEATURES: [[usize; N]; TRANSFORMS] = transformed_features();

const fn transformed_features() -> [[usize; N]; TRANSFORMS] {
    let mut table = [[0usize; N]; TRANSFORMS];
    let mut r = 0;
    while r < TRANSFORMS {
        let mut t = 0;
        while t < N {
            let f = FEATURES[t];
            table[r][t] = t;
            if f.len == 1 {
                let (dy, dx) = transformed_tap(r, f.pairs[0]);
                let mut u = 0;
                while u < N {
                    let g = FEATURES[u];
                    let (ey, ex) = g.pairs[0];
                    let same_kind = g.len == 1 && g.clip == f.clip && matches!(g.plane, Plane::Own);
                    if same_kind && ((ey == dy && ex == dx) || (ey == -dy && ex == -dx)) {
                        table[r][t] = u;
                    }
                    u += 1;
                }
            }
            t += 1;
        }
        r += 1;
    }
    table
}

/// The weights of the untransformed features equivalent to `weights` under transform `r`.
fn transformed(weights: &Coefficients, r: usize) -> Coefficients {
    let mut out = [0; N];
    for (t, &w) in weights.iter().enumerate() {
        out[TRANSFORMED_FEATURES[r][t]] = w;
    }
    out
}

/// Feature `t` (of [`FEATURES`]) of filtering channel `c`, along image row
/// `y`, into `out` (one per pixel of the row). Feature values stay within
/// ±4 · 255.
fn feature_row(planes: &[Padded; 3], c: usize, t: usize, y: usize, clip: i32, out: &mut [i32]) {
    let Feature { plane: source, pairs, len, clip: clipped } = FEATURES[t];
    let plane = &planes[source.channel(c)];
    let centre = plane.at(0, y);
    let width = out.len();
    let row_c = &plane.data[centre..][..width];
    out.fill(0);
    for &(dy, dx) in &pairs[..len] {
        let o = dy * plane.stride as isize + dx;
        let row_a = &plane.data[centre.wrapping_add_signed(o)..][..width];
        let row_b = &plane.data[centre.wrapping_add_signed(-o)..][..width];
        if clipped {
            for x in 0..width {
                out[x] += (row_a[x] - row_c[x]).clamp(-clip, clip) + (row_b[x] - row_c[x]).clamp(-clip, clip);
            }
        } else {
            for x in 0..width {
                out[x] += row_a[x] + row_b[x] - 2 * row_c[x];
            }
        }
    }
}

/// Normal equations of one class: `gram = Σ f fᵀ`, `cross = Σ f t` over its
/// pixels, with `f` the features and `t` the original minus the
/// decoded value.
#[derive(Clone)]
struct ClassStatistics {
    gram: [[f64; N]; N],
    cross: [f64; N],
    pixels: f64,
}

impl ClassStatistics {
    fn new() -> Self {
        Self { gram: [[0.0; N]; N], cross: [0.0; N], pixels: 0.0 }
    }

    fn add(&mut self, other: &Self) {
        for (g, o) in self.gram.iter_mut().zip(&other.gram) {
            for (a, b) in g.iter_mut().zip(o) {
                *a += b;
            }
        }
        for (a, b) in self.cross.iter_mut().zip(&other.cross) {
            *a += b;
        }
        self.pixels += other.pixels;
    }

    /// The least-squares filter, quantized; `None` if the system is singular.
    #[allow(clippy::needless_range_loop)] // elimination reads best with indices
    fn solve(&self) -> Option<Coefficients> {
        let mut a = self.gram;
        let mut b = self.cross;
        let ridge = 1e-6 * (0..N).map(|i| a[i][i]).sum::<f64>().max(1e-9);
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += ridge;
        }
        // Gaussian elimination with partial pivoting.
        for k in 0..N {
            let p = (k..N).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs()))?;
            if a[p][k].abs() < 1e-12 {
                return None;
            }
            a.swap(k, p);
            b.swap(k, p);
            for i in k + 1..N {
                let f = a[i][k] / a[k][k];
                for j in k..N {
                    a[i][j] -= f * a[k][j];
                }
                b[i] -= f * b[k];
            }
        }
        let mut w = [0.0f64; N];
        for k in (0..N).rev() {
            let s: f64 = (k + 1..N).map(|j| a[k][j] * w[j]).sum();
            w[k] = (b[k] - s) / a[k][k];
        }
        let scale = f64::from(1u32 << SHIFT);
        let q = w.map(|v| (v * scale).round().clamp(-f64::from(COEFF_LIMIT), f64::from(COEFF_LIMIT)) as i32);
        q.iter().any(|&v| v != 0).then_some(q)
    }

    /// `q` with each coefficient moved (by one or two units, to zero or to
    /// its prediction) where that saves more bits, at `lambda` per bit, than
    /// it adds squared error; two passes of coordinate descent on the
    /// quadratic error.
    #[allow(clippy::needless_range_loop)]
    fn refine(&self, mut q: Coefficients, prediction: &Coefficients, order: u32, lambda: f64) -> Coefficients {
        let scale = f64::from(1u32 << SHIFT);
        let mut gw = [0.0f64; N];
        for i in 0..N {
            gw[i] = (0..N).map(|j| self.gram[i][j] * f64::from(q[j]) / scale).sum();
        }
        for _ in 0..2 {
            for i in 0..N {
                let current = q[i];
                let bits = |v: i32| f64::from(signed_bits(v - prediction[i], order));
                let mut best = (0.0, current);
                for candidate in [current - 1, current + 1, current - 2, current + 2, 0, prediction[i]] {
                    if candidate == current || candidate.abs() > COEFF_LIMIT {
                        continue;
                    }
                    let d = f64::from(candidate - current) / scale;
                    let error = 2.0 * d * gw[i] + d * d * self.gram[i][i] - 2.0 * d * self.cross[i];
                    let cost = error + lambda * (bits(candidate) - bits(current));
                    if cost < best.0 {
                        best = (cost, candidate);
                    }
                }
                if best.1 != current {
                    let d = f64::from(best.1 - current) / scale;
                    for j in 0..N {
                        gw[j] += self.gram[j][i] * d;
                    }
                    q[i] = best.1;
                }
            }
        }
        q
    }

    /// Estimated change of the class's squared error when filtered with `q`:
    /// `wᵀGw − 2wᵀc`, plus the rounding of the output (1/12 per pixel).
    fn error_change(&self, q: &Coefficients) -> f64 {
        let scale = f64::from(1u32 << SHIFT);
        let w = q.map(|v| f64::from(v) / scale);
        let mut quadratic = 0.0;
        for i in 0..N {
            for j in 0..N {
                quadratic += w[i] * self.gram[i][j] * w[j];
            }
        }
        let linear: f64 = w.iter().zip(&self.cross).map(|(a, b)| a * b).sum();
        quadratic - 2.0 * linear + self.pixels / 12.0
    }
}

/// Normal equations of one channel per base class: activity octile, then
/// (version 5 on) undirected or [`directed`] pixels.
struct Statistics {
    base: Vec<ClassStatistics>,
}

impl Statistics {
    /// Statistics of channel `c` of the decoded `planes` against interleaved RGB8 `original`.
    /// `transforms`: whether each pixel's features are read under its [`transform`].
    fn gather(planes: &[Padded; 3], original: &[u8], c: usize, clip: i32, transforms: bool) -> Self {
        let plane = &planes[c];
        let (width, height) = (plane.width, plane.height);
        let classes = plane.classify(MAX_CLASSES, transforms);
        // Statistics per packed class (base class and transform) in the
        // features as read; a transform's permutation applies at the end.
        let mut groups = vec![ClassStatistics::new(); 2 * MAX_CLASSES * TRANSFORMS];
        // Per block of rows, one column per feature and one of targets, with
        // each group's pixels in a run, so that each Gram entry is a dot
        // product over contiguous memory; blocks keep the memory small.
        let block_rows = (BLOCK_PIXELS / width).clamp(1, height);
        let capacity = block_rows * width;
        let mut columns = vec![0i16; (N + 1) * capacity];
        let mut row = vec![0i32; width];
        let mut destination = vec![0usize; width];
        for y0 in (0..height).step_by(block_rows) {
            let y1 = (y0 + block_rows).min(height);
            let mut counts = [0usize; 2 * MAX_CLASSES * TRANSFORMS];
            for &packed in &classes[y0 * width..y1 * width] {
                counts[usize::from(packed)] += 1;
            }
            let mut start = 0;
            let runs: [std::ops::Range<usize>; 2 * MAX_CLASSES * TRANSFORMS] = std::array::from_fn(|g| {
                start += counts[g];
                start - counts[g]..start
            });
            let mut next: [usize; 2 * MAX_CLASSES * TRANSFORMS] = std::array::from_fn(|g| runs[g].start);
            for y in y0..y1 {
                for (d, &packed) in destination.iter_mut().zip(&classes[y * width..][..width]) {
                    *d = next[usize::from(packed)];
                    next[usize::from(packed)] += 1;
                }
                // Feature values stay within ±1020 (see `feature_row`), targets ±255.
                for t in 0..N {
                    feature_row(planes, c, t, y, clip, &mut row);
                    let column = &mut columns[t * capacity..][..capacity];
                    for (&d, &v) in destination.iter().zip(&row) {
                        column[d] = v as i16;
                    }
                }
                let centre = plane.at(0, y);
                let decoded = &plane.data[centre..][..width];
                let column = &mut columns[N * capacity..][..capacity];
                for (x, (&d, &v)) in destination.iter().zip(decoded).enumerate() {
                    column[d] = (i32::from(original[(y * width + x) * 3 + c]) - v) as i16;
                }
            }
            for (s, run) in groups.iter_mut().zip(runs) {
                let column = |t: usize| &columns[t * capacity..][run.clone()];
                for a in 0..N {
                    for b in a..N {
                        s.gram[a][b] += dot(column(a), column(b));
                    }
                    s.cross[a] += dot(column(a), column(N));
                }
                s.pixels += run.len() as f64;
            }
        }
        // A pixel under transform r sees feature t as read feature
        // TRANSFORMED_FEATURES[r][t]; the Grams above hold only a ≤ b.
        let mut base = vec![ClassStatistics::new(); 2 * MAX_CLASSES];
        for (g, s) in groups.iter().enumerate() {
            let permutation = &TRANSFORMED_FEATURES[g % TRANSFORMS];
            let base = &mut base[g / TRANSFORMS];
            for (a, &pa) in permutation.iter().enumerate() {
                for (b, &pb) in permutation.iter().enumerate() {
                    base.gram[a][b] += s.gram[pa.min(pb)][pa.max(pb)];
                }
                base.cross[a] += s.cross[pa];
            }
            base.pixels += s.pixels;
        }
        Self { base }
    }

    /// The statistics of `count` activity classes (octiles merged in runs),
    /// each split into undirected and directed pixels if `split`.
    fn merged(&self, count: usize, split: bool) -> Vec<ClassStatistics> {
        let shift = (MAX_CLASSES / count).trailing_zeros();
        let mut merged = vec![ClassStatistics::new(); count << usize::from(split)];
        for (i, s) in self.base.iter().enumerate() {
            let (k, directed) = (i >> 1, i & 1);
            merged[if split { 2 * (k >> shift) + directed } else { k >> shift }].add(s);
        }
        merged
    }
}

/// Pixels per block of the encoder's statistics (whole rows, at least one).
const BLOCK_PIXELS: usize = 1 << 15;

/// Exact dot product of two feature columns (|v| ≤ 1020, so `i16`), with
/// AVX2 where the CPU has it (the same integers either way).
fn dot(a: &[i16], b: &[i16]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_avx2(a, b) };
    }
    dot_blocks(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[i16], b: &[i16]) -> f64 {
    dot_blocks(a, b)
}

/// Blocks of 2048 products fit an `i32`, which lets the loop vectorise to
/// multiply-adds of 16-bit pairs. (The sums stay exact in `f64` below 2^53,
/// far above any image's.)
#[inline(always)]
fn dot_blocks(a: &[i16], b: &[i16]) -> f64 {
    a.chunks(2048)
        .zip(b.chunks(2048))
        .map(|(a, b)| i64::from(a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum::<i32>()))
        .sum::<i64>() as f64
}

/// Exp-Golomb order of the predicted coefficients' residuals (version 5 on;
/// 2 measured a little better than 3).
const RESIDUAL_ORDER: u32 = 2;

/// The prediction of a channel's first filter from the previous channel's
/// last: the same, but for the other-channel inputs, which read other planes.
fn carried(w: &Coefficients) -> Coefficients {
    let mut p = *w;
    for (v, f) in p.iter_mut().zip(&FEATURES) {
        if !matches!(f.plane, Plane::Own) {
            *v = 0;
        }
    }
    p
}

/// Codes a signed coefficient: the magnitude in Exp-Golomb of order `order`
/// (at most `limit`), then a sign bit for nonzero values.
fn code_signed<C: Coder>(io: &mut C, v: i32, order: u32, limit: u32) -> Result<i32> {
    let m = v.unsigned_abs();
    // Exp-Golomb: n = m + 2^k has bit length L; coded as L − k − 1 ones, a
    // zero, then n's L − 1 low bits.
    let n = m + (1 << order);
    let len = 32 - n.leading_zeros();
    let mut prefix = 0;
    loop {
        let one = io.bits(u32::from(prefix + order + 1 < len), 1)?;
        if one == 0 {
            break;
        }
        prefix += 1;
        ensure!(prefix <= 16, "corrupt wavelet payload: filter coefficient too long");
    }
    let low_bits = prefix + order;
    let low = io.wide_bits(n & ((1 << low_bits) - 1), low_bits)?;
    let m = ((1u32 << low_bits) | low) - (1 << order);
    ensure!(m <= limit, "corrupt wavelet payload: filter coefficient {m} out of range");
    let m = m as i32;
    if m == 0 {
        return Ok(0);
    }
    let negative = io.bits(u32::from(v < 0), 1)? == 1;
    Ok(if negative { -m } else { m })
}

/// Bits [`code_signed`] spends on `v`.
fn signed_bits(v: i32, order: u32) -> u32 {
    let n = v.unsigned_abs() + (1 << order);
    let len = 32 - n.leading_zeros();
    let prefix = len - order - 1;
    prefix + 1 + prefix + order + u32::from(v != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};

    /// A smooth image with edges and texture, and the same image blurred by a
    /// symmetric 3×3 binomial kernel: a loss a symmetric Wiener filter can partly undo.
    fn sharp_and_blurred(width: usize, height: usize) -> (Vec<u8>, Vec<u8>) {
        let mut sharp = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let stripes = if (x / 3 + y / 5) % 2 == 0 { 60.0 } else { 0.0 };
                let disc = if (x as f32 - 40.0).powi(2) + (y as f32 - 30.0).powi(2) < 300.0 { 90.0 } else { 0.0 };
                for c in 0..3 {
                    let v = 40.0 + c as f32 * 30.0 + stripes * (c as f32 * 0.3 + 0.4) + disc + (x + 2 * y) as f32 * 0.3;
                    sharp.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
        let mut blurred = sharp.clone();
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    let mut sum = 0u32;
                    for (dy, wy) in [(-1isize, 1), (0, 2), (1, 1)] {
                        for (dx, wx) in [(-1isize, 1), (0, 2), (1, 1)] {
                            let yy = (y as isize + dy).clamp(0, height as isize - 1) as usize;
                            let xx = (x as isize + dx).clamp(0, width as isize - 1) as usize;
                            sum += wy * wx * u32::from(sharp[(yy * width + xx) * 3 + c]);
                        }
                    }
                    blurred[(y * width + x) * 3 + c] = ((sum + 8) / 16) as u8;
                }
            }
        }
        (sharp, blurred)
    }

    fn squared_error(a: &[u8], b: &[u8]) -> u64 {
        a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2)).sum()
    }

    fn round_trip(filters: &Filters) -> Filters {
        let mut enc = SymbolEncoder::new();
        filters.clone().code(&mut enc).unwrap();
        let bytes = enc.finish();
        let mut decoded = Filters::for_version(filters.version);
        decoded.code(&mut SymbolDecoder::new(&bytes).unwrap()).unwrap();
        decoded
    }

    #[test]
    fn filters_code_and_decode_exactly() {
        let mut w = [0i32; N];
        for (i, v) in w.iter_mut().enumerate() {
            *v = [0, 1, -1, 7, -8, 9, 100, -255, 255, 3, -17, 64, 5, -6, 0, 33, 1, 2, -3, 4, 0, -99, 1, 1, 1, 1, 1, 1]
                [i];
        }
        // Version 5: predicted coefficients (extremes of opposite sign in
        // a row), a channel split by directionality.
        let filters = Filters {
            channels: [
                ChannelFilters { classes: vec![Some(w)], split: false },
                ChannelFilters { classes: vec![], split: false },
                ChannelFilters {
                    classes: vec![None, Some(w.map(|v| -v)), None, Some([1; N]), None, None, None, Some(w)],
                    split: true,
                },
            ],
            version: 5,
            clip: MAX_CLIP,
        };
        assert_eq!(round_trip(&filters), filters);
        assert_eq!(round_trip(&Filters::default()), Filters::default());
        // Version 4: plain coefficients, no split.
        let mut unsplit = filters.clone();
        unsplit.version = 4;
        unsplit.channels[2].split = false;
        assert_eq!(round_trip(&unsplit), unsplit);
        // Versions 2 and 3 carry the own channel's coefficients only.
        let mut own_only = unsplit.clone();
        own_only.version = 3;
        own_only.clip = 0;
        for class in own_only.channels.iter_mut().flat_map(|c| &mut c.classes).flatten() {
            class[OWN_FEATURES..].fill(0);
        }
        assert_eq!(round_trip(&own_only), own_only);
        for v in [-255, -9, -8, -1, 0, 1, 7, 8, 200, 255] {
            let mut enc = SymbolEncoder::new();
            code_signed(&mut enc, v, COEFF_ORDER, COEFF_LIMIT as u32).unwrap();
            let bytes = enc.finish();
            assert_eq!(
                code_signed(&mut SymbolDecoder::new(&bytes).unwrap(), 0, COEFF_ORDER, COEFF_LIMIT as u32).unwrap(),
                v
            );
        }
    }

    #[test]
    fn classes_split_by_activity_rank_and_nest() {
        let (sharp, _) = sharp_and_blurred(97, 61);
        let plane = Padded::channel(&sharp, 1, 97, 61);
        let eight: Vec<u8> = plane.classify(8, false).iter().map(|&p| p >> 3).collect();
        // With the transforms, the same activity classes, and below them
        // each pixel's directedness and transform, all of which occur.
        let packed = plane.classify(8, true);
        assert!(packed.iter().zip(&eight).all(|(&p, &e)| p >> 3 == e));
        assert!((0..TRANSFORMS as u8).all(|r| packed.iter().any(|&p| p & 3 == r)));
        assert!((0..2).all(|d| packed.iter().any(|&p| (p >> 2) & 1 == d)));
        let n = eight.len();
        for class in 0..8u8 {
            let size = eight.iter().filter(|&&c| c == class).count();
            // Ties share a class, so the groups are only roughly equal.
            assert!(size > 0 && size < n / 2, "class {class}: {size} of {n}");
        }
        for count in [1, 2, 4] {
            let coarse = plane.classify(count, false);
            let shift = (8 / count).trailing_zeros();
            assert!(coarse.iter().zip(&eight).all(|(&c, &e)| c >> 3 == e >> shift), "{count} classes");
        }
    }

    #[test]
    fn designed_filters_undo_part_of_a_blur_and_cost_nothing_when_useless() {
        let (width, height) = (96, 64);
        let (sharp, blurred) = sharp_and_blurred(width, height);
        let filters = Filters::design(&blurred, &sharp, width, height, 10.0, 4, 5);
        assert!(filters.channels.iter().all(|c| c.classes.iter().any(Option::is_some)), "{filters:?}");
        let mut restored = blurred.clone();
        filters.apply(&mut restored, width, height);
        let (before, after) = (squared_error(&sharp, &blurred), squared_error(&sharp, &restored));
        assert!(after * 2 < before, "squared error {before} -> {after}");
        assert_eq!(round_trip(&filters), filters);

        // A perfect decode leaves nothing to gain: every channel is off.
        let off = Filters { clip: 4, ..Filters::for_version(5) };
        assert_eq!(Filters::design(&sharp, &sharp, width, height, 10.0, 4, 5), off);
        // So does a high price per bit.
        assert_eq!(Filters::design(&blurred, &sharp, width, height, 1e12, 4, 5), off);
    }

    #[test]
    fn features_read_the_right_planes_and_clip_each_difference() {
        // Channel 0 has a step of 100 between columns 1 and 2; channels 1
        // and 2 are 7 and 9 at one pixel, 0 elsewhere.
        let (w, h) = (4, 3);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 2..w {
                rgb[(y * w + x) * 3] = 100;
            }
        }
        rgb[(w + 1) * 3 + 1] = 7;
        rgb[(w + 1) * 3 + 2] = 9;
        let planes: [Padded; 3] = std::array::from_fn(|c| Padded::channel(&rgb, c, w, h));
        let mut row = vec![0; w];
        let at = |t: usize, clip: i32, row: &mut Vec<i32>| {
            feature_row(&planes, 0, t, 1, clip, row);
            row[1]
        };
        // Tap (0, 1) at (1, 1): neighbours 0 (left) and 100 (right).
        assert_eq!(at(0, 3, &mut row), 100);
        assert_eq!(at(16, 3, &mut row), 3);
        // The first other channel (G): its 4-neighbour Laplacian at the bright pixel.
        assert_eq!(at(12, 3, &mut row), -28);
        // The second (B), diagonal: -4 * 9.
        assert_eq!(at(15, 3, &mut row), -36);
    }

    #[test]
    fn statistics_equal_a_direct_sum_over_pixels() {
        // Wide enough for several blocks of rows, so that runs per block,
        // transform permutations and the block sums are all exercised.
        let (w, h) = (300, 260);
        assert!(w * h > 2 * BLOCK_PIXELS);
        let (original, decoded) = sharp_and_blurred(w, h);
        let planes: [Padded; 3] = std::array::from_fn(|c| Padded::channel(&decoded, c, w, h));
        let c = 1;
        let stats = Statistics::gather(&planes, &original, c, 5, true);
        // The same sums, pixel by pixel, with each pixel's features read
        // under its transform.
        let classes = planes[c].classify(MAX_CLASSES, true);
        let mut direct = vec![ClassStatistics::new(); 2 * MAX_CLASSES];
        let mut rows = vec![vec![0; w]; N];
        for y in 0..h {
            for (t, row) in rows.iter_mut().enumerate() {
                feature_row(&planes, c, t, y, 5, row);
            }
            for x in 0..w {
                let packed = classes[y * w + x];
                let s = &mut direct[usize::from(packed >> 2)];
                let f: Vec<f64> =
                    TRANSFORMED_FEATURES[usize::from(packed & 3)].iter().map(|&t| f64::from(rows[t][x])).collect();
                let target = f64::from(original[(y * w + x) * 3 + c]) - f64::from(decoded[(y * w + x) * 3 + c]);
                for a in 0..N {
                    for b in 0..N {
                        s.gram[a][b] += f[a] * f[b];
                    }
                    s.cross[a] += f[a] * target;
                }
                s.pixels += 1.0;
            }
        }
        assert!(direct.iter().filter(|s| s.pixels > 0.0).count() > 8);
        for (got, want) in stats.base.iter().zip(&direct) {
            assert_eq!(got.gram, want.gram);
            assert_eq!(got.cross, want.cross);
            assert_eq!(got.pixels, want.pixels);
        }
    }

    #[test]
    fn activity_is_the_three_by_three_sum_of_absolute_laplacians() {
        let (w, h) = (37, 23);
        let (_, decoded) = sharp_and_blurred(w, h);
        let plane = Padded::channel(&decoded, 0, w, h);
        let d = &plane.data;
        let s = plane.stride as isize;
        let laplacian = |i: isize| {
            (4 * d[i as usize] - d[(i - 1) as usize] - d[(i + 1) as usize] - d[(i - s) as usize] - d[(i + s) as usize])
                .unsigned_abs()
        };
        let second =
            |i: isize, o: isize| (2 * d[i as usize] - d[(i - o) as usize] - d[(i + o) as usize]).unsigned_abs();
        let classes = plane.classify(MAX_CLASSES, true);
        let mut activity = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let (mut a, mut sums) = (0, [0u16; 4]);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let i = plane.at(x, y) as isize + dy * s + dx;
                        a += laplacian(i);
                        for (sum, o) in sums.iter_mut().zip([1, s, s + 1, s - 1]) {
                            *sum += second(i, o) as u16;
                        }
                    }
                }
                assert_eq!(classes[y * w + x] & 7, transform(sums) | (directed(sums) << 2), "pixel ({x}, {y})");
                activity.push((a, classes[y * w + x] >> 3));
            }
        }
        // Activity classes ascend with the activity.
        activity.sort();
        assert!(activity.windows(2).all(|p| p[0].1 <= p[1].1));
        assert_eq!(activity.last().unwrap().1, (MAX_CLASSES - 1) as u8);
    }

    #[test]
    fn transforms_permute_the_features_geometrically() {
        assert_eq!(TRANSFORMED_FEATURES[0], std::array::from_fn(|t| t));
        for (r, table) in TRANSFORMED_FEATURES.iter().enumerate() {
            let mut seen = [false; N];
            for (t, &u) in table.iter().enumerate() {
                seen[u] = true;
                let (f, g) = (FEATURES[t], FEATURES[u]);
                assert_eq!((f.len, f.clip, format!("{:?}", f.plane)), (g.len, g.clip, format!("{:?}", g.plane)));
                if f.len == 1 {
                    let (dy, dx) = transformed_tap(r, f.pairs[0]);
                    assert!(g.pairs[0] == (dy, dx) || g.pairs[0] == (-dy, -dx), "transform {r}: {t} -> {u}");
                } else {
                    assert_eq!(t, u, "transform {r}: a Laplacian is its own image");
                }
            }
            assert!(seen.iter().all(|&s| s), "transform {r} is not a permutation");
        }
        // The transform follows the weaker second differences.
        assert_eq!(transform([1, 9, 1, 9]), 0);
        assert_eq!(transform([9, 1, 1, 9]), 1);
        assert_eq!(transform([1, 9, 9, 1]), 2);
        assert_eq!(transform([9, 1, 9, 1]), 3);
        assert_eq!(transform([5, 5, 5, 5]), 0);
    }

    /// Blurs interleaved RGB8 `rgb` along rows only, by (1, 2, 1)/4.
    fn blur_rows(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
        let mut out = rgb.to_vec();
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    let at = |x: usize| u32::from(rgb[(y * width + x) * 3 + c]);
                    let sum = at(x.saturating_sub(1)) + 2 * at(x) + at((x + 1).min(width - 1));
                    out[(y * width + x) * 3 + c] = ((sum + 2) / 4) as u8;
                }
            }
        }
        out
    }

    fn transposed(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
        let mut out = vec![0; rgb.len()];
        for y in 0..height {
            for x in 0..width {
                out[(x * height + y) * 3..][..3].copy_from_slice(&rgb[(y * width + x) * 3..][..3]);
            }
        }
        out
    }

    #[test]
    fn transformed_filters_undo_a_blur_in_either_orientation() {
        // Filters fitted to a blur along rows, applied to the transposed
        // image (blurred along columns): with the transforms they undo it
        // about as well; without, a row filter misses a column blur.
        let (width, height) = (96, 64);
        let (sharp, _) = sharp_and_blurred(width, height);
        let blurred = blur_rows(&sharp, width, height);
        let (sharp_t, blurred_t) = (transposed(&sharp, width, height), transposed(&blurred, width, height));
        let mut kept = [0.0; 2];
        for (version, kept) in [4, 5].into_iter().zip(&mut kept) {
            let filters = Filters::design(&blurred, &sharp, width, height, 1.0, 15, version);
            let mut restored = blurred.clone();
            filters.apply(&mut restored, width, height);
            let mut restored_t = blurred_t.clone();
            filters.apply(&mut restored_t, height, width);
            let before = squared_error(&sharp, &blurred) as f64;
            assert_eq!(before, squared_error(&sharp_t, &blurred_t) as f64);
            let (after, after_t) =
                (squared_error(&sharp, &restored) as f64, squared_error(&sharp_t, &restored_t) as f64);
            assert!(after < 0.5 * before, "version {version}: squared error {before} -> {after}");
            *kept = after_t / before;
        }
        assert!(kept[1] < 0.6, "with transforms, the transposed image keeps {:.2} of its error", kept[1]);
        assert!(kept[0] > 0.8, "without, it keeps {:.2}", kept[0]);
    }

    #[test]
    fn refined_coefficients_trade_error_for_bits() {
        let (width, height) = (96, 64);
        let (sharp, blurred) = sharp_and_blurred(width, height);
        let planes: [Padded; 3] = std::array::from_fn(|c| Padded::channel(&blurred, c, width, height));
        let stats = Statistics::gather(&planes, &sharp, 1, 4, true).merged(1, false).remove(0);
        let exact = stats.solve().unwrap();
        let prediction = [3; N];
        let cost = |q: &Coefficients, lambda: f64| {
            let bits: u32 = q.iter().zip(&prediction).map(|(&v, &p)| signed_bits(v - p, RESIDUAL_ORDER)).sum();
            stats.error_change(q) + lambda * f64::from(bits)
        };
        // Free bits: the error only falls (rounding each least-squares
        // coefficient on its own is not the best integer filter).
        let free = stats.refine(exact, &prediction, RESIDUAL_ORDER, 0.0);
        assert!(stats.error_change(&free) <= stats.error_change(&exact));
        for lambda in [10.0, 1e3, 1e5] {
            let refined = stats.refine(exact, &prediction, RESIDUAL_ORDER, lambda);
            assert!(cost(&refined, lambda) < cost(&exact, lambda), "lambda {lambda}");
        }
        // Dear bits: every coefficient moves to the cheapest value, its prediction.
        assert_eq!(stats.refine(exact, &prediction, RESIDUAL_ORDER, 1e12), prediction);
    }

    #[test]
    fn clipping_bound_follows_the_step() {
        assert_eq!(clip_for_step(78.0), 9);
        assert_eq!(clip_for_step(9.6), 3);
        assert_eq!(clip_for_step(0.0), 1);
        assert_eq!(clip_for_step(1e9), MAX_CLIP);
        assert_eq!(clip_for_step(f64::NAN), 1);
    }

    #[test]
    fn tiny_images_filter_without_reaching_outside() {
        for (w, h) in [(1, 1), (1, 7), (5, 1), (2, 3)] {
            let (sharp, _) = sharp_and_blurred(w, h);
            let filters = Filters {
                channels: std::array::from_fn(|c| ChannelFilters { classes: vec![Some([9; N]); 2], split: c == 1 }),
                version: 5,
                clip: 3,
            };
            let mut out = sharp.clone();
            filters.apply(&mut out, w, h);
            assert_eq!(out.len(), sharp.len());
        }
    }
}
