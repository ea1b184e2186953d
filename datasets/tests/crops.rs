//! Tests of the training-crop loader (`neco_datasets::crops`).

use std::path::{Path, PathBuf};

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use neco_datasets::crops::{load_rgb_f32, Batch, CropConfig, CropLoader};

/// A smooth-but-varied test pattern so different crops give different data.
fn pattern(w: u32, h: u32, salt: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            ((x * 7 + y * 3 + salt * 40) % 256) as u8,
            ((x * x + y * 5 + salt) % 256) as u8,
            ((x ^ y).wrapping_mul(salt + 3) % 256) as u8,
        ])
    })
}

/// A folder with a few RGB images of mixed formats, a gray one, an RGBA one, a 16-bit one, a
/// tiny one and an unreadable file.
fn make_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("sub")).unwrap();
    pattern(80, 60, 1).save(p.join("a.png")).unwrap();
    pattern(64, 96, 2).save(p.join("sub/b.jpg")).unwrap();
    pattern(100, 40, 3).save(p.join("c.bmp")).unwrap();
    GrayImage::from_fn(70, 50, |x, y| Luma([((x * 3 + y) % 256) as u8])).save(p.join("gray.png")).unwrap();
    RgbaImage::from_fn(50, 50, |x, y| Rgba([x as u8 * 5, y as u8 * 5, 128, 7])).save(p.join("rgba.png")).unwrap();
    ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(48, 48, |x, y| Rgb([x as u16 * 1300, y as u16 * 1300, 65535]))
        .save(p.join("deep16.png"))
        .unwrap();
    pattern(10, 7, 4).save(p.join("tiny.png")).unwrap();
    std::fs::write(p.join("broken.png"), b"this is not a png").unwrap();
    std::fs::write(p.join("notes.txt"), b"not an image at all").unwrap();
    dir
}

fn cfg(workers: usize, seed: u64) -> CropConfig {
    CropConfig { patch: 32, batch: 4, workers, seed, prefetch: 3, cache_decoded: true }
}

fn batches(dir: &Path, cfg: CropConfig, start: u64, count: usize) -> Vec<Batch> {
    let mut loader = CropLoader::new(&[dir.to_path_buf()], cfg, start).unwrap();
    (0..count).map(|_| loader.next_batch().unwrap()).collect()
}

