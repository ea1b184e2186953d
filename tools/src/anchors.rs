//! Traditional-codec anchors (JPEG, WebP, AVIF, JPEG XL, HEVC intra) run through their real
//! command-line tools, measured exactly as `neco eval` measures neco: one CSV row per image and
//! setting (bpp from the coded file's size, container included; PSNR on 8-bit RGB; MS-SSIM as
//! pytorch-msssim; encode/decode wall seconds of the CLI, one thread) and a summary per codec
//! in CompressAI's results schema. Runs are resumable: rows already in the CSV are skipped.
//!
//! Settings follow `shared/reference/kodak_rd.json`'s `measured_here` entries:
//! `cjpeg -optimize -quality Q` (PPM input), `cwebp -m 6 -q Q`, `avifenc -s 6 -y 444 --min Q
//! --max Q`, `cjxl -e 7 -d D`, and HEVC intra as `ffmpeg -c:v libx265 -pix_fmt yuv444p
//! -x265-params keyint=1:info=0 -crf Q -f hevc` into a raw .hevc bitstream.

use crate::eval::{
    dataset_images, ms_ssim_rgb8, peak_rss_mb, read_rows, run_pool, summarize, write_summary, ImageRow, Summary,
};
use anyhow::{bail, ensure, Context, Result};
use image::RgbImage;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A traditional codec measured through its CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    Jpeg,
    Webp,
    Avif,
    Jxl,
    Hevc,
}

impl Anchor {
    pub const ALL: [Anchor; 5] = [Anchor::Jpeg, Anchor::Webp, Anchor::Avif, Anchor::Jxl, Anchor::Hevc];

