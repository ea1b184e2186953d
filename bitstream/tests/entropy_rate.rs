//! The coder must spend what the model says: within 0.1 % of the ideal
//! -log2 p sum (under the quantized tables) on a million symbols.

use neco_bitstream::entropy::{AdaptiveCategoricalModel, CategoricalModel, GaussianConditional, SymbolEncoder, TOTAL};
use rand::{rngs::StdRng, Rng, SeedableRng};

const N: usize = 1_000_000;

fn normal(rng: &mut StdRng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-300), rng.gen());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[test]
fn gaussian_rate_is_within_a_thousandth_of_ideal() {
    let g = GaussianConditional::with_default_scales();
    let mut rng = StdRng::seed_from_u64(7);
    let mut symbols = Vec::with_capacity(N);
    let mut indexes = Vec::with_capacity(N);
    for _ in 0..N {
        let scale = (rng.gen::<f64>() * 4.0).exp() * 0.2;
        let i = g.index_for_scale(scale as f32);
        indexes.push(i);
        // Occasional outliers exercise the escape path too.
        let v = if rng.gen::<f64>() < 1e-3 { normal(&mut rng) * 1e5 } else { normal(&mut rng) * scale };
        symbols.push(v.round() as i32);
    }
    let ideal = g.tables().ideal_bits(&symbols, &indexes).unwrap();
    let mut e = SymbolEncoder::new();
    e.encode_indexed(g.tables(), &symbols, &indexes).unwrap();
    let actual = (e.finish().len() * 8) as f64;
    let overhead = actual / ideal - 1.0;
    println!("gaussian: ideal {ideal:.0} bits, actual {actual:.0} bits, overhead {:.4} %", overhead * 100.0);
    assert!(overhead.abs() < 1e-3, "overhead {overhead}");
}

#[test]
fn categorical_rate_is_within_a_thousandth_of_ideal() {
    let probs: Vec<f64> = (0..256).map(|i| 1.0 / (1.0 + i as f64)).collect();
    let model = CategoricalModel::from_probabilities(&probs).unwrap();
    let freqs = model.frequencies();
    let mut rng = StdRng::seed_from_u64(8);
    let symbols: Vec<u32> = (0..N).map(|_| (rng.gen::<f64>().powi(3) * 256.0) as u32).collect();
    let ideal: f64 = symbols.iter().map(|&s| (TOTAL as f64 / freqs[s as usize] as f64).log2()).sum();
    let mut e = SymbolEncoder::new();
    e.encode_categorical(&model, &symbols).unwrap();
    let actual = (e.finish().len() * 8) as f64;
    let overhead = actual / ideal - 1.0;
    println!("categorical: ideal {ideal:.0} bits, actual {actual:.0} bits, overhead {:.4} %", overhead * 100.0);
    assert!(overhead.abs() < 1e-3, "overhead {overhead}");

    // The adaptive model learns the skew: it must beat a uniform code clearly.
    let mut e = SymbolEncoder::new();
    e.encode_adaptive(&mut AdaptiveCategoricalModel::new(256).unwrap(), &symbols).unwrap();
    let adaptive = (e.finish().len() * 8) as f64;
    println!("adaptive: {adaptive:.0} bits ({:.3} bits/symbol)", adaptive / N as f64);
    assert!(adaptive < 0.9 * 8.0 * N as f64);
}
