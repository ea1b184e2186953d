//! Exact evaluation of the networks that predict entropy parameters.
//!
//! A decoder must rebuild every probability the encoder used, bit for bit. Float convolutions
//! give different roundings on different devices, libraries and thread counts, so the small
//! networks that turn decoded symbols into scales and means (the hyper-synthesis, and ELIC's
//! context models) are evaluated here in fixed point instead:
//!
//! - activations are integers `q` standing for `q / 2^ACT_BITS`;
//! - weights are the stored f32 weights rounded to multiples of `2^-WEIGHT_BITS`, biases to
//!   multiples of `2^-(ACT_BITS + WEIGHT_BITS)`;
//! - each convolution runs in float64 on integer-valued tensors on the CPU. Every product and
//!   every partial sum is an integer below 2^53, so it is exact whatever the summation order,
//!   algorithm or thread count; results are checked against that bound;
//! - after each layer the accumulator is rescaled by a power of two and floored (exact), and
//!   LeakyReLU uses the exact slope 41/4096 (≈ 0.01).
//!
//! The float network is what training optimises; this is its deterministic twin, used by both
//! `compress` and `decompress`.
//!
//! The synthesis transform g_s is evaluated the same way when decoding (at
//! [`Precision::SYNTHESIS`], rounding to nearest), so decoded pixels too are identical on every
//! device, thread count and machine. Its inverse GDN uses an exactly rounded square root, which
//! IEEE 754 guarantees on every conforming machine, like `+`, `×` and `÷`.

use crate::layers::Gdn;
use anyhow::{ensure, Result};
use tch::{nn, Device, Kind, Tensor};

/// Fraction bits of activations (and of the predicted scales and means).
pub const ACT_BITS: i32 = 10;
/// Fraction bits of weights.
pub const WEIGHT_BITS: i32 = 16;
/// Fraction bits of the synthesis transform's activations (see [`Precision::SYNTHESIS`]).
pub const SYNTHESIS_BITS: i32 = 12;
/// Largest magnitude an accumulator may reach: below 2^53 every integer is exact in float64.
const ACCUMULATOR_LIMIT: f64 = 4_503_599_627_370_496.0; // 2^52
/// LeakyReLU's negative slope as an exact fraction.
const LEAKY_NUMERATOR: f64 = 41.0;
const LEAKY_DENOMINATOR_BITS: i32 = 12;
#[cfg(test)]
const LEAKY_DENOMINATOR: f64 = 4096.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    LeakyRelu,
}

/// How an accumulator is brought back to the activation scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Towards −∞ (the entropy-parameter networks; part of the stream format).
    Floor,
    /// To nearest, ties to even (the synthesis: unbiased, so errors do not pile up over layers).
    Nearest,
}

/// Fixed-point format of a network's activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    pub frac_bits: i32,
    pub rounding: Rounding,
}

impl Precision {
    /// The entropy-parameter networks. Changing this changes every learned stream.
    pub const ENTROPY: Precision = Precision { frac_bits: ACT_BITS, rounding: Rounding::Floor };
    /// The synthesis transform. Changing this changes decoded pixels (not streams).
    pub const SYNTHESIS: Precision = Precision { frac_bits: SYNTHESIS_BITS, rounding: Rounding::Nearest };

    /// [`Self::rescale`] in place (saves a pass over large synthesis activations).
    fn rescale_in_place(&self, t: &mut Tensor, shift: i32) {
        let _ = t.g_div_scalar_(2f64.powi(shift));
        let _ = match self.rounding {
            Rounding::Floor => t.floor_(),
            Rounding::Nearest => t.round_(),
        };
    }

    /// `t / 2^shift`, rounded to an integer (the division is exact: a power of two).
    fn rescale(&self, t: &Tensor, shift: i32) -> Tensor {
        let scaled = t / 2f64.powi(shift);
        match self.rounding {
            Rounding::Floor => scaled.floor(),
            Rounding::Nearest => scaled.round(),
        }
    }
}