    /// The model name in CSV rows and summaries.
    pub fn name(self) -> &'static str {
        match self {
            Anchor::Jpeg => "jpeg",
            Anchor::Webp => "webp",
            Anchor::Avif => "avif",
            Anchor::Jxl => "jxl",
            Anchor::Hevc => "hevc",
        }
    }

    /// The encoder and decoder programs.
    pub fn programs(self) -> [&'static str; 2] {
        match self {
            Anchor::Jpeg => ["cjpeg", "djpeg"],
            Anchor::Webp => ["cwebp", "dwebp"],
            Anchor::Avif => ["avifenc", "avifdec"],
            Anchor::Jxl => ["cjxl", "djxl"],
            Anchor::Hevc => ["ffmpeg", "ffmpeg"],
        }
    }

    /// The Debian package that provides the programs.
    pub fn debian_package(self) -> &'static str {
        match self {
            Anchor::Jpeg => "libjpeg-turbo-progs",
            Anchor::Webp => "webp",
            Anchor::Avif => "libavif-bin",
            Anchor::Jxl => "libjxl-tools",
            Anchor::Hevc => "ffmpeg",
        }
    }

    /// The default sweep, as in kodak_rd.json's `param` lists (HEVC: CRF values).
    /// For JPEG XL the distances run from low to high quality (15 down to 1).
    pub fn default_params(self) -> Vec<f64> {
        let v: &[f64] = match self {
            Anchor::Jpeg => &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0],
            Anchor::Webp => &[5.0, 20.0, 40.0, 60.0, 75.0, 85.0, 95.0],
            Anchor::Avif => &[56.0, 50.0, 44.0, 38.0, 32.0, 26.0, 20.0, 14.0],
            Anchor::Jxl => &[15.0, 11.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0],
            Anchor::Hevc => &[42.0, 37.0, 32.0, 27.0, 22.0, 17.0, 12.0],
        };
        v.to_vec()
    }

    /// The `quality` column for a setting: the integer parameter itself, except for JPEG XL's
    /// fractional distances, where it is the index into the sweep (recorded in the summary's
    /// description).
    pub fn quality_label(self, index: usize, param: f64) -> u8 {
        match self {
            Anchor::Jxl => index as u8,
            _ => param.round() as u8,
        }
    }

    /// The encoder settings in words, with `P` for the swept parameter.
    pub fn settings(self) -> &'static str {
        match self {
            Anchor::Jpeg => "cjpeg -optimize -quality P (PPM input); djpeg",
            Anchor::Webp => "cwebp -m 6 -q P; dwebp",
            Anchor::Avif => "avifenc -s 6 -j 1 -y 444 --min P --max P; avifdec",
            Anchor::Jxl => "cjxl -e 7 -d P --num_threads=1; djxl",
            Anchor::Hevc => {
                "ffmpeg -c:v libx265 -pix_fmt yuv444p -x265-params keyint=1:info=0 -crf P -f hevc (raw Annex-B bitstream, no container); ffmpeg to rgb24 PNG"
            }
        }
    }

    /// Fails with the Debian package to install when a program is missing.
    pub fn check_available(self) -> Result<()> {
        for program in self.programs() {
            if !program_exists(program) {
                bail!(
                    "{} anchor: `{program}` not found on PATH; install the Debian package {} \
                     (apt-get install {}, or run ./setup.sh)",
                    self.name(),
                    self.debian_package(),
                    self.debian_package()
                );
            }
        }
        if self == Anchor::Hevc {
            let out = Command::new("ffmpeg").args(["-hide_banner", "-encoders"]).output()?;
            ensure!(
                String::from_utf8_lossy(&out.stdout).contains("libx265"),
                "hevc anchor: this ffmpeg has no libx265 encoder; install Debian's ffmpeg package"
            );
        }
        Ok(())
    }

    /// Codes `original` at `param` inside `dir` (which must exist and be private to this call).
    pub fn code(self, original: &RgbImage, param: f64, dir: &Path) -> Result<Coded> {
        let png = dir.join("input.png");
        original.save(&png).with_context(|| format!("cannot write {}", png.display()))?;
        let p = format_param(param);
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let (coded, decoded, enc, dec): (PathBuf, PathBuf, Vec<String>, Vec<String>) = match self {
            Anchor::Jpeg => {
                let ppm = dir.join("input.ppm");
                let mut data = format!("P6\n{} {}\n255\n", original.width(), original.height()).into_bytes();
                data.extend_from_slice(original.as_raw());
                std::fs::write(&ppm, data).with_context(|| format!("cannot write {}", ppm.display()))?;
                let (c, d) = (dir.join("out.jpg"), dir.join("out.ppm"));
                let enc = vec!["-optimize".into(), "-quality".into(), p, "-outfile".into(), s(&c), s(&ppm)];
                let dec = vec!["-ppm".into(), "-outfile".into(), s(&d), s(&c)];
                (c, d, enc, dec)
            }
            Anchor::Webp => {
                let (c, d) = (dir.join("out.webp"), dir.join("out.png"));
                let enc = vec!["-quiet".into(), "-m".into(), "6".into(), "-q".into(), p, s(&png), "-o".into(), s(&c)];
                let dec = vec!["-quiet".into(), s(&c), "-o".into(), s(&d)];
                (c, d, enc, dec)
            }
            Anchor::Avif => {
                let (c, d) = (dir.join("out.avif"), dir.join("out.png"));
                let enc = ["-s", "6", "-j", "1", "-y", "444", "--min", &p, "--max", &p]
                    .iter()
                    .map(|x| x.to_string())
                    .chain([s(&png), s(&c)])
                    .collect();
                let dec = vec![s(&c), s(&d)];
                (c, d, enc, dec)
            }
            Anchor::Jxl => {
                let (c, d) = (dir.join("out.jxl"), dir.join("out.png"));
                let enc = vec![
                    s(&png),
                    s(&c),
                    "-e".into(),
                    "7".into(),
                    "-d".into(),
                    p,
                    "--num_threads=1".into(),
                    "--quiet".into(),
                ];
                let dec = vec![s(&c), s(&d), "--num_threads=1".into(), "--quiet".into()];
                (c, d, enc, dec)
            }
            Anchor::Hevc => {
                let (c, d) = (dir.join("out.hevc"), dir.join("out.png"));
                let mut enc: Vec<String> = ["-hide_banner", "-loglevel", "error", "-y", "-threads", "1", "-i"]
                    .iter()
                    .map(|x| x.to_string())
                    .collect();
                enc.push(s(&png));
                enc.extend(
                    [
                        "-frames:v",
                        "1",
                        "-c:v",
                        "libx265",
                        "-pix_fmt",
                        "yuv444p",
                        "-sws_flags",
                        "accurate_rnd+full_chroma_int",
                        "-x265-params",
                        "keyint=1:info=0:pools=1:frame-threads=1:log-level=error",
                        "-crf",
                        &p,
                        "-f",
                        "hevc",
                    ]
                    .iter()
                    .map(|x| x.to_string()),
                );
                enc.push(s(&c));
                let mut dec: Vec<String> =
                    ["-hide_banner", "-loglevel", "error", "-y", "-threads", "1", "-f", "hevc", "-i"]
                        .iter()
                        .map(|x| x.to_string())
                        .collect();
                dec.push(s(&c));
                dec.extend(
                    ["-frames:v", "1", "-sws_flags", "accurate_rnd+full_chroma_int", "-pix_fmt", "rgb24"]
                        .iter()
                        .map(|x| x.to_string()),
                );
                dec.push(s(&d));
                (c, d, enc, dec)
            }
        };
        let [encoder, decoder] = self.programs();
        let encode_seconds = run_tool(self, encoder, &enc)?;
        let bytes = std::fs::metadata(&coded).with_context(|| format!("{encoder} wrote no {}", coded.display()))?.len();
        let decode_seconds = run_tool(self, decoder, &dec)?;
        let decoded = image::open(&decoded).with_context(|| format!("cannot read {}", decoded.display()))?.to_rgb8();
        ensure!(
            decoded.dimensions() == original.dimensions(),
            "{decoder} gave {:?}, the original is {:?}",
            decoded.dimensions(),
            original.dimensions()
        );
        Ok(Coded { bytes, decoded, encode_seconds, decode_seconds, coded_path: coded })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Anchor {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Anchor::Jpeg,
            "webp" => Anchor::Webp,
            "avif" => Anchor::Avif,
            "jxl" | "jpegxl" | "jpeg-xl" => Anchor::Jxl,
            "hevc" | "x265" | "h265" => Anchor::Hevc,
            other => bail!("unknown anchor codec {other:?}; known: jpeg, webp, avif, jxl, hevc"),
        })
    }
}

