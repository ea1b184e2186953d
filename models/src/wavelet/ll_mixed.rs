//! Format version 6's coding of the LL band's residuals (of the median edge
//! detector's prediction) by context mixing, instead of one adaptive
//! categorical model per activity class.
//!
//! Why: the LL band holds only a few hundred values per plane (a Kodak
//! image's is 24 × 16 at five levels), too few for a categorical model of
//! ~20 symbols per class to learn, yet at the lowest rates it is 5–18 % of
//! the stream. Binary decisions whose counters several contexts share learn
//! from the first values on. A residual is coded as "magnitude above j" for
//! j < [`FLAGS`], then, for larger ones, the length of `magnitude − FLAGS + 1`
//! in unary (each step a mixed decision) and its low bits raw, then a raw sign
//! (mixing the sign, by the neighbours' residual signs, measured no better).
//! The views: activity (|a − c| + |b − c| of the predictor's neighbours) by
//! step; the left and upper residual magnitudes by step; activity and the
//! larger neighbouring residual by step; the step alone. Measured on Kodak
//! q15–60 with the "above three" flag of the details: −0.26 % BD-rate
//! against version 5 (+0.017 dB at 0.14 bpp), of which the "above three" flag
//! alone gives −0.10 %.

use super::adaptive::Coder;
use super::mixing::Mixer;
use anyhow::Result;

/// Unary "magnitude above j" decisions before the length code (1 and 2
/// measured alike, 4 a little worse, 8 worse).
const FLAGS: u32 = 2;
/// Most length steps: lengths up to `BUCKETS − 1` bits (the LL values stay
/// within ±2^22).
const BUCKETS: u32 = 24;
/// Decision steps: the flags, then the length steps.
const STEPS: usize = (FLAGS + BUCKETS) as usize;
/// Logarithmic classes of the activity and of a neighbouring residual.
const ACTIVITY_LEVELS: usize = 12;
const RESIDUAL_LEVELS: usize = 8;
/// Component classes (luma, chroma).
const COMPONENTS: usize = 2;
/// Counter rate limit and mixer learning rate (6, 12 and 20 measured alike).
const COUNTER_LIMIT: u8 = 255;
const LEARNING_RATE: i32 = 12;
/// Initial weights sum to this (16.16) over the views, as the details' do.
const INITIAL_VOTE: i32 = 65536 * 21 / 20;

/// The LL models of one stream.
pub struct LlModels {
    mixer: Mixer,
}

/// What is known about an LL value before it is coded.
pub struct LlContext {
    component: usize,
    activity: usize,
    left: usize,
    up: usize,
}

/// `⌊log2 v⌋ + 1` (0 for 0), capped at `levels − 1`.
fn level(v: u32, levels: usize) -> usize {
    ((32 - v.leading_zeros()) as usize).min(levels - 1)
}

impl LlContext {
    /// Component class `component` (0 luma, 1 chroma), the predictor's
    /// `activity` and the magnitudes of the residuals coded left and above.
    pub fn new(component: usize, activity: u32, left: u32, up: u32) -> Self {
        Self {
            component: component.min(COMPONENTS - 1),
            activity: level(activity, ACTIVITY_LEVELS),
            left: level(left, RESIDUAL_LEVELS),
            up: level(up, RESIDUAL_LEVELS),
        }
    }
}

impl LlModels {
    pub fn new() -> Self {
        let tables = [
            (COMPONENTS * ACTIVITY_LEVELS * STEPS, COUNTER_LIMIT),
            (COMPONENTS * RESIDUAL_LEVELS * RESIDUAL_LEVELS * STEPS, COUNTER_LIMIT),
            (COMPONENTS * ACTIVITY_LEVELS * RESIDUAL_LEVELS * STEPS, COUNTER_LIMIT),
            (STEPS, COUNTER_LIMIT),
        ];
        let initial = INITIAL_VOTE / tables.len() as i32;
        Self { mixer: Mixer::new(&tables, &[COMPONENTS * STEPS], LEARNING_RATE, initial) }
    }

    pub fn mixer_mut(&mut self) -> &mut Mixer {
        &mut self.mixer
    }

