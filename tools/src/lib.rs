//! neco tools.
