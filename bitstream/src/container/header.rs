//! The fixed header at the start of every neco file (see docs/format.md).

use crate::error::{Error, Result};
use crate::varint;

/// The four bytes every neco file starts with.
pub const MAGIC: [u8; 4] = *b"NECO";
/// The major version this crate writes and the only one it reads.
pub const FORMAT_MAJOR: u8 = 1;
/// The minor version this crate writes. Readers accept any minor version of
/// their major: minor versions only add chunk types, which old readers skip.
pub const FORMAT_MINOR: u8 = 0;
/// Largest width or height a header may declare.
pub const MAX_DIMENSION: u32 = 1 << 24;

/// Whether the file holds one image or a sequence of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Image,
    Video,
}

/// The colour format of the original (and decoded) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourFormat {
    Rgb,
    Gray,
    /// RGB plus an alpha plane coded losslessly in its own chunk.
    Rgba,
    GrayAlpha,
    Yuv420,
    Yuv444,
}

/// Model-specific coding parameters: which operating point produced the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodingParams {
    /// Quality level (1..=255), 0 when the model has a single operating point.
    pub quality: u8,
    /// λ index or a fixed-point gain, interpreted by the model; 0 = default.
    pub rate_param: u32,
}

/// Everything a decoder must know before it reads a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: StreamKind,
    pub colour: ColourFormat,
    /// Bits per sample of the original: 8, 10, 12 or 16.
    pub bit_depth: u8,
    /// Numeric model identifier from the registry in docs/format.md.
    pub model_id: u32,
    /// First four bytes of the SHA-256 of the exact weights file.
    pub weights_fingerprint: [u8; 4],
    pub params: CodingParams,
    pub width: u32,
    pub height: u32,
}

impl StreamKind {
    fn code(self) -> u8 {
        match self {
            StreamKind::Image => 0,
            StreamKind::Video => 1,
        }
    }
    fn from_code(code: u8) -> Result<Self> {
        match code {
            0 => Ok(StreamKind::Image),
            1 => Ok(StreamKind::Video),
            other => Err(Error::InvalidField { field: "stream kind", detail: format!("code {other}") }),
        }
    }
}

impl ColourFormat {
    fn code(self) -> u8 {
        match self {
            ColourFormat::Rgb => 0,
            ColourFormat::Gray => 1,
            ColourFormat::Rgba => 2,
            ColourFormat::GrayAlpha => 3,
            ColourFormat::Yuv420 => 4,
            ColourFormat::Yuv444 => 5,
        }
    }
    fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            0 => ColourFormat::Rgb,
            1 => ColourFormat::Gray,
            2 => ColourFormat::Rgba,
            3 => ColourFormat::GrayAlpha,
            4 => ColourFormat::Yuv420,
            5 => ColourFormat::Yuv444,
            other => return Err(Error::InvalidField { field: "colour format", detail: format!("code {other}") }),
        })
    }
    /// Number of colour channels, alpha included.
    pub fn channels(self) -> usize {
        match self {
            ColourFormat::Gray => 1,
            ColourFormat::GrayAlpha => 2,
            ColourFormat::Rgb | ColourFormat::Yuv420 | ColourFormat::Yuv444 => 3,
            ColourFormat::Rgba => 4,
        }
    }
}

const BIT_DEPTHS: [u8; 4] = [8, 10, 12, 16];

impl Header {
    /// Appends the header, without the chunk count and CRC (the writer adds them).
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>) -> Result<()> {
        let depth_code = BIT_DEPTHS.iter().position(|&d| d == self.bit_depth).ok_or_else(|| {
            Error::InvalidArgument(format!("bit depth {} is not one of {BIT_DEPTHS:?}", self.bit_depth))
        })? as u8;
        for (what, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > MAX_DIMENSION {
                return Err(Error::InvalidArgument(format!("{what} {v} outside 1..={MAX_DIMENSION}")));
            }
        }
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_MAJOR);
        out.push(FORMAT_MINOR);
        out.push(self.kind.code() << 6 | self.colour.code() << 3 | depth_code);
        varint::write_u64(out, u64::from(self.model_id));
        out.extend_from_slice(&self.weights_fingerprint);
        out.push(self.params.quality);
        varint::write_u64(out, u64::from(self.params.rate_param));
        varint::write_u64(out, u64::from(self.width - 1));
        varint::write_u64(out, u64::from(self.height - 1));
        Ok(())
    }

    /// Parses the header fields from the front of `input`, advancing it.
    pub(crate) fn read_fields(input: &mut &[u8]) -> Result<Self> {
        let fixed = take(input, 7, "header")?;
        if fixed[..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let (major, minor) = (fixed[4], fixed[5]);
        if major != FORMAT_MAJOR {
            return Err(Error::UnsupportedVersion { major, minor, supported: FORMAT_MAJOR });
        }
        let format = fixed[6];
        let kind = StreamKind::from_code(format >> 6)?;
        let colour = ColourFormat::from_code((format >> 3) & 7)?;
        let bit_depth = *BIT_DEPTHS
            .get(usize::from(format & 7))
            .ok_or_else(|| Error::InvalidField { field: "bit depth", detail: format!("code {}", format & 7) })?;
        let model_id = varint::read_bounded(input, "model id", u64::from(u32::MAX))? as u32;
        let mut weights_fingerprint = [0u8; 4];
        weights_fingerprint.copy_from_slice(take(input, 4, "weights fingerprint")?);
        let quality = take(input, 1, "quality")?[0];
        let rate_param = varint::read_bounded(input, "rate parameter", u64::from(u32::MAX))? as u32;
        let dim_limit = u64::from(MAX_DIMENSION - 1);
        let width = varint::read_bounded(input, "width", dim_limit)? as u32 + 1;
        let height = varint::read_bounded(input, "height", dim_limit)? as u32 + 1;
        Ok(Header {
            kind,
            colour,
            bit_depth,
            model_id,
            weights_fingerprint,
            params: CodingParams { quality, rate_param },
            width,
            height,
        })
    }
}

/// Splits `n` bytes off the front of `input`.
pub(crate) fn take<'a>(input: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8]> {
    if input.len() < n {
        return Err(Error::Truncated(what));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}
