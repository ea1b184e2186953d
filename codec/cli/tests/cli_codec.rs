//! `neco encode/decode/info` end to end: every input kind, odd sizes with the wavelet and the
//! learned model, standard input and output, batches, `--bpp`, `--lambda`, and each error.

use image::{DynamicImage, GenericImageView};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn neco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neco")).args(args).output().expect("neco runs")
}

fn neco_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neco"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("neco runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "neco failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts the failure contract: nonzero exit, one `neco: error:` line mentioning `needle`.
fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected a failure, got success: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("neco: error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Only `expected` (file names) is left in `dir`: no partial or temporary files.
fn only_files(dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// A smooth test pattern with some texture; codes well at any size.
fn pattern(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width.max(2) as f32, y as f32 / height.max(2) as f32);
        image::Rgb([
            (40.0 + 170.0 * fx) as u8,
            (200.0 - 150.0 * fy) as u8,
            (128.0 + 60.0 * ((x as f32 * 0.3).sin() * (y as f32 * 0.2).cos())) as u8,
        ])
    })
}

fn alpha_of(x: u32, y: u32) -> u8 {
    // Holes, a ramp and arbitrary values: lossless coding must keep each one.
    if (x + y).is_multiple_of(7) {
        0
    } else {
        ((x * 37 + y * 11) % 256) as u8
    }
}

fn psnr(a: &DynamicImage, b: &DynamicImage) -> f64 {
    neco::metrics::psnr_u8(a.to_rgb8().as_raw(), b.to_rgb8().as_raw())
}

fn alpha_plane(img: &DynamicImage) -> Vec<u8> {
    img.to_rgba8().pixels().map(|p| p[3]).collect()
}

fn repo_asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets").join(name)
}

#[test]
fn every_input_kind_round_trips_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (29, 19);
    let rgb = pattern(w, h);
    let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y);
        image::Rgba([p[0], p[1], p[2], alpha_of(x, y)])
    });
    let rgb16 = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y);
        image::Rgb([u16::from(p[0]) * 257 + 100, u16::from(p[1]) * 257, u16::from(p[2]) * 257])
    });
    let gray = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
    let gray_alpha = DynamicImage::ImageRgba8(rgba.clone()).to_luma_alpha8();
    // (file name, image written, expected decoded colour type, alpha kept exactly)
    let cases: Vec<(&str, DynamicImage, image::ColorType, bool)> = vec![
        ("rgb8.png", rgb.clone().into(), image::ColorType::Rgb8, false),
        ("rgb16.png", DynamicImage::ImageRgb16(rgb16), image::ColorType::Rgb8, false),
        ("gray.png", gray.clone().into(), image::ColorType::L8, false),
        ("rgba.png", rgba.clone().into(), image::ColorType::Rgba8, true),
        ("grayalpha.png", gray_alpha.into(), image::ColorType::La8, true),
        ("photo.jpg", rgb.clone().into(), image::ColorType::Rgb8, false),
        ("pixmap.ppm", rgb.clone().into(), image::ColorType::Rgb8, false),
        ("graymap.pgm", gray.clone().into(), image::ColorType::L8, false),
        ("scan.tiff", rgb.clone().into(), image::ColorType::Rgb8, false),
        ("lossless.webp", rgba.clone().into(), image::ColorType::Rgba8, true),
        ("bitmap.bmp", rgb.clone().into(), image::ColorType::Rgb8, false),
    ];
    let mut inputs = vec![];
    for (name, img, _, _) in &cases {
        let path = dir.path().join(name);
        img.save(&path).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        inputs.push(path);
    }
    let (enc, dec) = (dir.path().join("enc"), dir.path().join("dec"));
    let mut args = vec!["encode", "--quality", "90", "-o", s(&enc)];
    args.extend(inputs.iter().map(|p| s(p)));
    let summary = ok(&neco(&args));
    assert_eq!(summary.lines().count(), cases.len(), "{summary}");
    assert!(summary.contains("bpp") && summary.contains("bytes"), "{summary}");

    let coded: Vec<PathBuf> = cases
        .iter()
        .map(|(name, ..)| enc.join(format!("{}.neco", Path::new(name).file_stem().unwrap().to_str().unwrap())))
        .collect();
    let mut args = vec!["decode", "-o", s(&dec)];
    args.extend(coded.iter().map(|p| s(p)));
    ok(&neco(&args));

    for ((name, _, colour, keeps_alpha), coded) in cases.iter().zip(&coded) {
        let original = image::open(dir.path().join(name)).unwrap();
        let stem = Path::new(name).file_stem().unwrap().to_str().unwrap();
        let decoded = image::open(dec.join(format!("{stem}.png"))).unwrap();
        assert_eq!(decoded.dimensions(), (w, h), "{name}");
        assert_eq!(decoded.color(), *colour, "{name}");
        let p = psnr(&original, &decoded);
        assert!(p > 28.0, "{name}: PSNR {p:.2} dB");
        if *keeps_alpha {
            assert_eq!(alpha_plane(&decoded), alpha_plane(&original), "{name}: alpha must round-trip exactly");
        }
        let info = neco::Codec::inspect(&std::fs::read(coded).unwrap()).unwrap();
        let depth = if name.contains("16") { 16 } else { 8 };
        assert_eq!(info.header.bit_depth, depth, "{name}");
    }
}

