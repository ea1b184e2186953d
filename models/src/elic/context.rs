//! ELIC's per-slice entropy model: channel context, checkerboard spatial context and parameter
//! aggregation, in float (training, and coding with exactness switched off) and in exact fixed
//! point (coding), plus the checkerboard split and the coding of one step.

use crate::entropy::{desync_error, to_f32_vec, GaussianConditional, SymbolChecksum};
use crate::exact::{fixed_input, fixed_to_f32, Activation, ExactNet, ExactNetSpec};
use crate::layers::conv;
use anyhow::{Context, Result};
use neco_bitstream::entropy::{mean_shifted_symbols, SymbolDecoder, SymbolEncoder};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// The checkerboard split of an `h × w` latent. Anchors are the positions where `row + col` is
/// even (the top-left position is an anchor); they are coded first, with no spatial context.
/// Non-anchors (`row + col` odd) are coded second, with a spatial context computed from the
/// decoded anchors of the same slice.
///
/// The parameter aggregation is pointwise (1×1 convolutions), so each step evaluates it only at
/// its own positions: [`gather`](Self::gather) takes them out as a (B, C, 1, P) tensor (raster
/// order, so channel-major then raster in memory, the coding order), and
/// [`scatter`](Self::scatter) puts the two halves back.
#[derive(Debug)]
pub(crate) struct Checkerboard {
    h: i64,
    w: i64,
    /// Raster positions (`row·w + col`) of the anchors, then of the non-anchors (Int64).
    anchor_index: Tensor,
    non_anchor_index: Tensor,
    /// For each raster position, its place in `anchors ‖ non-anchors` (Int64).
    inverse: Tensor,
}

impl Checkerboard {
    pub fn new(h: i64, w: i64) -> Self {
        let rows = Tensor::arange(h, (Kind::Int64, Device::Cpu)).view([h, 1]);
        let cols = Tensor::arange(w, (Kind::Int64, Device::Cpu)).view([1, w]);
        let anchor = (rows + cols).remainder(2).eq(0).view([-1]);
        let positions = Tensor::arange(h * w, (Kind::Int64, Device::Cpu));
        let anchor_index = positions.masked_select(&anchor);
        let non_anchor_index = positions.masked_select(&anchor.logical_not());
        let order = Tensor::cat(&[&anchor_index, &non_anchor_index], 0);
        let inverse = order.argsort(0, false);
        Self { h, w, anchor_index, non_anchor_index, inverse }
    }

    fn index(&self, anchors: bool) -> &Tensor {
        if anchors {
            &self.anchor_index
        } else {
            &self.non_anchor_index
        }
    }

    /// The anchors' (or non-anchors') values of `t` (B, C, h, w) as (B, C, 1, P).
    pub fn gather(&self, t: &Tensor, anchors: bool) -> Tensor {
        t.flatten(2, 3).index_select(2, &self.index(anchors).to_device(t.device())).unsqueeze(2)
    }

    /// The (B, C, h, w) tensor with `anchors` (B, C, 1, P) at the anchors and `non_anchors` at
    /// the non-anchors (differentiable).
    pub fn scatter(&self, anchors: &Tensor, non_anchors: &Tensor) -> Tensor {
        let (b, c, _, _) = anchors.size4().expect("B×C×1×P");
        Tensor::cat(&[anchors, non_anchors], 3)
            .index_select(3, &self.inverse.to_device(anchors.device()))
            .view([b, c, self.h, self.w])
    }

    /// The (B, C, h, w) tensor with `anchors` at the anchors and +0 at the non-anchors.
    pub fn scatter_anchors(&self, anchors: &Tensor) -> Tensor {
        let (b, c, _, p) = anchors.size4().expect("B×C×1×P");
        let zeros = Tensor::zeros([b, c, 1, self.h * self.w - p], (anchors.kind(), anchors.device()));
        self.scatter(anchors, &zeros)
    }
}

/// The context and parameter networks of one channel slice `k` of `g_k` channels, in float,
/// with handles on the same weights for building their exact twins.
#[derive(Debug)]
pub(crate) struct SliceModel {
    pub channels: i64,
    /// `cc_transforms.{k}`: the already decoded slices ŷ₀..ŷₖ₋₁ → 2·g_k (absent for k = 0).
    cc_transform: Option<nn::Sequential>,
    /// `context_prediction.{k}`: 5×5 conv g_k → 2·g_k over the anchors of ŷₖ.
    context_prediction: nn::Conv2D,
    /// `entropy_parameters.{k}`: 1×1 convs (hyper 2M ‖ channel 2·g_k ‖ spatial 2·g_k) → 2·g_k.
    entropy_parameters: nn::Sequential,
    cc_exact: Option<ExactNetSpec>,
    context_exact: ExactNetSpec,
    aggregation_exact: ExactNetSpec,
}

