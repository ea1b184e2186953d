//! Tiled coding with the built-in learned model: small images forced into 64-pixel tiles
//! (the model's stride), so every edge case of the grid is cheap to reach.

use image::{DynamicImage, GenericImageView, RgbImage, RgbaImage};
use neco::metrics::psnr_u8;
use neco::{Codec, EncodeParams};
use neco_bitstream::container::{
    read_tile, read_tile_grid, write_tile, write_tile_grid, Chunk, ChunkKind, Container, ContainerWriter, Header,
    TileGrid, TileRect,
};

const QUALITY: u8 = 60;

/// A 150×100 crop of kodim23 (real texture and edges crossing the tile seams).
fn photo(width: u32, height: u32) -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/kodim23.png");
    let full = image::open(path).expect("assets/kodim23.png").to_rgb8();
    image::imageops::crop_imm(&full, 300, 200, width, height).to_image()
}

fn params(tile: Option<u32>) -> EncodeParams {
    EncodeParams { quality: Some(QUALITY), tile, ..Default::default() }
}

fn kinds(bytes: &[u8]) -> Vec<ChunkKind> {
    Container::parse(bytes).unwrap().chunks.iter().map(|c| c.kind).collect()
}

/// Re-serialises a file after `edit` changed its header and (owned) chunks; every CRC is
/// recomputed, so only the decoder's own checks can catch the change.
fn rewrite(bytes: &[u8], edit: impl FnOnce(&mut Header, &mut Vec<(ChunkKind, Vec<u8>)>)) -> Vec<u8> {
    let c = Container::parse(bytes).unwrap();
    let mut header = c.header.clone();
    let mut chunks: Vec<_> = c.chunks.iter().map(|ch| (ch.kind, ch.payload.to_vec())).collect();
    edit(&mut header, &mut chunks);
    let mut w = ContainerWriter::new(header);
    for (kind, payload) in chunks {
        w.push(kind, payload);
    }
    w.finish().unwrap()
}

