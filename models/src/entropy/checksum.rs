//! The symbol checksum: a CRC-32 over every integer symbol a model codes, so a decoder whose
//! entropy parameters drifted from the encoder's (float differences across devices, builds or
//! thread counts) fails with an error instead of returning a silently broken image.
//!
//! The encoder feeds each coded symbol in coding order, the decoder each decoded symbol in
//! decoding order (the same order), and the two digests must agree. A range decoder fed the
//! wrong distributions rarely fails by itself: it keeps producing (garbage) symbols, which is
//! exactly what this catches.
//!
//! Definition (docs/format.md, chunk 6): CRC-32 (IEEE), in coding order over all latents
//! (hyper-latent first), of the symbols as `i32` little-endian, 4 bytes each; for each run of
//! Gaussian-coded symbols it is followed by their table indexes (`u16` LE) and means (`f32` bit
//! patterns, LE); plus the symbol count.

use anyhow::{bail, ensure, Result};
use neco_bitstream::varint;

/// What a file stores and a decoder checks: the CRC-32 of the symbols and their count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SymbolDigest {
    pub crc: u32,
    pub count: u64,
}

/// The one-line error a desync produces.
pub const MISMATCH_MESSAGE: &str = "symbol checksum mismatch: the decoder's entropy parameters differ from the \
                                    encoder's (float drift across devices or builds?)";

/// The context put on a failure of the range decoder itself while decoding symbols whose
/// distributions come from float networks: with CRC-checked chunks and matching weights, such a
/// failure is almost always the same desync that the checksum catches when the decoder does not
/// fail by itself.
pub const DESYNC_DECODE_MESSAGE: &str = "entropy decoding failed, probably a desync: the decoder's entropy \
                                         parameters differ from the encoder's (float drift across devices or \
                                         builds?), or the stream is corrupt";

/// Wraps a range-decoder error of a float-parameterized stream with [`DESYNC_DECODE_MESSAGE`].
pub fn desync_error(err: impl Into<anyhow::Error>) -> anyhow::Error {
    err.into().context(DESYNC_DECODE_MESSAGE)
}

impl SymbolDigest {
    /// The chunk payload: `u32` LE CRC-32, then the count as a varint.
    pub fn to_payload(self) -> Vec<u8> {
        let mut out = self.crc.to_le_bytes().to_vec();
        varint::write_u64(&mut out, self.count);
        out
    }

    /// Parses a payload written by [`to_payload`](Self::to_payload); it must be filled exactly.
    pub fn from_payload(payload: &[u8]) -> Result<Self> {
        ensure!(payload.len() >= 5, "symbol checksum chunk of {} bytes is too short", payload.len());
        let crc = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
        let mut rest = &payload[4..];
        let count = varint::read_u64(&mut rest, "symbol count")?;
        ensure!(rest.is_empty(), "symbol checksum chunk has {} trailing bytes", rest.len());
        Ok(Self { crc, count })
    }

    /// Ok if `decoded` (what the decoder computed) equals `self` (what the encoder stored).
    pub fn verify(self, decoded: SymbolDigest) -> Result<()> {
        if self != decoded {
            bail!(
                "{MISMATCH_MESSAGE} [stored crc {:08x} over {} symbols, decoded crc {:08x} over {}]",
                self.crc,
                self.count,
                decoded.crc,
                decoded.count
            );
        }
        Ok(())
    }
}

/// Accumulates the digest of a sequence of symbols.
#[derive(Debug, Clone, Default)]
pub struct SymbolChecksum {
    hasher: crc32fast::Hasher,
    count: u64,
}

impl SymbolChecksum {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `symbols` in order.
    pub fn update(&mut self, symbols: &[i32]) {
        let mut bytes = Vec::with_capacity(symbols.len() * 4);
        for s in symbols {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.hasher.update(&bytes);
        self.count += symbols.len() as u64;
    }

    /// Adds the entropy parameters a run of symbols was coded with: the table index and the
    /// mean (as its f32 bit pattern) of each symbol. Symbols alone miss a drift that leaves them
    /// decodable but shifts ŷ = symbol + mean; with these, the digest pins ŷ exactly.
    pub fn update_parameters(&mut self, indexes: &[u16], means: &[f32]) {
        let mut bytes = Vec::with_capacity(indexes.len() * 2 + means.len() * 4);
        for i in indexes {
            bytes.extend_from_slice(&i.to_le_bytes());
        }
        for m in means {
            bytes.extend_from_slice(&m.to_bits().to_le_bytes());
        }
        self.hasher.update(&bytes);
    }

    pub fn digest(&self) -> SymbolDigest {
        SymbolDigest { crc: self.hasher.clone().finalize(), count: self.count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_order_but_not_on_splits() {
        let mut a = SymbolChecksum::new();
        a.update(&[1, -2, 3]);
        a.update(&[]);
        a.update(&[i32::MIN, i32::MAX]);
        let mut b = SymbolChecksum::new();
        b.update(&[1, -2, 3, i32::MIN, i32::MAX]);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.digest().count, 5);
        let mut c = SymbolChecksum::new();
        c.update(&[-2, 1, 3, i32::MIN, i32::MAX]);
        assert_ne!(a.digest(), c.digest());
        // The definition: CRC-32 of the i32 LE bytes.
        let bytes: Vec<u8> = [1i32, -2, 3, i32::MIN, i32::MAX].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(a.digest().crc, crc32fast::hash(&bytes));
        // Empty sequences still have a well-defined digest.
        assert_eq!(SymbolChecksum::new().digest(), SymbolDigest { crc: 0, count: 0 });
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        for d in [SymbolDigest::default(), SymbolDigest { crc: 0xdead_beef, count: 123_456_789 }] {
            let p = d.to_payload();
            assert_eq!(SymbolDigest::from_payload(&p).unwrap(), d);
        }
        assert_eq!(SymbolDigest { crc: 1, count: 2 }.to_payload(), vec![1, 0, 0, 0, 2]);
        assert!(SymbolDigest::from_payload(&[1, 2, 3, 4]).is_err());
        assert!(SymbolDigest::from_payload(&[1, 2, 3, 4, 5, 6]).is_err());
        assert!(SymbolDigest::from_payload(&[1, 2, 3, 4, 0x80]).is_err());
    }

    #[test]
    fn verify_names_the_mismatch() {
        let d = SymbolDigest { crc: 7, count: 3 };
        assert!(d.verify(d).is_ok());
        let err = d.verify(SymbolDigest { crc: 8, count: 3 }).unwrap_err().to_string();
        assert!(err.starts_with("symbol checksum mismatch"), "{err}");
        assert!(!err.contains('\n'));
    }
}
