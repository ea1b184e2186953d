use super::*;
use crate::error::Error;

fn kodak_header() -> Header {
    Header {
        kind: StreamKind::Image,
        colour: ColourFormat::Rgb,
        bit_depth: 8,
        model_id: 3,
        weights_fingerprint: [0xde, 0xad, 0xbe, 0xef],
        params: CodingParams { quality: 3, rate_param: 0 },
        width: 768,
        height: 512,
    }
}

fn two_stream_file(hyper: usize, latent: usize) -> Vec<u8> {
    let mut w = ContainerWriter::new(kodak_header());
    w.push(ChunkKind::HyperLatent, vec![0x11; hyper]).push(ChunkKind::Latent, vec![0x22; latent]);
    w.finish().unwrap()
}

#[test]
fn round_trips_header_and_chunks() {
    let bytes = two_stream_file(1500, 40_000);
    let c = Container::parse(&bytes).unwrap();
    assert_eq!(c.header, kodak_header());
    assert_eq!(c.chunks.len(), 2);
    assert_eq!(c.require(ChunkKind::HyperLatent).unwrap().payload, &[0x11; 1500][..]);
    assert_eq!(c.require(ChunkKind::Latent).unwrap().payload.len(), 40_000);
}

#[test]
fn image_with_two_streams_costs_under_40_bytes() {
    // Typical Kodak sizes: a ~1.5 kB hyper-latent and a ~40 kB latent stream.
    let bytes = two_stream_file(1500, 40_000);
    let c = Container::parse(&bytes).unwrap();
    assert_eq!(c.overhead_bytes, 38, "docs/format.md states this figure");
    assert!(c.overhead_bytes < 40);
}

#[test]
fn unknown_chunks_are_kept_for_skipping() {
    let mut w = ContainerWriter::new(kodak_header());
    w.push(ChunkKind::Unknown(200), b"future".to_vec()).push(ChunkKind::Latent, vec![1, 2, 3]);
    let bytes = w.finish().unwrap();
    let c = Container::parse(&bytes).unwrap();
    assert_eq!(c.chunks[0].kind, ChunkKind::Unknown(200));
    assert_eq!(c.require(ChunkKind::Latent).unwrap().payload, &[1, 2, 3]);
    assert!(c.require(ChunkKind::HyperLatent).is_err());
}

#[test]
fn unknown_major_version_is_refused_with_its_number() {
    let mut bytes = two_stream_file(10, 10);
    bytes[4] = 2;
    bytes[5] = 7;
    let err = Container::parse(&bytes).unwrap_err();
    assert_eq!(err, Error::UnsupportedVersion { major: 2, minor: 7, supported: 1 });
    assert!(err.to_string().contains("2.7"));
}

#[test]
fn newer_minor_version_is_read() {
    let mut bytes = two_stream_file(10, 10);
    bytes[5] = 9;
    // Fix the header CRC for the changed byte.
    let mut input = &bytes[..];
    Header::read_fields(&mut input).unwrap();
    let header_len = bytes.len() - input.len();
    let crc = crc32fast::hash(&bytes[..header_len]).to_le_bytes();
    bytes[header_len..header_len + 4].copy_from_slice(&crc);
    assert!(Container::parse(&bytes).is_ok());
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = two_stream_file(20, 30);
    for len in 0..bytes.len() {
        assert!(Container::parse(&bytes[..len]).is_err(), "prefix of {len} bytes parsed");
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let bytes = two_stream_file(20, 30);
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(Container::parse(&b).is_err(), "flip of byte {i} bit {bit} was accepted");
        }
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    let mut bytes = two_stream_file(5, 5);
    bytes.push(0);
    assert!(Container::parse(&bytes).is_err());
}

#[test]
fn huge_declared_lengths_are_refused_before_allocating() {
    let mut bytes = two_stream_file(0, 0);
    let body = bytes.len() - 2 * 6 - 1; // header + CRC, before the chunk count
    bytes.truncate(body);
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]); // chunk count ~ 2^28
    assert!(matches!(Container::parse(&bytes), Err(Error::LengthOutOfBounds { .. })));
    bytes.truncate(body);
    bytes.extend_from_slice(&[1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f]); // one chunk of ~2^32 bytes
    assert!(matches!(Container::parse(&bytes), Err(Error::LengthOutOfBounds { .. })));
}

