//! CDF 9/7 (the JPEG 2000 irreversible wavelet) by lifting, in 2D Mallat
//! decomposition, for any width and height.
//!
//! Each axis is split independently, as long as the low band it leaves is at
//! least [`MIN_LOW_LEN`] samples long, so thin images (1xN, Nx3) still get a
//! 1D transform along their long axis. Boundaries use whole-sample symmetric
//! extension; even samples become the low band (the first `ceil(n/2)`),
//! odd samples the high band.
//!
//! Only IEEE-exact `f32` operations are used (no `powf`, no fused
//! multiply-add), so results are bit-identical on every platform.

/// Lifting coefficients and scaling of the 9/7 wavelet.
const ALPHA: f32 = -1.586_134_3;
const BETA: f32 = -0.052_980_118;
const GAMMA: f32 = 0.882_911_1;
const DELTA: f32 = 0.443_506_87;
const K_LOW: f32 = 1.149_604_4;
const K_HIGH: f32 = 1.0 / K_LOW;

/// An axis is only split while the low band it leaves has at least this many samples.
pub const MIN_LOW_LEN: usize = 4;
/// Hard cap on decomposition levels (a stream may ask for at most this many).
pub const MAX_LEVELS: usize = 12;

/// Which half of each axis a subband holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// Low in both axes (the coarsest approximation).
    Ll,
    /// High in x, low in y: responds to vertical edges.
    Hl,
    /// Low in x, high in y: responds to horizontal edges.
    Lh,
    /// High in both axes.
    Hh,
}

/// One subband: a rectangle of the coefficient plane.
#[derive(Debug, Clone)]
pub struct Band {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
    /// 1 = finest detail level; the LL band has level `levels`.
    pub level: usize,
    pub kind: BandKind,
    /// Index (into [`Layout::bands`]) of the same kind of band one level coarser.
    pub parent: Option<usize>,
    /// Bands of the same level coded before this one (HL before LH before HH).
    pub siblings: Vec<usize>,
    /// Synthesis L2 gain of one coefficient (norm of its basis image).
    pub gain: f32,
}

/// The subband geometry of a `width` x `height` plane.
#[derive(Debug, Clone)]
pub struct Layout {
    pub width: usize,
    pub height: usize,
    pub levels: usize,
    /// Non-empty bands in coding order: LL, then from the coarsest level to the
    /// finest, HL, LH, HH (parents always come before their children).
    pub bands: Vec<Band>,
    /// LL width and height after each level (`dims[0]` is the whole plane).
    dims: Vec<(usize, usize)>,
    splits_x: usize,
    splits_y: usize,
}

/// Splits an axis of `n` samples allows: each keeps a low band of at least [`MIN_LOW_LEN`].
fn axis_splits(n: usize, max_levels: usize) -> usize {
    let mut s = 0;
    let mut len = n;
    while s < max_levels && len.div_ceil(2) >= MIN_LOW_LEN {
        len = len.div_ceil(2);
        s += 1;
    }
    s
}

impl Layout {
    pub fn new(width: usize, height: usize, max_levels: usize) -> Self {
        let max_levels = max_levels.min(MAX_LEVELS);
        let splits_x = axis_splits(width, max_levels);
        let splits_y = axis_splits(height, max_levels);
        let levels = splits_x.max(splits_y);
        let mut dims = vec![(width, height)];
        for j in 1..=levels {
            let (w, h) = dims[j - 1];
            dims.push((if j <= splits_x { w.div_ceil(2) } else { w }, if j <= splits_y { h.div_ceil(2) } else { h }));
        }
        let (low, high) = synthesis_gains(levels);
        let (lw, lh) = dims[levels];
        let mut bands = vec![Band {
            x0: 0,
            y0: 0,
            w: lw,
            h: lh,
            level: levels,
            kind: BandKind::Ll,
            parent: None,
            siblings: Vec::new(),
            gain: low[splits_x] * low[splits_y],
        }];
        for j in (1..=levels).rev() {
            let (pw, ph) = dims[j - 1];
            let (w, h) = dims[j];
            let (lx, ly) = (low[j.min(splits_x)], low[j.min(splits_y)]);
            let candidates = [
                (BandKind::Hl, w, 0, pw - w, h, high[j] * ly),
                (BandKind::Lh, 0, h, w, ph - h, lx * high[j]),
                (BandKind::Hh, w, h, pw - w, ph - h, high[j] * high[j]),
            ];
            for (kind, x0, y0, bw, bh, gain) in candidates {
                if bw == 0 || bh == 0 {
                    continue;
                }
                let parent = bands.iter().position(|b| b.kind == kind && b.level == j + 1);
                let siblings =
                    (0..bands.len()).filter(|&i| bands[i].level == j && bands[i].kind != BandKind::Ll).collect();
                bands.push(Band { x0, y0, w: bw, h: bh, level: j, kind, parent, siblings, gain });
            }
        }
        Self { width, height, levels, bands, dims, splits_x, splits_y }
    }

