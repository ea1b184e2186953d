//! Dataset manifests: what a dataset is, where to download it from and the checksums that a
//! download must match. The built-in manifests live in `datasets/manifests/*.json` and are
//! compiled into the binary; see `docs/datasets.md` for the format.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The built-in manifests, by name, as JSON text.
const BUILTIN: &[(&str, &str)] = &[
    ("kodak", include_str!("../manifests/kodak.json")),
    ("clic2020-professional-valid", include_str!("../manifests/clic2020-professional-valid.json")),
    ("tecnick", include_str!("../manifests/tecnick.json")),
];

/// A dataset: either a list of individually pinned files or one archive to extract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Short name, used on the command line (`neco dataset fetch kodak`).
    pub name: String,
    pub description: String,
    pub homepage: String,
    /// Licence or terms of use of the images.
    #[serde(alias = "licence")]
    pub license: String,
    /// The number of images the dataset holds once fetched.
    pub image_count: usize,
    /// Individually downloaded files (each with its own checksum); empty for an archive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
    /// One archive whose members are extracted; `None` for a file list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<Archive>,
}

/// One file of a file-list dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Where the file goes, relative to the destination folder.
    pub path: String,
    pub url: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A zip archive of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    /// The archive's file name: its name while downloaded, and the name asked of a mirror.
    pub file_name: String,
    /// Where to download it, tried in order (the first is the primary, the rest mirrors).
    pub urls: Vec<String>,
    /// Lowercase hex SHA-256 of the archive; `null` when not pinned yet (then fetching needs
    /// `allow_unpinned`).
    pub sha256: Option<String>,
    /// Size in bytes; `null` when not pinned yet.
    pub size: Option<u64>,
    /// Which members to extract.
    #[serde(default)]
    pub members: MemberFilter,
}

/// Selects the archive members to extract. Members under `__MACOSX/` and AppleDouble files
/// (`._name`) are always skipped. Selected members are written flat, under their file name, in
/// the destination folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    /// Only members inside a folder of this name (at any depth), e.g. `RGB_OR_1200x1200`.
    #[serde(default)]
    pub folder: Option<String>,
    /// File extensions to extract, without the dot, compared case-insensitively (e.g. `png`);
    /// empty means every file.
    #[serde(default)]
    pub extensions: Vec<String>,
}

impl MemberFilter {
    /// Whether the archive member at `path` (components split on `/`) is selected.
    pub fn selects(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
        let Some((file, dirs)) = parts.split_last() else { return false };
        if path.ends_with('/') || file.starts_with("._") || dirs.contains(&"__MACOSX") {
            return false;
        }
        if let Some(folder) = &self.folder {
            if !dirs.iter().any(|d| d == folder) {
                return false;
            }
        }
        self.matches_extension(file)
    }

    /// Whether a file name has one of the selected extensions (any when none is given).
    pub fn matches_extension(&self, file_name: &str) -> bool {
        if self.extensions.is_empty() {
            return true;
        }
        match file_name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => self.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)),
            _ => false,
        }
    }
}

impl Manifest {
    /// Parses and validates a manifest.
    pub fn from_json(text: &str) -> Result<Self> {
        let manifest: Manifest = serde_json::from_str(text).context("invalid dataset manifest")?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks the manifest is usable: one kind of source, well-formed checksums, safe paths,
    /// as many files as images.
    pub fn validate(&self) -> Result<()> {
        let name = &self.name;
        ensure!(!name.is_empty(), "dataset manifest without a name");
        match (&self.archive, self.files.is_empty()) {
            (Some(_), false) => bail!("dataset {name}: a manifest has either `files` or `archive`, not both"),
            (None, true) => bail!("dataset {name}: the manifest has neither `files` nor `archive`"),
            (None, false) => {
                ensure!(
                    self.files.len() == self.image_count,
                    "dataset {name}: {} files listed but image_count is {}",
                    self.files.len(),
                    self.image_count
                );
                let mut seen = HashSet::new();
                for f in &self.files {
                    check_relative_path(&f.path).with_context(|| format!("dataset {name}"))?;
                    check_sha256(&f.sha256).with_context(|| format!("dataset {name}: {}", f.path))?;
                    check_url(&f.url).with_context(|| format!("dataset {name}: {}", f.path))?;
                    ensure!(seen.insert(f.path.as_str()), "dataset {name}: {} is listed twice", f.path);
                }
            }
            (Some(a), true) => {
                ensure!(self.image_count > 0, "dataset {name}: image_count must be positive");
                ensure!(!a.urls.is_empty(), "dataset {name}: the archive has no urls");
                for url in &a.urls {
                    check_url(url).with_context(|| format!("dataset {name}"))?;
                }
                ensure!(
                    !a.file_name.is_empty() && !a.file_name.contains(['/', '\\']) && !a.file_name.starts_with('.'),
                    "dataset {name}: the archive's file_name must be a plain file name, not {:?}",
                    a.file_name
                );
                if let Some(sha) = &a.sha256 {
                    check_sha256(sha).with_context(|| format!("dataset {name}: {}", a.file_name))?;
                }
            }
        }
        Ok(())
    }

    /// Whether every download has a pinned SHA-256.
    pub fn is_pinned(&self) -> bool {
        self.archive.as_ref().is_none_or(|a| a.sha256.is_some())
    }

    /// The total download size in bytes, when known.
    pub fn download_size(&self) -> Option<u64> {
        match &self.archive {
            Some(a) => a.size,
            None => Some(self.files.iter().map(|f| f.size).sum()),
        }
    }
}

/// The built-in manifests, in a fixed order.
pub fn builtin() -> Vec<Manifest> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            let m = Manifest::from_json(text).unwrap_or_else(|e| panic!("built-in manifest {name}: {e:#}"));
            assert_eq!(&m.name, name, "built-in manifest name");
            m
        })
        .collect()
}

/// The names of the built-in datasets.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _)| *name).collect()
}

/// The built-in manifest called `name`.
pub fn by_name(name: &str) -> Result<Manifest> {
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Manifest::from_json(text),
        None => bail!("unknown dataset {name:?} (known: {})", builtin_names().join(", ")),
    }
}

/// A relative path with no `..`, no root, no drive prefix and no empty component.
pub(crate) fn check_relative_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.starts_with(['/', '\\'])
        || path.contains('\0')
        || path.as_bytes().get(1) == Some(&b':')
        || path.split(['/', '\\']).any(|c| c.is_empty() || c == "." || c == "..");
    ensure!(!bad, "unsafe path {path:?} (absolute, or with `..`)");
    Ok(())
}

fn check_sha256(sha: &str) -> Result<()> {
    ensure!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "sha256 must be 64 lowercase hex digits, not {sha:?}"
    );
    Ok(())
}

fn check_url(url: &str) -> Result<()> {
    ensure!(url.starts_with("http://") || url.starts_with("https://"), "not an http(s) url: {url:?}");
    Ok(())
}
