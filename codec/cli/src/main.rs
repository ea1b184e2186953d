//! The `neco` command line: encode, decode, inspect, list models, demo, train.

mod output;
mod train_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use output::{read_input, write_output};
use neco::image_io::{decode_image_bytes, encode_image_bytes, format_for_path};
use neco::metrics::{bits_per_pixel, psnr_u8};
use neco::{available_models, Codec, EncodeParams, DEFAULT_MODEL};
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

#[derive(Subcommand)]
enum Command {
    /// Compress an image (PNG, JPEG, PPM/PGM, TIFF, WebP, BMP) into a .neco file.
    Encode {
        /// Input image, or - for standard input.
        input: PathBuf,
        /// Output .neco file, or - for standard output.
        output: PathBuf,
        /// Quality 1..=100 (higher: better and larger).
        #[arg(short, long)]
        quality: Option<u8>,
        /// Model name (see `neco models`).
        #[arg(short, long, default_value = DEFAULT_MODEL)]
        model: String,
    },
    /// Decompress a .neco file; the output format follows the extension (PNG by default).
    Decode {
        /// Input .neco file, or - for standard input.
        input: PathBuf,
        /// Output image, or - for standard output (PNG).
        output: PathBuf,
    },
    /// Print a file's header, model, chunks and bpp.
    Info { file: PathBuf },
    /// List the models this build can use.
    Models,
    /// Train a model on image folders (rate-distortion loss).
    Train(train_cmd::TrainArgs),
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
    if let Err(err) = run(Cli::parse()) {
        // One line: the error and its causes, most general first.
        let causes: Vec<String> = err.chain().map(|c| c.to_string()).collect();
        eprintln!("neco: error: {}", causes.join(": "));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train_cmd::train(args),
        Command::Encode { input, output, quality, model } => {
            let codec = Codec::load(&model)?;
            let image = decode_image_bytes(&read_input(&input)?, &input.display().to_string())?;
            let bytes = codec.encode_image(&image, &EncodeParams { quality })?;
            write_output(&output, &bytes)
        }
        Command::Decode { input, output } => {
            let bytes = read_input(&input)?;
            let image = Codec::decode_any(&bytes).with_context(|| format!("cannot decode {}", input.display()))?;
            let format = if output == Path::new("-") { image::ImageFormat::Png } else { format_for_path(&output)? };
            write_output(&output, &encode_image_bytes(&image, format)?)
        }
        Command::Info { file } => print_info(&file),
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

fn print_info(file: &Path) -> Result<()> {
    let bytes = read_input(file)?;
    let info = Codec::inspect(&bytes).with_context(|| format!("cannot read {}", file.display()))?;
    let h = &info.header;
    println!("file:        {} ({} bytes)", file.display(), info.file_bytes);
    println!("kind:        {:?}, {:?}, {} bit", h.kind, h.colour, h.bit_depth);
    println!("size:        {}x{}", h.width, h.height);
    println!("model:       {} (id {})", info.model_name.unwrap_or("unknown"), h.model_id);
    println!("fingerprint: {}", info.fingerprint_hex());
    println!("params:      quality {}, rate parameter {}", h.params.quality, h.params.rate_param);
    println!("bpp:         {:.4}", bits_per_pixel(info.file_bytes, h.width, h.height));
    println!("container:   {} bytes of header and framing", info.overhead_bytes);
    for (i, (name, len)) in info.chunks.iter().enumerate() {
        println!("chunk {i}:     {name}, {len} bytes");
    }
    Ok(())
}

fn demo(image_path: Option<&Path>, quality: Option<u8>, model: &str, out_dir: &Path) -> Result<()> {
    let (name, source) = match image_path {
        Some(p) => (p.file_stem().unwrap_or_default().to_string_lossy().into_owned(), read_input(p)?),
        None => ("kodim23".to_string(), DEMO_IMAGE.to_vec()),
    };
    let original = decode_image_bytes(&source, &name)?;
    let codec = Codec::load(model)?;
    let params = EncodeParams { quality };

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
