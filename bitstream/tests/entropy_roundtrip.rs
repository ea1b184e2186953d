//! Property tests: whatever goes in comes back out, for every model kind.

use neco_bitstream::entropy::{
    AdaptationSchedule, AdaptiveCategoricalModel, CategoricalModel, ChannelPmf, FactorizedPrior, GaussianConditional,
    IndexedTables, QuantizedDistribution, SymbolDecoder, SymbolEncoder,
};
use proptest::prelude::*;
use std::sync::OnceLock;

fn gaussian() -> &'static GaussianConditional {
    static G: OnceLock<GaussianConditional> = OnceLock::new();
    G.get_or_init(GaussianConditional::with_default_scales)
}

/// Mostly small symbols, with a fair share of huge outliers and the i32 extremes.
fn symbol() -> impl Strategy<Value = i32> {
    prop_oneof![
        6 => -20i32..20,
        2 => -5000i32..5000,
        1 => any::<i32>(),
        1 => prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(i32::MIN + 1), Just(i32::MAX - 1)],
    ]
}

fn random_tables() -> impl Strategy<Value = IndexedTables> {
    prop::collection::vec((-1000i32..1000, prop::collection::vec(0.0f64..1.0, 1..40), 0.0f64..0.1), 1..6).prop_map(
        |dists| {
            let dists = dists
                .into_iter()
                .map(|(offset, mut pmf, tail)| {
                    pmf[0] += 1e-3; // keep the total positive
                    QuantizedDistribution::from_pmf(offset, &pmf, tail).unwrap()
                })
                .collect();
            IndexedTables::new(dists).unwrap()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gaussian_round_trips(pairs in prop::collection::vec((symbol(), 0u16..64), 0..400)) {
        let (symbols, indexes): (Vec<i32>, Vec<u16>) = pairs.into_iter().unzip();
        let g = gaussian();
        let mut e = SymbolEncoder::new();
        e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
        let bytes = e.finish();
        let mut out = vec![0; symbols.len()];
        SymbolDecoder::new(&bytes).unwrap().decode_indexed(g.tables(), &indexes, &mut out).unwrap();
        prop_assert_eq!(out, symbols);
    }

    #[test]
    fn random_tables_round_trip(tables in random_tables(), raw in prop::collection::vec((symbol(), any::<u16>()), 0..300)) {
        let symbols: Vec<i32> = raw.iter().map(|p| p.0).collect();
        let indexes: Vec<u16> = raw.iter().map(|p| p.1 % tables.len() as u16).collect();
        let mut e = SymbolEncoder::new();
        e.encode_indexed(&tables, &symbols, &indexes).unwrap();
        let bytes = e.finish();
        let mut out = vec![0; symbols.len()];
        SymbolDecoder::new(&bytes).unwrap().decode_indexed(&tables, &indexes, &mut out).unwrap();
        prop_assert_eq!(out, symbols);
        // Tables survive their own serialisation.
        prop_assert_eq!(IndexedTables::from_bytes(&tables.to_bytes()).unwrap(), tables);
    }

    #[test]
    fn factorized_planes_round_trip(symbols in prop::collection::vec(symbol(), 3 * 17)) {
        let channels: Vec<ChannelPmf> = (0..3)
            .map(|c| ChannelPmf { offset: -5 - c, pmf: (0..11).map(|i| 1.0 / (1.0 + (i as f64 - 5.0).abs())).collect(), tail_mass: 1e-6 })
            .collect();
        let prior = FactorizedPrior::from_channel_pmfs(&channels).unwrap();
        let mut e = SymbolEncoder::new();
        e.encode_planes(prior.tables(), &symbols, prior.plane_indexes(), 17).unwrap();
        let bytes = e.finish();
        let mut out = vec![0; symbols.len()];
        SymbolDecoder::new(&bytes).unwrap().decode_planes(prior.tables(), prior.plane_indexes(), 17, &mut out).unwrap();
        prop_assert_eq!(out, symbols);
    }

    #[test]
    fn categorical_and_adaptive_round_trip(
        alphabet in 2usize..3000,
        raw in prop::collection::vec(any::<u32>(), 0..500),
        counts_seed in any::<u64>(),
    ) {
        let symbols: Vec<u32> = raw.iter().map(|s| s % alphabet as u32).collect();
        let counts: Vec<u64> = (0..alphabet as u64).map(|i| (i.wrapping_mul(counts_seed) >> 40) % 1000).collect();
        let counts = if counts.iter().all(|&c| c == 0) { vec![1; alphabet] } else { counts };
        let stat = CategoricalModel::from_counts(&counts).unwrap();
        let mut e = SymbolEncoder::new();
        e.encode_categorical(&stat, &symbols).unwrap();
        // A small count limit exercises the halving; a second model inherits from the first.
        let schedule = AdaptationSchedule { increment: 32, count_limit: (2 * alphabet as u32).max(2048), max_rebuild_period: 7 };
        let adaptive = |donor: Option<&AdaptiveCategoricalModel>| {
            let mut m = AdaptiveCategoricalModel::with_schedule(alphabet, schedule).unwrap();
            if let Some(d) = donor {
                m.inherit(d, 300);
            }
            m
        };
        let mut first = adaptive(None);
        e.encode_adaptive(&mut first, &symbols).unwrap();
        e.encode_adaptive(&mut adaptive(Some(&first)), &symbols).unwrap();
        e.encode_bits(0xabc, 12).unwrap();
        let bytes = e.finish();
        let mut d = SymbolDecoder::new(&bytes).unwrap();
        let mut out = vec![0; symbols.len()];
        d.decode_categorical(&stat, &mut out).unwrap();
        prop_assert_eq!(&out, &symbols);
        let mut first = adaptive(None);
        d.decode_adaptive(&mut first, &mut out).unwrap();
        prop_assert_eq!(&out, &symbols);
        d.decode_adaptive(&mut adaptive(Some(&first)), &mut out).unwrap();
        prop_assert_eq!(&out, &symbols);
        prop_assert_eq!(d.decode_bits(12).unwrap(), 0xabc);
    }
}

proptest! {
    #[test]
    fn binary_events_round_trip(events in prop::collection::vec((any::<bool>(), 1u32..=65535), 0..2000)) {
        let mut e = SymbolEncoder::new();
        for &(bit, p) in &events {
            e.encode_binary(bit, p).unwrap();
        }
        let bytes = e.finish();
        let mut d = SymbolDecoder::new(&bytes).unwrap();
        for &(bit, p) in &events {
            prop_assert_eq!(d.decode_binary(p).unwrap(), bit);
        }
    }
}

#[test]
fn confident_binary_events_cost_what_their_probability_says() {
    // 100 000 zeros at p(1) = 16/65536 cost about 100 000 * 0.00035 = 35 bits.
    let mut e = SymbolEncoder::new();
    for _ in 0..100_000 {
        e.encode_binary(false, 16).unwrap();
    }
    let bits = e.finish().len() * 8;
    assert!((32..=96).contains(&bits), "{bits} bits");
}

#[test]
fn ndarray_views_round_trip() {
    use ndarray::Array3;
    let g = gaussian();
    let symbols = Array3::from_shape_fn((4, 5, 6), |(c, y, x)| (c as i32 - 2) * (y as i32 - x as i32));
    let indexes = Array3::from_shape_fn((4, 5, 6), |(c, y, _)| (c * 10 + y) as u16);
    let mut e = SymbolEncoder::new();
    e.encode_indexed_array(g.tables(), symbols.view(), indexes.view()).unwrap();
    let bytes = e.finish();
    let out = SymbolDecoder::new(&bytes).unwrap().decode_indexed_array(g.tables(), indexes.view()).unwrap();
    assert_eq!(out, symbols);
}

#[test]
fn caller_mistakes_are_errors_not_panics() {
    let g = gaussian();
    let mut e = SymbolEncoder::new();
    assert!(e.encode_indexed(g.tables(), &[1, 2], &[0]).is_err());
    assert!(e.encode_indexed(g.tables(), &[1], &[64]).is_err());
    assert!(e.encode_bits(4, 2).is_err());
    assert!(e.encode_binary(true, 0).is_err());
    assert!(e.encode_binary(false, 65536).is_err());
    let cat = CategoricalModel::from_counts(&[1, 2, 3]).unwrap();
    assert!(e.encode_categorical(&cat, &[3]).is_err());
    assert!(SymbolDecoder::new(&[1, 2, 3]).is_err());
}
