//! The hyperprior family end to end on tiny random models: forward in every quantization mode,
//! compress → decompress reproducing ŷ exactly, and weights that save and reload.

mod common;

use common::{build, smooth_image};
use neco_models::{weights, Arch, ModelConfig, Quantization, Rate};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn tiny(arch: Arch) -> ModelConfig {
    ModelConfig::new(arch, 8, 12)
}

#[test]
fn forward_shapes_in_every_mode() {
    for arch in [Arch::Bmshj2018Factorized, Arch::Bmshj2018Hyperprior, Arch::Mbt2018Mean] {
        let (_vs, model) = build(&tiny(arch), 1);
        let x = smooth_image(64, 128, 2).repeat([2, 1, 1, 1]);
        for mode in [Quantization::Noise, Quantization::StraightThrough, Quantization::Round] {
            let out = model.forward(&x, mode, &Rate::Default);
            assert_eq!(out.x_hat.size(), x.size(), "{arch:?}");
            let bpp = out.bpp_per_image(64 * 128);
            assert_eq!(bpp.size(), [2]);
            assert!(bpp.min().double_value(&[]) > 0.0);
        }
        let aux = model.aux_loss();
        assert!(aux.double_value(&[]).is_finite());
    }
}

#[test]
fn compress_decompress_reproduces_the_quantized_latent() {
    for arch in [Arch::Bmshj2018Factorized, Arch::Bmshj2018Hyperprior, Arch::Mbt2018Mean] {
        let (_vs, model) = build(&tiny(arch), 3);
        let x = smooth_image(128, 64, 4);
        let streams = model.compress(&x, &Rate::Default).unwrap();
        let decoded = model.decompress(&streams, 128, 64, &Rate::Default).unwrap();
        let forward = tch::no_grad(|| model.forward(&x, Quantization::Round, &Rate::Default));
        // The decoder rebuilds exactly the ŷ the encoder coded (exact entropy parameters), so
        // its output is g_s of that ŷ, bit for bit.
        let y_hat = model.quantized_latent(&x, &Rate::Default).unwrap();
        let expected = model.synthesize(&y_hat, &Rate::Default).unwrap();
        assert!(decoded.equal(&expected), "{arch:?}: decoded x̂ is not g_s(ŷ)");
        // And the exact path stays close to the float forward pass.
        let diff = (&decoded - forward.x_hat.clamp(0.0, 1.0)).abs().mean(Kind::Float).double_value(&[]);
        assert!(diff < 1e-2, "{arch:?}: exact and float reconstructions differ by {diff} on average");
        // The streams cost what the likelihoods say (tiny streams: allow the coder's flush bytes).
        let bytes = streams.latent.len() + streams.hyper.as_ref().map_or(0, |h| h.len());
        let estimate = forward.total_bits().double_value(&[]) / 8.0;
        assert!(
            (bytes as f64) < estimate * 1.05 + 16.0 && (bytes as f64) > estimate * 0.95 - 1.0,
            "{arch:?}: {bytes} B vs {estimate:.1} B estimated"
        );
    }
}

#[test]
fn gained_model_orders_rates_and_codes_fractional_levels() {
    let mut cfg = tiny(Arch::Mbt2018Mean);
    cfg.rate_levels = 4;
    let (_vs, model) = build(&cfg, 5);
    assert_eq!(model.rate_levels(), 4);
    let x = smooth_image(64, 64, 6);
    let mut sizes = vec![];
    for level in [0.0, 1.5, 3.0] {
        let rate = Rate::Continuous(level);
        let s = model.compress(&x, &rate).unwrap();
        let d = model.decompress(&s, 64, 64, &rate).unwrap();
        let expected = model.synthesize(&model.quantized_latent(&x, &rate).unwrap(), &rate).unwrap();
        assert!(d.equal(&expected), "level {level}: decoded x̂ is not g_s(ŷ)");
        sizes.push(s.latent.len());
    }
    assert!(sizes[0] <= sizes[1] && sizes[1] <= sizes[2], "{sizes:?}");
    let levels = Tensor::from_slice(&[0i64, 3]);
    let out = model.forward(&x.repeat([2, 1, 1, 1]), Quantization::Noise, &Rate::Levels(&levels));
    assert_eq!(out.x_hat.size(), [2, 3, 64, 64]);
    assert!(model.compress(&x, &Rate::Continuous(3.5)).is_err());
}

