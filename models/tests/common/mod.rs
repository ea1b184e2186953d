//! Helpers shared by the model tests: tiny random models and smooth test images.

use neco_models::{ImageModel, ModelConfig};
use tch::{nn, Device, Kind, Tensor};

/// A smooth random image (1, 3, h, w) in [0, 1]: bilinear upsampling of 8× coarser noise.
pub fn smooth_image(h: i64, w: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let noise = Tensor::rand([1, 3, h / 8, w / 8], (Kind::Float, Device::Cpu));
    noise.upsample_bilinear2d([h, w], false, None, None).clamp(0.0, 1.0)
}

/// A model with seeded random weights and its coding tables, its variables frozen as loaded
/// weights are (so refinement differentiates with respect to the latents only).
pub fn build(cfg: &ModelConfig, seed: i64) -> (nn::VarStore, Box<dyn ImageModel>) {
    tch::manual_seed(seed);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = cfg.build(&vs.root()).unwrap();
    model.update_tables().unwrap();
    vs.freeze();
    (vs, model)
}
