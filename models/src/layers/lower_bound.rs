//! A lower bound whose gradient still flows when the input sits below it.

use tch::Tensor;

/// `max(x, bound)` in the forward pass; identity gradient in the backward pass.
///
/// CompressAI's `LowerBound` lets a gradient through below the bound only when it pushes the
/// input up. libtorch offers no custom autograd through tch, so this passes every gradient
/// (the straight-through form). For the places it is used (GDN's reparametrized parameters, the
/// Gaussian scale bound and the likelihood bound) the loss pushes upwards below the bound, so
/// the two agree where it matters, and unlike a plain `clamp` no unit can get stuck below it.
pub fn lower_bound(x: &Tensor, bound: f64) -> Tensor {
    x + (x.clamp_min(bound) - x).detach()
}
