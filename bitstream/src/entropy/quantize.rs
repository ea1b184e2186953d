//! Turning probability masses into fixed-point frequencies.
//!
//! Every frequency is at least 1 (so every symbol stays codable) and they sum
//! to exactly 2^PRECISION. Only correctly rounded IEEE operations and integer
//! arithmetic are used, so the result is the same on every machine.

use super::PRECISION;
use crate::error::{Error, Result};

/// The total every quantized distribution sums to.
pub const TOTAL: u32 = 1 << PRECISION;

/// Quantizes non-negative masses (not necessarily normalised) to frequencies
/// summing to [`TOTAL`], each at least 1.
pub fn quantize_masses(masses: &[f64]) -> Result<Vec<u32>> {
    if masses.is_empty() || masses.len() > TOTAL as usize / 2 {
        return Err(Error::InvalidArgument(format!("alphabet of {} symbols", masses.len())));
    }
    let mut sum = 0.0;
    for &m in masses {
        if !(m >= 0.0 && m.is_finite()) {
            return Err(Error::InvalidArgument(format!("probability mass {m} is negative or not finite")));
        }
        sum += m;
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(Error::InvalidArgument("probability masses sum to zero".into()));
    }
    let scale = f64::from(TOTAL) / sum;
    // Rounding by cast (exact and portable); masses are non-negative.
    let mut freqs: Vec<u32> = masses.iter().map(|&m| ((m * scale + 0.5) as u32).max(1)).collect();
    fix_total(&mut freqs);
    Ok(freqs)
}

/// Quantizes integer counts the same way, without floating point.
pub fn quantize_counts(counts: &[u64]) -> Result<Vec<u32>> {
    if counts.is_empty() || counts.len() > TOTAL as usize / 2 {
        return Err(Error::InvalidArgument(format!("alphabet of {} symbols", counts.len())));
    }
    let sum: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    if sum == 0 {
        return Err(Error::InvalidArgument("counts sum to zero".into()));
    }
    let mut freqs: Vec<u32> = counts
        .iter()
        .map(|&c| ((u128::from(c) * u128::from(TOTAL) + sum / 2) / sum) as u32)
        .map(|f| f.max(1))
        .collect();
    fix_total(&mut freqs);
    Ok(freqs)
}

/// A cheap O(n) quantization for counts that are rebuilt often (adaptive
/// models): every symbol gets 1, the rest of the total is shared in
/// proportion to the counts, rounding down, and the remainder goes to the
/// largest count. `counts` must be non-empty, positive, and sum below 2^32.
pub(crate) fn counts_to_frequencies_fast(counts: &[u32], total: u64, out: &mut Vec<u32>) {
    let spare = u64::from(TOTAL) - counts.len() as u64;
    out.clear();
    let mut sum = 0u64;
    let mut largest = 0;
    for (i, &c) in counts.iter().enumerate() {
        let f = 1 + u64::from(c) * spare / total;
        sum += f;
        out.push(f as u32);
        if c > counts[largest] {
            largest = i;
        }
    }
    out[largest] += (u64::from(TOTAL) - sum) as u32;
}

/// Moves the rounding error onto the largest frequencies (ties: lowest index),
/// never taking any frequency below 1. Requires `freqs.len() <= TOTAL`.
fn fix_total(freqs: &mut [u32]) {
    let sum: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
    let target = u64::from(TOTAL);
    if sum < target {
        let largest = argmax(freqs);
        freqs[largest] += (target - sum) as u32;
        return;
    }
    let mut excess = sum - target;
    if excess == 0 {
        return;
    }
    let mut order: Vec<usize> = (0..freqs.len()).collect();
    order.sort_by(|&a, &b| freqs[b].cmp(&freqs[a]).then(a.cmp(&b)));
    while excess > 0 {
        for &i in &order {
            // Take at most half of what a bin can spare per pass, so the
            // correction spreads over the big bins instead of gutting one.
            let spare = u64::from(freqs[i] - 1);
            let take = excess.min(spare.div_ceil(2));
            freqs[i] -= take as u32;
            excess -= take;
            if excess == 0 {
                break;
            }
        }
    }
}

fn argmax(freqs: &[u32]) -> usize {
    let mut best = 0;
    for (i, &f) in freqs.iter().enumerate() {
        if f > freqs[best] {
            best = i;
        }
    }
    best
}

/// Checks a stored frequency table: non-empty, each entry >= 1, sum = TOTAL.
pub fn validate_frequencies(freqs: &[u32]) -> Result<()> {
    if freqs.is_empty() {
        return Err(Error::InvalidField { field: "frequency table", detail: "empty".into() });
    }
    if freqs.contains(&0) {
        return Err(Error::InvalidField { field: "frequency table", detail: "zero frequency".into() });
    }
    let sum: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
    if sum != u64::from(TOTAL) {
        return Err(Error::InvalidField { field: "frequency table", detail: format!("sums to {sum}, not {TOTAL}") });
    }
    Ok(())
}

/// Left-sided cumulative table of length `freqs.len() + 1`, ending in TOTAL.
pub fn cumulative(freqs: &[u32]) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(freqs.len() + 1);
    let mut acc = 0u32;
    cdf.push(0);
    for &f in freqs {
        acc += f;
        cdf.push(acc);
    }
    cdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_to_total_with_no_zero() {
        let mut masses = vec![1e-30; 5000];
        masses[17] = 1.0;
        for freqs in [quantize_masses(&masses).unwrap(), quantize_masses(&[0.2, 0.3, 0.5]).unwrap()] {
            validate_frequencies(&freqs).unwrap();
        }
        let freqs = quantize_counts(&[0, 0, 7, 1_000_000_000_000]).unwrap();
        validate_frequencies(&freqs).unwrap();
        assert_eq!(&freqs[..3], &[1, 1, 1]);
    }

    #[test]
    fn proportional_to_masses() {
        let freqs = quantize_masses(&[1.0, 3.0]).unwrap();
        assert_eq!(freqs, vec![TOTAL / 4, 3 * TOTAL / 4]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(quantize_masses(&[]).is_err());
        assert!(quantize_masses(&[0.0, 0.0]).is_err());
        assert!(quantize_masses(&[1.0, f64::NAN]).is_err());
        assert!(quantize_masses(&[1.0, -0.5]).is_err());
        assert!(validate_frequencies(&[TOTAL - 1, 0, 1]).is_err());
        assert!(validate_frequencies(&[TOTAL - 1, 2]).is_err());
    }
}
