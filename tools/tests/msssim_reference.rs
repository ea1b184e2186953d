//! neco's MS-SSIM against the reference implementation, pytorch-msssim from PyPI (installed into
//! .venv by ./setup.sh), on the same 8-bit images: both at data_range 1 on images / 255, as
//! CompressAI evaluates.

use neco_tools::eval::ms_ssim_rgb8;
use std::path::Path;
use std::process::Command;

fn image(width: u32, height: u32, seed: u32) -> Vec<u8> {
    // A smooth pattern plus hashed noise.
    (0..width * height * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (x, y) = (p % width, p / width);
            let smooth = ((x as f64 / 9.0).sin() * 60.0 + (y as f64 / 13.0).cos() * 50.0 + 128.0) as u32;
            let noise = (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 977) >> 24) % 24;
            ((smooth + noise + c * 10) % 256) as u8
        })
        .collect()
}

#[test]
fn ms_ssim_matches_pytorch_msssim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run ./setup.sh", python.display());
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(256u32, 192u32), (200, 171)] {
        let a = image(w, h, 1);
        // A distorted copy: blur-like averaging with a shifted neighbour plus a deterministic ripple.
        let b: Vec<u8> = (0..a.len())
            .map(|i| {
                let shifted = a[(i + 3 * 5) % a.len()] as i32;
                let ripple = ((i as i32 * 7919 + 13) % 31) - 15;
                ((a[i] as i32 * 2 + shifted) / 3 + ripple).clamp(0, 255) as u8
            })
            .collect();
        let (pa, pb) = (dir.path().join("a.raw"), dir.path().join("b.raw"));
        std::fs::write(&pa, &a).unwrap();
        std::fs::write(&pb, &b).unwrap();
        let script = format!(
            "import numpy as np, torch\nfrom pytorch_msssim import ms_ssim\n\
             def load(p): return torch.from_numpy(np.fromfile(p, dtype=np.uint8).reshape({h}, {w}, 3).astype(np.float64)).permute(2, 0, 1)[None] / 255.0\n\
             print(repr(ms_ssim(load('{}'), load('{}'), data_range=1.0, size_average=True).item()))",
            pa.display(),
            pb.display()
        );
        let out = Command::new(&python).args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "pytorch-msssim failed: {}", String::from_utf8_lossy(&out.stderr));
        let reference: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let ours = ms_ssim_rgb8(&a, &b, w, h);
        eprintln!("{w}x{h}: neco {ours:.12} pytorch-msssim {reference:.12}");
        assert!((ours - reference).abs() < 1e-9, "{w}x{h}: neco {ours} vs pytorch-msssim {reference}");
        assert!(ours > 0.5 && ours < 1.0);
    }
}
