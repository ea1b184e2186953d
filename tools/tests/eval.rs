//! `run_eval` end to end on three small generated images with the wavelet model: one row per
//! image and setting with sane figures, a CompressAI-schema summary, resuming without
//! duplicates, and two shards that merge into exactly the single run's rows.

use neco_models::device::DeviceChoice;
use neco_tools::eval::{merge, read_rows, run_eval, EvalConfig, Shard};

fn write_images(dir: &std::path::Path) {
    for (k, (w, h)) in [(64u32, 48u32), (80, 64), (33, 17)].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = |a: u32| (a % 256) as u8;
            image::Rgb([v(x * 3 + y + 40 * k as u32), v(y * 4 + 7 * (x / 9)), v((x ^ y) * 5 + 17)])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}

fn config(data: &std::path::Path, out: &std::path::Path, shard: Option<Shard>) -> EvalConfig {
    EvalConfig {
        data: vec![data.to_path_buf()],
        model: "wavelet".into(),
        qualities: vec![30, 80],
        out: out.to_path_buf(),
        jobs: 2,
        shard,
        device: DeviceChoice::Cpu,
        keep_files: false,
        quiet: true,
        effort: None,
    }
}

#[test]
fn evaluates_resumes_and_merges_shards() {
    let data = tempfile::tempdir().unwrap();
    write_images(data.path());
    let out = tempfile::tempdir().unwrap();
    let cfg = config(data.path(), out.path(), None);
    let rows = run_eval(&cfg).unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    for r in &rows {
        assert_eq!(r.model, "wavelet");
        assert!(r.bytes > 0 && r.bpp > 0.0 && r.bpp < 24.0, "{r:?}");
        // bpp is the file's: bytes · 8 / pixels.
        assert!((r.bpp - r.bytes as f64 * 8.0 / f64::from(r.width * r.height)).abs() < 1e-9, "{r:?}");
        assert!(r.psnr.is_finite() && r.psnr > 15.0, "{r:?}");
        assert!(r.ms_ssim > 0.0 && r.ms_ssim <= 1.0 + 1e-9, "{r:?}");
    }
    // Higher quality costs more bits and gives a higher PSNR on every image.
    for name in ["img0.png", "img1.png", "img2.png"] {
        let at = |q: u8| rows.iter().find(|r| r.image == name && r.quality == q).unwrap();
        assert!(at(80).bpp > at(30).bpp && at(80).psnr > at(30).psnr, "{name}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["results"]["bpp"].as_array().unwrap().len(), 2, "{summary}");
    assert_eq!(summary["results"]["psnr-rgb"].as_array().unwrap().len(), 2, "{summary}");

    // Resume: nothing new, nothing duplicated.
    assert_eq!(run_eval(&cfg).unwrap().len(), 6);

    // Two shards cover the images once each and merge to the same rows.
    let shards = tempfile::tempdir().unwrap();
    let mut shard_rows = 0;
    for index in 0..2 {
        let cfg = config(data.path(), shards.path(), Some(Shard { index, count: 2 }));
        shard_rows += run_eval(&cfg).unwrap().len();
    }
    assert_eq!(shard_rows, 6);
    let merged_dir = tempfile::tempdir().unwrap();
    let summaries = merge(&[shards.path().to_path_buf()], merged_dir.path()).unwrap();
    assert_eq!(summaries.len(), 1);
    let mut merged = read_rows(&merged_dir.path().join("results.csv")).unwrap();
    let mut single = rows.clone();
    let key = |r: &neco_tools::eval::ImageRow| (r.image.clone(), r.quality);
    merged.sort_by_key(key);
    single.sort_by_key(key);
    assert_eq!(merged.len(), single.len());
    for (a, b) in merged.iter().zip(&single) {
        // The wavelet codec is deterministic: the same bytes and quality in both runs.
        assert_eq!((&a.image, a.quality, a.bytes), (&b.image, b.quality, b.bytes));
        assert_eq!(a.psnr, b.psnr);
    }
}

/// A fixed-rate learned model has one operating point: it is coded once per image, not once per
/// requested quality (six identical passes before), and a rerun adds nothing.
#[test]
fn fixed_rate_models_are_coded_once_per_image() {
    use neco_models::{weights, Arch, ModelConfig};
    let data = tempfile::tempdir().unwrap();
    write_images(data.path());
    let out = tempfile::tempdir().unwrap();
    tch::manual_seed(3);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let config = ModelConfig::new(Arch::Bmshj2018Hyperprior, 8, 12);
    let mut model = config.build(&vs.root()).unwrap();
    model.update_tables().unwrap();
    let path = out.path().join("tiny.safetensors");
    weights::save(&path, &config, model.as_ref(), &vs, tch::Kind::Float, &Default::default()).unwrap();

    let mut cfg = self::config(data.path(), &out.path().join("eval"), None);
    cfg.model = path.display().to_string();
    cfg.qualities = vec![30, 50, 80];
    let rows = run_eval(&cfg).unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.quality == 30 && r.bpp > 0.0), "{rows:?}");
    assert_eq!(run_eval(&cfg).unwrap().len(), 3);
}
