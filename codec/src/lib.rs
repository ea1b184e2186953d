//! neco: a learned image and video codec.
//!
//! The library API is small: load a [`Codec`] by model name or weights path,
//! then encode images to neco files and decode them back.
//!
//! ```no_run
//! use neco::{Codec, EncodeParams};
//! let codec = Codec::load("wavelet")?;
//! let image = image::open("photo.png")?;
//! let bytes = codec.encode_image(&image, &EncodeParams::default())?;
//! let decoded = codec.decode_image(&bytes)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

mod codec;
mod learned;
pub mod image_io;
pub mod metrics;
mod registry;

pub use codec::{Codec, EncodeParams, FileInfo};
pub use registry::{available_models, ModelInfo, ModelSource, DEFAULT_MODEL};
