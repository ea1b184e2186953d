//! The range coder front end: one encoder, one decoder, many model kinds.
//!
//! A stream may interleave symbols of any model kind; the decoder must ask
//! for them in the same order with the same models, which is the whole
//! contract. Streams are byte strings (little-endian 32-bit words).

use super::bypass::{self, LENGTH_ALPHABET, MAX_ESCAPE_BITS};
use super::categorical::{AdaptiveCategoricalModel, CategoricalModel};
use super::cdf_model::CdfModel;
use super::tables::{FlatEntry, IndexedTables};
use super::PRECISION;
use crate::error::{Error, Result};
use constriction::stream::model::UniformModel;
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use ndarray::{ArrayView, Dimension};

type Uniform = UniformModel<u32, PRECISION>;

/// Encodes symbols into a byte stream.
#[derive(Debug, Default)]
pub struct SymbolEncoder {
    coder: DefaultRangeEncoder,
}

impl SymbolEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Codes `symbols[k]` with distribution `indexes[k]` of `tables`.
    pub fn encode_indexed(&mut self, tables: &IndexedTables, symbols: &[i32], indexes: &[u16]) -> Result<()> {
        same_len(symbols.len(), indexes.len())?;
        for (&s, &i) in symbols.iter().zip(indexes) {
            let (entry, cdf) = tables.lookup(i)?;
            self.encode_one(entry, cdf, s)?;
        }
        Ok(())
    }

    /// Codes a plane-major array (e.g. CHW): plane `p` uses distribution
    /// `plane_indexes[p]` for all of its `plane_len` symbols. This is the
    /// factorized prior's layout, without an index per symbol.
    pub fn encode_planes(
        &mut self,
        tables: &IndexedTables,
        symbols: &[i32],
        plane_indexes: &[u16],
        plane_len: usize,
    ) -> Result<()> {
        same_len(symbols.len(), plane_indexes.len().saturating_mul(plane_len))?;
        for (plane, &i) in symbols.chunks(plane_len.max(1)).zip(plane_indexes) {
            let (entry, cdf) = tables.lookup(i)?;
            for &s in plane {
                self.encode_one(entry, cdf, s)?;
            }
        }
        Ok(())
    }

    /// [`encode_indexed`](Self::encode_indexed) for ndarray views of the same shape, in logical order.
    pub fn encode_indexed_array<D: Dimension>(
        &mut self,
        tables: &IndexedTables,
        symbols: ArrayView<i32, D>,
        indexes: ArrayView<u16, D>,
    ) -> Result<()> {
        if symbols.shape() != indexes.shape() {
            return Err(Error::InvalidArgument(format!(
                "shapes {:?} and {:?} differ",
                symbols.shape(),
                indexes.shape()
            )));
        }
        for (&s, &i) in symbols.iter().zip(indexes.iter()) {
            let (entry, cdf) = tables.lookup(i)?;
            self.encode_one(entry, cdf, s)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn encode_one(&mut self, entry: FlatEntry, cdf: &[u32], symbol: i32) -> Result<()> {
        // One unsigned compare tests 0 <= v < regular: the wrapped difference
        // cannot land in range for out-of-range values, because tables are
        // validated so that offset + regular fits in i32.
        let wrapped = symbol.wrapping_sub(entry.offset) as u32;
        let model = CdfModel { cdf };
        if wrapped < entry.regular {
            return self.coder.encode_symbol(wrapped as usize, model).map_err(encode_error);
        }
        self.encode_escape(entry, model, symbol)
    }

    #[cold]
    fn encode_escape(&mut self, entry: FlatEntry, model: CdfModel<'_>, symbol: i32) -> Result<()> {
        let regular = entry.regular as usize;
        let v = i64::from(symbol) - i64::from(entry.offset);
        self.coder.encode_symbol(regular, model).map_err(encode_error)?;
        let m = bypass::escape_code(v, regular);
        let k = 63 - m.leading_zeros();
        self.coder.encode_symbol(k as usize, Uniform::new(LENGTH_ALPHABET)).map_err(encode_error)?;
        for (piece, bits) in bypass::pieces(m, k) {
            self.encode_bits(piece as u32, bits)?;
        }
        Ok(())
    }

    /// Codes symbols of a static categorical model.
    pub fn encode_categorical(&mut self, model: &CategoricalModel, symbols: &[u32]) -> Result<()> {
        // Validate in one branch-free pass so the coding loop has no extra test.
        let max = symbols.iter().copied().max().unwrap_or(0);
        if max as usize >= model.alphabet_size() {
            return Err(Error::InvalidArgument(format!("symbol {max} outside alphabet of {}", model.alphabet_size())));
        }
        let cdf = CdfModel { cdf: model.cdf() };
        self.coder.encode_iid_symbols(symbols.iter().map(|&s| s as usize), cdf).map_err(encode_error)
    }

    /// Codes symbols of an adaptive model, updating its counts as it goes.
    pub fn encode_adaptive(&mut self, model: &mut AdaptiveCategoricalModel, symbols: &[u32]) -> Result<()> {
        for &s in symbols {
            if s as usize >= model.alphabet_size() {
                return Err(Error::InvalidArgument(format!(
                    "symbol {s} outside alphabet of {}",
                    model.alphabet_size()
                )));
            }
            self.coder.encode_symbol(s as usize, CdfModel { cdf: model.cdf() }).map_err(encode_error)?;
            model.update(s);
        }
        Ok(())
    }

    /// Codes the low `bits` (1..=16) bits of `value` at exactly `bits` bits each.
    pub fn encode_bits(&mut self, value: u32, bits: u32) -> Result<()> {
        if !(1..=16).contains(&bits) || u64::from(value) >> bits != 0 {
            return Err(Error::InvalidArgument(format!("{value} does not fit {bits} bypass bits")));
        }
        self.coder.encode_symbol(value as usize, Uniform::new(1 << bits)).map_err(encode_error)
    }

    /// Codes one binary event with probability `one_in_65536 / 65536` of a 1
    /// (1..=65535): for models that compute each probability themselves,
    /// such as context mixing.
    pub fn encode_binary(&mut self, bit: bool, one_in_65536: u32) -> Result<()> {
        let cdf = binary_cdf(one_in_65536)?;
        self.coder.encode_symbol(usize::from(bit), CdfModel { cdf: &cdf }).map_err(encode_error)
    }

    /// Bits written so far (rounded up to whole 32-bit words).
    pub fn num_bits(&self) -> usize {
        self.coder.num_bits()
    }

    /// Flushes and returns the stream.
    pub fn finish(self) -> Vec<u8> {
        let words = self.coder.into_compressed().unwrap_or_else(|never| match never {});
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// Decodes symbols from a byte stream. Garbage input yields garbage symbols
/// or an error, never a panic, and work is bounded by the symbols asked for.
pub struct SymbolDecoder {
    coder: DefaultRangeDecoder,
}

impl SymbolDecoder {
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(Error::CorruptStream("stream length is not a multiple of 4 bytes"));
        }
        let words: Vec<u32> =
            bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let coder =
            DefaultRangeDecoder::from_compressed(words).map_err(|_| Error::CorruptStream("unreadable stream"))?;
        Ok(Self { coder })
    }

    pub fn decode_indexed(&mut self, tables: &IndexedTables, indexes: &[u16], out: &mut [i32]) -> Result<()> {
        same_len(out.len(), indexes.len())?;
        for (o, &i) in out.iter_mut().zip(indexes) {
            let (entry, cdf) = tables.lookup(i)?;
            *o = self.decode_one(entry, cdf)?;
        }
        Ok(())
    }

    pub fn decode_planes(
        &mut self,
        tables: &IndexedTables,
        plane_indexes: &[u16],
        plane_len: usize,
        out: &mut [i32],
    ) -> Result<()> {
        same_len(out.len(), plane_indexes.len().saturating_mul(plane_len))?;
        for (plane, &i) in out.chunks_mut(plane_len.max(1)).zip(plane_indexes) {
            let (entry, cdf) = tables.lookup(i)?;
            for o in plane {
                *o = self.decode_one(entry, cdf)?;
            }
        }
        Ok(())
    }

    /// Decodes an array shaped like `indexes`.
    pub fn decode_indexed_array<D: Dimension>(
        &mut self,
        tables: &IndexedTables,
        indexes: ArrayView<u16, D>,
    ) -> Result<ndarray::Array<i32, D>> {
        let mut out = ndarray::Array::zeros(indexes.raw_dim());
        for (o, &i) in out.iter_mut().zip(indexes.iter()) {
            let (entry, cdf) = tables.lookup(i)?;
            *o = self.decode_one(entry, cdf)?;
        }
        Ok(out)
    }

    #[inline(always)]
    fn decode_one(&mut self, entry: FlatEntry, cdf: &[u32]) -> Result<i32> {
        let regular = entry.regular as usize;
        let slot = self.coder.decode_symbol(CdfModel { cdf }).map_err(decode_error)?;
        if slot < regular {
            return Ok(entry.offset + slot as i32);
        }
        self.decode_escape(entry)
    }

    #[cold]
    fn decode_escape(&mut self, entry: FlatEntry) -> Result<i32> {
        let regular = entry.regular as usize;
        let k = self.coder.decode_symbol(Uniform::new(LENGTH_ALPHABET)).map_err(decode_error)? as u32;
        if k > MAX_ESCAPE_BITS {
            return Err(Error::CorruptStream("escape longer than any i32 needs"));
        }
        let mut m = 1u64 << k;
        for (shift, (_, bits)) in (0..).step_by(bypass::PIECE_BITS as usize).zip(bypass::pieces(0, k)) {
            m |= u64::from(self.decode_bits(bits)?) << shift;
        }
        let v = bypass::decode_escape(m, regular).ok_or(Error::CorruptStream("bad escape"))?;
        i32::try_from(i64::from(entry.offset) + v).map_err(|_| Error::CorruptStream("escaped value outside i32"))
    }

    pub fn decode_categorical(&mut self, model: &CategoricalModel, out: &mut [u32]) -> Result<()> {
        let cdf = CdfModel { cdf: model.cdf() };
        for o in out {
            *o = self.coder.decode_symbol(cdf).map_err(decode_error)? as u32;
        }
        Ok(())
    }

    pub fn decode_adaptive(&mut self, model: &mut AdaptiveCategoricalModel, out: &mut [u32]) -> Result<()> {
        for o in out {
            let s = self.coder.decode_symbol(CdfModel { cdf: model.cdf() }).map_err(decode_error)? as u32;
            model.update(s);
            *o = s;
        }
        Ok(())
    }

    /// Inverse of [`SymbolEncoder::encode_binary`], with the same probability.
    pub fn decode_binary(&mut self, one_in_65536: u32) -> Result<bool> {
        let cdf = binary_cdf(one_in_65536)?;
        Ok(self.coder.decode_symbol(CdfModel { cdf: &cdf }).map_err(decode_error)? == 1)
    }

    pub fn decode_bits(&mut self, bits: u32) -> Result<u32> {
        if !(1..=16).contains(&bits) {
            return Err(Error::InvalidArgument(format!("{bits} bypass bits")));
        }
        Ok(self.coder.decode_symbol(Uniform::new(1 << bits)).map_err(decode_error)? as u32)
    }
}

/// The cumulative table of a binary event, 0 first: 16-bit probabilities
/// scaled to [`PRECISION`] bits.
fn binary_cdf(one_in_65536: u32) -> Result<[u32; 3]> {
    if !(1..=65535).contains(&one_in_65536) {
        return Err(Error::InvalidArgument(format!("binary probability {one_in_65536}/65536")));
    }
    const SHIFT: usize = PRECISION - 16;
    Ok([0, (65536 - one_in_65536) << SHIFT, 1 << PRECISION])
}

fn same_len(a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::InvalidArgument(format!("{a} symbols but {b} indexes")));
    }
    Ok(())
}

fn encode_error<E: std::fmt::Debug>(e: E) -> Error {
    // Only reachable with a zero-probability symbol, which validated tables exclude.
    Error::InvalidArgument(format!("range encoder refused a symbol: {e:?}"))
}

fn decode_error<E: std::fmt::Debug>(_: E) -> Error {
    Error::CorruptStream("range decoder met invalid data")
}
