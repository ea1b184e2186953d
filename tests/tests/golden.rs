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

use image::{DynamicImage, GenericImageView};
use neco::{Codec, EncodeParams};
use neco_tests::{golden_crop, kodim23, sha256_hex, workspace_root};
use std::path::PathBuf;

/// What a golden stream codes.
#[derive(Clone, Copy)]
enum Source {
    /// The 64×48 crop of kodim23 (`neco_tests::GOLDEN_CROP`).
    Crop,
    /// All of kodim23 (768×512): large enough for the wavelet codec's
    /// restoration filters to pay, so the stream exercises them.
    Whole,
}

impl Source {
    fn image(self) -> DynamicImage {
        match self {
            Source::Crop => golden_crop().unwrap(),
            Source::Whole => DynamicImage::ImageRgb8(kodim23().unwrap()),
        }
    }
}

/// One golden stream: file, model, quality, what it codes, and whether
/// regeneration re-encodes it. A frozen stream is an old format version that
/// today's encoder no longer writes; it must keep decoding as recorded.
struct Golden {
    file: &'static str,
    model: &'static str,
    quality: u8,
    source: Source,
    frozen: bool,
}

const STREAMS: &[Golden] = &[
    Golden { file: "hyperprior-q30.neco", model: "hyperprior", quality: 30, source: Source::Crop, frozen: false },
    Golden { file: "hyperprior-q80.neco", model: "hyperprior", quality: 80, source: Source::Crop, frozen: false },
    // Wavelet payload format version 1 (before the restoration filters).
    Golden { file: "wavelet-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: true },
    // Wavelet payload format version 2 (restoration filters, per-context models).
    Golden { file: "wavelet-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: true },
    // Version 3 (context mixing of the binary decisions), small and whole.
    Golden { file: "wavelet-v3-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: true },
    Golden { file: "wavelet-v3-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: true },
    // Version 4 (more evidence and a second selector for the mixing, "above
    // two", cross-channel and clipped restoration inputs), small and whole.
    Golden { file: "wavelet-v4-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: true },
    Golden { file: "wavelet-v4-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: true },
    // Version 5 (transformed, split and predicted restoration filters in up
    // to three passes, primed LL models), small and whole.
    Golden { file: "wavelet-v5-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: true },
    Golden { file: "wavelet-v5-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: true },
    // Version 6 (LL residuals by context mixing, an "above three" flag), small and whole.
    Golden { file: "wavelet-v6-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: true },
    Golden { file: "wavelet-v6-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: true },
    // Version 7 (mixers start from trained states), small and whole.
    Golden { file: "wavelet-v7-q60.neco", model: "wavelet", quality: 60, source: Source::Crop, frozen: false },
    Golden { file: "wavelet-v7-kodim23-q30.neco", model: "wavelet", quality: 30, source: Source::Whole, frozen: false },
];

const SUMS: &str = "SHA256SUMS";

fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden")
}

fn regenerate() {
    let recorded = expected();
    let mut sums = String::new();
    for g in STREAMS {
        let digest = if g.frozen {
            recorded.iter().find(|(f, _)| f == g.file).expect("a frozen stream keeps its recorded digest").1.clone()
        } else {
            let codec = Codec::load(g.model).unwrap();
            let params = EncodeParams { quality: Some(g.quality), ..Default::default() };
            let bytes = codec.encode_image(&g.source.image(), &params).unwrap();
            std::fs::write(golden_dir().join(g.file), &bytes).unwrap();
            sha256_hex(codec.decode_image(&bytes).unwrap().to_rgb8().as_raw())
        };
        sums.push_str(&format!("{digest}  {}\n", g.file));
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
        STREAMS.iter().map(|g| g.file).collect::<Vec<_>>(),
        "SHA256SUMS lists other files than the test"
    );
    let mut failures = vec![];
    for ((file, digest), g) in sums.iter().zip(STREAMS) {
        let bytes = std::fs::read(golden_dir().join(file)).unwrap_or_else(|e| panic!("tests/golden/{file}: {e}"));
        // Decoded the way `neco decode` does: the model is picked from the header.
        match Codec::decode_any(&bytes) {
            Ok(image) => {
                let rgb = image.to_rgb8();
                assert_eq!(rgb.dimensions(), g.source.image().dimensions(), "{file}");
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