#[test]
fn odd_sizes_with_the_wavelet_model() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [(1, 1), (3, 7), (1000, 17), (17, 1000)];
    let mut inputs = vec![];
    for (w, h) in sizes {
        let png = dir.path().join(format!("{w}x{h}.png"));
        DynamicImage::from(pattern(w, h)).save(&png).unwrap();
        inputs.push(png);
    }
    let (enc, dec) = (dir.path().join("enc"), dir.path().join("dec"));
    let mut args = vec!["encode", "-q", "90", "-o", s(&enc)];
    args.extend(inputs.iter().map(|p| s(p)));
    ok(&neco(&args));
    let coded: Vec<PathBuf> = sizes.iter().map(|(w, h)| enc.join(format!("{w}x{h}.neco"))).collect();
    let mut args = vec!["decode", "--format", "bmp", "-o", s(&dec)];
    args.extend(coded.iter().map(|p| s(p)));
    ok(&neco(&args));
    for ((w, h), png) in sizes.iter().zip(&inputs) {
        let decoded = image::open(dec.join(format!("{w}x{h}.bmp"))).unwrap();
        assert_eq!(decoded.dimensions(), (*w, *h));
        let p = psnr(&image::open(png).unwrap(), &decoded);
        if w * h > 100 {
            assert!(p > 28.0, "{w}x{h}: {p:.2} dB");
        }
    }
}

#[test]
fn odd_sizes_with_the_learned_model() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [(1, 1), (3, 7), (1000, 17), (17, 1000)];
    let mut inputs = vec![];
    for (w, h) in sizes {
        let png = dir.path().join(format!("s{w}x{h}.png"));
        DynamicImage::from(pattern(w, h)).save(&png).unwrap();
        inputs.push(png);
    }
    let (enc, dec) = (dir.path().join("enc"), dir.path().join("dec"));
    let mut args = vec!["encode", "--model", "hyperprior", "--quality", "90", "-o", s(&enc)];
    args.extend(inputs.iter().map(|p| s(p)));
    ok(&neco(&args));
    let mut args = vec!["decode", "--format", "ppm", "-o", s(&dec)];
    let coded: Vec<PathBuf> = sizes.iter().map(|(w, h)| enc.join(format!("s{w}x{h}.neco"))).collect();
    args.extend(coded.iter().map(|p| s(p)));
    ok(&neco(&args));
    for ((w, h), png) in sizes.iter().zip(&inputs) {
        let decoded = image::open(dec.join(format!("s{w}x{h}.ppm"))).unwrap();
        assert_eq!(decoded.dimensions(), (*w, *h));
        if w * h > 100 {
            let p = psnr(&image::open(png).unwrap(), &decoded);
            assert!(p > 22.0, "{w}x{h}: {p:.2} dB");
        }
    }
    let info = ok(&neco(&["info", s(&coded[2])]));
    assert!(info.contains("hyperprior") && info.contains("mbt2018-mean") && info.contains("rate level"), "{info}");
    assert!(info.contains("1000x17") && info.contains("symbol-checksum"), "{info}");
}

#[test]
fn standard_input_and_output() {
    let png = neco::image_io::encode_image_bytes(&pattern(40, 30).into(), image::ImageFormat::Png).unwrap();
    let o = neco_stdin(&["encode", "-", "-"], &png);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.starts_with(b"NECO"));
    // The summary goes to stderr when stdout carries the file.
    assert!(String::from_utf8_lossy(&o.stderr).contains("bpp"));
    let coded = o.stdout;
    let o = neco_stdin(&["decode", "--quiet", "-", "-"], &coded);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "--quiet prints nothing");
    let decoded = image::load_from_memory_with_format(&o.stdout, image::ImageFormat::Png).unwrap();
    assert_eq!(decoded.dimensions(), (40, 30));
    let o = neco_stdin(&["info", "-"], &coded);
    assert!(ok(&o).contains("40x30"));
    let o = neco_stdin(&["decode", "-", "-", "--format", "jpg"], &coded);
    ok(&o);
    assert!(o.stdout.starts_with(&[0xFF, 0xD8]), "a JPEG on stdout");
}

