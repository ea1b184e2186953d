//! Bjøntegaard-delta metrics: BD-rate and BD-quality (BD-PSNR).
//!
//! This module reproduces the conventions of the `bjontegaard` Python package
//! (version 1.3.0, <https://pypi.org/project/bjontegaard/>), which is what the
//! golden values in `shared/reference/bd_golden.json` come from:
//!
//! * rates are mapped to `log10(rate)` (any rate unit works: bpp, kbps, bytes);
//! * **BD-rate** interpolates `log10(rate)` as a function of quality for each
//!   curve, integrates both interpolants exactly over the *overlap of the
//!   quality ranges*, divides the difference of the integrals by the length of
//!   that interval and reports `(10^avg − 1) · 100` percent. Negative means the
//!   test codec needs fewer bits for the same quality;
//! * **BD-quality** (BD-PSNR when the quality is PSNR in dB) interpolates
//!   quality as a function of `log10(rate)`, integrates over the *overlap of the
//!   log-rate ranges* and reports the mean difference (test − anchor) in the
//!   quality's own unit. Positive means the test codec is better;
//! * three interpolation methods, see [`Interpolation`]. The piecewise methods
//!   are integrated analytically piece by piece, the cubic fit analytically as
//!   a polynomial, exactly like scipy's `PPoly.integrate` and numpy's
//!   `polyint`; nothing is sampled;
//! * the *overlap* of the two curves along an axis is
//!   `|intersection| / |union|` of their ranges on that axis (bjontegaard's
//!   definition); below [`DEFAULT_MIN_OVERLAP`] (0.75, bjontegaard's default
//!   `min_overlap`) [`compare`] attaches a warning, at 0 it is an error.
//!
//! Points may be given in any order: each curve is sorted by the variable that
//! is interpolated over (quality for BD-rate, rate for BD-quality). bjontegaard
//! only reverses descending inputs and lets scipy reject anything else, so for
//! every input it accepts the results are the same.
//!
//! ```
//! use neco_tools::bd_rate::{bd_rate, Interpolation, RdPoint};
//! let anchor = [(9487.76, 40.037), (4593.6, 38.615), (2486.44, 36.845), (1358.24, 34.851)];
//! let test = [(9787.8, 40.121), (4469.0, 38.651), (2451.52, 36.97), (1356.24, 34.987)];
//! let a: Vec<RdPoint> = anchor.iter().map(|&(r, q)| RdPoint::new(r, q)).collect();
//! let t: Vec<RdPoint> = test.iter().map(|&(r, q)| RdPoint::new(r, q)).collect();
//! let bd = bd_rate(&a, &t, Interpolation::Akima).unwrap();
//! assert!((bd - -4.425245).abs() < 1e-6);
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// One rate-distortion point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RdPoint {
    /// The rate, in bits per pixel (any positive rate unit gives the same BD
    /// values, since only ratios of rates matter).
    pub bpp: f64,
    /// The quality: PSNR in dB, MS-SSIM, … (higher is better).
    pub quality: f64,
}

impl RdPoint {
    /// A point from a rate and a quality.
    pub fn new(bpp: f64, quality: f64) -> Self {
        RdPoint { bpp, quality }
    }
}

/// Zips parallel rate and quality slices into points.
///
/// Errors when the lengths differ.
pub fn points_from(rates: &[f64], qualities: &[f64]) -> Result<Vec<RdPoint>> {
    if rates.len() != qualities.len() {
        bail!("{} rates but {} quality values: the RD curve needs one of each per point", rates.len(), qualities.len());
    }
    Ok(rates.iter().zip(qualities).map(|(&r, &q)| RdPoint::new(r, q)).collect())
}

/// How a curve is interpolated between its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Akima's piecewise cubic (scipy `Akima1DInterpolator`, `method="akima"`),
    /// bjontegaard's `"akima"`: the recommended default. With two points it
    /// degenerates to the straight line, as in bjontegaard.
    Akima,
    /// Piecewise cubic Hermite with monotone (Fritsch–Carlson / Moler) slopes
    /// (scipy `PchipInterpolator`), bjontegaard's `"pchip"`, which is also what
    /// JVET's BD-rate spreadsheet uses. Needs at least two points.
    Pchip,
    /// One cubic polynomial fitted by least squares over all points (numpy
    /// `polyfit(x, y, 3)`), the original VCEG-M33 method. Needs at least four
    /// points; with exactly four it interpolates them.
    Cubic,
}

