//! Command-line speed next to the traditional codecs, in the same run.
//!
//! A user compares `neco encode` with `cwebp` as programs: process start-up, reading and
//! writing files, loading the model and the codec work all count. [`run_cli_speed`] therefore
//! times each codec's own command-line encoder and decoder as child processes, per image, and
//! interleaves the codecs image by image (neco, JPEG, WebP, …, then the next image), so that
//! noise from other load on the machine falls on all of them alike. It reports per codec the
//! median encode and decode wall time per image, the mean bpp from the coded file's size and
//! the mean PSNR (8-bit RGB), so the operating points can be compared too.
//!
//! The anchors run with the settings of `neco anchors` (those of the reference curves in
//! `../shared/reference/kodak_rd.json`, single-threaded); neco runs with `--threads`.

use crate::anchors::Anchor;
use crate::bench::{load_images, median, BenchImage};
use anyhow::{ensure, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One codec at one setting.
#[derive(Debug, Clone, PartialEq)]
pub enum CliCodec {
    /// The `neco` binary with a model (built-in name or weights path) and a quality.
    Neco { model: String, quality: u8 },
    /// A traditional codec's CLIs with its parameter (JPEG/WebP quality, AVIF quantizer, JPEG XL
    /// distance, HEVC CRF).
    Anchor { anchor: Anchor, param: f64 },
}

impl CliCodec {
    pub fn label(&self) -> String {
        match self {
            CliCodec::Neco { model, quality } => format!("neco {model} q{quality}"),
            CliCodec::Anchor { anchor, param } => format!("{} {param}", anchor.name()),
        }
    }

    /// The programs that run, for the table.
    pub fn programs(&self) -> String {
        match self {
            CliCodec::Neco { .. } => "neco encode / neco decode".into(),
            CliCodec::Anchor { anchor, .. } => anchor.programs().join(" / "),
        }
    }
}

/// Parses `CODEC=PARAM` (e.g. `webp=75`, `jxl=1.5`).
pub fn parse_anchor_setting(text: &str) -> Result<CliCodec> {
    let (name, param) =
        text.split_once('=').with_context(|| format!("{text:?}: expected CODEC=PARAM, e.g. webp=75"))?;
    let anchor: Anchor = name.parse()?;
    let param: f64 = param.parse().with_context(|| format!("{text:?}: {param:?} is not a number"))?;
    Ok(CliCodec::Anchor { anchor, param })
}

#[derive(Debug, Clone)]
pub struct CliSpeedConfig {
    pub codecs: Vec<CliCodec>,
    pub data: PathBuf,
    pub images: usize,
    /// Timed rounds over all images (each image is coded once per round by every codec).
    pub repeat: usize,
    /// The `neco` binary to time.
    pub neco: PathBuf,
    /// `--threads` for neco.
    pub threads: usize,
    pub verbose: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliSpeed {
    pub codec: String,
    pub programs: String,
    pub images: usize,
    pub samples: usize,
    pub encode_median_s: f64,
    pub decode_median_s: f64,
    pub bpp: f64,
    pub psnr: f64,
}

/// A temporary folder per run, removed afterwards.
fn scratch() -> Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("neco-cli-speed").tempdir().context("cannot create a temporary folder")
}

fn timed(program: &Path, args: &[&std::ffi::OsStr]) -> Result<f64> {
    let started = Instant::now();
    let out = Command::new(program).args(args).output().with_context(|| format!("cannot run {}", program.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("")
    );
    Ok(seconds)
}

struct Sample {
    encode_s: f64,
    decode_s: f64,
    bytes: u64,
    psnr: f64,
}

fn code_with_neco(cfg: &CliSpeedConfig, model: &str, quality: u8, image: &BenchImage, dir: &Path) -> Result<Sample> {
    let input = dir.join("input.png");
    let original = image::RgbImage::from_raw(image.width, image.height, image.rgb.clone()).context("image buffer")?;
    original.save(&input)?;
    let (coded, decoded) = (dir.join("out.neco"), dir.join("out.png"));
    let (q, t) = (quality.to_string(), cfg.threads.to_string());
    let encode_s = timed(
        &cfg.neco,
        &[
            "encode".as_ref(),
            input.as_os_str(),
            coded.as_os_str(),
            "--model".as_ref(),
            model.as_ref(),
            "--quality".as_ref(),
            q.as_ref(),
            "--threads".as_ref(),
            t.as_ref(),
            "--quiet".as_ref(),
        ],
    )?;
    let decode_s = timed(
        &cfg.neco,
        &[
            "decode".as_ref(),
            coded.as_os_str(),
            decoded.as_os_str(),
            "--threads".as_ref(),
            t.as_ref(),
            "--quiet".as_ref(),
        ],
    )?;
    let bytes = std::fs::metadata(&coded)?.len();
    let back = image::open(&decoded).with_context(|| format!("cannot read {}", decoded.display()))?.to_rgb8();
    Ok(Sample { encode_s, decode_s, bytes, psnr: neco::metrics::psnr_u8(&image.rgb, back.as_raw()) })
}

fn code_with_anchor(anchor: Anchor, param: f64, image: &BenchImage, dir: &Path) -> Result<Sample> {
    let original = image::RgbImage::from_raw(image.width, image.height, image.rgb.clone()).context("image buffer")?;
    let coded = anchor.code(&original, param, dir)?;
    Ok(Sample {
        encode_s: coded.encode_seconds,
        decode_s: coded.decode_seconds,
        bytes: coded.bytes,
        psnr: neco::metrics::psnr_u8(&image.rgb, coded.decoded.as_raw()),
    })
}

/// Times every codec on the first `images` images, interleaved; one untimed warm-up round on
/// the first image first (page cache, model files).
pub fn run_cli_speed(cfg: &CliSpeedConfig) -> Result<Vec<CliSpeed>> {
    ensure!(!cfg.codecs.is_empty(), "no codecs to time");
    ensure!(cfg.repeat > 0, "--repeat must be at least 1");
    ensure!(cfg.neco.is_file(), "the neco binary {} does not exist", cfg.neco.display());
    for codec in &cfg.codecs {
        if let CliCodec::Anchor { anchor, .. } = codec {
            anchor.check_available()?;
        }
    }
    let images = load_images(&cfg.data, cfg.images)?;
    let dir = scratch()?;
    let code = |codec: &CliCodec, image: &BenchImage| -> Result<Sample> {
        match codec {
            CliCodec::Neco { model, quality } => code_with_neco(cfg, model, *quality, image, dir.path()),
            CliCodec::Anchor { anchor, param } => code_with_anchor(*anchor, *param, image, dir.path()),
        }
    };
    for codec in &cfg.codecs {
        code(codec, &images[0]).with_context(|| format!("{} (warm-up)", codec.label()))?;
    }
    let mut samples: Vec<Vec<(Sample, u64)>> = cfg.codecs.iter().map(|_| vec![]).collect();
    for round in 0..cfg.repeat {
        for (i, image) in images.iter().enumerate() {
            if cfg.verbose {
                eprintln!("round {}/{}, image {}/{} {}", round + 1, cfg.repeat, i + 1, images.len(), image.name);
            }
            for (k, codec) in cfg.codecs.iter().enumerate() {
                let s = code(codec, image).with_context(|| format!("{} on {}", codec.label(), image.name))?;
                samples[k].push((s, image.pixels()));
            }
        }
    }
    Ok(cfg
        .codecs
        .iter()
        .zip(samples)
        .map(|(codec, s)| {
            let n = s.len() as f64;
            CliSpeed {
                codec: codec.label(),
                programs: codec.programs(),
                images: images.len(),
                samples: s.len(),
                encode_median_s: median(&s.iter().map(|(x, _)| x.encode_s).collect::<Vec<_>>()),
                decode_median_s: median(&s.iter().map(|(x, _)| x.decode_s).collect::<Vec<_>>()),
                bpp: s.iter().map(|(x, px)| x.bytes as f64 * 8.0 / *px as f64).sum::<f64>() / n,
                psnr: s.iter().map(|(x, _)| x.psnr).sum::<f64>() / n,
            }
        })
        .collect())
}

/// A Markdown table (for the README).
pub fn format_cli_speed(results: &[CliSpeed], threads: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if let Some(r) = results.first() {
        let _ = writeln!(
            s,
            "{} image(s), {} sample(s) per codec, medians per image; neco with {threads} thread(s), anchors \
             single-threaded (`neco anchors` settings)\n",
            r.images, r.samples
        );
    }
    let _ = writeln!(s, "| codec | programs | encode s | decode s | bpp | PSNR dB |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for r in results {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.2} |",
            r.codec, r.programs, r.encode_median_s, r.decode_median_s, r.bpp, r.psnr
        );
    }
    s
}
