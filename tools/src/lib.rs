//! neco tools.
pub mod bd_rate;
