//! Thread-count determinism, measured in separate processes: the `neco` binary encodes the same
//! image with 1 and with 2 libtorch threads (identical bytes expected), and each file decodes
//! with the other thread count (the symbol checksum must pass). Pixels must be identical too:
//! the learned model's synthesis runs in exact fixed point (`neco_models::exact`), the wavelet
//! codec in integers.
//!
//! The thread count goes in through the `NECO_THREADS` environment variable (read by the codec
//! before the first learned model is built), and also as `--threads N` when the subcommand
//! offers that flag.

use neco_tests::{kodim23, neco_binary, sha256_hex};
use std::path::Path;
use std::process::Command;

/// Runs `neco <args>` with `threads` threads; panics with its stderr on failure.
fn neco(threads: usize, subcommand: &str, args: &[&Path], extra: &[&str]) {
    let bin = neco_binary().unwrap_or_else(|e| panic!("{e:#}"));
    let mut cmd = Command::new(&bin);
    cmd.arg(subcommand).args(args).args(extra).env("NECO_THREADS", threads.to_string());
    if has_threads_flag(&bin, subcommand) {
        cmd.args(["--threads", &threads.to_string()]);
    }
    let out = cmd.output().expect("running neco");
    assert!(
        out.status.success(),
        "neco {subcommand} {args:?} with {threads} threads failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn has_threads_flag(bin: &Path, subcommand: &str) -> bool {
    let help = Command::new(bin).args([subcommand, "--help"]).output().expect("running neco --help");
    String::from_utf8_lossy(&help.stdout).contains("--threads")
}

fn pixels(path: &Path) -> Vec<u8> {
    image::open(path).unwrap().to_rgb8().into_raw()
}

fn check_model(model: &str, quality: &str, input: &Path, dir: &Path) {
    let file = |name: &str| dir.join(format!("{model}-{name}"));
    for threads in [1, 2] {
        neco(
            threads,
            "encode",
            &[input, &file(&format!("t{threads}.neco"))],
            &["--model", model, "--quality", quality],
        );
    }
    let (a, b) = (std::fs::read(file("t1.neco")).unwrap(), std::fs::read(file("t2.neco")).unwrap());
    // A binary that predates the symbol checksum would pass vacuously; make sure it is current.
    if model != "wavelet" {
        let c = neco_bitstream::container::Container::parse(&a).unwrap();
        assert!(
            c.first(neco_bitstream::container::ChunkKind::SymbolChecksum).is_some(),
            "the neco binary writes no symbol-checksum chunk: it is stale, rebuild it with \
             `cargo build --release -p neco-cli`"
        );
    }
    assert!(a == b, "{model}: encoding with 1 and 2 threads gave different bytes ({} vs {} bytes)", a.len(), b.len());
    // Each file decoded with the other thread count, and with its own.
    neco(2, "decode", &[&file("t1.neco"), &file("t1-by-t2.png")], &[]);
    neco(1, "decode", &[&file("t2.neco"), &file("t2-by-t1.png")], &[]);
    neco(1, "decode", &[&file("t1.neco"), &file("t1-by-t1.png")], &[]);
    let reference = pixels(&file("t1-by-t1.png"));
    for other in ["t1-by-t2.png", "t2-by-t1.png"] {
        let p = pixels(&file(other));
        assert_eq!(p.len(), reference.len());
        let differing = p.iter().zip(&reference).filter(|(a, b)| a != b).count();
        assert!(
            differing == 0,
            "{model}: decoding with another thread count changed {differing} samples ({other}: sha256 {} vs {})",
            sha256_hex(&p),
            sha256_hex(&reference)
        );
    }
}

#[test]
fn one_and_two_threads_give_identical_streams_and_pixels() {
    let dir = tempfile::tempdir().unwrap();
    // The whole Kodak image, so that libtorch actually splits its convolutions across threads.
    let input = dir.path().join("kodim23.png");
    kodim23().unwrap().save(&input).unwrap();
    check_model("hyperprior", "60", &input, dir.path());
    check_model("wavelet", "60", &input, dir.path());
}
