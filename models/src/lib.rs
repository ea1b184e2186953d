//! neco model families.

pub mod device;
pub mod wavelet;
