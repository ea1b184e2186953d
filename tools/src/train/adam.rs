//! Adam with its state in plain tensors, so a checkpoint can store and restore it exactly
//! (tch's built-in optimizer does not expose its moments).

use tch::Tensor;

pub struct Adam {
    params: Vec<(String, Tensor)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: i64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    pub fn new(params: Vec<(String, Tensor)>) -> Self {
        let first = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let second = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Self { params, first, second, steps: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales all gradients so their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping as a scalar tensor (left on the device: no synchronisation per step).
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Tensor {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
            if grads.is_empty() {
                return Tensor::from(0.0f32);
            }
            let norms: Vec<Tensor> = grads.iter().map(|g| g.square().sum(tch::Kind::Float)).collect();
            let total = Tensor::stack(&norms, 0).sum(tch::Kind::Float).sqrt();
            let scale = (max_norm / (&total + 1e-6)).clamp_max(1.0);
            for mut g in grads {
                let _ = g.g_mul_(&scale);
            }
            total
        })
    }

    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let bc1 = 1.0 - self.beta1.powi(self.steps as i32);
        let bc2 = 1.0 - self.beta2.powi(self.steps as i32);
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let m = &mut self.first[i];
                let _ = m.g_mul_scalar_(self.beta1);
                let _ = m.g_add_(&(&g * (1.0 - self.beta1)));
                let v = &mut self.second[i];
                let _ = v.g_mul_scalar_(self.beta2);
                let _ = v.g_add_(&(g.square() * (1.0 - self.beta2)));
                let update = (&*m / bc1) / ((&*v / bc2).sqrt() + self.eps) * lr;
                let _ = p.g_sub_(&update);
            }
        });
    }

    /// State tensors under `prefix` (for a checkpoint).
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![(format!("{prefix}/steps"), Tensor::from_slice(&[self.steps]))];
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{prefix}/m/{name}"), self.first[i].detach().to_device(tch::Device::Cpu)));
            out.push((format!("{prefix}/v/{name}"), self.second[i].detach().to_device(tch::Device::Cpu)));
        }
        out
    }

    /// Restores the state written by [`state`](Self::state).
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        let steps = tensors.get(&format!("{prefix}/steps")).context("checkpoint lacks optimizer steps")?;
        self.steps = steps.int64_value(&[0]);
        tch::no_grad(|| -> anyhow::Result<()> {
            for (i, (name, p)) in self.params.iter().enumerate() {
                for (store, key) in [(&mut self.first[i], "m"), (&mut self.second[i], "v")] {
                    let t = tensors
                        .get(&format!("{prefix}/{key}/{name}"))
                        .with_context(|| format!("checkpoint lacks optimizer state for {name}"))?;
                    store.copy_(&t.to_kind(p.kind()).to_device(p.device()));
                }
            }
            Ok(())
        })
    }
}
