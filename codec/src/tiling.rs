//! Large images through learned models, in independent tiles with bounded memory.
//!
//! A learned model's activations grow with the image: coding a whole 8000×6000 photo at once
//! would take tens of GB. Above [`AUTO_TILE_PIXELS`] (or whenever
//! [`EncodeParams::tile`](crate::EncodeParams::tile) asks), the image is cut into a grid of
//! tiles ([`DEFAULT_TILE`] pixels square, the last column and row cut short), and each tile is
//! coded exactly as a whole image of its size: its own hyper-latent, latent and symbol
//! checksum, nested in a `tile` chunk. The file then holds (docs/format.md, "Tiled images"):
//!
//! ```text
//! tile-grid    method 0, tile width, tile height, columns, rows
//! tile × n     x, y, width, height, then [hyper-latent, latent, symbol-checksum]; raster order
//! alpha        (if any) the whole image's alpha plane, as in untiled files
//! ```
//!
//! Encoder and decoder hold one tile's tensors at a time, plus the 8-bit image and the
//! compressed file. Tiles share nothing, so their seams may show at low rates; docs/tiling.md
//! measures what tiling costs on Kodak and what it saves in memory.

use crate::learned::{LearnedCodec, RefineSettings};
use anyhow::{bail, ensure, Context, Result};
use neco_bitstream::container::{
    read_tile, read_tile_grid, write_tile, write_tile_grid, ChunkKind, Container, TileGrid, TileRect,
};

/// Images with more pixels than this (2048 × 2048) are coded in tiles when the caller does not
/// choose; at or below it they are coded whole, exactly as before tiling existed.
pub(crate) const AUTO_TILE_PIXELS: u64 = 1 << 22;
/// The tile side used when the caller does not choose (rounded up to the model's stride).
pub(crate) const DEFAULT_TILE: u32 = 1024;
/// Largest tile (and largest untiled learned image) a decoder accepts, in pixels: what one
/// piece costs in memory stays what a whole image cost before tiling (4096 × 4096).
pub(crate) const MAX_PIECE_PIXELS: u64 = 1 << 24;

/// The tile side to code a `width × height` image with, or `None` to code it whole.
///
/// `requested` forces tiling at that side (a multiple of the model's `stride`, at most 4096),
/// however small the image; `None` tiles only images over [`AUTO_TILE_PIXELS`].
pub(crate) fn tile_side(width: u32, height: u32, requested: Option<u32>, stride: u32) -> Result<Option<u32>> {
    match requested {
        Some(side) => {
            ensure!(
                side > 0 && side % stride == 0,
                "tile size {side} is not a positive multiple of the model's stride {stride}"
            );
            ensure!(
                u64::from(side) * u64::from(side) <= MAX_PIECE_PIXELS,
                "tile size {side} is above the largest tile a decoder accepts ({0}x{0})",
                (MAX_PIECE_PIXELS as f64).sqrt() as u32
            );
            Ok(Some(side))
        }
        None if u64::from(width) * u64::from(height) > AUTO_TILE_PIXELS => {
            Ok(Some(DEFAULT_TILE.div_ceil(stride) * stride))
        }
        None => Ok(None),
    }
}

/// Codes an 8-bit RGB image in `side × side` tiles: returns the tile-grid chunk, then one
/// tile chunk per tile in raster order.
pub(crate) fn encode(
    codec: &LearnedCodec,
    rgb: &[u8],
    width: u32,
    height: u32,
    rate_param: u32,
    side: u32,
    refine: Option<RefineSettings>,
) -> Result<Vec<(ChunkKind, Vec<u8>)>> {
    ensure!(rgb.len() as u64 == u64::from(width) * u64::from(height) * 3, "RGB buffer of the wrong size");
    let grid = TileGrid::new(width, height, side, side)?;
    let mut chunks = vec![(ChunkKind::TileGrid, write_tile_grid(&grid))];
    let mut pixels = Vec::new();
    for (index, rect) in grid.rects(width, height).enumerate() {
        copy_tile_out(rgb, width, rect, &mut pixels);
        let streams = codec
            .encode_rgb8(&pixels, rect.width, rect.height, rate_param, refine)
            .with_context(|| format!("tile {index} ({})", describe(rect)))?;
        chunks.push((ChunkKind::Tile, write_tile(rect, streams.iter().map(|(k, p)| (*k, p.as_slice())))));
    }
    Ok(chunks)
}

/// Whether a file holds its image in tiles (it has a tile-grid chunk).
pub(crate) fn is_tiled(container: &Container<'_>) -> bool {
    container.first(ChunkKind::TileGrid).is_some()
}

