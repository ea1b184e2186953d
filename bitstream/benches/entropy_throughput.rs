//! Encode/decode throughput of each model kind, in symbols per second, next
//! to constriction used directly on the same symbols (the anchor).
//!
//! Run: `cargo bench -p neco-bitstream --bench entropy_throughput`

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use neco_bitstream::entropy::{
    AdaptiveCategoricalModel, CategoricalModel, GaussianConditional, SymbolDecoder, SymbolEncoder,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const N: usize = 1_000_000;

/// Latent-like data: Gaussian symbols with log-uniform scales in [0.11, 20].
fn gaussian_data(g: &GaussianConditional) -> (Vec<i32>, Vec<u16>) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut symbols = Vec::with_capacity(N);
    let mut indexes = Vec::with_capacity(N);
    for _ in 0..N {
        let scale = (0.11f64.ln() + rng.gen::<f64>() * (20.0f64.ln() - 0.11f64.ln())).exp();
        let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-300), rng.gen());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        symbols.push((normal * scale).round() as i32);
        indexes.push(g.index_for_scale(scale as f32));
    }
    (symbols, indexes)
}

/// Skewed 256-symbol data, like VQ indices.
fn categorical_data() -> (Vec<u32>, Vec<f64>) {
    let probs: Vec<f64> = (0..256).map(|i| 1.0 / (1.0 + i as f64)).collect();
    let total: f64 = probs.iter().sum();
    let mut cdf = Vec::new();
    let mut acc = 0.0;
    for p in &probs {
        acc += p / total;
        cdf.push(acc);
    }
    let mut rng = StdRng::seed_from_u64(2);
    let symbols = (0..N).map(|_| cdf.partition_point(|&c| c < rng.gen::<f64>()).min(255) as u32).collect();
    (symbols, probs)
}

fn bench(c: &mut Criterion) {
    let g = GaussianConditional::with_default_scales();
    let (symbols, indexes) = gaussian_data(&g);
    let (cat_symbols, cat_probs) = categorical_data();
    let cat = CategoricalModel::from_probabilities(&cat_probs).unwrap();

    let mut group = c.benchmark_group("entropy");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);

    // --- Gaussian conditional (scale table) ---
    group.bench_function("gaussian/encode", |b| {
        b.iter(|| {
            let mut e = SymbolEncoder::new();
            e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
            e.finish()
        })
    });
    let mut e = SymbolEncoder::new();
    e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
    let gaussian_stream = e.finish();
    let mut out = vec![0i32; N];
    group.bench_function("gaussian/decode", |b| {
        b.iter(|| {
            let mut d = SymbolDecoder::new(&gaussian_stream).unwrap();
            d.decode_indexed(g.tables(), &indexes, &mut out).unwrap();
        })
    });

    // --- Static categorical, 256 symbols ---
    group.bench_function("categorical256/encode", |b| {
        b.iter(|| {
            let mut e = SymbolEncoder::new();
            e.encode_categorical(&cat, &cat_symbols).unwrap();
            e.finish()
        })
    });
    let mut e = SymbolEncoder::new();
    e.encode_categorical(&cat, &cat_symbols).unwrap();
    let cat_stream = e.finish();
    let mut cat_out = vec![0u32; N];
    group.bench_function("categorical256/decode", |b| {
        b.iter(|| {
            let mut d = SymbolDecoder::new(&cat_stream).unwrap();
            d.decode_categorical(&cat, &mut cat_out).unwrap();
        })
    });

    // --- Adaptive categorical, 256 symbols ---
    group.bench_function("adaptive256/encode", |b| {
        b.iter_batched(
            || AdaptiveCategoricalModel::new(256).unwrap(),
            |mut m| {
                let mut e = SymbolEncoder::new();
                e.encode_adaptive(&mut m, &cat_symbols).unwrap();
                e.finish()
            },
            BatchSize::LargeInput,
        )
    });
    let mut e = SymbolEncoder::new();
    e.encode_adaptive(&mut AdaptiveCategoricalModel::new(256).unwrap(), &cat_symbols).unwrap();
    let adaptive_stream = e.finish();
    group.bench_function("adaptive256/decode", |b| {
        b.iter_batched(
            || AdaptiveCategoricalModel::new(256).unwrap(),
            |mut m| {
                let mut d = SymbolDecoder::new(&adaptive_stream).unwrap();
                d.decode_adaptive(&mut m, &mut cat_out).unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    // --- Anchor: constriction directly, same categorical data and model ---
    let anchor =
        DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(&cat_probs, None).unwrap();
    group.bench_function("anchor_constriction_categorical256/encode", |b| {
        b.iter(|| {
            let mut e = DefaultRangeEncoder::new();
            e.encode_iid_symbols(cat_symbols.iter().map(|&s| s as usize), &anchor).unwrap();
            e.into_compressed().unwrap()
        })
    });
    let mut e = DefaultRangeEncoder::new();
    e.encode_iid_symbols(cat_symbols.iter().map(|&s| s as usize), &anchor).unwrap();
    let anchor_stream = e.into_compressed().unwrap();
    group.bench_function("anchor_constriction_categorical256/decode", |b| {
        b.iter(|| {
            let mut d = DefaultRangeDecoder::from_compressed(anchor_stream.clone()).unwrap();
            for o in cat_out.iter_mut() {
                *o = d.decode_symbol(&anchor).unwrap() as u32;
            }
        })
    });

    // --- Anchor: constriction directly with one model per scale-table entry ---
    let anchor_tables: Vec<_> = g
        .tables()
        .distributions()
        .iter()
        .map(|d| {
            let probs: Vec<f64> = d.frequencies().iter().map(|&f| f as f64).collect();
            (
                d.offset(),
                DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(&probs, None).unwrap(),
            )
        })
        .collect();
    let in_range: Vec<(usize, usize)> = symbols
        .iter()
        .zip(&indexes)
        .map(|(&s, &i)| {
            let (offset, m) = &anchor_tables[i as usize];
            (((s - offset) as usize).min(m.support_size() - 1), i as usize)
        })
        .collect();
    group.bench_function("anchor_constriction_gaussian/encode", |b| {
        b.iter(|| {
            let mut e = DefaultRangeEncoder::new();
            for &(s, i) in &in_range {
                e.encode_symbol(s, &anchor_tables[i].1).unwrap();
            }
            e.into_compressed().unwrap()
        })
    });
    let mut e = DefaultRangeEncoder::new();
    for &(s, i) in &in_range {
        e.encode_symbol(s, &anchor_tables[i].1).unwrap();
    }
    let anchor_gaussian = e.into_compressed().unwrap();
    group.bench_function("anchor_constriction_gaussian/decode", |b| {
        b.iter(|| {
            let mut d = DefaultRangeDecoder::from_compressed(anchor_gaussian.clone()).unwrap();
            for (o, &(_, i)) in out.iter_mut().zip(&in_range) {
                *o = d.decode_symbol(&anchor_tables[i].1).unwrap() as i32;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
