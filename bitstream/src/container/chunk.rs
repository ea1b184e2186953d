//! Typed, length-prefixed, CRC-protected chunks.

use crate::container::header::take;
use crate::error::{ChunkName, Error, Result};
use crate::varint;

/// Largest chunk payload a reader accepts (1 GiB). Real payloads are far
/// smaller; the limit only stops absurd lengths early.
pub const MAX_CHUNK_LEN: u64 = 1 << 30;
/// Largest number of chunks one sequence may declare.
pub const MAX_CHUNKS: u64 = 1 << 20;

/// What a chunk holds. Unknown types are preserved so readers can skip them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    /// Entropy-coded hyper-latent symbols (ẑ).
    HyperLatent,
    /// Entropy-coded latent symbols (ŷ); a model may write several.
    Latent,
    /// One video frame: frame index, then nested chunks.
    Frame,
    /// One tile of a large image: geometry, then nested chunks.
    Tile,
    /// UTF-8 key/value pairs.
    Metadata,
    /// A checksum of the decoded symbols, to turn a desync into an error.
    SymbolChecksum,
    /// An alpha plane coded losslessly.
    Alpha,
    /// The tile grid of an image coded in tiles: tile size and counts; the tiles follow as
    /// `Tile` chunks in raster order.
    TileGrid,
    Unknown(u8),
}

impl ChunkKind {
    pub fn to_byte(self) -> u8 {
        match self {
            ChunkKind::HyperLatent => 1,
            ChunkKind::Latent => 2,
            ChunkKind::Frame => 3,
            ChunkKind::Tile => 4,
            ChunkKind::Metadata => 5,
            ChunkKind::SymbolChecksum => 6,
            ChunkKind::Alpha => 7,
            ChunkKind::TileGrid => 8,
            ChunkKind::Unknown(b) => b,
        }
    }

    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => ChunkKind::HyperLatent,
            2 => ChunkKind::Latent,
            3 => ChunkKind::Frame,
            4 => ChunkKind::Tile,
            5 => ChunkKind::Metadata,
            6 => ChunkKind::SymbolChecksum,
            7 => ChunkKind::Alpha,
            8 => ChunkKind::TileGrid,
            other => ChunkKind::Unknown(other),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChunkKind::HyperLatent => "hyper-latent",
            ChunkKind::Latent => "latent",
            ChunkKind::Frame => "frame",
            ChunkKind::Tile => "tile",
            ChunkKind::Metadata => "metadata",
            ChunkKind::SymbolChecksum => "symbol-checksum",
            ChunkKind::Alpha => "alpha",
            ChunkKind::TileGrid => "tile-grid",
            ChunkKind::Unknown(_) => "unknown",
        }
    }

    pub fn is_known(self) -> bool {
        !matches!(self, ChunkKind::Unknown(_))
    }
}

/// A chunk as read from a file: its payload borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub kind: ChunkKind,
    pub payload: &'a [u8],
}

/// Appends one framed chunk: type, varint length, payload, CRC-32.
pub fn write_chunk(out: &mut Vec<u8>, kind: ChunkKind, payload: &[u8]) {
    let start = out.len();
    out.push(kind.to_byte());
    varint::write_u64(out, payload.len() as u64);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Appends a chunk count and then each chunk: the form used at the top level
/// and inside `Frame` and `Tile` payloads.
pub fn write_chunk_sequence<'c>(out: &mut Vec<u8>, chunks: impl ExactSizeIterator<Item = (ChunkKind, &'c [u8])>) {
    varint::write_u64(out, chunks.len() as u64);
    for (kind, payload) in chunks {
        write_chunk(out, kind, payload);
    }
}

/// Reads a chunk count followed by that many chunks, checking every CRC and
/// refusing any length that runs past the input before touching it.
/// Returns the chunks and the unread rest of the input.
pub fn read_chunk_sequence(mut input: &[u8]) -> Result<(Vec<Chunk<'_>>, &[u8])> {
    let count = varint::read_bounded(&mut input, "chunk count", MAX_CHUNKS)?;
    // Each chunk needs at least 6 bytes, so a count the input cannot hold is refused
    // before the vector is allocated.
    if count > input.len() as u64 / 6 {
        return Err(Error::LengthOutOfBounds { what: "chunk count", value: count, limit: input.len() as u64 / 6 });
    }
    let mut chunks = Vec::with_capacity(count as usize);
    for index in 0..count as usize {
        let start = input;
        let kind_byte = take(&mut input, 1, "chunk type")?[0];
        let limit = MAX_CHUNK_LEN.min(input.len() as u64);
        let len = varint::read_bounded(&mut input, "chunk length", limit)? as usize;
        let payload = take(&mut input, len, "chunk payload")?;
        let framed_len = start.len() - input.len();
        let stored = u32::from_le_bytes(take(&mut input, 4, "chunk CRC-32")?.try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&start[..framed_len]);
        if stored != computed {
            return Err(Error::ChunkCrc { kind: ChunkName(kind_byte), index, stored, computed });
        }
        chunks.push(Chunk { kind: ChunkKind::from_byte(kind_byte), payload });
    }
    Ok((chunks, input))
}

/// Reads a nested chunk sequence that must fill `payload` exactly.
pub fn read_nested_chunks(payload: &[u8]) -> Result<Vec<Chunk<'_>>> {
    let (chunks, rest) = read_chunk_sequence(payload)?;
    if !rest.is_empty() {
        return Err(Error::InvalidField { field: "nested chunks", detail: format!("{} trailing bytes", rest.len()) });
    }
    Ok(chunks)
}
