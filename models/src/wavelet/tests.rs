use super::transform::Layout;
use super::*;

/// A deterministic pseudo-random generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

/// Gradients, a disc, a diagonal edge and `noise` levels of noise.
fn synthetic(width: u32, height: u32, noise: u32, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let (w, h) = (width as f32, height as f32);
    let mut out = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / w, y as f32 / h);
            let disc = ((fx - 0.6).powi(2) + (fy - 0.4).powi(2)) < 0.05;
            let edge = fx + 0.5 * fy > 0.8;
            let base = [
                40.0 + 150.0 * fx + if disc { 50.0 } else { 0.0 },
                60.0 + 120.0 * fy + if edge { 60.0 } else { 0.0 },
                200.0 - 120.0 * fx * fy - if disc { 80.0 } else { 0.0 },
            ];
            for b in base {
                let n = if noise > 0 { (rng.next() % (2 * noise + 1)) as f32 - noise as f32 } else { 0.0 };
                out.push((b + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let se: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
    let mse = se / a.len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64.powi(2) / mse).log10()
}

fn round_trip(codec: &WaveletCodec, rgb: &[u8], w: u32, h: u32, quality: u8) -> (usize, f64) {
    let payload = codec.encode_rgb8(rgb, w, h, quality).unwrap();
    let decoded = codec.decode_rgb8(&payload, w, h, quality).unwrap();
    assert_eq!(decoded.len(), rgb.len());
    (payload.len(), psnr(rgb, &decoded))
}

#[test]
fn quality_trades_bytes_for_psnr() {
    let (w, h) = (64, 48);
    let rgb = synthetic(w, h, 6, 1);
    let codec = WaveletCodec::default();
    let mut last = (0, 0.0);
    for quality in [1, 10, 30, 50, 70, 90, 100] {
        let (bytes, p) = round_trip(&codec, &rgb, w, h, quality);
        assert!(bytes > last.0, "quality {quality}: {bytes} bytes after {}", last.0);
        assert!(p > last.1, "quality {quality}: {p:.2} dB after {:.2}", last.1);
        last = (bytes, p);
    }
    assert!(last.1 > 40.0, "quality 100 gives {:.2} dB", last.1);
}

#[test]
fn high_quality_is_near_lossless_on_smooth_images() {
    let (w, h) = (64, 48);
    let rgb = synthetic(w, h, 1, 2);
    let (_, p) = round_trip(&WaveletCodec::default(), &rgb, w, h, 100);
    assert!(p > 45.0, "quality 100 gives {p:.2} dB");
}

#[test]
fn odd_sizes_round_trip() {
    let codec = WaveletCodec::default();
    for (w, h) in [(1, 1), (1, 2), (2, 1), (3, 7), (17, 1), (1, 17), (5, 4), (9, 33), (31, 8), (1000, 17)] {
        let rgb = synthetic(w, h, 4, u64::from(w * 131 + h));
        for quality in [1, 50, 100] {
            let (_, p) = round_trip(&codec, &rgb, w, h, quality);
            if quality == 100 {
                assert!(p > 40.0, "{w}x{h} at quality 100: {p:.2} dB");
            }
        }
    }
}

#[test]
fn flat_and_extreme_images() {
    let codec = WaveletCodec::default();
    let (w, h) = (20, 13);
    for value in [0u8, 128, 255] {
        let rgb = vec![value; (w * h * 3) as usize];
        let (bytes, p) = round_trip(&codec, &rgb, w, h, 50);
        assert!(bytes <= 16, "flat image took {bytes} bytes");
        assert!(p > 45.0, "flat {value}: {p:.2} dB");
    }
    // Saturated colours and a checkerboard (energy in the finest bands).
    let rgb: Vec<u8> =
        (0..w * h).flat_map(|i| if (i % w + i / w) % 2 == 0 { [255, 0, 255] } else { [0, 255, 0] }).collect();
    let (_, p) = round_trip(&codec, &rgb, w, h, 100);
    assert!(p > 40.0, "checkerboard: {p:.2} dB");
}

#[test]
fn encoding_is_deterministic() {
    let (w, h) = (40, 30);
    let rgb = synthetic(w, h, 8, 3);
    let codec = WaveletCodec::default();
    for quality in [5, 60] {
        let a = codec.encode_rgb8(&rgb, w, h, quality).unwrap();
        let b = codec.encode_rgb8(&rgb, w, h, quality).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() % 4, 0);
        assert_eq!(codec.decode_rgb8(&a, w, h, quality).unwrap(), codec.decode_rgb8(&b, w, h, quality).unwrap());
    }
}

