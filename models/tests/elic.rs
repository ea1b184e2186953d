//! The ELIC-style model end to end on tiny random models: forward in every quantization mode,
//! compress → decompress reproducing ŷ and g_s(ŷ) exactly (exact entropy parameters) and close
//! to the Round forward, exact and float coding paths, rates that match the likelihoods,
//! contexts that matter, gained levels and weights that save and reload.

use neco_models::elic::{Elic, ElicConfig};
use neco_models::{weights, Arch, CompressedLatents, ImageModel, ModelConfig, Quantization, Rate};
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

const N: i64 = 8;
const M: i64 = 40;

fn tiny(rate_levels: i64) -> ElicConfig {
    let mut cfg = ElicConfig::new(N, M, rate_levels);
    cfg.context_width = 16;
    cfg
}

fn smooth_image(h: i64, w: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let noise = Tensor::rand([1, 3, h / 8, w / 8], (Kind::Float, Device::Cpu));
    noise.upsample_bilinear2d([h, w], false, None, None).clamp(0.0, 1.0)
}

fn build(cfg: &ElicConfig, seed: i64) -> (nn::VarStore, Elic) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = Elic::new(&vs.root(), cfg);
    model.update_tables().unwrap();
    (vs, model)
}

/// A random g_a gives latents far below one quantization step, which code to nothing: scale its
/// last layer so that the latent stream has real symbols in it.
fn enliven(vs: &nn::VarStore) {
    tch::no_grad(|| {
        let _ = vs.variables()["g_a.6.weight"].shallow_clone().g_mul_scalar_(LATENT_GAIN);
    });
}

const LATENT_GAIN: f64 = 10.0;

fn build_lively(cfg: &ElicConfig, seed: i64) -> (nn::VarStore, Elic) {
    let (vs, model) = build(cfg, seed);
    enliven(&vs);
    (vs, model)
}

fn build_config(cfg: &ModelConfig, seed: i64) -> (nn::VarStore, Box<dyn ImageModel>) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = cfg.build(&vs.root()).unwrap();
    model.update_tables().unwrap();
    (vs, model)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn mean_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().mean(Kind::Float).double_value(&[])
}

/// ŷ = symbol + μ with μ from the exact networks, a multiple of 2^-10 (ACT_BITS): so ŷ·2^10 is
/// an integer, and ŷ's fixed-point value in the context networks is exact.
fn assert_fixed_point(y_hat: &Tensor) {
    let scaled = y_hat.to_kind(Kind::Double) * 1024.0;
    assert!(scaled.equal(&scaled.round()), "ŷ is not a multiple of 2^-10");
}

#[test]
fn config_scales_elic_groups() {
    let c = ElicConfig::new(192, 320, 1);
    assert_eq!(c.groups, [16, 16, 32, 64, 192]);
    assert_eq!(c.context_width, 224);
    let c = ElicConfig::new(128, 192, 1);
    assert_eq!(c.groups, [9, 9, 18, 36, 120]);
    assert_eq!(c.groups.iter().sum::<i64>(), 192);
    c.validate().unwrap();
    let c = ElicConfig::new(8, 40, 1);
    assert_eq!(c.groups, [2, 2, 4, 8, 24]);
    assert_eq!(c.context_width, 28);
    assert_eq!(ElicConfig::new(8, 12, 1).groups, [12]);
    let mut bad = ElicConfig::new(8, 40, 1);
    bad.groups[4] += 1;
    assert!(bad.validate().is_err());
    assert!(Elic::try_new(&nn::VarStore::new(Device::Cpu).root(), &bad).is_err());
}

