//! Evaluation results: the per-image CSV, its summary in CompressAI's results schema, and
//! merging shards.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One coded image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRow {
    pub model: String,
    pub quality: u8,
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// From the file size, container included.
    pub bpp: f64,
    /// On 8-bit RGB.
    pub psnr: f64,
    pub ms_ssim: f64,
    pub encode_seconds: f64,
    pub decode_seconds: f64,
    pub peak_rss_mb: f64,
}

/// Appends rows to a CSV, writing the header only to a new file; flushed per row so an
/// interrupted run keeps what it finished.
pub struct RowWriter {
    writer: csv::Writer<std::fs::File>,
}

impl RowWriter {
    pub fn append(path: &Path) -> Result<Self> {
        let fresh = !path.exists() || std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let writer = csv::WriterBuilder::new().has_headers(fresh).from_writer(file);
        Ok(Self { writer })
    }

    pub fn write(&mut self, row: &ImageRow) -> Result<()> {
        self.writer.serialize(row)?;
        self.writer.flush()?;
        Ok(())
    }
}

/// All rows of a CSV (none if it does not exist yet).
pub fn read_rows(path: &Path) -> Result<Vec<ImageRow>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .collect::<std::result::Result<Vec<ImageRow>, _>>()
        .with_context(|| format!("{} is not a neco eval CSV", path.display()))
}

/// CompressAI's results JSON: `{"name", "description", "results": {"bpp": [...], ...}}`,
/// one entry per setting, each the mean over images (as CompressAI reports).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub description: String,
    pub results: SummaryResults,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SummaryResults {
    pub quality: Vec<u8>,
    pub images: Vec<usize>,
    pub bpp: Vec<f64>,
    #[serde(rename = "psnr-rgb")]
    pub psnr_rgb: Vec<f64>,
    #[serde(rename = "ms-ssim-rgb")]
    pub ms_ssim_rgb: Vec<f64>,
    pub encoding_time: Vec<f64>,
    pub decoding_time: Vec<f64>,
}

impl Summary {
    /// The means per setting as a plain-text table (one header line, one line per setting).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:>8} {:>7} {:>9} {:>10} {:>9} {:>9} {:>9}\n",
            "quality", "images", "bpp", "PSNR dB", "MS-SSIM", "enc s", "dec s"
        );
        let r = &self.results;
        for i in 0..r.quality.len() {
            out += &format!(
                "{:>8} {:>7} {:>9.4} {:>10.3} {:>9.5} {:>9.4} {:>9.4}\n",
                r.quality[i],
                r.images[i],
                r.bpp[i],
                r.psnr_rgb[i],
                r.ms_ssim_rgb[i],
                r.encoding_time[i],
                r.decoding_time[i]
            );
        }
        out
    }
}

/// Means per setting of one model's rows, settings in increasing order.
pub fn summarize(rows: &[ImageRow], model: &str) -> Result<Summary> {
    let mut by_quality: BTreeMap<u8, Vec<&ImageRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.model == model) {
        by_quality.entry(r.quality).or_default().push(r);
    }
    anyhow::ensure!(!by_quality.is_empty(), "no results for model {model}");
    let mut res = SummaryResults::default();
    for (q, rs) in by_quality {
        let mean = |f: fn(&ImageRow) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64;
        res.quality.push(q);
        res.images.push(rs.len());
        res.bpp.push(mean(|r| r.bpp));
        res.psnr_rgb.push(mean(|r| r.psnr));
        res.ms_ssim_rgb.push(mean(|r| r.ms_ssim));
        res.encoding_time.push(mean(|r| r.encode_seconds));
        res.decoding_time.push(mean(|r| r.decode_seconds));
    }
    Ok(Summary {
        name: model.to_string(),
        description: "neco eval: bpp from real files (container included), PSNR on 8-bit RGB, MS-SSIM as \
                      pytorch-msssim; means over images"
            .to_string(),
        results: res,
    })
}

pub fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(summary)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Merges shard CSVs (or whole eval folders) into `out/results.csv` and one summary per model
/// (`out/summary.json`, or `out/summary-<model>.json` when several models are present).
/// Duplicate (model, image, setting) rows keep the first.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Vec<Summary>> {
    let mut files = vec![];
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "csv"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    anyhow::ensure!(!files.is_empty(), "nothing to merge");
    let mut seen = std::collections::HashSet::new();
    let mut rows = vec![];
    for f in &files {
        for r in read_rows(f)? {
            if seen.insert((r.model.clone(), r.image.clone(), r.quality)) {
                rows.push(r);
            }
        }
    }
    std::fs::create_dir_all(out)?;
    let merged = out.join("results.csv");
    if files.iter().any(|f| f == &merged) {
        anyhow::bail!("the merge output {} is also an input; merge into another folder", merged.display());
    }
    let _ = std::fs::remove_file(&merged);
    let mut w = RowWriter::append(&merged)?;
    for r in &rows {
        w.write(r)?;
    }
    let mut models: Vec<String> = rows.iter().map(|r| r.model.clone()).collect();
    models.sort();
    models.dedup();
    let mut summaries = vec![];
    for m in &models {
        let s = summarize(&rows, m)?;
        let name = if models.len() == 1 { "summary.json".to_string() } else { format!("summary-{}.json", sanitize(m)) };
        write_summary(&out.join(name), &s)?;
        summaries.push(s);
    }
    Ok(summaries)
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
