//! Point-by-point comparison: where a test curve stands at each of the
//! anchor's points. A BD value averages over the common range, so it cannot
//! say whether one codec leads *everywhere* ("beats WebP across its whole
//! range"); this can.
//!
//! At each anchor point the test curve is read with the same interpolation as
//! BD uses, never extrapolated: its quality at the anchor's rate, and its rate
//! at the anchor's quality.

use anyhow::{Context, Result};

use super::interpolate::Interpolant;
use super::{lograte_to_quality, quality_to_lograte, validate, Interpolation, RdPoint};

/// The test curve at one anchor point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointDelta {
    /// The anchor's point.
    pub anchor: RdPoint,
    /// The test's quality at the anchor's rate minus the anchor's quality
    /// (positive: the test is better); `None` when the rate lies outside the
    /// test curve's rate range.
    pub quality_delta: Option<f64>,
    /// The test's rate at the anchor's quality relative to the anchor's rate,
    /// in percent (negative: the test needs fewer bits); `None` when the
    /// quality lies outside the test curve's quality range.
    pub rate_delta_percent: Option<f64>,
}

/// The test curve at each point of `anchor`, in order of increasing rate.
///
/// Errors like [`super::compare`] when a curve cannot be interpolated.
pub fn pointwise(anchor: &[RdPoint], test: &[RdPoint], method: Interpolation) -> Result<Vec<PointDelta>> {
    validate(anchor, method).context("anchor curve")?;
    let by_rate = Interpolant::new(&lograte_to_quality(test, method).context("test curve")?, method)?;
    let by_quality = Interpolant::new(&quality_to_lograte(test, method).context("test curve")?, method)?;
    let mut points = anchor.to_vec();
    points.sort_by(|a, b| a.bpp.total_cmp(&b.bpp));
    Ok(points
        .into_iter()
        .map(|p| {
            let lograte = p.bpp.log10();
            PointDelta {
                anchor: p,
                quality_delta: by_rate.value(lograte).map(|q| q - p.quality),
                rate_delta_percent: by_quality.value(p.quality).map(|r| (10f64.powf(r - lograte) - 1.0) * 100.0),
            }
        })
        .collect())
}

