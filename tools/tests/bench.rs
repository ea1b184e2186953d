//! `neco_tools::bench` on a tiny random model and two small generated images.

use neco_models::device::DeviceChoice;
use neco_models::{Arch, ModelConfig};
use neco_tools::bench::{
    format_table, load_images, median, mem_status, reset_peak_rss, run_bench, to_json, BenchConfig, ModelSpec,
};
use std::path::Path;
use std::sync::Mutex;

/// Benchmarks reset the process-wide peak RSS: tests that read or reset it take turns.
static RSS: Mutex<()> = Mutex::new(());

fn write_images(dir: &Path) {
    for (i, (w, h)) in [(96u32, 64u32), (70, 50)].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 3 + i as u32 * 40) % 256) as u8;
            image::Rgb([v, v.wrapping_mul(3), 255 - v])
        });
        img.save(dir.join(format!("img{i}.png"))).unwrap();
    }
    // Not an image: must be ignored.
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
}

fn tiny_config(dir: &Path) -> BenchConfig {
    BenchConfig {
        models: vec![ModelSpec::Random { config: ModelConfig::new(Arch::Mbt2018Mean, 8, 12), quality: None, seed: 1 }],
        data: dir.to_path_buf(),
        images: 2,
        repeat: 1,
        threads: 1,
        device: DeviceChoice::Cpu,
        ..BenchConfig::default()
    }
}

#[test]
fn tiny_random_model_gives_positive_finite_results() {
    let _rss = RSS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    write_images(dir.path());
    let cfg = tiny_config(dir.path());
    let results = run_bench(&cfg).unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r.arch, "mbt2018-mean");
    assert_eq!(r.kind, "random");
    assert_eq!(r.images, 2);
    assert_eq!(r.encode_samples.len(), 2);
    assert_eq!(r.decode_samples.len(), 2);
    for v in [r.encode_s, r.decode_s, r.images_per_s, r.encode_mpix_s, r.decode_mpix_s, r.bpp, r.peak_rss_mb] {
        assert!(v.is_finite() && v > 0.0, "{v} in {r:?}");
    }
    assert!((r.pixels_per_image - (96.0 * 64.0 + 70.0 * 50.0) / 2.0).abs() < 1e-9);
    assert!(r.peak_rss_mb >= r.rss_before_mb * 0.5);
    assert!(r.compressai.is_none());
    let table = format_table(&results);
    assert!(table.contains("mbt2018-mean N8 M12 (random)"), "{table}");
    assert!(!table.contains("CompressAI"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&to_json(&results).unwrap()).unwrap();
    assert_eq!(json[0]["arch"], "mbt2018-mean");
}

#[test]
fn images_are_the_first_k_sorted() {
    let dir = tempfile::tempdir().unwrap();
    write_images(dir.path());
    let images = load_images(dir.path(), 1).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].name, "img0.png");
    assert_eq!((images[0].width, images[0].height), (96, 64));
    assert_eq!(images[0].rgb.len(), 96 * 64 * 3);
    let err = load_images(&dir.path().join("missing"), 3).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn peak_rss_reading_works() {
    let _rss = RSS.lock().unwrap_or_else(|e| e.into_inner());
    let before = mem_status().expect("/proc/self/status has VmRSS and VmHWM");
    assert!(before.rss_kb > 0 && before.hwm_kb >= before.rss_kb);
    // Touch 64 MiB, then free it: the high-water mark must remember it.
    let mut big = vec![0u8; 64 << 20];
    for i in (0..big.len()).step_by(4096) {
        big[i] = 1;
    }
    std::hint::black_box(&big);
    let during = mem_status().unwrap();
    assert!(during.hwm_kb >= before.rss_kb + 60 * 1024, "{before:?} -> {during:?}");
    drop(big);
    let after = mem_status().unwrap();
    // (RSS counters are batched per thread, so compare with some slack.)
    assert!(after.hwm_kb >= before.rss_kb + 60 * 1024, "{before:?} -> {during:?} -> {after:?}");
    if reset_peak_rss() {
        let reset = mem_status().unwrap();
        assert!(reset.hwm_kb <= after.hwm_kb);
    }
}

#[test]
fn spec_labels_and_compressai_equivalents() {
    let s = ModelSpec::random("mbt2018-mean", Some(3), None, None).unwrap();
    assert_eq!(s.label(), "mbt2018-mean q3 N128 M192 (random)");
    assert_eq!(s.compressai_equivalent(), Some(("mbt2018-mean", 3)));
    let custom = ModelSpec::random("bmshj2018-hyperprior", Some(3), Some(8), Some(12)).unwrap();
    assert_eq!(custom.compressai_equivalent(), None);
    assert!(ModelSpec::random("elic", None, None, None).is_err());
    assert!(ModelSpec::random("elic", None, Some(16), Some(20)).unwrap().compressai_equivalent().is_none());
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
}

/// Slow (imports torch and CompressAI twice): `cargo test --release -p neco-tools --test bench -- --ignored`.
#[test]
#[ignore]
fn compares_with_compressai() {
    let _rss = RSS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    write_images(dir.path());
    let mut cfg = tiny_config(dir.path());
    cfg.models = vec![ModelSpec::random("bmshj2018-factorized", Some(1), None, None).unwrap()];
    cfg.images = 1;
    cfg.compare_compressai = true;
    let results = run_bench(&cfg).unwrap();
    let c = results[0].compressai.as_ref().expect("compared");
    assert_eq!(c.runs, 2);
    assert!(c.encode_s > 0.0 && c.decode_s > 0.0 && c.encode_ratio.is_finite());
    assert!(format_table(&results).contains("CompressAI"));
}
