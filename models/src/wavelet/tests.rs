//! Round trips, odd sizes, hostile payloads and determinism.

use super::{WaveletCodec, WaveletConfig};

/// Gradients, an edge, a checkerboard patch and deterministic noise.
fn test_image(width: u32, height: u32) -> Vec<u8> {
    let mut state = 12345u32;
    let mut out = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (state >> 28) as i32 - 8;
            let edge = if x * 3 > width { 60 } else { 0 };
            let checker = if x < 8 && y < 8 && (x + y) % 2 == 0 { 90 } else { 0 };
            let base = [x * 200 / width.max(1), y * 200 / height.max(1), (x + y) * 100 / (width + height)];
            for b in base {
                out.push((b as i32 + edge + checker + noise).clamp(0, 255) as u8);
            }
        }
    }
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let sse: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    if sse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64.powi(2) / (sse / a.len() as f64)).log10()
}

#[test]
fn quality_trades_bytes_for_psnr() {
    let codec = WaveletCodec::new(WaveletConfig::default());
    let (w, h) = (64, 48);
    let img = test_image(w, h);
    let mut last = (0usize, 0.0f64);
    for q in [10, 40, 70, 100] {
        let bytes = codec.encode_rgb8(&img, w, h, q).unwrap();
        let decoded = codec.decode_rgb8(&bytes, w, h, q).unwrap();
        let p = psnr(&img, &decoded);
        assert!(bytes.len() > last.0 && p > last.1, "quality {q}: {} bytes, {p:.2} dB after {last:?}", bytes.len());
        last = (bytes.len(), p);
    }
    assert!(last.1 > 40.0, "quality 100 gives only {:.2} dB", last.1);
}

#[test]
fn odd_sizes_round_trip() {
    let codec = WaveletCodec::new(WaveletConfig::default());
    for (w, h) in [(1, 1), (3, 7), (17, 1), (1, 17), (1000, 17), (33, 65)] {
        let img = test_image(w, h);
        let bytes = codec.encode_rgb8(&img, w, h, 60).unwrap();
        let decoded = codec.decode_rgb8(&bytes, w, h, 60).unwrap();
        assert_eq!(decoded.len(), (w * h * 3) as usize, "{w}x{h}");
        assert!(psnr(&img, &decoded) > 20.0, "{w}x{h}: {:.2} dB", psnr(&img, &decoded));
    }
}

#[test]
fn encoding_is_deterministic() {
    let codec = WaveletCodec::new(WaveletConfig::default());
    let img = test_image(40, 30);
    assert_eq!(codec.encode_rgb8(&img, 40, 30, 50).unwrap(), codec.encode_rgb8(&img, 40, 30, 50).unwrap());
}

#[test]
fn hostile_payloads_do_not_panic() {
    let codec = WaveletCodec::new(WaveletConfig::default());
    let (w, h) = (24, 16);
    let bytes = codec.encode_rgb8(&test_image(w, h), w, h, 50).unwrap();
    for len in 0..bytes.len() {
        let _ = codec.decode_rgb8(&bytes[..len], w, h, 50);
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x24;
        let _ = codec.decode_rgb8(&b, w, h, 50);
    }
    let mut state = 7u32;
    for n in [0usize, 4, 8, 64, 400] {
        let random: Vec<u8> = (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        let _ = codec.decode_rgb8(&random, w, h, 50);
    }
}

#[test]
fn wrong_input_sizes_are_errors() {
    let codec = WaveletCodec::new(WaveletConfig::default());
    assert!(codec.encode_rgb8(&[0; 10], 2, 2, 50).is_err());
    assert!(codec.encode_rgb8(&[], 0, 0, 50).is_err());
}
