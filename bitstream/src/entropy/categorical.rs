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

/// Counts start at one per symbol and grow by [`INCREMENT`](Self::INCREMENT) per
/// coded symbol; the coding table is rebuilt from them every `rebuild_period`
/// symbols, with integer arithmetic only, so both sides stay identical.
#[derive(Debug, Clone)]
pub struct AdaptiveCategoricalModel {
    counts: Vec<u32>,
    total: u64,
    cdf: Vec<u32>,
    /// Scratch space for rebuilds, kept to avoid an allocation per rebuild.
    freqs: Vec<u32>,
    since_rebuild: u32,
    rebuild_period: u32,
}

impl AdaptiveCategoricalModel {
    pub const INCREMENT: u32 = 24;
    /// Counts are halved when their total passes this, so the model tracks drift.
    pub const COUNT_LIMIT: u64 = 1 << 20;

    /// A uniform start over `alphabet_size` symbols; the rebuild period scales
    /// with the alphabet so rebuilding costs O(1) per symbol on average.
    pub fn new(alphabet_size: usize) -> Result<Self> {
        let period = (alphabet_size / 4).clamp(16, 4096) as u32;
        Self::with_rebuild_period(alphabet_size, period)
    }

    pub fn with_rebuild_period(alphabet_size: usize, rebuild_period: u32) -> Result<Self> {
        check_alphabet(alphabet_size)?;
        let counts = vec![1u32; alphabet_size];
        let cdf = cumulative(&quantize_counts(&vec![1; alphabet_size])?);
        Ok(Self {
            counts,
            total: alphabet_size as u64,
            cdf,
            freqs: Vec::with_capacity(alphabet_size),
            since_rebuild: 0,
            rebuild_period: rebuild_period.max(1),
        })
    }

    pub fn alphabet_size(&self) -> usize {
        self.counts.len()
    }

    pub(crate) fn cdf(&self) -> &[u32] {
        &self.cdf
    }

    /// Records one coded symbol (`symbol < alphabet_size()`, checked by the coder).
    pub(crate) fn update(&mut self, symbol: u32) {
        self.counts[symbol as usize] += Self::INCREMENT;
        self.total += u64::from(Self::INCREMENT);
        if self.total > Self::COUNT_LIMIT {
            self.total = 0;
            for c in &mut self.counts {
                *c = (*c).div_ceil(2);
                self.total += u64::from(*c);
            }
        }
        self.since_rebuild += 1;
        if self.since_rebuild >= self.rebuild_period {
            self.since_rebuild = 0;
            counts_to_frequencies_fast(&self.counts, self.total, &mut self.freqs);
            let mut acc = 0;
            for (c, &f) in self.cdf[1..].iter_mut().zip(&self.freqs) {
                acc += f;
                *c = acc;
            }
        }
    }
}

fn check_alphabet(n: usize) -> Result<()> {
    if !(2..=MAX_CATEGORIES).contains(&n) {
        return Err(Error::InvalidArgument(format!("categorical alphabet of {n} (need 2..={MAX_CATEGORIES})")));
    }
    Ok(())
}
