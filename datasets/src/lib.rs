//! neco datasets.

pub mod crops;
pub mod image_folder;
pub mod video;
