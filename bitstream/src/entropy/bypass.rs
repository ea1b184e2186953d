//! Escape payloads: values outside a distribution's range, coded with
//! uniform (bypass) models so any `i32` is codable.
//!
//! A value `v` (relative to the table offset) below the range maps to the odd
//! number `2|v| - 1`, one above it to the even `2(v - n)`. With `m = w + 1`,
//! the escape costs 6 bits for the bit length `k` of `m` (less its top bit),
//! then the `k` low bits of `m`, in pieces of at most 16 bits.

/// Largest `k` a valid stream can hold: |v| < 2^33 for i32 symbols and i32 offsets.
pub(crate) const MAX_ESCAPE_BITS: u32 = 35;
/// Alphabet of the bit-length symbol.
pub(crate) const LENGTH_ALPHABET: usize = 64;
pub(crate) const PIECE_BITS: u32 = 16;

/// Maps an out-of-range relative value to the escape code's `m >= 1`.
pub(crate) fn escape_code(v: i64, regular: usize) -> u64 {
    let w = if v < 0 { 2 * v.unsigned_abs() - 1 } else { 2 * (v as u64 - regular as u64) };
    w + 1
}

/// Inverts [`escape_code`]; `None` if the value is inside the regular range
/// (a valid encoder never produces that).
pub(crate) fn decode_escape(m: u64, regular: usize) -> Option<i64> {
    let w = m.checked_sub(1)?;
    if w % 2 == 1 {
        Some(-(w.div_ceil(2) as i64))
    } else {
        Some(regular as i64 + (w / 2) as i64)
    }
}

/// Bits spent after the escape symbol itself.
pub(crate) fn escape_bits(v: i64, regular: usize) -> u32 {
    let m = escape_code(v, regular);
    6 + (63 - m.leading_zeros())
}

/// The pieces `(value, bits)` that carry the low `k` bits of `m`, low piece first.
pub(crate) fn pieces(m: u64, k: u32) -> impl Iterator<Item = (u64, u32)> {
    (0..k.div_ceil(PIECE_BITS)).map(move |i| {
        let shift = i * PIECE_BITS;
        let bits = PIECE_BITS.min(k - shift);
        ((m >> shift) & ((1 << bits) - 1), bits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_codes_invert() {
        for regular in [1usize, 5, 3131] {
            for v in [-(1i64 << 33), -70000, -2, -1, regular as i64, regular as i64 + 1, 1 << 33] {
                let m = escape_code(v, regular);
                assert_eq!(decode_escape(m, regular), Some(v));
                assert!(63 - m.leading_zeros() <= MAX_ESCAPE_BITS);
            }
        }
    }
}
