//! Tests of dataset manifests and `neco_datasets::fetch`, all offline: downloads come from a
//! small HTTP server on 127.0.0.1 that serves the local Kodak copy or archives built here.

use neco_datasets::fetch::{self, FetchOptions, FetchReport, NoProgress};
use neco_datasets::manifest::{self, Archive, FileEntry, Manifest, MemberFilter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server: one request per connection, `Connection: close`.

enum Reply {
    Body(Vec<u8>),
    NotFound,
    /// Announces the whole body, sends `send` bytes of it, then closes the connection.
    CutOff(Vec<u8>, usize),
    Redirect(String),
}

struct Server {
    base: String,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (counter, log) = (requests.clone(), paths.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (handler, counter, log) = (handler.clone(), counter.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &*handler, &counter, &log);
                });
            }
        });
        Server { base, requests, paths }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(
    mut stream: TcpStream,
    handler: &dyn Fn(&str) -> Reply,
    counter: &AtomicUsize,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    counter.fetch_add(1, Ordering::SeqCst);
    log.lock().unwrap().push(path.clone());
    let head = |status: &str, len: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n")
    };
    match handler(&path) {
        Reply::Body(body) => {
            stream.write_all(head("200 OK", body.len(), "Content-Type: application/octet-stream\r\n").as_bytes())?;
            stream.write_all(&body)?;
        }
        Reply::NotFound => {
            stream.write_all(head("404 Not Found", 9, "").as_bytes())?;
            stream.write_all(b"not found")?;
        }
        Reply::CutOff(body, send) => {
            stream.write_all(head("200 OK", body.len(), "").as_bytes())?;
            stream.write_all(&body[..send])?;
        }
        Reply::Redirect(location) => {
            stream.write_all(head("302 Found", 0, &format!("Location: {location}\r\n")).as_bytes())?;
        }
    }
    stream.flush()
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn kodak_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/kodak");
    if dir.join("kodim01.png").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no local Kodak copy at {}", dir.display());
        None
    }
}

/// Serves the local Kodak files under `/mirror/kodak/`, through `tweak` (which may replace a
/// reply).
fn kodak_server(dir: PathBuf, tweak: impl Fn(&str, Vec<u8>) -> Reply + Send + Sync + 'static) -> Server {
    Server::start(move |path| {
        let Some(name) = path.strip_prefix("/mirror/kodak/") else { return Reply::NotFound };
        if name.contains('/') || name.contains("..") {
            return Reply::NotFound;
        }
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => tweak(name, bytes),
            Err(_) => Reply::NotFound,
        }
    })
}

fn quick(mirror: Option<String>) -> FetchOptions {
    FetchOptions { mirror, retry_delay: Duration::from_millis(10), ..FetchOptions::default() }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn test_manifest(files: Vec<FileEntry>, archive: Option<Archive>, image_count: usize) -> Manifest {
    Manifest {
        name: "test-set".into(),
        description: "a test".into(),
        homepage: "http://example.invalid/".into(),
        license: "test".into(),
        image_count,
        files,
        archive,
    }
}

fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8 * seed, y as u8 * 7, seed]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn archive_manifest(zip_bytes: &[u8], pinned: bool) -> Manifest {
    let archive = Archive {
        file_name: "test-set.zip".into(),
        // Never contacted: the tests use a mirror.
        urls: vec!["https://example.invalid/downloads/test-set.zip/download".into()],
        sha256: pinned.then(|| sha256(zip_bytes)),
        size: pinned.then_some(zip_bytes.len() as u64),
        members: MemberFilter { folder: Some("imgs".into()), extensions: vec!["png".into()] },
    };
    test_manifest(vec![], Some(archive), 2)
}

/// An archive with two selected images, and members that must be skipped.
fn good_zip(a: &[u8], b: &[u8]) -> Vec<u8> {
    zip_of(&[
        ("set/", b""),
        ("set/imgs/", b""),
        ("set/imgs/a.png", a),
        ("set/imgs/b.PNG", b),
        ("set/imgs/._a.png", b"apple double"),
        ("__MACOSX/set/imgs/a.png", b"resource fork"),
        ("set/imgs/notes.txt", b"not an image"),
        ("set/other/c.png", b"outside the folder"),
    ])
}

fn serve_bytes(name: &'static str, bytes: Vec<u8>) -> Server {
    Server::start(move |path| if path == format!("/m/{name}") { Reply::Body(bytes.clone()) } else { Reply::NotFound })
}

// ---------------------------------------------------------------------------------------------
// Manifests.

