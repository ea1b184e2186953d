//! Truncated, bit-flipped and random bytes must give an error or garbage
//! symbols, never a panic, hang or unbounded allocation.

use neco_bitstream::entropy::{GaussianConditional, SymbolEncoder};
use neco_bitstream::fuzz_harness::{exercise_all_readers, exercise_stream};
use proptest::prelude::*;

fn decode_everything(bytes: &[u8], n: usize) {
    exercise_all_readers(bytes);
    exercise_stream(bytes, n);
}

fn valid_stream() -> Vec<u8> {
    let g = GaussianConditional::with_default_scales();
    let symbols: Vec<i32> = (0..500).map(|i| if i % 50 == 0 { 1 << 20 } else { (i % 9) - 4 }).collect();
    let indexes: Vec<u16> = (0..500).map(|i| (i * 7 % 64) as u16).collect();
    let mut e = SymbolEncoder::new();
    e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
    e.finish()
}

#[test]
fn truncated_and_flipped_streams_do_not_panic() {
    let stream = valid_stream();
    for len in 0..stream.len() {
        decode_everything(&stream[..len], 500);
    }
    for i in 0..stream.len() {
        let mut b = stream.clone();
        b[i] ^= 0x10;
        decode_everything(&b, 500);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes, 300);
    }
}

/// Inputs the fuzzer found interesting (crashes it found, once fixed, and
/// seeds for each reader) stay here as regression tests.
#[test]
fn committed_fuzz_seeds_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_seeds");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz_seeds exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        decode_everything(&bytes, 1000);
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

/// Regenerates the valid seed files: `cargo test -p neco-bitstream --test untrusted_input -- --ignored`.
#[test]
#[ignore]
fn write_valid_fuzz_seeds() {
    use neco_bitstream::container::*;
    use neco_bitstream::entropy::{CategoricalModel, IndexedTables};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_seeds");
    let stream = valid_stream();
    let header = Header {
        kind: StreamKind::Image,
        colour: ColourFormat::Rgb,
        bit_depth: 8,
        model_id: 1,
        weights_fingerprint: [1, 2, 3, 4],
        params: CodingParams { quality: 50, rate_param: 0 },
        width: 64,
        height: 48,
    };
    let mut w = ContainerWriter::new(header);
    w.push(ChunkKind::HyperLatent, stream[..stream.len() / 2].to_vec()).push(ChunkKind::Latent, stream.clone());
    w.push(ChunkKind::Metadata, write_metadata(&[("k", "v")]));
    w.push(
        ChunkKind::Tile,
        write_tile(TileRect { x: 0, y: 0, width: 8, height: 8 }, [(ChunkKind::Latent, &stream[..8])].into_iter()),
    );
    w.push(ChunkKind::Frame, write_frame(3, [(ChunkKind::Latent, &stream[..12])].into_iter()));
    std::fs::write(dir.join("valid_container.neco"), w.finish().unwrap()).unwrap();
    std::fs::write(dir.join("valid_stream.bin"), &stream).unwrap();
    let g = GaussianConditional::with_default_scales();
    let small = IndexedTables::new(g.tables().distributions()[..3].to_vec()).unwrap();
    std::fs::write(dir.join("valid_tables.bin"), small.to_bytes()).unwrap();
    let mut e = SymbolEncoder::new();
    e.encode_categorical(&CategoricalModel::from_counts(&[5, 1, 1, 9, 100]).unwrap(), &[4, 4, 3, 0, 4, 2, 1]).unwrap();
    std::fs::write(dir.join("valid_categorical.bin"), e.finish()).unwrap();
}
