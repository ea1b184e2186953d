//! The interpolants behind BD metrics: a curve's y(x) between its samples,
//! as scipy and numpy build them, with exact integrals and point values.

use anyhow::{bail, Result};

use super::{Interpolation, Samples};

/// A curve's interpolant, defined over its samples' x range `[lo, hi]`.
pub(super) struct Interpolant {
    lo: f64,
    hi: f64,
    shape: Shape,
}

enum Shape {
    /// Piecewise cubic Hermite through the samples with node derivatives `d`
    /// (Akima, PCHIP).
    Hermite { x: Vec<f64>, y: Vec<f64>, d: Vec<f64> },
    /// One least-squares cubic `c0 + c1 t + c2 t² + c3 t³` in the centred and
    /// scaled variable `t = (x − centre) / scale` (the cubic fit).
    Polynomial { c: [f64; 4], centre: f64, scale: f64 },
}

impl Interpolant {
    /// `s` holds at least the points `method` needs (see [`Interpolation::min_points`]).
    pub(super) fn new(s: &Samples, method: Interpolation) -> Result<Self> {
        let (x, y) = (s.x.clone(), s.y.clone());
        let (lo, hi) = (x[0], x[x.len() - 1]);
        let shape = match method {
            Interpolation::Akima => Shape::Hermite { d: akima_slopes(&x, &y), x, y },
            Interpolation::Pchip => Shape::Hermite { d: pchip_slopes(&x, &y), x, y },
            Interpolation::Cubic => {
                let (c, centre, scale) = cubic_fit(&x, &y)?;
                Shape::Polynomial { c, centre, scale }
            }
        };
        Ok(Self { lo, hi, shape })
    }

    /// Exact integral over `[a, b]`, which lies inside `[lo, hi]`.
    pub(super) fn integral(&self, a: f64, b: f64) -> f64 {
        match &self.shape {
            Shape::Hermite { x, y, d } => hermite_integral(x, y, d, a, b),
            Shape::Polynomial { c, centre, scale } => {
                let anti = |v: f64| {
                    let t = (v - centre) / scale;
                    t * (c[0] + t * (c[1] / 2.0 + t * (c[2] / 3.0 + t * (c[3] / 4.0))))
                };
                scale * (anti(b) - anti(a))
            }
        }
    }

    /// The value at `v`, or `None` outside `[lo, hi]` (no extrapolation).
    pub(super) fn value(&self, v: f64) -> Option<f64> {
        if !(self.lo..=self.hi).contains(&v) {
            return None;
        }
        Some(match &self.shape {
            Shape::Hermite { x, y, d } => {
                let i = x.windows(2).position(|w| v <= w[1]).unwrap_or(x.len() - 2);
                let [c0, c1, c2, c3] = hermite_piece(x, y, d, i);
                let s = v - x[i];
                c0 + s * (c1 + s * (c2 + s * c3))
            }
            Shape::Polynomial { c, centre, scale } => {
                let t = (v - centre) / scale;
                c[0] + t * (c[1] + t * (c[2] + t * c[3]))
            }
        })
    }
}

/// numpy's `sign`: −1, 0 or 1 (NaN stays NaN).
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

fn secants(x: &[f64], y: &[f64]) -> Vec<f64> {
    x.windows(2).zip(y.windows(2)).map(|(xw, yw)| (yw[1] - yw[0]) / (xw[1] - xw[0])).collect()
}