#[test]
fn builtin_manifests_parse_and_kodak_matches_the_local_sha256sums() {
    let all = manifest::builtin();
    let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["kodak", "clic2020-professional-valid", "tecnick"]);

    let kodak = manifest::by_name("kodak").unwrap();
    assert_eq!((kodak.image_count, kodak.files.len()), (24, 24));
    assert!(kodak.archive.is_none() && kodak.is_pinned());
    assert_eq!(kodak.download_size(), Some(15_394_305));
    for (i, f) in kodak.files.iter().enumerate() {
        let name = format!("kodim{:02}.png", i + 1);
        assert_eq!(f.path, name);
        assert_eq!(f.url, format!("http://r0k.us/graphics/kodak/kodak/{name}"));
    }

    let clic = manifest::by_name("clic2020-professional-valid").unwrap();
    let a = clic.archive.as_ref().unwrap();
    assert_eq!(clic.image_count, 41);
    assert_eq!(a.sha256.as_deref(), Some("e56568e20ead6bd215b313fed260d1c98b9ba863540039f00892ab67b1e39baf"));
    assert_eq!(a.size, Some(134_862_753));
    assert_eq!(a.urls[0], "https://storage.googleapis.com/clic_datasets/clic2020_professional_valid.zip");
    assert!(a.urls.contains(&"https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip".to_string()));
    assert!(clic.license.contains("LICENSE_professional_2020.txt"));

    let tecnick = manifest::by_name("tecnick").unwrap();
    let t = tecnick.archive.as_ref().unwrap();
    assert_eq!(tecnick.image_count, 100);
    assert!(!tecnick.is_pinned() && t.sha256.is_none() && t.size.is_none());
    assert_eq!(t.members.folder.as_deref(), Some("RGB_OR_1200x1200"));
    assert!(t.members.selects("testimages/RGB/RGB_OR_1200x1200/RGB_OR_1200x1200_001.png"));
    assert!(!t.members.selects("testimages/RGB/RGB_R02_0600x0600/RGB_R02_0600x0600_001.png"));
    assert!(!t.members.selects("__MACOSX/RGB/RGB_OR_1200x1200/._RGB_OR_1200x1200_001.png"));

    let err = manifest::by_name("imagenet").unwrap_err().to_string();
    assert!(err.contains("unknown dataset") && err.contains("kodak, clic2020-professional-valid, tecnick"), "{err}");

    let Some(dir) = kodak_dir() else { return };
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let sums: HashMap<&str, &str> = sums.lines().filter_map(|l| l.split_once("  ")).map(|(h, n)| (n, h)).collect();
    assert_eq!(sums.len(), 24);
    for f in &kodak.files {
        assert_eq!(sums[f.path.as_str()], f.sha256, "{}", f.path);
        assert_eq!(std::fs::metadata(dir.join(&f.path)).unwrap().len(), f.size, "{}", f.path);
    }
}

#[test]
fn manifests_with_unsafe_or_inconsistent_fields_are_refused() {
    let entry = |path: &str| FileEntry {
        path: path.into(),
        url: "http://example.invalid/x.png".into(),
        sha256: "0".repeat(64),
        size: 1,
    };
    for bad in ["../x.png", "/etc/x.png", "a/../../x.png", "C:x.png", ""] {
        let err = test_manifest(vec![entry(bad)], None, 1).validate().unwrap_err();
        assert!(format!("{err:#}").contains("unsafe path"), "{bad}: {err:#}");
    }
    assert!(test_manifest(vec![entry("a.png")], None, 2).validate().is_err(), "count");
    assert!(test_manifest(vec![entry("a.png"), entry("a.png")], None, 2).validate().is_err(), "duplicate");
    let mut upper = entry("a.png");
    upper.sha256 = "A".repeat(64);
    assert!(test_manifest(vec![upper], None, 1).validate().is_err(), "sha256 format");
    assert!(test_manifest(vec![], None, 0).validate().is_err(), "no source");
    let json = r#"{"name":"x","description":"","homepage":"","licence":"","image_count":1,"archive":
        {"file_name":"x.zip","urls":["https://example.invalid/x.zip"],"sha256":null,"size":null}}"#;
    let parsed = Manifest::from_json(json).unwrap();
    assert!(!parsed.is_pinned() && parsed.archive.unwrap().members == MemberFilter::default());
    assert!(Manifest::from_json(&json.replace("\"size\"", "\"sise\"")).is_err(), "unknown field");
}

