//! One error type for everything that reads untrusted bytes.
//!
//! Every variant carries enough context for a one-line message: the CLI
//! prints `Display` and exits nonzero, so messages must stand on their own.

use std::fmt;

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while writing or (more often) reading a neco stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before a field or payload was complete.
    #[error("truncated input: {0} runs past the end of the data")]
    Truncated(&'static str),
    /// The first four bytes are not `NECO`.
    #[error("not a neco file (bad magic number)")]
    BadMagic,
    /// A major version this decoder does not know.
    #[error("unsupported neco format version {major}.{minor} (this decoder reads {supported}.x)")]
    UnsupportedVersion { major: u8, minor: u8, supported: u8 },
    /// The header CRC-32 did not match.
    #[error("corrupt header: CRC-32 mismatch (stored {stored:08x}, computed {computed:08x})")]
    HeaderCrc { stored: u32, computed: u32 },
    /// A chunk's CRC-32 did not match.
    #[error("corrupt {kind} chunk #{index}: CRC-32 mismatch (stored {stored:08x}, computed {computed:08x})")]
    ChunkCrc { kind: ChunkName, index: usize, stored: u32, computed: u32 },
    /// A length or count field is larger than the data that follows it, or than a hard limit.
    #[error("invalid length: {what} is {value}, limit {limit}")]
    LengthOutOfBounds { what: &'static str, value: u64, limit: u64 },
    /// A field holds a value the format does not allow.
    #[error("invalid {field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    /// The entropy decoder met data no encoder could have produced.
    #[error("corrupt entropy-coded data: {0}")]
    CorruptStream(&'static str),
    /// An argument given by the caller (not the file) is inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// A printable chunk name that does not borrow the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkName(pub u8);

impl fmt::Display for ChunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::container::ChunkKind::from_byte(self.0) {
            crate::container::ChunkKind::Unknown(b) => write!(f, "unknown (type {b})"),
            known => write!(f, "{}", known.name()),
        }
    }
}