/// Node derivatives of scipy's `Akima1DInterpolator(method="akima")`.
fn akima_slopes(x: &[f64], y: &[f64]) -> Vec<f64> {
    let n = x.len();
    let delta = secants(x, y);
    if n == 2 {
        return vec![delta[0]; 2];
    }
    // m[2..n+1] are the secants, two extrapolated ones on each side.
    let mut m = vec![0.0; n + 3];
    m[2..n + 1].copy_from_slice(&delta);
    m[1] = 2.0 * m[2] - m[3];
    m[0] = 2.0 * m[1] - m[2];
    m[n + 1] = 2.0 * m[n] - m[n - 1];
    m[n + 2] = 2.0 * m[n + 1] - m[n];
    let dm: Vec<f64> = m.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let f1 = &dm[2..];
    let f2 = &dm[..n];
    let f12: Vec<f64> = (0..n).map(|i| f1[i] + f2[i]).collect();
    let mmax = f12.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    const BREAK_MULT: f64 = 1e-9;
    (0..n)
        .map(|i| {
            if f12[i] > BREAK_MULT * mmax {
                m[i + 1] + (f2[i] / f12[i]) * (m[i + 2] - m[i + 1])
            } else {
                0.5 * (m[i + 3] + m[i])
            }
        })
        .collect()
}

/// Node derivatives of scipy's `PchipInterpolator`.
fn pchip_slopes(x: &[f64], y: &[f64]) -> Vec<f64> {
    let n = x.len();
    let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let m = secants(x, y);
    if n == 2 {
        return vec![m[0]; 2];
    }
    let mut d = vec![0.0; n];
    for k in 1..n - 1 {
        let (m0, m1) = (m[k - 1], m[k]);
        if sign(m1) != sign(m0) || m1 == 0.0 || m0 == 0.0 {
            d[k] = 0.0;
        } else {
            let w1 = 2.0 * h[k] + h[k - 1];
            let w2 = h[k] + 2.0 * h[k - 1];
            let whmean = (w1 / m0 + w2 / m1) / (w1 + w2);
            d[k] = 1.0 / whmean;
        }
    }
    d[0] = pchip_edge(h[0], h[1], m[0], m[1]);
    d[n - 1] = pchip_edge(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
    d
}

/// scipy's `PchipInterpolator._edge_case`: one-sided three-point estimate,
/// limited to preserve shape.
fn pchip_edge(h0: f64, h1: f64, m0: f64, m1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if sign(d) != sign(m0) {
        0.0
    } else if sign(m0) != sign(m1) && d.abs() > 3.0 * m0.abs() {
        3.0 * m0
    } else {
        d
    }
}

/// Piece `i` of the cubic Hermite spline through `(x, y)` with node
/// derivatives `d`, as `[c0, c1, c2, c3]` in `s = x − x[i]` (scipy's `PPoly` form).
fn hermite_piece(x: &[f64], y: &[f64], d: &[f64], i: usize) -> [f64; 4] {
    let h = x[i + 1] - x[i];
    let slope = (y[i + 1] - y[i]) / h;
    [y[i], d[i], (3.0 * slope - 2.0 * d[i] - d[i + 1]) / h, (d[i] + d[i + 1] - 2.0 * slope) / (h * h)]
}

/// Exact integral over `[lo, hi]` (inside `[x[0], x[n-1]]`) of the cubic
/// Hermite spline through `(x, y)` with node derivatives `d`.
fn hermite_integral(x: &[f64], y: &[f64], d: &[f64], lo: f64, hi: f64) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len() - 1 {
        let (x0, x1) = (x[i], x[i + 1]);
        let a = lo.max(x0);
        let b = hi.min(x1);
        if b <= a {
            continue;
        }
        let [c0, c1, c2, c3] = hermite_piece(x, y, d, i);
        let anti = |s: f64| s * (c0 + s * (c1 / 2.0 + s * (c2 / 3.0 + s * (c3 / 4.0))));
        total += anti(b - x0) - anti(a - x0);
    }
    total
}

