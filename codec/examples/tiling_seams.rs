//! What tiling costs: codes every image of a folder whole and in forced tiles with a learned
//! model, and prints per-image and mean bpp (whole file) and PSNR (8-bit RGB) for each tile
//! size, with the mean differences to the untiled coding (docs/tiling.md).
//!
//! ```sh
//! cargo run --release -p neco --example tiling_seams -- DIR [MODEL] [QUALITIES] [TILES]
//! cargo run --release -p neco --example tiling_seams -- ../shared/datasets/kodak hyperprior 30,60,90 256,512
//! ```

use anyhow::{Context, Result};
use neco::metrics::{bits_per_pixel, psnr_u8};
use neco::{Codec, EncodeParams};

fn list(arg: Option<String>, default: &str) -> Result<Vec<u32>> {
    let text = arg.unwrap_or_else(|| default.to_string());
    text.split(',').map(|v| v.trim().parse().with_context(|| format!("not a number list: {text}"))).collect()
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().context("usage: tiling_seams DIR [MODEL] [QUALITIES] [TILES]")?;
    let model = args.next().unwrap_or_else(|| "hyperprior".to_string());
    let qualities = list(args.next(), "30,60,90")?;
    let tiles = list(args.next(), "256,512")?;
    let codec = Codec::load(&model)?;

    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {dir}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    let settings: Vec<Option<u32>> = std::iter::once(None).chain(tiles.iter().map(|&t| Some(t))).collect();
    let label = |s: &Option<u32>| s.map_or("whole".to_string(), |t| format!("tile {t}"));

    println!("image,quality,setting,bytes,bpp,psnr");
    // sums[quality][setting] = (bpp, psnr)
    let mut sums = vec![vec![(0.0, 0.0); settings.len()]; qualities.len()];
    for path in &paths {
        let image = image::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let original = image.to_rgb8();
        let (w, h) = original.dimensions();
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        for (qi, &quality) in qualities.iter().enumerate() {
            for (si, tile) in settings.iter().enumerate() {
                let params = EncodeParams { quality: Some(quality as u8), tile: *tile, ..Default::default() };
                let bytes = codec.encode_image(&image, &params)?;
                let decoded = codec.decode_image(&bytes)?.to_rgb8();
                let (bpp, psnr) = (bits_per_pixel(bytes.len(), w, h), psnr_u8(original.as_raw(), decoded.as_raw()));
                println!("{name},{quality},{},{},{bpp:.4},{psnr:.3}", label(tile), bytes.len());
                sums[qi][si].0 += bpp;
                sums[qi][si].1 += psnr;
            }
        }
    }

    let n = paths.len() as f64;
    println!("\n{} images, model {}: means (Δ against whole-image coding)", paths.len(), codec.name());
    println!("| quality | setting | mean bpp | mean PSNR | Δ bpp | Δ PSNR |");
    println!("|---|---|---|---|---|---|");
    for (qi, &quality) in qualities.iter().enumerate() {
        let (bpp0, psnr0) = (sums[qi][0].0 / n, sums[qi][0].1 / n);
        for (si, tile) in settings.iter().enumerate() {
            let (bpp, psnr) = (sums[qi][si].0 / n, sums[qi][si].1 / n);
            println!(
                "| {quality} | {} | {bpp:.4} | {psnr:.3} dB | {:+.2} % | {:+.3} dB |",
                label(tile),
                (bpp / bpp0 - 1.0) * 100.0,
                psnr - psnr0
            );
        }
    }
    Ok(())
}
