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
            // `norm()` reduces in place: no gradient-sized temporaries.
            let norms: Vec<Tensor> = grads.iter().map(|g| g.norm().square()).collect();
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
                // In-place updates, two temporaries per tensor (g², the denominator), as
                // PyTorch's own Adam: on a CPU the optimizer is memory-bound.
                let _ = self.first[i].lerp_(&g, 1.0 - self.beta1);
                let _ = self.second[i].lerp_(&g.square(), 1.0 - self.beta2);
                if lr == 0.0 {
                    continue;
                }
                // p -= lr · (m / bc1) / (√(v / bc2) + ε), with −bc1 / lr folded into the
                // denominator: d = √v · (−bc1 / (lr·√bc2)) + ε · (−bc1 / lr).
                let fold = -bc1 / lr;
                let mut denom = self.second[i].sqrt();
                let _ = denom.g_mul_scalar_(fold / bc2.sqrt());
                let _ = denom.g_add_scalar_(self.eps * fold);
                let _ = p.addcdiv_(&self.first[i], &denom);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-place update equals Adam's textbook formula (Kingma & Ba, with PyTorch's ε
    /// placement), computed here in f64 for a few steps with changing gradients and rates.
    #[test]
    fn step_matches_the_textbook_formula() {
        let start = [0.5f32, -1.25, 2.0, 0.0];
        let p = Tensor::from_slice(&start).set_requires_grad(true);
        let mut adam = Adam::new(vec![("p".into(), p.shallow_clone())]);
        let (mut m, mut v, mut want) = ([0f64; 4], [0f64; 4], start.map(f64::from));
        for (t, lr) in [(1, 1e-2), (2, 3e-3), (3, 1e-3), (4, 0.0)] {
            adam.zero_grad();
            let loss = (&p * &p * &p).sum(tch::Kind::Float) + (&p * 0.25).sum(tch::Kind::Float);
            loss.backward();
            let grad: Vec<f32> = Vec::try_from(&p.grad()).unwrap();
            adam.step(lr);
            for k in 0..4 {
                let g = f64::from(grad[k]);
                m[k] = 0.9 * m[k] + 0.1 * g;
                v[k] = 0.999 * v[k] + 0.001 * g * g;
                let (bc1, bc2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
                want[k] -= lr * (m[k] / bc1) / ((v[k] / bc2).sqrt() + 1e-8);
            }
            let got: Vec<f32> = Vec::try_from(&p.detach()).unwrap();
            for k in 0..4 {
                assert!((f64::from(got[k]) - want[k]).abs() < 1e-6, "step {t}, element {k}: {} vs {}", got[k], want[k]);
            }
        }
    }

    #[test]
    fn clipping_scales_to_the_norm_and_reports_the_norm_before() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let mut adam = Adam::new(vec![("p".into(), p.shallow_clone())]);
        (&p * &p * 0.5).sum(tch::Kind::Float).backward(); // gradient = p = (3, 4), norm 5
        let norm = adam.clip_grad_norm(1.0).double_value(&[]);
        assert!((norm - 5.0).abs() < 1e-5);
        let g: Vec<f32> = Vec::try_from(&p.grad()).unwrap();
        assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5, "{g:?}");
    }
}
