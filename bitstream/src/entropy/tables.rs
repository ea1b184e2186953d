//! Families of quantized distributions selected per symbol by an index.
//!
//! This one structure serves both the factorized prior (index = channel) and
//! the Gaussian conditional (index = scale-table entry). Each distribution
//! covers a contiguous range of integers plus one escape symbol; values
//! outside the range are sent as the escape followed by bypass bits.

use super::quantize::{cumulative, quantize_masses, validate_frequencies};
use crate::error::{Error, Result};

/// Largest alphabet (escape included) a stored distribution may have.
pub const MAX_ALPHABET: usize = 1 << 16;
/// Largest number of distributions in one family.
pub const MAX_DISTRIBUTIONS: usize = 1 << 16;

/// One quantized distribution over `offset .. offset + regular_symbols()`, plus an escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizedDistribution {
    offset: i32,
    /// Cumulative frequencies: `len = alphabet + 1`; the last symbol is the escape.
    cdf: Vec<u32>,
}

impl QuantizedDistribution {
    /// From masses of the values `offset, offset+1, ...` and the mass of everything else.
    pub fn from_pmf(offset: i32, pmf: &[f64], tail_mass: f64) -> Result<Self> {
        let mut masses = Vec::with_capacity(pmf.len() + 1);
        masses.extend_from_slice(pmf);
        masses.push(tail_mass);
        Self::from_frequencies(offset, &quantize_masses(&masses)?)
    }

    /// From stored frequencies (escape last), validated.
    pub fn from_frequencies(offset: i32, freqs: &[u32]) -> Result<Self> {
        if freqs.len() < 2 || freqs.len() > MAX_ALPHABET {
            return Err(Error::InvalidField {
                field: "distribution",
                detail: format!("alphabet of {} (need 2..={MAX_ALPHABET}, escape included)", freqs.len()),
            });
        }
        validate_frequencies(freqs)?;
        if i64::from(offset) + freqs.len() as i64 > i64::from(i32::MAX) {
            return Err(Error::InvalidField { field: "distribution", detail: "support overflows i32".into() });
        }
        Ok(Self { offset, cdf: cumulative(freqs) })
    }

    /// The smallest value coded without escape.
    pub fn offset(&self) -> i32 {
        self.offset
    }

    /// How many values are coded without escape.
    pub fn regular_symbols(&self) -> usize {
        self.cdf.len() - 2
    }

    /// Frequencies (escape last), summing to 2^PRECISION.
    pub fn frequencies(&self) -> Vec<u32> {
        self.cdf.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub(crate) fn cdf(&self) -> &[u32] {
        &self.cdf
    }
}

/// An indexed family of distributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedTables {
    dists: Vec<QuantizedDistribution>,
    /// Every CDF back to back, so the coder's per-symbol lookup touches one
    /// small entry and one contiguous buffer instead of chasing a Vec per table.
    flat_cdfs: Vec<u32>,
    entries: Vec<FlatEntry>,
}

/// Where distribution `i` lives in `flat_cdfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlatEntry {
    pub start: u32,
    /// Regular symbols; the CDF has `regular + 2` entries (escape included).
    pub regular: u32,
    pub offset: i32,
}

impl IndexedTables {
    pub fn new(dists: Vec<QuantizedDistribution>) -> Result<Self> {
        if dists.is_empty() || dists.len() > MAX_DISTRIBUTIONS {
            return Err(Error::InvalidArgument(format!("{} distributions", dists.len())));
        }
        let mut flat_cdfs = Vec::with_capacity(dists.iter().map(|d| d.cdf.len()).sum());
        let entries = dists
            .iter()
            .map(|d| {
                let entry =
                    FlatEntry { start: flat_cdfs.len() as u32, regular: d.regular_symbols() as u32, offset: d.offset };
                flat_cdfs.extend_from_slice(&d.cdf);
                entry
            })
            .collect();
        Ok(Self { dists, flat_cdfs, entries })
    }

