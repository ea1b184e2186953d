//! `neco encode`, `neco decode` and `neco info`: one file or many, with a progress bar.
//!
//! `neco encode IN OUT` codes one image; `neco encode IN... -o DIR` codes each input to
//! `DIR/<stem>.neco` (decode: `DIR/<stem>.<format>`). In a batch a failing file is reported in
//! one line and the others go on; the command exits nonzero at the end if any failed.

use crate::output::{read_input, write_output};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neco::image_io::{decode_image_bytes, encode_image_as, output_format_for_path, OutputFormat};
use neco::metrics::bits_per_pixel;
use neco::{Codec, EncodeParams, FileInfo, DEFAULT_MODEL};
use neco_models::device::DeviceChoice;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options every coding command shares.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Where learned models run: cpu, cuda or auto (CUDA when available).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
    /// CPU threads for learned models (default: libtorch's choice).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print nothing but errors (no summaries, no progress bar).
    #[arg(long, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print each file's header details (model, colour format, setting, chunks).
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Input images (PNG, JPEG, PPM/PGM, TIFF, WebP, BMP; - is standard input), then the output
    /// .neco file (- is standard output). With -o every path is an input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write one <stem>.neco per input into this folder (created if missing).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Quality 1..=100 (higher: better and larger); the model's default if no setting is given.
    #[arg(short, long, value_parser = clap::value_parser!(u8).range(1..=100), group = "rate")]
    quality: Option<u8>,
    /// Rate-distortion λ (learned variable-rate models whose weights record their λs).
    #[arg(long, value_name = "L", group = "rate")]
    lambda: Option<f64>,
    /// Continuous rate level 0..=levels-1 (learned variable-rate models).
    #[arg(long, value_name = "LEVEL", group = "rate")]
    level: Option<f64>,
    /// Target bits per pixel: the largest setting whose file is at most this (as cwebp -size).
    #[arg(long, value_name = "TARGET", group = "rate")]
    bpp: Option<f64>,
    /// Model name (see `neco models`) or a .safetensors weights file.
    #[arg(short, long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Learned models: code in independent N×N-pixel tiles (N a multiple of the model's
    /// stride), whatever the image size. Default: images over 2048×2048 pixels in 1024 tiles.
    #[arg(long, value_name = "N", conflicts_with = "bpp")]
    tile: Option<u32>,
    /// Learned models: encoder effort 0..=9. Above 0 the encoder refines the latents for each
    /// image (more iterations per level): smaller files at the same quality, slower encoding,
    /// any neco decoder. Default 0.
    #[arg(short, long, value_parser = clap::value_parser!(u8).range(0..=9), conflicts_with = "bpp")]
    effort: Option<u8>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Input .neco files (- is standard input), then the output image (- is standard output).
    /// With -o every path is an input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Write one <stem>.<format> per input into this folder (created if missing).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Output format: png, jpg, ppm, pgm, pam, tiff, webp or bmp (default: from the output's
    /// extension, PNG when it has none, for -o and for standard output).
    #[arg(short, long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<OutputFormat>,
    /// Decode with this model or weights file instead of the built-in model the file names
    /// (needed for files made with weights this build does not ship).
    #[arg(short, long)]
    model: Option<String>,
    #[command(flatten)]
    run: RunArgs,
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    s.parse().map_err(|e: anyhow::Error| e.to_string())
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    OutputFormat::from_name(s).map_err(|e| e.to_string())
}

/// One input and where its result goes.
struct Job {
    input: PathBuf,
    output: PathBuf,
}

