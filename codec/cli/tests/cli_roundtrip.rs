//! The `neco` binary end to end: encode, decode, info, and clean failures.

use std::path::Path;
use std::process::{Command, Output};

fn neco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neco")).args(args).output().expect("neco runs")
}

fn write_test_image(path: &Path, width: u32, height: u32) -> image::RgbImage {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let v = ((x * 7 + y * 3) % 256) as u8;
        image::Rgb([v, (x * 255 / width.max(1)) as u8, if (x / 8 + y / 8) % 2 == 0 { 40 } else { 200 }])
    });
    img.save(path).unwrap();
    img
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    neco::metrics::psnr_u8(a, b)
}

#[test]
fn encode_decode_info_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded, out) = (dir.path().join("in.png"), dir.path().join("in.neco"), dir.path().join("out.png"));
    let original = write_test_image(&png, 67, 45);
    let o = neco(&["encode", png.to_str().unwrap(), coded.to_str().unwrap(), "--quality", "90"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = neco(&["decode", coded.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let decoded = image::open(&out).unwrap().to_rgb8();
    assert_eq!(decoded.dimensions(), (67, 45));
    assert!(psnr(original.as_raw(), decoded.as_raw()) > 30.0);

    let o = neco(&["info", coded.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("67x45") && text.contains("wavelet") && text.contains("bpp"), "{text}");
}

#[test]
fn corrupt_input_fails_with_one_line_and_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded, out) = (dir.path().join("in.png"), dir.path().join("in.neco"), dir.path().join("out.png"));
    write_test_image(&png, 32, 32);
    assert!(neco(&["encode", png.to_str().unwrap(), coded.to_str().unwrap()]).status.success());
    let mut bytes = std::fs::read(&coded).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&coded, &bytes).unwrap();
    for input in [coded.to_str().unwrap(), png.to_str().unwrap(), "/nonexistent/file.neco"] {
        let o = neco(&["decode", input, out.to_str().unwrap()]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("neco: error:"), "{err}");
        assert!(!out.exists(), "a partial output file was left behind");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn demo_prints_bpp_and_psnr() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("small.png");
    write_test_image(&png, 40, 24);
    let out_dir = dir.path().join("demo");
    let o = neco(&["demo", "--image", png.to_str().unwrap(), "--out-dir", out_dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("bpp") && text.contains("PSNR"), "{text}");
    assert!(out_dir.join("small.neco").exists() && out_dir.join("small.decoded.png").exists());
}

#[test]
fn absurd_dimensions_are_refused_before_allocating() {
    use neco_bitstream::container::{ChunkKind, CodingParams, ColourFormat, ContainerWriter, Header, StreamKind};
    let dir = tempfile::tempdir().unwrap();
    let (coded, out) = (dir.path().join("huge.neco"), dir.path().join("huge.png"));
    // A well-formed file (valid CRCs) that claims 40000 x 40000 pixels.
    let real = neco::Codec::load("wavelet").unwrap();
    let sample = image::DynamicImage::ImageRgb8(image::RgbImage::new(4, 4));
    let fingerprint = neco::Codec::inspect(&real.encode_image(&sample, &Default::default()).unwrap())
        .unwrap()
        .header
        .weights_fingerprint;
    let header = Header {
        kind: StreamKind::Image,
        colour: ColourFormat::Rgb,
        bit_depth: 8,
        model_id: 1,
        weights_fingerprint: fingerprint,
        params: CodingParams { quality: 50, rate_param: 0 },
        width: 40_000,
        height: 40_000,
    };
    let mut w = ContainerWriter::new(header);
    w.push(ChunkKind::Latent, vec![0; 8]);
    std::fs::write(&coded, w.finish().unwrap()).unwrap();
    let o = neco(&["decode", coded.to_str().unwrap(), out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("larger than this decoder accepts"), "{err}");
    assert!(!out.exists());
}

#[test]
fn usage_errors_are_one_line() {
    for args in [&["encode", "a.png", "b.neco", "--quality", "0"][..], &["frobnicate"][..], &["encode"][..]] {
        let o = neco(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("neco: error: "), "{err}");
    }
    let o = neco(&["--help"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("encode"));
}
