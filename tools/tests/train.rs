//! `neco train` end to end on a tiny model and a few small images: the loss falls, and a run
//! resumed from its checkpoint ends bit-identical to one that never stopped.

use neco_models::weights::read_safetensors;
use neco_tools::train::{run, run_until, Distortion, TrainConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn write_images(dir: &Path) {
    for i in 0..4u32 {
        let img = image::RgbImage::from_fn(96 + 8 * i, 80, |x, y| {
            let v = ((x * (3 + i) + y * 5) % 256) as u8;
            image::Rgb([v, ((x / 6 + y / 9) % 2 * 180 + 30) as u8, (y * 3) as u8])
        });
        img.save(dir.join(format!("img{i}.png"))).unwrap();
    }
}

fn config(data: &Path, out: PathBuf, steps: u64) -> TrainConfig {
    TrainConfig {
        arch: "mbt2018-mean".into(),
        n: 8,
        m: 12,
        lambdas: vec![0.01, 0.05],
        distortion: Distortion::Mse,
        data: vec![data.to_path_buf()],
        val: Some(data.to_path_buf()),
        val_images: 1,
        steps,
        batch: 2,
        patch: 64,
        lr: 2e-3,
        aux_lr: 1e-3,
        warmup_steps: 2,
        decay_start: 0.8,
        final_lr_factor: 0.05,
        clip_norm: 1.0,
        straight_through: true,
        quantization_aware: false,
        // Off here: in 30 steps this tiny model's falling loss is mostly it learning the mean
        // colour, which the bias initialisation would hand it. The resume check turns it on.
        output_bias_init: false,
        device: "cpu".into(),
        seed: 7,
        workers: 1,
        out,
        checkpoint_every: 5,
        val_every: 0,
        log_every: 1,
        max_minutes: None,
        half_weights: false,
        init: None,
        quiet: true,
    }
}

/// Training uses libtorch's process-wide random generator, so two training tests running at
/// once would disturb each other's (exactly compared) runs: they take turns.
static ONE_TRAINING_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for this test's turn, uses one thread, and writes the training images into a new
/// temporary folder: (the turn, the folder, its `data` subfolder).
fn training_setup() -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir, PathBuf) {
    let turn = ONE_TRAINING_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    neco_models::device::set_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_images(&data);
    (turn, dir, data)
}

