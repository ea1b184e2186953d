//! `neco train`: rate-distortion training of any neco architecture on image folders.
//!
//! Loss: `λ·255²·MSE + bpp` (or `λ·(1 − MS-SSIM) + bpp`), averaged over the batch, with the
//! bpp estimated from the likelihoods. Adam trains the network; a second Adam trains the
//! entropy bottleneck's quantiles on the auxiliary loss. With several λ the model gets gain
//! units and each batch element trains at a random rate level (one model for all rates).

mod adam;
mod checkpoint;
mod validate;
mod wavelet_states;

use crate::msssim::ms_ssim;
use adam::Adam;
use anyhow::{bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use neco_datasets::crops::{CropConfig, CropLoader};
use neco_models::device::DeviceChoice;
use neco_models::{weights, Arch, ModelConfig, Quantization, Rate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Kind, Tensor};

pub use validate::{validate, ValidationResult};
pub use wavelet_states::{
    train_wavelet_states, WaveletStatesConfig, WaveletStatesReport, DEFAULT_QUALITIES as WAVELET_QUALITIES,
    DEFAULT_QUALITY_CLASSES as WAVELET_QUALITY_CLASSES, STATES_FILE as WAVELET_STATES_FILE,
};

/// Errors unless there are training folders and none looks like Kodak,
/// which is for evaluation only.
pub fn refuse_evaluation_data(data: &[PathBuf]) -> Result<()> {
    ensure!(!data.is_empty(), "need at least one --data folder");
    for d in data {
        if d.components().any(|c| c.as_os_str().to_string_lossy().eq_ignore_ascii_case("kodak")) {
            bail!("{} looks like Kodak, which is for evaluation only; train on other images", d.display());
        }
    }
    Ok(())
}

/// CompressAI's λ list for MSE models, qualities 1–8.
pub const COMPRESSAI_MSE_LAMBDAS: [f64; 8] = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distortion {
    Mse,
    MsSsim,
}

/// Everything a run depends on. Stored in each checkpoint and in the weights' metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: String,
    pub n: i64,
    pub m: i64,
    /// One λ: a fixed-rate model. Several: gain levels, lowest rate first.
    pub lambdas: Vec<f64>,
    pub distortion: Distortion,
    pub data: Vec<PathBuf>,
    pub val: Option<PathBuf>,
    pub val_images: usize,
    pub steps: u64,
    pub batch: usize,
    pub patch: usize,
    pub lr: f64,
    pub aux_lr: f64,
    pub warmup_steps: u64,
    /// Fraction of the run after which the learning rate decays (cosine) to `lr · final_lr_factor`.
    pub decay_start: f64,
    pub final_lr_factor: f64,
    pub clip_norm: f64,
    /// Straight-through rounding for the decoder input (noise for the likelihoods) if true;
    /// additive noise everywhere otherwise.
    pub straight_through: bool,
    /// Train h_s through the fixed-point rounding coding uses (fine-tuning the integer parts).
    #[serde(default)]
    pub quantization_aware: bool,
    /// Start g_s's output bias at the first batch's mean colour (from-scratch runs only).
    #[serde(default)]
    pub output_bias_init: bool,
    pub device: String,
    pub seed: u64,
    pub workers: usize,
    pub out: PathBuf,
    pub checkpoint_every: u64,
    pub val_every: u64,
    pub log_every: u64,
    /// Stop (and save) after this many minutes; the LR schedule follows elapsed time too.
    pub max_minutes: Option<f64>,
    /// Store the final weights as f16 (half the size; tables are built from the rounded values).
    pub half_weights: bool,
    /// Start from these weights instead of a fresh initialisation.
    pub init: Option<PathBuf>,
    pub quiet: bool,
}

