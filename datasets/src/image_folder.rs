//! Listing the image files of a folder tree, deterministically.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

/// File extensions (compared case-insensitively) treated as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "ppm", "bmp", "tiff", "tif", "webp"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn is_image_path(path: impl AsRef<Path>) -> bool {
    path.as_ref()
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// All image files under `root`, recursively, sorted by path (byte-wise, so the order does
/// not depend on the file system or the locale).
///
/// Hidden entries (names starting with `.`) are skipped. Symbolic links are followed; a
/// directory reached twice (link loops) is listed once. `root` may also be a single image file.
pub fn list_images(root: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let root = root.as_ref();
    let meta = std::fs::metadata(root).with_context(|| format!("reading {}", root.display()))?;
    if meta.is_file() {
        ensure!(is_image_path(root), "{} is not an image file", root.display());
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    walk(root, &mut out, &mut seen)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    let canonical = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    if !seen.insert(canonical) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks; a dangling link is skipped.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            walk(&path, out, seen)?;
        } else if meta.is_file() && is_image_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(is_image_path("a/b.PNG"));
        assert!(is_image_path("x.jpeg"));
        assert!(is_image_path("x.webp"));
        assert!(!is_image_path("x.txt"));
        assert!(!is_image_path("png"));
    }

    #[test]
    fn recursive_sorted_listing() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let root = std::env::temp_dir().join(format!("neco-imgfolder-{}-{nanos}", std::process::id()));
        for d in ["b/sub", "a", ".hidden"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["b/sub/z.jpg", "b/a.PNG", "a/2.ppm", "a/10.bmp", "c.webp", "notes.txt", ".hidden/h.png"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        let got: Vec<String> = list_images(&root)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["a/10.bmp", "a/2.ppm", "b/a.PNG", "b/sub/z.jpg", "c.webp"]);
        assert_eq!(list_images(root.join("c.webp")).unwrap().len(), 1);
        assert!(list_images(root.join("notes.txt")).is_err());
        assert!(list_images(root.join("missing")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn kodak_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/kodak");
        if !Path::new(dir).exists() {
            eprintln!("skipping: {dir} not found (shared datasets absent)");
            return;
        }
        let images = list_images(dir).unwrap();
        assert_eq!(images.len(), 24);
        assert!(images[0].ends_with("kodim01.png") && images[23].ends_with("kodim24.png"));
    }
}
