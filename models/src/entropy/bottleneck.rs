//! Ballé et al.'s factorized density ("entropy bottleneck"), as in CompressAI.

use super::{quantize, Quantization, LIKELIHOOD_BOUND};
use crate::layers::lower_bound;
use anyhow::{bail, ensure, Context, Result};
use neco_bitstream::entropy::{ChannelPmf, FactorizedPrior, IndexedTables, QuantizedDistribution, MAX_ALPHABET};
use std::collections::HashMap;
use tch::{nn, Kind, Tensor};

/// Hidden widths of the per-channel density network (CompressAI's default `filters`).
const FILTERS: [i64; 4] = [3, 3, 3, 3];
const INIT_SCALE: f64 = 10.0;
const TAIL_MASS: f64 = 1e-9;
/// Name of the neco coding tables inside a weights file (next to CompressAI's own buffers).
pub const TABLES_KEY: &str = "_neco_tables";

/// A learned, per-channel, non-parametric density for the hyper-latent z.
///
/// Training uses [`forward`](Self::forward) and [`aux_loss`](Self::aux_loss) (which fits the
/// `quantiles` that bound the coded range). Coding uses integer tables computed once by
/// [`update_tables`](Self::update_tables) and stored with the weights, so a decoder never
/// re-evaluates the density network.
#[derive(Debug)]
pub struct EntropyBottleneck {
    channels: i64,
    matrices: Vec<Tensor>,
    biases: Vec<Tensor>,
    factors: Vec<Tensor>,
    /// (C, 1, 3): lower tail, median, upper tail of each channel's density.
    quantiles: Tensor,
    prior: Option<FactorizedPrior>,
}

impl EntropyBottleneck {
    pub fn new(vs: nn::Path, channels: i64) -> Self {
        let dims: Vec<i64> = std::iter::once(1).chain(FILTERS).chain(std::iter::once(1)).collect();
        let scale = INIT_SCALE.powf(1.0 / (FILTERS.len() as f64 + 1.0));
        let (mut matrices, mut biases, mut factors) = (vec![], vec![], vec![]);
        for i in 0..=FILTERS.len() {
            let init = (1.0 / scale / dims[i + 1] as f64).exp_m1().ln();
            let shape = [channels, dims[i + 1], dims[i]];
            matrices.push((&vs / "matrices").var(&i.to_string(), &shape, nn::Init::Const(init)));
            let bias_shape = [channels, dims[i + 1], 1];
            biases.push((&vs / "biases").var(&i.to_string(), &bias_shape, nn::Init::Uniform { lo: -0.5, up: 0.5 }));
            if i < FILTERS.len() {
                factors.push((&vs / "factors").var(&i.to_string(), &bias_shape, nn::Init::Const(0.0)));
            }
        }
        let init = Tensor::from_slice(&[-INIT_SCALE as f32, 0.0, INIT_SCALE as f32]).to_device(vs.device());
        let quantiles = vs.var_copy("quantiles", &init.view([1, 1, 3]).repeat([channels, 1, 1]));
        Self { channels, matrices, biases, factors, quantiles, prior: None }
    }

    pub fn channels(&self) -> i64 {
        self.channels
    }

    /// The cumulative logits of the density at `inputs` (C, 1, N).
    fn logits_cumulative(&self, inputs: &Tensor, stop_gradient: bool) -> Tensor {
        let maybe_detach = |t: &Tensor| if stop_gradient { t.detach() } else { t.shallow_clone() };
        let mut logits = inputs.shallow_clone();
        for i in 0..self.matrices.len() {
            logits = maybe_detach(&self.matrices[i]).softplus().matmul(&logits) + maybe_detach(&self.biases[i]);
            if let Some(factor) = self.factors.get(i) {
                logits = &logits + maybe_detach(factor).tanh() * logits.tanh();
            }
        }
        logits
    }

    /// (likelihood, lower logits, upper logits) of unit bins centred on `inputs` (C, 1, N).
    fn likelihood_parts(&self, inputs: &Tensor, stop_gradient: bool) -> (Tensor, Tensor, Tensor) {
        let lower = self.logits_cumulative(&(inputs - 0.5), stop_gradient);
        let upper = self.logits_cumulative(&(inputs + 0.5), stop_gradient);
        // CompressAI 1.2.8's form (no sign flip into the lower tail), for exact parity; it loses
        // precision only far in the upper tail, where the 1e-9 floor applies anyway.
        let likelihood = upper.sigmoid() - lower.sigmoid();
        (likelihood, lower, upper)
    }

