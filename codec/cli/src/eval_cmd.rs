//! `neco eval` (and `neco eval merge`) and `neco bd`: the command-line face of
//! `neco_tools::eval` and `neco_tools::bd_rate`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use neco_models::device::DeviceChoice;
use neco_tools::bd_rate::{
    compare, find_curve, format_points, format_table, load_curves, pointwise, Interpolation, Metric,
};
use neco_tools::eval::{merge, run_eval, summarize, EvalConfig, Shard};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    action: Option<EvalAction>,
    /// Image folders (or files) to evaluate on.
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Built-in model name or weights file.
    #[arg(long, default_value = neco::DEFAULT_MODEL)]
    model: String,
    /// Qualities to sweep (comma-separated).
    #[arg(long = "quality", value_delimiter = ',', default_value = "20,30,40,50,60,70")]
    qualities: Vec<u8>,
    /// Output folder: results.csv (one row per image and quality) and summary.json.
    #[arg(long, default_value = "neco-eval")]
    out: PathBuf,
    /// Images coded at once (each job loads its own model).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Evaluate only shard i of n (every n-th image); combine with `neco eval merge`.
    #[arg(long)]
    shard: Option<Shard>,
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Keep the coded files and decoded PNGs under OUT/files/.
    #[arg(long)]
    keep_files: bool,
    #[arg(long)]
    quiet: bool,
    /// Encoder effort 0..=9 of learned models (latent refinement, as `neco encode --effort`);
    /// rows are labelled MODEL@effortN.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    effort: Option<u8>,
}

#[derive(Subcommand, Debug)]
enum EvalAction {
    /// Merge shard CSVs (files or folders) into one results.csv and summary.json.
    Merge {
        #[arg(required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        #[arg(long, default_value = "neco-eval")]
        out: PathBuf,
    },
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if let Some(EvalAction::Merge { inputs, out }) = args.action {
        for s in merge(&inputs, &out)? {
            print_summary(&s);
        }
        println!("merged into {}", out.join("results.csv").display());
        return Ok(());
    }
    anyhow::ensure!(!args.data.is_empty(), "give --data DIR (the images to evaluate on)");
    if let Some(t) = args.threads {
        neco_models::device::set_threads(t);
    }
    let cfg = EvalConfig {
        data: args.data,
        model: args.model,
        qualities: args.qualities,
        out: args.out,
        jobs: args.jobs,
        shard: args.shard,
        device: args.device,
        keep_files: args.keep_files,
        quiet: args.quiet,
        effort: args.effort,
    };
    let rows = run_eval(&cfg)?;
    print_summary(&summarize(&rows, &cfg.label())?);
    println!("rows: {}", cfg.csv_path().display());
    Ok(())
}

fn print_summary(s: &neco_tools::eval::Summary) {
    println!("{}", s.name);
    print!("{}", s.table());
}

#[derive(Args, Debug)]
pub struct BdArgs {
    /// The anchor curve file (CompressAI results JSON, `neco eval` summary, or kodak_rd.json).
    anchor: PathBuf,
    /// Test curve files.
    #[arg(required = true, num_args = 1..)]
    tests: Vec<PathBuf>,
    /// Pick one curve by name from the anchor file (e.g. `avif` in kodak_rd.json).
    #[arg(long)]
    anchor_curve: Option<String>,
    /// akima, pchip, cubic, or all.
    #[arg(long, default_value = "akima")]
    method: String,
    /// psnr, ms-ssim or ms-ssim-db.
    #[arg(long, default_value = "psnr")]
    metric: Metric,
    /// Also compare at each anchor point: the test's quality at that rate and
    /// its rate at that quality, and at how many points it is better (a BD
    /// value cannot say whether one curve leads across the whole range).
    #[arg(long)]
    points: bool,
}

pub fn bd(args: BdArgs) -> Result<()> {
    let methods: Vec<Interpolation> =
        if args.method == "all" { Interpolation::ALL.to_vec() } else { vec![args.method.parse()?] };
    let anchors = load_curves(&args.anchor, args.metric)?;
    let anchor = match &args.anchor_curve {
        Some(name) => find_curve(&anchors, name)?.clone(),
        None => {
            anyhow::ensure!(
                anchors.len() == 1,
                "{} holds {} curves; pick one with --anchor-curve",
                args.anchor.display(),
                anchors.len()
            );
            anchors[0].clone()
        }
    };
    for method in methods {
        let mut rows = vec![];
        let mut point_tables = String::new();
        for path in &args.tests {
            for curve in load_curves(path, args.metric)? {
                let against = || format!("{} against {}", curve.name, anchor.name);
                let r = compare(&anchor.points, &curve.points, method).with_context(against)?;
                if args.points {
                    let deltas = pointwise(&anchor.points, &curve.points, method).with_context(against)?;
                    point_tables.push('\n');
                    point_tables.push_str(&format_points(&curve.name, &anchor.name, &deltas));
                }
                rows.push((curve.name.clone(), r));
            }
        }
        println!("BD against {} ({method}, {:?}):", anchor.name, args.metric);
        print!("{}{point_tables}", format_table(&rows));
    }
    Ok(())
}
