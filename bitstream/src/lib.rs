//! neco's bitstream layer: the container format and entropy coding.
//!
//! This crate has no torch dependency, so it builds in seconds and can be
//! fuzzed. It takes plain slices (or ndarray views) of integer symbols and
//! table indexes; it knows nothing about tensors.
//!
//! - [`container`]: the file format of docs/format.md (header + CRC'd chunks).
//! - [`entropy`]: range coding with factorized, Gaussian and categorical models.

pub mod container;
pub mod entropy;
mod error;
pub mod fuzz_harness;
pub mod varint;

pub use error::{ChunkName, Error, Result};
