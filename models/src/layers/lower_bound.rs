//! Lower bounds whose gradient still flows when the input sits below them.
//!
//! CompressAI's `LowerBound` lets a gradient through below the bound only when it pushes the
//! input up. tch offers no custom autograd, so neco gets the same training dynamics in two
//! ways, depending on where the bound sits:
//! - on a likelihood the loss always pushes upwards, so the straight-through [`lower_bound`]
//!   is already CompressAI's rule;
//! - on a Gaussian scale the direction is known analytically, so [`scale_lower_bound`] masks
//!   the gradient exactly as CompressAI would;
//! - on GDN's reparametrized β and γ (trainable variables) the trainer projects the variables
//!   back onto the bound after every step ([`crate::layers::project_gdn_parameters`]), so the
//!   straight-through bound never sees them below it.
//!
//! Passing every gradient (the plain straight-through form) is not harmless: weights pushed
//! down get stuck far below the bound. The first shipped `hyperprior` had 90–99 % of the γ
//! entries in its synthesis GDNs at −0.01…−0.05, hundreds of steps away from contributing.

use tch::Tensor;

/// `max(x, bound)` in the forward pass; identity gradient in the backward pass.
pub fn lower_bound(x: &Tensor, bound: f64) -> Tensor {
    x + (x.clamp_min(bound) - x).detach()
}

/// `max(scale, bound)` for the scale of a Gaussian likelihood of a unit bin at distance
/// `distance` = |ŷ − μ| from its mean, with CompressAI's gradient rule: below the bound the
/// gradient passes only when it pushes the scale up.
///
/// The rate `−log P` falls as the scale grows exactly when the bin lies outside the central
/// half-unit (`distance > ½`): P = Φ((½ − d)/s) − Φ((−½ − d)/s), and ∂P/∂s > 0 ⟺
/// u₁φ(u₁) < u₂φ(u₂) with u₁ = (½ − d)/s, u₂ = (−½ − d)/s. For d < ½ the left side is positive
/// and the right negative; for d > ½ both are negative and |u₂| − |u₁| = 1/s ≥ 1/bound ≈ 9,
/// so |u₂|φ(u₂) is the smaller. The mask is therefore `scale ≥ bound or distance > ½`.
pub fn scale_lower_bound(scales: &Tensor, distance: &Tensor, bound: f64) -> Tensor {
    let pass = scales.detach().ge(bound).logical_or(&distance.detach().gt(0.5)).to_kind(scales.kind());
    scales.clamp_min(bound).detach() + (scales - scales.detach()) * pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// The analytic mask agrees with the sign of ∂(−log P)/∂s, evaluated by autograd at the bound.
    #[test]
    fn scale_bound_passes_exactly_the_upward_gradients() {
        let bound = 0.11;
        for &d in &[0.0, 0.2, 0.45, 0.55, 0.8, 1.5, 4.0] {
            let s = Tensor::from_slice(&[0.05f64]).set_requires_grad(true);
            let at_bound = Tensor::from_slice(&[bound]).set_requires_grad(true);
            let dist = Tensor::from_slice(&[d]);
            let rate = |scale: &Tensor| {
                let phi = |x: Tensor| (x * -std::f64::consts::FRAC_1_SQRT_2).erfc() * 0.5;
                let p = phi((-&dist + 0.5) / scale) - phi((-&dist - 0.5) / scale);
                p.clamp_min(1e-300).log().neg().sum(Kind::Double)
            };
            rate(&at_bound).backward();
            let wants_up = at_bound.grad().double_value(&[0]) < 0.0;
            rate(&scale_lower_bound(&s, &dist, bound)).backward();
            let passed = s.grad().double_value(&[0]);
            assert_eq!(passed != 0.0, wants_up, "distance {d}: gradient {passed}, wants up {wants_up}");
            // Above the bound everything passes.
            let s_hi = Tensor::from_slice(&[0.3f64]).set_requires_grad(true);
            rate(&scale_lower_bound(&s_hi, &dist, bound)).backward();
            assert_ne!(s_hi.grad().double_value(&[0]), 0.0);
        }
    }

    #[test]
    fn scale_bound_forward_is_the_clamp() {
        let s = Tensor::from_slice(&[0.01f32, 0.11, 0.5]);
        let d = Tensor::from_slice(&[0.0f32, 1.0, 0.2]);
        let out: Vec<f32> = Vec::try_from(&scale_lower_bound(&s, &d, 0.11)).unwrap();
        assert_eq!(out, vec![0.11, 0.11, 0.5]);
    }
}
