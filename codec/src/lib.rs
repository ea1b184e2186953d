//! neco: a learned image and video codec.
//!
//! The library API is small: load a [`Codec`] by model name or weights path,
//! then encode images to neco files and decode them back. [`Codec::decode_any`] decodes a file
//! with whichever built-in model made it; [`Codec::inspect`] reads a file's header and chunks.
//!
//! `examples/roundtrip.rs` is a runnable example:
//! `cargo run --release -p neco --example roundtrip -- photo.png`.
//!
//! # Colour formats
//!
//! Every model codes 8-bit RGB. Other inputs are mapped onto that, and the header's colour
//! format and bit depth record what the original was, so the decoder gives back the same kind
//! of image:
//!
//! - **Grayscale** is coded as RGB with R = G = B (the models' chroma then costs next to
//!   nothing) and decoded back to one channel (the mean of the three decoded channels).
//! - **Alpha** is coded **losslessly** in an `alpha` chunk and restored exactly. The chunk's
//!   payload is one method byte, `0`, followed by the alpha plane as an 8-bit grayscale PNG of
//!   the image's size. An alpha channel that is fully opaque (every sample 255) is dropped, as
//!   `cwebp` does: the file is then plain RGB or gray. Colour under transparent pixels is
//!   coded like any other colour.
//! - **16-bit** (and floating-point) inputs are converted to 8 bits per sample before coding;
//!   the header's bit depth records 16, and the decoder returns 8-bit samples.
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
pub mod image_io;
mod learned;
pub mod metrics;
mod registry;
mod tiling;

pub use codec::{BppSearch, Codec, EncodeParams, FileInfo};
pub use registry::{available_models, ModelInfo, ModelSource, DEFAULT_MODEL};