/// Decodes a tiled file to 8-bit RGB of the header's size, tile by tile.
///
/// Everything about the layout is checked before the first tile is decoded: one tile grid that
/// cuts exactly the header's image, pieces no larger than [`MAX_PIECE_PIXELS`], no whole-image
/// streams beside it, and exactly one tile chunk per tile; each tile's rectangle must then be
/// the grid's, in raster order.
pub(crate) fn decode(codec: &LearnedCodec, container: &Container<'_>) -> Result<Vec<u8>> {
    let h = &container.header;
    let mut grids = container.all(ChunkKind::TileGrid);
    let grid = read_tile_grid(grids.next().context("not a tiled file")?.payload)?;
    ensure!(grids.next().is_none(), "corrupt tiled file: more than one tile-grid chunk");
    grid.check(h.width, h.height)?;
    let piece = u64::from(grid.tile_width.min(h.width)) * u64::from(grid.tile_height.min(h.height));
    ensure!(
        piece <= MAX_PIECE_PIXELS,
        "tiles of {}x{} are larger than this decoder accepts",
        grid.tile_width,
        grid.tile_height
    );
    for kind in [ChunkKind::HyperLatent, ChunkKind::Latent, ChunkKind::SymbolChecksum] {
        ensure!(
            container.first(kind).is_none(),
            "corrupt tiled file: a whole-image {} chunk beside the tiles",
            kind.name()
        );
    }
    let tiles: Vec<_> = container.all(ChunkKind::Tile).collect();
    if tiles.len() as u64 != grid.tile_count() {
        bail!(
            "corrupt tiled file: the grid has {} tiles ({}x{}), the file {} tile chunks",
            grid.tile_count(),
            grid.columns,
            grid.rows,
            tiles.len()
        );
    }
    let mut rgb = vec![0u8; h.width as usize * h.height as usize * 3];
    for (index, (chunk, expected)) in tiles.iter().zip(grid.rects(h.width, h.height)).enumerate() {
        let (rect, streams) = read_tile(chunk.payload).with_context(|| format!("tile {index}"))?;
        ensure!(
            rect == expected,
            "corrupt tiled file: tile {index} covers {}, the grid puts {} there",
            describe(rect),
            describe(expected)
        );
        let pixels = codec
            .decode_streams(&streams, rect.width, rect.height, h.params.rate_param)
            .with_context(|| format!("tile {index} ({})", describe(rect)))?;
        copy_tile_in(&pixels, &mut rgb, h.width, rect);
    }
    Ok(rgb)
}

/// Copies the `rect` of a `width`-wide RGB image into `out` (resized to the tile).
fn copy_tile_out(rgb: &[u8], width: u32, rect: TileRect, out: &mut Vec<u8>) {
    let row = rect.width as usize * 3;
    out.clear();
    out.reserve(row * rect.height as usize);
    for y in rect.y..rect.y + rect.height {
        let start = (y as usize * width as usize + rect.x as usize) * 3;
        out.extend_from_slice(&rgb[start..start + row]);
    }
}

/// Writes a decoded tile into its `rect` of a `width`-wide RGB image.
fn copy_tile_in(tile: &[u8], rgb: &mut [u8], width: u32, rect: TileRect) {
    let row = rect.width as usize * 3;
    for (i, src) in tile.chunks_exact(row).enumerate() {
        let start = ((rect.y as usize + i) * width as usize + rect.x as usize) * 3;
        rgb[start..start + row].copy_from_slice(src);
    }
}

fn describe(rect: TileRect) -> String {
    format!("{}x{} at {},{}", rect.width, rect.height, rect.x, rect.y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_side_rules() {
        assert_eq!(tile_side(2048, 2048, None, 64).unwrap(), None, "at the threshold: whole");
        assert_eq!(tile_side(2048, 2049, None, 64).unwrap(), Some(1024));
        assert_eq!(tile_side(8000, 6000, None, 16).unwrap(), Some(1024));
        assert_eq!(tile_side(8000, 6000, None, 48).unwrap(), Some(1056), "rounded up to the stride");
        assert_eq!(tile_side(10, 10, Some(64), 64).unwrap(), Some(64), "forced, however small");
        assert!(tile_side(10, 10, Some(100), 64).is_err());
        assert!(tile_side(10, 10, Some(0), 64).is_err());
        assert_eq!(tile_side(10, 10, Some(4096), 64).unwrap(), Some(4096));
        assert!(tile_side(10, 10, Some(4160), 64).is_err());
    }

    #[test]
    fn tiles_copy_out_and_back() {
        let (width, height) = (150u32, 100u32);
        let rgb: Vec<u8> = (0..width * height * 3).map(|i| (i * 7 % 251) as u8).collect();
        let grid = TileGrid::new(width, height, 64, 64).unwrap();
        let mut back = vec![0u8; rgb.len()];
        let mut tile = Vec::new();
        for rect in grid.rects(width, height) {
            copy_tile_out(&rgb, width, rect, &mut tile);
            assert_eq!(tile.len(), (rect.width * rect.height * 3) as usize);
            copy_tile_in(&tile, &mut back, width, rect);
        }
        assert_eq!(back, rgb);
    }
}
