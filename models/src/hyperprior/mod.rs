//! Ballé et al. 2018 and Minnen et al. 2018: the factorized, scale-hyperprior and mean-scale
//! hyperprior models, with CompressAI's layer layout and variable names.

mod factorized;
pub(crate) mod gain;
mod mean_scale;
mod scale;

pub use factorized::FactorizedPriorModel;
pub use gain::{GainUnit, GainedLatents, LatentGains};
pub use mean_scale::MeanScaleHyperprior;
pub use scale::ScaleHyperprior;

use crate::entropy::{EntropyBottleneck, SymbolChecksum};
use crate::exact::{fixed_input_at, fixed_to_f32_at, Activation, ExactNetSpec, Precision};
use crate::layers::{conv, deconv, Gdn};
use anyhow::{ensure, Result};
use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};
use tch::nn::{self, Module};
use tch::Tensor;

/// The GDN analysis transform g_a: four 5×5 stride-2 convolutions with GDN between (÷16).
pub(crate) fn gdn_analysis(vs: nn::Path, n: i64, m: i64) -> nn::Sequential {
    nn::seq()
        .add(conv(&vs / 0, 3, n, 5, 2))
        .add(Gdn::new(&vs / 1, n, false))
        .add(conv(&vs / 2, n, n, 5, 2))
        .add(Gdn::new(&vs / 3, n, false))
        .add(conv(&vs / 4, n, n, 5, 2))
        .add(Gdn::new(&vs / 5, n, false))
        .add(conv(&vs / 6, n, m, 5, 2))
}

/// Minnen's mean-scale hyper-transforms (CompressAI's `mbt2018-mean`, shared by ELIC): h_a
/// (M → N, ÷4) and h_s (N → 2M: scales then means, ×4) with LeakyReLU, and h_s's layers for
/// the exact evaluation that coding uses.
pub(crate) fn mean_scale_hyper_transforms(
    vs: &nn::Path,
    n: i64,
    m: i64,
) -> (nn::Sequential, nn::Sequential, ExactNetSpec) {
    let ha = vs / "h_a";
    let h_a = nn::seq()
        .add(conv(&ha / 0, m, n, 3, 1))
        .add_fn(|x| x.leaky_relu())
        .add(conv(&ha / 2, n, n, 5, 2))
        .add_fn(|x| x.leaky_relu())
        .add(conv(&ha / 4, n, n, 5, 2));
    let hs = vs / "h_s";
    let (d0, d2, c4) =
        (deconv(&hs / 0, n, m, 5, 2), deconv(&hs / 2, m, m * 3 / 2, 5, 2), conv(&hs / 4, m * 3 / 2, m * 2, 3, 1));
    let h_s_exact = ExactNetSpec::new()
        .deconv(&d0, 2, 2, Activation::LeakyRelu)
        .deconv(&d2, 2, 2, Activation::LeakyRelu)
        .conv(&c4, 1, 1, Activation::None);
    let h_s = nn::seq().add(d0).add_fn(|x| x.leaky_relu()).add(d2).add_fn(|x| x.leaky_relu()).add(c4);
    (h_a, h_s, h_s_exact)
}

/// g_s's upsampling factor (four stride-2 layers).
const SYNTHESIS_UPSAMPLING: i64 = 16;
/// Latent rows per band of the exact synthesis (256 image rows).
const SYNTHESIS_BAND_ROWS: i64 = 16;
/// Latent rows of context above and below a band. Each 5×5 stride-2 transposed convolution
/// needs input rows ⌈(a−2)/2⌉ … ⌊(b+1)/2⌋ for output rows a … b−1; through the four layers the
/// image rows 16A … 16B−1 need latent rows A−1 … B+1, so two rows are enough (the unit test
/// `banded_exact_synthesis_equals_one_pass` checks it).
const SYNTHESIS_HALO_ROWS: i64 = 2;

/// The IGDN synthesis transform g_s: the mirror of [`gdn_analysis`] (×16), as a float network
/// for training and as its exact fixed-point twin for decoding.
#[derive(Debug)]
pub(crate) struct GdnSynthesis {
    float: nn::Sequential,
    exact: ExactNetSpec,
}

impl GdnSynthesis {
    pub fn new(vs: nn::Path, n: i64, m: i64) -> Self {
        let (d0, g1) = (deconv(&vs / 0, m, n, 5, 2), Gdn::new(&vs / 1, n, true));
        let (d2, g3) = (deconv(&vs / 2, n, n, 5, 2), Gdn::new(&vs / 3, n, true));
        let (d4, g5) = (deconv(&vs / 4, n, n, 5, 2), Gdn::new(&vs / 5, n, true));
        let d6 = deconv(&vs / 6, n, 3, 5, 2);
        let exact = ExactNetSpec::new()
            .deconv(&d0, 2, 2, Activation::None)
            .inverse_gdn(&g1)
            .deconv(&d2, 2, 2, Activation::None)
            .inverse_gdn(&g3)
            .deconv(&d4, 2, 2, Activation::None)
            .inverse_gdn(&g5)
            .deconv(&d6, 2, 2, Activation::None);
        let float = nn::seq().add(d0).add(g1).add(d2).add(g3).add(d4).add(g5).add(d6);
        Self { float, exact }
    }

