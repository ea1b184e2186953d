//! What exact (fixed-point) arithmetic costs in rate-distortion, against the same model coding
//! with its float networks: the entropy parameters (hyper-synthesis) and the synthesis g_s that
//! decoding runs. Needs the shipped weights and Kodak:
//!
//!     cargo test --release -p neco-tools --test exactness_cost -- --ignored --nocapture
//!
//! Prints both RD curves and the BD-rate (Akima) of exact against float.

use neco_models::{pad_to_stride, weights, Rate};
use neco_tools::bd_rate::{bd_rate, Interpolation, RdPoint};
use std::path::Path;
use tch::{Device, Kind, Tensor};

#[test]
#[ignore = "needs ../shared/datasets/kodak; takes a few minutes"]
fn exact_entropy_parameters_cost_under_one_percent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let kodak = root.join("../shared/datasets/kodak");
    let images: usize = std::env::var("NECO_EXACT_IMAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let mut files: Vec<_> = std::fs::read_dir(&kodak)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files.truncate(images);
    let mut loaded = weights::load(&root.join("weights/hyperprior.safetensors"), Device::Cpu).unwrap();
    let levels: Vec<f64> = (0..loaded.model.rate_levels()).step_by(2).map(|l| l as f64).chain([7.0]).collect();
    let mut curves = [vec![], vec![]];
    for (i, exact) in [true, false].into_iter().enumerate() {
        assert!(loaded.model.set_exact_arithmetic(exact));
        for &level in &levels {
            let rate = Rate::Continuous(level);
            let (mut bpp, mut psnr) = (0.0, 0.0);
            for f in &files {
                let img = image::open(f).unwrap().to_rgb8();
                let (w, h) = (img.width() as i64, img.height() as i64);
                let x = Tensor::from_slice(img.as_raw())
                    .view([h, w, 3])
                    .permute([2, 0, 1])
                    .unsqueeze(0)
                    .to_kind(Kind::Float)
                    / 255.0;
                let padded = pad_to_stride(&x, loaded.model.stride());
                let s = loaded.model.compress(&padded, &rate).unwrap();
                let size = padded.size();
                let d = loaded.model.decompress(&s, size[2], size[3], &rate).unwrap().narrow(2, 0, h).narrow(3, 0, w);
                let bytes = s.latent.len() + s.hyper.as_ref().map_or(0, Vec::len) + 50;
                bpp += bytes as f64 * 8.0 / (w * h) as f64;
                let q = |t: &Tensor| (t * 255.0).round().clamp(0.0, 255.0).to_kind(Kind::Double);
                let mse = (q(&d) - q(&x)).square().mean(Kind::Double).double_value(&[]);
                psnr += 10.0 * (255.0f64.powi(2) / mse).log10();
            }
            let n = files.len() as f64;
            let p = RdPoint::new(bpp / n, psnr / n);
            eprintln!("{} level {level}: {:.4} bpp {:.3} dB", if exact { "exact" } else { "float" }, p.bpp, p.quality);
            curves[i].push(p);
        }
    }
    let bd = bd_rate(&curves[1], &curves[0], Interpolation::Akima).unwrap();
    eprintln!(
        "BD-rate of exact against float arithmetic (entropy parameters and synthesis): {bd:+.3} % ({} Kodak images)",
        files.len()
    );
    assert!(bd < 1.0, "exactness costs {bd:.2} % BD-rate");
}
