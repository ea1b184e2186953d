//! `neco bench`: the command-line face of `neco_tools::bench`.

use anyhow::{ensure, Context, Result};
use clap::Args;
use neco_models::device::DeviceChoice;
use neco_tools::bench::{default_data_dir, format_table, run_bench, to_json, BenchConfig, ModelSpec};
use neco_tools::cli_speed::{format_cli_speed, parse_anchor_setting, run_cli_speed, CliCodec, CliSpeedConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Built-in model name or .safetensors weights path, coded through the full codec API
    /// (repeatable).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Architecture of a randomly initialised model, coded through the model directly
    /// (repeatable): bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, elic.
    #[arg(long = "arch")]
    archs: Vec<String>,
    /// Transform width N of --arch models (default: CompressAI's for --quality).
    #[arg(long)]
    n: Option<i64>,
    /// Latent channels M of --arch models (default: CompressAI's for --quality).
    #[arg(long)]
    m: Option<i64>,
    /// For --arch: the CompressAI quality 1..=8 giving the widths (default 3). For --model:
    /// the codec quality 1..=100 (default: the model's).
    #[arg(short, long)]
    quality: Option<u8>,
    /// Image folder (default ../shared/datasets/kodak, relative to the cwd or the workspace).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of images (the first K, sorted by path).
    #[arg(long, default_value_t = 3)]
    images: usize,
    /// Timed repetitions per image, after one warm-up.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// libtorch CPU threads (also used for CompressAI); 0 = libtorch's default.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Also time CompressAI (random weights, same images, threads and quality) for the --arch
    /// models it has, alternating CompressAI, neco, CompressAI.
    #[arg(long)]
    compare_compressai: bool,
    /// Python with compressai (default: .venv/bin/python of the cwd or the workspace).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Time the --model models through the `neco` command line next to a traditional codec's
    /// command-line tools at a setting, in the same run, image by image (repeatable):
    /// `--anchor jpeg=75 --anchor webp=75 --anchor avif=30 --anchor jxl=1.5`. Prints a Markdown
    /// table of median encode and decode seconds per image, bpp and PSNR.
    #[arg(long = "anchor", value_name = "CODEC=PARAM", value_parser = parse_anchor_setting)]
    anchors: Vec<CliCodec>,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

pub fn bench(args: BenchArgs) -> Result<()> {
    if !args.anchors.is_empty() {
        return bench_cli(args);
    }
    let mut models = vec![];
    for name in &args.models {
        if let Some(q) = args.quality {
            ensure!((1..=100).contains(&q), "--quality {q} is outside 1..=100 for --model");
        }
        models.push(ModelSpec::Codec {
            name: name.clone(),
            quality: if args.archs.is_empty() { args.quality } else { None },
        });
    }
    for arch in &args.archs {
        models.push(ModelSpec::random(arch, args.quality, args.n, args.m)?);
    }
    ensure!(!models.is_empty(), "nothing to benchmark: give --model NAME|PATH or --arch ARCH");
    let data = args.data.unwrap_or_else(default_data_dir);
    ensure!(data.exists(), "image folder {} does not exist (give --data DIR)", data.display());
    let cfg = BenchConfig {
        models,
        data,
        images: args.images,
        repeat: args.repeat,
        threads: args.threads,
        device: args.device,
        compare_compressai: args.compare_compressai,
        python: args.python,
        compressai_script: None,
        verbose: !args.quiet,
    };
    let results = run_bench(&cfg)?;
    print!("{}", format_table(&results));
    if let Some(path) = args.json {
        std::fs::write(&path, to_json(&results)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `neco bench --anchor …`: neco's CLI next to the anchors' CLIs.
fn bench_cli(args: BenchArgs) -> Result<()> {
    ensure!(args.archs.is_empty(), "--anchor times command lines: give --model NAME, not --arch");
    let quality = args.quality.unwrap_or(60);
    ensure!((1..=100).contains(&quality), "--quality {quality} is outside 1..=100");
    let mut codecs: Vec<CliCodec> =
        args.models.iter().map(|model| CliCodec::Neco { model: model.clone(), quality }).collect();
    if codecs.is_empty() {
        codecs.push(CliCodec::Neco { model: neco::DEFAULT_MODEL.to_string(), quality });
    }
    codecs.extend(args.anchors);
    let data = args.data.unwrap_or_else(default_data_dir);
    let cfg = CliSpeedConfig {
        codecs,
        data,
        images: args.images,
        repeat: args.repeat,
        neco: std::env::current_exe().context("cannot locate the neco binary")?,
        threads: args.threads.max(1),
        verbose: !args.quiet,
    };
    let results = run_cli_speed(&cfg)?;
    print!("{}", format_cli_speed(&results, cfg.threads));
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&results)?;
        std::fs::write(&path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
