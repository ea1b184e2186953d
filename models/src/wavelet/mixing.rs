//! Logistic context mixing for binary events, in integer arithmetic.
//!
//! Several adaptive counters, each keyed by a different view of the
//! context, predict the same event; a small online-trained mixer combines
//! their predictions in the logistic domain (as in PAQ and lpaq). A single
//! context table must choose between detail (many sparse contexts) and
//! speed of learning (few contexts); mixing gets both, and learns per image
//! which view to trust.
//!
//! Everything is integer and table-driven, so encoder and decoder compute
//! the very same probabilities on every machine.

use super::initial_states::MixerStart;

/// Squash's knots: 4096 / (1 + e^(-x/256)) at x = -2048, -1920, ..., 2048.
const SQUASH_KNOTS: [i32; 33] = [
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901,
    3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
];

/// Largest magnitude of a stretched probability (1/256 units).
const STRETCH_LIMIT: i32 = 2047;

/// The logistic function, from 1/256 units to a probability in 1/65536,
/// within 1..=65535, by linear interpolation between the knots.
pub fn squash(x: i32) -> u32 {
    let x = x.clamp(-STRETCH_LIMIT, STRETCH_LIMIT) + 2048;
    let (i, w) = ((x >> 7) as usize, x & 127);
    let p = (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w) >> 3;
    p.clamp(1, 65535) as u32
}

/// Inverse of [`squash`] on 12-bit probabilities.
static STRETCH: [i16; 4096] = build_stretch();

const fn build_stretch() -> [i16; 4096] {
    let mut table = [0i16; 4096];
    let mut next = 0usize;
    let mut x = -STRETCH_LIMIT;
    while x <= STRETCH_LIMIT {
        // squash(x) in 12-bit units, as in `squash` but without the clamp.
        let s = x + 2048;
        let (i, w) = ((s >> 7) as usize, s & 127);
        let v = ((SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w) >> 7) as usize;
        while next <= v && next < 4096 {
            table[next] = x as i16;
            next += 1;
        }
        x += 1;
    }
    while next < 4096 {
        table[next] = STRETCH_LIMIT as i16;
        next += 1;
    }
    table
}

/// ln(p / (1 - p)) of a 16-bit probability, in 1/256 units.
pub fn stretch(p: u32) -> i32 {
    i32::from(STRETCH[(p >> 4).min(4095) as usize])
}

/// Adaptation rate of a counter that has seen `n` events: 65536 / (n + 1.5).
static RATES: [u32; 256] = build_rates();

const fn build_rates() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        table[n] = 2 * 65536 / (2 * n as u32 + 3);
        n += 1;
    }
    table
}

/// An adaptive probability of a 1: a running average whose rate falls from
/// 1/1.5 to 1/(`limit` + 1.5) as it sees events, so a fresh context learns
/// fast and a busy one settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    p: u16,
    n: u8,
}

impl Default for Counter {
    fn default() -> Self {
        Self { p: 32768, n: 0 }
    }
}

impl Counter {
    /// A counter at probability `p` (1/65536, kept within the updates'
    /// range) that has seen `count` events.
    pub fn new(p: u16, count: u8) -> Self {
        Self { p: p.clamp(32, 65503), n: count }
    }

    pub fn p(&self) -> u32 {
        u32::from(self.p)
    }

    pub fn count(&self) -> u8 {
        self.n
    }

    pub fn update(&mut self, bit: bool, limit: u8) {
        let target = if bit { 65535 } else { 0 };
        let p = i64::from(self.p);
        let step = ((target - p) * i64::from(RATES[usize::from(self.n)])) >> 16;
        self.p = (p + step).clamp(32, 65503) as u16;
        if self.n < limit {
            self.n += 1;
        }
    }
}

/// Most views a mixer may combine.
const MAX_VIEWS: usize = 8;

/// One context index per view of a mixer, for one prediction.
#[derive(Debug, Clone, Copy)]
pub struct Contexts {
    ids: [usize; MAX_VIEWS],
    len: usize,
}

impl Contexts {
    /// `ids`: at most [`MAX_VIEWS`] (the views' and selectors' counts are
    /// constants, so more is a programming error; release builds drop them).
    pub fn new(ids: &[usize]) -> Self {
        debug_assert!(ids.len() <= MAX_VIEWS, "{} contexts, at most {MAX_VIEWS}", ids.len());
        let len = ids.len().min(MAX_VIEWS);
        let mut all = [0; MAX_VIEWS];
        all[..len].copy_from_slice(&ids[..len]);
        Self { ids: all, len }
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.ids[..self.len]
    }
}

