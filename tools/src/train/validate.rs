//! Validation during training: the likelihood estimate next to the real coded size.

use anyhow::{Context, Result};
use neco_datasets::crops::load_rgb_f32;
use neco_models::{pad_to_stride, ImageModel, Quantization, Rate};
use serde::Serialize;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Means over the validation images at one rate level.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationResult {
    pub level: f64,
    pub images: usize,
    /// Σ −log2 p / pixels.
    pub bpp_estimate: f64,
    /// Entropy-coded stream bytes · 8 / pixels (without the ~40-byte container).
    pub bpp_coded: f64,
    /// PSNR of the 8-bit reconstruction, averaged per image.
    pub psnr: f64,
}

impl ValidationResult {
    pub fn describe(&self) -> String {
        format!(
            "validation level {:.1}: {} images, bpp {:.4} coded / {:.4} estimated, PSNR {:.2} dB",
            self.level, self.images, self.bpp_coded, self.bpp_estimate, self.psnr
        )
    }
}

/// Codes the first `max_images` images of `dir` (sorted) at the lowest, middle and highest rate
/// levels (just one for fixed-rate models). Updates the model's coding tables first.
pub fn validate(
    model: &mut dyn ImageModel,
    dir: &Path,
    max_images: usize,
    device: Device,
) -> Result<Vec<ValidationResult>> {
    model.update_tables()?;
    let files: Vec<_> = neco_datasets::image_folder::list_images(dir)?.into_iter().take(max_images.max(1)).collect();
    anyhow::ensure!(!files.is_empty(), "no validation images in {}", dir.display());
    let top = (model.rate_levels() - 1) as f64;
    let mut levels = vec![top];
    if top > 0.0 {
        levels = vec![0.0, (top / 2.0).round(), top];
        levels.dedup();
    }
    let mut images = Vec::with_capacity(files.len());
    for f in &files {
        let (data, w, h) = load_rgb_f32(f).with_context(|| format!("validation image {}", f.display()))?;
        images.push(Tensor::from_slice(&data).view([1, 3, h as i64, w as i64]).to_device(device));
    }
    let mut results = vec![];
    for level in levels {
        let rate = if model.rate_levels() > 1 { Rate::Continuous(level) } else { Rate::Default };
        let (mut est, mut coded, mut psnr) = (0.0, 0.0, 0.0);
        for x in &images {
            let size = x.size();
            let (h, w) = (size[2], size[3]);
            let padded = pad_to_stride(x, model.stride());
            let pixels = (h * w) as f64;
            let out = tch::no_grad(|| model.forward(&padded, Quantization::Round, &rate));
            est += out.total_bits().double_value(&[]) / pixels;
            let streams = model.compress(&padded, &rate)?;
            let bytes = streams.latent.len() + streams.hyper.as_ref().map_or(0, Vec::len);
            coded += bytes as f64 * 8.0 / pixels;
            let x_hat = out.x_hat.narrow(2, 0, h).narrow(3, 0, w);
            psnr += psnr_8bit(x, &x_hat);
        }
        let n = images.len() as f64;
        results.push(ValidationResult {
            level,
            images: images.len(),
            bpp_estimate: est / n,
            bpp_coded: coded / n,
            psnr: psnr / n,
        });
    }
    Ok(results)
}

/// PSNR between two [0, 1] images after rounding both to 8 bits.
pub fn psnr_8bit(a: &Tensor, b: &Tensor) -> f64 {
    let q = |t: &Tensor| (t.clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Double);
    let mse = (q(a) - q(b)).square().mean(Kind::Double).double_value(&[]);
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}