#[test]
fn shape_range_and_skipping() {
    let dir = make_folder();
    let mut loader = CropLoader::new(&[dir.path().to_path_buf()], cfg(2, 7), 0).unwrap();
    // broken.png is skipped, notes.txt never listed.
    assert_eq!(loader.num_images(), 7);
    for step in 0..10u64 {
        let b = loader.next_batch().unwrap();
        assert_eq!(b.step, step);
        assert_eq!((b.n, b.patch), (4, 32));
        assert_eq!(b.data.len(), 4 * 3 * 32 * 32);
        assert!(b.data.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(b.data.iter().any(|&v| v > 0.0));
    }
}

#[test]
fn deterministic_across_workers_and_restart() {
    let dir = make_folder();
    let serial = batches(dir.path(), cfg(0, 42), 0, 12);
    let threaded = batches(dir.path(), cfg(3, 42), 0, 12);
    assert_eq!(serial, threaded);
    // Uncached gives the same content.
    let uncached = batches(dir.path(), CropConfig { cache_decoded: false, ..cfg(2, 42) }, 0, 12);
    assert_eq!(serial, uncached);
    // Restart at step 5 reproduces steps 5.. exactly, with any worker count and prefetch.
    let resumed = batches(dir.path(), CropConfig { prefetch: 0, ..cfg(1, 42) }, 5, 7);
    assert_eq!(&serial[5..], &resumed[..]);
    let resumed = batches(dir.path(), cfg(0, 42), 9, 1);
    assert_eq!(serial[9], resumed[0]);
    // Different steps and different seeds differ.
    for w in serial.windows(2) {
        assert_ne!(w[0].data, w[1].data);
    }
    let other_seed = batches(dir.path(), cfg(0, 43), 0, 3);
    assert_ne!(serial[0].data, other_seed[0].data);
}

#[test]
fn tiny_image_is_upscaled() {
    let dir = tempfile::tempdir().unwrap();
    pattern(10, 7, 4).save(dir.path().join("tiny.png")).unwrap();
    let cfg = CropConfig { patch: 64, batch: 3, workers: 1, seed: 1, prefetch: 2, cache_decoded: true };
    let mut loader = CropLoader::new(&[dir.path().to_path_buf()], cfg.clone(), 0).unwrap();
    assert_eq!(loader.num_images(), 1);
    let b = loader.next_batch().unwrap();
    assert_eq!(b.data.len(), 3 * 3 * 64 * 64);
    assert!(b.data.iter().all(|v| (0.0..=1.0).contains(v)));
    // Same result without the cache (resize on demand).
    let uncached = batches(dir.path(), CropConfig { cache_decoded: false, ..cfg }, 0, 1);
    assert_eq!(b, uncached[0]);
}

#[test]
fn grayscale_and_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    GrayImage::from_fn(40, 40, |x, _| Luma([x as u8 * 6])).save(dir.path().join("g.png")).unwrap();
    let cfg = CropConfig { patch: 16, batch: 2, workers: 0, seed: 3, prefetch: 0, cache_decoded: true };
    let b = batches(dir.path(), cfg.clone(), 0, 1).remove(0);
    let plane = 16 * 16;
    // Gray is replicated: R == G == B.
    for i in 0..2 {
        let s = &b.data[i * 3 * plane..(i + 1) * 3 * plane];
        assert_eq!(s[..plane], s[plane..2 * plane]);
        assert_eq!(s[..plane], s[2 * plane..]);
    }

    let dir = tempfile::tempdir().unwrap();
    ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(20, 20, Rgb([0, 32896, 65535]))
        .save(dir.path().join("d.png"))
        .unwrap();
    let b = batches(dir.path(), cfg, 0, 1).remove(0);
    let s = &b.data[..3 * plane];
    assert!(s[..plane].iter().all(|&v| v == 0.0));
    assert!(s[plane..2 * plane].iter().all(|&v| (v - 0.5).abs() < 0.01));
    assert!(s[2 * plane..].iter().all(|&v| v == 1.0));

    let (data, w, h) = load_rgb_f32(dir.path().join("d.png")).unwrap();
    assert_eq!((w, h, data.len()), (20, 20, 3 * 400));
    assert_eq!(data[0], 0.0);
    assert!((data[400] - 32896.0 / 65535.0).abs() < 1e-6);
    assert_eq!(data[800], 1.0);
}

#[test]
fn load_rgb_f32_is_chw() {
    let dir = tempfile::tempdir().unwrap();
    let img = pattern(5, 3, 9);
    img.save(dir.path().join("p.png")).unwrap();
    let (data, w, h) = load_rgb_f32(dir.path().join("p.png")).unwrap();
    assert_eq!((w, h), (5, 3));
    for (x, y, px) in img.enumerate_pixels() {
        for c in 0..3 {
            assert_eq!(data[c * 15 + y as usize * 5 + x as usize], px[c] as f32 / 255.0);
        }
    }
    assert!(load_rgb_f32(dir.path().join("missing.png")).is_err());
}

#[test]
fn flips_and_crops_come_from_the_image() {
    // One 32×32 image and patch 32: every crop is the whole image, possibly mirrored.
    let dir = tempfile::tempdir().unwrap();
    let img = pattern(32, 32, 5);
    img.save(dir.path().join("x.png")).unwrap();
    let cfg = CropConfig { patch: 32, batch: 16, workers: 0, seed: 11, prefetch: 0, cache_decoded: true };
    let b = batches(dir.path(), cfg, 0, 1).remove(0);
    let (plain, _, _) = load_rgb_f32(dir.path().join("x.png")).unwrap();
    let mirrored: Vec<f32> = (0..3 * 32 * 32).map(|i| plain[(i / 32) * 32 + 31 - i % 32]).collect();
    let (mut n_plain, mut n_flip) = (0, 0);
    for s in b.data.chunks_exact(3 * 32 * 32) {
        if s == plain.as_slice() {
            n_plain += 1;
        } else if s == mirrored.as_slice() {
            n_flip += 1;
        } else {
            panic!("crop is neither the image nor its mirror");
        }
    }
    assert!(n_plain > 0 && n_flip > 0, "{n_plain} plain, {n_flip} flipped");
}

