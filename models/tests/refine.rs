//! Encoder-side latent refinement: with the shipped weights it lowers the real coded cost
//! (bytes and decoded 8-bit pixels, not the training estimate); on tiny random models of every
//! learned architecture (the hyperprior family and ELIC) it runs and keeps the streams
//! decodable; with no steps it codes exactly what `compress` codes.

mod common;

use common::{build, smooth_image};
use neco_models::{Arch, ImageModel, ModelConfig, Rate, Refinement};
use tch::{Device, Kind, Tensor};

const LAMBDA: f64 = 0.01;

/// The tests build their random models from libtorch's one global generator, seeded; in
/// parallel they would change each other's draws, so each test holds this lock.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// λ·255²·MSE of the decoded visible pixels (8-bit, as a user sees them) plus the coded bits
/// per visible pixel.
fn real_cost(
    model: &dyn ImageModel,
    x: &Tensor,
    visible: (i64, i64),
    rate: &Rate,
    lambda: f64,
    refine: Option<usize>,
) -> f64 {
    let (h, w) = visible;
    let (streams, report) = match refine {
        None => (model.compress(x, rate).unwrap(), None),
        Some(steps) => {
            let (s, r) = model.compress_refined(x, rate, &Refinement::new(steps, lambda, visible)).unwrap();
            (s, Some(r))
        }
    };
    if let Some(r) = report {
        assert_eq!(r.steps, refine.unwrap());
        assert!(r.best_cost <= r.initial_cost, "{r:?}");
    }
    let (ph, pw) = (x.size()[2], x.size()[3]);
    let decoded = model.decompress(&streams, ph, pw, rate).unwrap();
    let to8 = |t: &Tensor| (t.narrow(2, 0, h).narrow(3, 0, w) * 255.0).round().clamp(0.0, 255.0);
    let mse = (to8(&decoded) - to8(x)).square().mean(Kind::Double).double_value(&[]) / (255.0 * 255.0);
    let bytes = streams.latent.len() + streams.hyper.as_ref().map_or(0, Vec::len);
    lambda * 255.0 * 255.0 * mse + bytes as f64 * 8.0 / (h * w) as f64
}

/// A crop of kodim23 (edges and texture), padded to the model's stride.
fn photo(height: i64, width: i64) -> Tensor {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/kodim23.png");
    let rgb = image::open(path).expect("assets/kodim23.png").to_rgb8();
    let crop = image::imageops::crop_imm(&rgb, 300, 200, width as u32, height as u32).to_image();
    let x = Tensor::from_slice(crop.as_raw()).view([height, width, 3]).permute([2, 0, 1]).unsqueeze(0);
    neco_models::pad_to_stride(&(x.to_kind(Kind::Float) / 255.0), 64)
}

/// The shipped model (trained weights: a random model's reconstructions fall outside [0, 1],
/// where the clamp passes no gradient) refines a 120×60 crop to a lower real cost at a low
/// and a high rate level. The padding (to 128×64) is free.
#[test]
fn refinement_lowers_the_real_coded_cost_of_the_shipped_model() {
    let _rng = serial();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/hyperprior.safetensors");
    let loaded = neco_models::weights::load(&path, Device::Cpu).unwrap();
    let model = loaded.model.as_ref();
    let x = photo(120, 60);
    for (level, lambda) in [(1.0, 0.0035), (6.0, 0.0932)] {
        let rate = Rate::Continuous(level);
        let plain = real_cost(model, &x, (120, 60), &rate, lambda, None);
        let refined = real_cost(model, &x, (120, 60), &rate, lambda, Some(30));
        assert!(refined < plain * 0.99, "level {level}: refined cost {refined:.4} is not 1 % below plain {plain:.4}");
    }
}

/// Refinements side by side, as `neco eval --jobs` runs them on threads, code exactly what one
/// alone codes: the soft rounding draws from a per-thread source, not from libtorch's global
/// generator, which every thread shares.
#[test]
fn refinements_side_by_side_code_what_one_alone_codes() {
    let _rng = serial();
    let refine = || {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/hyperprior.safetensors");
        let loaded = neco_models::weights::load(&path, Device::Cpu).unwrap();
        let cfg = Refinement::new(30, 0.0035, (64, 64));
        loaded.model.compress_refined(&photo(64, 64), &Rate::Continuous(1.0), &cfg).unwrap()
    };
    let (alone, report) = refine();
    assert!(report.best_step > 0, "the search must move the latents for its noise to matter: {report:?}");
    let side_by_side: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2).map(|_| s.spawn(|| refine().0)).collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for streams in side_by_side {
        assert_eq!(streams, alone);
    }
}

/// Every learned model refines (tiny random models): the search runs, returns latents no
/// worse than it started from, and the streams decode (their symbol checksums hold). ELIC's
/// search runs through its checkerboard and channel contexts, which the coder then rebuilds
/// from the refined latents.
#[test]
fn every_learned_model_refines() {
    let _rng = serial();
    let mut gained = ModelConfig::new(Arch::Mbt2018Mean, 8, 12);
    gained.rate_levels = 3;
    let mut gained_elic = ModelConfig::new(Arch::Elic, 8, 40);
    gained_elic.rate_levels = 3;
    let configs = [
        (ModelConfig::new(Arch::Bmshj2018Factorized, 8, 12), Rate::Default),
        (ModelConfig::new(Arch::Bmshj2018Hyperprior, 8, 12), Rate::Default),
        (ModelConfig::new(Arch::Mbt2018Mean, 8, 12), Rate::Default),
        (gained, Rate::Continuous(1.25)),
        (ModelConfig::new(Arch::Elic, 8, 40), Rate::Default),
        (gained_elic, Rate::Continuous(0.75)),
    ];
    for (cfg, rate) in configs {
        let (_vs, model) = build(&cfg, 11);
        assert!(model.supports_refinement(), "{:?}", cfg.arch);
        let x = smooth_image(64, 64, 12);
        real_cost(model.as_ref(), &x, (64, 64), &rate, LAMBDA, Some(6));
    }
}

#[test]
fn zero_steps_code_what_compress_codes() {
    let _rng = serial();
    let mut mean_scale = ModelConfig::new(Arch::Mbt2018Mean, 8, 12);
    mean_scale.rate_levels = 3;
    let mut elic = ModelConfig::new(Arch::Elic, 8, 40);
    elic.rate_levels = 3;
    for (seed, cfg) in [(13, mean_scale), (15, elic)] {
        let (_vs, model) = build(&cfg, seed);
        let x = smooth_image(64, 64, seed + 1);
        let rate = Rate::Continuous(0.5);
        let plain = model.compress(&x, &rate).unwrap();
        let (refined, report) = model.compress_refined(&x, &rate, &Refinement::new(0, LAMBDA, (64, 64))).unwrap();
        assert_eq!(plain, refined, "{:?}", cfg.arch);
        assert_eq!((report.best_step, report.best_cost), (0, report.initial_cost));
    }
}

#[test]
fn refinement_rejects_a_bad_lambda() {
    let _rng = serial();
    let (_vs, model) = build(&ModelConfig::new(Arch::Mbt2018Mean, 8, 12), 17);
    let x = smooth_image(64, 64, 18);
    for lambda in [0.0, -1.0, f64::NAN] {
        assert!(model.compress_refined(&x, &Rate::Default, &Refinement::new(3, lambda, (64, 64))).is_err());
    }
}
