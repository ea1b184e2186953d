//! Residual, sub-pixel and attention blocks (CompressAI's `compressai.layers`, Cheng et al. 2020).

use super::{conv1x1, conv3x3, Gdn};
use tch::nn::{self, Module};
use tch::Tensor;

/// A 3×3 convolution to `out · r²` channels followed by a pixel shuffle (×r upsampling).
/// Variables live under `0.` as in CompressAI's `nn.Sequential(conv, PixelShuffle)`.
#[derive(Debug)]
pub struct SubpelConv {
    conv: nn::Conv2D,
    upscale: i64,
}

pub fn subpel_conv3x3(vs: nn::Path, in_channels: i64, out_channels: i64, upscale: i64) -> SubpelConv {
    SubpelConv { conv: conv3x3(vs / "0", in_channels, out_channels * upscale * upscale, 1), upscale }
}

impl Module for SubpelConv {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(x).pixel_shuffle(self.upscale)
    }
}

/// Two 3×3 convolutions with LeakyReLU and a (1×1 if needed) skip.
#[derive(Debug)]
pub struct ResidualBlock {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    skip: Option<nn::Conv2D>,
}

impl ResidualBlock {
    pub fn new(vs: nn::Path, in_channels: i64, out_channels: i64) -> Self {
        let skip = (in_channels != out_channels).then(|| conv1x1(&vs / "skip", in_channels, out_channels, 1));
        Self {
            conv1: conv3x3(&vs / "conv1", in_channels, out_channels, 1),
            conv2: conv3x3(&vs / "conv2", out_channels, out_channels, 1),
            skip,
        }
    }
}

impl Module for ResidualBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        let out = self.conv2.forward(&self.conv1.forward(x).leaky_relu()).leaky_relu();
        let identity = self.skip.as_ref().map_or_else(|| x.shallow_clone(), |s| s.forward(x));
        out + identity
    }
}

/// A strided residual block ending in GDN: the downsampling step of Cheng et al.'s analysis.
#[derive(Debug)]
pub struct ResidualBlockWithStride {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    gdn: Gdn,
    skip: Option<nn::Conv2D>,
}

impl ResidualBlockWithStride {
    pub fn new(vs: nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> Self {
        let skip = (stride != 1 || in_channels != out_channels)
            .then(|| conv1x1(&vs / "skip", in_channels, out_channels, stride));
        Self {
            conv1: conv3x3(&vs / "conv1", in_channels, out_channels, stride),
            conv2: conv3x3(&vs / "conv2", out_channels, out_channels, 1),
            gdn: Gdn::new(&vs / "gdn", out_channels, false),
            skip,
        }
    }
}

impl Module for ResidualBlockWithStride {
    fn forward(&self, x: &Tensor) -> Tensor {
        let out = self.gdn.forward(&self.conv2.forward(&self.conv1.forward(x).leaky_relu()));
        let identity = self.skip.as_ref().map_or_else(|| x.shallow_clone(), |s| s.forward(x));
        out + identity
    }
}

/// A sub-pixel upsampling residual block ending in IGDN: the synthesis counterpart.
#[derive(Debug)]
pub struct ResidualBlockUpsample {
    subpel_conv: SubpelConv,
    conv: nn::Conv2D,
    igdn: Gdn,
    upsample: SubpelConv,
}

impl ResidualBlockUpsample {
    pub fn new(vs: nn::Path, in_channels: i64, out_channels: i64, upscale: i64) -> Self {
        Self {
            subpel_conv: subpel_conv3x3(&vs / "subpel_conv", in_channels, out_channels, upscale),
            conv: conv3x3(&vs / "conv", out_channels, out_channels, 1),
            igdn: Gdn::new(&vs / "igdn", out_channels, true),
            upsample: subpel_conv3x3(&vs / "upsample", in_channels, out_channels, upscale),
        }
    }
}

impl Module for ResidualBlockUpsample {
    fn forward(&self, x: &Tensor) -> Tensor {
        let out = self.igdn.forward(&self.conv.forward(&self.subpel_conv.forward(x).leaky_relu()));
        out + self.upsample.forward(x)
    }
}

/// Cheng et al.'s simplified attention: `x + a(x) · sigmoid(b(x))`, each branch three residual
/// units (1×1 → 3×3 → 1×1 bottlenecks).
#[derive(Debug)]
pub struct AttentionBlock {
    branch_a: Vec<ResidualUnit>,
    branch_b: Vec<ResidualUnit>,
    branch_b_out: nn::Conv2D,
}

#[derive(Debug)]
struct ResidualUnit {
    reduce: nn::Conv2D,
    spatial: nn::Conv2D,
    expand: nn::Conv2D,
}

impl ResidualUnit {
    fn new(vs: nn::Path, channels: i64) -> Self {
        let conv = &vs / "conv";
        Self {
            reduce: conv1x1(&conv / "0", channels, channels / 2, 1),
            spatial: conv3x3(&conv / "2", channels / 2, channels / 2, 1),
            expand: conv1x1(&conv / "4", channels / 2, channels, 1),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let out = self.expand.forward(&self.spatial.forward(&self.reduce.forward(x).relu()).relu());
        (out + x).relu()
    }
}

impl AttentionBlock {
    pub fn new(vs: nn::Path, channels: i64) -> Self {
        let (a, b) = (&vs / "conv_a", &vs / "conv_b");
        Self {
            branch_a: (0..3).map(|i| ResidualUnit::new(&a / i, channels)).collect(),
            branch_b: (0..3).map(|i| ResidualUnit::new(&b / i, channels)).collect(),
            branch_b_out: conv1x1(&b / 3, channels, channels, 1),
        }
    }
}

impl Module for AttentionBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = self.branch_a.iter().fold(x.shallow_clone(), |t, u| u.forward(&t));
        let b = self.branch_b.iter().fold(x.shallow_clone(), |t, u| u.forward(&t));
        let b = self.branch_b_out.forward(&b);
        a * b.sigmoid() + x
    }
}