impl SliceModel {
    /// Variables `cc_transforms.{k}.{0,2,4}`, `context_prediction.{k}` and
    /// `entropy_parameters.{k}.{0,2,4}` under `vs`.
    pub fn new(vs: &nn::Path, k: usize, m: i64, previous: i64, channels: i64, context_width: i64) -> Self {
        let (cc_transform, cc_exact) =
            if k > 0 {
                let p = vs / "cc_transforms" / k;
                let mid = (context_width * 4 + 3) / 7; // 4/7 of the width, rounded (224 → 128)
                let mid = mid.max(1);
                let (c0, c2, c4) = (
                    conv(&p / 0, previous, context_width, 5, 1),
                    conv(&p / 2, context_width, mid, 5, 1),
                    conv(&p / 4, mid, 2 * channels, 5, 1),
                );
                let spec = ExactNetSpec::new()
                    .conv(&c0, 1, 2, Activation::Relu)
                    .conv(&c2, 1, 2, Activation::Relu)
                    .conv(&c4, 1, 2, Activation::None);
                let seq = nn::seq().add(c0).add_fn(|x| x.relu()).add(c2).add_fn(|x| x.relu()).add(c4);
                (Some(seq), Some(spec))
            } else {
                (None, None)
            };
        let context_prediction = conv(vs / "context_prediction" / k, channels, 2 * channels, 5, 1);
        let context_exact = ExactNetSpec::new().conv(&context_prediction, 1, 2, Activation::None);
        let inputs = 2 * m + 2 * channels + if k > 0 { 2 * channels } else { 0 };
        let (w1, w2) = ((inputs * 2 / 3).max(1), (inputs / 3).max(1));
        let p = vs / "entropy_parameters" / k;
        let (e0, e2, e4) =
            (conv(&p / 0, inputs, w1, 1, 1), conv(&p / 2, w1, w2, 1, 1), conv(&p / 4, w2, 2 * channels, 1, 1));
        let aggregation_exact = ExactNetSpec::new()
            .conv(&e0, 1, 0, Activation::LeakyRelu)
            .conv(&e2, 1, 0, Activation::LeakyRelu)
            .conv(&e4, 1, 0, Activation::None);
        let entropy_parameters =
            nn::seq().add(e0).add_fn(|x| x.leaky_relu()).add(e2).add_fn(|x| x.leaky_relu()).add(e4);
        Self {
            channels,
            cc_transform,
            context_prediction,
            entropy_parameters,
            cc_exact,
            context_exact,
            aggregation_exact,
        }
    }

    /// The channel context from the decoded slices before this one (None for the first slice).
    pub fn channel_context(&self, previous: &[Tensor]) -> Option<Tensor> {
        self.cc_transform.as_ref().map(|cc| cc.forward(&Tensor::cat(previous, 1)))
    }

    /// The spatial context at every position from `anchors` (ŷₖ with the non-anchors zeroed);
    /// only its values at the non-anchors are used.
    pub fn spatial_context(&self, anchors: &Tensor) -> Tensor {
        self.context_prediction.forward(anchors)
    }

    /// (scales, means) from the aggregation input (hyper ‖ channel ‖ spatial), any positions.
    pub fn parameters(&self, input: &Tensor) -> (Tensor, Tensor) {
        split_parameters(&self.entropy_parameters.forward(input))
    }

    fn build_exact(&self) -> ExactSlice {
        ExactSlice {
            cc: self.cc_exact.as_ref().map(ExactNetSpec::build),
            context: self.context_exact.build(),
            aggregation: self.aggregation_exact.build(),
        }
    }
}

/// (scales, means): the two channel halves of a parameter tensor.
fn split_parameters(params: &Tensor) -> (Tensor, Tensor) {
    let mut halves = params.chunk(2, 1);
    let means = halves.pop().expect("two chunks");
    let scales = halves.pop().expect("two chunks");
    (scales, means)
}

