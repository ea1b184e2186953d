//! The factorized prior: one learned distribution per channel.
//!
//! The tables are computed once from the learned density (in the models
//! crate), quantized, and shipped with the weights as integers, so decoding
//! never re-evaluates the density and every machine sees the same tables.

use super::tables::{IndexedTables, QuantizedDistribution};
use crate::error::{Error, Result};

/// Per-channel quantized distributions; channel `c` uses table `c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorizedPrior {
    tables: IndexedTables,
    plane_indexes: Vec<u16>,
}

/// One channel's learned distribution, as the models crate evaluates it.
#[derive(Debug, Clone)]
pub struct ChannelPmf {
    /// The value of `pmf[0]`.
    pub offset: i32,
    pub pmf: Vec<f64>,
    /// Mass outside `offset .. offset + pmf.len()`.
    pub tail_mass: f64,
}

impl FactorizedPrior {
    pub fn from_channel_pmfs(channels: &[ChannelPmf]) -> Result<Self> {
        let dists = channels
            .iter()
            .map(|c| QuantizedDistribution::from_pmf(c.offset, &c.pmf, c.tail_mass))
            .collect::<Result<Vec<_>>>()?;
        Self::from_tables(IndexedTables::new(dists)?)
    }

    /// From tables shipped with the weights (see [`IndexedTables::from_bytes`]).
    pub fn from_tables(tables: IndexedTables) -> Result<Self> {
        if tables.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidArgument(format!("{} channels", tables.len())));
        }
        let plane_indexes = (0..tables.len() as u16).collect();
        Ok(Self { tables, plane_indexes })
    }

    pub fn channels(&self) -> usize {
        self.tables.len()
    }

    pub fn tables(&self) -> &IndexedTables {
        &self.tables
    }

    /// Table index of each channel plane, for `encode_planes` / `decode_planes`.
    pub fn plane_indexes(&self) -> &[u16] {
        &self.plane_indexes
    }
}
