//! A borrowed CDF table as a constriction entropy model.

use super::PRECISION;
use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use std::borrow::Borrow;
use std::num::NonZeroU32;

/// A contiguous categorical model over symbols `0..cdf.len()-1`, borrowing a
/// validated cumulative table (`cdf[0] = 0`, last = 2^PRECISION, strictly increasing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CdfModel<'a> {
    pub cdf: &'a [u32],
}

impl EntropyModel<PRECISION> for CdfModel<'_> {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for CdfModel<'_> {
    #[inline(always)]
    fn left_cumulative_and_probability(&self, symbol: impl Borrow<usize>) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow();
        let [left, right] = *self.cdf.get(s..s.wrapping_add(2))? else { return None };
        // Validated tables have no empty bins; the fallback only keeps this
        // branch-free (a cmov) instead of an unsafe unchecked NonZero.
        Some((left, NonZeroU32::new(right.wrapping_sub(left)).unwrap_or(NonZeroU32::MIN)))
    }
}

impl DecoderModel<PRECISION> for CdfModel<'_> {
    #[inline(always)]
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        // cdf[0] = 0 <= quantile < cdf[last], so the symbol is in range.
        let symbol = self.cdf.partition_point(|&c| c <= quantile) - 1;
        let left = self.cdf[symbol];
        let probability = NonZeroU32::new(self.cdf[symbol + 1] - left).expect("validated tables have no zero bins");
        (symbol, left, probability)
    }
}
