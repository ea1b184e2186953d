//! Golden streams: committed .neco files (tests/golden/) must keep decoding to the same pixels.
//!
//! `tests/golden/SHA256SUMS` lists, per file, the SHA-256 of the decoded image's 8-bit RGB
//! samples (row-major, no header), with whatever thread count libtorch picks: the exact
//! entropy parameters and synthesis make the pixels independent of it. See tests/golden/README.md.
//!
//! `NECO_REGENERATE_GOLDEN=1 cargo test --release -p neco-tests --test golden` re-encodes the
//! streams and rewrites the sums. That is only legitimate when the format or the weights change
//! deliberately: regenerating to make a failure go away hides exactly the regression this test
//! exists to catch.

use neco::{Codec, EncodeParams};
use neco_tests::{golden_crop, sha256_hex, workspace_root, GOLDEN_CROP};
use std::path::PathBuf;

/// (file, model, quality) of each golden stream.
const STREAMS: &[(&str, &str, u8)] = &[
    ("hyperprior-q30.neco", "hyperprior", 30),
    ("hyperprior-q80.neco", "hyperprior", 80),
    ("wavelet-q60.neco", "wavelet", 60),
];

const SUMS: &str = "SHA256SUMS";

fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden")
}

fn regenerate() {
    let image = golden_crop().unwrap();
    let mut sums = String::new();
    for &(file, model, quality) in STREAMS {
        let codec = Codec::load(model).unwrap();
        let bytes = codec.encode_image(&image, &EncodeParams { quality: Some(quality), ..Default::default() }).unwrap();
        let decoded = codec.decode_image(&bytes).unwrap().to_rgb8();
        std::fs::write(golden_dir().join(file), &bytes).unwrap();
        sums.push_str(&format!("{}  {file}\n", sha256_hex(decoded.as_raw())));
    }
    std::fs::write(golden_dir().join(SUMS), sums).unwrap();
}

/// (file, expected pixel digest) from SHA256SUMS.
fn expected() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(golden_dir().join(SUMS)).expect("tests/golden/SHA256SUMS");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (digest, file) = l.split_once("  ").unwrap_or_else(|| panic!("malformed line {l:?}"));
            (file.trim().to_string(), digest.to_string())
        })
        .collect()
}

#[test]
fn golden_streams_decode_to_the_recorded_pixels() {
    // No thread pinning: the hyper-synthesis and the synthesis run in exact fixed point, so the
    // pixels must not depend on the machine's core count (tests/tests/thread_determinism.rs
    // compares 1 and 2 threads directly).
    if std::env::var_os("NECO_REGENERATE_GOLDEN").is_some_and(|v| v == "1") {
        regenerate();
    }
    let sums = expected();
    assert_eq!(
        sums.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        STREAMS.iter().map(|s| s.0).collect::<Vec<_>>(),
        "SHA256SUMS lists other files than the test"
    );
    let mut failures = vec![];
    for (file, digest) in &sums {
        let bytes = std::fs::read(golden_dir().join(file)).unwrap_or_else(|e| panic!("tests/golden/{file}: {e}"));
        // Decoded the way `neco decode` does: the model is picked from the header.
        match Codec::decode_any(&bytes) {
            Ok(image) => {
                let rgb = image.to_rgb8();
                assert_eq!(rgb.dimensions(), (GOLDEN_CROP.2, GOLDEN_CROP.3), "{file}");
                let got = sha256_hex(rgb.as_raw());
                if &got != digest {
                    failures.push(format!("{file}: pixels have sha256 {got}, expected {digest}"));
                }
            }
            Err(e) => failures.push(format!("{file}: {e:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "golden streams no longer decode as recorded:\n  {}\n(see tests/golden/README.md before regenerating)",
        failures.join("\n  ")
    );
}
