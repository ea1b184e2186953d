//! The public codec: a model plus the container around its streams.
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
//!   the image's size (deflate with adaptive filtering). An alpha channel that is fully opaque
//!   (every sample 255) is dropped, as `cwebp` does: the file is then plain RGB or gray.
//!   The colour under fully transparent pixels is coded like any other colour.
//! - **16-bit** (and floating-point) inputs are converted to 8 bits per sample before coding;
//!   the header's bit depth records 16, and the decoder returns 8-bit samples.

use crate::learned::{LearnedCodec, RefineSettings, LEVEL_SCALE};
use crate::registry::{self, ModelInfo, ModelSource};
use crate::tiling;
use anyhow::{bail, ensure, Context, Result};
use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};
use neco_bitstream::container::{
    ChunkKind, CodingParams, ColourFormat, Container, ContainerWriter, Header, StreamKind,
};
use neco_models::device::DeviceChoice;
use neco_models::wavelet::{WaveletCodec, WaveletConfig};
use std::borrow::Cow;
use std::path::Path;

/// How to encode: the operating point, and for learned models the tiling.
///
/// At most one of `quality`, `rate_level` and `lambda` may be set; with none, the model's
/// default quality is used. Build it with struct-update syntax so that new fields do not
/// break callers:
///
/// ```
/// let params = neco::EncodeParams { quality: Some(40), ..Default::default() };
/// assert_eq!(params.rate_level, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodeParams {
    /// 1..=100, higher is better quality and more bytes; `None` = the model's default.
    /// Learned variable-rate models spread their rate levels evenly over 1..=100.
    pub quality: Option<u8>,
    /// A continuous rate level for learned variable-rate models: `0.0 ..= rate_levels − 1`
    /// (see [`Codec::rate_levels`]); fractional levels interpolate the model's gain vectors.
    /// The level is stored in the header with a resolution of 1/4096.
    pub rate_level: Option<f64>,
    /// A rate-distortion trade-off λ for learned variable-rate models whose weights record
    /// the λ of each level; mapped to a rate level by [`Codec::level_for_lambda`].
    pub lambda: Option<f64>,
    /// Learned models only: code the image in independent tiles of this many pixels square
    /// (a multiple of the model's stride, at most 4096), however small it is. `None`, the
    /// default, codes images of up to 2048 × 2048 pixels (2^22) whole and larger ones in
    /// 1024-pixel tiles, so memory stays bounded by one tile. The decoder reads the layout
    /// from the file. See docs/tiling.md.
    pub tile: Option<u32>,
    /// Learned models: encoder effort 0..=9 (like cjxl's effort or cwebp's `-m`). Above 0 the
    /// encoder refines the latents for this image by gradient descent on the rate-distortion
    /// cost at the operating point's λ ([`refine_steps_for_effort`] iterations): smaller files
    /// at the same quality, slower encoding, and an unchanged decoder. `None` = 0.
    pub effort: Option<u8>,
}

/// The highest [`EncodeParams::effort`].
pub const MAX_EFFORT: u8 = 9;

/// Latent-refinement iterations per effort level; each runs the synthesis transform forward
/// and backward once (docs/refinement.md has the measured gains and times).
const REFINE_STEPS: [usize; MAX_EFFORT as usize + 1] = [0, 30, 50, 75, 100, 150, 200, 300, 400, 500];

/// The refinement iterations an effort level runs (`None` above [`MAX_EFFORT`]).
pub fn refine_steps_for_effort(effort: u8) -> Option<usize> {
    REFINE_STEPS.get(usize::from(effort)).copied()
}

/// The result of [`Codec::encode_to_bpp`]: the chosen file and the setting that made it.
#[derive(Debug, Clone)]
pub struct BppSearch {
    /// The complete neco file.
    pub bytes: Vec<u8>,
    /// The operating point that produced `bytes` (a quality for the wavelet model, a rate
    /// level for learned variable-rate models).
    pub params: EncodeParams,
    /// Bits per pixel of `bytes` (whole file, container included).
    pub bpp: f64,
    /// False when even the smallest setting is above the target (then `bytes` is the
    /// smallest file the model can make).
    pub reached: bool,
    /// How many real encodes the search ran.
    pub encodes: usize,
}

