//! Pins table construction and stream bytes: if these change, streams made
//! by other builds or machines no longer decode. A failure here on a new
//! platform means the deterministic arithmetic is not deterministic there.

use neco_bitstream::entropy::{CategoricalModel, GaussianConditional, SymbolEncoder};

#[test]
fn default_gaussian_tables_are_bit_identical() {
    let g = GaussianConditional::with_default_scales();
    assert_eq!(g.tables().fingerprint(), GAUSSIAN_TABLES_CRC, "got {:#010x}", g.tables().fingerprint());
}

#[test]
fn a_fixed_message_codes_to_fixed_bytes() {
    let g = GaussianConditional::with_default_scales();
    let symbols: Vec<i32> = (0..1000).map(|i| ((i * 37) % 23) - 11 + if i % 97 == 0 { 100_000 } else { 0 }).collect();
    let indexes: Vec<u16> = (0..1000).map(|i| (i % 64) as u16).collect();
    let mut e = SymbolEncoder::new();
    e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
    let cat = CategoricalModel::from_counts(&[3, 1, 4, 1, 5, 9, 2, 6]).unwrap();
    e.encode_categorical(&cat, &[0, 1, 2, 3, 4, 5, 6, 7, 5, 5]).unwrap();
    let bytes = e.finish();
    assert_eq!(crc32fast::hash(&bytes), STREAM_CRC, "got {:#010x} ({} bytes)", crc32fast::hash(&bytes), bytes.len());
}

const GAUSSIAN_TABLES_CRC: u32 = 0x7f4d_fe3f;
const STREAM_CRC: u32 = 0x118c_3c5f;