    /// The layout entry and CDF of distribution `index`.
    #[inline(always)]
    pub(crate) fn lookup(&self, index: u16) -> Result<(FlatEntry, &[u32])> {
        let entry = *self.entries.get(usize::from(index)).ok_or_else(|| bad_index(index, self.entries.len()))?;
        let start = entry.start as usize;
        Ok((entry, &self.flat_cdfs[start..start + entry.regular as usize + 2]))
    }

    pub fn len(&self) -> usize {
        self.dists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dists.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&QuantizedDistribution> {
        self.dists.get(index)
    }

    pub fn distributions(&self) -> &[QuantizedDistribution] {
        &self.dists
    }

    /// A compact little-endian serialisation, for shipping next to weights:
    /// `u32 count`, then per distribution `i32 offset, u32 alphabet, alphabet × u32 frequency`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.dists.len() as u32).to_le_bytes());
        for d in &self.dists {
            let freqs = d.frequencies();
            out.extend_from_slice(&d.offset.to_le_bytes());
            out.extend_from_slice(&(freqs.len() as u32).to_le_bytes());
            for f in freqs {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes) output, validating every table and
    /// refusing counts the input cannot hold before allocating.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut input = bytes;
        let mut word = |what: &'static str| -> Result<u32> {
            let (head, rest) = input.split_first_chunk::<4>().ok_or(Error::Truncated(what))?;
            input = rest;
            Ok(u32::from_le_bytes(*head))
        };
        let count = word("table count")? as usize;
        if count == 0 || count > MAX_DISTRIBUTIONS || count > bytes.len() / 16 {
            return Err(Error::LengthOutOfBounds {
                what: "table count",
                value: count as u64,
                limit: (bytes.len() / 16) as u64,
            });
        }
        let mut dists = Vec::with_capacity(count);
        for _ in 0..count {
            let offset = word("table offset")? as i32;
            let alphabet = word("table alphabet")? as usize;
            if alphabet > MAX_ALPHABET || alphabet * 4 > bytes.len() {
                return Err(Error::LengthOutOfBounds {
                    what: "table alphabet",
                    value: alphabet as u64,
                    limit: MAX_ALPHABET as u64,
                });
            }
            let freqs = (0..alphabet).map(|_| word("table frequency")).collect::<Result<Vec<u32>>>()?;
            dists.push(QuantizedDistribution::from_frequencies(offset, &freqs)?);
        }
        if !input.is_empty() {
            return Err(Error::InvalidField { field: "tables", detail: format!("{} trailing bytes", input.len()) });
        }
        Self::new(dists)
    }

    /// CRC-32 of the serialised tables: pins table construction in golden tests.
    pub fn fingerprint(&self) -> u32 {
        crc32fast::hash(&self.to_bytes())
    }

    /// The exact number of bits the coder needs for these symbols, bypass bits
    /// included (the range coder adds at most a few words on top).
    pub fn ideal_bits(&self, symbols: &[i32], indexes: &[u16]) -> Result<f64> {
        let mut bits = 0.0;
        for (&s, &i) in symbols.iter().zip(indexes) {
            let d = self.get(usize::from(i)).ok_or_else(|| bad_index(i, self.len()))?;
            let cdf = d.cdf();
            let v = i64::from(s) - i64::from(d.offset);
            let slot = if v >= 0 && (v as usize) < d.regular_symbols() { v as usize } else { d.regular_symbols() };
            bits += f64::from(super::PRECISION as u32) - f64::from(cdf[slot + 1] - cdf[slot]).log2();
            if slot == d.regular_symbols() {
                bits += f64::from(super::bypass::escape_bits(v, d.regular_symbols()));
            }
        }
        Ok(bits)
    }
}

pub(crate) fn bad_index(index: u16, len: usize) -> Error {
    Error::InvalidArgument(format!("table index {index} out of range (family has {len} distributions)"))
}