/// The context and aggregation networks of every slice, in the arithmetic coding uses: the
/// float networks, or their exact fixed-point twins. Values in the networks' domain are float32
/// on the model's device for the first, integer-valued float64 on the CPU (scale 2^ACT_BITS)
/// for the second.
pub(crate) trait SliceNets {
    /// Decoded ŷ (float32, any device) in the networks' domain.
    fn domain(&self, y_hat: &Tensor) -> Result<Tensor>;
    /// Slice `k`'s channel context from the decoded slices before it (domain values).
    fn channel_context(&self, k: usize, previous: &[Tensor]) -> Result<Option<Tensor>>;
    /// Slice `k`'s spatial context at every position from its anchors (domain values).
    fn spatial_context(&self, k: usize, anchors: &Tensor) -> Result<Tensor>;
    /// Slice `k`'s (scales, means), float32 on `device`, from the aggregation input (domain
    /// values at any positions).
    fn parameters(&self, k: usize, input: &Tensor, device: Device) -> Result<(Tensor, Tensor)>;
}

/// The float networks.
pub(crate) struct FloatNets<'a>(pub &'a [SliceModel]);

impl SliceNets for FloatNets<'_> {
    fn domain(&self, y_hat: &Tensor) -> Result<Tensor> {
        Ok(y_hat.shallow_clone())
    }

    fn channel_context(&self, k: usize, previous: &[Tensor]) -> Result<Option<Tensor>> {
        Ok(self.0[k].channel_context(previous))
    }

    fn spatial_context(&self, k: usize, anchors: &Tensor) -> Result<Tensor> {
        Ok(self.0[k].spatial_context(anchors))
    }

    fn parameters(&self, k: usize, input: &Tensor, device: Device) -> Result<(Tensor, Tensor)> {
        let (scales, means) = self.0[k].parameters(input);
        Ok((scales.to_device(device), means.to_device(device)))
    }
}

/// One slice's exact networks.
struct ExactSlice {
    cc: Option<ExactNet>,
    context: ExactNet,
    aggregation: ExactNet,
}

/// The exact fixed-point networks, quantized from the current weights.
pub(crate) struct ExactNets(Vec<ExactSlice>);

impl ExactNets {
    pub fn build(slices: &[SliceModel]) -> Self {
        Self(slices.iter().map(SliceModel::build_exact).collect())
    }
}

impl SliceNets for ExactNets {
    /// ŷ = symbol + μ, where μ is a multiple of 2^-ACT_BITS (it comes out of
    /// [`fixed_to_f32`]), so `ŷ · 2^ACT_BITS` is an integer and this conversion is exact while
    /// |ŷ| < 2^(24 − ACT_BITS). Beyond that (only a hostile stream gets there) ŷ is still the
    /// same IEEE float32 sum on both sides, and so is its fixed-point value.
    fn domain(&self, y_hat: &Tensor) -> Result<Tensor> {
        fixed_input(y_hat, &vec![1.0; y_hat.size()[1] as usize])
    }

    fn channel_context(&self, k: usize, previous: &[Tensor]) -> Result<Option<Tensor>> {
        match &self.0[k].cc {
            None => Ok(None),
            Some(cc) => Ok(Some(cc.forward(&Tensor::cat(previous, 1))?)),
        }
    }

    fn spatial_context(&self, k: usize, anchors: &Tensor) -> Result<Tensor> {
        self.0[k].context.forward(anchors)
    }

    fn parameters(&self, k: usize, input: &Tensor, device: Device) -> Result<(Tensor, Tensor)> {
        let params = fixed_to_f32(&self.0[k].aggregation.forward(input)?)?.to_device(device);
        let (scales, means) = split_parameters(&params);
        Ok((scales, means))
    }
}

/// The range coder of one latent stream, encoding or decoding.
pub(crate) enum Coder {
    Encode(SymbolEncoder),
    Decode(SymbolDecoder),
}

/// Codes one step of one slice: the latents at the positions of `scales` and `means` (any
/// shape, coded in memory order). When encoding, `y` holds the latent at the same positions;
/// symbols are `round(y − μ)` (ties to even). Returns ŷ = symbol + μ, shaped like `means`,
/// identically on both sides. The symbols, then their table indexes and means, go into
/// `checksum`.
pub(crate) fn code_step(
    gaussian: &GaussianConditional,
    coder: &mut Coder,
    y: Option<&Tensor>,
    scales: &Tensor,
    means: &Tensor,
    checksum: &mut SymbolChecksum,
) -> Result<Tensor> {
    let indexes = gaussian.indexes(scales)?;
    let means_v = to_f32_vec(means)?;
    let symbols = match coder {
        Coder::Encode(enc) => {
            let y = y.context("encoding needs the latent")?;
            let symbols = mean_shifted_symbols(&to_f32_vec(y)?, &means_v);
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
    checksum.update_parameters(&indexes, &means_v);
    let symbols = Tensor::from_slice(&symbols).to_kind(Kind::Float).to_device(means.device());
    Ok(symbols.view(means.size().as_slice()) + means)
}
