//! neco's model families on libtorch (tch): layers, entropy models and architectures.
//!
//! One definition per architecture serves training (`forward` with noise or straight-through
//! quantization, likelihoods, auxiliary loss), evaluation, and coding (`compress` and
//! `decompress` through `neco_bitstream`). Build a model from a [`ModelConfig`], or load one
//! with [`weights::load`].

pub mod config;
pub mod device;
pub mod elic;
pub mod entropy;
pub mod exact;
pub mod hyperprior;
pub mod layers;
pub mod model;
pub mod refine;
pub mod wavelet;
pub mod weights;

pub use config::{Arch, ModelConfig};
pub use entropy::Quantization;
pub use model::{pad_to_stride, CompressedLatents, ForwardOutput, ImageModel, Rate};
pub use refine::{Refinement, RefinementReport};
