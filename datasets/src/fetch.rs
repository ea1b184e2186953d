//! Downloading datasets from their [`Manifest`]s: verified, atomic and resumable.
//!
//! Every download streams into a temporary file (`.NAME.XXXXXX.part`) in the destination
//! folder while it is hashed; only when its size and SHA-256 match the manifest is it renamed to
//! its final name, so a partial or unverified file never sits under that name. Files already
//! present with the right checksum are not downloaded again, so a fetch that failed or was
//! interrupted can simply be run again. Archive members are extracted the same way (temporary
//! file, then rename), after every member path has been checked for traversal.

use crate::manifest::{self, Archive, FileEntry, Manifest, MemberFilter};
use anyhow::{anyhow, bail, ensure, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::time::Duration;

/// The environment variable that sets a default mirror (`--mirror` overrides it).
pub const MIRROR_ENV: &str = "NECO_DATASET_MIRROR";

/// The mirror named by [`MIRROR_ENV`], if set and not empty.
pub fn mirror_from_env() -> Option<String> {
    std::env::var(MIRROR_ENV).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Base URL that replaces everything up to the last `/` of each download URL (for an archive,
    /// the mirror is asked for the archive's `file_name`). Only the mirror is then tried.
    pub mirror: Option<String>,
    /// Download archives whose checksum the manifest does not pin (and report the checksum).
    pub allow_unpinned: bool,
    /// Keep a downloaded archive after extracting it.
    pub keep_archive: bool,
    /// Tries per source for transient failures (connection errors, 5xx, cut-off bodies).
    pub attempts: u32,
    /// Wait before the second try; it grows linearly with each further try.
    pub retry_delay: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            mirror: None,
            allow_unpinned: false,
            keep_archive: false,
            attempts: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// What a fetch reports while it runs. Every method defaults to doing nothing.
pub trait Progress: Sync {
    /// The number of bytes to download (when known), once at the start.
    fn begin(&self, _total_bytes: Option<u64>) {}
    /// The download size learnt from the server when the manifest has none.
    fn length_hint(&self, _total_bytes: u64) {}
    /// Now downloading or extracting `name`.
    fn file(&self, _name: &str) {}
    /// `bytes` more were downloaded.
    fn advance(&self, _bytes: u64) {}
    /// A failed try threw away `bytes` already counted.
    fn rewind(&self, _bytes: u64) {}
    /// Something worth a line (a retry, a bad file replaced).
    fn note(&self, _line: &str) {}
}

/// A [`Progress`] that reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A file's SHA-256 (lowercase hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub sha256: String,
    pub size: u64,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Files (or the archive) downloaded now.
    pub downloaded: usize,
    /// Images already present and verified, so not downloaded.
    pub present: usize,
    /// Images extracted from the archive now.
    pub extracted: usize,
    /// Bytes downloaded now.
    pub bytes_downloaded: u64,
    /// For an archive the manifest does not pin: its checksum as downloaded, to pin.
    pub unpinned: Option<Checksum>,
}

/// Fetches the built-in dataset `name` into `dir`.
pub fn fetch_by_name(name: &str, dir: &Path, opts: &FetchOptions, progress: &dyn Progress) -> Result<FetchReport> {
    fetch(&manifest::by_name(name)?, dir, opts, progress)
}

/// Fetches the dataset described by `manifest` into `dir` (created if needed).
pub fn fetch(manifest: &Manifest, dir: &Path, opts: &FetchOptions, progress: &dyn Progress) -> Result<FetchReport> {
    manifest.validate()?;
    if let Some(mirror) = &opts.mirror {
        ensure!(
            mirror.starts_with("http://") || mirror.starts_with("https://"),
            "the mirror must be an http:// or https:// URL, not {mirror:?}"
        );
    }
    if let Some(archive) = &manifest.archive {
        if archive.sha256.is_none() && !opts.allow_unpinned {
            bail!(
                "dataset {}: the manifest does not pin the sha256 of {}, so the download cannot be verified; \
                 pass --allow-unpinned to download it anyway (its sha256 is then printed, to pin in the manifest)",
                manifest.name,
                archive.file_name
            );
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match &manifest.archive {
        Some(archive) => fetch_archive(manifest, archive, dir, opts, progress),
        None => fetch_files(&manifest.files, dir, opts, progress),
    }
}

fn fetch_files(files: &[FileEntry], dir: &Path, opts: &FetchOptions, progress: &dyn Progress) -> Result<FetchReport> {
    let mut report = FetchReport::default();
    let mut todo = Vec::new();
    for f in files {
        let path = dir.join(&f.path);
        match check_file(&path, &f.sha256, Some(f.size))? {
            FileState::Good => report.present += 1,
            FileState::Missing => todo.push(f),
            FileState::Bad(why) => {
                progress.note(&format!("{}: {why}; downloading it again", f.path));
                todo.push(f);
            }
        }
    }
    progress.begin(Some(todo.iter().map(|f| f.size).sum()));
    for f in todo {
        progress.file(&f.path);
        let urls = source_urls(std::slice::from_ref(&f.url), url_file_name(&f.url), opts.mirror.as_deref());
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let got = download(&f.path, &urls, &path, Some(&f.sha256), Some(f.size), opts, progress)?;
        report.downloaded += 1;
        report.bytes_downloaded += got.size;
    }
    Ok(report)
}

/// The name of the file that records an extracted archive's images and their checksums, in
/// `sha256sum` format (so `sha256sum -c` can check it too).
pub fn extraction_record_name(manifest: &Manifest) -> String {
    format!(".neco-{}.sha256", manifest.name)
}

fn fetch_archive(
    manifest: &Manifest,
    archive: &Archive,
    dir: &Path,
    opts: &FetchOptions,
    progress: &dyn Progress,
) -> Result<FetchReport> {
    let mut report = FetchReport::default();
    let record_path = dir.join(extraction_record_name(manifest));
    if let Some(entries) = read_record(&record_path)? {
        if entries.len() == manifest.image_count
            && entries.iter().all(|(sha, name)| matches!(check_file_sha(&dir.join(name), sha), Ok(FileState::Good)))
        {
            report.present = entries.len();
            progress.begin(Some(0));
            return Ok(report);
        }
    }

    let archive_path = dir.join(&archive.file_name);
    let mut downloaded_now = false;
    let present = match &archive.sha256 {
        Some(sha) => matches!(check_file(&archive_path, sha, archive.size)?, FileState::Good),
        None => false,
    };
    let checksum = if present {
        progress.begin(Some(0));
        progress.note(&format!("{}: already downloaded and verified", archive.file_name));
        sha256_file(&archive_path)?
    } else {
        progress.begin(archive.size);
        progress.file(&archive.file_name);
        let urls = source_urls(&archive.urls, &archive.file_name, opts.mirror.as_deref());
        let got = download(
            &archive.file_name,
            &urls,
            &archive_path,
            archive.sha256.as_deref(),
            archive.size,
            opts,
            progress,
        )?;
        downloaded_now = true;
        report.downloaded = 1;
        report.bytes_downloaded = got.size;
        got
    };
    if archive.sha256.is_none() {
        report.unpinned = Some(checksum);
    }

    progress.file(&format!("extracting {}", archive.file_name));
    let extracted = extract_zip(&archive_path, &archive.file_name, dir, &archive.members, manifest.image_count)?;
    report.extracted = extracted.len();
    let record: String = extracted.iter().map(|(name, sum)| format!("{}  {name}\n", sum.sha256)).collect();
    write_atomically(&record_path, record.as_bytes())?;
    if downloaded_now && !opts.keep_archive {
        fs::remove_file(&archive_path).with_context(|| format!("cannot remove {}", archive_path.display()))?;
    }
    Ok(report)
}

/// The URLs to try for a download: `urls`, or with a mirror, `MIRROR/name` alone.
pub fn source_urls(urls: &[String], name: &str, mirror: Option<&str>) -> Vec<String> {
    match mirror {
        Some(m) => vec![format!("{}/{name}", m.trim_end_matches('/'))],
        None => urls.to_vec(),
    }
}

/// The part of a URL after its last `/` (what a mirror is asked for).
pub fn url_file_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Why one try of one source failed.
enum Failure {
    /// Worth another try of the same source.
    Transient(String),
    /// This source will not do; try the next.
    Source(String),
    /// Nothing to do with the source (e.g. the disk): give up.
    Local(anyhow::Error),
}

/// Downloads `label` from the first source that works into `dest`, verified against
/// `sha256`/`size` where given; never leaves anything else under `dest`.
fn download(
    label: &str,
    urls: &[String],
    dest: &Path,
    sha256: Option<&str>,
    size: Option<u64>,
    opts: &FetchOptions,
    progress: &dyn Progress,
) -> Result<Checksum> {
    let attempts = opts.attempts.max(1);
    let mut failures = Vec::new();
    for url in urls {
        for attempt in 1..=attempts {
            let failure = match download_once(url, dest, size, progress) {
                Ok((tmp, got)) => {
                    let size_ok = size.is_none_or(|s| s == got.size);
                    let sha_ok = sha256.is_none_or(|s| s == got.sha256);
                    if size_ok && sha_ok {
                        tmp.persist(dest).map_err(|e| {
                            anyhow!("{label}: cannot rename the download to {}: {}", dest.display(), e.error)
                        })?;
                        return Ok(got);
                    }
                    progress.rewind(got.size);
                    let expected = match (sha256, size) {
                        (Some(s), Some(n)) => format!("sha256 {s} ({n} bytes)"),
                        (Some(s), None) => format!("sha256 {s}"),
                        (None, Some(n)) => format!("{n} bytes"),
                        (None, None) => unreachable!(),
                    };
                    Failure::Source(format!(
                        "checksum mismatch in the download from {url}: expected {expected}, got sha256 {} ({} bytes)",
                        got.sha256, got.size
                    ))
                }
                Err(f) => f,
            };
            match failure {
                Failure::Local(e) => return Err(e.context(label.to_string())),
                Failure::Source(msg) => {
                    failures.push(msg);
                    break;
                }
                Failure::Transient(msg) if attempt < attempts => {
                    progress.note(&format!("{label}: {msg}; retrying ({}/{attempts})", attempt + 1));
                    std::thread::sleep(opts.retry_delay * attempt);
                }
                Failure::Transient(msg) => failures.push(format!("{msg} (after {attempts} tries)")),
            }
        }
    }
    match failures.len() {
        1 => bail!("{label}: {}", failures[0]),
        n => bail!("{label}: all {n} sources failed: {}", failures.join("; ")),
    }
}

/// One try: streams `url` into a temporary file next to `dest`, hashing it.
fn download_once(
    url: &str,
    dest: &Path,
    expected_size: Option<u64>,
    progress: &dyn Progress,
) -> Result<(tempfile::NamedTempFile, Checksum), Failure> {
    let response = match agent_for(url).get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let msg = format!("HTTP {code} {} from {url}", r.status_text());
            return Err(if code >= 500 || code == 408 || code == 429 {
                Failure::Transient(msg)
            } else {
                Failure::Source(msg)
            });
        }
        Err(ureq::Error::Transport(t)) => {
            let msg = format!("cannot download {url}: {}", t.to_string().trim_start_matches(&format!("{url}: ")));
            return Err(match t.kind() {
                ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme | ureq::ErrorKind::TooManyRedirects => {
                    Failure::Source(msg)
                }
                _ => Failure::Transient(msg),
            });
        }
    };
    let announced = response.header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    match (announced, expected_size) {
        (Some(n), Some(size)) if n != size => {
            return Err(Failure::Source(format!("{url} announces {n} bytes, expected {size}")));
        }
        (Some(n), None) => progress.length_hint(n),
        _ => {}
    }

    let file_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".part")
        .tempfile_in(parent)
        .with_context(|| format!("cannot create a temporary file in {}", parent.display()))
        .map_err(Failure::Local)?;
    let mut reader = response.into_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.rewind(total);
                return Err(Failure::Transient(format!("download from {url} broke off after {total} bytes: {e}")));
            }
        };
        total += n as u64;
        if let Some(size) = expected_size {
            if total > size {
                progress.rewind(total - n as u64);
                return Err(Failure::Source(format!("{url} sends more than the expected {size} bytes")));
            }
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .with_context(|| format!("cannot write to {}", tmp.path().display()))
            .map_err(Failure::Local)?;
        progress.advance(n as u64);
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", tmp.path().display()))
        .map_err(Failure::Local)?;
    Ok((tmp, Checksum { sha256: hex(&hasher.finalize()), size: total }))
}

