//! The public codec: a model plus the container around its streams.

use crate::learned::LearnedCodec;
use crate::registry::{self, ModelInfo, ModelSource};
use anyhow::{bail, ensure, Context, Result};
use image::{DynamicImage, RgbImage};
use neco_bitstream::container::{
    ChunkKind, CodingParams, ColourFormat, Container, ContainerWriter, Header, StreamKind,
};
use neco_models::device::DeviceChoice;
use neco_models::wavelet::{WaveletCodec, WaveletConfig};
use std::path::Path;

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
    Learned(LearnedCodec),
}

/// A loaded model, ready to encode and decode.
pub struct Codec {
    name: String,
    /// Architecture id written in the header.
    id: u32,
    default_quality: u8,
    fingerprint: [u8; 4],
    model: Model,
}

impl Codec {
    /// Loads a built-in model by name (see [`crate::available_models`]) or a weights file
    /// (`.safetensors`, e.g. from `neco train` or the CompressAI converter), on the CPU.
    pub fn load(name_or_path: &str) -> Result<Self> {
        Self::load_on(name_or_path, DeviceChoice::Cpu)
    }

    /// [`load`](Self::load) on a chosen device.
    pub fn load_on(name_or_path: &str, device: DeviceChoice) -> Result<Self> {
        if let Some(info) = registry::by_name(name_or_path) {
            return Self::from_info(info, device);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "safetensors") || path.is_file() {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))?;
            let learned = LearnedCodec::from_bytes(&bytes, device.resolve()?)
                .with_context(|| format!("weights {}", path.display()))?;
            let id = registry::arch_id(learned.arch()).context("weights of an architecture without a model id")?;
            return Ok(Codec {
                name: path.display().to_string(),
                id,
                default_quality: 60,
                fingerprint: prefix4(&learned.sha256()),
                model: Model::Learned(learned),
            });
        }
        let names: Vec<_> = registry::available_models().iter().map(|m| m.name).collect();
        bail!("unknown model '{name_or_path}' (available: {}, or a .safetensors weights file)", names.join(", "))
    }

    fn from_info(info: &'static ModelInfo, device: DeviceChoice) -> Result<Self> {
        let (fingerprint, model) = match info.source {
            ModelSource::Wavelet => {
                let cfg = WaveletConfig::default();
                // The wavelet codec has no weights: its fingerprint pins its
                // configuration instead, so a decoder built with another one refuses.
                (fingerprint_of(format!("{cfg:?}").as_bytes()), Model::Wavelet(WaveletCodec::new(cfg)))
            }
            ModelSource::Embedded(bytes) => {
                let learned = LearnedCodec::from_bytes(bytes, device.resolve()?)
                    .with_context(|| format!("built-in model '{}'", info.name))?;
                (prefix4(&learned.sha256()), Model::Learned(learned))
            }
        };
        Ok(Codec { name: info.name.to_string(), id: info.id, default_quality: info.default_quality, fingerprint, model })
    }

    /// The model's name (built-in name or weights path).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn default_quality(&self) -> u8 {
        self.default_quality
    }

    /// Encodes an image into a complete neco file.
    pub fn encode_image(&self, image: &DynamicImage, params: &EncodeParams) -> Result<Vec<u8>> {
        let quality = params.quality.unwrap_or(self.default_quality);
        ensure!((1..=100).contains(&quality), "quality {quality} is outside 1..=100");
        let rgb = image.to_rgb8();
        let (width, height) = rgb.dimensions();
        ensure!(
            u64::from(width) * u64::from(height) <= self.max_pixels(),
            "image of {width}x{height} is larger than model '{}' codes in one piece",
            self.name
        );
        let (chunks, rate_param) = match &self.model {
            Model::Wavelet(w) => (vec![(ChunkKind::Latent, w.encode_rgb8(rgb.as_raw(), width, height, quality)?)], 0),
            Model::Learned(l) => {
                let rate_param = l.rate_param_for_quality(quality);
                (l.encode_rgb8(rgb.as_raw(), width, height, rate_param)?, rate_param)
            }
        };
        let header = Header {
            kind: StreamKind::Image,
            colour: ColourFormat::Rgb,
            bit_depth: 8,
            model_id: self.id,
            weights_fingerprint: self.fingerprint,
            params: CodingParams { quality, rate_param },
            width,
            height,
        };
        let mut writer = ContainerWriter::new(header);
        for (kind, payload) in chunks {
            writer.push(kind, payload);
        }
        Ok(writer.finish()?)
    }

    /// Decodes a neco file made by this model.
    pub fn decode_image(&self, bytes: &[u8]) -> Result<DynamicImage> {
        self.decode_container(&Container::parse(bytes)?)
    }

    fn max_pixels(&self) -> u64 {
        match self.model {
            Model::Wavelet(_) => MAX_PIXELS,
            Model::Learned(_) => MAX_LEARNED_PIXELS,
        }
    }

    /// Decodes an already parsed (and CRC-checked) file.
    fn decode_container(&self, container: &Container<'_>) -> Result<DynamicImage> {
        let h = &container.header;
        ensure!(h.kind == StreamKind::Image, "this file holds a video stream, not an image");
        ensure!(
            h.model_id == self.id,
            "this file was made by model {}, not '{}'",
            model_label(h.model_id),
            self.name
        );
        ensure!(
            h.weights_fingerprint == self.fingerprint,
            "weights fingerprint mismatch: the file needs {}, this '{}' model has {}",
            hex(&h.weights_fingerprint),
            self.name,
            hex(&self.fingerprint)
        );
        ensure!(
            h.colour == ColourFormat::Rgb && h.bit_depth == 8,
            "unsupported colour format {:?}/{} bit",
            h.colour,
            h.bit_depth
        );
        // Decoders allocate several float planes per pixel; refuse sizes no real file of this
        // version has rather than exhaust memory.
        let pixels = u64::from(h.width) * u64::from(h.height);
        ensure!(pixels <= self.max_pixels(), "image of {}x{} is larger than this decoder accepts", h.width, h.height);
        let rgb = match &self.model {
            Model::Wavelet(w) => {
                let latent = container.require(ChunkKind::Latent)?;
                w.decode_rgb8(latent.payload, h.width, h.height, h.params.quality)?
            }
            Model::Learned(l) => l.decode_rgb8(container)?,
        };
        let image = RgbImage::from_raw(h.width, h.height, rgb).context("decoder returned a wrongly sized image")?;
        Ok(DynamicImage::ImageRgb8(image))
    }

    /// Loads the built-in model a file names, then decodes it (on the CPU).
    pub fn decode_any(bytes: &[u8]) -> Result<DynamicImage> {
        let container = Container::parse(bytes)?;
        let h = &container.header;
        let mut candidates = registry::by_id(h.model_id).peekable();
        if candidates.peek().is_none() {
            bail!("this file needs model {}, which this build lacks", model_label(h.model_id))
        }
        for info in candidates {
            let codec = Self::from_info(info, DeviceChoice::Cpu)?;
            if codec.fingerprint == h.weights_fingerprint {
                return codec.decode_container(&container);
            }
        }
        bail!(
            "this file needs {} weights with fingerprint {}, which this build does not ship; \
             decode with --model WEIGHTS.safetensors",
            model_label(h.model_id),
            hex(&h.weights_fingerprint)
        )
    }

    /// Describes a file without decoding its streams.
    pub fn inspect(bytes: &[u8]) -> Result<FileInfo> {
        let c = Container::parse(bytes)?;
        Ok(FileInfo {
            model_name: registry::arch_name(c.header.model_id),
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
/// Learned models hold ~N floats per pixel at half resolution in the synthesis: 2^24 pixels
/// (e.g. 4096 × 4096) keeps a decode within a few GB until tiled coding lands.
const MAX_LEARNED_PIXELS: u64 = 1 << 24;

fn prefix4(digest: &[u8; 32]) -> [u8; 4] {
    [digest[0], digest[1], digest[2], digest[3]]
}

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
    match registry::arch_name(id) {
        Some(name) => format!("'{name}' (id {id})"),
        None => format!("id {id}"),
    }
}