#[test]
fn builds_through_model_config_with_named_variables() {
    let cfg = ModelConfig { arch: Arch::Elic, n: N, m: M, rate_levels: 1 };
    let (vs, model) = build_config(&cfg, 1);
    assert_eq!(model.arch(), "elic");
    assert_eq!(model.stride(), 64);
    assert_eq!(model.rate_levels(), 1);
    let vars = vs.variables();
    for name in [
        "g_a.0.weight",
        "g_s.6.weight",
        "h_a.4.weight",
        "h_s.4.weight",
        "entropy_bottleneck.quantiles",
        "context_prediction.0.weight",
        "context_prediction.4.bias",
        "cc_transforms.1.0.weight",
        "cc_transforms.4.4.weight",
        "entropy_parameters.0.0.weight",
        "entropy_parameters.4.4.bias",
    ] {
        assert!(vars.contains_key(name), "missing {name}");
    }
    assert!(!vars.contains_key("cc_transforms.0.0.weight"));
    // Slice 4 (24 channels) sees slices 0..3 (16 channels); default context width 28 → 16.
    assert_eq!(vars["cc_transforms.4.0.weight"].size(), [28, 16, 5, 5]);
    assert_eq!(vars["cc_transforms.4.2.weight"].size(), [16, 28, 5, 5]);
    assert_eq!(vars["cc_transforms.4.4.weight"].size(), [48, 16, 5, 5]);
    assert_eq!(vars["context_prediction.4.weight"].size(), [48, 24, 5, 5]);
    // Aggregation input: 2M + 2·24 + 2·24 = 176.
    assert_eq!(vars["entropy_parameters.4.0.weight"].size()[1], 176);
    assert_eq!(vars["entropy_parameters.0.0.weight"].size()[1], 2 * M + 4);
    assert_eq!(vars["entropy_parameters.4.4.weight"].size()[0], 48);
    let mut gained = cfg.clone();
    gained.rate_levels = 3;
    let (vs, model) = build_config(&gained, 1);
    assert_eq!(model.rate_levels(), 3);
    assert_eq!(vs.variables()["gain.y"].size(), [3, M]);
    assert_eq!(vs.variables()["gain.z_inv"].size(), [3, N]);
}

#[test]
fn forward_shapes_in_every_mode() {
    for levels in [1, 3] {
        let (_vs, model) = build(&tiny(levels), 1);
        let x = smooth_image(64, 128, 2).repeat([2, 1, 1, 1]);
        let level_idx = Tensor::from_slice(&[0i64, levels - 1]);
        let rates = [Rate::Default, Rate::Levels(&level_idx)];
        for rate in &rates {
            for mode in [Quantization::Noise, Quantization::StraightThrough, Quantization::Round] {
                let out = model.forward(&x, mode, rate);
                assert_eq!(out.x_hat.size(), x.size());
                assert_eq!(out.likelihoods.len(), 2);
                assert_eq!(out.likelihoods[0].size(), [2, M, 4, 8]);
                assert_eq!(out.likelihoods[1].size(), [2, N, 1, 2]);
                let bpp = out.bpp_per_image(64 * 128);
                assert_eq!(bpp.size(), [2]);
                assert!(bpp.min().double_value(&[]) > 0.0);
                assert!(bpp.max().double_value(&[]).is_finite());
            }
        }
        assert!(model.aux_loss().double_value(&[]).is_finite());
    }
}

#[test]
fn forward_trains_every_context_network() {
    let (vs, model) = build(&tiny(1), 2);
    let x = smooth_image(64, 64, 3);
    let out = model.forward(&x, Quantization::StraightThrough, &Rate::Default);
    let loss = out.total_bits() / (64.0 * 64.0) + (&out.x_hat - &x).square().mean(Kind::Float) * 100.0;
    loss.backward();
    for (name, var) in vs.variables() {
        if name.starts_with("context_prediction")
            || name.starts_with("cc_transforms")
            || name.starts_with("entropy_parameters")
        {
            let g = var.grad();
            assert!(g.defined(), "{name} gets no gradient");
            assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "{name} gets a zero gradient");
        }
    }
}

