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

/// Projects every GDN `beta` and `gamma` variable of `vs` back onto its lower bound, after an
/// optimizer step. The forward pass clamps them anyway, so this changes no output; it keeps a
/// parameter that the loss pushed down from drifting far below the bound, where it would take
/// as many steps to come back (see `lower_bound.rs`).
pub fn project_gdn_parameters(vs: &nn::VarStore) {
    let _guard = tch::no_grad_guard();
    for (name, mut var) in vs.variables() {
        let bound = if name.ends_with(".beta") {
            (BETA_MIN + PEDESTAL).sqrt()
        } else if name.ends_with(".gamma") {
            REPARAM_OFFSET
        } else {
            continue;
        };
        let _ = var.clamp_min_(bound);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::Module;

    /// Projection moves only values below the bounds, and leaves the layer's output unchanged
    /// (the forward pass clamps the same way).
    #[test]
    fn projection_keeps_the_output_and_lifts_only_values_below_the_bounds() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let gdn = Gdn::new(&vs.root() / "g", 4, true);
        tch::no_grad(|| {
            let mut gamma = gdn.gamma.shallow_clone();
            gamma.copy_(&(Tensor::randn([4, 4], (tch::Kind::Float, tch::Device::Cpu)) * 0.1));
            let mut beta = gdn.beta.shallow_clone();
            beta.copy_(&Tensor::from_slice(&[1.0f32, -0.5, 0.0, 2.0]));
        });
        let x = Tensor::randn([1, 4, 3, 3], (tch::Kind::Float, tch::Device::Cpu));
        let before = gdn.forward(&x);
        let gamma_before = gdn.gamma.copy();
        project_gdn_parameters(&vs);
        let after = gdn.forward(&x);
        assert!(before.allclose(&after, 1e-6, 1e-7, false));
        assert!(gdn.gamma.min().double_value(&[]) >= REPARAM_OFFSET as f32 as f64);
        assert!(gdn.beta.min().double_value(&[]) >= (BETA_MIN + PEDESTAL).sqrt() as f32 as f64 * 0.999);
        let untouched = gamma_before.ge(REPARAM_OFFSET);
        assert!(gamma_before.masked_select(&untouched).equal(&gdn.gamma.masked_select(&untouched)));
    }
}
