//! LEB128 unsigned varints: small numbers take one byte.

use crate::error::{Error, Result};

/// Appends `value` as an unsigned LEB128 varint.
pub fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a varint from the front of `input`, advancing it.
///
/// Refuses overlong encodings (more than 10 bytes, or bits beyond 64) so a
/// hostile file cannot make the reader loop or wrap around.
pub fn read_u64(input: &mut &[u8], what: &'static str) -> Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some((&byte, rest)) = input.split_first() else {
            return Err(Error::Truncated(what));
        };
        *input = rest;
        let payload = u64::from(byte & 0x7f);
        if i == 9 && payload > 1 {
            return Err(Error::InvalidField { field: what, detail: "varint overflows 64 bits".into() });
        }
        value |= payload << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::InvalidField { field: what, detail: "varint longer than 10 bytes".into() })
}

/// Reads a varint and checks it is at most `limit`.
pub fn read_bounded(input: &mut &[u8], what: &'static str, limit: u64) -> Result<u64> {
    let value = read_u64(input, what)?;
    if value > limit {
        return Err(Error::LengthOutOfBounds { what, value, limit });
    }
    Ok(value)
}

/// The number of bytes `write_u64` uses for `value`.
pub fn encoded_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.max(1).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for v in [0, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            write_u64(&mut buf, v);
            assert_eq!(buf.len(), encoded_len(v));
            let mut s = &buf[..];
            assert_eq!(read_u64(&mut s, "v").unwrap(), v);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn refuses_overlong_and_truncated() {
        let mut s: &[u8] = &[0x80; 11];
        assert!(read_u64(&mut s, "v").is_err());
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(read_u64(&mut s, "v").is_err());
        let mut s: &[u8] = &[0x80];
        assert_eq!(read_u64(&mut s, "v"), Err(Error::Truncated("v")));
    }
}
