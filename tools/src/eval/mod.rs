//! `neco eval`: code every image of a dataset to a real file, decode it, and measure.
//!
//! Per image and setting one CSV row (bpp from the file size, PSNR on 8-bit RGB, MS-SSIM as
//! pytorch-msssim, encode and decode seconds, peak RSS); a summary in CompressAI's results
//! schema with the mean over images per setting. Runs are resumable (rows already in the CSV
//! are skipped), shardable (`--shard i/n` takes every n-th image) and parallel (`--jobs`).

mod pool;
mod results;

pub use pool::run_pool;
pub use results::{merge, read_rows, summarize, write_summary, ImageRow, RowWriter, Summary};

use crate::msssim::ms_ssim;
use anyhow::{bail, ensure, Context, Result};
use neco::{Codec, EncodeParams};
use neco_models::device::DeviceChoice;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Which part of a dataset this process evaluates: images whose index (in sorted order) is
/// `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    /// `i/n` with `0 <= i < n` (as Slurm's `$SLURM_ARRAY_TASK_ID/$N`).
    fn from_str(s: &str) -> Result<Self> {
        let (i, n) = s.split_once('/').context("a shard is written i/n, e.g. 3/16")?;
        let (index, count): (usize, usize) = (i.trim().parse()?, n.trim().parse()?);
        ensure!(count > 0 && index < count, "shard {index}/{count}: need 0 <= i < n");
        Ok(Shard { index, count })
    }
}

#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub data: Vec<PathBuf>,
    /// Built-in model name or weights path.
    pub model: String,
    /// Settings to sweep; each is coded as `EncodeParams { quality }`.
    pub qualities: Vec<u8>,
    pub out: PathBuf,
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub device: DeviceChoice,
    /// Keep the coded files and decoded PNGs under `out/files/`.
    pub keep_files: bool,
    pub quiet: bool,
    /// Encoder effort (latent refinement) of learned models, see [`EncodeParams::effort`];
    /// `None` = 0.
    pub effort: Option<u8>,
}

impl EvalConfig {
    /// The model column of the results: the model, plus the effort when above 0, so runs at
    /// different efforts can share a results file and are summarised apart.
    pub fn label(&self) -> String {
        match self.effort {
            Some(e) if e > 0 => format!("{}@effort{e}", self.model),
            _ => self.model.clone(),
        }
    }

    /// The CSV this run appends to (one per shard, so shards never write the same file).
    pub fn csv_path(&self) -> PathBuf {
        match self.shard {
            Some(s) => self.out.join(format!("results.shard-{}-of-{}.csv", s.index, s.count)),
            None => self.out.join("results.csv"),
        }
    }
}

struct Task {
    image: PathBuf,
    name: String,
    quality: u8,
}

/// Runs the evaluation; returns all rows of this run's CSV (earlier ones included).
pub fn run_eval(cfg: &EvalConfig) -> Result<Vec<ImageRow>> {
    ensure!(!cfg.qualities.is_empty(), "no --quality to evaluate");
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("cannot create {}", cfg.out.display()))?;
    let images = dataset_images(&cfg.data, cfg.shard)?;
    let csv_path = cfg.csv_path();
    // Loaded once up front to learn the model's settings, then handed to the first worker.
    let probe = Codec::load_on(&cfg.model, cfg.device)?;
    let qualities = settings_to_sweep(cfg, &probe);
    let probe = std::sync::Mutex::new(Some(probe));
    let label = cfg.label();
    let done: HashSet<(String, u8)> =
        read_rows(&csv_path)?.into_iter().filter(|r| r.model == label).map(|r| (r.image, r.quality)).collect();
    let mut tasks = VecDeque::new();
    for (path, name) in &images {
        for &q in &qualities {
            if !done.contains(&(name.clone(), q)) {
                tasks.push_back(Task { image: path.clone(), name: name.clone(), quality: q });
            }
        }
    }
    pool::run_pool(
        tasks,
        cfg.jobs,
        cfg.quiet,
        &csv_path,
        "neco eval",
        |_| match probe.lock().ok().and_then(|mut p| p.take()) {
            Some(codec) => Ok(codec),
            None => Codec::load_on(&cfg.model, cfg.device),
        },
        |codec, task| {
            evaluate_one(codec, cfg, &task)
                .with_context(|| format!("{} at quality {}", task.image.display(), task.quality))
        },
    )?;
    let rows = read_rows(&csv_path)?;
    if cfg.shard.is_none() {
        write_summary(&cfg.out.join("summary.json"), &summarize(&rows, &label)?)?;
    }
    Ok(rows)
}