fn losses(out: &Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("log.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("loss").and_then(|l| l.as_f64()))
        .collect()
}

#[test]
fn loss_falls_and_resume_is_exact() {
    let (_turn, dir, data) = training_setup();
    let stop = || Arc::new(AtomicBool::new(false));

    // One uninterrupted run of 30 steps.
    let straight = dir.path().join("straight");
    let summary = run(&config(&data, straight.clone(), 30), None, stop()).unwrap();
    assert_eq!(summary.steps_done, 30);
    let l = losses(&straight);
    assert_eq!(l.len(), 30);
    let first: f64 = l[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = l[25..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "loss did not fall: {first:.3} → {last:.3}");
    // A variable-rate run logs each level's own means; with --log-every 1 they count the batch.
    let first_line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(straight.join("log.jsonl")).unwrap().lines().next().unwrap())
            .unwrap();
    let per_level = first_line["levels"].as_array().expect("per-level means in the log");
    let samples: u64 = per_level.iter().map(|l| l["samples"].as_u64().unwrap()).sum();
    assert_eq!(samples, 2, "{per_level:?}");
    assert!(per_level.iter().all(|l| l["bpp"].as_f64().unwrap() > 0.0 && l["psnr"].as_f64().unwrap() > 0.0));
    assert_eq!(summary.last_validation.len(), 2, "validation at the lowest and highest level");
    assert!(summary.last_validation.iter().all(|v| v.bpp_coded > 0.0 && v.psnr.is_finite()));

    // Resuming: a run with the default output-bias initialisation (which must happen once, at
    // step 0, and not again on resuming), and the same run paused after 15 steps (as Ctrl-C
    // would) and resumed from its checkpoint.
    let with_bias_init = |out: PathBuf| TrainConfig { output_bias_init: true, ..config(&data, out, 30) };
    let straight = dir.path().join("straight_bias_init");
    run(&with_bias_init(straight.clone()), None, stop()).unwrap();
    let split = dir.path().join("split");
    run_until(&with_bias_init(split.clone()), None, stop(), Some(15)).unwrap();
    let checkpoint = split.join("checkpoint.safetensors");
    let resumed = run(&with_bias_init(split.clone()), Some(&checkpoint), stop()).unwrap();
    assert_eq!(resumed.steps_done, 30);
    assert_ne!(losses(&straight)[..5], l[..5], "the output-bias initialisation changed nothing");

    let read = |p: &Path| read_safetensors(&std::fs::read(p.join("weights.safetensors")).unwrap()).unwrap().0;
    let (a, b) = (read(&straight), read(&split));
    assert_eq!(a.len(), b.len());
    for (name, ta) in &a {
        let tb = &b[name];
        assert!(ta.equal(tb), "{name} differs between the straight and the resumed run");
    }
    // GDN's reparametrized β and γ stay on or above their lower bounds (CompressAI's
    // LowerBound, as a projection): with straight-through bounds alone, the off-diagonal γ that
    // start on the bound drift below it within a few steps at this learning rate.
    for (name, t) in a.iter().filter(|(n, _)| n.ends_with(".gamma") || n.ends_with(".beta")) {
        let bound = if name.ends_with(".gamma") { 2f64.powi(-18) } else { (1e-6 + 2f64.powi(-36)).sqrt() };
        let min = t.min().double_value(&[]);
        assert!(min >= bound as f32 as f64, "{name}: {min} below the bound {bound}");
    }
    // The resumed run logged the same losses for its steps.
    let (ls, lr) = (losses(&straight), losses(&split));
    assert_eq!(ls[15..], lr[15..], "losses after resuming differ");
}

#[test]
fn kodak_is_refused_as_training_data() {
    let dir = tempfile::tempdir().unwrap();
    let kodak = dir.path().join("kodak");
    std::fs::create_dir(&kodak).unwrap();
    write_images(&kodak);
    let err = run(&config(&kodak, dir.path().join("o"), 2), None, Arc::new(AtomicBool::new(false))).unwrap_err();
    assert!(err.to_string().contains("evaluation only"), "{err}");
}

/// `--quantization-aware` trains through the fixed-point h_s: the run works, its loss falls, and
/// it is a different computation from plain training (the rounding is really in the loop).
#[test]
fn quantization_aware_training_runs_and_differs() {
    let (_turn, dir, data) = training_setup();
    let stop = || Arc::new(AtomicBool::new(false));
    let aware = dir.path().join("aware");
    let cfg = TrainConfig { quantization_aware: true, ..config(&data, aware.clone(), 20) };
    assert_eq!(run(&cfg, None, stop()).unwrap().steps_done, 20);
    let l = losses(&aware);
    assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
    assert!(l[15..].iter().sum::<f64>() < l[..5].iter().sum::<f64>(), "loss did not fall: {l:?}");
    let plain = dir.path().join("plain");
    run(&config(&data, plain.clone(), 20), None, stop()).unwrap();
    assert_ne!(losses(&plain), l, "quantization-aware training computed exactly the plain losses");
}

/// `neco train --model wavelet`: trains the wavelet codec's starting states
/// on a few images, skipping an unreadable file; the states parse and fit
/// (a second round gathers from them), and a run on 1 or 2 workers writes
/// the same bytes (integer counts, merged in any order).
#[test]
fn wavelet_states_train_deterministically() {
    use neco_tools::train::{train_wavelet_states, WaveletStatesConfig, WAVELET_STATES_FILE};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("images");
    std::fs::create_dir(&data).unwrap();
    write_images(&data);
    std::fs::write(data.join("broken.png"), b"not a png").unwrap();
    let run = |workers: usize, out: &str| {
        let cfg = WaveletStatesConfig {
            data: vec![data.clone()],
            qualities: vec![20, 40, 60],
            quality_classes: vec![30, 100],
            rounds: 2,
            workers,
            out: dir.path().join(out),
            quiet: true,
        };
        let report = train_wavelet_states(&cfg, Arc::new(AtomicBool::new(false))).unwrap();
        assert_eq!(report.images, 4);
        assert_eq!(report.unreadable.len(), 1);
        assert!(report.decisions > 1000, "{} decisions", report.decisions);
        std::fs::read(cfg.out.join(WAVELET_STATES_FILE)).unwrap()
    };
    let (one, two) = (run(1, "one"), run(2, "two"));
    assert_eq!(one, two);
    let states = neco_models::wavelet::TrainedStates::from_bytes(&one).unwrap();
    assert_eq!(states.classes.iter().map(|c| c.0).collect::<Vec<_>>(), [30, 100]);
    assert_ne!(states.classes[0].1, states.classes[1].1);
    let kodak = WaveletStatesConfig {
        data: vec![dir.path().join("Kodak")],
        qualities: vec![20],
        quality_classes: vec![100],
        rounds: 1,
        workers: 1,
        out: dir.path().join("k"),
        quiet: true,
    };
    let err = train_wavelet_states(&kodak, Arc::new(AtomicBool::new(false))).unwrap_err();
    assert!(err.to_string().contains("evaluation only"), "{err}");
}
