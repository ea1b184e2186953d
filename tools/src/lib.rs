//! neco's research tools: training, BD-rate, MS-SSIM (evaluation, benchmarks, plots and anchors
//! build on these).
pub mod anchors;
pub mod bd_rate;
pub mod bench;
pub mod cli_speed;
pub mod eval;
pub mod msssim;
pub mod report;
pub mod train;