/// What `neco info` reports about a file, read from its header and chunks.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub header: Header,
    /// The architecture named by the header's model id, if this build knows it.
    pub model_name: Option<&'static str>,
    /// The built-in model whose weights fingerprint matches the file's, if any.
    pub builtin_model: Option<&'static str>,
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
///
/// ```no_run
/// use neco::{Codec, EncodeParams};
/// let codec = Codec::load("hyperprior")?;
/// let image = image::open("photo.png")?;
/// // A learned model takes a continuous rate level or a λ as well as a quality.
/// let level = codec.level_for_lambda(0.01)?;
/// let bytes = codec.encode_image(&image, &EncodeParams { rate_level: Some(level), ..Default::default() })?;
/// let decoded = Codec::decode_any(&bytes)?;
/// assert_eq!(decoded.width(), image.width());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Codec {
    name: String,
    /// Architecture id written in the header.
    id: u32,
    default_quality: u8,
    fingerprint: [u8; 4],
    /// The training λ of each rate level (the one λ of a fixed-rate model), when the weights
    /// record them.
    lambdas: Option<Vec<f64>>,
    model: Model,
}

impl Codec {
    /// Loads a built-in model by name (see [`crate::available_models`]) or a weights file
    /// (`.safetensors`, e.g. from `neco train` or the CompressAI converter), on the CPU.
    ///
    /// An unknown name fails with a message that lists the available models.
    pub fn load(name_or_path: &str) -> Result<Self> {
        Self::load_on(name_or_path, DeviceChoice::Cpu)
    }