/// The qualities to code. A fixed-rate model has one operating point, so it is coded once, at
/// the first requested quality (the row's label), instead of once per identical setting.
fn settings_to_sweep(cfg: &EvalConfig, codec: &Codec) -> Vec<u8> {
    if !codec.is_fixed_rate() {
        return cfg.qualities.clone();
    }
    if cfg.qualities.len() > 1 && !cfg.quiet {
        eprintln!(
            "neco eval: {} is a fixed-rate model (one operating point): coding each image once, labelled quality {}",
            cfg.model, cfg.qualities[0]
        );
    }
    cfg.qualities[..1].to_vec()
}

/// Images under `dirs` (or the files themselves) in sorted order, with names relative to their
/// folder, filtered to a shard.
pub fn dataset_images(dirs: &[PathBuf], shard: Option<Shard>) -> Result<Vec<(PathBuf, String)>> {
    let mut images = vec![];
    for dir in dirs {
        if dir.is_file() {
            images.push((dir.clone(), file_name(dir)));
            continue;
        }
        for path in neco_datasets::image_folder::list_images(dir)? {
            let name = path.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_else(|_| file_name(&path));
            images.push((path, name));
        }
    }
    images.sort();
    images.dedup();
    if images.is_empty() {
        bail!("no images found in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    Ok(match shard {
        None => images,
        Some(s) => images.into_iter().enumerate().filter(|(i, _)| i % s.count == s.index).map(|(_, x)| x).collect(),
    })
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

fn evaluate_one(codec: &Codec, cfg: &EvalConfig, task: &Task) -> Result<ImageRow> {
    let image = image::open(&task.image).with_context(|| format!("cannot read {}", task.image.display()))?;
    let original = image.to_rgb8();
    let (width, height) = original.dimensions();
    let params = EncodeParams { quality: Some(task.quality), effort: cfg.effort, ..Default::default() };
    let started = Instant::now();
    let bytes = codec.encode_image(&image::DynamicImage::ImageRgb8(original.clone()), &params)?;
    let encode_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let decoded = codec.decode_image(&bytes)?.to_rgb8();
    let decode_seconds = started.elapsed().as_secs_f64();
    ensure!(decoded.dimensions() == (width, height), "decoded size differs");
    if cfg.keep_files {
        let dir = cfg.out.join("files").join(format!("q{:03}", task.quality));
        std::fs::create_dir_all(&dir)?;
        let stem = task.name.replace(['/', '\\'], "_");
        std::fs::write(dir.join(format!("{stem}.neco")), &bytes)?;
        decoded.save(dir.join(format!("{stem}.png")))?;
    }
    let pixels = f64::from(width) * f64::from(height);
    Ok(ImageRow {
        model: cfg.label(),
        quality: task.quality,
        image: task.name.clone(),
        width,
        height,
        bytes: bytes.len() as u64,
        bpp: bytes.len() as f64 * 8.0 / pixels,
        psnr: neco::metrics::psnr_u8(original.as_raw(), decoded.as_raw()),
        ms_ssim: ms_ssim_rgb8(original.as_raw(), decoded.as_raw(), width, height),
        encode_seconds,
        decode_seconds,
        peak_rss_mb: peak_rss_mb().unwrap_or(f64::NAN),
    })
}

/// MS-SSIM of two 8-bit RGB images, as CompressAI evaluates it: pytorch-msssim on the images
/// scaled to [0, 1] with data_range 1, here in float64.
pub fn ms_ssim_rgb8(a: &[u8], b: &[u8], width: u32, height: u32) -> f64 {
    let _guard = tch::no_grad_guard();
    let to = |v: &[u8]| {
        Tensor::from_slice(v)
            .to_kind(Kind::Double)
            .view([i64::from(height), i64::from(width), 3])
            .permute([2, 0, 1])
            .unsqueeze(0)
            / 255.0
    };
    ms_ssim(&to(a), &to(b), 1.0).double_value(&[0])
}

/// The process's peak resident set (VmHWM), in MiB; process-wide, so with `--jobs` > 1 it
/// covers all concurrent codings.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
