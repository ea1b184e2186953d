//! BD-rate / BD-PSNR against the golden values in `shared/reference/bd_golden.json`
//! (bjontegaard 1.3.0 with scipy 1.17 / numpy), plus error cases and sanity properties.

use std::path::PathBuf;

use neco_tools::bd_rate::{
    bd_psnr, bd_quality, bd_rate, compare, compare_with, find_curve, format_table, load_curves, parse_curves,
    points_from, BdResult, Interpolation, Metric, RdPoint, DEFAULT_MIN_OVERLAP,
};
use serde_json::Value;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
}

fn golden() -> Value {
    let path = reference_dir().join("bd_golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// The file states no tolerance; its values are rounded to the decimals they
/// are printed with, so the tolerance is half a unit in the last printed
/// decimal, and never looser than 1e-3 (% or dB).
fn tolerance_for(v: &Value) -> f64 {
    let text = v.to_string();
    let decimals = text.split('.').nth(1).map_or(0, str::len) as i32;
    (0.5 * 10f64.powi(-decimals) + 1e-9).min(1e-3)
}

fn method(name: &str) -> Interpolation {
    name.parse().unwrap()
}

#[test]
fn case1_bjontegaard_readme_example() {
    let g = golden();
    let c = &g["case1"];
    let anchor = points_from(&floats(&c["rate_anchor"]), &floats(&c["psnr_anchor"])).unwrap();
    let test = points_from(&floats(&c["rate_test"]), &floats(&c["psnr_test"])).unwrap();
    let mut checked = 0;
    for (m, want) in c["bd_rate_percent"].as_object().unwrap() {
        let got = bd_rate(&anchor, &test, method(m)).unwrap();
        let tol = tolerance_for(want);
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= tol, "case1 BD-rate {m}: got {got}, golden {want} (tol {tol})");
        checked += 1;
    }
    for (m, want) in c["bd_psnr_db"].as_object().unwrap() {
        let got = bd_psnr(&anchor, &test, method(m)).unwrap();
        let tol = tolerance_for(want);
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= tol, "case1 BD-PSNR {m}: got {got}, golden {want} (tol {tol})");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn case2_mlicpp_vs_vtm_on_kodak() {
    let g = golden();
    let c = &g["case2"];
    let curves = load_curves(reference_dir().join("kodak_rd.json"), Metric::Psnr).unwrap();
    let anchor = find_curve(&curves, c["anchor"].as_str().unwrap()).unwrap();
    let test = find_curve(&curves, c["test"].as_str().unwrap()).unwrap();
    let mut checked = 0;
    for (m, want) in c["bd_rate_percent"].as_object().unwrap() {
        let got = bd_rate(&anchor.points, &test.points, method(m)).unwrap();
        let tol = tolerance_for(want);
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= tol, "case2 BD-rate {m}: got {got}, golden {want} (tol {tol})");
        checked += 1;
    }
    assert_eq!(checked, 3);
    // MLIC++ spans 29.2–37.3 dB, VTM 26.1–46.6 dB: bjontegaard warns here too.
    let r = compare(&anchor.points, &test.points, Interpolation::Akima).unwrap();
    assert!(r.quality_overlap < DEFAULT_MIN_OVERLAP);
    assert!(r.warning.is_some());
}

/// Values printed by bjontegaard 1.3.0 itself (full precision) for both cases,
/// checked tightly so that a regression shows even within the golden rounding.
#[test]
fn matches_bjontegaard_to_1e9() {
    let g = golden();
    let c = &g["case1"];
    let a1 = points_from(&floats(&c["rate_anchor"]), &floats(&c["psnr_anchor"])).unwrap();
    let t1 = points_from(&floats(&c["rate_test"]), &floats(&c["psnr_test"])).unwrap();
    let curves = load_curves(reference_dir().join("kodak_rd.json"), Metric::Psnr).unwrap();
    let a2 = &find_curve(&curves, "published.vtm").unwrap().points;
    let t2 = &find_curve(&curves, "published.mlicpp").unwrap().points;
    #[rustfmt::skip]
    let expected = [
        (&a1, &t1, Interpolation::Cubic, -4.420462706026296, 0.12040941911471303),
        (&a1, &t1, Interpolation::Pchip, -4.417485350589045, 0.11969278542479489),
        (&a1, &t1, Interpolation::Akima, -4.425245156997493, 0.11940927028529469),
        (a2, t2, Interpolation::Cubic, -15.142514928409446, 0.6804638601195918),
        (a2, t2, Interpolation::Pchip, -15.017243120046986, 0.7050372514867088),
        (a2, t2, Interpolation::Akima, -15.06997288156169, 0.708827466213646),
    ];
    for (a, t, m, rate, psnr) in expected {
        let r = compare_with(a, t, m, 0.0).unwrap();
        assert!((r.bd_rate_percent - rate).abs() < 1e-9, "{m}: {} vs {rate}", r.bd_rate_percent);
        assert!((r.bd_quality - psnr).abs() < 1e-9, "{m}: {} vs {psnr}", r.bd_quality);
        assert!(r.warning.is_none());
    }
}

fn curve(pairs: &[(f64, f64)]) -> Vec<RdPoint> {
    pairs.iter().map(|&(r, q)| RdPoint::new(r, q)).collect()
}

fn kodak_like() -> Vec<RdPoint> {
    curve(&[(0.12, 27.6), (0.21, 29.2), (0.32, 31.0), (0.48, 32.8), (0.67, 34.5), (0.94, 36.7)])
}

#[test]
fn identical_curves_give_zero() {
    let a = kodak_like();
    for m in Interpolation::ALL {
        let r = compare(&a, &a, m).unwrap();
        assert!(r.bd_rate_percent.abs() < 1e-12, "{m}: {}", r.bd_rate_percent);
        assert!(r.bd_quality.abs() < 1e-12, "{m}: {}", r.bd_quality);
        assert_eq!(r.overlap, 1.0);
        assert!(r.warning.is_none());
    }
}

#[test]
fn ten_percent_less_rate_gives_minus_ten_percent() {
    let a = kodak_like();
    let t: Vec<RdPoint> = a.iter().map(|p| RdPoint::new(p.bpp * 0.9, p.quality)).collect();
    for m in Interpolation::ALL {
        let bd = bd_rate(&a, &t, m).unwrap();
        assert!((bd - -10.0).abs() < 1e-9, "{m}: {bd}");
        // And the reverse direction: anchor needs 1/0.9 of the test's rate.
        let back = bd_rate(&t, &a, m).unwrap();
        assert!((back - (1.0 / 0.9 - 1.0) * 100.0).abs() < 1e-9, "{m}: {back}");
        // Quality gain is positive for the cheaper curve.
        assert!(bd_quality(&a, &t, m).unwrap() > 0.0);
        // Antisymmetry of BD-quality (same overlap interval both ways).
        let q1 = bd_quality(&a, &t, m).unwrap();
        let q2 = bd_quality(&t, &a, m).unwrap();
        assert!((q1 + q2).abs() < 1e-12, "{m}: {q1} {q2}");
    }
}

#[test]
fn constant_psnr_offset_gives_that_bd_psnr() {
    let a = kodak_like();
    let t: Vec<RdPoint> = a.iter().map(|p| RdPoint::new(p.bpp, p.quality + 0.5)).collect();
    for m in Interpolation::ALL {
        let bd = bd_quality(&a, &t, m).unwrap();
        assert!((bd - 0.5).abs() < 1e-9, "{m}: {bd}");
    }
}

#[test]
fn point_order_and_rate_unit_do_not_matter() {
    let a = kodak_like();
    let t: Vec<RdPoint> =
        a.iter().enumerate().map(|(i, p)| RdPoint::new(p.bpp * (0.8 + 0.03 * i as f64), p.quality + 0.1)).collect();
    let mut a_rev = a.clone();
    a_rev.reverse();
    let mut t_shuf = t.clone();
    t_shuf.swap(0, 3);
    t_shuf.swap(1, 5);
    let kbps = |c: &[RdPoint]| -> Vec<RdPoint> {
        c.iter().map(|p| RdPoint::new(p.bpp * 768.0 * 512.0 * 30.0 / 1000.0, p.quality)).collect()
    };
    for m in Interpolation::ALL {
        let base = compare(&a, &t, m).unwrap();
        let shuffled = compare(&a_rev, &t_shuf, m).unwrap();
        assert_eq!(base, shuffled);
        let scaled = compare(&kbps(&a), &kbps(&t), m).unwrap();
        assert!((scaled.bd_rate_percent - base.bd_rate_percent).abs() < 1e-9);
        assert!((scaled.bd_quality - base.bd_quality).abs() < 1e-9);
    }
}

#[test]
fn two_point_curves_are_linear_for_akima_and_pchip() {
    let a = curve(&[(0.1, 30.0), (1.0, 40.0)]);
    let t = curve(&[(0.05, 30.0), (0.5, 40.0)]);
    for m in [Interpolation::Akima, Interpolation::Pchip] {
        assert!((bd_rate(&a, &t, m).unwrap() - -50.0).abs() < 1e-9);
        // log10(0.5) decade of rate = 10·log10(2) dB at 10 dB/decade.
        let q = bd_quality(&a, &t, m).unwrap();
        assert!((q - 10.0 * 2f64.log10()).abs() < 1e-9, "{m}: {q}");
    }
    assert!(bd_rate(&a, &t, Interpolation::Cubic).is_err());
}

fn err_text(r: anyhow::Result<f64>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn errors_instead_of_panics() {
    let good = kodak_like();
    let m = Interpolation::Akima;

    // Too few points.
    assert!(err_text(bd_rate(&good[..1], &good, m)).contains("at least 2"));
    assert!(err_text(bd_rate(&good, &[], m)).contains("at least 2"));
    assert!(err_text(bd_rate(&good[..3], &good, Interpolation::Cubic)).contains("at least 4"));
    assert!(bd_rate(&good[..4], &good[..4], Interpolation::Cubic).is_ok());
    assert!(bd_quality(&good[..3], &good, Interpolation::Cubic).is_err());

    // Non-finite or non-positive rates, non-finite quality.
    for bad in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let mut c = good.clone();
        c[2].bpp = bad;
        for method in Interpolation::ALL {
            assert!(err_text(bd_rate(&good, &c, method)).contains("finite positive"));
            assert!(bd_quality(&c, &good, method).is_err());
            assert!(compare(&c, &good, method).is_err());
        }
    }
    let mut c = good.clone();
    c[1].quality = f64::NAN;
    assert!(err_text(bd_rate(&good, &c, m)).contains("not finite"));

    // Duplicate x after sorting: equal qualities break BD-rate, equal rates BD-quality.
    let mut dq = good.clone();
    dq[3].quality = dq[2].quality;
    assert!(err_text(bd_rate(&good, &dq, m)).contains("same quality"));
    assert!(bd_quality(&good, &dq, m).is_ok());
    let mut dr = good.clone();
    dr[3].bpp = dr[2].bpp;
    assert!(err_text(bd_quality(&good, &dr, m)).contains("same rate"));
    assert!(bd_rate(&good, &dr, m).is_ok());

    // No overlap.
    let far: Vec<RdPoint> = good.iter().map(|p| RdPoint::new(p.bpp, p.quality + 20.0)).collect();
    assert!(err_text(bd_rate(&good, &far, m)).contains("do not overlap"));
    let far_rate: Vec<RdPoint> = good.iter().map(|p| RdPoint::new(p.bpp * 100.0, p.quality)).collect();
    assert!(err_text(bd_quality(&good, &far_rate, m)).contains("do not overlap"));
    // Touching at one point only is no overlap either.
    let touch = curve(&[(1.0, 36.7), (2.0, 40.0), (3.0, 42.0)]);
    assert!(bd_rate(&good, &touch, m).is_err());

    // Mismatched lengths.
    assert!(points_from(&[1.0, 2.0], &[30.0]).is_err());

    // Bad method names.
    assert!("linear".parse::<Interpolation>().is_err());
    assert_eq!("PCHIP".parse::<Interpolation>().unwrap(), Interpolation::Pchip);
}

#[test]
fn low_overlap_warns() {
    let a = kodak_like();
    // Shift up by 4 dB: quality ranges 27.6–36.7 and 31.6–40.7 overlap 5.1 of 13.1.
    let t: Vec<RdPoint> = a.iter().map(|p| RdPoint::new(p.bpp, p.quality + 4.0)).collect();
    let r = compare(&a, &t, Interpolation::Pchip).unwrap();
    assert!((r.quality_overlap - 5.1 / 13.1).abs() < 1e-9);
    assert_eq!(r.rate_overlap, 1.0);
    assert_eq!(r.overlap, r.quality_overlap);
    let w = r.warning.as_deref().unwrap();
    assert!(w.contains("quality ranges overlap 39 %"), "{w}");
    assert!(!w.contains("rate ranges"), "{w}");
    // A zero threshold silences it, like bjontegaard's min_overlap=0.
    assert!(compare_with(&a, &t, Interpolation::Pchip, 0.0).unwrap().warning.is_none());
    // Small shift: no warning.
    let t: Vec<RdPoint> = a.iter().map(|p| RdPoint::new(p.bpp, p.quality + 0.3)).collect();
    assert!(compare(&a, &t, Interpolation::Pchip).unwrap().warning.is_none());
}

#[test]
fn compressai_results_schema() {
    let new_style = r#"{"name": "neco-wavelet", "description": "x",
        "results": {"bpp": [0.2, 0.4, 0.8, 1.6], "psnr-rgb": [28.0, 31.0, 34.0, 37.5],
                    "ms-ssim-rgb": [0.9, 0.95, 0.98, 0.99]}}"#;
    let c = parse_curves(new_style, "file", Metric::Psnr).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name, "neco-wavelet");
    assert_eq!(c[0].points[2], RdPoint::new(0.8, 34.0));
    let c = parse_curves(new_style, "file", Metric::MsSsim).unwrap();
    assert_eq!(c[0].points[1].quality, 0.95);
    let c = parse_curves(new_style, "file", Metric::MsSsimDb).unwrap();
    assert!((c[0].points[0].quality - 10.0).abs() < 1e-9);
    assert!((c[0].points[3].quality - 20.0).abs() < 1e-9);

    // CompressAI's own older files use "psnr" / "ms-ssim".
    let old_style = r#"{"name": "VTM", "results": {"psnr": [26.1, 28.5], "ms-ssim": [0.86, 0.92],
        "bpp": [0.048, 0.112], "encoding_time": [18.9, 39.8]}}"#;
    let c = parse_curves(old_style, "file", Metric::Psnr).unwrap();
    assert_eq!(c[0].name, "VTM");
    assert_eq!(c[0].points, vec![RdPoint::new(0.048, 26.1), RdPoint::new(0.112, 28.5)]);

    // Arrays of curves, unnamed curves.
    let both = format!(r#"[{new_style}, {{"results": {{"bpp": [1, 2], "psnr": [30, 33]}}}}]"#);
    let c = parse_curves(&both, "f", Metric::Psnr).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[1].name, "f[1]");

    // Errors: missing metric, mismatched lengths, non-numbers, nothing found.
    assert!(parse_curves(old_style.replace("ms-ssim", "x").as_str(), "f", Metric::MsSsim).is_err());
    assert!(parse_curves(r#"{"results": {"bpp": [1, 2], "psnr": [30]}}"#, "f", Metric::Psnr).is_err());
    assert!(parse_curves(r#"{"results": {"bpp": [1, "a"], "psnr": [30, 31]}}"#, "f", Metric::Psnr).is_err());
    assert!(parse_curves(r#"{"hello": 1}"#, "f", Metric::Psnr).is_err());
    assert!(parse_curves("not json", "f", Metric::Psnr).is_err());
}

#[test]
fn kodak_rd_layout_and_readme_numbers() {
    let curves = load_curves(reference_dir().join("kodak_rd.json"), Metric::Psnr).unwrap();
    let names: Vec<&str> = curves.iter().map(|c| c.name.as_str()).collect();
    for want in ["measured_here.avif", "measured_here.jpeg", "published.vtm", "published.hpcm-large"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("_about")));
    assert!(find_curve(&curves, "avif").is_ok());
    assert!(find_curve(&curves, "nonexistent").is_err());
    let vtm = find_curve(&curves, "vtm").unwrap();
    assert_eq!(vtm.points.len(), 8);
    assert_eq!(vtm.points[0], RdPoint::new(0.04824, 26.1448));
    // kodak_rd.json has no MS-SSIM.
    assert!(load_curves(reference_dir().join("kodak_rd.json"), Metric::MsSsim).is_err());

    // The same-anchor Akima BD-rates quoted in shared/reference/README.md (to its precision).
    let avif = &find_curve(&curves, "avif").unwrap().points;
    #[rustfmt::skip]
    let quoted = [
        ("jpeg", 104.0, 0.5), ("webp", 33.0, 0.5), ("jxl", 50.0, 0.5),
        ("bmshj2018-hyperprior", -2.6, 0.05), ("mbt2018-mean", -9.3, 0.05),
        ("compressai/mbt2018", -16.7, 0.05), ("cheng2020-anchor", -24.0, 0.5),
        ("published.vtm", -25.8, 0.05), ("paper-elic2022_mse", -31.0, 0.5),
        ("mlicpp", -37.0, 0.5), ("hpcm-large", -40.6, 0.05),
    ];
    let mut rows = Vec::new();
    for (name, want, tol) in quoted {
        let c = find_curve(&curves, name).unwrap();
        let r = compare(avif, &c.points, Interpolation::Akima).unwrap();
        assert!((r.bd_rate_percent - want).abs() <= tol, "{name}: {} vs {want}", r.bd_rate_percent);
        rows.push((c.name.clone(), r));
    }
    let vtm = &vtm.points;
    for (name, want) in [("mlicpp", -15.1), ("hpcm-large", -20.0), ("measured_here.avif", 34.8)] {
        let c = find_curve(&curves, name).unwrap();
        let got = bd_rate(vtm, &c.points, Interpolation::Akima).unwrap();
        assert!((got - want).abs() <= 0.05, "{name} vs VTM: {got} vs {want}");
    }

    let table = format_table(&rows);
    println!("{table}");
    assert_eq!(table.lines().filter(|l| l.starts_with("published.")).count(), 8);
    assert!(table.lines().next().unwrap().starts_with("curve"));
}

#[test]
fn table_format() {
    let ok = BdResult {
        bd_rate_percent: -12.3456,
        bd_quality: 0.61234,
        overlap: 0.9,
        quality_overlap: 0.9,
        rate_overlap: 0.95,
        warning: None,
    };
    let low = BdResult {
        bd_rate_percent: 3.0,
        bd_quality: -0.1,
        overlap: 0.4,
        quality_overlap: 0.4,
        rate_overlap: 0.8,
        warning: Some("insufficient curve overlap".into()),
    };
    let t = format_table(&[("a".into(), ok), ("longer-name".into(), low)]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 5, "{t}");
    assert!(lines[2].starts_with("a ") && lines[2].contains("-12.35 %") && lines[2].contains("+0.6123"));
    assert!(lines[3].contains("+3.00 %") && lines[3].contains("40 %") && lines[3].ends_with("[1]"));
    assert_eq!(lines[4], "[1] longer-name: insufficient curve overlap");
    // Columns line up.
    let col = |l: &str| l.find('%').unwrap();
    assert_eq!(col(lines[2]), col(lines[3]));
}