/// One coding through the CLIs.
#[derive(Debug, Clone)]
pub struct Coded {
    /// Size of the coded file (container included).
    pub bytes: u64,
    pub decoded: RgbImage,
    pub encode_seconds: f64,
    pub decode_seconds: f64,
    pub coded_path: PathBuf,
}

fn format_param(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

fn program_exists(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| {
        let f = dir.join(program);
        f.is_file()
            && std::fs::metadata(&f)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                .unwrap_or(false)
    })
}

/// Runs a CLI and returns its wall seconds; a failure carries its stderr.
fn run_tool(anchor: Anchor, program: &str, args: &[String]) -> Result<f64> {
    let started = Instant::now();
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{program}` not found; install the Debian package {} (or run ./setup.sh)",
                anchor.debian_package()
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot run {program}"))
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("`{program} {}` failed ({}): {}", args.join(" "), out.status, err.trim());
    }
    Ok(seconds)
}

/// Codes one image and measures it as `neco eval` does.
pub fn measure(
    anchor: Anchor,
    original: &RgbImage,
    name: &str,
    index: usize,
    param: f64,
    dir: &Path,
) -> Result<ImageRow> {
    let coded = anchor.code(original, param, dir)?;
    let (width, height) = original.dimensions();
    let pixels = f64::from(width) * f64::from(height);
    Ok(ImageRow {
        model: anchor.name().to_string(),
        quality: anchor.quality_label(index, param),
        image: name.to_string(),
        width,
        height,
        bytes: coded.bytes,
        bpp: coded.bytes as f64 * 8.0 / pixels,
        psnr: neco::metrics::psnr_u8(original.as_raw(), coded.decoded.as_raw()),
        ms_ssim: ms_ssim_rgb8(original.as_raw(), coded.decoded.as_raw(), width, height),
        encode_seconds: coded.encode_seconds,
        decode_seconds: coded.decode_seconds,
        peak_rss_mb: peak_rss_mb().unwrap_or(f64::NAN),
    })
}

#[derive(Debug, Clone)]
pub struct AnchorsConfig {
    pub data: Vec<PathBuf>,
    pub anchors: Vec<Anchor>,
    /// Overrides every anchor's default sweep (for a single-anchor run).
    pub params: Option<Vec<f64>>,
    /// results.csv (all anchors' rows) and summary-<codec>.json per anchor.
    pub out: PathBuf,
    pub jobs: usize,
    pub quiet: bool,
}

impl AnchorsConfig {
    pub fn csv_path(&self) -> PathBuf {
        self.out.join("results.csv")
    }

    pub fn params_of(&self, anchor: Anchor) -> Vec<f64> {
        self.params.clone().unwrap_or_else(|| anchor.default_params())
    }
}

struct Task {
    anchor: Anchor,
    image: PathBuf,
    name: String,
    index: usize,
    param: f64,
}

/// Runs every anchor over the dataset; returns one summary per anchor (written to
/// `out/summary-<codec>.json`).
pub fn run_anchors(cfg: &AnchorsConfig) -> Result<Vec<Summary>> {
    ensure!(!cfg.anchors.is_empty(), "no anchor codec to run");
    for &a in &cfg.anchors {
        a.check_available()?;
        let params = cfg.params_of(a);
        ensure!(!params.is_empty(), "no parameters to sweep for {a}");
        if a != Anchor::Jxl {
            ensure!(
                params.iter().all(|p| p.fract() == 0.0 && (0.0..=255.0).contains(p)),
                "{a} takes integer parameters 0..=255"
            );
        }
    }
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("cannot create {}", cfg.out.display()))?;
    let images = dataset_images(&cfg.data, None)?;
    let csv_path = cfg.csv_path();
    let done: HashSet<(String, String, u8)> =
        read_rows(&csv_path)?.into_iter().map(|r| (r.model, r.image, r.quality)).collect();
    let mut tasks = VecDeque::new();
    for &anchor in &cfg.anchors {
        for (index, &param) in cfg.params_of(anchor).iter().enumerate() {
            for (path, name) in &images {
                let key = (anchor.name().to_string(), name.clone(), anchor.quality_label(index, param));
                if !done.contains(&key) {
                    tasks.push_back(Task { anchor, image: path.clone(), name: name.clone(), index, param });
                }
            }
        }
    }
    let scratch = std::env::temp_dir().join(format!("neco-anchors-{}", std::process::id()));
    let outcome = run_pool(
        tasks,
        cfg.jobs,
        cfg.quiet,
        &csv_path,
        "neco anchors",
        |worker| Ok(scratch.join(format!("job{worker}"))),
        |dir, task| {
            (|| {
                let _ = std::fs::remove_dir_all(&*dir);
                std::fs::create_dir_all(&*dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let original = image::open(&task.image)
                    .with_context(|| format!("cannot read {}", task.image.display()))?
                    .to_rgb8();
                measure(task.anchor, &original, &task.name, task.index, task.param, dir)
            })()
            .with_context(|| format!("{} {} at {}", task.anchor, task.image.display(), format_param(task.param)))
        },
    );
    let _ = std::fs::remove_dir_all(&scratch);
    outcome?;
    let rows = read_rows(&csv_path)?;
    let mut summaries = vec![];
    for &anchor in &cfg.anchors {
        let mut s = summarize(&rows, anchor.name())?;
        let params = cfg.params_of(anchor);
        let mapping = if anchor == Anchor::Jxl {
            let m: Vec<String> =
                params.iter().enumerate().map(|(i, p)| format!("{i}: d={}", format_param(*p))).collect();
            format!("; quality is the index into the distance sweep ({})", m.join(", "))
        } else {
            "; quality is the parameter P".to_string()
        };
        s.description = format!(
            "neco anchors, {}{mapping}. bpp from real files (container included), PSNR on 8-bit RGB, \
             MS-SSIM as pytorch-msssim; means over images",
            anchor.settings()
        );
        write_summary(&cfg.out.join(format!("summary-{}.json", anchor.name())), &s)?;
        summaries.push(s);
    }
    Ok(summaries)
}