/// Turns `PATH...` and `-o DIR` into jobs; `batch` is true with `-o`.
fn plan(paths: &[PathBuf], out_dir: Option<&Path>, extension: &str) -> Result<(Vec<Job>, bool)> {
    let Some(dir) = out_dir else {
        return match paths {
            [input, output] => Ok((vec![Job { input: input.clone(), output: output.clone() }], false)),
            [_] => bail!("missing output: give INPUT OUTPUT, or -o DIR to name outputs after the inputs"),
            _ => bail!("{} paths given: several inputs need -o DIR", paths.len()),
        };
    };
    if dir == Path::new("-") {
        bail!("-o needs a folder, not standard output");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create output folder {}", dir.display()))?;
    let jobs = paths
        .iter()
        .map(|input| {
            let stem = if input == Path::new("-") {
                "stdin".to_string()
            } else {
                input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into())
            };
            Job { input: input.clone(), output: dir.join(format!("{stem}.{extension}")) }
        })
        .collect();
    Ok((jobs, true))
}

/// Prints summaries and errors around an optional progress bar.
struct Reporter {
    bar: ProgressBar,
    quiet: bool,
    verbose: bool,
    /// Summaries go to stderr when standard output carries data.
    summaries_to_stderr: bool,
}

impl Reporter {
    fn new(jobs: &[Job], run: &RunArgs) -> Self {
        let bar = if jobs.len() > 1 && !run.quiet {
            let bar = ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed}<{eta}] {wide_msg}") {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        Reporter {
            bar,
            quiet: run.quiet,
            verbose: run.verbose,
            summaries_to_stderr: jobs.iter().any(|j| j.output == Path::new("-")),
        }
    }

    fn summary(&self, lines: &[String]) {
        if self.quiet {
            return;
        }
        self.bar.suspend(|| {
            for line in lines {
                if self.summaries_to_stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
        });
    }

    fn warn(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("neco: warning: {line}"));
        }
    }

    fn error(&self, err: &anyhow::Error) {
        self.bar.suspend(|| eprintln!("neco: error: {}", one_line(err)));
    }
}

/// An error and its causes on one line, most general first.
pub fn one_line(err: &anyhow::Error) -> String {
    let causes: Vec<String> = err.chain().map(|c| c.to_string().replace('\n', " ")).collect();
    causes.join(": ")
}

/// Runs `work` on each job; in a batch, failures are reported and counted, and the batch
/// fails at the end. A single job's error is returned as is.
fn run_jobs(jobs: &[Job], batch: bool, reporter: &Reporter, mut work: impl FnMut(&Job) -> Result<()>) -> Result<()> {
    if !batch {
        return work(&jobs[0]);
    }
    let mut failed = 0;
    let mut outputs = HashSet::new();
    for job in jobs {
        reporter.bar.set_message(job.input.display().to_string());
        let result = if outputs.insert(job.output.clone()) {
            work(job)
        } else {
            Err(anyhow!("{} would overwrite the output of an earlier input", job.output.display()))
        };
        if let Err(err) = result {
            reporter.error(&err.context(format!("{} failed", job.input.display())));
            failed += 1;
        }
        reporter.bar.inc(1);
    }
    reporter.bar.finish_and_clear();
    match failed {
        0 => Ok(()),
        _ => Err(anyhow!("{failed} of {} inputs failed", jobs.len())),
    }
}

/// Fails early, before any coding, when an output's folder does not exist.
fn check_output_folder(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("cannot write {}: folder {} does not exist", path.display(), parent.display());
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a folder", path.display());
    }
    Ok(())
}

fn prepare(run: &RunArgs) {
    if let Some(n) = run.threads {
        neco_models::device::set_threads(n);
    }
}