    /// Codes decision `step` (the encoder's `bit`) and returns the coded one.
    fn decision<C: Coder>(&mut self, io: &mut C, step: u32, c: &LlContext, bit: bool) -> Result<bool> {
        let s = step as usize;
        let views = [
            (c.component * ACTIVITY_LEVELS + c.activity) * STEPS + s,
            ((c.component * RESIDUAL_LEVELS + c.left) * RESIDUAL_LEVELS + c.up) * STEPS + s,
            ((c.component * ACTIVITY_LEVELS + c.activity) * RESIDUAL_LEVELS + c.left.max(c.up)) * STEPS + s,
            s,
        ];
        let p = self.mixer.predict(&views, &[c.component * STEPS + s]).clamp(1, 65535);
        let bit = io.binary(p, bit)?;
        self.mixer.update(bit);
        Ok(bit)
    }

    /// Codes residual `r` (the encoder's; ignored when decoding) and returns
    /// the coded one, whose magnitude is below 2^25.
    pub fn code<C: Coder>(&mut self, io: &mut C, c: &LlContext, r: i32) -> Result<i32> {
        let m = r.unsigned_abs();
        let mut magnitude = FLAGS;
        for j in 0..FLAGS {
            if !self.decision(io, j, c, m > j)? {
                magnitude = j;
                break;
            }
        }
        if magnitude == FLAGS {
            // n ≥ 1 has bit length `bits` + 1; its `bits` low bits follow raw.
            let n = m.saturating_sub(FLAGS).saturating_add(1);
            let mut bits = 0;
            while bits < BUCKETS - 1 && self.decision(io, FLAGS + bits, c, n.ilog2() > bits)? {
                bits += 1;
            }
            let low = if bits > 0 { io.wide_bits(n & ((1 << bits) - 1), bits)? } else { 0 };
            magnitude = FLAGS + ((1u32 << bits) | low) - 1;
        }
        if magnitude == 0 {
            return Ok(0);
        }
        let magnitude = magnitude as i32;
        Ok(if io.bits(u32::from(r < 0), 1)? == 1 { -magnitude } else { magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};

    /// Residuals with their contexts: small ones often, the extremes (the LL
    /// values stay within ±2^22, so residuals within ±2^23) now and then.
    fn residuals() -> Vec<(i32, LlContext)> {
        let extremes = [0, 1, -1, 2, -2, 3, -3, 1000, -1000, 1 << 23, -(1 << 23)];
        (0..600)
            .map(|i: i32| {
                let r = if i % 50 == 0 { extremes[(i / 50) as usize % extremes.len()] } else { (i * 7919 % 13) - 6 };
                let context = LlContext::new((i % 3) as usize, (i * 31 % 400) as u32, (i % 9) as u32, (i % 5) as u32);
                (r, context)
            })
            .collect()
    }

    #[test]
    fn residuals_round_trip_and_small_ones_are_cheap() {
        let mut encoder = SymbolEncoder::new();
        let mut models = LlModels::new();
        let list = residuals();
        for (r, c) in &list {
            assert_eq!(models.code(&mut encoder, c, *r).unwrap(), *r);
        }
        let bytes = encoder.finish();
        let mut decoder = SymbolDecoder::new(&bytes).unwrap();
        let mut models = LlModels::new();
        for (r, c) in &list {
            assert_eq!(models.code(&mut decoder, c, 0).unwrap(), *r);
        }
        // Mostly values in −6..=6 (13 equally likely: 3.7 bits), a few huge:
        // well under 5 bits a value on average.
        assert!(bytes.len() * 8 < list.len() * 5, "{} bytes", bytes.len());
    }

    #[test]
    fn garbage_decodes_to_bounded_values_without_panicking() {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let mut decoder = SymbolDecoder::new(&garbage).unwrap();
        let mut models = LlModels::new();
        for (_, c) in residuals() {
            match models.code(&mut decoder, &c, 0) {
                Ok(r) => assert!(r.unsigned_abs() < 1 << 25),
                Err(_) => break,
            }
        }
    }
}
