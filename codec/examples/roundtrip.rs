//! Loads a model, encodes an image, decodes it again, and prints the rate and the distortion.
//!
//! ```sh
//! cargo run --release -p neco --example roundtrip -- photo.png [MODEL] [QUALITY]
//! ```
//!
//! MODEL is a built-in model name (`wavelet`, the default, or `hyperprior`) or a
//! `.safetensors` weights file; QUALITY is 1..=100.

use anyhow::{Context, Result};
use neco::metrics::{bits_per_pixel, psnr_u8};
use neco::{Codec, EncodeParams, DEFAULT_MODEL};
use std::time::Instant;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: roundtrip IMAGE [MODEL] [QUALITY]")?;
    let model = args.next().unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let quality = args.next().map(|q| q.parse::<u8>()).transpose().context("QUALITY must be 1..=100")?;

    let image = image::open(&path).with_context(|| format!("cannot read {path}"))?;
    let codec = Codec::load(&model)?;

    let start = Instant::now();
    let bytes = codec.encode_image(&image, &EncodeParams { quality, ..Default::default() })?;
    let encode_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let decoded = codec.decode_image(&bytes)?;
    let decode_s = start.elapsed().as_secs_f64();

    let (w, h) = (image.width(), image.height());
    let psnr = psnr_u8(image.to_rgb8().as_raw(), decoded.to_rgb8().as_raw());
    println!("{path}: {w}x{h}, model {}, quality {}", codec.name(), quality.unwrap_or(codec.default_quality()));
    println!("  {} bytes, {:.4} bpp (whole file)", bytes.len(), bits_per_pixel(bytes.len(), w, h));
    println!("  PSNR {psnr:.2} dB (8-bit RGB)");
    println!("  encode {encode_s:.3} s, decode {decode_s:.3} s");
    Ok(())
}