    /// The decoded image (1, 3, H, W) in [0, 1] on `ŷ`'s device from ŷ and per-channel inverse
    /// gains. With `exact`, g_s runs in fixed point ([`Precision::SYNTHESIS`]) on the CPU, so the
    /// pixels are identical on every device, thread count and machine; otherwise the float
    /// network runs on ŷ's device.
    pub fn reconstruct(&self, y_hat: &Tensor, inverse_gains: &[f64], exact: bool) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let x_hat = if exact {
            let net = self.exact.build_with(Precision::SYNTHESIS);
            let input = fixed_input_at(y_hat, inverse_gains, Precision::SYNTHESIS.frac_bits)?;
            let rows = input.size()[2];
            // Bands of latent rows, each with a halo that covers g_s's receptive field, cropped
            // back: exact arithmetic makes the result identical to one pass over the whole
            // latent, while the float64 working memory is bounded by one band.
            let mut bands = vec![];
            for start in (0..rows).step_by(SYNTHESIS_BAND_ROWS as usize) {
                let end = (start + SYNTHESIS_BAND_ROWS).min(rows);
                let (lo, hi) = ((start - SYNTHESIS_HALO_ROWS).max(0), (end + SYNTHESIS_HALO_ROWS).min(rows));
                let out = net.forward(&input.narrow(2, lo, hi - lo))?;
                let band = out.narrow(2, (start - lo) * SYNTHESIS_UPSAMPLING, (end - start) * SYNTHESIS_UPSAMPLING);
                bands.push(fixed_to_f32_at(&band, Precision::SYNTHESIS.frac_bits)?);
            }
            Tensor::cat(&bands, 2).to_device(y_hat.device())
        } else {
            let gains = Tensor::from_slice(inverse_gains).to_kind(tch::Kind::Float).to_device(y_hat.device());
            self.float.forward(&(y_hat * gains.view([1, -1, 1, 1])))
        };
        Ok(x_hat.clamp(0.0, 1.0))
    }
}

impl nn::Module for GdnSynthesis {
    fn forward(&self, y: &Tensor) -> Tensor {
        self.float.forward(y)
    }
}

pub(crate) fn gdn_synthesis(vs: nn::Path, n: i64, m: i64) -> GdnSynthesis {
    GdnSynthesis::new(vs, n, m)
}

/// Codes a hyper-latent (1, C, h, w) with the bottleneck's per-channel tables and returns the
/// stream and ẑ exactly as the decoder will rebuild it. The coded symbols go into `checksum`.
pub(crate) fn compress_hyper(
    eb: &EntropyBottleneck,
    z: &Tensor,
    checksum: &mut SymbolChecksum,
) -> Result<(Vec<u8>, Tensor)> {
    let (_, _, h, w) = z.size4()?;
    let prior = eb.prior()?;
    let symbols = eb.symbols(z)?;
    let mut enc = SymbolEncoder::new();
    enc.encode_planes(prior.tables(), &symbols, prior.plane_indexes(), (h * w) as usize)?;
    checksum.update(&symbols);
    Ok((enc.finish(), eb.dequantize(&symbols, h, w, z.device())))
}

/// Decodes a hyper-latent of `h × w` per channel. The decoded symbols go into `checksum`.
pub(crate) fn decompress_hyper(
    eb: &EntropyBottleneck,
    stream: &[u8],
    h: i64,
    w: i64,
    device: tch::Device,
    checksum: &mut SymbolChecksum,
) -> Result<Tensor> {
    let prior = eb.prior()?;
    let mut symbols = vec![0i32; (eb.channels() * h * w) as usize];
    let mut dec = SymbolDecoder::new(stream)?;
    dec.decode_planes(prior.tables(), prior.plane_indexes(), (h * w) as usize, &mut symbols)?;
    checksum.update(&symbols);
    Ok(eb.dequantize(&symbols, h, w, device))
}

/// Latent height and width for a padded image, checking the padding.
pub(crate) fn latent_size(height: i64, width: i64, stride: i64, downsampling: i64) -> Result<(i64, i64)> {
    ensure!(
        height > 0 && width > 0 && height % stride == 0 && width % stride == 0,
        "image size {width}x{height} is not padded to a multiple of {stride}"
    );
    Ok((height / downsampling, width / downsampling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn banded_exact_synthesis_equals_one_pass() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let g_s = GdnSynthesis::new(vs.root() / "g_s", 8, 6);
        // 37 latent rows: three bands (16, 16, 5), interior halos on both sides.
        let y_hat = (Tensor::randn([1, 6, 37, 3], (Kind::Float, Device::Cpu)) * 4.0).round();
        let gains = vec![1.0; 6];
        let banded = g_s.reconstruct(&y_hat, &gains, true).unwrap();
        let net = g_s.exact.build_with(Precision::SYNTHESIS);
        let whole = net.forward(&fixed_input_at(&y_hat, &gains, Precision::SYNTHESIS.frac_bits).unwrap()).unwrap();
        let whole = fixed_to_f32_at(&whole, Precision::SYNTHESIS.frac_bits).unwrap().clamp(0.0, 1.0);
        assert_eq!(banded.size(), [1, 3, 37 * 16, 3 * 16]);
        assert!(banded.equal(&whole), "banded synthesis differs from one pass");
        // A halo one row short is not enough (so the test can see a wrong halo).
        let short = net.forward(&fixed_input_at(&y_hat.narrow(2, 0, 17), &gains, 12).unwrap()).unwrap();
        let short = fixed_to_f32_at(&short.narrow(2, 0, 256), 12).unwrap().clamp(0.0, 1.0);
        assert!(!short.equal(&whole.narrow(2, 0, 256)), "a one-row halo already matches: the test is blind");
    }
}