    /// Forward transform of a `width * height` row-major plane, in place.
    pub fn forward(&self, plane: &mut [f32]) {
        debug_assert_eq!(plane.len(), self.width * self.height);
        let mut scratch = Vec::new();
        for j in 1..=self.levels {
            let (w, h) = self.dims[j - 1];
            if j <= self.splits_x {
                for row in plane.chunks_exact_mut(self.width).take(h) {
                    forward_1d(&mut row[..w], &mut scratch);
                }
            }
            if j <= self.splits_y {
                self.columns(plane, w, h, &mut scratch, forward_1d);
            }
        }
    }

    /// Inverse of [`forward`](Self::forward), in place.
    pub fn inverse(&self, plane: &mut [f32]) {
        debug_assert_eq!(plane.len(), self.width * self.height);
        let mut scratch = Vec::new();
        for j in (1..=self.levels).rev() {
            let (w, h) = self.dims[j - 1];
            if j <= self.splits_y {
                self.columns(plane, w, h, &mut scratch, inverse_1d);
            }
            if j <= self.splits_x {
                for row in plane.chunks_exact_mut(self.width).take(h) {
                    inverse_1d(&mut row[..w], &mut scratch);
                }
            }
        }
    }

    /// Applies `f` to each of the first `w` columns (each `h` long), via a transposed copy.
    fn columns(&self, plane: &mut [f32], w: usize, h: usize, scratch: &mut Vec<f32>, f: fn(&mut [f32], &mut Vec<f32>)) {
        let stride = self.width;
        let mut t = vec![0f32; w * h];
        for y in 0..h {
            for (x, &v) in plane[y * stride..y * stride + w].iter().enumerate() {
                t[x * h + y] = v;
            }
        }
        for col in t.chunks_exact_mut(h) {
            f(col, scratch);
        }
        for y in 0..h {
            for (x, v) in plane[y * stride..y * stride + w].iter_mut().enumerate() {
                *v = t[x * h + y];
            }
        }
    }
}

fn lift_odd(x: &mut [f32], c: f32) {
    let n = x.len();
    let mut i = 1;
    while i < n {
        let right = if i + 1 < n { x[i + 1] } else { x[i - 1] };
        x[i] += c * (x[i - 1] + right);
        i += 2;
    }
}

fn lift_even(x: &mut [f32], c: f32) {
    let n = x.len();
    let mut i = 0;
    while i < n {
        let left = if i > 0 { x[i - 1] } else { x[i + 1] };
        let right = if i + 1 < n { x[i + 1] } else { x[i - 1] };
        x[i] += c * (left + right);
        i += 2;
    }
}

/// One analysis level on a line: lifting, scaling, then evens first, odds after.
pub fn forward_1d(x: &mut [f32], scratch: &mut Vec<f32>) {
    let n = x.len();
    if n < 2 {
        return;
    }
    lift_odd(x, ALPHA);
    lift_even(x, BETA);
    lift_odd(x, GAMMA);
    lift_even(x, DELTA);
    scratch.clear();
    scratch.extend(x.iter().step_by(2).map(|&v| v * K_LOW));
    scratch.extend(x.iter().skip(1).step_by(2).map(|&v| v * K_HIGH));
    x.copy_from_slice(scratch);
}

/// Inverse of [`forward_1d`].
pub fn inverse_1d(x: &mut [f32], scratch: &mut Vec<f32>) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let half = n.div_ceil(2);
    scratch.clear();
    scratch.resize(n, 0.0);
    for (i, &v) in x[..half].iter().enumerate() {
        scratch[2 * i] = v * K_HIGH;
    }
    for (i, &v) in x[half..].iter().enumerate() {
        scratch[2 * i + 1] = v * K_LOW;
    }
    x.copy_from_slice(scratch);
    lift_even(x, -DELTA);
    lift_odd(x, -GAMMA);
    lift_even(x, -BETA);
    lift_odd(x, -ALPHA);
}

/// 1D synthesis gains: `low[j]` is the L2 norm of a low-band basis function
/// after `j` splits (`low[0] = 1`), `high[j]` that of a level-`j` high-band
/// one (`high[0]` unused). Measured on impulses far from the boundaries.
pub fn synthesis_gains(levels: usize) -> (Vec<f32>, Vec<f32>) {
    let mut low = vec![1f32];
    let mut high = vec![1f32];
    let mut scratch = Vec::new();
    for j in 1..=levels {
        let n = 32usize << j;
        let low_len = n >> j;
        for (pos, out) in [(low_len / 2, &mut low), (low_len + low_len / 2, &mut high)] {
            let mut x = vec![0f32; n];
            x[pos] = 1.0;
            for k in (1..=j).rev() {
                inverse_1d(&mut x[..n >> (k - 1)], &mut scratch);
            }
            let energy: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            out.push(energy.sqrt() as f32);
        }
    }
    (low, high)
}