#[test]
fn a_mirror_replaces_everything_up_to_the_last_slash() {
    let urls = vec!["http://r0k.us/graphics/kodak/kodak/kodim01.png".to_string()];
    let name = fetch::url_file_name(&urls[0]);
    assert_eq!(name, "kodim01.png");
    assert_eq!(fetch::source_urls(&urls, name, None), urls);
    assert_eq!(fetch::source_urls(&urls, name, Some("http://127.0.0.1:8/m/")), ["http://127.0.0.1:8/m/kodim01.png"]);
    assert_eq!(fetch::source_urls(&urls, name, Some("http://127.0.0.1:8/m")), ["http://127.0.0.1:8/m/kodim01.png"]);
}

// ---------------------------------------------------------------------------------------------
// File lists.

#[test]
fn kodak_fetches_through_a_mirror_and_a_second_run_downloads_nothing() {
    let Some(kodak) = kodak_dir() else { return };
    let server = kodak_server(kodak.clone(), |_, bytes| Reply::Body(bytes));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("kodak");
    let opts = quick(Some(format!("{}/mirror/kodak/", server.base)));

    let report = fetch::fetch_by_name("kodak", &dir, &opts, &NoProgress).unwrap();
    assert_eq!(report.downloaded, 24);
    assert_eq!(report.bytes_downloaded, 15_394_305);
    assert_eq!(server.requests(), 24);
    let expected: Vec<String> = (1..=24).map(|i| format!("kodim{i:02}.png")).collect();
    assert_eq!(listing(&dir), expected, "the 24 images and nothing else");
    for name in &expected {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), std::fs::read(kodak.join(name)).unwrap(), "{name}");
    }
    let verified = fetch::verify(&manifest::by_name("kodak").unwrap(), &dir).unwrap();
    assert!(verified.is_ok() && verified.per_file_hashes && verified.checked == 24, "{verified:?}");

    let again = fetch::fetch_by_name("kodak", &dir, &opts, &NoProgress).unwrap();
    assert_eq!(again, FetchReport { present: 24, ..FetchReport::default() });
    assert_eq!(server.requests(), 24, "the second run must not download anything");

    // A damaged and a missing file: verify names them, and a fetch replaces just those two.
    std::fs::write(dir.join("kodim03.png"), b"damaged").unwrap();
    std::fs::remove_file(dir.join("kodim17.png")).unwrap();
    let verified = fetch::verify(&manifest::by_name("kodak").unwrap(), &dir).unwrap();
    assert_eq!(verified.problems.len(), 2, "{verified:?}");
    assert!(verified.problems[0].starts_with("kodim03.png: size mismatch"), "{verified:?}");
    assert_eq!(verified.problems[1], "kodim17.png: missing");
    let repaired = fetch::fetch_by_name("kodak", &dir, &opts, &NoProgress).unwrap();
    assert_eq!((repaired.downloaded, repaired.present), (2, 22));
    assert_eq!(server.requests(), 26);
    assert!(fetch::verify(&manifest::by_name("kodak").unwrap(), &dir).unwrap().is_ok());
}

