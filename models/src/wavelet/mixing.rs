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
#[derive(Debug, Clone, Copy)]
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
    pub fn p(&self) -> u32 {
        u32::from(self.p)
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

/// A set of counter tables, one per view of the context, and the mixer that
/// combines them, with one weight vector per mixer context.
pub struct Mixer {
    tables: Vec<Vec<Counter>>,
    limits: Vec<u8>,
    /// `inputs + 1` weights (the last for a bias) per mixer context, 16.16 fixed point.
    weights: Vec<i32>,
    learning_rate: i32,
    // The pending prediction, kept for `update`.
    picked: Vec<usize>,
    stretched: Vec<i32>,
    weight_set: usize,
    p: u32,
}

/// Stretched value of the bias input.
const BIAS: i32 = 256;
/// Initial weight of each input: a little under 1/inputs of a full vote.
const INITIAL_WEIGHT: i32 = 65536 * 3 / 10;

impl Mixer {
    /// `tables`: the size and counter rate limit of each view; `weight_sets`:
    /// the number of mixer contexts; `learning_rate`: weight step scale.
    pub fn new(tables: &[(usize, u8)], weight_sets: usize, learning_rate: i32) -> Self {
        let inputs = tables.len() + 1;
        let mut weights = vec![INITIAL_WEIGHT; inputs * weight_sets];
        for set in weights.chunks_mut(inputs) {
            set[inputs - 1] = 0;
        }
        Self {
            tables: tables.iter().map(|&(n, _)| vec![Counter::default(); n]).collect(),
            limits: tables.iter().map(|&(_, l)| l).collect(),
            weights,
            learning_rate,
            picked: vec![0; tables.len()],
            stretched: vec![0; inputs],
            weight_set: 0,
            p: 32768,
        }
    }

    /// The probability (1/65536) of a 1, given each table's context index
    /// (`contexts[k] < ` table `k`'s size) and the mixer context.
    pub fn predict(&mut self, contexts: &[usize], weight_set: usize) -> u32 {
        let inputs = self.stretched.len();
        self.weight_set = weight_set * inputs;
        let mut dot = 0i64;
        for (k, &c) in contexts.iter().enumerate() {
            self.picked[k] = c;
            let s = stretch(self.tables[k][c].p());
            self.stretched[k] = s;
            dot += i64::from(s) * i64::from(self.weights[self.weight_set + k]);
        }
        self.stretched[inputs - 1] = BIAS;
        dot += i64::from(BIAS) * i64::from(self.weights[self.weight_set + inputs - 1]);
        self.p = squash((dot >> 16).clamp(-2047, 2047) as i32);
        self.p
    }

    /// Learns from the event last predicted.
    pub fn update(&mut self, bit: bool) {
        let err = (if bit { 4096 } else { 0 }) - (self.p >> 4) as i32;
        let weights = &mut self.weights[self.weight_set..self.weight_set + self.stretched.len()];
        for (w, &s) in weights.iter_mut().zip(&self.stretched) {
            *w += (s * err * self.learning_rate) >> 14;
        }
        for ((table, &c), &limit) in self.tables.iter_mut().zip(&self.picked).zip(&self.limits) {
            table[c].update(bit, limit);
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
        let mut m = Mixer::new(&[(2, 255), (2, 255)], 1, 4);
        let mut bits = 0.0;
        let mut state = 12345u32;
        for i in 0..20_000 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let cause = (state >> 16).is_multiple_of(4);
            let noise = (state >> 20) & 1;
            let p = m.predict(&[usize::from(cause), noise as usize], 0);
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
}