/// A set of counter tables, one per view of the context, and the mixer that
/// combines them. Each of one or more selectors picks a weight vector (a
/// mixer context); with several, a second layer mixes their outputs.
pub struct Mixer {
    tables: Vec<Vec<Counter>>,
    limits: Vec<u8>,
    /// Per selector, `inputs + 1` weights (the last for a bias) per mixer
    /// context, 16.16 fixed point.
    weights: Vec<Vec<i32>>,
    /// The second layer's weights, one per selector (unused with one).
    final_weights: Vec<i32>,
    learning_rate: i32,
    // The pending prediction, kept for `update`.
    picked: Vec<usize>,
    stretched: Vec<i32>,
    /// Per selector: the picked weight vector's offset, its stretched output.
    chosen: Vec<(usize, i32)>,
    p: u32,
    /// Events per counter and updates per weight vector, when gathering
    /// statistics for trained starting states.
    pub stats: Option<Box<MixerStats>>,
}

/// What a mixer saw while coding one image.
#[derive(Debug, Clone)]
pub struct MixerStats {
    /// Per table, per counter: zeros and ones seen.
    pub hits: Vec<Vec<[u32; 2]>>,
    /// Per selector, per weight vector: updates.
    pub set_updates: Vec<Vec<u32>>,
}

/// Stretched value of the bias input.
const BIAS: i32 = 256;
/// Format version 3's initial weight of each input: a little under 1/inputs
/// of a full vote.
pub const VERSION_3_INITIAL_WEIGHT: i32 = 65536 * 3 / 10;
/// The second layer's learning rate.
const FINAL_RATE: i32 = 2;

impl Mixer {
    /// `tables`: the size and counter rate limit of each view; `selectors`:
    /// the number of mixer contexts of each selector; `learning_rate`: weight
    /// step scale; `initial_weight`: every input's weight at the start (16.16).
    pub fn new(tables: &[(usize, u8)], selectors: &[usize], learning_rate: i32, initial_weight: i32) -> Self {
        let inputs = tables.len() + 1;
        let weights = selectors
            .iter()
            .map(|&sets| {
                let mut w = vec![initial_weight; inputs * sets];
                for set in w.chunks_mut(inputs) {
                    set[inputs - 1] = 0;
                }
                w
            })
            .collect();
        Self {
            tables: tables.iter().map(|&(n, _)| vec![Counter::default(); n]).collect(),
            limits: tables.iter().map(|&(_, l)| l).collect(),
            weights,
            final_weights: vec![65536 / selectors.len().max(1) as i32; selectors.len()],
            learning_rate,
            picked: vec![0; tables.len()],
            stretched: vec![0; inputs],
            chosen: vec![(0, 0); selectors.len()],
            p: 32768,
            stats: None,
        }
    }

    /// Starts counting events (see [`MixerStats`]): training only.
    pub fn gather_statistics(&mut self) {
        self.stats = Some(Box::new(self.empty_statistics()));
    }

    /// Statistics of no events, shaped for this mixer.
    pub fn empty_statistics(&self) -> MixerStats {
        let inputs = self.stretched.len();
        MixerStats {
            hits: self.tables.iter().map(|t| vec![[0; 2]; t.len()]).collect(),
            set_updates: self.weights.iter().map(|w| vec![0; w.len() / inputs]).collect(),
        }
    }

    /// The counter tables, one per view.
    pub fn tables(&self) -> &[Vec<Counter>] {
        &self.tables
    }

    /// Per selector its weight vectors (`inputs` weights each, 16.16), and
    /// the second layer's weights.
    pub fn weights(&self) -> (&[Vec<i32>], &[i32]) {
        (&self.weights, &self.final_weights)
    }

    /// Starts from `start` instead of the untrained state (which it must
    /// fit, see [`MixerStart::fits`]).
    pub fn start_from(&mut self, start: &MixerStart) {
        debug_assert!(start.fits(self));
        for (table, init) in self.tables.iter_mut().zip(&start.counters) {
            table.copy_from_slice(init);
        }
        for (w, init) in self.weights.iter_mut().zip(&start.weights) {
            w.copy_from_slice(init);
        }
        self.final_weights.copy_from_slice(&start.final_weights);
    }

    /// The probability (1/65536) of a 1, given each table's context index
    /// (`contexts[k] < ` table `k`'s size) and each selector's mixer context.
    pub fn predict(&mut self, contexts: &[usize], sets: &[usize]) -> u32 {
        let inputs = self.stretched.len();
        for (k, &c) in contexts.iter().enumerate() {
            self.picked[k] = c;
            self.stretched[k] = stretch(self.tables[k][c].p());
        }
        self.stretched[inputs - 1] = BIAS;
        let mut mixed = 0i64;
        for (((chosen, weights), &set), &w2) in
            self.chosen.iter_mut().zip(&self.weights).zip(sets).zip(&self.final_weights)
        {
            let offset = set * inputs;
            let dot: i64 = weights[offset..offset + inputs]
                .iter()
                .zip(&self.stretched)
                .map(|(&w, &s)| i64::from(w) * i64::from(s))
                .sum();
            let out = (dot >> 16).clamp(-2047, 2047) as i32;
            *chosen = (offset, out);
            mixed += i64::from(out) * i64::from(w2);
        }
        let out = if self.chosen.len() == 1 { self.chosen[0].1 } else { (mixed >> 16).clamp(-2047, 2047) as i32 };
        self.p = squash(out);
        self.p
    }

