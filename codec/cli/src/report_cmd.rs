//! `neco report`: RD plots (PNG + SVG), the BD table and a crop viewer in one static HTML page;
//! the command-line face of `neco_tools::report`.

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use neco_tools::bd_rate::{compare, find_curve, format_table, load_curves, Interpolation, Metric, NamedCurve};
use neco_tools::report::{plot_rd, write_crop_pair, write_html_report, CropPair};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Result files to plot and compare (`neco eval` summaries or CompressAI results JSON).
    #[arg(long, required = true, num_args = 1..)]
    results: Vec<PathBuf>,
    /// Anchor curve file (e.g. ../shared/reference/kodak_rd.json).
    #[arg(long)]
    anchors: Option<PathBuf>,
    /// Anchor curve(s) to plot and compare against, by name (comma-separated, e.g.
    /// `measured_here.webp,measured_here.avif`); needed when --anchors holds several.
    #[arg(long, value_delimiter = ',')]
    anchor_curve: Vec<String>,
    /// psnr, ms-ssim or ms-ssim-db.
    #[arg(long, default_value = "psnr")]
    metric: Metric,
    /// Folder with the original images (for the crop viewer).
    #[arg(long, requires = "decoded")]
    crops: Option<PathBuf>,
    /// Folder with the decoded PNGs: `<name>.png` directly, or `neco eval --keep-files`'s
    /// `OUT/files` (or OUT) with `qNNN/<name>[.ext].png` subfolders.
    #[arg(long, requires = "crops")]
    decoded: Option<PathBuf>,
    /// Images for the crop viewer, by name (comma-separated), e.g. kodim01,kodim23.
    #[arg(long, value_delimiter = ',', default_value = "kodim01,kodim23")]
    images: Vec<String>,
    /// Only crop decoded images of these qualities (comma-separated; default: all found).
    #[arg(long, value_delimiter = ',')]
    crop_quality: Vec<u32>,
    /// Report title.
    #[arg(long, default_value = "neco RD report")]
    title: String,
    /// Output folder (report.html, rd_<metric>.png/.svg, crops/).
    #[arg(long)]
    out: PathBuf,
}

pub fn report(args: ReportArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut tests: Vec<NamedCurve> = vec![];
    for path in &args.results {
        tests.extend(load_curves(path, args.metric)?);
    }
    let mut anchors: Vec<NamedCurve> = vec![];
    if let Some(path) = &args.anchors {
        let all = load_curves(path, args.metric)?;
        if args.anchor_curve.is_empty() {
            ensure!(all.len() == 1, "{} holds {} curves; pick some with --anchor-curve", path.display(), all.len());
            anchors = all;
        } else {
            for name in &args.anchor_curve {
                anchors.push(find_curve(&all, name)?.clone());
            }
        }
    } else if !args.anchor_curve.is_empty() {
        bail!("--anchor-curve needs --anchors");
    }

    let mut rows = vec![];
    for anchor in &anchors {
        for t in &tests {
            let r = compare(&anchor.points, &t.points, Interpolation::Akima)
                .with_context(|| format!("{} against {}", t.name, anchor.name))?;
            let name = if anchors.len() > 1 { format!("{} vs {}", t.name, anchor.name) } else { t.name.clone() };
            rows.push((name, r));
        }
    }
    if let Some(a) = anchors.first().filter(|_| anchors.len() == 1) {
        println!("BD against {} (akima, {:?}):", a.name, args.metric);
    }
    if !rows.is_empty() {
        print!("{}", format_table(&rows));
    }

    let stem = format!("rd_{}", format!("{:?}", args.metric).to_ascii_lowercase());
    let (png, svg) = (PathBuf::from(format!("{stem}.png")), PathBuf::from(format!("{stem}.svg")));
    let curves: Vec<NamedCurve> = tests.iter().chain(&anchors).cloned().collect();
    plot_rd(&curves, args.metric, &args.out.join(&png), &args.out.join(&svg))?;

    let mut pairs: Vec<CropPair> = vec![];
    if let (Some(orig_dir), Some(dec_dir)) = (&args.crops, &args.decoded) {
        for name in &args.images {
            let original = find_image(orig_dir, name)?;
            for (label, decoded) in decoded_versions(dec_dir, name, &args.crop_quality)? {
                let stem = if label.is_empty() { name.clone() } else { format!("{name}_{label}") };
                let caption = if label.is_empty() { name.clone() } else { format!("{name} {label}") };
                pairs.push(write_crop_pair(&args.out, &stem, &caption, &original, &decoded)?);
            }
        }
    }
    let html = write_html_report(&args.out, &args.title, &rows, std::slice::from_ref(&png), &pairs)?;
    println!(
        "wrote {} ({} BD rows, {} curves plotted, {} crop pairs; plots {}, {})",
        html.display(),
        rows.len(),
        curves.len(),
        pairs.len(),
        args.out.join(format!("{stem}.png")).display(),
        args.out.join(&svg).display()
    );
    Ok(())
}

/// The file in `dir` whose stem is `name` (any image extension).
fn find_image(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_stem().is_some_and(|s| s == name))
        .collect();
    hits.sort();
    hits.into_iter().next().with_context(|| format!("no image named {name} in {}", dir.display()))
}

/// `dir/<name>.png`, or else `dir/<name>.<ext>.png` (how `neco eval --keep-files` names the
/// decoded `<name>.<ext>`), when it exists.
fn decoded_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(format!("{name}.png"));
    if direct.is_file() {
        return Some(direct);
    }
    let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                f.strip_suffix(".png")
                    .and_then(|f| f.strip_prefix(name))
                    .is_some_and(|mid| mid.starts_with('.') && !mid[1..].contains('.'))
            })
        })
        .collect();
    hits.sort();
    hits.into_iter().next()
}

/// The decoded versions of `name`: `dir/<name>.png` (label ""), else one per `qNNN` subfolder
/// of `dir` (or of `dir/files`) that holds one (label `qNNN`), filtered by `qualities`.
fn decoded_versions(dir: &Path, name: &str, qualities: &[u32]) -> Result<Vec<(String, PathBuf)>> {
    if let Some(direct) = decoded_in(dir, name) {
        return Ok(vec![(String::new(), direct)]);
    }
    let base = if dir.join("files").is_dir() { dir.join("files") } else { dir.to_path_buf() };
    let mut out = vec![];
    for e in std::fs::read_dir(&base).with_context(|| format!("reading {}", base.display()))? {
        let p = e?.path();
        let Some(sub) = p.file_name().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        let Some(q) = sub.strip_prefix('q').and_then(|q| q.parse::<u32>().ok()) else { continue };
        if qualities.is_empty() || qualities.contains(&q) {
            if let Some(f) = decoded_in(&p, name) {
                out.push((sub, f));
            }
        }
    }
    out.sort();
    ensure!(!out.is_empty(), "no decoded {name}.png in {} (nor in its qNNN subfolders)", dir.display());
    Ok(out)
}
