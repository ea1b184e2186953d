//! MS-SSIM on tensors, following pytorch-msssim (`ms_ssim(X, Y, data_range, size_average=False)`)
//! exactly: an 11-tap Gaussian window (σ = 1.5) applied as "valid" separable convolutions,
//! K = (0.01, 0.03), five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2
//! average pooling padded by `size % 2`, and ReLU on the contrast terms. Differentiable, so it
//! also serves as a training loss.

use tch::Tensor;

const WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW: i64 = 11;
const SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// The normalized 1-D Gaussian window, shaped (C, 1, 1, WINDOW) for a depthwise convolution.
/// Computed in float32 with the same tensor operations as pytorch-msssim's `_fspecial_gauss_1d`,
/// then cast to the input's precision as it does.
fn window(channels: i64, like: &Tensor) -> Tensor {
    let coords = Tensor::arange(WINDOW, (tch::Kind::Float, tch::Device::Cpu)) - (WINDOW / 2) as f64;
    let g = (coords.square().neg() / (2.0 * SIGMA * SIGMA)).exp();
    let g = &g / g.sum(tch::Kind::Float);
    g.to_kind(like.kind()).to_device(like.device()).view([1, 1, 1, WINDOW]).repeat([channels, 1, 1, 1])
}

/// pytorch-msssim's `gaussian_filter`: valid convolution along each spatial axis that is at least
/// as long as the window (shorter axes are skipped, as there).
fn gaussian_filter(x: &Tensor, win: &Tensor) -> Tensor {
    let channels = x.size()[1];
    let mut out = x.shallow_clone();
    for (axis, w) in [(2usize, win.transpose(2, 3)), (3usize, win.shallow_clone())] {
        if out.size()[axis] >= WINDOW {
            out = out.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], channels);
        }
    }
    out
}

/// (ssim per channel, contrast-structure per channel), each (B, C).
fn ssim_terms(x: &Tensor, y: &Tensor, win: &Tensor, data_range: f64) -> (Tensor, Tensor) {
    let c1 = (K1 * data_range).powi(2);
    let c2 = (K2 * data_range).powi(2);
    let mu1 = gaussian_filter(x, win);
    let mu2 = gaussian_filter(y, win);
    let (mu1_sq, mu2_sq, mu1_mu2) = (mu1.square(), mu2.square(), &mu1 * &mu2);
    let sigma1_sq = gaussian_filter(&(x * x), win) - &mu1_sq;
    let sigma2_sq = gaussian_filter(&(y * y), win) - &mu2_sq;
    let sigma12 = gaussian_filter(&(x * y), win) - &mu1_mu2;
    let cs_map = (sigma12 * 2.0 + c2) / (sigma1_sq + sigma2_sq + c2);
    let ssim_map = (mu1_mu2 * 2.0 + c1) / (mu1_sq + mu2_sq + c1) * &cs_map;
    (ssim_map.flatten(2, -1).mean_dim(-1, false, x.kind()), cs_map.flatten(2, -1).mean_dim(-1, false, x.kind()))
}

/// MS-SSIM of each image in a batch (B,), for images in `[0, data_range]` of at least 161×161
/// (smaller sides skip filtering as pytorch-msssim does, which it warns about).
pub fn ms_ssim(x: &Tensor, y: &Tensor, data_range: f64) -> Tensor {
    let channels = x.size()[1];
    let win = window(channels, x);
    let (mut x, mut y) = (x.shallow_clone(), y.shallow_clone());
    let mut terms = Vec::with_capacity(WEIGHTS.len());
    for level in 0..WEIGHTS.len() {
        let (ssim, cs) = ssim_terms(&x, &y, &win, data_range);
        if level < WEIGHTS.len() - 1 {
            terms.push(cs.relu());
            let size = x.size();
            let padding = [size[2] % 2, size[3] % 2];
            x = x.avg_pool2d([2, 2], [2, 2], padding, false, true, None);
            y = y.avg_pool2d([2, 2], [2, 2], padding, false, true, None);
        } else {
            terms.push(ssim.relu());
        }
    }
    // pytorch-msssim holds the weights as float32 and casts them to the input's precision.
    let weights_f32: Vec<f32> = WEIGHTS.iter().map(|&w| w as f32).collect();
    let weights = Tensor::from_slice(&weights_f32).to_kind(x.kind()).to_device(x.device()).view([-1, 1, 1]);
    Tensor::stack(&terms, 0).pow(&weights).prod_dim_int(0, false, x.kind()).mean_dim(1, false, x.kind())
}