    /// Learns from the event last predicted.
    pub fn update(&mut self, bit: bool) {
        let target = if bit { 4096 } else { 0 };
        let inputs = self.stretched.len();
        let layered = self.chosen.len() > 1;
        for ((weights, &(offset, out)), w2) in self.weights.iter_mut().zip(&self.chosen).zip(&mut self.final_weights) {
            // With one selector its output is the prediction; with several each
            // learns toward the bit on its own, and the second layer learns too.
            let p = if layered { squash(out) } else { self.p };
            let err = target - (p >> 4) as i32;
            for (w, &s) in weights[offset..offset + inputs].iter_mut().zip(&self.stretched) {
                *w += (s * err * self.learning_rate) >> 14;
            }
            if layered {
                let err = target - (self.p >> 4) as i32;
                *w2 += (out * err * FINAL_RATE) >> 14;
            }
        }
        for ((table, &c), &limit) in self.tables.iter_mut().zip(&self.picked).zip(&self.limits) {
            table[c].update(bit, limit);
        }
        if let Some(stats) = &mut self.stats {
            for (hits, &c) in stats.hits.iter_mut().zip(&self.picked) {
                hits[c][usize::from(bit)] += 1;
            }
            for (updates, &(offset, _)) in stats.set_updates.iter_mut().zip(&self.chosen) {
                updates[offset / inputs] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_and_stretch_are_inverse_and_monotonic() {
        assert!(squash(0).abs_diff(32768) <= 32);
        assert!(squash(-2047) < 40 && squash(2047) > 65500);
        let mut last = 0;
        for x in -2047..=2047 {
            let p = squash(x);
            assert!(p >= last);
            last = p;
            // Stretch reads 12-bit probabilities: exact enough where the
            // logistic is not flat.
            if x.abs() <= 1500 {
                assert!((stretch(p) - x).abs() <= 40, "{x} -> {p} -> {}", stretch(p));
            }
        }
    }

    #[test]
    fn counter_learns_a_skewed_source() {
        let mut c = Counter::default();
        for i in 0..1000 {
            c.update(i % 10 == 0, 255);
        }
        assert!((5000..8500).contains(&c.p()), "{}", c.p());
    }

    #[test]
    fn mixer_trusts_the_informative_view() {
        // View 0 sees the bit's cause; view 1 sees noise. The mixed cost must
        // approach view 0's.
        let mut m = Mixer::new(&[(2, 255), (2, 255)], &[1], 4, VERSION_3_INITIAL_WEIGHT);
        let mut bits = 0.0;
        let mut state = 12345u32;
        for i in 0..20_000 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let cause = (state >> 16).is_multiple_of(4);
            let noise = (state >> 20) & 1;
            let p = m.predict(&[usize::from(cause), noise as usize], &[0]);
            let bit = cause ^ (i % 50 == 0);
            let q = if bit { p } else { 65536 - p };
            if i >= 10_000 {
                bits += -(f64::from(q) / 65536.0).log2();
            }
            m.update(bit);
        }
        // Entropy of a 2 % flip is 0.14 bits.
        assert!(bits / 10_000.0 < 0.2, "{} bits per event", bits / 10_000.0);
    }

    #[test]
    fn a_second_selector_adds_what_the_first_cannot_see() {
        // The bit is the cause, flipped where a second context says so. The
        // views see only the cause; the first selector sees nothing, the
        // second the flip context: with both, the second layer must learn to
        // trust the second, and beat a mixer with the first alone.
        let cost = |selectors: &[usize]| {
            let mut m = Mixer::new(&[(2, 255)], selectors, 8, 65536 / 2);
            let mut bits = 0.0;
            let mut state = 777u32;
            for i in 0..40_000 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let cause = (state >> 16) & 1 == 1;
                let flip = (state >> 20).is_multiple_of(4);
                let sets = [0, usize::from(flip)];
                let p = m.predict(&[usize::from(cause)], &sets[..selectors.len()]);
                let bit = cause ^ flip;
                let q = if bit { p } else { 65536 - p };
                if i >= 20_000 {
                    bits += -(f64::from(q) / 65536.0).log2();
                }
                m.update(bit);
            }
            bits / 20_000.0
        };
        let (one, two) = (cost(&[1]), cost(&[1, 2]));
        // Alone, the first can do no better than the flip's entropy (0.81 bits).
        assert!(one > 0.75, "one selector: {one} bits per event");
        assert!(two < 0.1, "two selectors: {two} bits per event");
    }
}