#[test]
fn compress_decompress_reproduces_the_quantized_latent() {
    for (h, w, seed) in [(64, 128, 3), (128, 64, 4), (64, 64, 5)] {
        let (_vs, model) = build_lively(&tiny(1), seed);
        let x = smooth_image(h, w, seed + 10);
        let streams = model.compress(&x, &Rate::Default).unwrap();
        let decoded = model.decompress(&streams, h, w, &Rate::Default).unwrap();
        let y_hat = model.quantized_latent(&x, &Rate::Default).unwrap();
        assert_eq!(y_hat.size(), [1, M, h / 16, w / 16]);
        assert_fixed_point(&y_hat);
        let decoded_latent = model.decompress_latent(&streams, h, w, &Rate::Default).unwrap();
        assert!(y_hat.equal(&decoded_latent), "{h}x{w}: decoded ŷ differs from quantized_latent");
        // The decoder's output is g_s of exactly the ŷ the encoder coded.
        let expected = model.synthesize(&y_hat, &Rate::Default).unwrap();
        assert!(decoded.equal(&expected), "{h}x{w}: decoded x̂ is not g_s(ŷ)");
        // And the exact path stays close to the float forward pass.
        let forward = tch::no_grad(|| model.forward(&x, Quantization::Round, &Rate::Default));
        let diff = mean_diff(&decoded, &forward.x_hat.clamp(0.0, 1.0));
        assert!(diff < 1e-2, "{h}x{w}: exact and float reconstructions differ by {diff} on average");
        // The latent stream is not trivially empty.
        assert!(y_hat.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(streams.latent.len() > 100, "{h}x{w}: only {} latent bytes", streams.latent.len());
        // The streams cost what the likelihoods say.
        let bytes = streams.latent.len() + streams.hyper.as_ref().map_or(0, |s| s.len());
        let estimate = forward.total_bits().double_value(&[]) / 8.0;
        assert!(
            (bytes as f64) < estimate * 1.05 + 16.0 && (bytes as f64) > estimate * 0.95 - 1.0,
            "{h}x{w}: {bytes} B vs {estimate:.1} B estimated"
        );
    }
}

#[test]
fn exact_and_float_entropy_parameters_both_round_trip() {
    for (levels, rate) in [(1, Rate::Default), (3, Rate::Continuous(1.25))] {
        let (_vs, mut model) = build_lively(&tiny(levels), 16);
        let x = smooth_image(64, 128, 17);
        let exact = model.compress(&x, &rate).unwrap();
        let exact_decoded = model.decompress(&exact, 64, 128, &rate).unwrap();
        assert!(model.set_exact_arithmetic(false));
        let float = model.compress(&x, &rate).unwrap();
        let decoded = model.decompress(&float, 64, 128, &rate).unwrap();
        let y_hat = model.quantized_latent(&x, &rate).unwrap();
        assert!(y_hat.equal(&model.decompress_latent(&float, 64, 128, &rate).unwrap()));
        assert!(decoded.equal(&model.synthesize(&y_hat, &rate).unwrap()), "levels {levels}: float path");
        // The float coding path computes what the Round forward computes.
        let forward = tch::no_grad(|| model.forward(&x, Quantization::Round, &rate));
        let diff = max_diff(&decoded, &forward.x_hat.clamp(0.0, 1.0));
        assert!(diff < 1e-5, "levels {levels}: float-coded output differs from forward by {diff}");
        // The same hyper-latent; the latent streams differ only through rounding of parameters.
        assert_eq!(exact.hyper, float.hyper);
        assert_ne!(exact.latent, float.latent, "levels {levels}: the exact path did not change anything");
        let (a, b) = (exact.latent.len() as f64, float.latent.len() as f64);
        println!("levels {levels}: exact {a} B, float {b} B");
        assert!((a - b).abs() <= 0.03 * b + 8.0, "levels {levels}: exact {a} B vs float {b} B");
        let diff = mean_diff(&exact_decoded, &decoded);
        assert!(diff < 1e-2, "levels {levels}: exact and float decodes differ by {diff} on average");
        // A float-coded stream read with exact parameters is caught, not silently misdecoded.
        assert!(model.set_exact_arithmetic(true));
        if let Ok(d) = model.decompress(&float, 64, 128, &rate) {
            assert!(d.equal(&decoded), "levels {levels}: a mismatched stream decoded to a different image silently");
        }
        assert!(model.decompress(&exact, 64, 128, &rate).unwrap().equal(&exact_decoded));
    }
}

#[test]
fn decoding_a_truncated_stream_does_not_panic() {
    let (_vs, model) = build(&tiny(1), 6);
    let x = smooth_image(64, 64, 7);
    let streams = model.compress(&x, &Rate::Default).unwrap();
    let cut = CompressedLatents {
        hyper: streams.hyper.clone(),
        latent: streams.latent[..streams.latent.len() / 8 * 4].to_vec(),
        symbol_checksum: streams.symbol_checksum,
    };
    let _ = model.decompress(&cut, 64, 64, &Rate::Default);
    assert!(model.decompress(&streams, 64, 60, &Rate::Default).is_err());
    assert!(model
        .decompress(
            &CompressedLatents { hyper: None, latent: streams.latent, symbol_checksum: streams.symbol_checksum },
            64,
            64,
            &Rate::Default
        )
        .is_err());
}

/// Likelihoods of y from a Round forward of one random model: as built, then with the
/// variables whose name starts with `zeroed` set to zero.
fn likelihoods_with_and_without(seed: i64, zeroed: &str, x: &Tensor) -> (Tensor, Tensor) {
    let (vs, model) = build(&tiny(1), seed);
    // A random model predicts many scales below the bound, where the likelihood of a rounded
    // latent no longer depends on the parameters: lift the scales.
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            if name.starts_with("entropy_parameters.") && name.ends_with(".4.bias") {
                let _ = var.narrow(0, 0, var.size()[0] / 2).fill_(2.0);
            }
        }
    });
    let run = || tch::no_grad(|| model.forward(x, Quantization::Round, &Rate::Default)).likelihoods[0].shallow_clone();
    let full = run();
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            if name.starts_with(zeroed) {
                let _ = var.zero_();
            }
        }
    });
    (full, run())
}

