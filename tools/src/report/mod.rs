//! RD plots (PNG and SVG, with plotters) and a static HTML report: the BD table, the plots and
//! a side-by-side crop viewer of originals and decoded images.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`tools/assets/DejaVuSans.ttf`, see
//! `tools/assets/DejaVuSans-LICENSE.txt`), so plotting works headless and without system fonts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::bd_rate::{BdResult, Metric, NamedCurve};

/// DejaVu Sans (Bitstream Vera license, see `tools/assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family name the embedded font is registered under.
const FONT_FAMILY: &str = "sans-serif";

/// Size of the plots in pixels (the PNG; the SVG uses the same coordinates).
pub const PLOT_SIZE: (u32, u32) = (1024, 720);

/// Curve colours (Tableau 10), readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Side of the square centre crop [`write_crop_pair`] takes (smaller images are taken whole).
pub const CROP_SIZE: u32 = 256;

fn register_font() -> Result<()> {
    static OK: OnceLock<bool> = OnceLock::new();
    if *OK.get_or_init(|| plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        bail!("the embedded font could not be loaded")
    }
}

/// The axis label of a metric.
pub fn metric_label(metric: Metric) -> &'static str {
    match metric {
        Metric::Psnr => "PSNR (dB)",
        Metric::MsSsim => "MS-SSIM",
        Metric::MsSsimDb => "MS-SSIM (dB)",
    }
}

/// Data ranges with a margin: `(x_lo, x_hi, y_lo, y_hi)`.
fn ranges(curves: &[NamedCurve]) -> Result<(f64, f64, f64, f64)> {
    let pts = curves.iter().flat_map(|c| c.points.iter()).filter(|p| p.bpp.is_finite() && p.quality.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in pts {
        x0 = x0.min(p.bpp);
        x1 = x1.max(p.bpp);
        y0 = y0.min(p.quality);
        y1 = y1.max(p.quality);
    }
    if !x0.is_finite() {
        bail!("no finite RD point to plot");
    }
    let (dx, dy) = ((x1 - x0).max(1e-3) * 0.05, (y1 - y0).max(1e-3) * 0.05);
    Ok(((x0 - dx).max(0.0), x1 + dx, y0 - dy, y1 + dy))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    curves: &[NamedCurve],
    metric: Metric,
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plotting: {e:?}");
    let (x0, x1, y0, y1) = ranges(curves)?;
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT_FAMILY, 28))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let y_fmt = |v: &f64| if metric == Metric::MsSsim { format!("{v:.3}") } else { format!("{v:.1}") };
    chart
        .configure_mesh()
        .x_desc("bits per pixel")
        .y_desc(metric_label(metric))
        .label_style((FONT_FAMILY, 16))
        .axis_desc_style((FONT_FAMILY, 20))
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<(f64, f64)> = c.points.iter().map(|p| (p.bpp, p.quality)).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(c.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT_FAMILY, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Plots RD curves (x: bpp, y: the metric), one line with markers per curve, with a legend and
/// a title, to a PNG and an SVG of [`PLOT_SIZE`].
pub fn plot_rd(curves: &[NamedCurve], metric: Metric, out_png: &Path, out_svg: &Path) -> Result<()> {
    plot_rd_titled(curves, metric, &format!("Rate–distortion: {}", metric_label(metric)), out_png, out_svg)
}

/// [`plot_rd`] with a chosen title.
pub fn plot_rd_titled(
    curves: &[NamedCurve],
    metric: Metric,
    title: &str,
    out_png: &Path,
    out_svg: &Path,
) -> Result<()> {
    if curves.is_empty() {
        bail!("no curve to plot");
    }
    register_font()?;
    let (w, h) = PLOT_SIZE;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(root, curves, metric, title).context("drawing the PNG plot")?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("plot buffer size"))?;
    img.save(out_png).with_context(|| format!("writing {}", out_png.display()))?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw(root, curves, metric, title).context("drawing the SVG plot")?;
    }
    std::fs::write(out_svg, svg).with_context(|| format!("writing {}", out_svg.display()))?;
    Ok(())
}

/// One image of the crop viewer: the original and decoded crops (PNG files in the report's
/// folder, given relative to it) and a caption.
#[derive(Clone, Debug, PartialEq)]
pub struct CropPair {
    /// Caption, e.g. `kodim23 q060`.
    pub label: String,
    /// The original crop, relative to the report folder.
    pub original: PathBuf,
    /// The decoded crop, relative to the report folder.
    pub decoded: PathBuf,
}