impl Interpolation {
    /// Every method, in the order tables list them.
    pub const ALL: [Interpolation; 3] = [Interpolation::Akima, Interpolation::Pchip, Interpolation::Cubic];

    /// The lower-case name bjontegaard uses (`"akima"`, `"pchip"`, `"cubic"`).
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Akima => "akima",
            Interpolation::Pchip => "pchip",
            Interpolation::Cubic => "cubic",
        }
    }

    /// The fewest points per curve the method accepts.
    pub fn min_points(self) -> usize {
        match self {
            Interpolation::Akima | Interpolation::Pchip => 2,
            Interpolation::Cubic => 4,
        }
    }
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Interpolation {
    type Err = anyhow::Error;

    /// Parses `akima`, `pchip` or `cubic` (case-insensitive; `polyfit` and
    /// `vceg` are accepted for `cubic`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "akima" => Ok(Interpolation::Akima),
            "pchip" => Ok(Interpolation::Pchip),
            "cubic" | "polyfit" | "vceg" => Ok(Interpolation::Cubic),
            _ => bail!("unknown interpolation {s:?}: expected akima, pchip or cubic"),
        }
    }
}

/// The minimum overlap below which [`compare`] warns: 0.75, bjontegaard's
/// default `min_overlap`. The overlap along an axis is the length of the
/// intersection of the two curves' ranges divided by the length of their union.
pub const DEFAULT_MIN_OVERLAP: f64 = 0.75;

/// Both Bjøntegaard deltas of a test curve against an anchor, with the overlaps
/// they were computed on.
#[derive(Clone, Debug, PartialEq)]
pub struct BdResult {
    /// BD-rate in percent (negative: the test saves rate).
    pub bd_rate_percent: f64,
    /// BD-quality in the quality's unit, dB for PSNR (positive: the test is better).
    pub bd_quality: f64,
    /// `min(quality_overlap, rate_overlap)`.
    pub overlap: f64,
    /// Overlap of the quality ranges (the interval BD-rate integrates over),
    /// as `|intersection| / |union|` in `[0, 1]`.
    pub quality_overlap: f64,
    /// Overlap of the log-rate ranges (the interval BD-quality integrates over),
    /// as `|intersection| / |union|` in `[0, 1]`.
    pub rate_overlap: f64,
    /// Set when either overlap is below the threshold ([`DEFAULT_MIN_OVERLAP`]
    /// for [`compare`]): the deltas then describe only a small part of the
    /// curves and should be read with care.
    pub warning: Option<String>,
}

/// BD-rate of `test` against `anchor`, in percent.
///
/// Errors when a curve has too few points for `method`, a rate is not finite
/// and positive, a quality is not finite, two points share a quality, or the
/// quality ranges do not overlap.
pub fn bd_rate(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation) -> Result<f64> {
    let a = quality_to_lograte(anchor, method).context("anchor curve")?;
    let t = quality_to_lograte(test, method).context("test curve")?;
    let avg = bd_linear(&a, &t, method).context("BD-rate")?.0;
    Ok((10f64.powf(avg) - 1.0) * 100.0)
}

/// BD-quality (BD-PSNR for PSNR) of `test` against `anchor`, in the quality's unit.
///
/// Errors like [`bd_rate`], with "two points share a rate" instead of a quality
/// and the overlap taken over the log-rate ranges.
pub fn bd_quality(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation) -> Result<f64> {
    let a = lograte_to_quality(anchor, method).context("anchor curve")?;
    let t = lograte_to_quality(test, method).context("test curve")?;
    Ok(bd_linear(&a, &t, method).context("BD-quality")?.0)
}

/// Same as [`bd_quality`]; the name used when the quality is PSNR.
pub fn bd_psnr(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation) -> Result<f64> {
    bd_quality(anchor, test, method)
}

/// BD-rate and BD-quality together, with the overlaps and a warning when
/// either overlap is below [`DEFAULT_MIN_OVERLAP`].
pub fn compare(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation) -> Result<BdResult> {
    compare_with(anchor, test, method, DEFAULT_MIN_OVERLAP)
}