    /// [`load`](Self::load) on a chosen device (`Cuda` fails clearly where CUDA is not usable).
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
                lambdas: lambdas_from_weights(&bytes, learned.rate_levels()),
                model: Model::Learned(learned),
            });
        }
        let names: Vec<_> = registry::available_models().iter().map(|m| m.name).collect();
        bail!("unknown model '{name_or_path}' (available: {}, or a .safetensors weights file)", names.join(", "))
    }

    fn from_info(info: &'static ModelInfo, device: DeviceChoice) -> Result<Self> {
        let (fingerprint, lambdas, model) = match info.source {
            ModelSource::Wavelet => {
                (wavelet_fingerprint(), None, Model::Wavelet(WaveletCodec::new(WaveletConfig::default())))
            }
            ModelSource::Embedded(bytes) => {
                let learned = LearnedCodec::from_bytes(bytes, device.resolve()?)
                    .with_context(|| format!("built-in model '{}'", info.name))?;
                let lambdas = lambdas_from_weights(bytes, learned.rate_levels());
                (prefix4(&learned.sha256()), lambdas, Model::Learned(learned))
            }
        };
        Ok(Codec {
            name: info.name.to_string(),
            id: info.id,
            default_quality: info.default_quality,
            fingerprint,
            lambdas,
            model,
        })
    }

    /// The model's name (built-in name or weights path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quality used when [`EncodeParams`] names no operating point.
    pub fn default_quality(&self) -> u8 {
        self.default_quality
    }

    /// The architecture id this model writes in the header (docs/format.md).
    pub fn model_id(&self) -> u32 {
        self.id
    }

    /// The 4-byte weights fingerprint written in (and required of) every file, as hex.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }

    /// Whether this is a learned (neural) model rather than the classical wavelet codec.
    pub fn is_learned(&self) -> bool {
        matches!(self.model, Model::Learned(_))
    }

    /// Number of trained rate levels: more than 1 for learned variable-rate models, which then
    /// accept any continuous level in `0.0 ..= rate_levels − 1`; 1 otherwise.
    pub fn rate_levels(&self) -> usize {
        match &self.model {
            Model::Wavelet(_) => 1,
            Model::Learned(l) => l.rate_levels(),
        }
    }

    /// Whether the codec has a single operating point (a fixed-rate learned model): every
    /// quality, level or λ then gives the same file.
    pub fn is_fixed_rate(&self) -> bool {
        self.is_learned() && self.rate_levels() == 1
    }

    /// The λ each rate level was trained with (from the `lambdas` field of the weights'
    /// `train_config` metadata), lowest level first; `None` when the weights do not say.
    pub fn lambdas(&self) -> Option<&[f64]> {
        self.lambdas.as_deref()
    }

    /// Maps a rate-distortion λ to a continuous rate level by interpolating log λ linearly
    /// between the levels' training λs. Fails for models without a λ list and for a λ outside
    /// the trained range.
    pub fn level_for_lambda(&self, lambda: f64) -> Result<f64> {
        ensure!(lambda.is_finite() && lambda > 0.0, "λ must be a positive number, not {lambda}");
        let Some(lambdas) = self.lambdas() else {
            bail!(
                "model '{}' has no λ list (only learned variable-rate models whose weights record \
                 `lambdas` in their train_config accept a λ); use a quality instead",
                self.name
            )
        };
        let (lo, hi) = (lambdas[0], lambdas[lambdas.len() - 1]);
        let tolerance = 1e-9;
        ensure!(
            lambda >= lo * (1.0 - tolerance) && lambda <= hi * (1.0 + tolerance),
            "λ {lambda} is outside the range model '{}' was trained for ({lo} … {hi})",
            self.name
        );
        let x = lambda.clamp(lo, hi).ln();
        for (i, pair) in lambdas.windows(2).enumerate() {
            let (a, b) = (pair[0].ln(), pair[1].ln());
            if x <= b {
                return Ok(i as f64 + (x - a) / (b - a));
            }
        }
        Ok((lambdas.len() - 1) as f64)
    }

    /// The λ a continuous rate level corresponds to (log-linear between levels), if known.
    pub fn lambda_for_level(&self, level: f64) -> Option<f64> {
        let lambdas = self.lambdas()?;
        if lambdas.len() == 1 {
            return Some(lambdas[0]);
        }
        let top = (lambdas.len() - 1) as f64;
        let level = level.clamp(0.0, top);
        let i = (level.floor() as usize).min(lambdas.len() - 2);
        let t = level - i as f64;
        Some((lambdas[i].ln() * (1.0 - t) + lambdas[i + 1].ln() * t).exp())
    }

    /// The header quality and rate parameter for `params`.
    fn operating_point(&self, params: &EncodeParams) -> Result<(u8, u32)> {
        let set = [params.quality.is_some(), params.rate_level.is_some(), params.lambda.is_some()];
        ensure!(set.iter().filter(|&&s| s).count() <= 1, "give one of quality, rate level or λ, not several");
        let level = match (params.rate_level, params.lambda) {
            (Some(level), _) => Some(level),
            (None, Some(lambda)) => Some(self.level_for_lambda(lambda)?),
            (None, None) => None,
        };
        if let Some(level) = level {
            let Model::Learned(_) = &self.model else {
                bail!("model '{}' has no continuous rate level; use a quality (1..=100)", self.name)
            };
            let top = (self.rate_levels() - 1) as f64;
            ensure!(
                level.is_finite() && (0.0..=top).contains(&level),
                "rate level {level} is outside 0..={top} for model '{}'",
                self.name
            );
            let quality = if top > 0.0 { 1 + (level / top * 99.0).round() as u8 } else { self.default_quality };
            return Ok((quality, (level * LEVEL_SCALE).round() as u32));
        }
        let quality = params.quality.unwrap_or(self.default_quality);
        ensure!((1..=100).contains(&quality), "quality {quality} is outside 1..=100");
        let rate_param = match &self.model {
            Model::Wavelet(_) => 0,
            Model::Learned(l) => l.rate_param_for_quality(quality),
        };
        Ok((quality, rate_param))
    }

    /// The latent refinement that `params.effort` asks for at `rate_param`, if any.
    fn refinement(&self, params: &EncodeParams, rate_param: u32) -> Result<Option<RefineSettings>> {
        let effort = params.effort.unwrap_or(0);
        let steps =
            refine_steps_for_effort(effort).with_context(|| format!("effort {effort} is outside 0..={MAX_EFFORT}"))?;
        if steps == 0 {
            return Ok(None);
        }
        let Model::Learned(l) = &self.model else {
            bail!("model '{}' has no effort setting: effort refines the latents of learned models", self.name)
        };
        ensure!(l.supports_refinement(), "model '{}' ({}) has no latent refinement; use effort 0", self.name, l.arch());
        let level = f64::from(rate_param) / LEVEL_SCALE;
        let lambda = self.lambda_for_level(level).with_context(|| {
            format!("model '{}' records no training λ (train_config), which effort above 0 needs", self.name)
        })?;
        Ok(Some(RefineSettings { steps, lambda }))
    }

    /// Encodes an image into a complete neco file.
    ///
    /// Any size from 1×1 up to the model's limit; grayscale, alpha and 16-bit inputs are
    /// handled as the module documentation describes.
    pub fn encode_image(&self, image: &DynamicImage, params: &EncodeParams) -> Result<Vec<u8>> {
        let (quality, rate_param) = self.operating_point(params)?;
        if params.tile.is_some() && !self.is_learned() {
            bail!("model '{}' codes whole images: tiles are for learned models", self.name);
        }
        let refine = self.refinement(params, rate_param)?;
        self.encode_planes(&Planes::split(image), quality, rate_param, params.tile, refine)
    }

    /// `tile`: a forced tile side for learned models (see [`EncodeParams::tile`]); `refine`:
    /// encoder-side latent refinement for learned models.
    fn encode_planes(
        &self,
        planes: &Planes,
        quality: u8,
        rate_param: u32,
        tile: Option<u32>,
        refine: Option<RefineSettings>,
    ) -> Result<Vec<u8>> {
        let (width, height) = planes.rgb.dimensions();
        ensure!(width > 0 && height > 0, "the image is empty ({width}x{height})");
        ensure!(
            u64::from(width) * u64::from(height) <= MAX_PIXELS,
            "image of {width}x{height} is larger than model '{}' codes (at most {} pixels)",
            self.name,
            MAX_PIXELS
        );
        let rgb = planes.rgb.as_raw();
        let mut chunks = match &self.model {
            Model::Wavelet(w) => vec![(ChunkKind::Latent, w.encode_rgb8(rgb, width, height, quality)?)],
            Model::Learned(l) => match tiling::tile_side(width, height, tile, l.stride())? {
                Some(side) => tiling::encode(l, rgb, width, height, rate_param, side, refine)?,
                None => l.encode_rgb8(rgb, width, height, rate_param, refine)?,
            },
        };
        if let Some(alpha) = &planes.alpha {
            chunks.push((ChunkKind::Alpha, encode_alpha(alpha)?));
        }
        let header = Header {
            kind: StreamKind::Image,
            colour: planes.colour,
            bit_depth: planes.bit_depth,
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

    /// Encodes at the setting whose file comes closest to `target_bpp` without exceeding it,
    /// as `cwebp -size` does: a bisection with real encodes over the quality (wavelet) or the
    /// continuous rate level (learned variable-rate models). bpp counts the whole file.
    ///
    /// If even the smallest setting exceeds the target, the smallest file is returned with
    /// `reached == false`.
    pub fn encode_to_bpp(&self, image: &DynamicImage, target_bpp: f64) -> Result<BppSearch> {
        ensure!(target_bpp.is_finite() && target_bpp > 0.0, "target bpp must be positive, not {target_bpp}");
        let planes = Planes::split(image);
        let pixels = f64::from(image.width()) * f64::from(image.height());
        let bpp = |bytes: &[u8]| bytes.len() as f64 * 8.0 / pixels;
        // The searched variable: quality 1..=100, or the fixed-point rate parameter.
        let (lo, hi, max_steps, continuous) = match &self.model {
            Model::Learned(l) if l.rate_levels() > 1 => {
                (0u32, ((l.rate_levels() - 1) as f64 * LEVEL_SCALE) as u32, 11, true)
            }
            Model::Learned(_) => {
                // One operating point: nothing to search.
                let (quality, rate_param) = self.operating_point(&EncodeParams::default())?;
                let bytes = self.encode_planes(&planes, quality, rate_param, None, None)?;
                let b = bpp(&bytes);
                return Ok(BppSearch {
                    bytes,
                    params: EncodeParams::default(),
                    bpp: b,
                    reached: b <= target_bpp,
                    encodes: 1,
                });
            }
            Model::Wavelet(_) => (1u32, 100u32, 8, false),
        };
        let encode_at = |v: u32| -> Result<(EncodeParams, Vec<u8>)> {
            let params = if continuous {
                EncodeParams { rate_level: Some(f64::from(v) / LEVEL_SCALE), ..Default::default() }
            } else {
                EncodeParams { quality: Some(v as u8), ..Default::default() }
            };
            let (quality, rate_param) = self.operating_point(&params)?;
            Ok((params, self.encode_planes(&planes, quality, rate_param, None, None)?))
        };
        let mut tried: Vec<(EncodeParams, Vec<u8>)> = Vec::new();
        let (mut a, mut b) = (i64::from(lo), i64::from(hi));
        while a <= b && tried.len() < max_steps {
            let mid = a + (b - a) / 2;
            let (params, bytes) = encode_at(mid as u32)?;
            let fits = bpp(&bytes) <= target_bpp;
            tried.push((params, bytes));
            if fits {
                a = mid + 1;
            } else {
                b = mid - 1;
            }
        }
        if !tried.iter().any(|(_, bytes)| bpp(bytes) <= target_bpp) && !tried.iter().any(|(p, _)| is_lowest(p, lo)) {
            tried.push(encode_at(lo)?);
        }
        let encodes = tried.len();
        let fitting = tried.iter().filter(|(_, bytes)| bpp(bytes) <= target_bpp).max_by_key(|(_, bytes)| bytes.len());
        let reached = fitting.is_some();
        let (params, bytes) = match fitting {
            Some(best) => best.clone(),
            None => tried.into_iter().min_by_key(|(_, bytes)| bytes.len()).expect("at least one encode"),
        };
        let b = bpp(&bytes);
        Ok(BppSearch { bytes, params, bpp: b, reached, encodes })
    }

    /// Decodes a neco file made by this model (the same architecture and the same weights:
    /// another fingerprint is refused rather than decoded into garbage).
    pub fn decode_image(&self, bytes: &[u8]) -> Result<DynamicImage> {
        self.decode_container(&Container::parse(bytes)?)
    }

    /// Decodes an already parsed (and CRC-checked) file.
    fn decode_container(&self, container: &Container<'_>) -> Result<DynamicImage> {
        let h = &container.header;
        ensure!(h.kind == StreamKind::Image, "this file holds a video stream, not an image");
        ensure!(h.model_id == self.id, "this file was made by model {}, not '{}'", model_label(h.model_id), self.name);
        ensure!(
            h.weights_fingerprint == self.fingerprint,
            "weights fingerprint mismatch: the file needs {}, this '{}' model has {}",
            hex(&h.weights_fingerprint),
            self.name,
            hex(&self.fingerprint)
        );
        ensure!(
            matches!(h.colour, ColourFormat::Rgb | ColourFormat::Gray | ColourFormat::Rgba | ColourFormat::GrayAlpha),
            "unsupported colour format {:?} in an image file",
            h.colour
        );
        // The wavelet decoder allocates several float planes per pixel, a learned model's
        // activations many per pixel of each piece it decodes (the whole image, or one tile);
        // refuse sizes no real file of this version has rather than exhaust memory.
        let pixels = u64::from(h.width) * u64::from(h.height);
        let tiled = matches!(self.model, Model::Learned(_)) && tiling::is_tiled(container);
        let limit = match self.model {
            Model::Learned(_) if !tiled => tiling::MAX_PIECE_PIXELS,
            _ => MAX_PIXELS,
        };
        ensure!(pixels <= limit, "image of {}x{} is larger than this decoder accepts", h.width, h.height);
        // The alpha plane is checked first: it is cheap, and a file that lacks it is broken.
        let alpha = match h.colour {
            ColourFormat::Rgba | ColourFormat::GrayAlpha => {
                Some(decode_alpha(container.require(ChunkKind::Alpha)?.payload, h.width, h.height)?)
            }
            _ => None,
        };
        let rgb = match &self.model {
            Model::Wavelet(w) => {
                let latent = container.require(ChunkKind::Latent)?;
                w.decode_rgb8(latent.payload, h.width, h.height, h.params.quality)?
            }
            Model::Learned(l) if tiled => tiling::decode(l, container)?,
            Model::Learned(l) => l.decode_rgb8(container)?,
        };
        let rgb = RgbImage::from_raw(h.width, h.height, rgb).context("decoder returned a wrongly sized image")?;
        Ok(Planes { colour: h.colour, bit_depth: h.bit_depth, rgb: Cow::Owned(rgb), alpha }.join())
    }

    /// Loads the built-in model a file names, then decodes it (on the CPU).
    pub fn decode_any(bytes: &[u8]) -> Result<DynamicImage> {
        Self::decode_any_on(bytes, DeviceChoice::Cpu)
    }

    /// [`decode_any`](Self::decode_any) with the model on a chosen device.
    pub fn decode_any_on(bytes: &[u8], device: DeviceChoice) -> Result<DynamicImage> {
        let container = Container::parse(bytes)?;
        Self::builtin_for(&container.header, device)?.decode_container(&container)
    }

    /// Loads the built-in model that made a file (the one whose architecture id and weights
    /// fingerprint match its header), to decode it and others like it.
    pub fn load_for_file(bytes: &[u8], device: DeviceChoice) -> Result<Self> {
        Self::builtin_for(&Container::parse(bytes)?.header, device)
    }

    /// Whether this model made the file with this header (same architecture, same weights).
    pub fn matches(&self, header: &Header) -> bool {
        header.model_id == self.id && header.weights_fingerprint == self.fingerprint
    }

    fn builtin_for(h: &Header, device: DeviceChoice) -> Result<Self> {
        let mut candidates = registry::by_id(h.model_id).peekable();
        if candidates.peek().is_none() {
            bail!("this file needs model {}, which this build lacks", model_label(h.model_id))
        }
        for info in candidates {
            if builtin_fingerprint(info) == h.weights_fingerprint {
                return Self::from_info(info, device);
            }
        }
        bail!(
            "this file needs {} weights with fingerprint {}, which this build does not ship; \
             decode with --model WEIGHTS.safetensors",
            model_label(h.model_id),
            hex(&h.weights_fingerprint)
        )
    }

    /// Describes a file without decoding its streams (all CRCs are still checked).
    pub fn inspect(bytes: &[u8]) -> Result<FileInfo> {
        let c = Container::parse(bytes)?;
        let builtin_model = registry::by_id(c.header.model_id)
            .find(|info| builtin_fingerprint(info) == c.header.weights_fingerprint)
            .map(|info| info.name);
        Ok(FileInfo {
            model_name: registry::arch_name(c.header.model_id),
            builtin_model,
            chunks: c.chunks.iter().map(|ch| (ch.kind.name().to_string(), ch.payload.len())).collect(),
            header: c.header,
            file_bytes: bytes.len(),
            overhead_bytes: c.overhead_bytes,
        })
    }
}

/// 2^28 pixels (e.g. 16384 × 16384) at most, for every model: the wavelet decoder holds a few
/// float planes per pixel, and a 40-byte hostile header must not be able to ask for tens of
/// gigabytes. Learned models code images this large in tiles (crate::tiling), whose size is
/// limited separately, as is that of an untiled learned image (`tiling::MAX_PIECE_PIXELS`).
const MAX_PIXELS: u64 = 1 << 28;

/// An image split into what the models code (8-bit RGB) and what the container carries.
/// An 8-bit RGB input is borrowed, not copied (a large image is coded with one copy of its
/// pixels in memory).
struct Planes<'a> {
    colour: ColourFormat,
    bit_depth: u8,
    rgb: Cow<'a, RgbImage>,
    alpha: Option<GrayImage>,
}

