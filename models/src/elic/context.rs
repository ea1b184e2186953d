//! ELIC's per-slice entropy model: channel context, checkerboard spatial context and parameter
//! aggregation, plus the checkerboard masks and the gather/scatter coding of one step.

use crate::entropy::{desync_error, to_f32_vec, GaussianConditional, SymbolChecksum};
use crate::layers::conv;
use anyhow::Result;
use neco_bitstream::entropy::{mean_shifted_symbols, SymbolDecoder, SymbolEncoder};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// The checkerboard split of an `h × w` latent. Anchors are the positions where `row + col` is
/// even (the top-left position is an anchor); they are coded first, with no spatial context.
/// Non-anchors (`row + col` odd) are coded second, with a spatial context computed from the
/// decoded anchors of the same slice.
#[derive(Debug)]
pub(crate) struct Checkerboard {
    /// (1, 1, h, w) boolean, true at anchors.
    pub anchor: Tensor,
    /// (1, 1, h, w) boolean, true at non-anchors.
    pub non_anchor: Tensor,
}

impl Checkerboard {
    pub fn new(h: i64, w: i64, device: Device) -> Self {
        let rows = Tensor::arange(h, (Kind::Int64, device)).view([h, 1]);
        let cols = Tensor::arange(w, (Kind::Int64, device)).view([1, w]);
        let anchor = (rows + cols).remainder(2).eq(0).view([1, 1, h, w]);
        let non_anchor = anchor.logical_not();
        Self { anchor, non_anchor }
    }
}

/// `t` where `mask` holds, +0 elsewhere.
pub(crate) fn keep(t: &Tensor, mask: &Tensor) -> Tensor {
    t.where_self(mask, &t.zeros_like())
}

/// The context and parameter networks of one channel slice `k` of `g_k` channels.
#[derive(Debug)]
pub(crate) struct SliceModel {
    pub channels: i64,
    /// `cc_transforms.{k}`: the already decoded slices ŷ₀..ŷₖ₋₁ → 2·g_k (absent for k = 0).
    cc_transform: Option<nn::Sequential>,
    /// `context_prediction.{k}`: 5×5 conv g_k → 2·g_k over the anchors of ŷₖ.
    context_prediction: nn::Conv2D,
    /// `entropy_parameters.{k}`: 1×1 convs (hyper 2M ‖ channel 2·g_k ‖ spatial 2·g_k) → 2·g_k.
    entropy_parameters: nn::Sequential,
}

impl SliceModel {
    /// Variables `cc_transforms.{k}.{0,2,4}`, `context_prediction.{k}` and
    /// `entropy_parameters.{k}.{0,2,4}` under `vs`.
    pub fn new(vs: &nn::Path, k: usize, m: i64, previous: i64, channels: i64, context_width: i64) -> Self {
        let cc_transform = (k > 0).then(|| {
            let p = vs / "cc_transforms" / k;
            let mid = (context_width * 4 + 3) / 7; // 4/7 of the width, rounded (224 → 128)
            let mid = mid.max(1);
            nn::seq()
                .add(conv(&p / 0, previous, context_width, 5, 1))
                .add_fn(|x| x.relu())
                .add(conv(&p / 2, context_width, mid, 5, 1))
                .add_fn(|x| x.relu())
                .add(conv(&p / 4, mid, 2 * channels, 5, 1))
        });
        let context_prediction = conv(vs / "context_prediction" / k, channels, 2 * channels, 5, 1);
        let inputs = 2 * m + 2 * channels + if k > 0 { 2 * channels } else { 0 };
        let (w1, w2) = ((inputs * 2 / 3).max(1), (inputs / 3).max(1));
        let p = vs / "entropy_parameters" / k;
        let entropy_parameters = nn::seq()
            .add(conv(&p / 0, inputs, w1, 1, 1))
            .add_fn(|x| x.leaky_relu())
            .add(conv(&p / 2, w1, w2, 1, 1))
            .add_fn(|x| x.leaky_relu())
            .add(conv(&p / 4, w2, 2 * channels, 1, 1));
        Self { channels, cc_transform, context_prediction, entropy_parameters }
    }

    /// The channel context from the decoded slices before this one (None for the first slice).
    pub fn channel_context(&self, previous: &[Tensor]) -> Option<Tensor> {
        self.cc_transform.as_ref().map(|cc| cc.forward(&Tensor::cat(previous, 1)))
    }

    /// The spatial context at the non-anchors from `anchors` (ŷₖ with non-anchors zeroed); zero
    /// at the anchors.
    pub fn spatial_context(&self, anchors: &Tensor, board: &Checkerboard) -> Tensor {
        keep(&self.context_prediction.forward(anchors), &board.non_anchor)
    }

    /// Zero spatial context, for the anchor step.
    pub fn no_spatial_context(&self, like: &Tensor) -> Tensor {
        let (b, _, h, w) = like.size4().expect("B×C×H×W");
        Tensor::zeros([b, 2 * self.channels, h, w], (like.kind(), like.device()))
    }

    /// (scales, means) of the slice at every position, from the hyper parameters (B, 2M, h, w),
    /// the channel context and the spatial context.
    pub fn parameters(&self, hyper: &Tensor, channel: Option<&Tensor>, spatial: &Tensor) -> (Tensor, Tensor) {
        let mut parts = vec![hyper.shallow_clone()];
        parts.extend(channel.map(Tensor::shallow_clone));
        parts.push(spatial.shallow_clone());
        let params = self.entropy_parameters.forward(&Tensor::cat(&parts, 1));
        let mut halves = params.chunk(2, 1);
        let means = halves.pop().expect("two chunks");
        let scales = halves.pop().expect("two chunks");
        (scales, means)
    }
}

/// The range coder of one latent stream, encoding or decoding.
pub(crate) enum Coder {
    Encode(SymbolEncoder),
    Decode(SymbolDecoder),
}

/// Codes the positions of `mask` ((1, 1, h, w), broadcast over channels) of one slice in one
/// step, channel-major then raster order. When encoding, `y` holds the latent; symbols are
/// `round(y − μ)` (ties to even). Returns ŷ = symbol + μ at the masked positions and +0
/// elsewhere, identically on both sides. The coded (or decoded) symbols go into `checksum`.
pub(crate) fn code_step(
    gaussian: &GaussianConditional,
    coder: &mut Coder,
    y: Option<&Tensor>,
    scales: &Tensor,
    means: &Tensor,
    mask: &Tensor,
    checksum: &mut SymbolChecksum,
) -> Result<Tensor> {
    let indexes = gaussian.indexes(&scales.masked_select(mask))?;
    let means_selected = means.masked_select(mask);
    let means_v = to_f32_vec(&means_selected)?;
    let symbols = match coder {
        Coder::Encode(enc) => {
            let y = y.expect("encoding needs the latent");
            let symbols = mean_shifted_symbols(&to_f32_vec(&y.masked_select(mask))?, &means_v);
            enc.encode_indexed(gaussian.tables().tables(), &symbols, &indexes)?;
            symbols
        }
        Coder::Decode(dec) => {
            let mut symbols = vec![0i32; indexes.len()];
            dec.decode_indexed(gaussian.tables().tables(), &indexes, &mut symbols).map_err(desync_error)?;
            symbols
        }
    };
    checksum.update(&symbols);
    let values = Tensor::from_slice(&symbols).to_kind(Kind::Float).to_device(means.device()) + means_selected;
    Ok(means.zeros_like().masked_scatter(mask, &values))
}