#[derive(Debug)]
enum Operator {
    Conv {
        stride: i64,
        padding: i64,
    },
    Deconv {
        stride: i64,
        padding: i64,
        output_padding: i64,
    },
    /// Inverse GDN: `x · sqrt(β + γ·x²)`, with γ as a 1×1 convolution weight and β as its bias.
    InverseGdn,
}

/// One quantized convolution followed by its activation.
#[derive(Debug)]
struct ExactLayer {
    operator: Operator,
    /// Integer-valued float64 weights (scale 2^WEIGHT_BITS), CPU.
    weight: Tensor,
    /// Integer-valued float64 bias (scale 2^(ACT_BITS + WEIGHT_BITS)), CPU.
    bias: Tensor,
    activation: Activation,
    /// Bound on |accumulator| per unit of max |input|: the largest Σ|w| of any output channel.
    weight_l1: f64,
    bias_max: f64,
}

impl ExactLayer {
    fn new(operator: Operator, weight: Tensor, bias: Tensor, activation: Activation, output_dim: i64) -> Self {
        let per_output = weight.abs().transpose(0, output_dim).flatten(1, -1).sum_dim_intlist(1, false, Kind::Double);
        let weight_l1 = per_output.max().double_value(&[]);
        let bias_max = bias.abs().max().double_value(&[]);
        Self { operator, weight, bias, activation, weight_l1, bias_max }
    }
}

/// A chain of convolutions evaluated exactly (see the module docs).
#[derive(Debug)]
pub struct ExactNet {
    layers: Vec<ExactLayer>,
    precision: Precision,
}

impl Default for ExactNet {
    fn default() -> Self {
        Self::with_precision(Precision::ENTROPY)
    }
}

fn quantize(t: &Tensor, bits: i32) -> Tensor {
    // ×2^bits is exact; round() is IEEE round-half-even on any machine.
    (t.detach().to_device(Device::Cpu).to_kind(Kind::Double) * 2f64.powi(bits)).round()
}

fn bias_of(bs: Option<&Tensor>, channels: i64, frac_bits: i32) -> Tensor {
    match bs {
        Some(b) => quantize(b, frac_bits + WEIGHT_BITS),
        None => Tensor::zeros([channels], (Kind::Double, Device::Cpu)),
    }
}

fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 {
        0.0
    } else {
        t.abs().max().double_value(&[])
    }
}

