//! The neco container: a small header, then typed chunks (docs/format.md).
//!
//! The reader borrows the input and never allocates more than the input can
//! justify, so it is safe on untrusted bytes.

mod chunk;
mod header;
mod nested;

pub use chunk::{
    read_chunk_sequence, read_nested_chunks, write_chunk, write_chunk_sequence, Chunk, ChunkKind, MAX_CHUNKS,
    MAX_CHUNK_LEN,
};
pub use header::{CodingParams, ColourFormat, Header, StreamKind, FORMAT_MAJOR, FORMAT_MINOR, MAGIC, MAX_DIMENSION};
pub use nested::{
    read_frame, read_metadata, read_tile, read_tile_grid, write_frame, write_metadata, write_tile, write_tile_grid,
    TileGrid, TileRect, TILE_GRID_INDEPENDENT,
};

use crate::error::{Error, Result};

/// Builds a neco file in memory.
#[derive(Debug, Clone)]
pub struct ContainerWriter {
    header: Header,
    chunks: Vec<(ChunkKind, Vec<u8>)>,
}

impl ContainerWriter {
    pub fn new(header: Header) -> Self {
        Self { header, chunks: Vec::new() }
    }

    /// Adds a chunk; chunks are written in the order they are pushed.
    pub fn push(&mut self, kind: ChunkKind, payload: Vec<u8>) -> &mut Self {
        self.chunks.push((kind, payload));
        self
    }

    /// Serialises header and chunks.
    pub fn finish(&self) -> Result<Vec<u8>> {
        let payload_len: usize = self.chunks.iter().map(|(_, p)| p.len() + 9).sum();
        let mut out = Vec::with_capacity(32 + payload_len);
        self.header.write_fields(&mut out)?;
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        write_chunk_sequence(&mut out, self.chunks.iter().map(|(k, p)| (*k, p.as_slice())));
        Ok(out)
    }
}

/// A parsed neco file. Chunks borrow the input bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container<'a> {
    pub header: Header,
    /// Every chunk in file order, unknown types included (callers skip them).
    pub chunks: Vec<Chunk<'a>>,
    /// Bytes spent on the header and chunk framing, i.e. everything but payloads.
    pub overhead_bytes: usize,
}

impl<'a> Container<'a> {
    /// Parses and verifies a whole file: magic, version, header CRC, every
    /// chunk CRC, and that nothing follows the last chunk.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut input = bytes;
        let header = Header::read_fields(&mut input)?;
        let header_len = bytes.len() - input.len();
        let stored = u32::from_le_bytes(header::take(&mut input, 4, "header CRC-32")?.try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&bytes[..header_len]);
        if stored != computed {
            return Err(Error::HeaderCrc { stored, computed });
        }
        let (chunks, rest) = read_chunk_sequence(input)?;
        if !rest.is_empty() {
            return Err(Error::InvalidField {
                field: "file",
                detail: format!("{} bytes after the last chunk", rest.len()),
            });
        }
        let payload: usize = chunks.iter().map(|c| c.payload.len()).sum();
        Ok(Container { header, chunks, overhead_bytes: bytes.len() - payload })
    }

    /// The first chunk of `kind`, if any.
    pub fn first(&self, kind: ChunkKind) -> Option<&Chunk<'a>> {
        self.chunks.iter().find(|c| c.kind == kind)
    }

    /// The first chunk of `kind`, or an error naming what is missing.
    pub fn require(&self, kind: ChunkKind) -> Result<&Chunk<'a>> {
        self.first(kind).ok_or_else(|| Error::InvalidField {
            field: "file",
            detail: format!("required {} chunk is missing", kind.name()),
        })
    }

    /// All chunks of `kind`, in file order.
    pub fn all(&self, kind: ChunkKind) -> impl Iterator<Item = &Chunk<'a>> + '_ {
        self.chunks.iter().filter(move |c| c.kind == kind)
    }
}

#[cfg(test)]
mod tests;
