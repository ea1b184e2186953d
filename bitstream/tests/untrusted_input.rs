//! Truncated, bit-flipped and random bytes must give an error or garbage
//! symbols, never a panic, hang or unbounded allocation.

use neco_bitstream::container::Container;
use neco_bitstream::entropy::{
    AdaptiveCategoricalModel, CategoricalModel, GaussianConditional, SymbolDecoder, SymbolEncoder,
};
use proptest::prelude::*;
use std::sync::OnceLock;

fn gaussian() -> &'static GaussianConditional {
    static G: OnceLock<GaussianConditional> = OnceLock::new();
    G.get_or_init(GaussianConditional::with_default_scales)
}

/// Runs every decoder over `bytes`, asking for `n` symbols of each kind.
fn decode_everything(bytes: &[u8], n: usize) {
    let _ = Container::parse(bytes);
    let g = gaussian();
    let indexes: Vec<u16> = (0..n).map(|i| (i * 7 % 64) as u16).collect();
    if let Ok(mut d) = SymbolDecoder::new(bytes) {
        let mut out = vec![0; n];
        let _ = d.decode_indexed(g.tables(), &indexes, &mut out);
        let cat = CategoricalModel::from_counts(&[5, 1, 1, 9, 100]).unwrap();
        let mut cats = vec![0; n];
        let _ = d.decode_categorical(&cat, &mut cats);
        let _ = d.decode_adaptive(&mut AdaptiveCategoricalModel::new(300).unwrap(), &mut cats);
        let _ = d.decode_bits(16);
    }
}

fn valid_stream() -> Vec<u8> {
    let g = gaussian();
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
