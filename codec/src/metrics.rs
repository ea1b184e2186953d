//! Distortion and rate measured the way the field reports them.

/// PSNR in dB between two 8-bit images of the same size (any channel
/// layout), over all samples: 10·log10(255² / MSE). Identical images give +∞.
pub fn psnr_u8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "PSNR needs equal-sized images");
    let sse: u64 = a.iter().zip(b).map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2) as u64).sum();
    if sse == 0 {
        return f64::INFINITY;
    }
    let mse = sse as f64 / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// Bits per pixel of a file of `bytes` bytes for a `width`×`height` image.
pub fn bits_per_pixel(bytes: usize, width: u32, height: u32) -> f64 {
    (bytes * 8) as f64 / (f64::from(width) * f64::from(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        // Every sample off by 1: MSE 1 → 48.13 dB.
        let a = vec![10u8; 300];
        let b = vec![11u8; 300];
        assert!((psnr_u8(&a, &b) - 48.1308).abs() < 1e-3);
        assert!(psnr_u8(&a, &a).is_infinite());
        assert_eq!(bits_per_pixel(100, 10, 10), 8.0);
    }
}
