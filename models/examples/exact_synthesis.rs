//! Compares the exact (fixed-point) synthesis with the float one on real images: PSNR of each
//! against the original, the pixel differences between them, and the time of each.
//! `cargo run --release -p neco-models --example exact_synthesis -- WEIGHTS LEVEL IMAGE...`
use anyhow::Result;
use neco_models::{pad_to_stride, weights, Rate};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn to_u8(x: &Tensor) -> Tensor {
    (x * 255.0).round().clamp(0.0, 255.0).to_kind(Kind::Uint8)
}

fn psnr(a: &Tensor, b: &Tensor) -> f64 {
    let mse = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).square().mean(Kind::Double).double_value(&[]);
    10.0 * (255.0 * 255.0 / mse).log10()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut loaded = weights::load(std::path::Path::new(&args[1]), Device::Cpu)?;
    let level: f64 = args[2].parse()?;
    let rate = if loaded.model.rate_levels() > 1 { Rate::Continuous(level) } else { Rate::Default };
    let (mut pf, mut pe, mut tf, mut te) = (0.0, 0.0, 0.0, 0.0);
    let images = &args[3..];
    for path in images {
        let img = image::open(path)?.into_rgb8();
        let (w, h) = (img.width() as i64, img.height() as i64);
        let x = Tensor::from_slice(img.as_raw()).view([h, w, 3]).permute([2, 0, 1]).unsqueeze(0);
        let xf = x.to_kind(Kind::Float) / 255.0;
        let padded = pad_to_stride(&xf, loaded.model.stride());
        let y_hat = loaded.model.quantized_latent(&padded, &rate)?;
        let crop = |t: Tensor| to_u8(&t.narrow(2, 0, h).narrow(3, 0, w));
        loaded.model.set_exact_arithmetic(false);
        let t0 = Instant::now();
        let float = crop(loaded.model.synthesize(&y_hat, &rate)?);
        let t1 = Instant::now();
        loaded.model.set_exact_arithmetic(true);
        let exact = crop(loaded.model.synthesize(&y_hat, &rate)?);
        let t2 = Instant::now();
        let diff = (float.to_kind(Kind::Int) - exact.to_kind(Kind::Int)).abs();
        let (a, b) = (psnr(&x, &float), psnr(&x, &exact));
        println!(
            "{path}: float {a:.4} dB {:.3} s, exact {b:.4} dB {:.3} s, differing samples {}, max diff {}",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            diff.gt(0).sum(Kind::Int64).int64_value(&[]),
            diff.max().int64_value(&[])
        );
        pf += a;
        pe += b;
        tf += (t1 - t0).as_secs_f64();
        te += (t2 - t1).as_secs_f64();
    }
    let n = images.len() as f64;
    println!("mean: float {:.4} dB {:.3} s, exact {:.4} dB {:.3} s", pf / n, tf / n, pe / n, te / n);
    Ok(())
}
