//! The public codec: a model plus the container around its streams.

use crate::registry::{self, ModelInfo};
use anyhow::{bail, ensure, Context, Result};
use image::{DynamicImage, RgbImage};
use neco_bitstream::container::{
    ChunkKind, CodingParams, ColourFormat, Container, ContainerWriter, Header, StreamKind,
};
use neco_models::wavelet::{WaveletCodec, WaveletConfig};

/// How to encode: the operating point.
#[derive(Debug, Clone, Default)]
pub struct EncodeParams {
    /// 1..=100, higher is better quality and more bytes; `None` = the model's default.
    pub quality: Option<u8>,
}

/// What `neco info` reports about a file, read from its header and chunks.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub header: Header,
    pub model_name: Option<&'static str>,
    /// (chunk name, payload bytes) in file order.
    pub chunks: Vec<(String, usize)>,
    pub file_bytes: usize,
    pub overhead_bytes: usize,
}

enum Model {
    Wavelet(WaveletCodec),
}

/// A loaded model, ready to encode and decode.
pub struct Codec {
    info: &'static ModelInfo,
    fingerprint: [u8; 4],
    model: Model,
}

impl Codec {
    /// Loads a model by registry name (see [`crate::available_models`]).
    pub fn load(name: &str) -> Result<Self> {
        let info = registry::by_name(name).with_context(|| {
            let names: Vec<_> = registry::available_models().iter().map(|m| m.name).collect();
            format!("unknown model '{name}' (available: {})", names.join(", "))
        })?;
        Ok(Self::from_info(info))
    }

    fn from_info(info: &'static ModelInfo) -> Self {
        let cfg = WaveletConfig::default();
        // The wavelet codec has no weights: its fingerprint pins its
        // configuration instead, so a decoder built with another one refuses.
        let fingerprint = fingerprint_of(format!("{cfg:?}").as_bytes());
        Codec { info, fingerprint, model: Model::Wavelet(WaveletCodec::new(cfg)) }
    }

    pub fn model_info(&self) -> &'static ModelInfo {
        self.info
    }

    /// Encodes an image into a complete neco file.
    pub fn encode_image(&self, image: &DynamicImage, params: &EncodeParams) -> Result<Vec<u8>> {
        let quality = params.quality.unwrap_or(self.info.default_quality);
        ensure!((1..=100).contains(&quality), "quality {quality} is outside 1..=100");
        let rgb = image.to_rgb8();
        let (width, height) = rgb.dimensions();
        let payload = match &self.model {
            Model::Wavelet(w) => w.encode_rgb8(rgb.as_raw(), width, height, quality)?,
        };
        let header = Header {
            kind: StreamKind::Image,
            colour: ColourFormat::Rgb,
            bit_depth: 8,
            model_id: self.info.id,
            weights_fingerprint: self.fingerprint,
            params: CodingParams { quality, rate_param: 0 },
            width,
            height,
        };
        let mut writer = ContainerWriter::new(header);
        writer.push(ChunkKind::Latent, payload);
        Ok(writer.finish()?)
    }

    /// Decodes a neco file made by this model.
    pub fn decode_image(&self, bytes: &[u8]) -> Result<DynamicImage> {
        self.decode_container(&Container::parse(bytes)?)
    }

    /// Decodes an already parsed (and CRC-checked) file.
    fn decode_container(&self, container: &Container<'_>) -> Result<DynamicImage> {
        let h = &container.header;
        ensure!(h.kind == StreamKind::Image, "this file holds a video stream, not an image");
        ensure!(
            h.model_id == self.info.id,
            "this file was made by model {}, not '{}'",
            model_label(h.model_id),
            self.info.name
        );
        ensure!(
            h.weights_fingerprint == self.fingerprint,
            "weights fingerprint mismatch: the file needs {}, this '{}' model has {}",
            hex(&h.weights_fingerprint),
            self.info.name,
            hex(&self.fingerprint)
        );
        ensure!(
            h.colour == ColourFormat::Rgb && h.bit_depth == 8,
            "unsupported colour format {:?}/{} bit",
            h.colour,
            h.bit_depth
        );
        // The wavelet decoder allocates a few float planes per pixel; refuse
        // sizes no real file of this version has rather than exhaust memory.
        let pixels = u64::from(h.width) * u64::from(h.height);
        ensure!(pixels <= MAX_PIXELS, "image of {}x{} is larger than this decoder accepts", h.width, h.height);
        let latent = container.require(ChunkKind::Latent)?;
        let rgb = match &self.model {
            Model::Wavelet(w) => w.decode_rgb8(latent.payload, h.width, h.height, h.params.quality)?,
        };
        let image = RgbImage::from_raw(h.width, h.height, rgb).context("decoder returned a wrongly sized image")?;
        Ok(DynamicImage::ImageRgb8(image))
    }

    /// Loads the model a file names, then decodes it.
    pub fn decode_any(bytes: &[u8]) -> Result<DynamicImage> {
        let container = Container::parse(bytes)?;
        let id = container.header.model_id;
        let Some(info) = registry::by_id(id) else {
            bail!("this file needs model {}, which this build lacks", model_label(id))
        };
        Self::from_info(info).decode_container(&container)
    }

    /// Describes a file without decoding its streams.
    pub fn inspect(bytes: &[u8]) -> Result<FileInfo> {
        let c = Container::parse(bytes)?;
        Ok(FileInfo {
            model_name: registry::by_id(c.header.model_id).map(|m| m.name),
            chunks: c.chunks.iter().map(|ch| (ch.kind.name().to_string(), ch.payload.len())).collect(),
            header: c.header,
            file_bytes: bytes.len(),
            overhead_bytes: c.overhead_bytes,
        })
    }
}

/// 2^28 pixels (e.g. 16384 × 16384) at most until tiled coding lands: the
/// wavelet decoder holds a few float planes per pixel, and a 40-byte hostile
/// header must not be able to ask for tens of gigabytes.
const MAX_PIXELS: u64 = 1 << 28;

fn fingerprint_of(bytes: &[u8]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    [digest[0], digest[1], digest[2], digest[3]]
}

impl FileInfo {
    /// The weights fingerprint as lowercase hex.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.header.weights_fingerprint)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn model_label(id: u32) -> String {
    match registry::by_id(id) {
        Some(m) => format!("'{}' (id {id})", m.name),
        None => format!("id {id}"),
    }
}
