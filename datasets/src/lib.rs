//! neco datasets.

pub mod crops;
pub mod fetch;
pub mod image_folder;
pub mod manifest;
pub mod video;
