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
use crate::layers::{conv, deconv, Gdn};
use anyhow::{ensure, Result};
use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};
use tch::{nn, Tensor};

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

/// The IGDN synthesis transform g_s: the mirror of [`gdn_analysis`] (×16).
pub(crate) fn gdn_synthesis(vs: nn::Path, n: i64, m: i64) -> nn::Sequential {
    nn::seq()
        .add(deconv(&vs / 0, m, n, 5, 2))
        .add(Gdn::new(&vs / 1, n, true))
        .add(deconv(&vs / 2, n, n, 5, 2))
        .add(Gdn::new(&vs / 3, n, true))
        .add(deconv(&vs / 4, n, n, 5, 2))
        .add(Gdn::new(&vs / 5, n, true))
        .add(deconv(&vs / 6, n, 3, 5, 2))
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