impl TrainConfig {
    pub fn model_config(&self) -> Result<ModelConfig> {
        let mut cfg = ModelConfig::new(Arch::from_name(&self.arch)?, self.n, self.m);
        cfg.rate_levels = self.lambdas.len() as i64;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        ensure!(!self.lambdas.is_empty(), "need at least one --lambda");
        ensure!(self.lambdas.iter().all(|l| l.is_finite() && *l > 0.0), "λ must be positive");
        ensure!(self.lambdas.windows(2).all(|w| w[0] < w[1]), "list λ from lowest to highest rate");
        ensure!(self.batch > 0, "--batch must be at least 1");
        ensure!(self.patch >= 64 && self.patch.is_multiple_of(64), "--patch must be a positive multiple of 64");
        refuse_evaluation_data(&self.data)?;
        if self.distortion == Distortion::MsSsim {
            ensure!(self.patch >= 192, "MS-SSIM needs patches of at least 192 (5 scales)");
        }
        Ok(())
    }

    /// Learning rate at `progress` ∈ [0, 1] (step `step`): linear warm-up, constant, then a
    /// cosine decay from `decay_start` to the end.
    fn learning_rate(&self, step: u64, progress: f64) -> f64 {
        let warm = if self.warmup_steps > 0 { ((step + 1) as f64 / self.warmup_steps as f64).min(1.0) } else { 1.0 };
        let decay = if progress <= self.decay_start {
            1.0
        } else {
            let t = ((progress - self.decay_start) / (1.0 - self.decay_start).max(1e-9)).min(1.0);
            self.final_lr_factor + (1.0 - self.final_lr_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        };
        self.lr * warm * decay
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct TrainSummary {
    pub steps_done: u64,
    pub weights: PathBuf,
    pub seconds: f64,
    pub last_validation: Vec<ValidationResult>,
}

/// Runs (or resumes) training. `stop` is polled every step (Ctrl-C sets it): the run then
/// writes a checkpoint and the weights, and returns.
pub fn run(cfg: &TrainConfig, resume: Option<&std::path::Path>, stop: Arc<AtomicBool>) -> Result<TrainSummary> {
    run_until(cfg, resume, stop, None)
}

/// [`run`], but pausing after step `until` of the same schedule (e.g. for a scheduler's time
/// slices): resuming from the checkpoint it writes continues exactly as if it had not paused.
pub fn run_until(
    cfg: &TrainConfig,
    resume: Option<&std::path::Path>,
    stop: Arc<AtomicBool>,
    until: Option<u64>,
) -> Result<TrainSummary> {
    cfg.validate()?;
    let device = cfg.device.parse::<DeviceChoice>()?.resolve()?;
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("cannot create {}", cfg.out.display()))?;
    let model_cfg = cfg.model_config()?;
    if device.is_cuda() {
        // Fixed input shapes: let cuDNN pick the fastest convolution algorithms once.
        tch::Cuda::cudnn_set_benchmark(true);
    }

    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let mut model = model_cfg.build(&vs.root())?;
    if cfg.quantization_aware {
        ensure!(model.set_quantization_aware(true), "{} has no quantization-aware training", model.arch());
    }
    if let Some(init) = &cfg.init {
        let loaded = weights::load(init, device)?;
        ensure!(loaded.config == model_cfg, "--init weights are {:?}, not {:?}", loaded.config, model_cfg);
        copy_variables(&loaded.vs, &vs)?;
    }
    let (main_params, aux_params): (Vec<_>, Vec<_>) =
        sorted_variables(&vs).into_iter().partition(|(name, _)| !name.ends_with("quantiles"));
    let mut adam = Adam::new(main_params);
    let mut aux_adam = Adam::new(aux_params);

    let mut start_step = 0;
    let mut elapsed_before = 0.0;
    if let Some(path) = resume {
        let state = checkpoint::load(path, &vs, &mut adam, &mut aux_adam)?;
        ensure!(state.config.model_config()? == model_cfg, "checkpoint is for a different model");
        start_step = state.step;
        elapsed_before = state.seconds;
    }

    let crop_cfg = CropConfig {
        patch: cfg.patch,
        batch: cfg.batch,
        workers: cfg.workers,
        seed: cfg.seed,
        prefetch: 2 * cfg.workers.max(1),
        cache_decoded: true,
    };
    let mut loader = CropLoader::new(&cfg.data, crop_cfg, start_step)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.out.join("log.jsonl"))
        .context("cannot open the training log")?;
    let lambdas = Tensor::from_slice(&cfg.lambdas).to_kind(Kind::Float).to_device(device);
    let levels = cfg.lambdas.len() as i64;
    let quant = if cfg.straight_through { Quantization::StraightThrough } else { Quantization::Noise };
    let pixels = (cfg.patch * cfg.patch) as i64;

    let bar = if cfg.quiet { ProgressBar::hidden() } else { ProgressBar::new(cfg.steps) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(start_step);
    let started = Instant::now();
    let mut step = start_step;
    let mut last_validation = vec![];
    let mut window = RunningMeans::default();
    let last_step = until.map_or(cfg.steps, |u| u.min(cfg.steps));
    while step < last_step && !stop.load(Ordering::Relaxed) {
        let seconds = elapsed_before + started.elapsed().as_secs_f64();
        let progress = progress(cfg, step, seconds);
        if cfg.max_minutes.is_some_and(|m| seconds >= m * 60.0) {
            break;
        }
        let lr = cfg.learning_rate(step, progress);
        let batch = loader.next_batch()?;
        let x = Tensor::from_slice(&batch.data)
            .view([batch.n as i64, 3, cfg.patch as i64, cfg.patch as i64])
            .to_device(device);
        if step == 0 && cfg.init.is_none() && cfg.output_bias_init {
            ensure!(init_output_bias(&vs, &x), "{} has no 3-channel g_s output bias", model.arch());
        }
        // The noise, and the rate levels, depend only on (seed, step): resuming is exact.
        tch::manual_seed((cfg.seed as i64).wrapping_mul(1_000_003).wrapping_add(step as i64));
        let level_idx = Tensor::randint(levels, [batch.n as i64], (Kind::Int64, device));
        let rate = if levels > 1 { Rate::Levels(&level_idx) } else { Rate::Default };
        let out = model.forward(&x, quant, &rate);
        let bpp = out.bpp_per_image(pixels);
        let lambda = lambdas.index_select(0, &level_idx);
        let mse = (&out.x_hat - &x).square().flatten(1, -1).mean_dim(1, false, Kind::Float);
        let distortion = match cfg.distortion {
            Distortion::Mse => &mse * 255.0 * 255.0,
            Distortion::MsSsim => ms_ssim(&out.x_hat, &x, 1.0).neg() + 1.0,
        };
        let loss = (&lambda * &distortion + &bpp).mean(Kind::Float);
        adam.zero_grad();
        loss.backward();
        let grad_norm = adam.clip_grad_norm(cfg.clip_norm);
        adam.step(lr);
        // CompressAI's lower bound on GDN's parameters, as a projection (see layers::lower_bound).
        neco_models::layers::project_gdn_parameters(&vs);
        aux_adam.zero_grad();
        let aux = model.aux_loss();
        aux.backward();
        aux_adam.step(cfg.aux_lr);
        step += 1;

        // Sums stay on the device; reading them only at log time avoids a sync per step.
        window.add(&loss, &bpp, &mse, &grad_norm);
        if levels > 1 {
            window.add_per_level(&level_idx, &bpp, &mse, levels);
        }
        bar.set_position(step);
        if step % cfg.log_every == 0 || step == cfg.steps {
            let per_level = window.take_per_level();
            let (l, b, m, grad_norm) = window.take();
            ensure!(l.is_finite(), "loss became {l} by step {step}; lower --lr");
            let psnr = -10.0 * m.max(1e-12).log10();
            bar.set_message(format!("loss {l:.4} bpp {b:.3} psnr {psnr:.2} lr {lr:.1e}"));
            let mut line = serde_json::json!({
                "step": step, "loss": l, "bpp": b, "mse": m, "psnr": psnr,
                "aux": aux.double_value(&[]), "lr": lr, "grad_norm": grad_norm,
                "seconds": elapsed_before + started.elapsed().as_secs_f64(),
            });
            if !per_level.is_empty() {
                line["levels"] = serde_json::to_value(&per_level)?;
            }
            writeln!(log, "{line}")?;
            if cfg.quiet || bar.is_hidden() {
                eprintln!("{line}");
            }
        }
        if step % cfg.checkpoint_every == 0 {
            let seconds = elapsed_before + started.elapsed().as_secs_f64();
            checkpoint::save(&cfg.out.join("checkpoint.safetensors"), cfg, step, seconds, &vs, &adam, &aux_adam)?;
        }
        if cfg.val_every > 0 && step % cfg.val_every == 0 {
            if let Some(val) = &cfg.val {
                last_validation = validate(model.as_mut(), val, cfg.val_images, device)?;
                for v in &last_validation {
                    let line = serde_json::json!({"step": step, "validation": v});
                    writeln!(log, "{line}")?;
                    bar.println(v.describe());
                }
            }
        }
    }
    let seconds = elapsed_before + started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    checkpoint::save(&cfg.out.join("checkpoint.safetensors"), cfg, step, seconds, &vs, &adam, &aux_adam)?;

    // Final weights: round to the storage precision first, so the coding tables are built from
    // exactly the values a decoder will load.
    let storage = if cfg.half_weights { Kind::Half } else { Kind::Float };
    weights::round_to_storage(&vs, storage);
    model.update_tables()?;
    let weights_path = cfg.out.join("weights.safetensors");
    let mut meta = HashMap::new();
    meta.insert("train_config".to_string(), serde_json::to_string(cfg)?);
    meta.insert("steps".to_string(), step.to_string());
    meta.insert("train_seconds".to_string(), format!("{seconds:.0}"));
    meta.insert("device".to_string(), format!("{device:?}"));
    weights::save(&weights_path, &model_cfg, model.as_ref(), &vs, storage, &meta)?;
    if let Some(val) = &cfg.val {
        last_validation = validate(model.as_mut(), val, cfg.val_images, device)?;
        for v in &last_validation {
            writeln!(log, "{}", serde_json::json!({"step": step, "final": true, "validation": v}))?;
        }
    }
    Ok(TrainSummary { steps_done: step, weights: weights_path, seconds, last_validation })
}

/// Starts the synthesis transform's output bias at the per-channel mean of the first batch,
/// instead of CompressAI's U(±1/√fan_in).
///
/// Why: a fresh g_s outputs about 0 while images average about 0.45, and Adam moves each
/// parameter by about lr per step, so at lr 1e-4 the bias alone needs thousands of steps to
/// learn the mean colour; until the weights learn it instead, PSNR sits below 20 dB. Returns
/// whether the bias was found.
fn init_output_bias(vs: &nn::VarStore, x: &Tensor) -> bool {
    let Some(mut bias) = g_s_output_bias(vs) else { return false };
    let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    tch::no_grad(|| bias.copy_(&mean));
    true
}

/// The last layer's bias in g_s: the only 3-channel bias under `g_s` (None unless exactly one).
fn g_s_output_bias(vs: &nn::VarStore) -> Option<Tensor> {
    let mut found = vs
        .variables()
        .into_iter()
        .filter(|(name, var)| name.starts_with("g_s.") && name.ends_with(".bias") && var.size() == [3])
        .map(|(_, var)| var);
    let bias = found.next()?;
    found.next().is_none().then_some(bias)
}

/// Fraction of the run done, by steps or (with a time limit) by time, whichever is further.
fn progress(cfg: &TrainConfig, step: u64, seconds: f64) -> f64 {
    let by_steps = step as f64 / cfg.steps.max(1) as f64;
    let by_time = cfg.max_minutes.map_or(0.0, |m| seconds / (m * 60.0));
    by_steps.max(by_time).min(1.0)
}

/// Variables in name order (a stable order for the optimizers and checkpoints).
fn sorted_variables(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

fn copy_variables(from: &nn::VarStore, to: &nn::VarStore) -> Result<()> {
    let src = from.variables();
    tch::no_grad(|| {
        for (name, mut dst) in to.variables() {
            let s = src.get(&name).with_context(|| format!("missing {name}"))?;
            dst.copy_(&s.to_device(dst.device()));
        }
        Ok(())
    })
}

/// Running sums of the logged quantities, kept as device tensors.
#[derive(Default)]
struct RunningMeans {
    n: f64,
    sums: Option<Tensor>,
    /// (levels, 3): batch elements, Σ bpp and Σ MSE per rate level.
    per_level: Option<Tensor>,
}

/// One rate level's means over a logging window: a variable-rate run's loss mixes levels whose
/// λ differ 100-fold, so the overall means say little about the lowest or highest rates.
#[derive(Debug, Serialize)]
struct LevelMeans {
    level: usize,
    samples: u64,
    bpp: f64,
    psnr: f64,
}

impl RunningMeans {
    fn add(&mut self, loss: &Tensor, bpp: &Tensor, mse: &Tensor, grad_norm: &Tensor) {
        let _guard = tch::no_grad_guard();
        let row = Tensor::stack(
            &[
                loss.detach().to_kind(Kind::Float),
                bpp.detach().mean(Kind::Float),
                mse.detach().mean(Kind::Float),
                grad_norm.to_kind(Kind::Float).to_device(loss.device()),
            ],
            0,
        );
        self.n += 1.0;
        self.sums = Some(match self.sums.take() {
            Some(s) => s + row,
            None => row,
        });
    }

    fn add_per_level(&mut self, level_idx: &Tensor, bpp: &Tensor, mse: &Tensor, levels: i64) {
        let _guard = tch::no_grad_guard();
        let bpp = bpp.detach().to_kind(Kind::Float);
        let rows = Tensor::stack(&[bpp.ones_like(), bpp, mse.detach().to_kind(Kind::Float)], 1);
        let sums = self.per_level.take().unwrap_or_else(|| rows.zeros_like().narrow(0, 0, 1).repeat([levels, 1]));
        self.per_level = Some(sums.index_add(0, level_idx, &rows));
    }

    /// Per-level means since the last call (empty for a fixed-rate run).
    fn take_per_level(&mut self) -> Vec<LevelMeans> {
        let Some(sums) = self.per_level.take() else { return vec![] };
        let v: Vec<f64> =
            Vec::try_from(&sums.to_kind(Kind::Double).to_device(tch::Device::Cpu).view([-1])).unwrap_or_default();
        v.chunks(3)
            .enumerate()
            .filter(|(_, r)| r.len() == 3 && r[0] > 0.0)
            .map(|(level, r)| LevelMeans {
                level,
                samples: r[0] as u64,
                bpp: r[1] / r[0],
                psnr: -10.0 * (r[2] / r[0]).max(1e-12).log10(),
            })
            .collect()
    }

    /// Means since the last call: (loss, bpp, mse, gradient norm).
    fn take(&mut self) -> (f64, f64, f64, f64) {
        let n = self.n.max(1.0);
        let v: Vec<f64> = self
            .sums
            .take()
            .map(|s| Vec::<f64>::try_from(&s.to_kind(Kind::Double).to_device(tch::Device::Cpu)).unwrap_or_default())
            .unwrap_or_default();
        self.n = 0.0;
        let get = |i: usize| v.get(i).copied().unwrap_or(f64::NAN) / n;
        (get(0), get(1), get(2), get(3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neco_models::{Arch, ModelConfig};

    #[test]
    fn output_bias_starts_at_the_batch_mean_colour() {
        for arch in [Arch::from_name("mbt2018-mean").unwrap(), Arch::from_name("elic").unwrap()] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let _model = ModelConfig::new(arch, 8, 16).build(&vs.root()).unwrap();
            // Channel c of the batch is c/4 + a zero-mean ripple: its mean is exactly c/4.
            let ripple = Tensor::from_slice(&[0.1f32, -0.1]).repeat([2 * 3 * 16 * 8]).view([2, 3, 16, 16]);
            let x = Tensor::from_slice(&[0.25f32, 0.5, 0.75]).view([1, 3, 1, 1]) + ripple;
            assert!(init_output_bias(&vs, &x), "{arch:?}");
            let got = Vec::<f32>::try_from(&g_s_output_bias(&vs).unwrap()).unwrap();
            for (g, want) in got.iter().zip([0.25, 0.5, 0.75]) {
                assert!((g - want).abs() < 1e-6, "{arch:?}: {got:?}");
            }
        }
    }
}
