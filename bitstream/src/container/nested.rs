//! Payload layouts of the structured chunk types: frame, tile, tile grid and metadata.

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

/// The only tile-grid method so far: independent tiles that neither overlap nor share any
/// coding context, each coded like a whole image of its size.
pub const TILE_GRID_INDEPENDENT: u8 = 0;

/// How an image coded in tiles is cut (the `TileGrid` payload): `columns × rows` tiles of
/// `tile_width × tile_height` pixels in raster order, from the top-left corner; tiles in the
/// last column and row are cut short where the image ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileGrid {
    pub tile_width: u32,
    pub tile_height: u32,
    pub columns: u32,
    pub rows: u32,
}

impl TileGrid {
    /// The grid that cuts a `width × height` image into tiles of `tile_width × tile_height`.
    pub fn new(width: u32, height: u32, tile_width: u32, tile_height: u32) -> Result<Self> {
        if width == 0 || height == 0 || tile_width == 0 || tile_height == 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot cut a {width}x{height} image into {tile_width}x{tile_height} tiles"
            )));
        }
        Ok(Self { tile_width, tile_height, columns: width.div_ceil(tile_width), rows: height.div_ceil(tile_height) })
    }

    /// Checks that this grid cuts exactly a `width × height` image: as many columns and rows
    /// as it takes to cover the image, and no more.
    pub fn check(&self, width: u32, height: u32) -> Result<()> {
        let expected = Self::new(width, height, self.tile_width, self.tile_height)
            .map_err(|e| Error::InvalidField { field: "tile grid", detail: e.to_string() })?;
        if expected != *self {
            return Err(Error::InvalidField {
                field: "tile grid",
                detail: format!(
                    "{}x{} tiles of {}x{} do not cut a {width}x{height} image (that takes {}x{})",
                    self.columns, self.rows, self.tile_width, self.tile_height, expected.columns, expected.rows
                ),
            });
        }
        Ok(())
    }

    /// The number of tiles.
    pub fn tile_count(&self) -> u64 {
        u64::from(self.columns) * u64::from(self.rows)
    }

    /// The tiles of a `width × height` image that this grid cuts ([`check`](Self::check)),
    /// in raster order (the order of the `Tile` chunks).
    pub fn rects(&self, width: u32, height: u32) -> impl Iterator<Item = TileRect> + '_ {
        (0..self.rows).flat_map(move |row| {
            (0..self.columns).map(move |column| {
                let x = column.saturating_mul(self.tile_width);
                let y = row.saturating_mul(self.tile_height);
                TileRect {
                    x,
                    y,
                    width: self.tile_width.min(width.saturating_sub(x)),
                    height: self.tile_height.min(height.saturating_sub(y)),
                }
            })
        })
    }
}

/// A `TileGrid` payload: the method byte ([`TILE_GRID_INDEPENDENT`]), then `varint` tile
/// width, tile height, columns and rows.
pub fn write_tile_grid(grid: &TileGrid) -> Vec<u8> {
    let mut out = vec![TILE_GRID_INDEPENDENT];
    for v in [grid.tile_width, grid.tile_height, grid.columns, grid.rows] {
        varint::write_u64(&mut out, u64::from(v));
    }
    out
}

/// Reads a `TileGrid` payload; every field must be in `1..=MAX_DIMENSION` and nothing may follow.
/// Whether the grid fits the image is [`TileGrid::check`]'s business.
pub fn read_tile_grid(payload: &[u8]) -> Result<TileGrid> {
    let mut input = payload;
    let method = take(&mut input, 1, "tile-grid method")?[0];
    if method != TILE_GRID_INDEPENDENT {
        return Err(Error::InvalidField { field: "tile grid", detail: format!("unknown method {method}") });
    }
    let limit = u64::from(MAX_DIMENSION);
    let mut field = |what| varint::read_bounded(&mut input, what, limit).map(|v| v as u32);
    let grid = TileGrid {
        tile_width: field("tile width")?,
        tile_height: field("tile height")?,
        columns: field("tile columns")?,
        rows: field("tile rows")?,
    };
    if [grid.tile_width, grid.tile_height, grid.columns, grid.rows].contains(&0) {
        return Err(Error::InvalidField { field: "tile grid", detail: "a zero size or count".into() });
    }
    if !input.is_empty() {
        return Err(Error::InvalidField { field: "tile grid", detail: format!("{} trailing bytes", input.len()) });
    }
    Ok(grid)
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