#[test]
fn decoder_takes_its_parameters_from_the_payload() {
    let (w, h) = (48, 40);
    let rgb = synthetic(w, h, 5, 4);
    let custom = WaveletCodec::new(WaveletConfig { levels: 2, chroma_step_factor: 2.5 });
    let payload = custom.encode_rgb8(&rgb, w, h, 40).unwrap();
    let expected = custom.decode_rgb8(&payload, w, h, 40).unwrap();
    assert_eq!(WaveletCodec::default().decode_rgb8(&payload, w, h, 40).unwrap(), expected);
    assert!(psnr(&rgb, &expected) > 25.0);
    // Zero levels (no transform) works too.
    let flat = WaveletCodec::new(WaveletConfig { levels: 0, ..Default::default() });
    let (_, p) = round_trip(&flat, &rgb, w, h, 90);
    assert!(p > 40.0, "no transform: {p:.2} dB");
}

#[test]
fn invalid_arguments_are_errors() {
    let codec = WaveletCodec::default();
    assert!(codec.encode_rgb8(&[0; 11], 2, 2, 50).is_err());
    assert!(codec.encode_rgb8(&[], 0, 5, 50).is_err());
    assert!(codec.decode_rgb8(&[0; 8], 0, 5, 50).is_err());
    assert!(codec.decode_rgb8(&[0; 7], 2, 2, 50).is_err(), "length not a multiple of 4");
    let bad = WaveletCodec::new(WaveletConfig { levels: 5, chroma_step_factor: f32::NAN });
    assert!(bad.encode_rgb8(&[0; 12], 2, 2, 50).is_err());
}

/// Decoding must return `Ok` with the right size, or `Err`, and never panic.
fn decode_survives(codec: &WaveletCodec, payload: &[u8], w: u32, h: u32, quality: u8) {
    if let Ok(rgb) = codec.decode_rgb8(payload, w, h, quality) {
        assert_eq!(rgb.len(), (w * h * 3) as usize);
    }
}

#[test]
fn corrupt_payloads_never_panic() {
    let codec = WaveletCodec::default();
    let mut rng = Lcg(5);
    for (w, h, quality) in [(37, 23, 20), (64, 48, 90), (1, 1, 50), (17, 1, 100)] {
        let payload = codec.encode_rgb8(&synthetic(w, h, 10, 6), w, h, quality).unwrap();
        // Truncations at some 30 word boundaries, and at odd lengths.
        let step = (payload.len() / 30).next_multiple_of(4).max(4);
        for len in (0..payload.len()).step_by(step).chain([
            1,
            2,
            3,
            payload.len().saturating_sub(4),
            payload.len().saturating_sub(1),
        ]) {
            decode_survives(&codec, &payload[..len], w, h, quality);
        }
        // Bit flips.
        for _ in 0..40 {
            let mut p = payload.clone();
            let bit = rng.next() as usize % (p.len() * 8);
            p[bit / 8] ^= 1 << (bit % 8);
            decode_survives(&codec, &p, w, h, quality);
        }
        // Random bytes, and payloads of extreme words.
        for len in [4, 8, 12, 64, 256, 4096] {
            let p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            decode_survives(&codec, &p, w, h, quality);
        }
        for word in [0u8, 0xff] {
            decode_survives(&codec, &vec![word; 256], w, h, quality);
        }
        // Wrong quality or size for a valid payload.
        decode_survives(&codec, &payload, w, h, 1);
        decode_survives(&codec, &payload, w + 3, h + 1, quality);
    }
}

#[test]
fn transform_inverts_for_any_size() {
    let mut rng = Lcg(7);
    for (w, h) in [(1, 1), (2, 3), (7, 1), (8, 8), (33, 17), (100, 9)] {
        let layout = Layout::new(w, h, 5);
        let original: Vec<f32> = (0..w * h).map(|_| (rng.next() % 256) as f32 - 128.0).collect();
        let mut plane = original.clone();
        layout.forward(&mut plane);
        layout.inverse(&mut plane);
        let err = original.iter().zip(&plane).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-3, "{w}x{h}: error {err}");
        let covered: usize = layout.bands.iter().map(|b| b.w * b.h).sum();
        assert_eq!(covered, w * h, "{w}x{h}: bands do not tile the plane");
    }
}