fn decode_error(codec: &Codec, bytes: &[u8]) -> String {
    match codec.decode_image(bytes) {
        Ok(img) => panic!("a broken file decoded to a {}x{} image", img.width(), img.height()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn tiles_round_trip_close_to_the_whole_image() {
    let codec = Codec::load("hyperprior").unwrap();
    let image = DynamicImage::ImageRgb8(photo(150, 100));
    let whole = codec.encode_image(&image, &params(None)).unwrap();
    let tiled = codec.encode_image(&image, &params(Some(64))).unwrap();

    // The small image is coded whole, exactly as before tiling existed...
    assert_eq!(kinds(&whole), [ChunkKind::HyperLatent, ChunkKind::Latent, ChunkKind::SymbolChecksum]);
    // ...and forced into a 3×2 grid of 64-pixel tiles (edge tiles 22 wide, 36 high).
    let mut expected = vec![ChunkKind::TileGrid];
    expected.extend([ChunkKind::Tile; 6]);
    assert_eq!(kinds(&tiled), expected);
    let c = Container::parse(&tiled).unwrap();
    let grid = read_tile_grid(c.chunks[0].payload).unwrap();
    assert_eq!(grid, TileGrid { tile_width: 64, tile_height: 64, columns: 3, rows: 2 });
    for (chunk, rect) in c.chunks[1..].iter().zip(grid.rects(150, 100)) {
        let (r, nested) = read_tile(chunk.payload).unwrap();
        assert_eq!(r, rect);
        let nested: Vec<_> = nested.iter().map(|n| n.kind).collect();
        assert_eq!(nested, [ChunkKind::HyperLatent, ChunkKind::Latent, ChunkKind::SymbolChecksum]);
    }

    let a = codec.decode_image(&whole).unwrap().to_rgb8();
    let b = codec.decode_image(&tiled).unwrap().to_rgb8();
    assert_eq!(b.dimensions(), (150, 100));
    let original = image.to_rgb8();
    let (psnr_whole, psnr_tiled) = (psnr_u8(original.as_raw(), a.as_raw()), psnr_u8(original.as_raw(), b.as_raw()));
    // 64-pixel tiles are the worst case: each tile pays its own padding and hyper-latent, and
    // every pixel is near a seam (measured: 35.19 dB whole, 34.17 dB tiled, 1.5× the bytes).
    // docs/tiling.md measures real tile sizes.
    assert!((psnr_whole - psnr_tiled).abs() < 1.5, "whole {psnr_whole:.2} dB, tiled {psnr_tiled:.2} dB");
    assert!(psnr_tiled > 25.0, "tiled {psnr_tiled:.2} dB");
    assert!(tiled.len() < whole.len() * 2, "tiled {} bytes, whole {}", tiled.len(), whole.len());

    // Deterministic: the same pixels on a second decode, and with the model the file names.
    assert_eq!(codec.decode_image(&tiled).unwrap().to_rgb8(), b);
    assert_eq!(Codec::decode_any(&tiled).unwrap().to_rgb8(), b);
    // And the same file on a second encode.
    assert_eq!(codec.encode_image(&image, &params(Some(64))).unwrap(), tiled);
}

#[test]
fn odd_sizes_and_colour_formats_survive_tiling() {
    let codec = Codec::load("hyperprior").unwrap();
    // 65×129: one-pixel-wide tiles on the right, a one-pixel-high row at the bottom; 1×70: a
    // single column; 64×64: exactly one tile; 40×30: a tile larger than the image.
    for (w, h, tile) in [(65, 129, 64), (1, 70, 64), (64, 64, 64), (40, 30, 128)] {
        let image = DynamicImage::ImageRgb8(photo(w, h));
        let bytes = codec.encode_image(&image, &params(Some(tile))).unwrap();
        let grid = read_tile_grid(Container::parse(&bytes).unwrap().chunks[0].payload).unwrap();
        assert_eq!((grid.columns, grid.rows), (w.div_ceil(tile), h.div_ceil(tile)), "{w}x{h}");
        let decoded = codec.decode_image(&bytes).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (w, h));
        let psnr = psnr_u8(image.to_rgb8().as_raw(), decoded.as_raw());
        assert!(psnr > 20.0, "{w}x{h} in {tile}-pixel tiles: {psnr:.2} dB");
    }

    // Alpha stays one whole-image chunk after the tiles and comes back exactly; gray stays gray.
    let rgb = photo(100, 70);
    let rgba = RgbaImage::from_fn(100, 70, |x, y| {
        let p = rgb.get_pixel(x, y);
        image::Rgba([p[0], p[1], p[2], ((x * 3 + y) % 256) as u8])
    });
    let rgba = DynamicImage::ImageRgba8(rgba);
    let bytes = codec.encode_image(&rgba, &params(Some(64))).unwrap();
    assert_eq!(*kinds(&bytes).last().unwrap(), ChunkKind::Alpha);
    let decoded = codec.decode_image(&bytes).unwrap();
    assert_eq!(decoded.color(), image::ColorType::Rgba8);
    let alpha = |img: &DynamicImage| img.pixels().map(|(_, _, p)| p[3]).collect::<Vec<_>>();
    assert_eq!(alpha(&decoded), alpha(&rgba));
    let gray = DynamicImage::ImageLuma8(rgba.to_luma8());
    let decoded = codec.decode_image(&codec.encode_image(&gray, &params(Some(64))).unwrap()).unwrap();
    assert_eq!((decoded.color(), decoded.dimensions()), (image::ColorType::L8, (100, 70)));
}

#[test]
fn tile_settings_are_checked() {
    let hyper = Codec::load("hyperprior").unwrap();
    let image = DynamicImage::ImageRgb8(photo(20, 20));
    for bad in [0, 100, 8192] {
        let err = hyper.encode_image(&image, &params(Some(bad))).unwrap_err().to_string();
        assert!(err.contains("tile size"), "{bad}: {err}");
    }
    let wavelet = Codec::load("wavelet").unwrap();
    let err = wavelet.encode_image(&image, &params(Some(64))).unwrap_err().to_string();
    assert!(err.contains("tiles are for learned models"), "{err}");
}

#[test]
fn broken_tiled_files_are_errors_not_panics() {
    let codec = Codec::load("hyperprior").unwrap();
    let image = DynamicImage::ImageRgb8(photo(150, 100));
    let bytes = codec.encode_image(&image, &params(Some(64))).unwrap();
    let tile_chunk = |i: usize| 1 + i; // the grid comes first

    // Cut short anywhere, or a flipped bit: the container's lengths and CRCs catch it.
    for len in [0, 10, 30, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        assert!(codec.decode_image(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
    for i in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        decode_error(&codec, &b);
    }

    // A missing tile, an extra one.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| drop(c.remove(tile_chunk(3)))));
    assert!(err.contains("the grid has 6 tiles (3x2), the file 5 tile chunks"), "{err}");
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| c.push(c[tile_chunk(0)].clone())));
    assert!(err.contains("the file 7 tile chunks"), "{err}");
    // No grid: the file reads as an untiled one, which lacks its streams.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| drop(c.remove(0))));
    assert!(err.contains("required hyper-latent chunk is missing") || err.contains("latent chunk is missing"), "{err}");
    // Two grids.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| c.insert(0, c[0].clone())));
    assert!(err.contains("more than one tile-grid"), "{err}");

    // A grid that disagrees with the header: other tile sizes, other counts, another image size.
    let set_grid =
        |grid: TileGrid| move |_: &mut Header, c: &mut Vec<(ChunkKind, Vec<u8>)>| c[0].1 = write_tile_grid(&grid);
    let err = decode_error(
        &codec,
        &rewrite(&bytes, set_grid(TileGrid { tile_width: 32, tile_height: 64, columns: 3, rows: 2 })),
    );
    assert!(err.contains("do not cut a 150x100 image"), "{err}");
    let err = decode_error(
        &codec,
        &rewrite(&bytes, set_grid(TileGrid { tile_width: 64, tile_height: 64, columns: 3, rows: 3 })),
    );
    assert!(err.contains("do not cut a 150x100 image"), "{err}");
    let err = decode_error(&codec, &rewrite(&bytes, |h, _| h.width = 200));
    assert!(err.contains("do not cut a 200x100 image"), "{err}");
    // Same grid shape, but the edge tiles no longer match the header's size.
    let err = decode_error(&codec, &rewrite(&bytes, |h, _| h.width = 151));
    assert!(err.contains("tile 2 covers 22x64 at 128,0, the grid puts 23x64 at 128,0 there"), "{err}");
    // Tiles out of order.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| c.swap(tile_chunk(0), tile_chunk(1))));
    assert!(err.contains("tile 0 covers 64x64 at 64,0"), "{err}");
    // Whole-image streams beside the tiles.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| c.push((ChunkKind::Latent, vec![0; 8]))));
    assert!(err.contains("whole-image latent chunk beside the tiles"), "{err}");
    // An unknown grid method.
    let err = decode_error(&codec, &rewrite(&bytes, |_, c| c[0].1[0] = 7));
    assert!(err.contains("unknown method 7"), "{err}");

    // Inside a tile (CRCs intact): a lost symbol checksum, a corrupted latent stream, a tile
    // whose nested chunks are garbage.
    let edit_tile = |index: usize, f: fn(&mut Vec<(ChunkKind, Vec<u8>)>)| {
        move |_: &mut Header, c: &mut Vec<(ChunkKind, Vec<u8>)>| {
            let (rect, nested) = read_tile(&c[tile_chunk(index)].1).unwrap();
            let mut nested: Vec<_> = nested.iter().map(|n: &Chunk| (n.kind, n.payload.to_vec())).collect();
            f(&mut nested);
            c[tile_chunk(index)].1 = write_tile(rect, nested.iter().map(|(k, p)| (*k, p.as_slice())));
        }
    };
    let err =
        decode_error(&codec, &rewrite(&bytes, edit_tile(4, |n| n.retain(|(k, _)| *k != ChunkKind::SymbolChecksum))));
    assert!(err.contains("tile 4") && err.contains("symbol-checksum chunk is missing"), "{err}");
    let err = decode_error(
        &codec,
        &rewrite(
            &bytes,
            edit_tile(5, |n| {
                let latent = &mut n[1].1;
                let mid = latent.len() / 2;
                latent[mid] ^= 0x5a;
            }),
        ),
    );
    assert!(err.contains("tile 5"), "{err}");
    let err = decode_error(
        &codec,
        &rewrite(&bytes, |_, c| {
            let rect = TileRect { x: 0, y: 0, width: 64, height: 64 };
            let mut payload = write_tile(rect, std::iter::empty());
            payload.push(0xff);
            c[tile_chunk(0)].1 = payload;
        }),
    );
    assert!(err.contains("tile 0"), "{err}");
}

#[test]
fn hostile_sizes_are_refused_before_decoding() {
    let codec = Codec::load("hyperprior").unwrap();
    let small = codec.encode_image(&DynamicImage::ImageRgb8(photo(64, 64)), &params(None)).unwrap();
    // An untiled learned file may not claim more than 4096×4096 pixels...
    let err = decode_error(&codec, &rewrite(&small, |h, _| (h.width, h.height) = (4097, 4096)));
    assert!(err.contains("larger than this decoder accepts"), "{err}");
    // ...nor a tiled one more than 2^28, or tiles over 4096×4096.
    let tiled = codec.encode_image(&DynamicImage::ImageRgb8(photo(64, 64)), &params(Some(64))).unwrap();
    let err = decode_error(&codec, &rewrite(&tiled, |h, _| (h.width, h.height) = (16385, 16384)));
    assert!(err.contains("larger than this decoder accepts"), "{err}");
    let err = decode_error(
        &codec,
        &rewrite(&tiled, |h, c| {
            (h.width, h.height) = (8192, 8192);
            c[0].1 = write_tile_grid(&TileGrid::new(8192, 8192, 8192, 4097).unwrap());
        }),
    );
    assert!(err.contains("tiles of 8192x4097 are larger than this decoder accepts"), "{err}");
    // A grid of a million tiles in a file that holds one: refused before any allocation.
    let err = decode_error(
        &codec,
        &rewrite(&tiled, |h, c| {
            (h.width, h.height) = (16384, 16384);
            c[0].1 = write_tile_grid(&TileGrid::new(16384, 16384, 16, 16).unwrap());
        }),
    );
    assert!(err.contains("the grid has 1048576 tiles"), "{err}");
}
