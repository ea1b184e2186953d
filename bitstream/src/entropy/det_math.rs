//! Deterministic transcendental functions for building CDF tables.
//!
//! Only IEEE-754 `+ - * /`, comparisons and integer casts are used: those are
//! correctly rounded on every platform Rust targets, and Rust never fuses a
//! multiply-add on its own. So the same inputs give the same bits everywhere,
//! which a platform libm (glibc, musl, macOS, MSVC, CUDA) does not promise.
//! Accuracy is ~1e-15 relative, far finer than the 2^-24 table resolution.

const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Rounds half away from zero with a cast, avoiding `f64::round`'s libm call.
fn round_to_i64(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

/// 2^k as an f64, for k in the normal range.
fn pow2(k: i64) -> f64 {
    debug_assert!((-1022..=1023).contains(&k));
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// e^x.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.7 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // x = k ln2 + r with |r| <= ln2/2, then e^r by its Taylor series.
    let k = round_to_i64(x * LOG2_E);
    let kf = k as f64;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut sum = 1.0;
    let mut term = 1.0;
    for n in 1..=17 {
        term = term * r / n as f64;
        sum += term;
    }
    // Split the scaling so subnormal results are reachable without overflow.
    if k < -1000 {
        sum * pow2(k + 1000) * pow2(-1000)
    } else if k > 1000 {
        sum * pow2(k - 1000) * pow2(1000)
    } else {
        sum * pow2(k)
    }
}

/// The natural logarithm, for positive finite x (used for scale tables).
pub fn ln(x: f64) -> f64 {
    assert!(x > 0.0 && x.is_finite(), "ln of {x}");
    // x = m 2^e with m in [1/sqrt2, sqrt2), then ln m = 2 atanh(s), s = (m-1)/(m+1).
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if e == -1023 {
        // Subnormal: normalise first.
        return ln(x * pow2(60)) - 60.0 * (LN2_HI + LN2_LO);
    }
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    let mut power = s;
    for n in 0..30 {
        sum += power / (2 * n + 1) as f64;
        power *= s2;
    }
    let ef = e as f64;
    2.0 * sum + ef * LN2_HI + ef * LN2_LO
}

/// erfc(x) for x >= 0.
fn erfc_nonneg(x: f64) -> f64 {
    if x < 1.5 {
        // erfc >= 0.03 here, so 1 - erf loses under two digits.
        // erf x = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)):
        // all terms positive, so no cancellation.
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        for n in 1..=120 {
            term = term * 2.0 * x2 / (2 * n + 1) as f64;
            sum += term;
            if term < sum * 1e-18 {
                break;
            }
        }
        1.0 - 2.0 * FRAC_1_SQRT_PI * exp(-x2) * sum
    } else {
        // Continued fraction (120 terms: ~1e-16 relative for x >= 1.5): erfc x = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
        let mut t = x;
        for n in (1..=120).rev() {
            t = x + (n as f64 * 0.5) / t;
        }
        FRAC_1_SQRT_PI * exp(-x * x) / t
    }
}

/// The complementary error function.
pub fn erfc(x: f64) -> f64 {
    if x >= 0.0 {
        erfc_nonneg(x)
    } else {
        2.0 - erfc_nonneg(-x)
    }
}

/// The standard normal CDF Φ(x), accurate in relative terms in the lower tail.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn matches_reference_values() {
        // Reference values from Python's math module (correctly rounded to ~1 ulp).
        let cases = [
            (exp(1.0), std::f64::consts::E),
            (exp(-20.5), 1.2501528663867426e-09),
            (exp(300.25), 2.4941248615349213e+130),
            (ln(0.11), -2.2072749131897207),
            (ln(256.0), 5.545177444479562),
            (erfc(0.5), 0.4795001221869535),
            (erfc(2.9), 4.109787809945886e-05),
            (erfc(3.1), 1.1648657367199589e-05),
            (erfc(6.0), 2.1519736712498916e-17),
            (erfc(-1.0), 1.842700792949715),
            (normal_cdf(-8.0), 6.220960574271819e-16),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert!(close(got, want, 1e-13), "case {i}: {got:e} vs {want:e}");
        }
    }

    #[test]
    fn exp_and_ln_invert() {
        for i in -200..200 {
            let x = i as f64 * 0.173;
            assert!(close(ln(exp(x)), x, 1e-12) || x.abs() < 1e-12);
        }
    }
}
