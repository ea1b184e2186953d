//! Payload layouts of the structured chunk types: frame, tile and metadata.

use super::chunk::{read_nested_chunks, write_chunk_sequence, Chunk, ChunkKind};
use crate::container::header::{take, MAX_DIMENSION};
use crate::error::{Error, Result};
use crate::varint;

/// Where a tile sits in the full image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// A `Frame` payload: the frame index, then nested chunks.
pub fn write_frame<'c>(frame_index: u32, chunks: impl ExactSizeIterator<Item = (ChunkKind, &'c [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    varint::write_u64(&mut out, u64::from(frame_index));
    write_chunk_sequence(&mut out, chunks);
    out
}

pub fn read_frame(payload: &[u8]) -> Result<(u32, Vec<Chunk<'_>>)> {
    let mut input = payload;
    let index = varint::read_bounded(&mut input, "frame index", u64::from(u32::MAX))? as u32;
    Ok((index, read_nested_chunks(input)?))
}

/// A `Tile` payload: x, y, width, height, then nested chunks.
pub fn write_tile<'c>(rect: TileRect, chunks: impl ExactSizeIterator<Item = (ChunkKind, &'c [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [rect.x, rect.y, rect.width, rect.height] {
        varint::write_u64(&mut out, u64::from(v));
    }
    write_chunk_sequence(&mut out, chunks);
    out
}

pub fn read_tile(payload: &[u8]) -> Result<(TileRect, Vec<Chunk<'_>>)> {
    let mut input = payload;
    let limit = u64::from(MAX_DIMENSION);
    let mut field = |what| varint::read_bounded(&mut input, what, limit).map(|v| v as u32);
    let rect = TileRect {
        x: field("tile x")?,
        y: field("tile y")?,
        width: field("tile width")?,
        height: field("tile height")?,
    };
    if rect.width == 0 || rect.height == 0 {
        return Err(Error::InvalidField { field: "tile", detail: "empty tile".into() });
    }
    Ok((rect, read_nested_chunks(input)?))
}

/// A `Metadata` payload: a count, then (key, value) UTF-8 strings, each length-prefixed.
pub fn write_metadata(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    varint::write_u64(&mut out, pairs.len() as u64);
    for s in pairs.iter().flat_map(|(k, v)| [k, v]) {
        varint::write_u64(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out
}

pub fn read_metadata(payload: &[u8]) -> Result<Vec<(String, String)>> {
    let mut input = payload;
    // Each pair takes at least two bytes, which bounds the count by the payload.
    let count = varint::read_bounded(&mut input, "metadata count", payload.len() as u64 / 2)?;
    let read_string = |input: &mut &[u8]| -> Result<String> {
        let len = varint::read_bounded(input, "metadata string length", input.len() as u64)? as usize;
        let bytes = take(input, len, "metadata string")?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::InvalidField { field: "metadata", detail: "string is not UTF-8".into() })
    };
    let mut pairs = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let key = read_string(&mut input)?;
        let value = read_string(&mut input)?;
        pairs.push((key, value));
    }
    if !input.is_empty() {
        return Err(Error::InvalidField { field: "metadata", detail: format!("{} trailing bytes", input.len()) });
    }
    Ok(pairs)
}
