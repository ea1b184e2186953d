//! Encoder-side latent refinement: after the analysis transform proposes latents, gradient
//! descent adjusts them to lower the real rate-distortion cost of this one image
//! (Campos et al. 2019, "Content adaptive optimization for neural image compression"; Yang et
//! al. 2020, "Improving inference for neural image compression").
//!
//! The analysis network is amortised over all images and undertrained networks leave an
//! "amortization gap" that a per-image search closes. Only the encoder changes: the decoder
//! sees ordinary latents and rebuilds the same exact entropy parameters from them, so the
//! streams stay bit-exact and any decoder reads them. It costs encoder time (each iteration
//! runs the synthesis transform forward and backward), which is why it is an effort setting.

use crate::entropy::{total_bits, Quantization};
use crate::hyperprior::gain::GainedLatents;
use crate::model::ForwardOutput;
use anyhow::{ensure, Result};
use tch::Tensor;

/// What to minimise and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Refinement {
    /// Gradient steps (0 codes the analysis transform's latents unchanged).
    pub steps: usize,
    /// The rate-distortion trade-off: the cost is λ·255²·MSE + bits per pixel, the training loss.
    pub lambda: f64,
    /// The image's own height and width inside the padded input: the padding is cropped after
    /// decoding, so its distortion costs nothing.
    pub visible: (i64, i64),
    /// Adam's initial step size in latent units; it decays to zero over the steps (cosine).
    pub learning_rate: f64,
}

/// Latent units per Adam step at the start (quantization bins are one unit wide).
pub const DEFAULT_LEARNING_RATE: f64 = 0.02;
/// The soft rounding's temperature falls geometrically from this to [`END_TEMPERATURE`]
/// (Yang et al. start at 0.5 and anneal over 2,000 steps; these runs are far shorter).
const START_TEMPERATURE: f64 = 0.5;
const END_TEMPERATURE: f64 = 0.05;
/// The latents are rounded and costed exactly every this many steps (and after the last); the
/// best rounded latents are the ones coded.
const CHECK_EVERY: usize = 5;
/// The soft rounding draws Gumbel noise; seeding it makes an encode repeatable.
const NOISE_SEED: u64 = 0x6e65636f;

impl Refinement {
    pub fn new(steps: usize, lambda: f64, visible: (i64, i64)) -> Self {
        Self { steps, lambda, visible, learning_rate: DEFAULT_LEARNING_RATE }
    }
}

/// How a refinement went, for logs and tests. Costs are λ·255²·MSE plus bits per pixel of the
/// rounded latents under the float networks (coding then uses the exact ones).
#[derive(Debug, Clone, PartialEq)]
pub struct RefinementReport {
    pub steps: usize,
    /// The cost of the analysis transform's latents.
    pub initial_cost: f64,
    /// The lowest cost of the rounded latents checked; those latents are the ones coded.
    pub best_cost: f64,
    /// The step whose latents reached `best_cost` (0 = the unrefined latents).
    pub best_step: usize,
}

/// λ·255²·MSE over the visible pixels (clamped to [0, 1], as the decoder clamps) plus the
/// coded bits per visible pixel.
fn rd_cost(x: &Tensor, candidate: &ForwardOutput, cfg: &Refinement) -> Tensor {
    let (h, w) = cfg.visible;
    let crop = |t: &Tensor| t.narrow(2, 0, h).narrow(3, 0, w);
    let mse = (crop(&candidate.x_hat).clamp(0.0, 1.0) - crop(x)).square().mean(tch::Kind::Float);
    let bits = candidate.likelihoods.iter().map(total_bits).reduce(|a, b| a + b).expect("at least one latent");
    mse * (cfg.lambda * 255.0 * 255.0) + bits / (h * w) as f64
}

