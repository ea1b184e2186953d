//! The classical wavelet codec: neco's non-learned model family, and the
//! default model until trained weights exist.
//!
//! RGB -> YCbCr, a multi-level CDF 9/7 transform per plane, deadzone scalar
//! quantization with steps balanced by each subband's synthesis gain,
//! context-modelled adaptive range coding ([`neco_bitstream::entropy`]) with
//! context mixing for the binary decisions, and
//! on the decoded RGB image, adaptive restoration filters fitted per image by
//! the encoder.
//!
//! The payload is one range-coded stream: a small header (format version,
//! decomposition levels and chroma step factor, so a decoder needs no
//! matching config), then the three planes, then (since format version 2)
//! the restoration filters (since version 5, up to three passes of them).
//! Quality and image size are not stored; the caller passes them to both
//! sides. Decoding is bit-exact across
//! platforms (integer entropy coding, IEEE-exact float arithmetic only, no
//! libm calls); encoding is deterministic (its rate-distortion choices use
//! `log2`, so another platform's libm could in principle pick differently).
//!
//! Modules: `colour` conversion, `transform` (CDF 9/7 lifting and the
//! subband layout), `quantize`, `context` modelling and its version-3/4
//! `mixed_context` (on the integer `mixing` primitives), version 6's LL
//! coding `ll_mixed`, version 7's trained `initial_states` of the mixers,
//! `coefficient_coder` and its `adaptive` models,
//! `restoration` filters.

mod adaptive;
mod coefficient_coder;
mod colour;
mod context;
mod initial_states;
mod ll_mixed;
mod mixed_context;
mod mixing;
mod quantize;
mod restoration;
mod transform;

#[cfg(test)]
mod tests;

use adaptive::Coder;
use anyhow::{ensure, Context, Result};
use context::Models;
pub use initial_states::{InitialStates, Statistics, TrainedStates};
use neco_bitstream::entropy::{SymbolDecoder, SymbolEncoder};
use quantize::Quantizer;
use restoration::Filters;
use transform::{Layout, MAX_LEVELS};

/// Rate-distortion trade-off of the encoder's quantization choices: squared
/// error (in units of the luma step squared) worth one bit. Tuned on Kodak
/// for format version 3's mixed models (0.1 suited version 2's: the mixed
/// models price an isolated nonzero higher, and its future context savings
/// are not counted, so a lower lambda keeps more of them).
const LAMBDA: f32 = 0.075;
/// The restoration filters' trade-off, in squared error of the RGB samples
/// (summed over channels) per bit, per squared pixel-domain step: 3 x 0.1,
/// as a luma error shows in all three channels.
const RESTORATION_LAMBDA: f64 = 0.3;
/// Most restoration passes a payload may have (format version 5 on): each
/// is fitted to the output of the one before, correcting what one linear
/// filter per class could not.
const MAX_RESTORATION_PASSES: usize = 3;
/// Restoration passes the encoder tries. On Kodak q15-60 a second pass
/// gained 0.36 % BD-rate (0.26 % on the whole curve) and a third 0.06 %
/// more, but each pass adds a filter fit, the bulk of the encoding time.
const ENCODER_RESTORATION_PASSES: usize = 2;
/// Payload format version, the header's first field. Version 2 added the
/// restoration filters after the planes, version 3 the context mixing of
/// binary decisions, version 4 more evidence for the mixing, an "above two"
/// flag, a coarser LL step and restoration filters with cross-channel and
/// clipped (nonlinear) inputs, version 5 geometric transforms of the
/// restoration filters per pixel, classes split by directionality,
/// predicted filter coefficients, restoration passes and primed LL models,
/// version 6 the LL residuals by context mixing (`ll_mixed`) and an "above
/// three" flag, version 7 mixers that start from trained states
/// (`initial_states`); older payloads still decode.
const FORMAT_VERSION: u32 = 7;
/// Fixed-point scale of the chroma step factor in the header.
const FACTOR_ONE: f32 = 256.0;

/// Encoder settings (the decoder reads them from the payload).
#[derive(Debug, Clone, PartialEq)]
pub struct WaveletConfig {
    /// Decomposition levels; fewer are used along an axis too short for them.
    pub levels: usize,
    /// Chroma steps are the luma step times this (stored to 1/256). The
    /// default is 1.0: with version 4's models, 1.0 measured −0.36 % BD-rate
    /// on Kodak against 1.2 (1.1 −0.24 %, 1.3 +0.32 %).
    pub chroma_step_factor: f32,
}

impl Default for WaveletConfig {
    fn default() -> Self {
        Self { levels: 5, chroma_step_factor: 1.0 }
    }
}

/// The wavelet image codec.
#[derive(Debug, Clone, Default)]
pub struct WaveletCodec {
    cfg: WaveletConfig,
}

