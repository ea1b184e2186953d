//! weights/MANIFEST.json describes what ships: every built-in model has an entry, the default is
//! the one the library uses, and every weights file's (and trained states file's) recorded sha256
//! and size are its real ones.

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn manifest_matches_the_shipped_models_and_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("weights/MANIFEST.json")).expect("weights/MANIFEST.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("MANIFEST.json parses");
    assert_eq!(manifest["default"], neco::DEFAULT_MODEL, "the manifest's default is not the library's");
    let entries = manifest["models"].as_array().expect("a models list");
    for model in neco::available_models() {
        let entry = entries.iter().find(|e| e["name"] == model.name);
        let entry = entry.unwrap_or_else(|| panic!("built-in model {} has no MANIFEST entry", model.name));
        assert!(entry["kodak"]["bpp"].as_array().is_some_and(|b| !b.is_empty()), "{}: no Kodak results", model.name);
        if let Some(file) = entry["file"].as_str() {
            let bytes = std::fs::read(root.join("weights").join(file)).unwrap();
            let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(entry["sha256"].as_str(), Some(digest.as_str()), "{file}: sha256 in MANIFEST is stale");
            assert_eq!(entry["bytes"].as_u64(), Some(bytes.len() as u64), "{file}: size in MANIFEST is stale");
        }
        // A trained part that is not a weights file (the wavelet codec's
        // mixer states, compiled in) names its file from the root.
        if let Some(file) = entry["training"]["file"].as_str() {
            let bytes = std::fs::read(root.join(file)).unwrap();
            let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                entry["training"]["sha256"].as_str(),
                Some(digest.as_str()),
                "{file}: sha256 in MANIFEST is stale"
            );
            assert_eq!(
                entry["training"]["bytes"].as_u64(),
                Some(bytes.len() as u64),
                "{file}: size in MANIFEST is stale"
            );
        }
    }
}