#[test]
fn levels_shrink_for_small_images() {
    assert_eq!(Layout::new(1, 1, 5).levels, 0);
    assert_eq!(Layout::new(6, 6, 5).levels, 0);
    assert_eq!(Layout::new(8, 1, 5).levels, 1);
    assert_eq!(Layout::new(768, 512, 5).levels, 5);
    assert_eq!(Layout::new(768, 512, 3).levels, 3);
    // A smallest band of at least 4 samples along each split axis.
    let layout = Layout::new(1000, 17, 5);
    let ll = &layout.bands[0];
    assert!(ll.w >= 4 && ll.h >= 4, "LL of {}x{}", ll.w, ll.h);
}

/// The restoration filters (format version 2) are chosen on a photo and
/// raise its PSNR by more than they cost: compared with the same payload
/// decoded without them.
#[test]
fn restoration_filters_pay_on_a_photo() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/kodim23.png");
    let img = image::open(path).expect("assets/kodim23.png").to_rgb8();
    let crop = image::imageops::crop_imm(&img, 256, 128, 256, 256).to_image();
    let (w, h) = crop.dimensions();
    let rgb = crop.into_raw();
    let codec = WaveletCodec::default();
    for quality in [25, 45] {
        let payload = codec.encode_rgb8(&rgb, w, h, quality).unwrap();
        let (restored, filters) = codec.decode_with(&payload, w, h, quality, true).unwrap();
        let (plain, same) = codec.decode_with(&payload, w, h, quality, false).unwrap();
        assert_eq!(filters, same);
        assert_ne!(filters[0], Filters::default(), "q{quality}: no filter chosen");
        assert_eq!(restored, codec.decode_rgb8(&payload, w, h, quality).unwrap());
        let gain = psnr(&rgb, &restored) - psnr(&rgb, &plain);
        assert!(gain > 0.05, "q{quality}: the filters gain {gain:.3} dB");
    }
}

/// Format version 5's later restoration passes are chosen on a photo at a
/// low rate, each gains on the output of the ones before, and a stream
/// announcing more passes than [`MAX_RESTORATION_PASSES`] is an error.
#[test]
fn later_restoration_passes_refine_the_first() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/kodim23.png");
    let img = image::open(path).expect("assets/kodim23.png").to_rgb8();
    let (w, h) = img.dimensions();
    let rgb = img.into_raw();
    let codec = WaveletCodec::default();
    let payload = codec.encode_rgb8(&rgb, w, h, 15).unwrap();
    let (plain, passes) = codec.decode_with(&payload, w, h, 15, false).unwrap();
    assert!((2..=MAX_RESTORATION_PASSES).contains(&passes.len()), "{} passes", passes.len());
    let mut image = plain;
    let mut last = psnr(&rgb, &image);
    for (k, filters) in passes.iter().enumerate() {
        assert!(!filters.is_off(), "pass {k} filters nothing");
        filters.apply(&mut image, w as usize, h as usize);
        let now = psnr(&rgb, &image);
        assert!(now > last, "pass {k}: {last:.3} -> {now:.3} dB");
        last = now;
    }
    assert_eq!(image, codec.decode_rgb8(&payload, w, h, 15).unwrap());

    // A header, empty planes, then endless empty passes, each saying another follows.
    let mut enc = SymbolEncoder::new();
    let header = Header { version: 5, levels: 1, factor: 256 };
    header.code(&mut enc).unwrap();
    let layout = Layout::new(8, 8, 1);
    let mut zero: [Vec<i32>; 3] = [vec![0; 64], vec![0; 64], vec![0; 64]];
    coefficient_coder::code_planes(&mut enc, &layout, &mut zero, None, &mut context::Models::new(5, 60)).unwrap();
    let flat = vec![0u8; 8 * 8 * 3];
    let mut off = Filters::design(&flat, &flat, 8, 8, 1.0, 3, 5);
    assert!(off.is_off());
    for _ in 0..MAX_RESTORATION_PASSES + 1 {
        off.code(&mut enc).unwrap();
        enc.bits(1, 1).unwrap();
    }
    let err = codec.decode_rgb8(&enc.finish(), 8, 8, 50).unwrap_err();
    assert!(format!("{err:#}").contains("restoration passes"), "{err:#}");
}

