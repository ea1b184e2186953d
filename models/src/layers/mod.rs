//! Building blocks shared by the learned model families.
//!
//! Names and shapes follow CompressAI (`compressai.layers`, `compressai.models.utils`), so a
//! CompressAI `state_dict` maps onto neco's variables key for key.

mod gdn;
mod lower_bound;
mod residual;

pub use gdn::{project_gdn_parameters, Gdn};
pub use lower_bound::{lower_bound, scale_lower_bound};
pub use residual::{subpel_conv3x3, AttentionBlock, ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride};

use tch::nn;

/// PyTorch's default initialisation of a convolution (`kaiming_uniform_(a=√5)` for the weight,
/// U(±1/√fan_in) for the bias), which CompressAI's models train from. tch's own default uses the
/// ReLU gain, √6 times larger, which starts an 8-layer GDN stack far from the identity scale.
/// `fan_in` is `weight.size(1) · k²` as in PyTorch (the output channels for a transposed conv).
fn torch_default_init(fan_in: i64) -> (nn::Init, nn::Init) {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let weight = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Uniform,
        fan: nn::init::FanInOut::FanIn,
        non_linearity: nn::init::NonLinearity::ExplicitGain((1.0f64 / 3.0).sqrt()),
    };
    (weight, nn::Init::Uniform { lo: -bound, up: bound })
}

/// A convolution with "same" padding and PyTorch's default initialisation.
pub fn conv_padded(
    vs: nn::Path,
    in_channels: i64,
    out_channels: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> nn::Conv2D {
    let (ws_init, bs_init) = torch_default_init(in_channels * kernel * kernel);
    let cfg = nn::ConvConfig { stride, padding, ws_init, bs_init, ..Default::default() };
    nn::conv2d(vs, in_channels, out_channels, kernel, cfg)
}

/// CompressAI's `conv(in, out, kernel_size, stride)`: "same" padding of `kernel / 2`.
pub fn conv(vs: nn::Path, in_channels: i64, out_channels: i64, kernel: i64, stride: i64) -> nn::Conv2D {
    conv_padded(vs, in_channels, out_channels, kernel, stride, kernel / 2)
}

/// CompressAI's `deconv(in, out, kernel_size, stride)`: the exact transpose of [`conv`], so that
/// the output is `stride` times the input size.
pub fn deconv(vs: nn::Path, in_channels: i64, out_channels: i64, kernel: i64, stride: i64) -> nn::ConvTranspose2D {
    let (ws_init, bs_init) = torch_default_init(out_channels * kernel * kernel);
    let cfg = nn::ConvTransposeConfig {
        stride,
        padding: kernel / 2,
        output_padding: stride - 1,
        ws_init,
        bs_init,
        ..Default::default()
    };
    nn::conv_transpose2d(vs, in_channels, out_channels, kernel, cfg)
}

/// CompressAI's `conv3x3` (stride 1 or 2, padding 1).
pub fn conv3x3(vs: nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> nn::Conv2D {
    conv_padded(vs, in_channels, out_channels, 3, stride, 1)
}

/// CompressAI's `conv1x1`.
pub fn conv1x1(vs: nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> nn::Conv2D {
    conv_padded(vs, in_channels, out_channels, 1, stride, 0)
}

/// LeakyReLU with PyTorch's default slope, as CompressAI's `nn.LeakyReLU()`.
pub fn leaky_relu(x: &tch::Tensor) -> tch::Tensor {
    x.leaky_relu()
}
