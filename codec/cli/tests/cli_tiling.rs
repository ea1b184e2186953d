//! `neco encode --tile N`: forced tiles with the learned model, and the flag's errors.

use std::process::{Command, Output};

fn neco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neco")).args(args).output().expect("neco runs")
}

fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected a failure, got success: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn tile_flag_codes_in_tiles_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (png, neco_file, out) = (dir.path().join("in.png"), dir.path().join("t.neco"), dir.path().join("out.png"));
    let image =
        image::RgbImage::from_fn(130, 70, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8]));
    image.save(&png).unwrap();
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();

    let o = neco(&["encode", &p(&png), &p(&neco_file), "--model", "hyperprior", "--tile", "64", "-q", "40", "-v"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = String::from_utf8_lossy(&o.stdout);
    assert!(info.contains("tile-grid"), "{info}");
    // "chunks: tile-grid 5 B, tile 123 B, …": a 3×2 grid.
    assert_eq!(info.matches(" tile ").count(), 6, "{info}");
    let o = neco(&["decode", &p(&neco_file), &p(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(image::image_dimensions(&out).unwrap(), (130, 70));

    fails_with(&neco(&["encode", &p(&png), &p(&neco_file), "--tile", "64"]), "tiles are for learned models");
    fails_with(&neco(&["encode", &p(&png), &p(&neco_file), "--model", "hyperprior", "--tile", "100"]), "stride");
    fails_with(
        &neco(&["encode", &p(&png), &p(&neco_file), "--model", "hyperprior", "--tile", "64", "--bpp", "1"]),
        "--bpp",
    );
}