impl ExactNet {
    /// An empty net at the entropy networks' precision.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_precision(precision: Precision) -> Self {
        Self { layers: vec![], precision }
    }

    /// Appends a convolution with weight `ws` (out, in, k, k) and bias `bs`.
    pub fn conv(mut self, ws: &Tensor, bs: Option<&Tensor>, stride: i64, padding: i64, activation: Activation) -> Self {
        let out = ws.size()[0];
        self.layers.push(ExactLayer::new(
            Operator::Conv { stride, padding },
            quantize(ws, WEIGHT_BITS),
            bias_of(bs, out, self.precision.frac_bits),
            activation,
            0,
        ));
        self
    }

    /// Appends an inverse GDN with the effective (non-negative) `beta` (C) and `gamma` (C×C).
    pub fn inverse_gdn(mut self, beta: &Tensor, gamma: &Tensor) -> Self {
        let c = beta.size()[0];
        self.layers.push(ExactLayer::new(
            Operator::InverseGdn,
            quantize(&gamma.view([c, c, 1, 1]), WEIGHT_BITS),
            bias_of(Some(beta), c, self.precision.frac_bits),
            Activation::None,
            0,
        ));
        self
    }

    /// Appends a transposed convolution with weight `ws` (in, out, k, k) and bias `bs`.
    pub fn deconv(
        mut self,
        ws: &Tensor,
        bs: Option<&Tensor>,
        stride: i64,
        padding: i64,
        output_padding: i64,
        activation: Activation,
    ) -> Self {
        let out = ws.size()[1];
        self.layers.push(ExactLayer::new(
            Operator::Deconv { stride, padding, output_padding },
            quantize(ws, WEIGHT_BITS),
            bias_of(bs, out, self.precision.frac_bits),
            activation,
            1,
        ));
        self
    }

    /// Runs the net on fixed-point input (integer-valued float64, scale 2^frac_bits) and returns
    /// fixed-point output at the same scale, on the CPU.
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let p = self.precision;
        let mut x = input.to_device(Device::Cpu).to_kind(Kind::Double);
        for (i, layer) in self.layers.iter().enumerate() {
            // A priori bound on every partial sum: exactness needs it below 2^53. Only a hostile
            // or corrupt stream can get near it.
            let input_max = max_abs(&x);
            let out_of_range = || format!("exact network layer {i}: values out of the exact range (corrupt stream?)");
            let accumulate = |x: &Tensor, input_max: f64| -> Result<Tensor> {
                let bound = input_max * layer.weight_l1 + layer.bias_max;
                ensure!(bound.is_finite() && bound < ACCUMULATOR_LIMIT, out_of_range());
                Ok(match layer.operator {
                    Operator::Conv { stride, padding } => {
                        x.conv2d(&layer.weight, Some(&layer.bias), [stride, stride], [padding, padding], [1, 1], 1)
                    }
                    Operator::Deconv { stride, padding, output_padding } => x.conv_transpose2d(
                        &layer.weight,
                        Some(&layer.bias),
                        [stride, stride],
                        [padding, padding],
                        [output_padding, output_padding],
                        1,
                        [1, 1],
                    ),
                    Operator::InverseGdn => x.conv2d(&layer.weight, Some(&layer.bias), [1, 1], [0, 0], [1, 1], 1),
                })
            };
            if let Operator::InverseGdn = layer.operator {
                x = inverse_gdn(&x, layer, input_max, p).ok_or_else(|| anyhow::anyhow!(out_of_range()))??;
                continue;
            }
            let mut acc = accumulate(&x, input_max)?;
            // Back to the activation scale: an exact power-of-two division, then rounding.
            p.rescale_in_place(&mut acc, WEIGHT_BITS);
            let rescaled = acc;
            x = match layer.activation {
                Activation::None => rescaled,
                Activation::Relu => rescaled.clamp_min(0.0),
                Activation::LeakyRelu => {
                    let negative = p.rescale(&(&rescaled * LEAKY_NUMERATOR), LEAKY_DENOMINATOR_BITS);
                    rescaled.where_self(&rescaled.ge(0.0), &negative)
                }
            };
        }
        Ok(x)
    }
}

/// Exact inverse GDN on fixed-point `x` (N, C, H, W): `round(x · sqrt(β + γ·round(x²)))`, where
/// x² is exact below 2^52, γ·x² + β is one integer matrix product per image (exact below 2^52,
/// checked), and sqrt and × are correctly rounded IEEE operations. `None` when out of range.
fn inverse_gdn(x: &Tensor, layer: &ExactLayer, input_max: f64, p: Precision) -> Option<Result<Tensor>> {
    if !input_max.is_finite() || input_max * input_max >= ACCUMULATOR_LIMIT {
        return None;
    }
    let square_max = (input_max * input_max / 2f64.powi(p.frac_bits)).ceil();
    if square_max * layer.weight_l1 + layer.bias_max >= ACCUMULATOR_LIMIT {
        return None;
    }
    Some((|| {
        let (n, c, h, w) = x.size4()?;
        let flat = x.view([n, c, h * w]);
        let mut square = &flat * &flat;
        p.rescale_in_place(&mut square, p.frac_bits);
        let mut norm = layer.weight.view([c, c]).matmul(&square);
        drop(square);
        let _ = norm.g_add_(&layer.bias.view([c, 1]));
        let _ = norm.g_div_scalar_(2f64.powi(p.frac_bits + WEIGHT_BITS));
        let _ = norm.sqrt_();
        let _ = norm.g_mul_(&flat);
        p.rescale_in_place(&mut norm, 0);
        Ok(norm.view([n, c, h, w]))
    })())
}

