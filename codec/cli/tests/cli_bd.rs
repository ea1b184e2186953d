//! `neco bd` end to end: BD values from curve files, the `kodak_rd.json` layout with
//! `--anchor-curve`, the point-by-point comparison (`--points`), and errors.

use std::path::Path;
use std::process::{Command, Output};

fn neco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neco")).args(args).output().expect("neco runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An anchor file in `kodak_rd.json`'s layout and a test curve in CompressAI's, the
/// test 10 % cheaper than the anchor at low rates and 10 % dearer at high ones.
fn curves(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let anchor = dir.join("anchors.json");
    std::fs::write(
        &anchor,
        r#"{"_about": "test anchors",
            "measured_here": {"webp": {"bpp": [0.25, 0.5, 1.0, 2.0], "psnr": [28.0, 31.0, 34.0, 37.0]},
                              "jpeg": {"bpp": [0.3, 0.6, 1.2, 2.4], "psnr": [27.0, 30.0, 33.0, 36.0]}}}"#,
    )
    .unwrap();
    let test = dir.join("test.json");
    std::fs::write(
        &test,
        r#"{"name": "crossing", "results": {"bpp": [0.225, 0.47, 1.03, 2.2], "psnr-rgb": [28.0, 31.0, 34.0, 37.0]}}"#,
    )
    .unwrap();
    (anchor, test)
}

#[test]
fn bd_reports_the_average_and_with_points_where_the_curves_cross() {
    let dir = tempfile::tempdir().unwrap();
    let (anchor, test) = curves(dir.path());
    let out = neco(&["bd", s(&anchor), s(&test), "--anchor-curve", "webp", "--points"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BD against measured_here.webp (akima"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("crossing") && l.contains('%')), "{text}");
    assert!(text.contains("crossing at the points of measured_here.webp:"), "{text}");
    // Same qualities: the rate deltas are the nodes' −10 %, −6 %, +3 %, +10 %.
    for delta in ["-10.0 %", "-6.0 %", "+3.0 %", "+10.0 %"] {
        assert!(text.contains(delta), "{delta} missing: {text}");
    }
    // The anchor's top rate (2.0) is inside the test's range (to 2.2), its lowest (0.25) too.
    assert!(text.contains("better at 2 of the 4 anchor points inside its rate range\n"), "{text}");

    let plain = neco(&["bd", s(&anchor), s(&test), "--anchor-curve", "webp"]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("at the points of"));
}

#[test]
fn bd_needs_a_curve_name_for_a_file_of_several() {
    let dir = tempfile::tempdir().unwrap();
    let (anchor, test) = curves(dir.path());
    let out = neco(&["bd", s(&anchor), s(&test), "--points"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pick one with --anchor-curve"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