/// [`compare`] with a chosen warning threshold `min_overlap` in `[0, 1]`
/// (0 never warns).
pub fn compare_with(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation, min_overlap: f64) -> Result<BdResult> {
    let aq = quality_to_lograte(anchor, method).context("anchor curve")?;
    let tq = quality_to_lograte(test, method).context("test curve")?;
    let (avg_lograte, quality_overlap) = bd_linear(&aq, &tq, method).context("BD-rate")?;
    let ar = lograte_to_quality(anchor, method).context("anchor curve")?;
    let tr = lograte_to_quality(test, method).context("test curve")?;
    let (bd_quality, rate_overlap) = bd_linear(&ar, &tr, method).context("BD-quality")?;

    let mut low = Vec::new();
    if quality_overlap < min_overlap {
        low.push(format!("quality ranges overlap {:.0} %", quality_overlap * 100.0));
    }
    if rate_overlap < min_overlap {
        low.push(format!("rate ranges overlap {:.0} %", rate_overlap * 100.0));
    }
    let warning = (!low.is_empty()).then(|| {
        format!(
            "insufficient curve overlap: {} (minimum {:.0} %); the BD values cover only the common part",
            low.join(", "),
            min_overlap * 100.0
        )
    });
    Ok(BdResult {
        bd_rate_percent: (10f64.powf(avg_lograte) - 1.0) * 100.0,
        bd_quality,
        overlap: quality_overlap.min(rate_overlap),
        quality_overlap,
        rate_overlap,
        warning,
    })
}