/// A network's layer list with live handles to its (trainable) weights, from which an
/// [`ExactNet`] is quantized whenever coding needs one (so it always matches current weights).
#[derive(Debug, Default)]
pub struct ExactNetSpec {
    layers: Vec<SpecLayer>,
}

#[derive(Debug)]
enum SpecLayer {
    Conv { transposed: bool, ws: Tensor, bs: Option<Tensor>, stride: i64, padding: i64, activation: Activation },
    InverseGdn(Gdn),
}

impl ExactNetSpec {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn conv(mut self, conv: &nn::Conv2D, stride: i64, padding: i64, activation: Activation) -> Self {
        self.layers.push(SpecLayer::Conv {
            transposed: false,
            ws: conv.ws.shallow_clone(),
            bs: conv.bs.as_ref().map(Tensor::shallow_clone),
            stride,
            padding,
            activation,
        });
        self
    }

    /// A transposed convolution with CompressAI's `deconv` geometry (output padding stride − 1).
    pub fn deconv(mut self, deconv: &nn::ConvTranspose2D, stride: i64, padding: i64, activation: Activation) -> Self {
        self.layers.push(SpecLayer::Conv {
            transposed: true,
            ws: deconv.ws.shallow_clone(),
            bs: deconv.bs.as_ref().map(Tensor::shallow_clone),
            stride,
            padding,
            activation,
        });
        self
    }

    /// An inverse GDN (shares the variables of `gdn`).
    pub fn inverse_gdn(mut self, gdn: &Gdn) -> Self {
        self.layers.push(SpecLayer::InverseGdn(gdn.shallow_clone()));
        self
    }

    /// Quantizes the current weights at the entropy networks' precision.
    pub fn build(&self) -> ExactNet {
        self.build_with(Precision::ENTROPY)
    }

    /// Quantizes the current weights at `precision`.
    pub fn build_with(&self, precision: Precision) -> ExactNet {
        let _guard = tch::no_grad_guard();
        self.layers.iter().fold(ExactNet::with_precision(precision), |net, l| match l {
            SpecLayer::Conv { transposed: true, ws, bs, stride, padding, activation } => {
                net.deconv(ws, bs.as_ref(), *stride, *padding, stride - 1, *activation)
            }
            SpecLayer::Conv { transposed: false, ws, bs, stride, padding, activation } => {
                net.conv(ws, bs.as_ref(), *stride, *padding, *activation)
            }
            SpecLayer::InverseGdn(gdn) => {
                let (beta, gamma) = gdn.effective_parameters();
                net.inverse_gdn(&beta, &gamma)
            }
        })
    }
}

impl ExactNetSpec {
    /// The float twin of [`build_with`](Self::build_with)`(precision).forward`, for training the
    /// integer parts (quantization-aware fine-tuning): weights, biases, the input and every
    /// layer's output are rounded exactly as the exact net rounds them, with straight-through
    /// gradients, so the loss sees the entropy parameters the coder will use. Values are in
    /// real units (not scaled by 2^frac_bits), on the input's device. Accumulation is float32,
    /// so it can differ from the exact net by a unit in the last place now and then.
    pub fn forward_quantization_aware(&self, x: &Tensor, precision: Precision) -> Tensor {
        let straight_through = |t: &Tensor, q: Tensor| t + (q - t).detach();
        let grid = |t: &Tensor, bits: i32, p: Precision| -> Tensor {
            let scale = 2f64.powi(bits);
            straight_through(t, p.rescale(&(t * scale), 0) / scale)
        };
        let nearest = Precision { rounding: Rounding::Nearest, ..precision };
        let f = precision.frac_bits;
        let mut x = grid(x, f, nearest);
        for layer in &self.layers {
            x = match layer {
                SpecLayer::Conv { transposed, ws, bs, stride, padding, activation } => {
                    let w = grid(ws, WEIGHT_BITS, nearest);
                    let b = bs.as_ref().map(|b| grid(b, f + WEIGHT_BITS, nearest));
                    let (s, p) = (*stride, *padding);
                    let y = if *transposed {
                        x.conv_transpose2d(&w, b.as_ref(), [s, s], [p, p], [s - 1, s - 1], 1, [1, 1])
                    } else {
                        x.conv2d(&w, b.as_ref(), [s, s], [p, p], [1, 1], 1)
                    };
                    let y = grid(&y, f, precision);
                    match activation {
                        Activation::None => y,
                        Activation::Relu => y.relu(),
                        Activation::LeakyRelu => {
                            let negative =
                                grid(&(&y * (LEAKY_NUMERATOR / 2f64.powi(LEAKY_DENOMINATOR_BITS))), f, precision);
                            y.where_self(&y.ge(0.0), &negative)
                        }
                    }
                }
                SpecLayer::InverseGdn(gdn) => grid(&nn::Module::forward(gdn, &x), f, precision),
            };
        }
        x
    }
}

