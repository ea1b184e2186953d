//! Encoder effort (latent refinement) with the built-in learned model: it lowers the real
//! rate-distortion cost of a photo crop, the files decode with any decoder (the format does not
//! change), and settings that cannot apply fail clearly.

use image::{DynamicImage, RgbImage};
use neco::{Codec, EncodeParams};

/// A 96×80 crop of kodim23 (edges and texture).
fn photo() -> DynamicImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/kodim23.png");
    let full = image::open(path).expect("assets/kodim23.png").to_rgb8();
    DynamicImage::ImageRgb8(image::imageops::crop_imm(&full, 300, 200, 96, 80).to_image())
}

/// λ·255²·MSE (on [0, 1]) + bits per pixel of a file as decoded: what refinement minimises.
fn cost(original: &RgbImage, bytes: &[u8], lambda: f64) -> f64 {
    let decoded = Codec::decode_any(bytes).unwrap().to_rgb8();
    let pixels = f64::from(original.width() * original.height());
    let sse: f64 =
        original.as_raw().iter().zip(decoded.as_raw()).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    lambda * sse / (pixels * 3.0) + bytes.len() as f64 * 8.0 / pixels
}

#[test]
fn effort_lowers_the_rate_distortion_cost_of_the_built_in_model() {
    let codec = Codec::load("hyperprior").unwrap();
    let image = photo();
    let original = image.to_rgb8();
    for quality in [20u8, 80] {
        let params = |effort| EncodeParams { quality: Some(quality), effort: Some(effort), ..Default::default() };
        let plain = codec.encode_image(&image, &params(0)).unwrap();
        let lambda = codec.lambda_for_level(Codec::inspect(&plain).unwrap().rate_level()).unwrap();
        let refined = codec.encode_image(&image, &params(2)).unwrap();
        assert_ne!(plain, refined, "effort 2 changed nothing at quality {quality}");
        let (c0, c2) = (cost(&original, &plain, lambda), cost(&original, &refined, lambda));
        assert!(c2 < c0, "quality {quality}: effort 2 costs {c2:.4}, effort 0 {c0:.4}");
        // Same header setting: the decoder needs nothing new.
        let (a, b) = (Codec::inspect(&plain).unwrap(), Codec::inspect(&refined).unwrap());
        assert_eq!(a.header.params, b.header.params);
    }
}

#[test]
fn effort_applies_to_learned_models_only() {
    let image = photo();
    let wavelet = Codec::load("wavelet").unwrap();
    let err = wavelet.encode_image(&image, &EncodeParams { effort: Some(3), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("no effort setting"), "{err}");
    // Effort 0 is the plain encoder for every model.
    let plain = wavelet.encode_image(&image, &EncodeParams::default()).unwrap();
    assert_eq!(plain, wavelet.encode_image(&image, &EncodeParams { effort: Some(0), ..Default::default() }).unwrap());
    let learned = Codec::load("hyperprior").unwrap();
    let err = learned.encode_image(&image, &EncodeParams { effort: Some(10), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("outside 0..=9"), "{err}");
}