#[test]
fn a_bad_file_in_a_batch_is_reported_and_the_rest_are_coded() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = ["a.png", "broken.png", "c.png"].iter().map(|n| dir.path().join(n)).collect();
    DynamicImage::from(pattern(16, 16)).save(&paths[0]).unwrap();
    std::fs::write(&paths[1], b"\x89PNG\r\n\x1a\n this is not really a png").unwrap();
    DynamicImage::from(pattern(20, 12)).save(&paths[2]).unwrap();
    let out = dir.path().join("out");
    let o = neco(&["encode", "-o", s(&out), s(&paths[0]), s(&paths[1]), s(&paths[2])]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("neco: error: ") && lines[0].contains("broken.png"), "{err}");
    assert!(lines[1].contains("1 of 3 inputs failed"), "{err}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    only_files(&out, &["a.neco", "c.neco"]);
}

#[test]
fn bpp_target_is_met_from_below() {
    let dir = tempfile::tempdir().unwrap();
    let coded = dir.path().join("k.neco");
    let kodim = repo_asset("kodim23.png");
    let target = 0.4;
    let stdout = ok(&neco(&["encode", s(&kodim), s(&coded), "--bpp", &target.to_string()]));
    assert!(stdout.contains("quality") && stdout.contains("--bpp 0.4"), "{stdout}");
    let info = neco::Codec::inspect(&std::fs::read(&coded).unwrap()).unwrap();
    assert!(info.bpp() <= target && info.bpp() > 0.8 * target, "{}", info.bpp());
    // The next quality up would overshoot: the search found the closest setting from below.
    let q = info.header.params.quality;
    let next = dir.path().join("next.neco");
    ok(&neco(&["encode", s(&kodim), s(&next), "--quality", &(q + 1).to_string()]));
    assert!(neco::Codec::inspect(&std::fs::read(&next).unwrap()).unwrap().bpp() > target);

    // The learned model searches its continuous rate level.
    let png = dir.path().join("small.png");
    DynamicImage::from(pattern(64, 48)).save(&png).unwrap();
    let stdout = ok(&neco(&["encode", s(&png), s(&coded), "--bpp", "1.5", "--model", "hyperprior"]));
    assert!(stdout.contains("level"), "{stdout}");
    let info = neco::Codec::inspect(&std::fs::read(&coded).unwrap()).unwrap();
    assert!(info.bpp() <= 1.5, "{}", info.bpp());
}

#[test]
fn lambda_picks_a_rate_level_of_a_learned_model_only() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded) = (dir.path().join("in.png"), dir.path().join("in.neco"));
    DynamicImage::from(pattern(24, 24)).save(&png).unwrap();
    fails_with(&neco(&["encode", s(&png), s(&coded), "--lambda", "0.01"]), "no λ list");
    let stdout = ok(&neco(&["encode", s(&png), s(&coded), "--lambda", "0.025", "-m", "hyperprior"]));
    assert!(stdout.contains("level 4.0000"), "{stdout}");
    fails_with(&neco(&["encode", s(&png), s(&coded), "--lambda", "5", "-m", "hyperprior"]), "outside the range");
}

#[test]
fn effort_refines_learned_models_and_is_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded, out) = (dir.path().join("in.png"), dir.path().join("in.neco"), dir.path().join("out.png"));
    DynamicImage::from(pattern(40, 24)).save(&png).unwrap();
    let stdout = ok(&neco(&["encode", s(&png), s(&coded), "-q", "50", "--effort", "2", "-m", "hyperprior"]));
    assert!(stdout.contains("quality 50, effort 2"), "{stdout}");
    ok(&neco(&["decode", s(&coded), s(&out)]));
    assert_eq!(image::open(&out).unwrap().width(), 40);
    std::fs::remove_file(&coded).unwrap();
    fails_with(&neco(&["encode", s(&png), s(&coded), "--effort", "2"]), "no effort setting");
    fails_with(&neco(&["encode", s(&png), s(&coded), "--effort", "12", "-m", "hyperprior"]), "12");
    assert!(!coded.exists(), "a refused encode left a file");
}

