//! Fast-learning adaptive categorical models, and one coding interface for
//! both directions so that encoder and decoder run the very same code.
//!
//! [`neco_bitstream::entropy::AdaptiveCategoricalModel`] rebuilds its table
//! every 16 symbols at best, so a fresh context spends its first 16 symbols at
//! a uniform distribution; with hundreds of contexts that is costly for small
//! images. [`AdaptiveModel`] rebuilds after every symbol while it is young and
//! less often as it matures. Everything is integer arithmetic.

use anyhow::{bail, Result};
use neco_bitstream::entropy::{CategoricalModel, SymbolDecoder, SymbolEncoder, TOTAL};

/// Count added per coded symbol (counts start at 1).
const INCREMENT: u32 = 32;
/// Counts are halved when their total passes this, so models track drift.
const COUNT_LIMIT: u32 = 1 << 14;
/// Longest interval between table rebuilds.
const MAX_REBUILD_PERIOD: u32 = 8;

/// An adaptive distribution over `0..n`.
#[derive(Debug, Clone)]
pub struct AdaptiveModel {
    counts: Vec<u32>,
    total: u32,
    table: CategoricalModel,
    seen: u32,
    countdown: u32,
    freqs: Vec<u32>,
}

impl AdaptiveModel {
    /// A uniform start over `n` (2..=256) symbols.
    pub fn new(n: usize) -> Self {
        assert!((2..=256).contains(&n), "adaptive alphabet of {n}");
        let counts = vec![1u32; n];
        let mut freqs = Vec::with_capacity(n);
        let table = build_table(&counts, n as u32, &mut freqs);
        Self { counts, total: n as u32, table, seen: 0, countdown: 1, freqs }
    }

    pub fn alphabet_size(&self) -> usize {
        self.counts.len()
    }

    /// True until the model has coded a symbol.
    pub fn is_fresh(&self) -> bool {
        self.seen == 0
    }

    /// Restarts a fresh model from `donor`'s distribution, worth `mass` counts
    /// (a few symbols' worth), instead of uniform.
    pub fn inherit(&mut self, donor: &AdaptiveModel, mass: u32) {
        if donor.counts.len() != self.counts.len() || donor.is_fresh() {
            return;
        }
        self.total = 0;
        for (c, &d) in self.counts.iter_mut().zip(&donor.counts) {
            *c = 1 + ((u64::from(d) * u64::from(mass)) / u64::from(donor.total)) as u32;
            self.total += *c;
        }
        self.table = build_table(&self.counts, self.total, &mut self.freqs);
    }

    /// Approximate cost in bits of coding `symbol` now (for encoder decisions only).
    pub fn cost(&self, symbol: u32) -> f32 {
        match self.counts.get(symbol as usize) {
            Some(&c) => (self.total as f32 / c as f32).log2(),
            None => 0.0,
        }
    }

    fn update(&mut self, symbol: u32) {
        self.counts[symbol as usize] += INCREMENT;
        self.total += INCREMENT;
        if self.total > COUNT_LIMIT {
            self.total = 0;
            for c in &mut self.counts {
                *c = c.div_ceil(2);
                self.total += *c;
            }
        }
        self.seen = self.seen.saturating_add(1);
        self.countdown -= 1;
        if self.countdown == 0 {
            self.table = build_table(&self.counts, self.total, &mut self.freqs);
            self.countdown = (self.seen / 8).clamp(1, MAX_REBUILD_PERIOD);
        }
    }
}

/// Frequencies proportional to `counts` (each >= 1 since every count is >= 1
/// and `total` is far below [`TOTAL`]), the rounding deficit on the largest.
fn build_table(counts: &[u32], total: u32, freqs: &mut Vec<u32>) -> CategoricalModel {
    freqs.clear();
    let mut sum = 0u32;
    let mut largest = 0;
    for (i, &c) in counts.iter().enumerate() {
        let f = ((u64::from(c) * u64::from(TOTAL)) / u64::from(total)) as u32;
        if c > counts[largest] {
            largest = i;
        }
        sum += f;
        freqs.push(f);
    }
    freqs[largest] += TOTAL - sum;
    CategoricalModel::from_frequencies(freqs).expect("frequencies are positive and sum to TOTAL")
}

/// A direction of coding: the encoder reads the values it is given, the
/// decoder ignores them and returns what it decodes.
pub trait Coder {
    /// Codes `value` (< `model.alphabet_size()` when encoding) with `model`, then adapts it.
    fn symbol(&mut self, model: &mut AdaptiveModel, value: u32) -> Result<u32>;
    /// Codes the low `bits` (1..=16) bits of `value` at one bit each.
    fn bits(&mut self, value: u32, bits: u32) -> Result<u32>;

    fn position(&self) -> usize {
        0
    }

    /// Like [`bits`](Self::bits) for up to 32 bits.
    fn wide_bits(&mut self, value: u32, bits: u32) -> Result<u32> {
        let mut out = 0;
        let mut shift = 0;
        while shift < bits {
            let n = (bits - shift).min(16);
            let piece = (value >> shift) & ((1 << n) - 1);
            out |= self.bits(piece, n)? << shift;
            shift += n;
        }
        Ok(out)
    }
}

impl Coder for SymbolEncoder {
    fn position(&self) -> usize {
        self.num_bits()
    }

    fn symbol(&mut self, model: &mut AdaptiveModel, value: u32) -> Result<u32> {
        self.encode_categorical(&model.table, &[value])?;
        model.update(value);
        Ok(value)
    }

    fn bits(&mut self, value: u32, bits: u32) -> Result<u32> {
        self.encode_bits(value, bits)?;
        Ok(value)
    }
}

impl Coder for SymbolDecoder {
    fn symbol(&mut self, model: &mut AdaptiveModel, _value: u32) -> Result<u32> {
        let mut out = [0u32];
        self.decode_categorical(&model.table, &mut out)?;
        if out[0] as usize >= model.alphabet_size() {
            bail!("decoded symbol outside its alphabet");
        }
        model.update(out[0]);
        Ok(out[0])
    }

    fn bits(&mut self, _value: u32, bits: u32) -> Result<u32> {
        Ok(self.decode_bits(bits)?)
    }
}