    /// Each channel's median (C,), the centre that symbols are quantized around.
    pub fn medians(&self) -> Tensor {
        self.quantiles.select(1, 0).select(1, 1)
    }

    /// Quantizes `z` (B, C, H, W) and returns (ẑ for the hyper-synthesis, likelihoods).
    pub fn forward(&self, z: &Tensor, mode: Quantization) -> (Tensor, Tensor) {
        let (b, c, h, w) = z.size4().expect("entropy bottleneck input is B×C×H×W");
        assert_eq!(c, self.channels, "entropy bottleneck channel count");
        let medians = self.medians().detach().view([1, c, 1, 1]);
        let (for_likelihood, z_hat) = quantize(z, mode, &medians);
        let values = for_likelihood.permute([1, 0, 2, 3]).reshape([c, 1, -1]);
        let (likelihood, _, _) = self.likelihood_parts(&values, false);
        let likelihood = lower_bound(&likelihood, LIKELIHOOD_BOUND).reshape([c, b, h, w]).permute([1, 0, 2, 3]);
        (z_hat, likelihood)
    }

    /// The auxiliary loss that moves `quantiles` to the density's tails and median. It only
    /// trains `quantiles` (the density itself is detached).
    pub fn aux_loss(&self) -> Tensor {
        let logits = self.logits_cumulative(&self.quantiles, true);
        let edge = (2.0 / TAIL_MASS - 1.0).ln();
        let target = Tensor::from_slice(&[-edge as f32, 0.0, edge as f32]).to_device(logits.device()).view([1, 1, 3]);
        (logits - target).abs().sum(Kind::Float)
    }

