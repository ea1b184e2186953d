//! `neco dataset list | fetch | verify`: the evaluation datasets, downloaded from pinned
//! manifests and checked against their SHA-256 (see `docs/datasets.md`).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neco_datasets::fetch::{self, FetchOptions, Progress};
use neco_datasets::manifest::{self, Manifest};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(Subcommand, Debug)]
enum DatasetCommand {
    /// List the known datasets: images, download size, and whether the download is pinned.
    List,
    /// Download a dataset into a folder, verifying every download's size and SHA-256 (archives
    /// are then extracted); files already there and verified are not downloaded again.
    Fetch(FetchArgs),
    /// Check a fetched dataset's files against its manifest.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
struct FetchArgs {
    /// A dataset (see `neco dataset list`), or the path of a manifest `.json` file.
    name: String,
    /// The folder to put the images in (created if needed).
    #[arg(long)]
    dir: PathBuf,
    /// Download from this base URL instead: it replaces everything up to the last `/` of each
    /// URL (archives: MIRROR/<file_name>). Default: $NECO_DATASET_MIRROR.
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// Download an archive whose SHA-256 the manifest does not pin (it cannot be verified); its
    /// SHA-256 and size are printed, to pin in the manifest.
    #[arg(long)]
    allow_unpinned: bool,
    /// Keep the downloaded archive after extracting it.
    #[arg(long)]
    keep_archive: bool,
    /// Print nothing but errors and the checksum of an unpinned download (no progress bar).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// A dataset (see `neco dataset list`), or the path of a manifest `.json` file.
    name: String,
    /// The folder the dataset was fetched into.
    #[arg(long)]
    dir: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

pub fn dataset(args: DatasetArgs) -> Result<()> {
    match args.command {
        DatasetCommand::List => {
            for line in list_lines() {
                println!("{line}");
            }
            Ok(())
        }
        DatasetCommand::Fetch(args) => fetch_cmd(args),
        DatasetCommand::Verify(args) => verify_cmd(args),
    }
}

/// A built-in dataset by name, or a manifest file.
fn load_manifest(name: &str) -> Result<Manifest> {
    let path = Path::new(name);
    if name.ends_with(".json") && path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Manifest::from_json(&text).with_context(|| path.display().to_string());
    }
    manifest::by_name(name)
}

fn list_lines() -> Vec<String> {
    let mut lines = vec![format!("{:<28} {:>6} {:>10}  {:<8} {}", "name", "images", "download", "pinned", "source")];
    for m in manifest::builtin() {
        let size = m.download_size().map(human_bytes).unwrap_or_else(|| "unknown".into());
        let (pinned, source) = match &m.archive {
            Some(a) if a.sha256.is_some() => ("sha256", format!("archive {}", a.file_name)),
            Some(a) => ("NO", format!("archive {} (fetch needs --allow-unpinned)", a.file_name)),
            None => ("sha256", format!("{} files", m.files.len())),
        };
        lines.push(format!("{:<28} {:>6} {:>10}  {:<8} {source}", m.name, m.image_count, size, pinned));
    }
    lines
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// An indicatif byte progress bar (hidden with --quiet or when stderr is not a terminal).
struct Bar {
    bar: ProgressBar,
    quiet: bool,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} [{elapsed}<{eta}] {wide_msg}",
            ) {
                bar.set_style(style);
            }
            bar
        };
        Self { bar, quiet }
    }
}

impl Progress for Bar {
    fn begin(&self, total_bytes: Option<u64>) {
        if let Some(n) = total_bytes {
            self.bar.set_length(n);
        }
    }
    fn length_hint(&self, total_bytes: u64) {
        self.bar.set_length(total_bytes);
    }
    fn file(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn rewind(&self, bytes: u64) {
        self.bar.set_position(self.bar.position().saturating_sub(bytes));
    }
    fn note(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("neco: {line}"));
        }
    }
}