pub fn encode(args: EncodeArgs) -> Result<()> {
    prepare(&args.run);
    let (jobs, batch) = plan(&args.paths, args.out_dir.as_deref(), "neco")?;
    if !batch {
        check_output_folder(&jobs[0].output)?;
    }
    if jobs.iter().filter(|j| j.input == Path::new("-")).count() > 1 {
        bail!("standard input (-) can be read only once");
    }
    let codec = Codec::load_on(&args.model, args.run.device)?;
    let params = EncodeParams {
        quality: args.quality,
        rate_level: args.level,
        lambda: args.lambda,
        tile: args.tile,
        effort: args.effort,
    };
    // Check the setting once, on a 1x1 image, rather than fail every file of a batch alike
    // (effort at its cheapest level, on that tiny image).
    let check = EncodeParams { effort: params.effort.map(|e| e.min(1)), ..params.clone() };
    let needs_check = params.lambda.is_some() || params.rate_level.is_some() || params.tile.is_some();
    if args.bpp.is_none() && (needs_check || params.effort.is_some_and(|e| e > 0)) {
        codec.encode_image(&image::DynamicImage::new_rgb8(1, 1), &check)?;
    }
    let reporter = Reporter::new(&jobs, &args.run);
    run_jobs(&jobs, batch, &reporter, |job| {
        let start = Instant::now();
        let name = job.input.display().to_string();
        let image = decode_image_bytes(&read_input(&job.input)?, &name)?;
        let (bytes, setting) = match args.bpp {
            Some(target) => {
                let found = codec.encode_to_bpp(&image, target).with_context(|| format!("cannot encode {name}"))?;
                let mut setting = format!("{} for --bpp {target}", describe_setting(&codec, &found.params));
                if !found.reached {
                    setting.push_str(" (not reachable: this is the smallest file)");
                }
                (found.bytes, setting)
            }
            None => {
                let bytes = codec.encode_image(&image, &params).with_context(|| format!("cannot encode {name}"))?;
                (bytes, describe_setting(&codec, &params))
            }
        };
        write_output(&job.output, &bytes)?;
        let bpp = bits_per_pixel(bytes.len(), image.width(), image.height());
        let mut lines = vec![format!(
            "{} -> {}: {} bytes, {bpp:.4} bpp, {setting}, {:.2} s",
            name,
            job.output.display(),
            bytes.len(),
            start.elapsed().as_secs_f64()
        )];
        if reporter.verbose {
            lines.extend(details(&Codec::inspect(&bytes)?));
        }
        reporter.summary(&lines);
        Ok(())
    })
}

/// "quality 60", "level 3.2500 (λ 0.0177)".
fn describe_setting(codec: &Codec, params: &EncodeParams) -> String {
    let level = match (params.rate_level, params.lambda) {
        (Some(level), _) => Some(level),
        (None, Some(lambda)) => codec.level_for_lambda(lambda).ok(),
        (None, None) => None,
    };
    let setting = match level {
        Some(level) => match codec.lambda_for_level(level) {
            Some(lambda) => format!("level {level:.4} (λ {lambda:.5})"),
            None => format!("level {level:.4}"),
        },
        None => format!("quality {}", params.quality.unwrap_or(codec.default_quality())),
    };
    match params.effort {
        Some(effort) if effort > 0 => format!("{setting}, effort {effort}"),
        _ => setting,
    }
}

pub fn decode(args: DecodeArgs) -> Result<()> {
    prepare(&args.run);
    let extension = args.format.map_or("png", |f| f.extension);
    let (jobs, batch) = plan(&args.paths, args.out_dir.as_deref(), extension)?;
    if !batch {
        check_output_folder(&jobs[0].output)?;
    }
    if jobs.iter().filter(|j| j.input == Path::new("-")).count() > 1 {
        bail!("standard input (-) can be read only once");
    }
    // Models are loaded once and reused across the files of a batch.
    let mut codecs: Vec<Codec> = match &args.model {
        Some(model) => vec![Codec::load_on(model, args.run.device)?],
        None => vec![],
    };
    let reporter = Reporter::new(&jobs, &args.run);
    run_jobs(&jobs, batch, &reporter, |job| {
        let start = Instant::now();
        let name = job.input.display().to_string();
        let format = match args.format {
            Some(f) => f,
            None if job.output == Path::new("-") => OutputFormat::PNG,
            None => output_format_for_path(&job.output)?,
        };
        let bytes = read_input(&job.input)?;
        let info = Codec::inspect(&bytes).with_context(|| format!("cannot decode {name}"))?;
        let index = match codecs.iter().position(|c| c.matches(&info.header)) {
            Some(i) => i,
            None if args.model.is_some() => 0, // decode_image says why the model does not fit
            None => {
                let codec =
                    Codec::load_for_file(&bytes, args.run.device).with_context(|| format!("cannot decode {name}"))?;
                codecs.push(codec);
                codecs.len() - 1
            }
        };
        let image = codecs[index].decode_image(&bytes).with_context(|| format!("cannot decode {name}"))?;
        let (out, alpha_dropped) = encode_image_as(&image, format)?;
        if alpha_dropped {
            reporter.warn(&format!(
                "{}: {} has no alpha channel; alpha dropped",
                job.output.display(),
                extension_of(format)
            ));
        }
        write_output(&job.output, &out)?;
        let mut lines = vec![format!(
            "{name} -> {}: {}x{} {}, {} bytes, {:.4} bpp, {:.2} s",
            job.output.display(),
            image.width(),
            image.height(),
            colour_name(&info),
            bytes.len(),
            info.bpp(),
            start.elapsed().as_secs_f64()
        )];
        if reporter.verbose {
            lines.extend(details(&info));
        }
        reporter.summary(&lines);
        Ok(())
    })
}

