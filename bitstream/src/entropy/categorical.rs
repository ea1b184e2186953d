//! Categorical models for vector-quantised indices: static frequency tables,
//! and adaptive counts that encoder and decoder update in lockstep.

use super::quantize::{counts_to_frequencies_fast, cumulative, quantize_counts, quantize_masses, validate_frequencies};
use crate::error::{Error, Result};

/// Largest categorical alphabet (a VQ codebook of 2^16 entries).
pub const MAX_CATEGORIES: usize = 1 << 16;

/// A static categorical distribution over `0..alphabet_size()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoricalModel {
    cdf: Vec<u32>,
}

impl CategoricalModel {
    /// From symbol counts (e.g. codebook usage on training data); zero counts stay codable.
    pub fn from_counts(counts: &[u64]) -> Result<Self> {
        check_alphabet(counts.len())?;
        Ok(Self { cdf: cumulative(&quantize_counts(counts)?) })
    }

    pub fn from_probabilities(probabilities: &[f64]) -> Result<Self> {
        check_alphabet(probabilities.len())?;
        Ok(Self { cdf: cumulative(&quantize_masses(probabilities)?) })
    }

    /// From stored fixed-point frequencies, validated.
    pub fn from_frequencies(freqs: &[u32]) -> Result<Self> {
        check_alphabet(freqs.len())?;
        validate_frequencies(freqs)?;
        Ok(Self { cdf: cumulative(freqs) })
    }

    pub fn frequencies(&self) -> Vec<u32> {
        self.cdf.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub fn alphabet_size(&self) -> usize {
        self.cdf.len() - 1
    }

    pub(crate) fn cdf(&self) -> &[u32] {
        &self.cdf
    }
}

/// How an [`AdaptiveCategoricalModel`] learns. Encoder and decoder must use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptationSchedule {
    /// Count added per coded symbol (counts start at 1).
    pub increment: u32,
    /// Counts are halved when their total passes this, so the model tracks drift.
    pub count_limit: u32,
    /// Longest interval between table rebuilds. A young model rebuilds after
    /// every symbol, then every `seen / 8` symbols up to this, so it learns
    /// fast at first and costs O(alphabet / period) per symbol later.
    pub max_rebuild_period: u32,
}

impl AdaptationSchedule {
    /// A general-purpose schedule: rebuild cost stays O(1) per symbol for any alphabet.
    pub fn for_alphabet(alphabet_size: usize) -> Self {
        Self { increment: 24, count_limit: 1 << 20, max_rebuild_period: (alphabet_size / 4).clamp(16, 4096) as u32 }
    }
}

/// A categorical distribution learned from the symbols coded so far, with
/// integer arithmetic only, so encoder and decoder stay identical.
#[derive(Debug, Clone)]
pub struct AdaptiveCategoricalModel {
    counts: Vec<u32>,
    total: u32,
    cdf: Vec<u32>,
    /// Scratch space for rebuilds, kept to avoid an allocation per rebuild.
    freqs: Vec<u32>,
    seen: u32,
    countdown: u32,
    schedule: AdaptationSchedule,
}

impl AdaptiveCategoricalModel {
    /// A uniform start over `alphabet_size` symbols with [`AdaptationSchedule::for_alphabet`].
    pub fn new(alphabet_size: usize) -> Result<Self> {
        Self::with_schedule(alphabet_size, AdaptationSchedule::for_alphabet(alphabet_size))
    }

    pub fn with_schedule(alphabet_size: usize, schedule: AdaptationSchedule) -> Result<Self> {
        check_alphabet(alphabet_size)?;
        let limit_ok = (2 * alphabet_size as u64..=1 << 31).contains(&u64::from(schedule.count_limit));
        if schedule.increment == 0 || schedule.max_rebuild_period == 0 || !limit_ok {
            return Err(Error::InvalidArgument(format!(
                "adaptation schedule {schedule:?} for {alphabet_size} symbols"
            )));
        }
        let mut model = Self {
            counts: vec![1; alphabet_size],
            total: alphabet_size as u32,
            cdf: vec![0; alphabet_size + 1],
            freqs: Vec::with_capacity(alphabet_size),
            seen: 0,
            countdown: 1,
            schedule,
        };
        model.rebuild();
        Ok(model)
    }

    pub fn alphabet_size(&self) -> usize {
        self.counts.len()
    }

    /// True until the model has coded a symbol (inheriting does not count).
    pub fn is_fresh(&self) -> bool {
        self.seen == 0
    }

    /// Restarts this model from `donor`'s distribution, worth `mass` counts,
    /// instead of uniform: a context seen for the first time borrows what a
    /// related, already trained context learned. No-op if alphabets differ.
    pub fn inherit(&mut self, donor: &Self, mass: u32) {
        if donor.counts.len() != self.counts.len() || donor.is_fresh() {
            return;
        }
        let mass = mass.min(self.schedule.count_limit / 2);
        self.total = 0;
        for (c, &d) in self.counts.iter_mut().zip(&donor.counts) {
            *c = 1 + (u64::from(d) * u64::from(mass) / u64::from(donor.total)) as u32;
            self.total += *c;
        }
        self.rebuild();
    }

    /// Approximate cost in bits of coding `symbol` now. For encoder decisions
    /// only: it uses platform floating point, and the decoder never calls it.
    pub fn cost(&self, symbol: u32) -> f32 {
        match self.counts.get(symbol as usize) {
            Some(&c) => (self.total as f32 / c as f32).log2(),
            None => f32::INFINITY,
        }
    }

    pub(crate) fn cdf(&self) -> &[u32] {
        &self.cdf
    }

    /// Records one coded symbol (`symbol < alphabet_size()`, checked by the coder).
    pub(crate) fn update(&mut self, symbol: u32) {
        self.counts[symbol as usize] += self.schedule.increment;
        self.total += self.schedule.increment;
        if self.total > self.schedule.count_limit {
            self.total = 0;
            for c in &mut self.counts {
                *c = c.div_ceil(2);
                self.total += *c;
            }
        }
        self.seen = self.seen.saturating_add(1);
        self.countdown -= 1;
        if self.countdown == 0 {
            self.rebuild();
            self.countdown = (self.seen / 8).clamp(1, self.schedule.max_rebuild_period);
        }
    }

    fn rebuild(&mut self) {
        counts_to_frequencies_fast(&self.counts, u64::from(self.total), &mut self.freqs);
        let mut acc = 0;
        for (c, &f) in self.cdf[1..].iter_mut().zip(&self.freqs) {
            acc += f;
            *c = acc;
        }
    }
}

fn check_alphabet(n: usize) -> Result<()> {
    if !(2..=MAX_CATEGORIES).contains(&n) {
        return Err(Error::InvalidArgument(format!("categorical alphabet of {n} (need 2..={MAX_CATEGORIES})")));
    }
    Ok(())
}