/// Rate-distortion on Kodak images (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "needs /work/shared/datasets/kodak; slow in debug builds"]
fn kodak_rate_distortion() {
    let dir = std::path::Path::new("/work/shared/datasets/kodak");
    let codec = WaveletCodec::default();
    println!("image    quality    bpp   PSNR(dB)  encode(ms) decode(ms)");
    for name in ["kodim01", "kodim23"] {
        let img = image::open(dir.join(format!("{name}.png"))).expect("Kodak image").to_rgb8();
        let (w, h) = img.dimensions();
        let rgb = img.into_raw();
        let mut last = (0.0, 0.0);
        for quality in [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] {
            let t = std::time::Instant::now();
            let payload = codec.encode_rgb8(&rgb, w, h, quality).unwrap();
            let encode = t.elapsed().as_secs_f64() * 1e3;
            let t = std::time::Instant::now();
            let decoded = codec.decode_rgb8(&payload, w, h, quality).unwrap();
            let decode = t.elapsed().as_secs_f64() * 1e3;
            let bpp = payload.len() as f64 * 8.0 / f64::from(w * h);
            let p = psnr(&rgb, &decoded);
            println!("{name}  {quality:7}  {bpp:6.3}  {p:8.2}  {encode:10.1} {decode:10.1}");
            assert!(bpp > last.0 && p > last.1);
            last = (bpp, p);
        }
    }
}

/// Version 7's mixers start from the compiled-in trained states, which
/// must fit them and be trained (not the untrained start).
#[test]
fn shipped_initial_states_fit_and_are_trained() {
    let shipped = initial_states::shipped();
    let mut models = context::Models::untrained(FORMAT_VERSION);
    models.gather_statistics();
    let untrained = models.statistics().initial_states();
    assert!(shipped.classes.len() >= 2);
    for (top, states) in &shipped.classes {
        assert_eq!(states.mixers.len(), initial_states::MIXERS.len());
        assert_ne!(&untrained, states);
        let mut fresh = context::Models::untrained(FORMAT_VERSION);
        fresh.start_from(states).unwrap();
        assert_eq!(shipped.for_quality(*top), states);
        // A coefficient with no significant neighbour or parent is rarely
        // significant, one among large ones usually is: in every band group,
        // the trained counters of the first significance view (group x
        // neighbour class x extra class) must say so.
        let significance = &states.mixers[0].counters[0];
        for (group, counters) in significance.chunks(context::SIGNIFICANCE_PER_GROUP).enumerate() {
            let busiest = counters.iter().filter(|c| c.count() > 0).map(|c| c.p()).max().unwrap_or(0);
            assert!(counters[0].p() < 4096 && busiest > 40000, "quality up to {top}, group {group}: {counters:?}");
        }
    }
    assert_eq!(shipped.for_quality(100), &shipped.classes.last().unwrap().1);
}

/// Gathered statistics: the states' counters sit at the observed frequency
/// of ones, serialisation round-trips, and a damaged file is an error.
#[test]
fn gathered_statistics_teach_frequencies_and_round_trip() {
    let codec = WaveletCodec::default();
    let (w, h) = (96, 80);
    let a = codec.gather_statistics(&synthetic(w, h, 6, 1), w, h, 30, None).unwrap();
    let b = codec.gather_statistics(&synthetic(w, h, 12, 2), w, h, 50, None).unwrap();
    assert!(a.decisions() > 1000);
    // Merging is order-independent (integer sums).
    let (mut ab, mut ba) = (a.clone(), b.clone());
    ab.merge(b.clone()).unwrap();
    ba.merge(a.clone()).unwrap();
    assert_eq!(ab, ba);
    assert_eq!(ab.images, 2);
    let states = ab.initial_states();
    let untrained = {
        let mut m = context::Models::untrained(FORMAT_VERSION);
        m.gather_statistics();
        m.statistics().initial_states()
    };
    let (mut trained, mut kept) = (0, 0);
    for (s, u) in states.mixers.iter().zip(&untrained.mixers) {
        for (st, ut) in s.counters.iter().zip(&u.counters) {
            for (c, fresh) in st.iter().zip(ut) {
                if c == fresh {
                    kept += 1;
                } else {
                    trained += 1;
                }
            }
        }
    }
    assert!(trained > 100 && kept > 100, "{trained} counters trained, {kept} kept");
    let trained = TrainedStates { classes: vec![(30, untrained.clone()), (100, states.clone())] };
    assert_eq!(trained.for_quality(1), &untrained);
    assert_eq!(trained.for_quality(31), &states);
    let bytes = trained.to_bytes();
    assert_eq!(TrainedStates::from_bytes(&bytes).unwrap(), trained);
    let mut damaged = bytes.clone();
    damaged[bytes.len() / 2] ^= 1;
    assert!(TrainedStates::from_bytes(&damaged).is_err());
    assert!(TrainedStates::from_bytes(&bytes[..bytes.len() - 9]).is_err());
    assert!(TrainedStates::from_bytes(b"NECOWIS1").is_err());
    // A second round from these states gathers the same decisions' counts
    // from a different start.
    let again = codec.gather_statistics(&synthetic(w, h, 6, 1), w, h, 30, Some(&states)).unwrap();
    assert_ne!(again, a);
}