fn extension_of(format: OutputFormat) -> String {
    format.extension.to_ascii_uppercase()
}

fn colour_name(info: &FileInfo) -> &'static str {
    use neco_bitstream::container::ColourFormat as C;
    match info.header.colour {
        C::Rgb => "RGB",
        C::Gray => "gray",
        C::Rgba => "RGBA",
        C::GrayAlpha => "gray+alpha",
        C::Yuv420 => "YUV 4:2:0",
        C::Yuv444 => "YUV 4:4:4",
    }
}

fn model_line(info: &FileInfo) -> String {
    let h = &info.header;
    let arch = info.model_name.unwrap_or("unknown architecture");
    match info.builtin_model {
        Some(name) => format!("{arch} (id {}), built-in model '{name}'", h.model_id),
        None => format!("{arch} (id {}), weights not shipped with this build (decode with --model)", h.model_id),
    }
}

fn setting_line(info: &FileInfo) -> String {
    let h = &info.header;
    if h.model_id == 1 {
        format!("quality {}", h.params.quality)
    } else {
        format!(
            "quality {}, rate level {:.4} (rate parameter {})",
            h.params.quality,
            info.rate_level(),
            h.params.rate_param
        )
    }
}

/// The verbose per-file lines.
fn details(info: &FileInfo) -> Vec<String> {
    let h = &info.header;
    let chunks: Vec<String> = info.chunks.iter().map(|(name, len)| format!("{name} {len} B")).collect();
    vec![
        format!("  model {}, fingerprint {}", model_line(info), info.fingerprint_hex()),
        format!(
            "  {}x{} {}, {}-bit original, {}",
            h.width,
            h.height,
            colour_name(info),
            h.bit_depth,
            setting_line(info)
        ),
        format!("  chunks: {}; container {} B", chunks.join(", "), info.overhead_bytes),
    ]
}

/// `neco info FILE`.
pub fn info(file: &Path) -> Result<()> {
    let bytes = read_input(file)?;
    let info = Codec::inspect(&bytes).with_context(|| format!("cannot read {}", file.display()))?;
    let h = &info.header;
    println!("file:        {} ({} bytes)", file.display(), info.file_bytes);
    println!("format:      neco {:?} stream", h.kind);
    println!("size:        {}x{}", h.width, h.height);
    println!("colour:      {}, {}-bit original (decodes to 8-bit)", colour_name(&info), h.bit_depth);
    println!("model:       {}", model_line(&info));
    println!("fingerprint: {}", info.fingerprint_hex());
    println!("setting:     {}", setting_line(&info));
    println!("bpp:         {:.4} (whole file)", info.bpp());
    println!(
        "container:   {} bytes of header and framing ({:.2}% of the file)",
        info.overhead_bytes,
        100.0 * info.overhead_bytes as f64 / info.file_bytes as f64
    );
    println!("chunks:      {}", info.chunks.len());
    for (i, (name, len)) in info.chunks.iter().enumerate() {
        println!("chunk {i}:     {name}, {len} bytes");
    }
    Ok(())
}