fn fetch_cmd(args: FetchArgs) -> Result<()> {
    let manifest = load_manifest(&args.name)?;
    let opts = FetchOptions {
        mirror: args.mirror.clone().or_else(fetch::mirror_from_env),
        allow_unpinned: args.allow_unpinned,
        keep_archive: args.keep_archive,
        ..FetchOptions::default()
    };
    let bar = Bar::new(args.quiet);
    let result = fetch::fetch(&manifest, &args.dir, &opts, &bar);
    bar.bar.finish_and_clear();
    let report = result?;
    if let (Some(pin), Some(archive)) = (&report.unpinned, &manifest.archive) {
        // Printed even with --quiet: it is what --allow-unpinned is for.
        eprintln!(
            "neco: warning: {}: {} is not pinned, so it was not verified: it has sha256 {} and size {} bytes",
            manifest.name, archive.file_name, pin.sha256, pin.size
        );
        eprintln!(
            "neco: to pin it, set \"sha256\": \"{}\" and \"size\": {} in datasets/manifests/{}.json",
            pin.sha256, pin.size, manifest.name
        );
    }
    if !args.quiet {
        let how = match &manifest.archive {
            Some(a) if report.extracted > 0 => format!(
                "extracted from {}{}",
                a.file_name,
                if report.downloaded > 0 {
                    format!(", downloaded {}", human_bytes(report.bytes_downloaded))
                } else {
                    ", already downloaded".into()
                }
            ),
            _ if report.downloaded == 0 => "all already present and verified".into(),
            _ => format!(
                "{} downloaded ({}), {} already present",
                report.downloaded,
                human_bytes(report.bytes_downloaded),
                report.present
            ),
        };
        println!("{}: {} images in {} ({how})", manifest.name, manifest.image_count, args.dir.display());
    }
    Ok(())
}

fn verify_cmd(args: VerifyArgs) -> Result<()> {
    let manifest = load_manifest(&args.name)?;
    let report = fetch::verify(&manifest, &args.dir)?;
    if !report.is_ok() {
        const SHOWN: usize = 5;
        let mut problems = report.problems.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
        if report.problems.len() > SHOWN {
            problems.push_str(&format!("; and {} more", report.problems.len() - SHOWN));
        }
        bail!(
            "{}: {} fails verification ({} problem{}): {problems}",
            manifest.name,
            args.dir.display(),
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        );
    }
    if !args.quiet {
        let how = match (&manifest.archive, report.per_file_hashes) {
            (None, _) => "size and sha256 checked".to_string(),
            (Some(_), true) => format!("sha256 checked against {}", fetch::extraction_record_name(&manifest)),
            (Some(_), false) => format!(
                "counted only: the manifest pins just the archive, and there is no {} from an extraction",
                fetch::extraction_record_name(&manifest)
            ),
        };
        println!("{}: {} images OK in {} ({how})", manifest.name, report.checked, args.dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn list_shows_every_dataset_and_what_is_pinned() {
        let lines = list_lines();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[1].starts_with("kodak") && lines[1].contains(" 24 ") && lines[1].contains("15.4 MB"));
        assert!(lines[2].starts_with("clic2020-professional-valid") && lines[2].contains("134.9 MB"));
        assert!(lines[3].starts_with("tecnick") && lines[3].contains("unknown") && lines[3].contains("NO"));
    }

    #[test]
    fn fetch_arguments_parse() {
        let cli = crate::Cli::try_parse_from([
            "neco",
            "dataset",
            "fetch",
            "tecnick",
            "--dir",
            "data/tecnick",
            "--mirror",
            "http://127.0.0.1:8000/",
            "--allow-unpinned",
            "-q",
        ])
        .unwrap();
        let crate::Command::Dataset(DatasetArgs { command: DatasetCommand::Fetch(args) }) = cli.command else {
            panic!("not a dataset fetch");
        };
        assert_eq!(args.name, "tecnick");
        assert_eq!(args.dir, Path::new("data/tecnick"));
        assert_eq!(args.mirror.as_deref(), Some("http://127.0.0.1:8000/"));
        assert!(args.allow_unpinned && args.quiet && !args.keep_archive);
        assert!(crate::Cli::try_parse_from(["neco", "dataset", "fetch", "kodak"]).is_err(), "--dir is required");
    }

    #[test]
    fn unknown_datasets_are_one_line_errors() {
        let err = load_manifest("imagenet").unwrap_err();
        assert_eq!(
            crate::codec_cmd::one_line(&err),
            "unknown dataset \"imagenet\" (known: kodak, clic2020-professional-valid, tecnick)"
        );
    }
}