impl<'a> Planes<'a> {
    fn split(image: &'a DynamicImage) -> Self {
        let colour_type = image.color();
        let bits_per_channel = colour_type.bits_per_pixel() / u16::from(colour_type.channel_count());
        let bit_depth = if bits_per_channel > 8 { 16 } else { 8 };
        let alpha = colour_type.has_alpha().then(|| {
            let rgba = image.to_rgba8();
            GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| image::Luma([rgba.get_pixel(x, y)[3]]))
        });
        // A fully opaque alpha channel carries nothing: the file is plain RGB or gray.
        let alpha = alpha.filter(|a| a.as_raw().iter().any(|&v| v != 255));
        let colour = match (colour_type.has_color(), alpha.is_some()) {
            (true, false) => ColourFormat::Rgb,
            (true, true) => ColourFormat::Rgba,
            (false, false) => ColourFormat::Gray,
            (false, true) => ColourFormat::GrayAlpha,
        };
        let rgb = match image {
            DynamicImage::ImageRgb8(rgb) => Cow::Borrowed(rgb),
            other => Cow::Owned(other.to_rgb8()),
        };
        Planes { colour, bit_depth, rgb, alpha }
    }

    fn join(self) -> DynamicImage {
        let gray = |rgb: &RgbImage| {
            GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                let p = rgb.get_pixel(x, y);
                image::Luma([((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2]) + 1) / 3) as u8])
            })
        };
        let Planes { colour, rgb, alpha, .. } = self;
        let rgb = rgb.into_owned();
        match (colour, alpha) {
            (ColourFormat::Gray, _) => DynamicImage::ImageLuma8(gray(&rgb)),
            (ColourFormat::GrayAlpha, Some(a)) => {
                let g = gray(&rgb);
                DynamicImage::ImageLumaA8(GrayAlphaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                    image::LumaA([g.get_pixel(x, y)[0], a.get_pixel(x, y)[0]])
                }))
            }
            (ColourFormat::Rgba, Some(a)) => {
                DynamicImage::ImageRgba8(RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                    let p = rgb.get_pixel(x, y);
                    image::Rgba([p[0], p[1], p[2], a.get_pixel(x, y)[0]])
                }))
            }
            _ => DynamicImage::ImageRgb8(rgb),
        }
    }
}

