//! Every traditional-codec anchor whose CLI is installed codes two small generated images at one
//! setting through `run_anchors` and gives finite, sane bpp/PSNR/MS-SSIM rows and summaries.
//! A codec is skipped (loudly) only when its CLI is missing; after ./setup.sh all are present.

use neco_tools::anchors::{run_anchors, Anchor, AnchorsConfig};
use neco_tools::eval::read_rows;

fn write_images(dir: &std::path::Path) {
    for (k, (w, h)) in [(64u32, 48u32), (80, 64)].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = |a: u32| (a % 256) as u8;
            image::Rgb([v(x * 3 + y + 40 * k as u32), v(y * 4 + 7 * (x / 9)), v((x ^ y) * 5 + 17)])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}

#[test]
fn each_available_anchor_codes_two_images() {
    let data = tempfile::tempdir().unwrap();
    write_images(data.path());
    let setting = |a: Anchor| match a {
        Anchor::Jpeg => 75.0,
        Anchor::Webp => 75.0,
        Anchor::Avif => 30.0,
        Anchor::Jxl => 1.0,
        Anchor::Hevc => 27.0,
    };
    let mut ran = 0;
    for anchor in Anchor::ALL {
        if let Err(e) = anchor.check_available() {
            eprintln!("\n!!!!! SKIPPING the {anchor} anchor: {e:#} !!!!!\n");
            continue;
        }
        let out = tempfile::tempdir().unwrap();
        let cfg = AnchorsConfig {
            data: vec![data.path().to_path_buf()],
            anchors: vec![anchor],
            params: Some(vec![setting(anchor)]),
            out: out.path().to_path_buf(),
            jobs: 2,
            quiet: true,
        };
        let summaries = run_anchors(&cfg).unwrap_or_else(|e| panic!("{anchor}: {e:#}"));
        let rows = read_rows(&cfg.csv_path()).unwrap();
        assert_eq!(rows.len(), 2, "{anchor}: {rows:?}");
        for r in &rows {
            assert_eq!(r.model, anchor.name());
            assert!(r.bytes > 0 && r.bpp.is_finite() && r.bpp > 0.0 && r.bpp < 48.0, "{anchor}: {r:?}");
            assert!(r.psnr.is_finite() && r.psnr > 15.0, "{anchor}: {r:?}");
            assert!(r.ms_ssim.is_finite() && r.ms_ssim > 0.0 && r.ms_ssim <= 1.0 + 1e-9, "{anchor}: {r:?}");
            assert!(r.encode_seconds >= 0.0 && r.decode_seconds >= 0.0);
        }
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].results.images, vec![2]);
        assert!(out.path().join(format!("summary-{}.json", anchor.name())).exists());
        // Resumable: a second run codes nothing new.
        run_anchors(&cfg).unwrap();
        assert_eq!(read_rows(&cfg.csv_path()).unwrap().len(), 2, "{anchor}: rows duplicated on resume");
        eprintln!(
            "{anchor}: {:.3} bpp, {:.2} dB (mean of 2)",
            summaries[0].results.bpp[0], summaries[0].results.psnr_rgb[0]
        );
        ran += 1;
    }
    assert!(ran > 0 || std::env::var_os("NECO_ALLOW_NO_ANCHORS").is_some(), "no anchor CLI installed at all");
}

#[test]
fn parses_codec_names() {
    assert_eq!("JPEG".parse::<Anchor>().unwrap(), Anchor::Jpeg);
    assert_eq!("jxl".parse::<Anchor>().unwrap(), Anchor::Jxl);
    assert_eq!("x265".parse::<Anchor>().unwrap(), Anchor::Hevc);
    assert!("png".parse::<Anchor>().is_err());
    assert_eq!(Anchor::Jxl.quality_label(3, 6.0), 3);
    assert_eq!(Anchor::Avif.quality_label(0, 56.0), 56);
}
