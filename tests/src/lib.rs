//! Shared helpers of the integration tests in tests/tests/: the test image, the `neco` binary
//! and pixel digests.

use anyhow::{bail, Context, Result};
use image::{DynamicImage, RgbImage};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// assets/kodim23.png, the Kodak parrots (768×512).
pub fn kodim23() -> Result<RgbImage> {
    let path = workspace_root().join("assets/kodim23.png");
    Ok(image::open(&path).with_context(|| format!("cannot open {}", path.display()))?.to_rgb8())
}

/// Where the golden crop sits in kodim23: x, y, width, height.
pub const GOLDEN_CROP: (u32, u32, u32, u32) = (352, 224, 64, 48);

/// The 64×48 crop of kodim23 the golden streams code.
pub fn golden_crop() -> Result<DynamicImage> {
    let (x, y, w, h) = GOLDEN_CROP;
    Ok(DynamicImage::ImageRgb8(image::imageops::crop_imm(&kodim23()?, x, y, w, h).to_image()))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `neco` binary of the same build as the running test executable
/// (`<target>/<profile>/neco`, the parent of the test's `deps/` folder).
pub fn neco_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the test executable")?;
    let profile_dir = exe.parent().and_then(Path::parent).context("test executable outside a target folder")?;
    let bin = profile_dir.join(format!("neco{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "the neco binary is missing at {}: build it first with `cargo build --release -p neco-cli` \
             (`cargo test --workspace --release` builds it)",
            bin.display()
        );
    }
    Ok(bin)
}
