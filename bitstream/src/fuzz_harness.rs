//! One entry point that feeds bytes to every reader and decoder in the crate.
//!
//! Shared by the cargo-fuzz targets (fuzz/), the regression seeds
//! (bitstream/tests/fuzz_seeds/) and the property tests, so all three
//! exercise exactly the same paths. Results are ignored: the only failure is
//! a panic, a hang or an unbounded allocation.

use crate::container::{read_frame, read_metadata, read_tile, read_tile_grid, Container};
use crate::entropy::{AdaptiveCategoricalModel, CategoricalModel, GaussianConditional, IndexedTables, SymbolDecoder};
use std::sync::OnceLock;

fn gaussian() -> &'static GaussianConditional {
    static G: OnceLock<GaussianConditional> = OnceLock::new();
    G.get_or_init(GaussianConditional::with_default_scales)
}

/// Parses `bytes` as a container (and each chunk payload as every nested
/// layout), as serialised tables, and as an entropy-coded stream decoded with
/// each model kind.
pub fn exercise_all_readers(bytes: &[u8]) {
    if let Ok(c) = Container::parse(bytes) {
        for chunk in &c.chunks {
            exercise_payload(chunk.payload);
        }
    }
    exercise_payload(bytes);
}

fn exercise_payload(bytes: &[u8]) {
    let _ = read_frame(bytes);
    let _ = read_tile(bytes);
    if let Ok(grid) = read_tile_grid(bytes) {
        let (w, h) = (grid.tile_width.saturating_mul(grid.columns), grid.tile_height.saturating_mul(grid.rows));
        let _ = grid.check(w, h);
        // Up to 2^48 tiles: walk only the first few.
        for _ in grid.rects(w, h).take(4) {}
    }
    let _ = read_metadata(bytes);
    let _ = IndexedTables::from_bytes(bytes);
    exercise_stream(bytes, 256);
}

/// Decodes `n` symbols of each model kind from `bytes`.
pub fn exercise_stream(bytes: &[u8], n: usize) {
    let Ok(mut d) = SymbolDecoder::new(bytes) else { return };
    let g = gaussian();
    let indexes: Vec<u16> = (0..n).map(|i| (i * 7 % g.tables().len()) as u16).collect();
    let mut out = vec![0; n];
    let _ = d.decode_indexed(g.tables(), &indexes, &mut out);
    let _ = d.decode_planes(g.tables(), &[0, 63], n / 2, &mut out[..n / 2 * 2]);
    let cat = CategoricalModel::from_counts(&[5, 1, 1, 9, 100]).expect("valid counts");
    let mut cats = vec![0; n];
    let _ = d.decode_categorical(&cat, &mut cats);
    if let Ok(mut adaptive) = AdaptiveCategoricalModel::new(300) {
        let _ = d.decode_adaptive(&mut adaptive, &mut cats);
    }
    for p in [1, 300, 32768, 65535] {
        let _ = d.decode_binary(p);
    }
    let _ = d.decode_bits(16);
}
