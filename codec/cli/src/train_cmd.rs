//! `neco train`: the command-line face of `neco_tools::train`.

use anyhow::{bail, Context, Result};
use clap::Args;
use neco_tools::train::{
    run, train_wavelet_states, Distortion, TrainConfig, WaveletStatesConfig, COMPRESSAI_MSE_LAMBDAS, WAVELET_QUALITIES,
    WAVELET_QUALITY_CLASSES,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture: bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, elic; or wavelet
    /// (trains the wavelet codec's starting states of its context mixers from --data, at
    /// --quality, in --rounds rounds on --workers threads, into OUT/wavelet-initial-states.bin).
    #[arg(long = "model", default_value = "mbt2018-mean")]
    arch: String,
    /// Wavelet only: qualities each training image is coded at (comma-separated).
    #[arg(long = "quality", value_delimiter = ',')]
    qualities: Option<Vec<u8>>,
    /// Wavelet only: each quality class's highest quality (comma-separated, ascending): one set
    /// of states per class.
    #[arg(long = "quality-classes", value_delimiter = ',')]
    quality_classes: Option<Vec<u8>>,
    /// Wavelet only: gathering rounds, each starting from the states of the round before.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Transform width N.
    #[arg(long, default_value_t = 128)]
    n: i64,
    /// Latent channels M.
    #[arg(long, default_value_t = 192)]
    m: i64,
    /// Rate-distortion trade-off(s). One λ trains a fixed-rate model; several (lowest rate
    /// first, comma-separated) train one variable-rate model with a gain level per λ.
    /// `compressai` means CompressAI's 8 MSE λ values.
    #[arg(long = "lambda", value_delimiter = ',', default_value = "0.013")]
    lambdas: Vec<String>,
    /// Distortion: mse (λ·255²·MSE) or ms-ssim (λ·(1 − MS-SSIM)).
    #[arg(long, default_value = "mse")]
    distortion: String,
    /// Training image folders (searched recursively).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Validation folder: real coded bpp and PSNR are reported every --val-every steps.
    #[arg(long)]
    val: Option<PathBuf>,
    #[arg(long, default_value_t = 4)]
    val_images: usize,
    #[arg(long, default_value_t = 10_000)]
    steps: u64,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Square crop size (a multiple of 64).
    #[arg(long, default_value_t = 256)]
    patch: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1e-3)]
    aux_lr: f64,
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// Fraction of the run after which the learning rate decays (cosine) to lr/20.
    #[arg(long, default_value_t = 0.75)]
    decay_start: f64,
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// Use additive noise for the decoder input too (CompressAI's default) instead of
    /// straight-through rounding.
    #[arg(long)]
    noise: bool,
    /// Quantization-aware training of the entropy-parameter network: the loss sees the exact
    /// fixed-point h_s that coding uses (mbt2018-mean). For fine-tuning trained weights
    /// (`--init`).
    #[arg(long)]
    quantization_aware: bool,
    /// Keep CompressAI's random initialisation of g_s's output bias. By default a from-scratch
    /// run starts it at the first batch's mean colour, which removes a slow first phase of
    /// training (docs/training.md).
    #[arg(long)]
    random_output_bias: bool,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads for libtorch (default: its own choice).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Output folder: log.jsonl, checkpoint.safetensors, weights.safetensors.
    #[arg(long, default_value = "neco-train")]
    out: PathBuf,
    /// Resume from a checkpoint (exactly: weights, optimizer state, step, schedule).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start from existing weights (fine-tuning).
    #[arg(long)]
    init: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    #[arg(long, default_value_t = 2000)]
    val_every: u64,
    #[arg(long, default_value_t = 50)]
    log_every: u64,
    /// Stop after this many minutes (the LR schedule follows the time budget).
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Store the final weights as f16.
    #[arg(long)]
    half: bool,
    #[arg(long)]
    quiet: bool,
}

