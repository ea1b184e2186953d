//! The wavelet codec's adaptive models, and one coding interface for both
//! directions so that encoder and decoder run the very same code.

use anyhow::Result;
use neco_bitstream::entropy::{AdaptationSchedule, AdaptiveCategoricalModel, SymbolDecoder, SymbolEncoder};

/// The wavelet contexts' adaptive distributions.
pub type AdaptiveModel = AdaptiveCategoricalModel;

/// Fast learning for hundreds of small-alphabet contexts: big increments, a
/// low count limit (tracks local statistics), tables rebuilt after every
/// symbol while young and at least every 8 symbols later.
const SCHEDULE: AdaptationSchedule = AdaptationSchedule { increment: 32, count_limit: 1 << 13, max_rebuild_period: 8 };

/// A fresh model over `n` (2..=256) symbols.
pub fn new_model(n: usize) -> AdaptiveModel {
    AdaptiveCategoricalModel::with_schedule(n, SCHEDULE).expect("wavelet alphabets are 2..=256 symbols")
}

/// A direction of coding: the encoder reads the values it is given, the
/// decoder ignores them and returns what it decodes.
pub trait Coder {
    /// Codes `value` (< `model.alphabet_size()` when encoding) with `model`, then adapts it.
    fn symbol(&mut self, model: &mut AdaptiveModel, value: u32) -> Result<u32>;
    /// Codes a binary event with probability `one_in_65536` (1..=65535) of a 1.
    fn binary(&mut self, one_in_65536: u32, bit: bool) -> Result<bool>;
    /// Codes the low `bits` (1..=16) bits of `value` at one bit each.
    fn bits(&mut self, value: u32, bits: u32) -> Result<u32>;

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
    fn symbol(&mut self, model: &mut AdaptiveModel, value: u32) -> Result<u32> {
        self.encode_adaptive(model, &[value])?;
        Ok(value)
    }

    fn binary(&mut self, one_in_65536: u32, bit: bool) -> Result<bool> {
        self.encode_binary(bit, one_in_65536)?;
        Ok(bit)
    }

    fn bits(&mut self, value: u32, bits: u32) -> Result<u32> {
        self.encode_bits(value, bits)?;
        Ok(value)
    }
}

impl Coder for SymbolDecoder {
    fn symbol(&mut self, model: &mut AdaptiveModel, _value: u32) -> Result<u32> {
        let mut out = [0u32];
        self.decode_adaptive(model, &mut out)?;
        Ok(out[0])
    }

    fn binary(&mut self, one_in_65536: u32, _bit: bool) -> Result<bool> {
        Ok(self.decode_binary(one_in_65536)?)
    }

    fn bits(&mut self, _value: u32, bits: u32) -> Result<u32> {
        Ok(self.decode_bits(bits)?)
    }
}
