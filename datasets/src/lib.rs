//! neco datasets.

pub mod image_folder;
pub mod video;