/// The least-squares cubic through `(x, y)` (numpy `polyfit(x, y, 3)`), as
/// coefficients in `t = (x − centre) / scale` with `centre` and `scale`. The fit is done in a centred and
/// scaled variable with Householder QR, which gives the same polynomial as
/// numpy's scaled-Vandermonde `lstsq` up to rounding.
#[allow(clippy::needless_range_loop)] // index-heavy QR reads best with indices
fn cubic_fit(x: &[f64], y: &[f64]) -> Result<([f64; 4], f64, f64)> {
    let n = x.len();
    let centre = x.iter().sum::<f64>() / n as f64;
    let scale = x.iter().map(|v| (v - centre).abs()).fold(0.0, f64::max);
    // Column-major n×4 Vandermonde in t = (x − centre) / scale.
    let mut a = vec![[0.0f64; 4]; n];
    for (row, &xi) in a.iter_mut().zip(x) {
        let t = (xi - centre) / scale;
        *row = [1.0, t, t * t, t * t * t];
    }
    let mut b = y.to_vec();
    // Householder QR, applying reflections to b as we go.
    let mut r_diag = [0.0f64; 4];
    for k in 0..4 {
        let norm = (k..n).map(|i| a[i][k] * a[i][k]).sum::<f64>().sqrt();
        if norm == 0.0 {
            bail!("cubic fit is singular (need at least 4 distinct x values)");
        }
        let alpha = if a[k][k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..n).map(|i| a[i][k]).collect();
        v[0] -= alpha;
        let vnorm2 = v.iter().map(|e| e * e).sum::<f64>();
        r_diag[k] = alpha;
        if vnorm2 > 0.0 {
            for j in k + 1..4 {
                let dot = (k..n).map(|i| v[i - k] * a[i][j]).sum::<f64>();
                let f = 2.0 * dot / vnorm2;
                for i in k..n {
                    a[i][j] -= f * v[i - k];
                }
            }
            let dot = (k..n).map(|i| v[i - k] * b[i]).sum::<f64>();
            let f = 2.0 * dot / vnorm2;
            for i in k..n {
                b[i] -= f * v[i - k];
            }
        }
    }
    let largest = r_diag.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if r_diag.iter().any(|v| v.abs() <= 1e-12 * largest) {
        bail!("cubic fit is singular (need at least 4 distinct x values)");
    }
    // Back substitution: R c = Qᵀ b (upper triangle of a, diagonal in r_diag).
    let mut c = [0.0f64; 4];
    for k in (0..4).rev() {
        let mut s = b[k];
        for j in k + 1..4 {
            s -= a[k][j] * c[j];
        }
        c[k] = s / r_diag[k];
    }
    Ok((c, centre, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(x: &[f64], y: &[f64]) -> Samples {
        Samples { x: x.to_vec(), y: y.to_vec() }
    }

    #[test]
    fn values_pass_through_the_nodes_and_integrate_to_the_exact_integral() {
        let s = samples(&[-0.7, -0.4, -0.2, 0.0, 0.15, 0.45], &[26.0, 28.9, 30.7, 32.2, 34.9, 37.6]);
        for method in Interpolation::ALL {
            let f = Interpolant::new(&s, method).unwrap();
            if method != Interpolation::Cubic {
                for (&x, &y) in s.x.iter().zip(&s.y) {
                    assert!((f.value(x).unwrap() - y).abs() < 1e-12, "{method} at {x}");
                }
            }
            // Composite Simpson over a fine grid of each piece against the closed form.
            let (a, b) = (-0.55, 0.3);
            let n = 3000;
            let h = (b - a) / n as f64;
            let simpson: f64 = (0..n)
                .map(|k| {
                    let x0 = a + k as f64 * h;
                    h / 6.0 * (f.value(x0).unwrap() + 4.0 * f.value(x0 + h / 2.0).unwrap() + f.value(x0 + h).unwrap())
                })
                .sum();
            assert!((simpson - f.integral(a, b)).abs() < 1e-9, "{method}: {simpson} vs {}", f.integral(a, b));
            assert!(f.value(-0.71).is_none() && f.value(0.46).is_none(), "{method} extrapolated");
        }
    }

    #[test]
    fn a_four_point_cubic_fit_interpolates() {
        let s = samples(&[0.0, 1.0, 2.0, 4.0], &[1.0, 3.0, 2.0, 5.0]);
        let f = Interpolant::new(&s, Interpolation::Cubic).unwrap();
        for (&x, &y) in s.x.iter().zip(&s.y) {
            assert!((f.value(x).unwrap() - y).abs() < 1e-9);
        }
    }
}