/// An HTTP agent: redirects followed, timeouts set; proxies from the environment except for
/// loopback addresses.
fn agent_for(url: &str) -> ureq::Agent {
    let host = url.split("://").nth(1).unwrap_or("").split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let loopback = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .redirects(10)
        .try_proxy_from_env(!loopback)
        .user_agent(concat!("neco-datasets/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Extracts the members of a verified zip archive that `filter` selects into `dir` (flat, under
/// their file names), after checking every member path; returns their names and checksums.
fn extract_zip(
    archive_path: &Path,
    label: &str,
    dir: &Path,
    filter: &MemberFilter,
    expected: usize,
) -> Result<Vec<(String, Checksum)>> {
    let file = File::open(archive_path).with_context(|| format!("cannot open {}", archive_path.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).with_context(|| format!("{label}: not a zip archive"))?;

    // First every member is checked and the selection made, so nothing is written from an
    // archive that holds a dangerous path or the wrong images.
    let mut selected = Vec::new();
    let mut names = HashSet::new();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).with_context(|| format!("{label}: cannot read member {i}"))?;
        let name = entry.name().to_string();
        check_member_path(&name)
            .with_context(|| format!("{label}: refusing to extract the archive: member {name:?}"))?;
        let symlink = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if entry.is_dir() || symlink || !filter.selects(&name) {
            continue;
        }
        let file_name = name.rsplit(['/', '\\']).next().unwrap_or(&name).to_string();
        ensure!(names.insert(file_name.clone()), "{label}: two selected members are called {file_name}");
        selected.push((i, file_name));
    }
    ensure!(
        selected.len() == expected,
        "{label}: {} members match the manifest's filter ({}), expected {expected}",
        selected.len(),
        describe_filter(filter)
    );

    let mut out = Vec::new();
    for (i, file_name) in selected {
        let mut entry = zip.by_index(i).with_context(|| format!("{label}: cannot read {file_name}"))?;
        let dest = dir.join(&file_name);
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .suffix(".part")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let sum = copy_hashing(&mut entry, tmp.as_file_mut())
            .with_context(|| format!("{label}: cannot extract {}", entry.name()))?;
        tmp.as_file().sync_all().with_context(|| format!("cannot write {}", tmp.path().display()))?;
        tmp.persist(&dest).map_err(|e| anyhow!("cannot rename to {}: {}", dest.display(), e.error))?;
        out.push((file_name, sum));
    }
    Ok(out)
}

fn describe_filter(filter: &MemberFilter) -> String {
    let ext = if filter.extensions.is_empty() {
        "any file".to_string()
    } else {
        filter.extensions.iter().map(|e| format!("*.{e}")).collect::<Vec<_>>().join(", ")
    };
    match &filter.folder {
        Some(f) => format!("{ext} in a folder {f}"),
        None => ext,
    }
}

/// A member path that stays inside the destination: no root, drive prefix, `..` or NUL.
fn check_member_path(name: &str) -> Result<()> {
    let bad = name.starts_with(['/', '\\'])
        || name.as_bytes().get(1) == Some(&b':')
        || name.contains('\0')
        || name.split(['/', '\\']).any(|c| c == "..");
    ensure!(!bad, "unsafe path (absolute or with `..`)");
    Ok(())
}

fn copy_hashing(reader: &mut impl Read, out: &mut impl Write) -> io::Result<Checksum> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok(Checksum { sha256: hex(&hasher.finalize()), size })
}

/// The SHA-256 and size of a file.
pub fn sha256_file(path: &Path) -> Result<Checksum> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    copy_hashing(&mut file, &mut io::sink()).with_context(|| format!("cannot read {}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".neco-")
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path).map_err(|e| anyhow!("cannot rename to {}: {}", path.display(), e.error))?;
    Ok(())
}

enum FileState {
    Good,
    Missing,
    Bad(String),
}

fn check_file(path: &Path, sha256: &str, size: Option<u64>) -> Result<FileState> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FileState::Missing),
        Err(e) => Err(anyhow!(e).context(format!("cannot read {}", path.display()))),
        Ok(m) if !m.is_file() => Ok(FileState::Bad("not a regular file".into())),
        Ok(m) if size.is_some_and(|s| s != m.len()) => {
            Ok(FileState::Bad(format!("size mismatch: expected {} bytes, found {}", size.unwrap_or(0), m.len())))
        }
        Ok(_) => check_file_sha(path, sha256),
    }
}

