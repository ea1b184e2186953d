//! RD plots and the HTML report: files written, PNG decodable at the expected size, SVG naming
//! the curves, HTML holding the table and pointing at files that exist, and (in headless
//! Chromium) a DOM that contains the table.

use std::path::{Path, PathBuf};
use std::process::Command;

use neco_tools::bd_rate::{compare, Interpolation, Metric, NamedCurve, RdPoint};
use neco_tools::report::{plot_rd, write_crop_pair, write_html_report, CropPair, PLOT_SIZE};

fn curve(name: &str, pts: &[(f64, f64)]) -> NamedCurve {
    NamedCurve { name: name.to_string(), points: pts.iter().map(|&(b, q)| RdPoint::new(b, q)).collect() }
}

fn curves() -> Vec<NamedCurve> {
    vec![
        curve("wavelet", &[(0.18, 28.1), (0.33, 30.4), (0.56, 32.9), (1.35, 38.6)]),
        curve("measured_here.webp", &[(0.22, 28.1), (0.38, 30.2), (0.58, 32.2), (1.45, 37.6)]),
    ]
}

/// Builds a complete report in `dir` (plots, a crop pair from synthetic images, the table) and
/// returns the path of report.html.
fn build_report(dir: &Path) -> PathBuf {
    let cs = curves();
    plot_rd(&cs, Metric::Psnr, &dir.join("rd.png"), &dir.join("rd.svg")).unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let orig = image::RgbImage::from_fn(320, 300, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let dec = image::RgbImage::from_fn(320, 300, |x, y| image::Rgb([(x & !7) as u8, (y & !7) as u8, 128]));
    orig.save(src.join("img.png")).unwrap();
    dec.save(src.join("img_dec.png")).unwrap();
    let pair = write_crop_pair(dir, "img_q060", "img q060", &src.join("img.png"), &src.join("img_dec.png")).unwrap();
    let r = compare(&cs[1].points, &cs[0].points, Interpolation::Akima).unwrap();
    let rows = vec![("wavelet".to_string(), r)];
    write_html_report(dir, "Test <report>", &rows, &[PathBuf::from("rd.png")], &[pair]).unwrap()
}

#[test]
fn plots_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = (dir.path().join("rd.png"), dir.path().join("rd.svg"));
    plot_rd(&curves(), Metric::Psnr, &png, &svg).unwrap();
    let img = image::open(&png).expect("the PNG decodes");
    assert_eq!((img.width(), img.height()), PLOT_SIZE);
    // Something other than the white background was drawn (curves, axes, text).
    let rgb = img.to_rgb8();
    let dark = rgb.pixels().filter(|p| p.0.iter().all(|&c| c < 100)).count();
    assert!(dark > 1000, "only {dark} dark pixels: the plot looks empty");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") || text.contains("<svg"), "not an SVG");
    for name in ["wavelet", "measured_here.webp", "bits per pixel", "PSNR (dB)"] {
        assert!(text.contains(name), "the SVG does not mention {name:?}");
    }
    // MS-SSIM in [0, 1] plots too.
    let ms = vec![curve("a", &[(0.2, 0.91), (0.5, 0.96), (1.0, 0.985)])];
    plot_rd(&ms, Metric::MsSsim, &dir.path().join("m.png"), &dir.path().join("m.svg")).unwrap();
    assert!(std::fs::read_to_string(dir.path().join("m.svg")).unwrap().contains("MS-SSIM"));
    assert!(plot_rd(&[], Metric::Psnr, &png, &svg).is_err());
}

#[test]
fn crop_pair_is_a_centre_crop() {
    let dir = tempfile::tempdir().unwrap();
    build_report(dir.path());
    let o = image::open(dir.path().join("crops/img_q060_orig.png")).unwrap().to_rgb8();
    let d = image::open(dir.path().join("crops/img_q060_dec.png")).unwrap().to_rgb8();
    assert_eq!(o.dimensions(), (256, 256));
    assert_eq!(d.dimensions(), (256, 256));
    // (320 - 256) / 2 = 32, (300 - 256) / 2 = 22.
    assert_eq!(o.get_pixel(0, 0).0, [32, 22, 32 ^ 22]);
    // Mismatched sizes are refused.
    let small = dir.path().join("small.png");
    image::RgbImage::new(10, 10).save(&small).unwrap();
    assert!(write_crop_pair(dir.path(), "x", "x", &small, &dir.path().join("src/img.png")).is_err());
}

/// Every `src="..."` / `href="..."` in the page.
fn references(html: &str) -> Vec<String> {
    let mut out = vec![];
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn html_holds_the_table_and_points_at_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = build_report(dir.path());
    assert_eq!(html_path, dir.path().join("report.html"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<table id=\"bd-table\">"));
    assert!(html.contains("<td>wavelet</td>"));
    assert!(html.contains("Test &lt;report&gt;"), "the title is escaped");
    let refs = references(&html);
    assert!(refs.len() >= 5, "{refs:?}");
    for r in &refs {
        assert!(!r.contains("://") && !r.starts_with('/'), "external or absolute reference {r}");
        assert!(dir.path().join(r).is_file(), "report.html references {r}, which does not exist");
    }
    assert!(refs.iter().any(|r| r == "rd.png"));
    assert!(refs.iter().any(|r| r.ends_with("_orig.png")) && refs.iter().any(|r| r.ends_with("_dec.png")));

    // Without rows or crops, the page still renders.
    let bare = tempfile::tempdir().unwrap();
    let rows: Vec<(String, neco_tools::bd_rate::BdResult)> = vec![];
    let crops: Vec<CropPair> = vec![];
    let p = write_html_report(bare.path(), "bare", &rows, &[], &crops).unwrap();
    assert!(std::fs::read_to_string(p).unwrap().contains("No anchor given"));
}

fn find_chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(str::to_string)
}

#[test]
fn headless_chromium_renders_the_table() {
    let Some(chromium) = find_chromium() else {
        panic!("chromium not found: install the Debian package `chromium` (./setup.sh does) to run this test");
    };
    let dir = tempfile::tempdir().unwrap();
    let html = build_report(dir.path());
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("bd-table"),
        "chromium exit {:?}, DOM:\n{dom}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("<td>wavelet</td>"), "{dom}");
    assert!(dom.contains("<img") && dom.contains("rd.png"), "{dom}");
}
