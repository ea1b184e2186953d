//! Learned models inside the codec: image ↔ tensor, padding, rate levels and chunks.

use anyhow::{ensure, Context, Result};
use neco_bitstream::container::{Chunk, ChunkKind, Container};
use neco_models::entropy::SymbolDigest;
use neco_models::weights::{self, LoadedModel};
use neco_models::{pad_to_stride, CompressedLatents, Rate, Refinement};
use tch::{Device, Kind, Tensor};

/// Rate levels travel in the header's rate parameter as fixed point with this many steps per
/// level, so encoder and decoder use the identical (rounded) level.
pub const LEVEL_SCALE: f64 = 4096.0;

/// Environment variable that, when set to a positive integer, fixes libtorch's intra-op CPU
/// thread count before the first learned model is built (used by the determinism tests, which
/// run the `neco` binary with different thread counts).
pub const THREADS_ENV: &str = "NECO_THREADS";

/// Applies [`THREADS_ENV`] once per process.
fn apply_thread_env() -> Result<()> {
    static APPLIED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    let outcome = APPLIED.get_or_init(|| match std::env::var(THREADS_ENV) {
        Err(_) => Ok(()),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => {
                neco_models::device::set_threads(n);
                Ok(())
            }
            _ => Err(format!("{THREADS_ENV}={v:?} is not a positive thread count")),
        },
    });
    outcome.clone().map_err(anyhow::Error::msg)
}

/// Encoder-side latent refinement for one encode (see [`neco_models::refine`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineSettings {
    /// Gradient steps.
    pub steps: usize,
    /// The operating point's rate-distortion λ.
    pub lambda: f64,
}

pub struct LearnedCodec {
    loaded: LoadedModel,
    device: Device,
}

impl LearnedCodec {
    pub fn from_bytes(bytes: &[u8], device: Device) -> Result<Self> {
        apply_thread_env()?;
        Ok(Self { loaded: weights::load_bytes(bytes, device)?, device })
    }

    pub fn arch(&self) -> &'static str {
        self.loaded.model.arch()
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.loaded.sha256
    }

    /// Number of gain levels (1 for fixed-rate models).
    pub fn rate_levels(&self) -> usize {
        self.loaded.model.rate_levels()
    }

    /// The header's rate parameter for quality 1..=100: the levels are spread evenly over the
    /// quality range (quality 1 = lowest level, 100 = highest).
    pub fn rate_param_for_quality(&self, quality: u8) -> u32 {
        let top = (self.rate_levels() - 1) as f64;
        let level = f64::from(quality.clamp(1, 100) - 1) / 99.0 * top;
        (level * LEVEL_SCALE).round() as u32
    }

    fn rate(&self, rate_param: u32) -> Result<Rate<'static>> {
        if self.rate_levels() <= 1 {
            ensure!(rate_param == 0, "rate parameter {rate_param} for a fixed-rate model");
            return Ok(Rate::Default);
        }
        let level = f64::from(rate_param) / LEVEL_SCALE;
        ensure!(level <= (self.rate_levels() - 1) as f64, "rate level {level} is beyond this model's levels");
        Ok(Rate::Continuous(level))
    }

    /// Whether the model can refine its latents per image (effort above 0).
    pub fn supports_refinement(&self) -> bool {
        self.loaded.model.supports_refinement()
    }

    /// Codes 8-bit RGB, with the latents refined for this image when `refine` is set; returns
    /// the chunks to store: the hyper-latent (if any), the latent and the symbol checksum, in
    /// that order.
    pub fn encode_rgb8(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        rate_param: u32,
        refine: Option<RefineSettings>,
    ) -> Result<Vec<(ChunkKind, Vec<u8>)>> {
        let rate = self.rate(rate_param)?;
        let x = Tensor::from_slice(rgb)
            .view([i64::from(height), i64::from(width), 3])
            .permute([2, 0, 1])
            .unsqueeze(0)
            .to_kind(Kind::Float)
            .to_device(self.device)
            / 255.0;
        let padded = pad_to_stride(&x, self.loaded.model.stride());
        let latents = match refine {
            None => self.loaded.model.compress(&padded, &rate)?,
            Some(r) => {
                let visible = (i64::from(height), i64::from(width));
                let cfg = Refinement::new(r.steps, r.lambda, visible);
                let (latents, report) = self.loaded.model.compress_refined(&padded, &rate, &cfg)?;
                tracing::debug!(
                    steps = report.steps,
                    initial_cost = report.initial_cost,
                    best_cost = report.best_cost,
                    best_step = report.best_step,
                    "latent refinement"
                );
                latents
            }
        };
        let mut chunks = vec![];
        if let Some(hyper) = latents.hyper {
            chunks.push((ChunkKind::HyperLatent, hyper));
        }
        chunks.push((ChunkKind::Latent, latents.latent));
        chunks.push((ChunkKind::SymbolChecksum, latents.symbol_checksum.to_payload()));
        Ok(chunks)
    }

    /// The model's stride: a tile size must be a multiple of it.
    pub fn stride(&self) -> u32 {
        self.loaded.model.stride() as u32
    }

    /// Decodes an untiled file to 8-bit RGB. Fails if the file has no symbol checksum chunk,
    /// or if the decoded symbols do not match it (the decoder's entropy parameters drifted
    /// from the encoder's).
    pub fn decode_rgb8(&self, container: &Container<'_>) -> Result<Vec<u8>> {
        let h = &container.header;
        self.decode_streams(&container.chunks, h.width, h.height, h.params.rate_param)
    }

    /// Decodes one image (or one tile) of `width × height` from its chunks — the hyper-latent,
    /// latent and symbol checksum [`encode_rgb8`](Self::encode_rgb8) made; other kinds are
    /// skipped — to 8-bit RGB. Every tensor is dropped before it returns.
    pub fn decode_streams(&self, chunks: &[Chunk<'_>], width: u32, height: u32, rate_param: u32) -> Result<Vec<u8>> {
        let rate = self.rate(rate_param)?;
        let stride = self.stride();
        let padded_h = height.div_ceil(stride) * stride;
        let padded_w = width.div_ceil(stride) * stride;
        let first = |kind: ChunkKind| chunks.iter().find(|c| c.kind == kind);
        let require = |kind: ChunkKind| {
            first(kind).with_context(|| format!("invalid file: required {} chunk is missing", kind.name()))
        };
        let latents = CompressedLatents {
            hyper: first(ChunkKind::HyperLatent).map(|c| c.payload.to_vec()),
            latent: require(ChunkKind::Latent)?.payload.to_vec(),
            symbol_checksum: SymbolDigest::from_payload(require(ChunkKind::SymbolChecksum)?.payload)?,
        };
        let x_hat = self.loaded.model.decompress(&latents, i64::from(padded_h), i64::from(padded_w), &rate)?;
        let cropped = x_hat.narrow(2, 0, i64::from(height)).narrow(3, 0, i64::from(width));
        let rgb = (cropped.squeeze_dim(0).permute([1, 2, 0]) * 255.0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
            .to_device(Device::Cpu)
            .contiguous()
            .view([-1]);
        Vec::<u8>::try_from(&rgb).context("copying the decoded image")
    }
}