#[test]
fn input_errors_are_one_line_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded, out) = (dir.path().join("in.png"), dir.path().join("in.neco"), dir.path().join("out.png"));
    DynamicImage::from(pattern(32, 32)).save(&png).unwrap();
    ok(&neco(&["encode", s(&png), s(&coded)]));
    let good = std::fs::read(&coded).unwrap();

    fails_with(&neco(&["encode", "/nonexistent/in.png", s(&out)]), "cannot read /nonexistent/in.png");
    fails_with(&neco(&["decode", "/nonexistent/in.neco", s(&out)]), "cannot read /nonexistent/in.neco");
    let garbage = dir.path().join("garbage.jpg");
    std::fs::write(&garbage, b"\xFF\xD8\xFF\xE0 not a jpeg at all").unwrap();
    fails_with(&neco(&["encode", s(&garbage), s(&out)]), "garbage.jpg");
    fails_with(&neco(&["decode", s(&png), s(&out)]), "not a neco file");

    let cut = dir.path().join("cut.neco");
    std::fs::write(&cut, &good[..good.len() - 5]).unwrap();
    fails_with(&neco(&["decode", s(&cut), s(&out)]), "cut.neco");
    let flipped = dir.path().join("flipped.neco");
    let mut bytes = good.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&flipped, &bytes).unwrap();
    fails_with(&neco(&["decode", s(&flipped), s(&out)]), "CRC");
    fails_with(&neco(&["info", s(&flipped)]), "CRC");

    fails_with(&neco(&["encode", s(&png), s(&out), "--model", "no-such-model"]), "unknown model 'no-such-model'");
    fails_with(&neco(&["decode", s(&coded), s(&out), "--model", "hyperprior"]), "made by model 'wavelet'");
    only_files(dir.path(), &["in.png", "in.neco", "garbage.jpg", "cut.neco", "flipped.neco"]);
}

#[test]
fn unwritable_outputs_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (png, coded) = (dir.path().join("in.png"), dir.path().join("in.neco"));
    DynamicImage::from(pattern(8, 8)).save(&png).unwrap();
    ok(&neco(&["encode", s(&png), s(&coded)]));
    let under_a_file = png.join("x.neco");
    fails_with(&neco(&["encode", s(&png), s(&under_a_file)]), "cannot write");
    fails_with(&neco(&["encode", s(&png), "/nonexistent-dir/x.neco"]), "does not exist");
    fails_with(&neco(&["decode", s(&coded), s(dir.path())]), "it is a folder");
    fails_with(&neco(&["decode", s(&coded), s(&dir.path().join("x.gif"))]), "unknown output image format");
    let out_dir_is_file = neco(&["encode", "-o", s(&png), s(&png)]);
    fails_with(&out_dir_is_file, "cannot create output folder");
    only_files(dir.path(), &["in.png", "in.neco"]);
}

/// A copy of the shipped learned weights with one metadata entry added: the same network,
/// but another file, so another fingerprint.
fn other_weights(dir: &Path) -> PathBuf {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/hyperprior.safetensors")).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header["__metadata__"]["neco_test"] = serde_json::Value::String("a different weights file".into());
    let mut json = serde_json::to_vec(&header).unwrap();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + len..]);
    let path = dir.join("other.safetensors");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn weights_fingerprint_mismatch_is_refused_and_model_path_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let weights = other_weights(dir.path());
    let (png, coded, out) = (dir.path().join("in.png"), dir.path().join("in.neco"), dir.path().join("out.png"));
    DynamicImage::from(pattern(20, 20)).save(&png).unwrap();
    ok(&neco(&["encode", s(&png), s(&coded), "--model", s(&weights)]));
    let info = ok(&neco(&["info", s(&coded)]));
    assert!(info.contains("not shipped"), "{info}");

    fails_with(&neco(&["decode", s(&coded), s(&out), "--model", "hyperprior"]), "weights fingerprint mismatch");
    fails_with(&neco(&["decode", s(&coded), s(&out)]), "--model");
    assert!(!out.exists());
    ok(&neco(&["decode", s(&coded), s(&out), "--model", s(&weights)]));
    assert_eq!(image::open(&out).unwrap().dimensions(), (20, 20));
}

#[test]
fn usage_errors_are_one_line_with_exit_code_2() {
    for (args, needle) in [
        (&["encode"][..], "required arguments were not provided: <PATH>"),
        (&["encode", "a.png", "b.neco", "--quality", "abc"][..], "invalid value 'abc'"),
        (&["decode", "a.neco", "b.png", "--frobnicate"][..], "unexpected argument '--frobnicate'"),
        (&["frobnicate"][..], "unrecognized subcommand"),
    ] {
        let o = neco(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.starts_with("neco: error: ") && err.contains(needle), "{args:?}: {err}");
        assert!(err.contains("--help)"), "{args:?}: no pointer to --help: {err}");
    }
}