/// A plain-text table of comparisons (for `neco bd`): one row per
/// `(name, result)` with BD-rate, BD-quality and overlap, and the warnings
/// listed as numbered notes below it.
///
/// BD-rate is printed in percent with 2 decimals, BD-quality with 4 decimals in
/// the quality's own unit (dB for PSNR), the overlap as the smaller of the two
/// overlaps in percent. Every line ends with `\n`.
pub fn format_table(rows: &[(String, BdResult)]) -> String {
    let headers = ["curve", "BD-rate", "BD-quality", "overlap", ""];
    let mut cells: Vec<[String; 5]> = Vec::with_capacity(rows.len());
    let mut notes = Vec::new();
    for (name, r) in rows {
        let mark = match &r.warning {
            Some(w) => {
                notes.push(format!("[{}] {}: {}", notes.len() + 1, name, w));
                format!("[{}]", notes.len())
            }
            None => String::new(),
        };
        cells.push([
            name.clone(),
            format!("{:+.2} %", r.bd_rate_percent),
            format!("{:+.4}", r.bd_quality),
            format!("{:.0} %", r.overlap * 100.0),
            mark,
        ]);
    }
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: [&str; 5]| {
        let mut s = format!("{:<w$}", row[0], w = widths[0]);
        for i in 1..4 {
            s.push_str(&format!("  {:>w$}", row[i], w = widths[i]));
        }
        if !row[4].is_empty() {
            s.push_str(&format!("  {}", row[4]));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    let rule_len = widths[..4].iter().sum::<usize>() + 6;
    out.push_str(&"-".repeat(rule_len));
    out.push('\n');
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Core: interpolate y(x) for both curves and average the difference.

/// A curve as sorted `(x, y)` samples with strictly increasing x.
struct Samples {
    x: Vec<f64>,
    y: Vec<f64>,
}

fn validate(points: &[RdPoint], method: Interpolation) -> Result<()> {
    let need = method.min_points();
    if points.len() < need {
        bail!("{} point(s), but {} interpolation needs at least {}", points.len(), method, need);
    }
    for p in points {
        if !(p.bpp.is_finite() && p.bpp > 0.0) {
            bail!("rate {} is not a finite positive number", p.bpp);
        }
        if !p.quality.is_finite() {
            bail!("quality {} is not finite", p.quality);
        }
    }
    Ok(())
}

fn sorted(mut xy: Vec<(f64, f64)>, what: &str) -> Result<Samples> {
    xy.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(w) = xy.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("two points share the same {what} ({}); cannot interpolate", w[0].0);
    }
    Ok(Samples { x: xy.iter().map(|p| p.0).collect(), y: xy.iter().map(|p| p.1).collect() })
}

fn quality_to_lograte(points: &[RdPoint], method: Interpolation) -> Result<Samples> {
    validate(points, method)?;
    let xy = points.iter().map(|p| (p.quality, p.bpp.log10())).collect();
    sorted(xy, "quality")
}

fn lograte_to_quality(points: &[RdPoint], method: Interpolation) -> Result<Samples> {
    validate(points, method)?;
    let xy = points.iter().map(|p| (p.bpp.log10(), p.quality)).collect();
    sorted(xy, "rate")
}

/// bjontegaard's `bjontegaard_delta`: the mean of `y_test − y_anchor` over the
/// overlap of the x ranges, and that overlap as a fraction of the union.
fn bd_linear(anchor: &Samples, test: &Samples, method: Interpolation) -> Result<(f64, f64)> {
    let (a_lo, a_hi) = (anchor.x[0], *anchor.x.last().unwrap());
    let (t_lo, t_hi) = (test.x[0], *test.x.last().unwrap());
    let lo = a_lo.max(t_lo);
    let hi = a_hi.min(t_hi);
    let union = a_hi.max(t_hi) - a_lo.min(t_lo);
    let overlap = (hi - lo).max(0.0) / union;
    if hi <= lo {
        bail!("the curves do not overlap (anchor spans [{a_lo}, {a_hi}], test [{t_lo}, {t_hi}])");
    }
    let ia = integrate(anchor, method, lo, hi)?;
    let it = integrate(test, method, lo, hi)?;
    Ok(((it - ia) / (hi - lo), overlap))
}

fn integrate(s: &Samples, method: Interpolation, lo: f64, hi: f64) -> Result<f64> {
    match method {
        Interpolation::Akima => Ok(hermite_integral(&s.x, &s.y, &akima_slopes(&s.x, &s.y), lo, hi)),
        Interpolation::Pchip => Ok(hermite_integral(&s.x, &s.y, &pchip_slopes(&s.x, &s.y), lo, hi)),
        Interpolation::Cubic => cubic_fit_integral(&s.x, &s.y, lo, hi),
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
        let h = x1 - x0;
        let slope = (y[i + 1] - y[i]) / h;
        // p(s) = c0 + c1 s + c2 s² + c3 s³ with s = x − x0 (scipy's PPoly form).
        let c0 = y[i];
        let c1 = d[i];
        let c2 = (3.0 * slope - 2.0 * d[i] - d[i + 1]) / h;
        let c3 = (d[i] + d[i + 1] - 2.0 * slope) / (h * h);
        let anti = |s: f64| s * (c0 + s * (c1 / 2.0 + s * (c2 / 3.0 + s * (c3 / 4.0))));
        total += anti(b - x0) - anti(a - x0);
    }
    total
}

/// Exact integral over `[lo, hi]` of the least-squares cubic through `(x, y)`
/// (numpy `polyfit(x, y, 3)` + `polyint`). The fit is done in a centred and
/// scaled variable with Householder QR, which gives the same polynomial as
/// numpy's scaled-Vandermonde `lstsq` up to rounding.
#[allow(clippy::needless_range_loop)] // index-heavy QR reads best with indices
fn cubic_fit_integral(x: &[f64], y: &[f64], lo: f64, hi: f64) -> Result<f64> {
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
    let anti = |xv: f64| {
        let t = (xv - centre) / scale;
        t * (c[0] + t * (c[1] / 2.0 + t * (c[2] / 3.0 + t * (c[3] / 4.0))))
    };
    Ok(scale * (anti(hi) - anti(lo)))
}

// ---------------------------------------------------------------------------
// Loading RD curves from JSON.

/// Which quality a curve file is read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// PSNR in dB: keys `psnr-rgb`, then `psnr`.
    Psnr,
    /// MS-SSIM in `[0, 1]`: keys `ms-ssim-rgb`, then `ms-ssim`.
    MsSsim,
    /// MS-SSIM in dB, `−10·log10(1 − MS-SSIM)`, read from the MS-SSIM keys
    /// (the usual scale for BD on MS-SSIM).
    MsSsimDb,
}

impl Metric {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Metric::Psnr => &["psnr-rgb", "psnr"],
            Metric::MsSsim | Metric::MsSsimDb => &["ms-ssim-rgb", "ms-ssim"],
        }
    }
}

impl FromStr for Metric {
    type Err = anyhow::Error;

    /// Parses `psnr`, `ms-ssim` or `ms-ssim-db` (case-insensitive, `_` for `-` allowed).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "psnr" | "psnr-rgb" => Ok(Metric::Psnr),
            "ms-ssim" | "msssim" | "ms-ssim-rgb" => Ok(Metric::MsSsim),
            "ms-ssim-db" | "msssim-db" => Ok(Metric::MsSsimDb),
            _ => bail!("unknown metric {s:?}: expected psnr, ms-ssim or ms-ssim-db"),
        }
    }
}

/// An RD curve with a name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedCurve {
    /// The curve's name: CompressAI's `name` field, or `group.key` for
    /// `kodak_rd.json` (e.g. `published.vtm`, `measured_here.avif`).
    pub name: String,
    /// The points, in file order.
    pub points: Vec<RdPoint>,
}