#[test]
fn a_corrupted_download_is_an_error_naming_the_file_and_hashes_and_leaves_nothing() {
    let Some(kodak) = kodak_dir() else { return };
    let server = kodak_server(kodak, |name, mut bytes| {
        if name == "kodim05.png" {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55; // same size, different content
        }
        Reply::Body(bytes)
    });
    let out = tempfile::tempdir().unwrap();
    let err =
        fetch::fetch_by_name("kodak", out.path(), &quick(Some(format!("{}/mirror/kodak", server.base))), &NoProgress)
            .unwrap_err();
    let msg = format!("{err:#}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(msg.starts_with("kodim05.png: checksum mismatch"), "{msg}");
    assert!(msg.contains("10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53"), "expected hash: {msg}");
    let mut corrupted =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/kodak/kodim05.png")).unwrap();
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0x55;
    assert!(msg.contains(&sha256(&corrupted)), "actual hash: {msg}");
    // The four files before it are there, verified; no kodim05.png and no temporary file.
    assert_eq!(listing(out.path()), ["kodim01.png", "kodim02.png", "kodim03.png", "kodim04.png"]);
    assert_eq!(server.requests(), 5, "a checksum mismatch is not retried from the same source");
}

#[test]
fn a_cut_off_download_or_a_404_is_a_clear_error_and_leaves_no_partial_file() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let entry = |name: &str| FileEntry {
        path: name.into(),
        url: format!("https://example.invalid/files/{name}"),
        sha256: sha256(&body),
        size: body.len() as u64,
    };
    let served = body.clone();
    let server = Server::start(move |path| match path {
        "/m/cut.bin" => Reply::CutOff(served.clone(), 40_000),
        "/m/moved.bin" => Reply::Redirect("/elsewhere/moved.bin".into()),
        "/elsewhere/moved.bin" => Reply::Body(served.clone()),
        _ => Reply::NotFound,
    });
    let opts = quick(Some(format!("{}/m/", server.base)));

    let out = tempfile::tempdir().unwrap();
    let err =
        fetch::fetch(&test_manifest(vec![entry("cut.bin")], None, 1), out.path(), &opts, &NoProgress).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.starts_with("cut.bin: download from http://127.0.0.1:"), "{msg}");
    assert!(msg.contains("broke off after 40000 bytes") && msg.contains("after 3 tries"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(server.requests(), 3, "retried twice");
    assert!(listing(out.path()).is_empty(), "left behind: {:?}", listing(out.path()));

    let err =
        fetch::fetch(&test_manifest(vec![entry("gone.bin")], None, 1), out.path(), &opts, &NoProgress).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.starts_with("gone.bin: HTTP 404 Not Found from http://127.0.0.1:"), "{msg}");
    assert_eq!(server.requests(), 4, "a 404 is not retried");
    assert!(listing(out.path()).is_empty(), "left behind: {:?}", listing(out.path()));

    // Redirects are followed.
    let report =
        fetch::fetch(&test_manifest(vec![entry("moved.bin")], None, 1), out.path(), &opts, &NoProgress).unwrap();
    assert_eq!(report.downloaded, 1);
    assert_eq!(std::fs::read(out.path().join("moved.bin")).unwrap(), body);
    assert_eq!(listing(out.path()), ["moved.bin"]);

    // Nothing listening: a connection error, retried, then reported.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = fetch::fetch(
        &test_manifest(vec![entry("x.bin")], None, 1),
        out.path(),
        &quick(Some(format!("http://127.0.0.1:{port}"))),
        &NoProgress,
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.starts_with("x.bin: cannot download http://127.0.0.1:") && msg.contains("after 3 tries"), "{msg}");
    assert_eq!(listing(out.path()), ["moved.bin"]);
}

// ---------------------------------------------------------------------------------------------
// Archives.

#[test]
fn an_archive_is_verified_and_its_selected_members_extracted() {
    let (a, b) = (png(3), png(5));
    let zip_bytes = good_zip(&a, &b);
    let manifest = archive_manifest(&zip_bytes, true);
    let server = serve_bytes("test-set.zip", zip_bytes.clone());
    let opts = quick(Some(format!("{}/m", server.base)));
    let out = tempfile::tempdir().unwrap();

    let report = fetch::fetch(&manifest, out.path(), &opts, &NoProgress).unwrap();
    assert_eq!((report.downloaded, report.extracted, report.unpinned), (1, 2, None));
    assert_eq!(report.bytes_downloaded, zip_bytes.len() as u64);
    assert_eq!(server.paths.lock().unwrap().as_slice(), ["/m/test-set.zip"], "the mirror gets the file_name");
    assert_eq!(listing(out.path()), [".neco-test-set.sha256", "a.png", "b.PNG"], "flat, archive removed");
    assert_eq!(std::fs::read(out.path().join("a.png")).unwrap(), a);
    assert_eq!(std::fs::read(out.path().join("b.PNG")).unwrap(), b);
    let record = std::fs::read_to_string(out.path().join(".neco-test-set.sha256")).unwrap();
    assert_eq!(record, format!("{}  a.png\n{}  b.PNG\n", sha256(&a), sha256(&b)));

    let verified = fetch::verify(&manifest, out.path()).unwrap();
    assert!(verified.is_ok() && verified.per_file_hashes && verified.checked == 2, "{verified:?}");

    // A second run downloads nothing.
    let again = fetch::fetch(&manifest, out.path(), &opts, &NoProgress).unwrap();
    assert_eq!(again, FetchReport { present: 2, ..FetchReport::default() });
    assert_eq!(server.requests(), 1);

    // A damaged image: verify says so, and a fetch downloads and extracts again.
    std::fs::write(out.path().join("b.PNG"), b"x").unwrap();
    let verified = fetch::verify(&manifest, out.path()).unwrap();
    assert_eq!(verified.problems.len(), 1, "{verified:?}");
    assert!(verified.problems[0].starts_with("b.PNG: sha256 mismatch"), "{verified:?}");
    let again =
        fetch::fetch(&manifest, out.path(), &FetchOptions { keep_archive: true, ..opts.clone() }, &NoProgress).unwrap();
    assert_eq!((again.downloaded, again.extracted), (1, 2));
    assert_eq!(std::fs::read(out.path().join("b.PNG")).unwrap(), b);
    assert!(out.path().join("test-set.zip").is_file(), "kept");
    // With the archive already there and verified, it is not downloaded again.
    std::fs::remove_file(out.path().join("a.png")).unwrap();
    let again = fetch::fetch(&manifest, out.path(), &opts, &NoProgress).unwrap();
    assert_eq!((again.downloaded, again.extracted), (0, 2));
    assert_eq!(server.requests(), 2);

    // Without the record, verify can only count the images.
    std::fs::remove_file(out.path().join(".neco-test-set.sha256")).unwrap();
    let counted = fetch::verify(&manifest, out.path()).unwrap();
    assert!(counted.is_ok() && !counted.per_file_hashes && counted.checked == 2, "{counted:?}");
    std::fs::remove_file(out.path().join("a.png")).unwrap();
    let counted = fetch::verify(&manifest, out.path()).unwrap();
    assert_eq!(counted.problems, ["found 1 images (*.png), expected 2"]);
}