#[test]
fn weights_round_trip_through_safetensors_in_f32_and_f16() {
    let dir = tempfile::tempdir().unwrap();
    for storage in [Kind::Float, Kind::Half] {
        let cfg = tiny(Arch::Mbt2018Mean);
        let (vs, mut model) = build(&cfg, 7);
        weights::round_to_storage(&vs, storage);
        model.update_tables().unwrap();
        let path = dir.path().join(format!("{storage:?}.safetensors"));
        let meta = HashMap::from([("note".to_string(), "test".to_string())]);
        weights::save(&path, &cfg, model.as_ref(), &vs, storage, &meta).unwrap();
        let loaded = weights::load(&path, Device::Cpu).unwrap();
        assert_eq!(loaded.config, cfg);
        assert_eq!(loaded.metadata.get("note").map(String::as_str), Some("test"));
        let x = smooth_image(64, 64, 8);
        let a = model.compress(&x, &Rate::Default).unwrap();
        let b = loaded.model.compress(&x, &Rate::Default).unwrap();
        assert_eq!(a, b, "{storage:?}: reloaded model codes differently");
    }
    let garbage = dir.path().join("bad.safetensors");
    std::fs::write(&garbage, b"not a weights file").unwrap();
    assert!(weights::load(&garbage, Device::Cpu).is_err());
}

#[test]
fn exact_and_float_entropy_parameters_both_round_trip() {
    for arch in [Arch::Bmshj2018Hyperprior, Arch::Mbt2018Mean] {
        let (_vs, mut model) = build(&tiny(arch), 9);
        let x = smooth_image(64, 128, 10);
        let exact = model.compress(&x, &Rate::Default).unwrap();
        assert!(model.set_exact_arithmetic(false));
        let float = model.compress(&x, &Rate::Default).unwrap();
        let decoded = model.decompress(&float, 64, 128, &Rate::Default).unwrap();
        assert_eq!(decoded.size(), [1, 3, 64, 128]);
        // The same hyper-latent; the latent streams differ only through rounding of parameters.
        assert_eq!(exact.hyper, float.hyper);
        let (a, b) = (exact.latent.len() as f64, float.latent.len() as f64);
        assert!((a - b).abs() <= 0.05 * b + 8.0, "{arch:?}: exact {a} B vs float {b} B");
        // A float-coded stream read with exact parameters is caught, not silently misdecoded
        // (or, where the parameters happen to agree, decodes the same ŷ: the images then differ
        // only by the exact versus float synthesis, far below a grey level).
        assert!(model.set_exact_arithmetic(true));
        if let Ok(d) = model.decompress(&float, 64, 128, &Rate::Default) {
            let err = (&d - &decoded).abs().max().double_value(&[]);
            assert!(err < 1.0 / 255.0, "{arch:?}: a mismatched stream decoded to a different image silently");
        }
    }
}

#[test]
fn batches_code_like_single_images() {
    let (_vs, model) = build(&tiny(Arch::Mbt2018Mean), 11);
    let batch = Tensor::cat(&[smooth_image(64, 64, 12), smooth_image(64, 64, 13)], 0);
    let streams = model.compress_batch(&batch, &Rate::Default).unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[1], model.compress(&batch.narrow(0, 1, 1), &Rate::Default).unwrap());
    let decoded = model.decompress_batch(&streams, 64, 64, &Rate::Default).unwrap();
    assert_eq!(decoded.size(), [2, 3, 64, 64]);
    let single = model.decompress(&streams[0], 64, 64, &Rate::Default).unwrap();
    assert!(decoded.narrow(0, 0, 1).equal(&single));
}