/// Minimises the cost over `start` (the analysis transform's latents) with Adam through
/// stochastic Gumbel annealing ([`Quantization::SoftRound`]), and returns the best rounded
/// latents found with a report. `candidate(latents, mode)` runs the model's forward pass from
/// its latents (the reconstruction, padded and unclamped, and every latent's likelihoods),
/// quantizing each with `mode`; with [`Quantization::Round`] it is the real coded cost, which
/// is checked at the start, every few steps and at the end, so refinement never returns
/// latents that cost more (under the float networks) than the ones it was given.
///
/// Seeds this thread's soft-rounding noise, so an encode is repeatable, alone or beside others.
pub fn minimise(
    x: &Tensor,
    start: &[Tensor],
    cfg: &Refinement,
    candidate: impl Fn(&[Tensor], Quantization) -> ForwardOutput,
) -> Result<(Vec<Tensor>, RefinementReport)> {
    ensure!(cfg.lambda.is_finite() && cfg.lambda > 0.0, "refinement needs a positive λ, not {}", cfg.lambda);
    ensure!(cfg.visible.0 > 0 && cfg.visible.1 > 0, "refinement needs a non-empty image");
    crate::entropy::seed_soft_round(NOISE_SEED);
    let _heap = HeapReuse::begin();
    let mut vars: Vec<Tensor> = start.iter().map(|t| t.detach().copy().set_requires_grad(true)).collect();
    let rounded_cost = |vars: &[Tensor]| tch::no_grad(|| rd_cost(x, &candidate(vars, Quantization::Round), cfg));
    let initial_cost = rounded_cost(&vars).double_value(&[]);
    ensure!(initial_cost.is_finite(), "the unrefined latents have no finite cost ({initial_cost})");
    let mut best = (initial_cost, vars.iter().map(|v| v.detach().copy()).collect::<Vec<_>>(), 0);
    let mut adam = Adam::new(&vars);
    for step in 1..=cfg.steps {
        let progress = (step - 1) as f64 / cfg.steps as f64;
        let temperature = START_TEMPERATURE * (END_TEMPERATURE / START_TEMPERATURE).powf(progress);
        // Coding runs under no_grad; the search needs gradients whatever the caller's mode.
        tch::with_grad(|| {
            for v in &mut vars {
                v.zero_grad();
            }
            rd_cost(x, &candidate(&vars, Quantization::SoftRound { temperature }), cfg).backward();
        });
        let lr = cfg.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        adam.step(&mut vars, lr)?;
        if step % CHECK_EVERY == 0 || step == cfg.steps {
            let value = rounded_cost(&vars).double_value(&[]);
            if value < best.0 {
                best = (value, vars.iter().map(|v| v.detach().copy()).collect(), step);
            }
        }
    }
    let report = RefinementReport { steps: cfg.steps, initial_cost, best_cost: best.0, best_step: best.2 };
    Ok((best.1, report))
}

/// [`minimise`] over a gained-latent model's y and z, starting from the analysis transforms'
/// `l`: `candidate(y, z, mode)` runs the model's forward pass from them (with `l`'s inverse
/// gains). Returns the best y and z found, with the report.
pub(crate) fn minimise_gained(
    x: &Tensor,
    l: &GainedLatents,
    cfg: &Refinement,
    candidate: impl Fn(&Tensor, &Tensor, Quantization) -> ForwardOutput,
) -> Result<(Tensor, Tensor, RefinementReport)> {
    let (best, report) =
        minimise(x, &[l.y.shallow_clone(), l.z.shallow_clone()], cfg, |v, mode| candidate(&v[0], &v[1], mode))?;
    let [y, z]: [Tensor; 2] = best.try_into().map_err(|_| anyhow::anyhow!("refinement returns two latents"))?;
    Ok((y, z, report))
}

/// Adam (Kingma & Ba) over plain tensors: the latents are not variables of a VarStore.
struct Adam {
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    steps: i32,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(vars: &[Tensor]) -> Self {
        let zeros = || vars.iter().map(|v| v.zeros_like().detach()).collect();
        Self { first: zeros(), second: zeros(), steps: 0 }
    }

    fn step(&mut self, vars: &mut [Tensor], lr: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let (c1, c2) = (1.0 - Self::BETA1.powi(self.steps), 1.0 - Self::BETA2.powi(self.steps));
        for ((v, m), s) in vars.iter_mut().zip(&mut self.first).zip(&mut self.second) {
            let g = v.grad();
            ensure!(g.defined(), "refinement: a latent received no gradient");
            *m = &*m * Self::BETA1 + &g * (1.0 - Self::BETA1);
            *s = &*s * Self::BETA2 + g.square() * (1.0 - Self::BETA2);
            let update = (&*m / c1) / ((&*s / c2).sqrt() + Self::EPS) * lr;
            let _ = v.f_sub_(&update)?;
        }
        Ok(())
    }
}

/// Keeps freed memory in the heap while any refinement runs. glibc serves every allocation
/// above 32 MB with its own mmap and unmaps it on free, so each step would fault in and zero
/// g_s's activations afresh: on a Kodak image, 30 steps took 9.7 M page faults and 16 s of
/// system time in 24 s. With mmap off and no trimming they took 15.7 s (0.45 s system), for
/// 31 % more peak memory. The defaults come back, and the heap is trimmed, when the last
/// concurrent refinement ends.
struct HeapReuse;

static REFINEMENTS_RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

impl HeapReuse {
    fn begin() -> Self {
        let mut running = REFINEMENTS_RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if *running == 0 {
            set_heap_reuse(true);
        }
        *running += 1;
        Self
    }
}

impl Drop for HeapReuse {
    fn drop(&mut self) {
        let mut running = REFINEMENTS_RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running -= 1;
        if *running == 0 {
            set_heap_reuse(false);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_heap_reuse(on: bool) {
    // glibc's defaults: up to 65,536 mmapped chunks, trim the heap top above 128 KiB.
    let (mmap_max, trim_threshold) = if on { (0, i32::MAX) } else { (65_536, 128 * 1024) };
    // SAFETY: mallopt and malloc_trim only tune glibc's allocator; they are thread-safe.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, mmap_max);
        libc::mallopt(libc::M_TRIM_THRESHOLD, trim_threshold);
        if !on {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_heap_reuse(_on: bool) {}