    /// Evaluates the density on each channel's integer grid around its median and quantizes it
    /// into coding tables (CompressAI's `update()`, but to neco's 24-bit tables).
    pub fn update_tables(&mut self) -> Result<()> {
        let pmfs = tch::no_grad(|| -> Result<Vec<ChannelPmf>> {
            let q = self.quantiles.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).select(1, 0);
            let medians = q.select(1, 1);
            let minima = (&medians - q.select(1, 0)).ceil().clamp_min(0.0);
            let maxima = (q.select(1, 2) - &medians).ceil().clamp_min(0.0);
            let lengths: Vec<f32> = Vec::try_from(&(&maxima + &minima + 1.0))?;
            let minima: Vec<f32> = Vec::try_from(&minima)?;
            let max_length = lengths.iter().copied().fold(0.0f32, f32::max);
            ensure!(
                max_length.is_finite() && (max_length as usize) < MAX_ALPHABET,
                "entropy bottleneck quantiles span {max_length} values; train longer or reset them"
            );
            let max_length = max_length as i64;
            let device = self.quantiles.device();
            let starts = (&medians - Tensor::from_slice(&minima)).to_device(device);
            let samples = Tensor::arange(max_length, (Kind::Float, device)).view([1, 1, -1]) + starts.view([-1, 1, 1]);
            let (pmf, lower, upper) = self.likelihood_parts(&samples, true);
            let pmf = pmf.select(1, 0).to_device(tch::Device::Cpu).to_kind(Kind::Double);
            let tails = (lower.select(1, 0).narrow(1, 0, 1).sigmoid()
                + upper.select(1, 0).narrow(1, max_length - 1, 1).neg().sigmoid())
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Double);
            let mut out = Vec::with_capacity(self.channels as usize);
            for c in 0..self.channels {
                let len = lengths[c as usize] as i64;
                let row: Vec<f64> = Vec::try_from(&pmf.get(c).narrow(0, 0, len))?;
                let tail = tails.get(c).double_value(&[0]);
                out.push(ChannelPmf { offset: -(minima[c as usize] as i32), pmf: row, tail_mass: tail.max(1e-12) });
            }
            Ok(out)
        })?;
        self.prior = Some(FactorizedPrior::from_channel_pmfs(&pmfs)?);
        Ok(())
    }

    /// The coding tables. Errors until [`update_tables`](Self::update_tables) or
    /// [`load_tables`](Self::load_tables) has run.
    pub fn prior(&self) -> Result<&FactorizedPrior> {
        self.prior.as_ref().context("entropy bottleneck has no coding tables (update_tables was not run)")
    }

    /// Installs coding tables from a weights file's extra tensors under `prefix`: neco's own
    /// serialized tables if present, else CompressAI's 16-bit `_quantized_cdf` buffers (scaled
    /// exactly to 24 bits). Returns false when the file has neither.
    pub fn load_tables(&mut self, extra: &HashMap<String, Tensor>, prefix: &str) -> Result<bool> {
        if let Some(t) = extra.get(&format!("{prefix}{TABLES_KEY}")) {
            let bytes: Vec<u8> = Vec::try_from(&t.to_kind(Kind::Uint8).view([-1]))?;
            let tables = IndexedTables::from_bytes(&bytes).context("stored entropy bottleneck tables")?;
            ensure!(
                tables.len() as i64 == self.channels,
                "stored tables cover {} channels, not {}",
                tables.len(),
                self.channels
            );
            self.prior = Some(FactorizedPrior::from_tables(tables)?);
            return Ok(true);
        }
        let (Some(cdf), Some(offset), Some(length)) = (
            extra.get(&format!("{prefix}_quantized_cdf")),
            extra.get(&format!("{prefix}_offset")),
            extra.get(&format!("{prefix}_cdf_length")),
        ) else {
            return Ok(false);
        };
        if cdf.numel() == 0 {
            return Ok(false);
        }
        self.prior = Some(FactorizedPrior::from_tables(tables_from_compressai(cdf, offset, length, self.channels)?)?);
        Ok(true)
    }

    /// The coding tables as a tensor to store under `TABLES_KEY`.
    pub fn tables_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.prior()?.tables().to_bytes()))
    }

    /// Symbols `round(z − median)` of one latent (1, C, H, W), channel-major.
    pub fn symbols(&self, z: &Tensor) -> Result<Vec<i32>> {
        let medians = self.medians().detach().view([1, -1, 1, 1]);
        let s = (z - medians).round().to_device(tch::Device::Cpu).to_kind(Kind::Int).contiguous().view([-1]);
        Ok(Vec::try_from(&s)?)
    }

    /// ẑ = symbol + median for decoded symbols, as a (1, C, h, w) tensor on `device`.
    pub fn dequantize(&self, symbols: &[i32], h: i64, w: i64, device: tch::Device) -> Tensor {
        let s = Tensor::from_slice(symbols).to_kind(Kind::Float).view([1, self.channels, h, w]).to_device(device);
        s + self.medians().detach().to_device(device).view([1, -1, 1, 1])
    }
}

/// Converts CompressAI's rANS tables (16-bit CDFs, escape last) to neco's 24-bit tables. This
/// is exact: every frequency is multiplied by 2⁸.
fn tables_from_compressai(cdf: &Tensor, offset: &Tensor, length: &Tensor, channels: i64) -> Result<IndexedTables> {
    let (rows, cols) = cdf.size2().context("_quantized_cdf must be 2-D")?;
    ensure!(rows == channels, "_quantized_cdf has {rows} rows for {channels} channels");
    let cdf: Vec<i64> = Vec::try_from(&cdf.to_kind(Kind::Int64).contiguous().view([-1]))?;
    let offsets: Vec<i64> = Vec::try_from(&offset.to_kind(Kind::Int64).view([-1]))?;
    let lengths: Vec<i64> = Vec::try_from(&length.to_kind(Kind::Int64).view([-1]))?;
    ensure!(offsets.len() as i64 == channels && lengths.len() as i64 == channels, "CDF buffer sizes disagree");
    let shift = neco_bitstream::entropy::PRECISION as u32 - 16;
    let mut dists = Vec::with_capacity(channels as usize);
    for c in 0..channels as usize {
        let len = lengths[c];
        if len < 3 || len > cols {
            bail!("channel {c}: CDF length {len} out of range");
        }
        let row = &cdf[c * cols as usize..c * cols as usize + len as usize];
        let freqs = row
            .windows(2)
            .map(|w| u32::try_from((w[1] - w[0]) << shift).context("CDF is not increasing"))
            .collect::<Result<Vec<u32>>>()?;
        let offset = i32::try_from(offsets[c]).context("offset out of range")?;
        dists.push(QuantizedDistribution::from_frequencies(offset, &freqs)?);
    }
    Ok(IndexedTables::new(dists)?)
}