/// Alpha chunk method 0: the plane as an 8-bit grayscale PNG.
const ALPHA_PNG: u8 = 0;

fn encode_alpha(alpha: &GrayImage) -> Result<Vec<u8>> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut out = vec![ALPHA_PNG];
    PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive)
        .write_image(alpha.as_raw(), alpha.width(), alpha.height(), image::ExtendedColorType::L8)
        .context("coding the alpha plane")?;
    Ok(out)
}

fn decode_alpha(payload: &[u8], width: u32, height: u32) -> Result<GrayImage> {
    let (&method, png) = payload.split_first().context("empty alpha chunk")?;
    ensure!(method == ALPHA_PNG, "unknown alpha coding method {method}");
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    // The PNG's own dimensions are checked against the header before it is decoded.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(u64::from(width) * u64::from(height) + (1 << 20));
    reader.limits(limits);
    let plane = reader.decode().context("corrupt alpha chunk")?;
    ensure!(
        plane.color() == image::ColorType::L8 && plane.width() == width && plane.height() == height,
        "corrupt alpha chunk: a {:?} plane of {}x{} for a {width}x{height} image",
        plane.color(),
        plane.width(),
        plane.height()
    );
    Ok(plane.into_luma8())
}

/// The rate levels' training λs from a safetensors file's `train_config` metadata, if it
/// records one per level (one for a fixed-rate model), all positive and increasing.
fn lambdas_from_weights(bytes: &[u8], levels: usize) -> Option<Vec<f64>> {
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8usize.checked_add(len)?)?).ok()?;
    let config = header.get("__metadata__")?.get("train_config")?.as_str()?;
    let config: serde_json::Value = serde_json::from_str(config).ok()?;
    let lambdas: Vec<f64> = config.get("lambdas")?.as_array()?.iter().map(|v| v.as_f64()).collect::<Option<_>>()?;
    let valid = levels >= 1
        && lambdas.len() == levels
        && lambdas.iter().all(|l| l.is_finite() && *l > 0.0)
        && lambdas.windows(2).all(|w| w[0] < w[1]);
    valid.then_some(lambdas)
}