/// A plain-text table of [`pointwise`] results (for `neco bd --points`): one
/// row per anchor point, then a line counting the points inside the test's
/// rate range at which the test is better. Every line ends with `\n`.
pub fn format_points(test_name: &str, anchor_name: &str, deltas: &[PointDelta]) -> String {
    let mut out = format!("{test_name} at the points of {anchor_name}:\n");
    out.push_str("  anchor bpp  anchor quality  Δquality at equal rate  Δrate at equal quality\n");
    for d in deltas {
        let quality = d.quality_delta.map_or("-".to_string(), |q| format!("{q:+.4}"));
        let rate = d.rate_delta_percent.map_or("-".to_string(), |r| format!("{r:+.1} %"));
        out.push_str(&format!("  {:>10.4}  {:>14.4}  {:>22}  {:>22}\n", d.anchor.bpp, d.anchor.quality, quality, rate));
    }
    let inside: Vec<f64> = deltas.iter().filter_map(|d| d.quality_delta).collect();
    let better = inside.iter().filter(|&&q| q > 0.0).count();
    let outside = deltas.len() - inside.len();
    out.push_str(&format!(
        "  better at {better} of the {} anchor points inside its rate range{}\n",
        inside.len(),
        match outside {
            0 => String::new(),
            n => format!(" ({n} outside it, not compared)"),
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(f64, f64)]) -> Vec<RdPoint> {
        points.iter().map(|&(r, q)| RdPoint::new(r, q)).collect()
    }

    /// WebP's measured Kodak curve in `shared/reference/kodak_rd.json`.
    const WEBP: [(f64, f64); 7] = [
        (0.217, 28.109),
        (0.377, 30.194),
        (0.577, 32.202),
        (0.769, 33.732),
        (0.939, 34.872),
        (1.448, 37.606),
        (2.798, 41.66),
    ];

    #[test]
    fn a_uniform_rate_saving_is_read_exactly_at_every_point() {
        let anchor = curve(&WEBP);
        let test: Vec<RdPoint> = anchor.iter().map(|p| RdPoint::new(p.bpp * 0.9, p.quality)).collect();
        for method in Interpolation::ALL {
            let deltas = pointwise(&anchor, &test, method).unwrap();
            assert_eq!(deltas.len(), 7);
            for d in &deltas {
                // Same qualities, so the test's rate at the anchor's quality is a node.
                let r = d.rate_delta_percent.unwrap();
                let tolerance = if method == Interpolation::Cubic { 0.5 } else { 1e-9 };
                assert!((r + 10.0).abs() < tolerance, "{method}: {r}");
            }
            // The test's rates span 0.9x the anchor's, so the top anchor rate lies outside.
            assert!(deltas[6].quality_delta.is_none(), "{method}");
            assert!(deltas[..6].iter().all(|d| d.quality_delta.unwrap() > 0.0), "{method}");
        }
    }

    #[test]
    fn a_uniform_quality_gain_is_read_exactly_at_every_point() {
        let anchor = curve(&WEBP);
        let test: Vec<RdPoint> = anchor.iter().map(|p| RdPoint::new(p.bpp, p.quality + 0.5)).collect();
        let deltas = pointwise(&anchor, &test, Interpolation::Akima).unwrap();
        for d in &deltas {
            assert!((d.quality_delta.unwrap() - 0.5).abs() < 1e-12);
        }
        // The anchor's lowest quality lies below the test's range.
        assert!(deltas[0].rate_delta_percent.is_none());
        assert!(deltas[1..].iter().all(|d| d.rate_delta_percent.unwrap() < 0.0));
        let table = format_points("test", "webp", &deltas);
        assert!(table.contains("better at 7 of the 7 anchor points"), "{table}");
    }

    #[test]
    fn crossing_curves_are_better_only_where_they_lead() {
        // Worse than the anchor at low rates, better at high ones.
        let anchor = curve(&WEBP);
        let test: Vec<RdPoint> =
            anchor.iter().enumerate().map(|(i, p)| RdPoint::new(p.bpp, p.quality + i as f64 * 0.2 - 0.5)).collect();
        let deltas = pointwise(&anchor, &test, Interpolation::Pchip).unwrap();
        let signs: Vec<bool> = deltas.iter().map(|d| d.quality_delta.unwrap() > 0.0).collect();
        assert_eq!(signs, [false, false, false, true, true, true, true]);
        for d in &deltas {
            if let (Some(q), Some(r)) = (d.quality_delta, d.rate_delta_percent) {
                assert_eq!(q > 0.0, r < 0.0, "both readings agree on a monotone curve: {d:?}");
            }
        }
        let table = format_points("test", "webp", &deltas);
        assert!(table.contains("better at 4 of the 7 anchor points inside its rate range\n"), "{table}");
    }

    #[test]
    fn disjoint_curves_compare_nothing() {
        let anchor = curve(&WEBP);
        let test = curve(&[(5.0, 45.0), (6.0, 46.0), (7.0, 47.0), (8.0, 48.0)]);
        let deltas = pointwise(&anchor, &test, Interpolation::Akima).unwrap();
        assert!(deltas.iter().all(|d| d.quality_delta.is_none() && d.rate_delta_percent.is_none()));
        let table = format_points("test", "webp", &deltas);
        assert!(table.contains("better at 0 of the 0 anchor points inside its rate range (7 outside it"), "{table}");
    }

    #[test]
    fn too_few_points_are_an_error() {
        let anchor = curve(&WEBP);
        assert!(pointwise(&anchor, &curve(&[(1.0, 30.0), (2.0, 33.0)]), Interpolation::Cubic).is_err());
        assert!(pointwise(&curve(&[(1.0, 30.0)]), &anchor, Interpolation::Akima).is_err());
    }
}