#[test]
fn epoch_visits_every_image_once() {
    let dir = tempfile::tempdir().unwrap();
    // Each image a distinct flat colour, so a crop identifies its image.
    for k in 0..6u8 {
        RgbImage::from_pixel(20, 20, Rgb([k * 40, 0, 0])).save(dir.path().join(format!("{k}.png"))).unwrap();
    }
    let cfg = CropConfig { patch: 8, batch: 4, workers: 2, seed: 5, prefetch: 2, cache_decoded: true };
    let bs = batches(dir.path(), cfg, 0, 3); // 12 samples = 2 epochs of 6
    let ids: Vec<u8> = bs
        .iter()
        .flat_map(|b| b.data.chunks_exact(3 * 64).map(|s| (s[0] * 255.0).round() as u8 / 40).collect::<Vec<_>>())
        .collect();
    for epoch in ids.chunks(6) {
        let mut e = epoch.to_vec();
        e.sort();
        assert_eq!(e, [0, 1, 2, 3, 4, 5]);
    }
}

#[test]
fn errors_when_nothing_usable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.png"), b"garbage").unwrap();
    std::fs::write(dir.path().join("b.jpg"), b"").unwrap();
    assert!(CropLoader::new(&[dir.path().to_path_buf()], cfg(1, 0), 0).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(CropLoader::new(&[empty.path().to_path_buf()], cfg(0, 0), 0).is_err());
    assert!(CropLoader::new(&[dir.path().join("missing")], cfg(0, 0), 0).is_err());
    assert!(CropLoader::new(&[], cfg(0, 0), 0).is_err());
}

#[test]
fn multiple_dirs_and_kodak_files() {
    let kodak = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/kodak"));
    if !kodak.exists() {
        eprintln!("skipping: {} not found", kodak.display());
        return;
    }
    // Two real images as generic files (never for training), plus a temp folder.
    let dir = make_folder();
    let dirs = vec![kodak.join("kodim01.png"), kodak.join("kodim23.png"), dir.path().to_path_buf()];
    let cfg = CropConfig { patch: 128, batch: 4, workers: 2, seed: 0, prefetch: 2, cache_decoded: false };
    let mut loader = CropLoader::new(&dirs, cfg, 0).unwrap();
    assert_eq!(loader.num_images(), 9);
    let b = loader.next_batch().unwrap();
    assert_eq!(b.data.len(), 4 * 3 * 128 * 128);
    let (_, w, h) = load_rgb_f32(kodak.join("kodim23.png")).unwrap();
    assert_eq!((w, h), (768, 512));
}

#[test]
fn drop_does_not_hang() {
    let dir = make_folder();
    for workers in [1, 4] {
        let loader =
            CropLoader::new(&[dir.path().to_path_buf()], CropConfig { prefetch: 8, ..cfg(workers, 1) }, 0).unwrap();
        drop(loader); // with batches in flight, never consumed
        let mut loader = CropLoader::new(&[dir.path().to_path_buf()], cfg(workers, 1), 0).unwrap();
        loader.next_batch().unwrap();
        drop(loader);
    }
}

#[test]
#[ignore = "times the real training set; run with --ignored --nocapture"]
fn throughput_train_set() {
    let train = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/train"));
    assert!(train.exists(), "{} not found", train.display());
    for cache in [true, false] {
        let cfg = CropConfig { patch: 256, batch: 8, workers: 2, seed: 0, prefetch: 4, cache_decoded: cache };
        let t0 = std::time::Instant::now();
        let mut loader = CropLoader::new(std::slice::from_ref(&train), cfg, 0).unwrap();
        let t_load = t0.elapsed();
        let t1 = std::time::Instant::now();
        let n = 200;
        let mut checksum = 0f64;
        for _ in 0..n {
            let b = loader.next_batch().unwrap();
            checksum += b.data[0] as f64;
        }
        let dt = t1.elapsed().as_secs_f64();
        println!(
            "cache_decoded={cache}: {} images, startup {:.2} s, {n} batches of 8x3x256x256 in {dt:.2} s = {:.1} batches/s (checksum {checksum:.3})",
            loader.num_images(),
            t_load.as_secs_f64(),
            n as f64 / dt
        );
    }
}