/// The fraction of elements that differ, among those not both at the likelihood bound (a
/// random model predicts many latents far outside its scales).
fn changed(a: &Tensor, b: &Tensor) -> f64 {
    let informative = a.gt(1.5e-9).logical_or(&b.gt(1.5e-9));
    assert!(
        informative.to_kind(Kind::Float).mean(Kind::Float).double_value(&[]) > 0.1,
        "too few informative likelihoods"
    );
    a.ne_tensor(b).masked_select(&informative).to_kind(Kind::Float).mean(Kind::Float).double_value(&[])
}

#[test]
fn spatial_context_acts_on_non_anchors_only() {
    let x = smooth_image(64, 128, 8);
    let (full, no_spatial) = likelihoods_with_and_without(9, "context_prediction.", &x);
    let (h, w) = (full.size()[2], full.size()[3]);
    let anchor = (Tensor::arange(h, (Kind::Int64, Device::Cpu)).view([h, 1])
        + Tensor::arange(w, (Kind::Int64, Device::Cpu)).view([1, w]))
    .remainder(2)
    .eq(0);
    // Slice 0 (2 channels): anchors never see a spatial context, non-anchors do.
    let (a, b) = (full.narrow(1, 0, 2), no_spatial.narrow(1, 0, 2));
    assert!(
        a.masked_select(&anchor).equal(&b.masked_select(&anchor)),
        "anchor likelihoods depend on the spatial context"
    );
    let non_anchor = anchor.logical_not();
    let fraction = changed(&a.masked_select(&non_anchor), &b.masked_select(&non_anchor));
    assert!(fraction > 0.9, "non-anchor likelihoods ignore the spatial context ({fraction})");
}

#[test]
fn channel_context_acts_on_later_slices_only() {
    let x = smooth_image(64, 128, 10);
    let (full, no_channel) = likelihoods_with_and_without(11, "cc_transforms.", &x);
    // Slice 0 (2 channels) has no channel context.
    assert!(full.narrow(1, 0, 2).equal(&no_channel.narrow(1, 0, 2)));
    for (start, len) in [(2, 2), (4, 4), (8, 8), (16, 24)] {
        let fraction = changed(&full.narrow(1, start, len), &no_channel.narrow(1, start, len));
        assert!(fraction > 0.9, "slice at {start} ignores the channel context ({fraction})");
    }
}

#[test]
fn gained_model_codes_fractional_levels() {
    let (_vs, model) = build_lively(&tiny(4), 12);
    assert_eq!(model.rate_levels(), 4);
    let x = smooth_image(64, 64, 13);
    let mut sizes = vec![];
    for level in [0.0, 1.5, 2.25, 3.0] {
        let rate = Rate::Continuous(level);
        let s = model.compress(&x, &rate).unwrap();
        let d = model.decompress(&s, 64, 64, &rate).unwrap();
        let y_hat = model.quantized_latent(&x, &rate).unwrap();
        assert!(y_hat.equal(&model.decompress_latent(&s, 64, 64, &rate).unwrap()));
        assert!(d.equal(&model.synthesize(&y_hat, &rate).unwrap()), "level {level}: decoded x̂ is not g_s(ŷ)");
        let f = tch::no_grad(|| model.forward(&x, Quantization::Round, &rate));
        let diff = mean_diff(&d, &f.x_hat.clamp(0.0, 1.0));
        assert!(diff < 1e-2, "level {level}: exact and float reconstructions differ by {diff} on average");
        sizes.push(s.latent.len());
    }
    assert!(sizes[0] <= sizes[1] && sizes[1] <= sizes[3], "{sizes:?}");
    assert!(model.compress(&x, &Rate::Continuous(3.5)).is_err());
}