#[test]
fn nested_payloads_round_trip() {
    let rect = TileRect { x: 512, y: 0, width: 512, height: 488 };
    let tile = write_tile(rect, [(ChunkKind::Latent, &b"abc"[..])].into_iter());
    let (r, chunks) = read_tile(&tile).unwrap();
    assert_eq!(r, rect);
    assert_eq!(chunks[0].payload, b"abc");

    let frame = write_frame(41, [(ChunkKind::HyperLatent, &b"z"[..]), (ChunkKind::Latent, &b"y"[..])].into_iter());
    let (index, chunks) = read_frame(&frame).unwrap();
    assert_eq!(index, 41);
    assert_eq!(chunks.len(), 2);

    let meta = write_metadata(&[("encoder", "neco 0.1"), ("icc", "")]);
    assert_eq!(
        read_metadata(&meta).unwrap(),
        vec![("encoder".to_string(), "neco 0.1".to_string()), ("icc".to_string(), String::new())]
    );
    for len in 0..meta.len() {
        assert!(read_metadata(&meta[..len]).is_err());
    }
}

#[test]
fn writer_refuses_impossible_headers() {
    let mut h = kodak_header();
    h.width = 0;
    assert!(ContainerWriter::new(h.clone()).finish().is_err());
    h.width = 1;
    h.bit_depth = 9;
    assert!(ContainerWriter::new(h).finish().is_err());
}

#[test]
fn tile_grid_round_trips_and_cuts_odd_sizes() {
    let grid = TileGrid::new(150, 100, 64, 64).unwrap();
    assert_eq!(grid, TileGrid { tile_width: 64, tile_height: 64, columns: 3, rows: 2 });
    let payload = write_tile_grid(&grid);
    assert_eq!(payload, [0, 64, 64, 3, 2], "method byte, then four one-byte varints");
    assert_eq!(read_tile_grid(&payload).unwrap(), grid);
    grid.check(150, 100).unwrap();
    let rects: Vec<_> = grid.rects(150, 100).collect();
    assert_eq!(rects.len() as u64, grid.tile_count());
    assert_eq!(rects[0], TileRect { x: 0, y: 0, width: 64, height: 64 });
    assert_eq!(rects[2], TileRect { x: 128, y: 0, width: 22, height: 64 });
    assert_eq!(rects[5], TileRect { x: 128, y: 64, width: 22, height: 36 });
    assert_eq!(rects.iter().map(|r| u64::from(r.width) * u64::from(r.height)).sum::<u64>(), 150 * 100);
    // A tile larger than the image: one tile, cut to the image.
    let one = TileGrid::new(150, 100, 1024, 1024).unwrap();
    assert_eq!(one.rects(150, 100).collect::<Vec<_>>(), [TileRect { x: 0, y: 0, width: 150, height: 100 }]);
    assert!(TileGrid::new(150, 100, 0, 64).is_err());
}

#[test]
fn tile_grid_that_disagrees_with_the_image_is_refused() {
    let grid = TileGrid::new(150, 100, 64, 64).unwrap();
    for (w, h) in [(193, 100), (128, 100), (150, 129), (150, 64), (1, 1)] {
        let err = grid.check(w, h).unwrap_err();
        assert!(matches!(err, Error::InvalidField { field: "tile grid", .. }), "{w}x{h}: {err}");
    }
    // The exact edges still fit.
    grid.check(129, 65).unwrap();
    grid.check(192, 128).unwrap();
    let extra_row = TileGrid { rows: 3, ..grid };
    assert!(extra_row.check(150, 100).is_err());
}

#[test]
fn malformed_tile_grids_are_errors() {
    let payload = write_tile_grid(&TileGrid::new(5000, 3000, 1024, 1024).unwrap());
    for len in 0..payload.len() {
        assert!(read_tile_grid(&payload[..len]).is_err(), "prefix of {len} bytes parsed");
    }
    let mut trailing = payload.clone();
    trailing.push(0);
    assert!(read_tile_grid(&trailing).is_err());
    let mut method = payload.clone();
    method[0] = 1;
    assert!(read_tile_grid(&method).unwrap_err().to_string().contains("unknown method 1"));
    assert!(read_tile_grid(&[0, 64, 0, 1, 1]).is_err(), "zero tile height");
    assert!(read_tile_grid(&[0, 64, 64, 1, 0]).is_err(), "zero rows");
    // A size beyond MAX_DIMENSION.
    let mut huge = vec![0];
    crate::varint::write_u64(&mut huge, u64::from(MAX_DIMENSION) + 1);
    huge.extend_from_slice(&[64, 1, 1]);
    assert!(matches!(read_tile_grid(&huge), Err(Error::LengthOutOfBounds { .. })));
    assert_eq!(ChunkKind::from_byte(8), ChunkKind::TileGrid);
    assert_eq!(ChunkKind::TileGrid.to_byte(), 8);
    assert_eq!(ChunkKind::TileGrid.name(), "tile-grid");
}