/// Converts fixed-point network output (integer-valued float64) to the float32 values it
/// stands for. Exact while |q| < 2^24, which is checked.
pub fn fixed_to_f32(q: &Tensor) -> Result<Tensor> {
    fixed_to_f32_at(q, ACT_BITS)
}

/// [`fixed_to_f32`] for `frac_bits` fraction bits.
pub fn fixed_to_f32_at(q: &Tensor, frac_bits: i32) -> Result<Tensor> {
    ensure!(max_abs(q) < 16_777_216.0, "fixed-point values out of range (corrupt stream?)");
    Ok((q / 2f64.powi(frac_bits)).to_kind(Kind::Float))
}

/// Fixed-point input of an exact network: `round(x · g_c · 2^ACT_BITS)` for a float32 tensor x
/// (N, C, H, W) and per-channel float64 factors `g` (pass 1.0s for none), computed in float64 on
/// the CPU (every step is a correctly rounded IEEE operation, so identical everywhere).
pub fn fixed_input(x: &Tensor, channel_factors: &[f64]) -> Result<Tensor> {
    fixed_input_at(x, channel_factors, ACT_BITS)
}

/// [`fixed_input`] for `frac_bits` fraction bits.
pub fn fixed_input_at(x: &Tensor, channel_factors: &[f64], frac_bits: i32) -> Result<Tensor> {
    let size = x.size();
    ensure!(size.len() == 4 && size[1] as usize == channel_factors.len(), "fixed_input: channel count mismatch");
    let g = Tensor::from_slice(channel_factors).view([1, -1, 1, 1]);
    let v = x.detach().to_device(Device::Cpu).to_kind(Kind::Double) * g * 2f64.powi(frac_bits);
    Ok(v.round())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float64 reference of a quantized net: the same convolutions on the quantized
    /// weights, without flooring (so it differs from the exact result by under a unit per layer).
    fn reference(x: &Tensor, layers: &[(Tensor, Tensor, i64, Activation)]) -> Tensor {
        let mut x = x / 2f64.powi(ACT_BITS);
        for (w, b, padding, activation) in layers {
            let w = quantize(w, WEIGHT_BITS) / 2f64.powi(WEIGHT_BITS);
            let b = quantize(b, ACT_BITS + WEIGHT_BITS) / 2f64.powi(ACT_BITS + WEIGHT_BITS);
            x = x.conv2d(&w, Some(&b), [1, 1], [*padding, *padding], [1, 1], 1);
            x = match activation {
                Activation::None => x,
                Activation::Relu => x.relu(),
                Activation::LeakyRelu => x.where_self(&x.ge(0.0), &(&x * LEAKY_NUMERATOR / LEAKY_DENOMINATOR)),
            };
        }
        x * 2f64.powi(ACT_BITS)
    }

    /// ELIC's context geometry: 5×5 convolutions with padding 2 and ReLU (channel and spatial
    /// context), and 1×1 convolutions with LeakyReLU on gathered positions (aggregation).
    #[test]
    fn same_padded_and_pointwise_convolutions_match_the_float_reference() {
        tch::manual_seed(1);
        let opts = (Kind::Float, Device::Cpu);
        let layers = vec![
            (Tensor::randn([6, 3, 5, 5], opts) * 0.2, Tensor::randn([6], opts) * 0.1, 2, Activation::Relu),
            (Tensor::randn([4, 6, 5, 5], opts) * 0.2, Tensor::randn([4], opts) * 0.1, 2, Activation::None),
            (Tensor::randn([5, 4, 1, 1], opts) * 0.5, Tensor::randn([5], opts) * 0.1, 0, Activation::LeakyRelu),
            (Tensor::randn([2, 5, 1, 1], opts) * 0.5, Tensor::randn([2], opts) * 0.1, 0, Activation::None),
        ];
        let net = layers.iter().fold(ExactNet::new(), |net, (w, b, p, a)| net.conv(w, Some(b), 1, *p, *a));
        let x = fixed_input(&(Tensor::randn([1, 3, 7, 9], opts) * 3.0).round(), &[1.0; 3]).unwrap();
        let out = net.forward(&x).unwrap();
        assert_eq!(out.size(), [1, 2, 7, 9]);
        assert!(out.equal(&out.round()), "fixed-point output is not integral");
        let err = (&out - reference(&x, &layers)).abs().max().double_value(&[]);
        assert!(err < 64.0, "exact net is {err} units of 2^-{ACT_BITS} from the float reference");
        // Pointwise layers on gathered positions give exactly the full-resolution values there.
        let pointwise = layers[2..].iter().fold(ExactNet::new(), |net, (w, b, p, a)| net.conv(w, Some(b), 1, *p, *a));
        let inner = layers[..2].iter().fold(ExactNet::new(), |net, (w, b, p, a)| net.conv(w, Some(b), 1, *p, *a));
        let mid = inner.forward(&x).unwrap();
        let index = Tensor::from_slice(&[0i64, 5, 17, 62]);
        let gathered = pointwise.forward(&mid.flatten(2, 3).index_select(2, &index).unsqueeze(2)).unwrap();
        assert!(gathered.squeeze_dim(2).equal(&out.flatten(2, 3).index_select(2, &index)));
        // Inputs beyond the exact range are refused, not silently rounded.
        assert!(net.forward(&(x.ones_like() * 1e15)).is_err());
    }

    /// Quantization-aware training sees (almost) exactly what coding computes, and its
    /// gradients reach the weights.
    #[test]
    fn quantization_aware_forward_matches_the_exact_net() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let c1 = nn::conv2d(&root / "a", 3, 6, 3, nn::ConvConfig { padding: 1, ..Default::default() });
        let c2 = nn::conv_transpose2d(
            &root / "b",
            6,
            4,
            5,
            nn::ConvTransposeConfig { stride: 2, padding: 2, output_padding: 1, ..Default::default() },
        );
        let spec = ExactNetSpec::new().conv(&c1, 1, 1, Activation::LeakyRelu).deconv(&c2, 2, 2, Activation::None);
        let x = Tensor::randn([1, 3, 6, 7], (Kind::Float, Device::Cpu)) * 3.0;
        let exact = spec.build().forward(&fixed_input(&x, &[1.0; 3]).unwrap()).unwrap();
        let trained = spec.forward_quantization_aware(&x, Precision::ENTROPY);
        let units = (trained.to_kind(Kind::Double) * 2f64.powi(ACT_BITS) - &exact).abs();
        let (max, differing) = (units.max().double_value(&[]), units.gt(0.0).sum(Kind::Int64).int64_value(&[]));
        assert!(max <= 1.0 && differing * 50 <= units.numel() as i64, "{differing} values off, by up to {max} units");
        trained.sum(Kind::Float).backward();
        assert!(c1.ws.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0, "no gradient reaches the weights");
    }
}
