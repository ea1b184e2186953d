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
use std::str::FromStr;

use anyhow::{bail, Context, Result};

mod curves;
mod interpolate;
mod points;

pub use curves::{find_curve, load_curves, parse_curves, Metric, NamedCurve};
use interpolate::Interpolant;
pub use points::{format_points, pointwise, PointDelta};

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
    let ia = Interpolant::new(anchor, method)?.integral(lo, hi);
    let it = Interpolant::new(test, method)?.integral(lo, hi);
    Ok(((it - ia) / (hi - lo), overlap))
}