/// Parameters carried in the payload header.
struct Header {
    version: u32,
    levels: usize,
    /// Chroma step factor in 1/[`FACTOR_ONE`] units (1..=65535).
    factor: u32,
}

impl Header {
    fn code<C: Coder>(&self, io: &mut C) -> Result<Self> {
        let version = io.bits(self.version, 4)?;
        ensure!((1..=FORMAT_VERSION).contains(&version), "wavelet payload of unknown format version {version}");
        let levels = io.bits(self.levels as u32, 4)? as usize;
        let factor = io.bits(self.factor, 16)?;
        ensure!(levels <= MAX_LEVELS, "corrupt wavelet payload: {levels} levels");
        ensure!(factor > 0, "corrupt wavelet payload: zero chroma step factor");
        Ok(Self { version, levels, factor })
    }

    /// Quantizers per plane, in `layout.bands` order.
    fn quantizers(&self, layout: &Layout, quality: u8) -> [Vec<Quantizer>; 3] {
        let base = quantize::base_step(quality);
        let chroma = self.factor as f32 / FACTOR_ONE;
        let ll_factor = quantize::ll_step_factor(self.version);
        let plane =
            |factor: f32| layout.bands.iter().map(|b| Quantizer::for_band(base, factor, ll_factor, b)).collect();
        [plane(1.0), plane(chroma), plane(chroma)]
    }
}

/// The encoder's coded planes: their layout, the coded levels and their quantizers.
type CodedPlanes = (Layout, [Vec<i32>; 3], [Vec<Quantizer>; 3]);

/// `width * height`, if positive and addressable three times over.
fn pixel_count(width: u32, height: u32) -> Result<usize> {
    ensure!(width > 0 && height > 0, "empty image ({width}x{height})");
    usize::try_from(u64::from(width) * u64::from(height))
        .ok()
        .filter(|n| n.checked_mul(3).is_some())
        .context("image too large")
}

impl WaveletCodec {
    pub fn new(cfg: WaveletConfig) -> Self {
        Self { cfg }
    }

    pub fn config(&self) -> &WaveletConfig {
        &self.cfg
    }

    /// `rgb` is interleaved 8-bit RGB, `width * height * 3` bytes. `quality`
    /// 1..=100 (0 counts as 1, above 100 as 100): higher is better and bigger;
    /// 100 is near-lossless (about 48 dB). Returns the entropy-coded payload
    /// (no container; a multiple of 4 bytes).
    pub fn encode_rgb8(&self, rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
        let mut enc = SymbolEncoder::new();
        let mut models = Models::new(FORMAT_VERSION, quality);
        let (layout, quantized, quantizers) =
            self.code_coefficients(&mut enc, &mut models, rgb, width, height, quality)?;
        // The filters are fitted to what the decoder will see (the
        // transformed planes are gone, and the levels go next, to keep the
        // peak memory).
        let mut decoded = reconstruct(&layout, &quantized, &quantizers);
        drop(quantized);
        let base = f64::from(quantize::base_step(quality));
        let clip = restoration::clip_for_step(base);
        let lambda = RESTORATION_LAMBDA * base * base;
        let (w, h) = (layout.width, layout.height);
        // Restoration passes (several from version 5 on), each fitted to the
        // previous one's output, until one would filter nothing.
        let mut filters = Filters::design(&decoded, rgb, w, h, lambda, clip, FORMAT_VERSION);
        for pass in 1.. {
            filters.code(&mut enc)?;
            let next = (pass < ENCODER_RESTORATION_PASSES && !filters.is_off()).then(|| {
                filters.apply(&mut decoded, w, h);
                Filters::design(&decoded, rgb, w, h, lambda, clip, FORMAT_VERSION)
            });
            let next = next.filter(|f| !f.is_off());
            enc.bits(u32::from(next.is_some()), 1)?;
            match next {
                Some(f) => filters = f,
                None => break,
            }
        }
        Ok(enc.finish())
    }

    /// What the mixers of a version-7 encode of this image see, starting
    /// from `start` (untrained if `None`): the material of trained starting
    /// states ([`InitialStates`], `neco train --model wavelet`). Only the
    /// coefficients are coded; the restoration filters use no mixers.
    pub fn gather_statistics(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        quality: u8,
        start: Option<&InitialStates>,
    ) -> Result<Statistics> {
        let mut models = Models::untrained(FORMAT_VERSION);
        if let Some(states) = start {
            models.start_from(states)?;
        }
        models.gather_statistics();
        self.code_coefficients(&mut SymbolEncoder::new(), &mut models, rgb, width, height, quality)?;
        Ok(models.statistics())
    }