fn check_file_sha(path: &Path, sha256: &str) -> Result<FileState> {
    if !path.exists() {
        return Ok(FileState::Missing);
    }
    let got = sha256_file(path)?;
    Ok(if got.sha256 == sha256 {
        FileState::Good
    } else {
        FileState::Bad(format!("sha256 mismatch: expected {sha256}, found {}", got.sha256))
    })
}

/// Reads an extraction record: (sha256, file name) pairs; `None` if there is none.
fn read_record(path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", path.display()))),
    };
    let mut entries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((sha, name)) = line.split_once("  ") else {
            bail!("{}: malformed line {line:?}", path.display());
        };
        manifest::check_relative_path(name).with_context(|| path.display().to_string())?;
        entries.push((sha.to_string(), name.to_string()));
    }
    Ok(Some(entries))
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Images checked (against a checksum, or counted).
    pub checked: usize,
    /// Whether images were checked against per-file checksums (from the manifest, or from the
    /// record written when the archive was extracted), not only counted.
    pub per_file_hashes: bool,
    /// One line per problem; empty when all is well.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the files of `manifest` in `dir`: every listed file against its size and SHA-256;
/// for an archive, the number of images (and their checksums, when the extraction record is
/// there).
pub fn verify(manifest: &Manifest, dir: &Path) -> Result<VerifyReport> {
    manifest.validate()?;
    ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let mut report = VerifyReport::default();
    let Some(archive) = &manifest.archive else {
        report.per_file_hashes = true;
        for f in &manifest.files {
            report.checked += 1;
            match check_file(&dir.join(&f.path), &f.sha256, Some(f.size))? {
                FileState::Good => {}
                FileState::Missing => report.problems.push(format!("{}: missing", f.path)),
                FileState::Bad(why) => report.problems.push(format!("{}: {why}", f.path)),
            }
        }
        return Ok(report);
    };

    let mut images = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_file() && archive.members.matches_extension(&name) {
            images.push(name);
        }
    }
    report.checked = images.len();
    if images.len() != manifest.image_count {
        report.problems.push(format!(
            "found {} images ({}), expected {}",
            images.len(),
            describe_filter(&MemberFilter { folder: None, ..archive.members.clone() }),
            manifest.image_count
        ));
    }
    if let Some(entries) = read_record(&dir.join(extraction_record_name(manifest)))? {
        report.per_file_hashes = true;
        for (sha, name) in entries {
            match check_file_sha(&dir.join(&name), &sha)? {
                FileState::Good => {}
                FileState::Missing => report.problems.push(format!("{name}: missing")),
                FileState::Bad(why) => report.problems.push(format!("{name}: {why}")),
            }
        }
    }
    Ok(report)
}