pub fn train(args: TrainArgs) -> Result<()> {
    if args.arch == "wavelet" {
        return train_wavelet(args);
    }
    if let Some(t) = args.threads {
        neco_models::device::set_threads(t);
    }
    let lambdas = parse_lambdas(&args.lambdas)?;
    let distortion = match args.distortion.as_str() {
        "mse" => Distortion::Mse,
        "ms-ssim" | "msssim" => Distortion::MsSsim,
        other => bail!("unknown distortion '{other}' (mse or ms-ssim)"),
    };
    let mut cfg = TrainConfig {
        arch: args.arch,
        n: args.n,
        m: args.m,
        lambdas,
        distortion,
        data: args.data,
        val: args.val,
        val_images: args.val_images,
        steps: args.steps,
        batch: args.batch,
        patch: args.patch,
        lr: args.lr,
        aux_lr: args.aux_lr,
        warmup_steps: args.warmup,
        decay_start: args.decay_start,
        final_lr_factor: 0.05,
        clip_norm: args.clip_norm,
        straight_through: !args.noise,
        quantization_aware: args.quantization_aware,
        output_bias_init: !args.random_output_bias,
        device: args.device,
        seed: args.seed,
        workers: args.workers,
        out: args.out,
        checkpoint_every: args.checkpoint_every.max(1),
        val_every: args.val_every,
        log_every: args.log_every.max(1),
        max_minutes: args.max_minutes,
        half_weights: args.half,
        init: args.init,
        quiet: args.quiet,
    };
    if let Some(resume) = &args.resume {
        // The run's own settings come from the checkpoint; only the budget may be extended.
        let bytes = std::fs::read(resume).with_context(|| format!("cannot read checkpoint {}", resume.display()))?;
        let (_, meta) = neco_models::weights::read_safetensors(&bytes)?;
        let stored: TrainConfig =
            serde_json::from_str(meta.get("train_config").context("not a neco training checkpoint")?)?;
        cfg = TrainConfig { steps: cfg.steps, max_minutes: cfg.max_minutes, quiet: cfg.quiet, out: cfg.out, ..stored };
    }
    let stop = stop_on_ctrl_c("stopping after this step (checkpoint and weights are being written")?;
    let summary = run(&cfg, args.resume.as_deref(), stop)?;
    println!(
        "trained {} steps in {:.0} s; weights: {}",
        summary.steps_done,
        summary.seconds,
        summary.weights.display()
    );
    for v in &summary.last_validation {
        println!("{}", v.describe());
    }
    Ok(())
}

fn train_wavelet(args: TrainArgs) -> Result<()> {
    let cfg = WaveletStatesConfig {
        data: args.data,
        qualities: args.qualities.unwrap_or_else(|| WAVELET_QUALITIES.to_vec()),
        quality_classes: args.quality_classes.unwrap_or_else(|| WAVELET_QUALITY_CLASSES.to_vec()),
        rounds: args.rounds,
        workers: args.workers,
        out: args.out,
        quiet: args.quiet,
    };
    let stop = stop_on_ctrl_c("stopping (nothing is written")?;
    let report = train_wavelet_states(&cfg, stop)?;
    println!(
        "trained the wavelet starting states on {} images at qualities {:?} in {} rounds, {:.0} s: {} ({} bytes, sha256 {})",
        report.images,
        report.qualities,
        report.rounds,
        report.seconds,
        report.states.display(),
        report.bytes,
        report.sha256
    );
    Ok(())
}

/// A flag the first Ctrl-C raises (saying `what` happens now); a second one
/// exits at once.
fn stop_on_ctrl_c(what: &'static str) -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nneco: {what}; Ctrl-C again to abort)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(stop)
}

fn parse_lambdas(values: &[String]) -> Result<Vec<f64>> {
    if values.len() == 1 && values[0] == "compressai" {
        return Ok(COMPRESSAI_MSE_LAMBDAS.to_vec());
    }
    values.iter().map(|v| v.trim().parse::<f64>().with_context(|| format!("λ '{v}' is not a number"))).collect()
}