    /// The encoder's first part: the header, then the quantized planes
    /// coded with `models`. Returns the layout, the coded levels and their
    /// quantizers.
    fn code_coefficients(
        &self,
        enc: &mut SymbolEncoder,
        models: &mut Models,
        rgb: &[u8],
        width: u32,
        height: u32,
        quality: u8,
    ) -> Result<CodedPlanes> {
        let n = pixel_count(width, height)?;
        ensure!(rgb.len() == n * 3, "{} bytes for a {width}x{height} RGB image", rgb.len());
        ensure!(
            self.cfg.chroma_step_factor.is_finite() && self.cfg.chroma_step_factor > 0.0,
            "chroma step factor {} is not positive",
            self.cfg.chroma_step_factor
        );
        let header = Header {
            version: FORMAT_VERSION,
            levels: self.cfg.levels.min(MAX_LEVELS),
            factor: (self.cfg.chroma_step_factor * FACTOR_ONE).round().clamp(1.0, 65535.0) as u32,
        };
        let layout = Layout::new(width as usize, height as usize, header.levels);
        let quantizers = header.quantizers(&layout, quality);
        let mut planes = colour::rgb8_to_ycbcr(rgb);
        let mut quantized: [Vec<i32>; 3] = Default::default();
        for ((plane, q), quants) in planes.iter_mut().zip(&mut quantized).zip(&quantizers) {
            layout.forward(plane);
            *q = vec![0; n];
            for (band, quant) in layout.bands.iter().zip(quants) {
                quantize::quantize_band(plane, q, layout.width, band, quant);
            }
        }
        header.code(enc)?;
        let source = coefficient_coder::Source { planes: &planes, quantizers: &quantizers, lambda: LAMBDA };
        coefficient_coder::code_planes(enc, &layout, &mut quantized, Some(&source), models)?;
        Ok((layout, quantized, quantizers))
    }

    /// Inverse of [`encode_rgb8`](Self::encode_rgb8): returns interleaved RGB8,
    /// `width * height * 3` bytes; `quality` must be the encoder's. The
    /// decomposition and chroma factor come from the payload, not from this
    /// codec's config. Corrupt payloads give an error or a garbage image, never
    /// a panic; work and memory are O(width * height).
    pub fn decode_rgb8(&self, payload: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
        Ok(self.decode_with(payload, width, height, quality, true)?.0)
    }

    /// [`decode_rgb8`](Self::decode_rgb8), with the payload's restoration
    /// filters, applied only if `restore` (tests compare both).
    fn decode_with(
        &self,
        payload: &[u8],
        width: u32,
        height: u32,
        quality: u8,
        restore: bool,
    ) -> Result<(Vec<u8>, Vec<Filters>)> {
        let n = pixel_count(width, height)?;
        let mut dec = SymbolDecoder::new(payload).context("corrupt wavelet payload")?;
        let header = Header { version: 0, levels: 0, factor: 0 }.code(&mut dec)?;
        let layout = Layout::new(width as usize, height as usize, header.levels);
        let quantizers = header.quantizers(&layout, quality);
        let mut quantized: [Vec<i32>; 3] = [vec![0; n], vec![0; n], vec![0; n]];
        coefficient_coder::code_planes(
            &mut dec,
            &layout,
            &mut quantized,
            None,
            &mut Models::new(header.version, quality),
        )
        .context("corrupt wavelet payload")?;
        let mut rgb = reconstruct(&layout, &quantized, &quantizers);
        drop(quantized);
        let mut passes = Vec::new();
        if header.version >= 2 {
            loop {
                let mut filters = Filters::for_version(header.version);
                filters.code(&mut dec).context("corrupt wavelet payload")?;
                passes.push(filters);
                if header.version < 5 || dec.bits(0, 1)? == 0 {
                    break;
                }
                ensure!(
                    passes.len() < MAX_RESTORATION_PASSES,
                    "corrupt wavelet payload: more than {MAX_RESTORATION_PASSES} restoration passes"
                );
            }
        }
        if restore {
            for filters in &passes {
                filters.apply(&mut rgb, layout.width, layout.height);
            }
        }
        Ok((rgb, passes))
    }
}

/// The decoded image before restoration: dequantized planes, inverse
/// transform, YCbCr to RGB8. The encoder runs it too, to fit the filters.
fn reconstruct(layout: &Layout, quantized: &[Vec<i32>; 3], quantizers: &[Vec<Quantizer>; 3]) -> Vec<u8> {
    let n = layout.width * layout.height;
    let mut planes: [Vec<f32>; 3] = Default::default();
    for ((plane, q), quants) in planes.iter_mut().zip(quantized).zip(quantizers) {
        *plane = vec![0.0; n];
        for (band, quant) in layout.bands.iter().zip(quants) {
            quantize::dequantize_band(q, plane, layout.width, band, quant);
        }
        layout.inverse(plane);
    }
    colour::ycbcr_to_rgb8(&planes)
}
