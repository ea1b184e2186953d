//! Loading RD curves from JSON: CompressAI results files, `neco eval`
//! summaries and `kodak_rd.json`.

use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::{points_from, RdPoint};

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