#[test]
fn an_archive_with_the_wrong_hash_or_images_is_refused_and_nothing_is_extracted() {
    let zip_bytes = good_zip(&png(1), &png(2));
    let server = serve_bytes("test-set.zip", zip_bytes.clone());
    let opts = quick(Some(format!("{}/m/", server.base)));
    let out = tempfile::tempdir().unwrap();

    let mut wrong = archive_manifest(&zip_bytes, true);
    wrong.archive.as_mut().unwrap().sha256 = Some("ab".repeat(32));
    let msg = format!("{:#}", fetch::fetch(&wrong, out.path(), &opts, &NoProgress).unwrap_err());
    assert!(msg.starts_with("test-set.zip: checksum mismatch"), "{msg}");
    assert!(msg.contains(&"ab".repeat(32)) && msg.contains(&sha256(&zip_bytes)), "{msg}");
    assert!(listing(out.path()).is_empty(), "left behind: {:?}", listing(out.path()));

    let mut three = archive_manifest(&zip_bytes, true);
    three.image_count = 3;
    let msg = format!("{:#}", fetch::fetch(&three, out.path(), &opts, &NoProgress).unwrap_err());
    assert!(msg.contains("2 members match the manifest's filter (*.png in a folder imgs), expected 3"), "{msg}");
    assert_eq!(listing(out.path()), ["test-set.zip"], "the verified archive stays for the next try, nothing extracted");
}

#[test]
fn archive_members_that_escape_the_folder_are_refused() {
    for evil in ["../evil.png", "set/imgs/../../../evil.png", "/tmp/evil.png"] {
        let zip_bytes = zip_of(&[("set/imgs/a.png", &png(1)), ("set/imgs/b.png", &png(2)), (evil, &png(3))]);
        let manifest = archive_manifest(&zip_bytes, true);
        let server = serve_bytes("test-set.zip", zip_bytes);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let err = fetch::fetch(&manifest, &dir, &quick(Some(format!("{}/m", server.base))), &NoProgress).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("member {evil:?}")) && msg.contains("unsafe path"), "{evil}: {msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(listing(root.path()), ["data"], "{evil}: nothing outside the folder");
        assert_eq!(listing(&dir), ["test-set.zip"], "{evil}: nothing extracted");
    }
}

#[test]
fn an_unpinned_archive_needs_allow_unpinned_and_reports_its_checksum() {
    let zip_bytes = good_zip(&png(7), &png(8));
    let manifest = archive_manifest(&zip_bytes, false);
    let server = serve_bytes("test-set.zip", zip_bytes.clone());
    let opts = quick(Some(format!("{}/m", server.base)));
    let out = tempfile::tempdir().unwrap();

    let msg = format!("{:#}", fetch::fetch(&manifest, out.path(), &opts, &NoProgress).unwrap_err());
    assert!(msg.contains("does not pin the sha256 of test-set.zip") && msg.contains("--allow-unpinned"), "{msg}");
    assert_eq!(server.requests(), 0, "nothing downloaded");

    let report =
        fetch::fetch(&manifest, out.path(), &FetchOptions { allow_unpinned: true, ..opts }, &NoProgress).unwrap();
    let pin = report.unpinned.expect("the checksum to pin");
    assert_eq!((pin.sha256, pin.size), (sha256(&zip_bytes), zip_bytes.len() as u64));
    assert_eq!(report.extracted, 2);
    assert!(fetch::verify(&manifest, out.path()).unwrap().is_ok());
}
