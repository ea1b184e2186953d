//! Building blocks shared by the learned model families.
//!
//! Names and shapes follow CompressAI (`compressai.layers`, `compressai.models.utils`), so a
//! CompressAI `state_dict` maps onto neco's variables key for key.

mod gdn;
mod lower_bound;
mod residual;

pub use gdn::Gdn;
pub use lower_bound::lower_bound;
pub use residual::{subpel_conv3x3, AttentionBlock, ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride};

use tch::nn;

/// CompressAI's `conv(in, out, kernel_size, stride)`: "same" padding of `kernel / 2`.
pub fn conv(vs: nn::Path, in_channels: i64, out_channels: i64, kernel: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding: kernel / 2, ..Default::default() };
    nn::conv2d(vs, in_channels, out_channels, kernel, cfg)
}

/// CompressAI's `deconv(in, out, kernel_size, stride)`: the exact transpose of [`conv`], so that
/// the output is `stride` times the input size.
pub fn deconv(vs: nn::Path, in_channels: i64, out_channels: i64, kernel: i64, stride: i64) -> nn::ConvTranspose2D {
    let cfg = nn::ConvTransposeConfig { stride, padding: kernel / 2, output_padding: stride - 1, ..Default::default() };
    nn::conv_transpose2d(vs, in_channels, out_channels, kernel, cfg)
}

/// CompressAI's `conv3x3` (stride 1 or 2, padding 1).
pub fn conv3x3(vs: nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(vs, in_channels, out_channels, 3, nn::ConvConfig { stride, padding: 1, ..Default::default() })
}

/// CompressAI's `conv1x1`.
pub fn conv1x1(vs: nn::Path, in_channels: i64, out_channels: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(vs, in_channels, out_channels, 1, nn::ConvConfig { stride, ..Default::default() })
}

/// LeakyReLU with PyTorch's default slope, as CompressAI's `nn.LeakyReLU()`.
pub fn leaky_relu(x: &tch::Tensor) -> tch::Tensor {
    x.leaky_relu()
}
