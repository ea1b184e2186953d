//! Generalized divisive normalization (Ballé et al. 2016), as CompressAI implements it.

use super::lower_bound;
use tch::{nn, Tensor};

/// CompressAI's `NonNegativeParametrizer` constants: values are stored as `sqrt(v + pedestal)`.
const REPARAM_OFFSET: f64 = 3.814_697_265_625e-6; // 2^-18
const PEDESTAL: f64 = REPARAM_OFFSET * REPARAM_OFFSET;
const BETA_MIN: f64 = 1e-6;
const GAMMA_INIT: f64 = 0.1;

/// GDN (`y = x / sqrt(β + γ·x²)`) or its inverse IGDN (`y = x · sqrt(β + γ·x²)`).
///
/// Variables `beta` (C) and `gamma` (C×C) hold the reparametrized values, as CompressAI's
/// state_dict does.
#[derive(Debug)]
pub struct Gdn {
    beta: Tensor,
    gamma: Tensor,
    channels: i64,
    inverse: bool,
}

impl Gdn {
    pub fn new(vs: nn::Path, channels: i64, inverse: bool) -> Self {
        let beta_init = Tensor::full([channels], (1.0 + PEDESTAL).sqrt(), (tch::Kind::Float, vs.device()));
        let gamma_init = (Tensor::eye(channels, (tch::Kind::Float, vs.device())) * GAMMA_INIT + PEDESTAL).sqrt();
        let beta = vs.var_copy("beta", &beta_init);
        let gamma = vs.var_copy("gamma", &gamma_init);
        Self { beta, gamma, channels, inverse }
    }

    /// A second handle on the same variables.
    pub fn shallow_clone(&self) -> Self {
        Self {
            beta: self.beta.shallow_clone(),
            gamma: self.gamma.shallow_clone(),
            channels: self.channels,
            inverse: self.inverse,
        }
    }

    /// The effective β (C) and γ (C×C) in float64 on the CPU, for exact evaluation: computed
    /// there with correctly rounded IEEE operations, so identical on every machine.
    pub fn effective_parameters(&self) -> (Tensor, Tensor) {
        let _guard = tch::no_grad_guard();
        let cpu = |t: &Tensor| t.detach().to_device(tch::Device::Cpu).to_kind(tch::Kind::Double);
        let beta = cpu(&self.beta).clamp_min((BETA_MIN + PEDESTAL).sqrt()).square() - PEDESTAL;
        let gamma = cpu(&self.gamma).clamp_min(REPARAM_OFFSET).square() - PEDESTAL;
        (beta, gamma)
    }

    fn beta(&self) -> Tensor {
        let bound = (BETA_MIN + PEDESTAL).sqrt();
        lower_bound(&self.beta, bound).square() - PEDESTAL
    }

    fn gamma(&self) -> Tensor {
        lower_bound(&self.gamma, REPARAM_OFFSET).square() - PEDESTAL
    }
}

impl nn::Module for Gdn {
    fn forward(&self, x: &Tensor) -> Tensor {
        let gamma = self.gamma().view([self.channels, self.channels, 1, 1]);
        let norm = x.square().conv2d(&gamma, Some(&self.beta()), [1, 1], [0, 0], [1, 1], 1);
        if self.inverse {
            x * norm.sqrt()
        } else {
            x * norm.rsqrt()
        }
    }
}