fn is_lowest(params: &EncodeParams, lo: u32) -> bool {
    params.quality.map(u32::from) == Some(lo) || params.rate_level == Some(f64::from(lo) / LEVEL_SCALE)
}

/// The wavelet codec has no weights, and its payload carries its own format version and
/// parameters, so one fingerprint serves every build: that of the configuration it first
/// shipped with, frozen so that changing the encoder's defaults keeps old files decodable.
fn wavelet_fingerprint() -> [u8; 4] {
    fingerprint_of(b"WaveletConfig { levels: 5, chroma_step_factor: 1.2 }")
}

/// The fingerprint of a built-in model, without building it.
fn builtin_fingerprint(info: &ModelInfo) -> [u8; 4] {
    match info.source {
        ModelSource::Wavelet => wavelet_fingerprint(),
        ModelSource::Embedded(bytes) => fingerprint_of(bytes),
    }
}

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

    /// The continuous rate level a learned model's file was coded at (rate parameter / 4096).
    pub fn rate_level(&self) -> f64 {
        f64::from(self.header.params.rate_param) / LEVEL_SCALE
    }

    /// Bits per pixel of the whole file.
    pub fn bpp(&self) -> f64 {
        crate::metrics::bits_per_pixel(self.file_bytes, self.header.width, self.header.height)
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgba};

    fn sample(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x * 9 % 256) as u8, (y * 5 % 256) as u8, ((x + y) * 3 % 256) as u8, ((x * y) % 256) as u8])
        })
    }

    #[test]
    fn alpha_and_gray_round_trip() {
        let codec = Codec::load("wavelet").unwrap();
        let rgba = DynamicImage::ImageRgba8(sample(13, 6));
        let decoded = codec.decode_image(&codec.encode_image(&rgba, &EncodeParams::default()).unwrap()).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgba8);
        let alpha = |img: &DynamicImage| img.pixels().map(|(_, _, p)| p[3]).collect::<Vec<_>>();
        assert_eq!(alpha(&decoded), alpha(&rgba));

        let gray = DynamicImage::ImageLuma8(rgba.to_luma8());
        let bytes = codec.encode_image(&gray, &EncodeParams::default()).unwrap();
        assert_eq!(Codec::inspect(&bytes).unwrap().header.colour, ColourFormat::Gray);
        assert_eq!(codec.decode_image(&bytes).unwrap().color(), image::ColorType::L8);

        // Opaque alpha is dropped.
        let opaque = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 255])));
        let bytes = codec.encode_image(&opaque, &EncodeParams::default()).unwrap();
        assert_eq!(Codec::inspect(&bytes).unwrap().header.colour, ColourFormat::Rgb);
    }

    #[test]
    fn wavelet_refuses_levels_and_lambdas() {
        let codec = Codec::load("wavelet").unwrap();
        assert!(codec.level_for_lambda(0.01).unwrap_err().to_string().contains("no λ list"));
        let img = DynamicImage::ImageRgba8(sample(4, 4));
        let params = EncodeParams { rate_level: Some(1.0), ..Default::default() };
        assert!(codec.encode_image(&img, &params).is_err());
        let both = EncodeParams { quality: Some(3), lambda: Some(0.1), ..Default::default() };
        assert!(codec.encode_image(&img, &both).is_err());
    }

    #[test]
    fn bpp_search_lands_under_target() {
        let codec = Codec::load("wavelet").unwrap();
        let img = DynamicImage::ImageRgba8(sample(64, 48));
        let img = DynamicImage::ImageRgb8(img.to_rgb8());
        let found = codec.encode_to_bpp(&img, 2.0).unwrap();
        assert!(found.reached && found.bpp <= 2.0, "{found:?}");
        let q = found.params.quality.unwrap();
        if q < 100 {
            let next = codec.encode_image(&img, &EncodeParams { quality: Some(q + 1), ..Default::default() }).unwrap();
            assert!(next.len() as f64 * 8.0 / (64.0 * 48.0) > 2.0 || next.len() <= found.bytes.len());
        }
    }

    #[test]
    fn lambda_interpolation() {
        let bytes = match registry::by_name("hyperprior").unwrap().source {
            ModelSource::Embedded(b) => b,
            ModelSource::Wavelet => unreachable!(),
        };
        assert_eq!(lambdas_from_weights(bytes, 3), None);
        let codec = Codec::load("hyperprior").unwrap();
        let lambdas = codec.lambdas().expect("the shipped model records its λs").to_vec();
        assert_eq!(lambdas.len(), codec.rate_levels());
        assert!((codec.level_for_lambda(lambdas[3]).unwrap() - 3.0).abs() < 1e-9);
        let between = (lambdas[3] * lambdas[4]).sqrt();
        assert!((codec.level_for_lambda(between).unwrap() - 3.5).abs() < 1e-9);
        assert!((codec.lambda_for_level(3.5).unwrap() - between).abs() < 1e-12);
        assert!(codec.level_for_lambda(lambdas[0] / 2.0).is_err());
        assert!(codec.level_for_lambda(lambdas[7] * 2.0).is_err());
    }
}
