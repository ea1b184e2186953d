//! The `neco` command line: encode, decode, inspect, list models, demo, train.

mod anchors_cmd;
mod bench_cmd;
mod codec_cmd;
mod dataset_cmd;
mod eval_cmd;
mod output;
mod report_cmd;
mod train_cmd;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use neco::image_io::{decode_image_bytes, encode_image_bytes};
use neco::metrics::{bits_per_pixel, psnr_u8};
use neco::{available_models, Codec, EncodeParams, DEFAULT_MODEL};
use output::{read_input, write_output};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The Kodak parrots (kodim23), shipped inside the binary so `neco demo`
/// works anywhere. Kodak images are free for research use.
const DEMO_IMAGE: &[u8] = include_bytes!("../../../assets/kodim23.png");

#[derive(Parser)]
#[command(name = "neco", version, about = "neco: a learned image and video codec")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// The arguments are parsed once per process, so the size of the largest
// variant (training's many options) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Compress images (PNG, JPEG, PPM/PGM, TIFF, WebP, BMP) into .neco files:
    /// `neco encode IN OUT`, or `neco encode IN... -o DIR`.
    Encode(codec_cmd::EncodeArgs),
    /// Decompress .neco files; the output format follows the extension (PNG by default):
    /// `neco decode IN OUT`, or `neco decode IN... -o DIR [--format jpg]`.
    Decode(codec_cmd::DecodeArgs),
    /// Print a file's header, model, fingerprint, chunks and bpp.
    Info {
        /// A .neco file, or - for standard input.
        file: PathBuf,
    },
    /// List the models this build can use.
    Models,
    /// Train a model on image folders (rate-distortion loss).
    Train(train_cmd::TrainArgs),
    /// Time encoding and decoding (and peak memory) of models, optionally next to CompressAI.
    Bench(bench_cmd::BenchArgs),
    /// Code a dataset to real files and measure bpp, PSNR, MS-SSIM, time and memory per image
    /// (`neco eval merge` combines shards).
    Eval(eval_cmd::EvalArgs),
    /// Traditional-codec anchors (JPEG, WebP, AVIF, JPEG XL, HEVC) through their CLIs, measured
    /// like `neco eval`.
    Anchors(anchors_cmd::AnchorsArgs),
    /// BD-rate and BD-PSNR of RD curves against an anchor (Akima, PCHIP or cubic).
    Bd(eval_cmd::BdArgs),
    /// RD plots (PNG, SVG), the BD table and a crop viewer in one static HTML report.
    Report(report_cmd::ReportArgs),
    /// Evaluation datasets: list them, fetch them (verified against pinned SHA-256s) and verify
    /// them on disk.
    Dataset(dataset_cmd::DatasetArgs),
    /// Encode and decode a sample image, and print bpp and PSNR.
    Demo {
        /// Image to use instead of the built-in sample.
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(short, long)]
        quality: Option<u8>,
        #[arg(short, long, default_value = DEFAULT_MODEL)]
        model: String,
        /// Where to write the .neco file and the decoded PNG.
        #[arg(long, default_value = "neco-demo")]
        out_dir: PathBuf,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version: print and exit 0
        Err(err) => {
            // Usage errors get the same one-line form as every other error, with a pointer to
            // --help instead of clap's multi-line usage block.
            // The message may continue on indented lines (e.g. the missing arguments); those are
            // joined on, the usage block after the first blank line is dropped.
            let rendered = err.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let message = message.join(" ");
            let message = message.trim_start_matches("error: ");
            let message = if message.is_empty() { "invalid arguments" } else { message };
            let command = std::env::args().nth(1).filter(|c| !c.starts_with('-'));
            let help = match command.filter(|c| Cli::command().find_subcommand(c).is_some()) {
                Some(c) => format!("neco {c} --help"),
                None => "neco --help".to_string(),
            };
            eprintln!("neco: error: {message} (see {help})");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(cli) {
        // One line: the error and its causes, most general first.
        eprintln!("neco: error: {}", codec_cmd::one_line(&err));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train_cmd::train(args),
        Command::Bench(args) => bench_cmd::bench(args),
        Command::Eval(args) => eval_cmd::eval(args),
        Command::Anchors(args) => anchors_cmd::anchors(args),
        Command::Bd(args) => eval_cmd::bd(args),
        Command::Report(args) => report_cmd::report(args),
        Command::Dataset(args) => dataset_cmd::dataset(args),
        Command::Encode(args) => codec_cmd::encode(args),
        Command::Decode(args) => codec_cmd::decode(args),
        Command::Info { file } => codec_cmd::info(&file),
        Command::Models => {
            for m in available_models() {
                let default = if m.name == DEFAULT_MODEL { " (default)" } else { "" };
                println!("{:<12} id {:<3} {}{default}", m.name, m.id, m.description);
            }
            Ok(())
        }
        Command::Demo { image, quality, model, out_dir } => demo(image.as_deref(), quality, &model, &out_dir),
    }
}

fn demo(image_path: Option<&Path>, quality: Option<u8>, model: &str, out_dir: &Path) -> Result<()> {
    let (name, source) = match image_path {
        Some(p) => (p.file_stem().unwrap_or_default().to_string_lossy().into_owned(), read_input(p)?),
        None => ("kodim23".to_string(), DEMO_IMAGE.to_vec()),
    };
    let original = decode_image_bytes(&source, &name)?;
    let codec = Codec::load(model)?;
    let params = EncodeParams { quality, ..Default::default() };

    let start = Instant::now();
    let bytes = codec.encode_image(&original, &params)?;
    let encode_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let decoded = codec.decode_image(&bytes)?;
    let decode_s = start.elapsed().as_secs_f64();

    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let neco_path = out_dir.join(format!("{name}.neco"));
    let png_path = out_dir.join(format!("{name}.decoded.png"));
    write_output(&neco_path, &bytes)?;
    write_output(&png_path, &encode_image_bytes(&decoded, image::ImageFormat::Png)?)?;

    let (w, h) = (original.width(), original.height());
    let psnr = psnr_u8(original.to_rgb8().as_raw(), decoded.to_rgb8().as_raw());
    let quality = quality.unwrap_or(codec.default_quality());
    println!("{name}: {w}x{h}, model {model}, quality {quality}");
    println!("  wrote {} ({} bytes) and {}", neco_path.display(), bytes.len(), png_path.display());
    println!("  bpp  {:.4}  (from the file size, container included)", bits_per_pixel(bytes.len(), w, h));
    println!("  PSNR {psnr:.2} dB  (8-bit RGB)");
    println!("  encode {encode_s:.3} s, decode {decode_s:.3} s");
    Ok(())
}
