//! RGB <-> YCbCr (BT.601, full range), as float planes with luma centred on 0.

/// Splits interleaved RGB8 into Y - 128, Cb and Cr planes.
pub fn rgb8_to_ycbcr(rgb: &[u8]) -> [Vec<f32>; 3] {
    let n = rgb.len() / 3;
    let mut planes = [Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n)];
    for px in rgb.chunks_exact(3) {
        let (r, g, b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
        planes[0].push(0.299 * r + 0.587 * g + 0.114 * b - 128.0);
        planes[1].push(-0.168_735_9 * r - 0.331_264_1 * g + 0.5 * b);
        planes[2].push(0.5 * r - 0.418_687_6 * g - 0.081_312_4 * b);
    }
    planes
}

/// Inverse of [`rgb8_to_ycbcr`], rounding and clamping to 8 bits (NaN becomes 0).
pub fn ycbcr_to_rgb8(planes: &[Vec<f32>; 3]) -> Vec<u8> {
    let to_u8 = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(planes[0].len() * 3);
    for ((&y, &cb), &cr) in planes[0].iter().zip(&planes[1]).zip(&planes[2]) {
        let y = y + 128.0;
        out.push(to_u8(y + 1.402 * cr));
        out.push(to_u8(y - 0.344_136_3 * cb - 0.714_136_3 * cr));
        out.push(to_u8(y + 1.772 * cb));
    }
    out
}