#[test]
fn weights_round_trip_through_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    for (levels, storage) in [(1, Kind::Float), (3, Kind::Half)] {
        let cfg = ModelConfig { arch: Arch::Elic, n: N, m: M, rate_levels: levels };
        let (vs, mut model) = build_config(&cfg, 14);
        enliven(&vs);
        weights::round_to_storage(&vs, storage);
        model.update_tables().unwrap();
        let path = dir.path().join(format!("elic{levels}.safetensors"));
        weights::save(&path, &cfg, model.as_ref(), &vs, storage, &HashMap::new()).unwrap();
        let loaded = weights::load(&path, Device::Cpu).unwrap();
        assert_eq!(loaded.config, cfg);
        assert_eq!(loaded.model.arch(), "elic");
        let x = smooth_image(64, 128, 15);
        let rate = if levels > 1 { Rate::Continuous(0.5) } else { Rate::Default };
        let a = model.compress(&x, &rate).unwrap();
        let b = loaded.model.compress(&x, &rate).unwrap();
        assert_eq!(a, b, "levels {levels}: reloaded model codes differently");
        let da = model.decompress(&a, 64, 128, &rate).unwrap();
        let db = loaded.model.decompress(&a, 64, 128, &rate).unwrap();
        assert!(da.equal(&db));
    }
}

/// Sizes and CPU timings of the full-size models (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn report_sizes_and_timings() {
    for (n, m) in [(192, 320), (128, 192)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Elic::new(&vs.root(), &ElicConfig::new(n, m, 1));
        let params: i64 = vs.variables().values().map(|v| v.numel() as i64).sum();
        println!("N={n} M={m}: {params} parameters");
    }
    let (vs, mut model) = {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Elic::new(&vs.root(), &ElicConfig::new(128, 192, 1));
        (vs, model)
    };
    let _ = &vs;
    model.update_tables().unwrap();
    let x = smooth_image(512, 768, 1);
    let t = std::time::Instant::now();
    let f = tch::no_grad(|| model.forward(&x, Quantization::Round, &Rate::Default));
    println!("forward 512x768: {:.3} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let s = model.compress(&x, &Rate::Default).unwrap();
    println!(
        "compress 512x768: {:.3} s ({} + {} bytes)",
        t.elapsed().as_secs_f64(),
        s.latent.len(),
        s.hyper.as_ref().unwrap().len()
    );
    let t = std::time::Instant::now();
    let d = model.decompress(&s, 512, 768, &Rate::Default).unwrap();
    println!("decompress 512x768: {:.3} s", t.elapsed().as_secs_f64());
    println!("max |decoded - forward| = {:e}", max_diff(&d, &f.x_hat.clamp(0.0, 1.0)));
    println!("threads: {}", tch::get_num_threads());
}

/// Warm CPU timings of the full-size model with exact and float entropy parameters, next to
/// mbt2018-mean of the same widths (run with `--ignored --nocapture`). The first call in a
/// process also pays libtorch's one-off set-up, so each is timed more than once.
#[test]
#[ignore]
fn profile_full_size() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = Elic::new(&vs.root(), &ElicConfig::new(128, 192, 1));
    // A random g_a gives latents near zero; scale its last layer so that coding has work to do.
    tch::no_grad(|| {
        let mut w = vs.variables()["g_a.6.weight"].shallow_clone();
        let _ = w.g_mul_scalar_(2.0 * LATENT_GAIN);
    });
    model.update_tables().unwrap();
    let x = smooth_image(512, 768, 1);
    let y = model.quantized_latent(&x, &Rate::Default).unwrap();
    println!("y_hat std {:.3}", y.std(true).double_value(&[]));
    for round in 0..3 {
        let exact = round < 2;
        model.set_exact_arithmetic(exact);
        println!("exact: {exact}");
        let t = std::time::Instant::now();
        let _f = tch::no_grad(|| model.forward(&x, Quantization::Round, &Rate::Default));
        println!("[{round}] forward: {:.3} s", t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let s = model.compress(&x, &Rate::Default).unwrap();
        println!(
            "[{round}] compress: {:.3} s ({} + {} bytes)",
            t.elapsed().as_secs_f64(),
            s.latent.len(),
            s.hyper.as_ref().unwrap().len()
        );
        let t = std::time::Instant::now();
        let _d = model.decompress(&s, 512, 768, &Rate::Default).unwrap();
        println!("[{round}] decompress: {:.3} s", t.elapsed().as_secs_f64());
    }
    let cfg = ModelConfig { arch: Arch::Mbt2018Mean, n: 128, m: 192, rate_levels: 1 };
    let (_vs2, mbt) = build_config(&cfg, 0);
    for round in 0..2 {
        let t = std::time::Instant::now();
        let _f = tch::no_grad(|| mbt.forward(&x, Quantization::Round, &Rate::Default));
        println!("[{round}] mbt forward: {:.3} s", t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let s = mbt.compress(&x, &Rate::Default).unwrap();
        println!("[{round}] mbt compress: {:.3} s", t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        let _d = mbt.decompress(&s, 512, 768, &Rate::Default).unwrap();
        println!("[{round}] mbt decompress: {:.3} s", t.elapsed().as_secs_f64());
    }
}