/// Crops the centre [`CROP_SIZE`]² region of `original` and `decoded` (which must have the same
/// size) to `dir/crops/<stem>_orig.png` and `dir/crops/<stem>_dec.png`, returning the pair.
pub fn write_crop_pair(dir: &Path, stem: &str, label: &str, original: &Path, decoded: &Path) -> Result<CropPair> {
    let o = image::open(original).with_context(|| format!("reading {}", original.display()))?.to_rgb8();
    let d = image::open(decoded).with_context(|| format!("reading {}", decoded.display()))?.to_rgb8();
    if o.dimensions() != d.dimensions() {
        bail!("{} is {:?} but {} is {:?}", original.display(), o.dimensions(), decoded.display(), d.dimensions());
    }
    let (w, h) = o.dimensions();
    let (cw, ch) = (CROP_SIZE.min(w), CROP_SIZE.min(h));
    let (x, y) = ((w - cw) / 2, (h - ch) / 2);
    let crops = dir.join("crops");
    std::fs::create_dir_all(&crops).with_context(|| format!("creating {}", crops.display()))?;
    let safe: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let rel_o = PathBuf::from("crops").join(format!("{safe}_orig.png"));
    let rel_d = PathBuf::from("crops").join(format!("{safe}_dec.png"));
    image::imageops::crop_imm(&o, x, y, cw, ch).to_image().save(dir.join(&rel_o))?;
    image::imageops::crop_imm(&d, x, y, cw, ch).to_image().save(dir.join(&rel_d))?;
    Ok(CropPair { label: label.to_string(), original: rel_o, decoded: rel_d })
}

/// Escapes text for HTML content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn rel_url(p: &Path) -> String {
    html_escape(&p.to_string_lossy().replace('\\', "/"))
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.3em .7em;text-align:right}\
th{background:#eee}td:first-child,th:first-child{text-align:left}.warn{color:#a60;text-align:left;font-size:.9em}\
img.plot{max-width:100%;border:1px solid #ddd}.pair{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}\
.pair figure{display:inline-block;margin:0 .5em 0 0;text-align:center}.pair img{image-rendering:pixelated;width:256px;height:256px}\
.pair .toggle img.dec{display:none}.pair .toggle.show-dec img.orig{display:none}.pair .toggle.show-dec img.dec{display:inline}\
button{margin-top:.3em}";

const SCRIPT: &str = "function flip(id){var e=document.getElementById(id);e.classList.toggle('show-dec');\
e.nextElementSibling.textContent=e.classList.contains('show-dec')?'showing: decoded':'showing: original';}";

/// Writes `dir/report.html`: one self-contained static page (no external resources) with the
/// BD table (`table_rows`, as [`crate::bd_rate::format_table`] takes them), the plots
/// (`plot_files`: images in `dir`, given relative to it, shown with `<img>`) and, for each
/// [`CropPair`], the original and decoded crops side by side plus a toggle that flips one view
/// between them. Returns the path written.
pub fn write_html_report(
    dir: &Path,
    title: &str,
    table_rows: &[(String, BdResult)],
    plot_files: &[PathBuf],
    crops: &[CropPair],
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut h = String::new();
    let t = html_escape(title);
    writeln!(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>")?;
    writeln!(h, "<style>{STYLE}</style><script>{SCRIPT}</script></head><body>\n<h1>{t}</h1>")?;

    writeln!(h, "<h2>BD-rate</h2>")?;
    if table_rows.is_empty() {
        writeln!(h, "<p>No anchor given: no BD comparison.</p>")?;
    } else {
        writeln!(h, "<table id=\"bd-table\"><thead><tr><th>curve</th><th>BD-rate</th><th>BD-quality</th><th>overlap</th><th>note</th></tr></thead><tbody>")?;
        for (name, r) in table_rows {
            let note = r.warning.as_deref().map(html_escape).unwrap_or_default();
            writeln!(
                h,
                "<tr><td>{}</td><td>{:+.2} %</td><td>{:+.4}</td><td>{:.0} %</td><td class=\"warn\">{}</td></tr>",
                html_escape(name),
                r.bd_rate_percent,
                r.bd_quality,
                r.overlap * 100.0,
                note
            )?;
        }
        writeln!(h, "</tbody></table>")?;
        writeln!(h, "<p>Negative BD-rate: fewer bits than the anchor for the same quality (Akima interpolation).</p>")?;
    }

    if !plot_files.is_empty() {
        writeln!(h, "<h2>RD curves</h2>")?;
        for p in plot_files {
            let u = rel_url(p);
            writeln!(h, "<p><a href=\"{u}\"><img class=\"plot\" src=\"{u}\" alt=\"RD plot {u}\"></a></p>")?;
        }
    }

    if !crops.is_empty() {
        writeln!(
            h,
            "<h2>Crops</h2>\n<p>Centre crops at 1:1 (original left, decoded right; the third view toggles).</p>"
        )?;
        for (i, c) in crops.iter().enumerate() {
            let (o, d, l) = (rel_url(&c.original), rel_url(&c.decoded), html_escape(&c.label));
            writeln!(
                h,
                "<div class=\"pair\"><h3>{l}</h3>\
                 <figure><img src=\"{o}\" alt=\"{l} original\"><figcaption>original</figcaption></figure>\
                 <figure><img src=\"{d}\" alt=\"{l} decoded\"><figcaption>decoded</figcaption></figure>\
                 <figure><span class=\"toggle\" id=\"t{i}\"><img class=\"orig\" src=\"{o}\" alt=\"{l} original\">\
                 <img class=\"dec\" src=\"{d}\" alt=\"{l} decoded\"></span><figcaption>showing: original</figcaption>\
                 <button onclick=\"flip('t{i}')\">toggle</button></figure></div>"
            )?;
        }
    }
    writeln!(h, "</body></html>")?;
    let path = dir.join("report.html");
    std::fs::write(&path, h).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
