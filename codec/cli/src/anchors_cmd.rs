//! `neco anchors`: traditional codecs (JPEG, WebP, AVIF, JPEG XL, HEVC intra) through their real
//! CLIs, measured like `neco eval` (the command-line face of `neco_tools::anchors`).

use anyhow::Result;
use clap::Args;
use neco_tools::anchors::{run_anchors, Anchor, AnchorsConfig};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AnchorsArgs {
    /// Image folders (or files) to code.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Codecs to run (comma-separated): jpeg, webp, avif, jxl, hevc.
    #[arg(long = "codec", value_delimiter = ',', default_value = "jpeg,webp,avif,jxl,hevc")]
    codecs: Vec<Anchor>,
    /// Parameters to sweep instead of each codec's default (JPEG/WebP quality, AVIF quantizer,
    /// JPEG XL distance, HEVC CRF); best with a single --codec.
    #[arg(long = "param", value_delimiter = ',')]
    params: Option<Vec<f64>>,
    /// Output folder: results.csv (one row per codec, image and setting) and summary-<codec>.json.
    #[arg(long, default_value = "neco-anchors")]
    out: PathBuf,
    /// Codings run at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    #[arg(long)]
    quiet: bool,
}

pub fn anchors(args: AnchorsArgs) -> Result<()> {
    let cfg = AnchorsConfig {
        data: args.data,
        anchors: args.codecs,
        params: args.params,
        out: args.out,
        jobs: args.jobs,
        quiet: args.quiet,
    };
    for s in run_anchors(&cfg)? {
        println!("{}: {}", s.name, s.description);
        print!("{}", s.table());
    }
    println!("rows: {}", cfg.csv_path().display());
    Ok(())
}