/// Loads RD curves from a JSON file; see [`parse_curves`] for the layouts.
pub fn load_curves(path: impl AsRef<Path>, metric: Metric) -> Result<Vec<NamedCurve>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "curve".into());
    parse_curves(&text, &stem, metric).with_context(|| format!("parsing {}", path.display()))
}

/// Parses RD curves from JSON text. Accepted layouts:
///
/// * CompressAI's results file: `{"name": N, "results": {"bpp": [...],
///   "psnr-rgb"|"psnr": [...], "ms-ssim-rgb"|"ms-ssim": [...], ...}}`; one
///   curve named `N` (or `default_name` when `name` is missing);
/// * a bare results object `{"bpp": [...], "psnr": [...]}`, named `default_name`;
/// * `kodak_rd.json`'s layout: `{group: {curve: {"bpp": [...], "psnr": [...],
///   ...}}}`, one curve per inner object that has `bpp`, named `group.curve`;
///   keys starting with `_` (such as `_about`) are skipped;
/// * a JSON array of any of the above.
///
/// Errors when no curve is found, when a found curve lacks the metric, or when
/// a value is not a number.
pub fn parse_curves(text: &str, default_name: &str, metric: Metric) -> Result<Vec<NamedCurve>> {
    let v: Value = serde_json::from_str(text)?;
    let mut out = Vec::new();
    collect(&v, default_name, metric, &mut out)?;
    if out.is_empty() {
        bail!("no RD curve found (expected CompressAI's {{\"name\", \"results\": {{\"bpp\", ...}}}} or kodak_rd.json's {{group: {{curve: {{\"bpp\", ...}}}}}})");
    }
    Ok(out)
}

/// Finds a curve by exact name, or else by a unique name suffix that follows a
/// `.` or `/` (so `vtm` finds `published.vtm` and `mbt2018` finds
/// `published.compressai/mbt2018`, but not `…/mbt2018-mean`).
pub fn find_curve<'a>(curves: &'a [NamedCurve], name: &str) -> Result<&'a NamedCurve> {
    if let Some(c) = curves.iter().find(|c| c.name == name) {
        return Ok(c);
    }
    let hits: Vec<&NamedCurve> = curves
        .iter()
        .filter(|c| c.name.strip_suffix(name).is_some_and(|head| head.ends_with('.') || head.ends_with('/')))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "no curve named {name:?} (have: {})",
            curves.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        _ => bail!(
            "curve name {name:?} is ambiguous: {}",
            hits.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn collect(v: &Value, name: &str, metric: Metric, out: &mut Vec<NamedCurve>) -> Result<()> {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{name}[{i}]"), metric, out)?;
            }
        }
        Value::Object(obj) => {
            if let Some(results) = obj.get("results") {
                let n = obj.get("name").and_then(Value::as_str).unwrap_or(name);
                out.push(curve_from(results, n, metric)?);
            } else if obj.contains_key("bpp") {
                out.push(curve_from(v, name, metric)?);
            } else {
                for (group, inner) in obj {
                    if group.starts_with('_') {
                        continue;
                    }
                    let Value::Object(curves) = inner else { continue };
                    for (key, c) in curves {
                        if key.starts_with('_') || c.get("bpp").is_none() {
                            continue;
                        }
                        out.push(curve_from(c, &format!("{group}.{key}"), metric)?);
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn numbers(v: &Value, key: &str, name: &str) -> Result<Vec<f64>> {
    let arr = v.as_array().ok_or_else(|| anyhow!("curve {name:?}: {key:?} is not an array"))?;
    arr.iter().map(|e| e.as_f64().ok_or_else(|| anyhow!("curve {name:?}: {key:?} holds a non-number {e}"))).collect()
}

fn curve_from(results: &Value, name: &str, metric: Metric) -> Result<NamedCurve> {
    let bpp = results.get("bpp").ok_or_else(|| anyhow!("curve {name:?} has no \"bpp\""))?;
    let bpp = numbers(bpp, "bpp", name)?;
    let (key, q) = metric
        .keys()
        .iter()
        .find_map(|k| results.get(*k).map(|q| (*k, q)))
        .ok_or_else(|| anyhow!("curve {name:?} has none of {:?}", metric.keys()))?;
    let mut q = numbers(q, key, name)?;
    if metric == Metric::MsSsimDb {
        for v in &mut q {
            *v = -10.0 * (1.0 - *v).log10();
        }
    }
    let points = points_from(&bpp, &q).with_context(|| format!("curve {name:?}"))?;
    Ok(NamedCurve { name: name.to_string(), points })
}
