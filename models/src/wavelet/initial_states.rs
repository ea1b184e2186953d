//! Format version 7's trained starting states of the context mixers.
//!
//! A fresh mixer starts knowing nothing: every counter at one half, every
//! view with the same weight. Each image then pays to learn what every image
//! teaches alike (most fine-band coefficients are zero, a coefficient beside
//! large ones is rarely zero, which view to trust for which band), and at
//! low rates an image has few decisions to learn from. As in CABAC's
//! initialisation tables, version 7 starts each counter at the probability
//! and confidence that training images give it, and each weight vector at
//! its average over training images.
//!
//! The states are data, trained by `neco train --model wavelet` on
//! `../shared/datasets/train` and compiled in (`initial_states.bin`): the
//! file is part of the version-7 format, and a changed file needs a new
//! format version. It holds only integers, so decoders start from the very
//! same state everywhere.
//!
//! Training gathers, per counter, the zeros and ones it coded, and per
//! weight vector, its final weights weighted by its updates, over every
//! training image at several qualities ([`Statistics`]); a second round
//! gathers again starting from the first round's states, as the weights
//! the mixers settle on depend on where the counters start. There is one
//! set of states per quality class ([`TrainedStates`]).
//!
//! Measured on all of Kodak (q10–90): −0.75 % BD-rate (+0.043 dB) against
//! version 6; q15–60 alone −0.93 % (docs/training.md has each choice's worth).

use super::mixing::{Counter, Mixer, MixerStats};
use anyhow::{bail, ensure, Result};
use std::sync::OnceLock;

/// The mixers of a version-7 stream, in the file's order.
pub const MIXERS: [&str; 6] = ["significance", "above_one", "above_two", "above_three", "sign", "ll"];

/// Confidence (as an event count) a trained counter starts with where its
/// variation between images is unknown: its first updates move it at
/// 1/(count + 1.5). Measured on Kodak q15–60 against untrained starts, the
/// counters alone: 4 −0.52 %, 8 −0.54 %, 16 −0.50 %.
const TRAINED_CONFIDENCE: u8 = 8;
/// The most confidence [`confidence`] gives: with the weights, 8 for every
/// counter measured −0.83 % against untrained starts, confidences from the
/// variation between images capped at 16 or 64 −0.86 %.
const MAX_CONFIDENCE: f64 = 16.0;
/// Counters that saw fewer events than this over all training images keep
/// the untrained start.
const MIN_EVENTS: u64 = 10;

const MAGIC: &[u8; 8] = b"NECOWIS1";

/// One mixer's starting state.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerStart {
    /// Per table, per counter.
    pub counters: Vec<Vec<Counter>>,
    /// Per selector, `inputs` weights per weight vector (16.16).
    pub weights: Vec<Vec<i32>>,
    /// The second layer's weights, one per selector.
    pub final_weights: Vec<i32>,
}

/// The starting states of all mixers of a stream, in [`MIXERS`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialStates {
    pub mixers: Vec<MixerStart>,
}

/// The states version-7 streams start from, per quality class.
pub fn shipped() -> &'static TrainedStates {
    static STATES: OnceLock<TrainedStates> = OnceLock::new();
    STATES.get_or_init(|| {
        TrainedStates::from_bytes(include_bytes!("initial_states.bin"))
            .expect("the compiled-in wavelet initial states are valid (tested)")
    })
}

/// Starting states per quality class: the statistics of a coefficient's
/// context differ with the step (at low qualities even a busy neighbourhood
/// is mostly zero), more than the contexts capture. Measured on Kodak q15
/// and q25: states trained at qualities 10–30 alone gained 0.010 dB at
/// 0.136 bpp over states trained at 10–80.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedStates {
    /// Each class's highest quality (ascending; the last class also takes
    /// any higher one) and its states.
    pub classes: Vec<(u8, InitialStates)>,
}

impl TrainedStates {
    /// The states of the class of `quality`.
    pub fn for_quality(&self, quality: u8) -> &InitialStates {
        let class = self.classes.iter().position(|&(top, _)| quality <= top).unwrap_or(self.classes.len() - 1);
        &self.classes[class].1
    }

    /// Serialises: magic, the class count (u32), then per class its highest
    /// quality (u8) and its [`InitialStates`]; then a CRC-32 of everything
    /// before it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(self.classes.len() as u32).to_le_bytes());
        for (top, states) in &self.classes {
            out.push(*top);
            states.write(&mut out);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        ensure!(bytes.len() >= MAGIC.len() + 8 && bytes.starts_with(MAGIC), "not a wavelet initial-states file");
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        ensure!(
            crc32fast::hash(body) == u32::from_le_bytes(crc.try_into()?),
            "wavelet initial states: checksum mismatch"
        );
        let mut r = Reader { bytes: &body[MAGIC.len()..] };
        let count = r.len(100)?;
        ensure!(count > 0, "wavelet initial states: no quality class");
        let classes = (0..count).map(|_| Ok((r.u8()?, InitialStates::read(&mut r)?))).collect::<Result<Vec<_>>>()?;
        ensure!(classes.windows(2).all(|w| w[0].0 < w[1].0), "wavelet initial states: quality classes out of order");
        ensure!(r.bytes.is_empty(), "wavelet initial states: {} bytes left over", r.bytes.len());
        Ok(Self { classes })
    }
}

impl MixerStart {
    /// The state of a freshly built mixer.
    pub fn of(mixer: &Mixer) -> Self {
        let (weights, final_weights) = mixer.weights();
        Self { counters: mixer.tables().to_vec(), weights: weights.to_vec(), final_weights: final_weights.to_vec() }
    }

    /// Whether it fits `mixer` (same tables and weight vectors).
    pub fn fits(&self, mixer: &Mixer) -> bool {
        let (weights, final_weights) = mixer.weights();
        self.counters.len() == mixer.tables().len()
            && self.counters.iter().zip(mixer.tables()).all(|(a, b)| a.len() == b.len())
            && self.weights.len() == weights.len()
            && self.weights.iter().zip(weights).all(|(a, b)| a.len() == b.len())
            && self.final_weights.len() == final_weights.len()
    }
}

impl InitialStates {
    /// The states of fresh version-7 mixers, before any training.
    pub fn untrained() -> Self {
        super::context::Models::untrained(super::FORMAT_VERSION).starts()
    }

    /// Appends: the mixer count, then per mixer its tables (length, then per
    /// counter the probability as u16 and the count as u8), its selectors'
    /// weights (length, then i32 each) and second-layer weights, all
    /// little endian.
    fn write(&self, out: &mut Vec<u8>) {
        let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u32).to_le_bytes());
        len(out, self.mixers.len());
        for m in &self.mixers {
            len(out, m.counters.len());
            for table in &m.counters {
                len(out, table.len());
                for c in table {
                    out.extend_from_slice(&(c.p() as u16).to_le_bytes());
                    out.push(c.count());
                }
            }
            len(out, m.weights.len());
            for w in &m.weights {
                len(out, w.len());
                w.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            }
            len(out, m.final_weights.len());
            m.final_weights.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
    }

    fn read(r: &mut Reader) -> Result<Self> {
        let mixers = (0..r.len(16)?)
            .map(|_| {
                let counters = (0..r.len(16)?)
                    .map(|_| (0..r.len(1 << 20)?).map(|_| Ok(Counter::new(r.u16()?, r.u8()?))).collect())
                    .collect::<Result<_>>()?;
                let weights =
                    (0..r.len(16)?).map(|_| (0..r.len(1 << 20)?).map(|_| r.i32()).collect()).collect::<Result<_>>()?;
                let final_weights = (0..r.len(16)?).map(|_| r.i32()).collect::<Result<_>>()?;
                Ok(MixerStart { counters, weights, final_weights })
            })
            .collect::<Result<_>>()?;
        Ok(Self { mixers })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.bytes.split_first_chunk::<N>() else {
            bail!("wavelet initial states: truncated")
        };
        self.bytes = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    fn len(&mut self, max: usize) -> Result<usize> {
        let n = u32::from_le_bytes(self.take()?) as usize;
        ensure!(n <= max, "wavelet initial states: a length of {n}, at most {max}");
        Ok(n)
    }
}

/// What the mixers of one or more coded images saw: the material of
/// [`InitialStates`]. Integer sums, so merging in any order gives the same.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statistics {
    /// Coded images.
    pub images: u64,
    mixers: Vec<MixerTotals>,
}

#[derive(Debug, Clone, PartialEq)]
struct MixerTotals {
    /// Per table, per counter: zeros and ones.
    hits: Vec<Vec<[u64; 2]>>,
    /// Per table, per counter, over images: the sums of ones·(ones − 1)
    /// and of events·(events − 1), the second moments of a beta-binomial.
    pairs: Vec<Vec<[u64; 2]>>,
    /// Per selector, per weight: the final weight times its vector's updates.
    weight_sums: Vec<Vec<i128>>,
    /// Per selector, per weight vector: updates.
    updates: Vec<Vec<u64>>,
    /// Sums over images of the second layer's final weights.
    final_sums: Vec<i64>,
}

impl Statistics {
    /// The statistics of one image's mixers (which gathered them, see
    /// [`Mixer::gather_statistics`]).
    pub(super) fn of_image(mixers: &[&Mixer]) -> Self {
        let totals = mixers
            .iter()
            .map(|m| {
                // A mixer that gathered nothing counts as having seen nothing.
                let nothing: MixerStats;
                let stats = match m.stats.as_deref() {
                    Some(stats) => stats,
                    None => {
                        nothing = m.empty_statistics();
                        &nothing
                    }
                };
                let (weights, final_weights) = m.weights();
                MixerTotals {
                    hits: stats.hits.iter().map(|t| t.iter().map(|h| h.map(u64::from)).collect()).collect(),
                    pairs: stats
                        .hits
                        .iter()
                        .map(|t| {
                            t.iter()
                                .map(|&[zeros, ones]| {
                                    let (ones, n) = (u64::from(ones), u64::from(zeros) + u64::from(ones));
                                    [ones * ones.saturating_sub(1), n * n.saturating_sub(1)]
                                })
                                .collect()
                        })
                        .collect(),
                    weight_sums: weights
                        .iter()
                        .zip(&stats.set_updates)
                        .map(|(w, ups)| {
                            let inputs = w.len() / ups.len().max(1);
                            w.iter().enumerate().map(|(i, &v)| i128::from(v) * i128::from(ups[i / inputs])).collect()
                        })
                        .collect(),
                    updates: stats.set_updates.iter().map(|u| u.iter().map(|&v| u64::from(v)).collect()).collect(),
                    final_sums: final_weights.iter().map(|&v| i64::from(v)).collect(),
                }
            })
            .collect();
        Self { images: 1, mixers: totals }
    }

    /// Adds `other`'s counts (of the same mixers).
    pub fn merge(&mut self, other: Statistics) -> Result<()> {
        if self.mixers.is_empty() {
            *self = other;
            return Ok(());
        }
        let shape = |m: &MixerTotals| {
            let tables: Vec<_> = m.hits.iter().map(Vec::len).collect();
            (tables, m.weight_sums.iter().map(Vec::len).collect::<Vec<_>>(), m.final_sums.len())
        };
        ensure!(
            self.mixers.len() == other.mixers.len()
                && self.mixers.iter().zip(&other.mixers).all(|(a, b)| shape(a) == shape(b)),
            "statistics of different mixers"
        );
        for (a, b) in self.mixers.iter_mut().zip(other.mixers) {
            for (into, from) in [(&mut a.hits, &b.hits), (&mut a.pairs, &b.pairs)] {
                for (x, y) in into.iter_mut().flatten().zip(from.iter().flatten()) {
                    x[0] += y[0];
                    x[1] += y[1];
                }
            }
            for (ta, tb) in a.weight_sums.iter_mut().zip(&b.weight_sums) {
                ta.iter_mut().zip(tb).for_each(|(x, y)| *x += y);
            }
            for (ta, tb) in a.updates.iter_mut().zip(&b.updates) {
                ta.iter_mut().zip(tb).for_each(|(x, y)| *x += y);
            }
            a.final_sums.iter_mut().zip(&b.final_sums).for_each(|(x, y)| *x += y);
        }
        self.images += other.images;
        Ok(())
    }

    /// Decisions coded, over all images and mixers.
    pub fn decisions(&self) -> u64 {
        // Every decision updates one counter in each table; count the first.
        self.mixers.iter().filter_map(|m| m.hits.first()).flatten().map(|h| h[0] + h[1]).sum()
    }

    /// The starting states these statistics teach: each counter at its
    /// observed frequency of ones (add-half smoothed) with the confidence
    /// its variation between images gives ([`confidence`]); each weight vector at its
    /// update-weighted mean; the second layer at its mean. What training
    /// never saw keeps the untrained start.
    pub fn initial_states(&self) -> InitialStates {
        self.initial_states_from(&InitialStates::untrained())
    }

    /// [`initial_states`](Self::initial_states) of statistics gathered
    /// starting from `start` (of the same mixers): what they never saw keeps
    /// its state there.
    pub fn initial_states_from(&self, start: &InitialStates) -> InitialStates {
        let images = self.images.max(1);
        let mixers = self
            .mixers
            .iter()
            .zip(&start.mixers)
            .map(|(m, untrained)| {
                let counters = m
                    .hits
                    .iter()
                    .zip(&m.pairs)
                    .zip(&untrained.counters)
                    .map(|((hits, pairs), untrained)| {
                        hits.iter()
                            .zip(pairs)
                            .zip(untrained)
                            .map(|((&[zeros, ones], &[one_pairs, pairs]), &fresh)| {
                                let n = zeros + ones;
                                if n < MIN_EVENTS {
                                    return fresh;
                                }
                                // (ones + 1/2) / (n + 1) in 1/65536, rounded.
                                let p = ((2 * ones + 1) * 65536 + n + 1) / (2 * (n + 1));
                                Counter::new(p as u16, confidence(ones, n, one_pairs, pairs))
                            })
                            .collect()
                    })
                    .collect();
                let weights = m
                    .weight_sums
                    .iter()
                    .zip(&m.updates)
                    .zip(&untrained.weights)
                    .map(|((sums, updates), untrained)| {
                        let inputs = sums.len() / updates.len().max(1);
                        sums.iter()
                            .zip(untrained)
                            .enumerate()
                            .map(|(i, (&sum, &fresh))| match i128::from(updates[i / inputs]) {
                                0 => fresh,
                                u => div_round(sum, u).clamp(i32::MIN.into(), i32::MAX.into()) as i32,
                            })
                            .collect()
                    })
                    .collect();
                let final_weights = m.final_sums.iter().map(|&s| div_round(s.into(), images.into()) as i32).collect();
                MixerStart { counters, weights, final_weights }
            })
            .collect();
        InitialStates { mixers }
    }
}

/// A trained counter's starting confidence: the prior count of a beta
/// distribution fitted by moments to how the counter's probability varies
/// between training images, `p(1 − p) / var − 1`, within 1..=[`MAX_CONFIDENCE`]:
/// a context whose statistics differ from image to image must start ready
/// to move. From the sums of events `n`, ones, and per image `ones(ones − 1)`
/// and `n(n − 1)` (E[p²] is their ratio). Without two events in any image,
/// [`TRAINED_CONFIDENCE`].
fn confidence(ones: u64, n: u64, one_pairs: u64, pairs: u64) -> u8 {
    if pairs == 0 {
        return TRAINED_CONFIDENCE;
    }
    let mean = ones as f64 / n as f64;
    let variance = one_pairs as f64 / pairs as f64 - mean * mean;
    let prior = if variance <= 0.0 { MAX_CONFIDENCE } else { mean * (1.0 - mean) / variance - 1.0 };
    prior.clamp(1.0, MAX_CONFIDENCE).round() as u8
}

/// `a / b` rounded half away from zero (b > 0).
fn div_round(a: i128, b: i128) -> i128 {
    if a >= 0 {
        (a + b / 2) / b
    } else {
        -((-a + b / 2) / b)
    }
}

pub(super) fn check_fits(states: &InitialStates, mixers: &[&Mixer]) -> Result<()> {
    ensure!(states.mixers.len() == mixers.len(), "{} mixer states for {} mixers", states.mixers.len(), mixers.len());
    for (i, (s, m)) in states.mixers.iter().zip(mixers).enumerate() {
        ensure!(s.fits(m), "the state of mixer {} does not fit it", MIXERS.get(i).copied().unwrap_or("?"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-view mixer fed 40 events in context 0 (10 ones), 3 in context
    /// 1 (too few to train) and none in context 2.
    fn fed() -> (Mixer, MixerStart) {
        let mut m = Mixer::new(&[(3, 255)], &[2], 4, 30000);
        let untrained = MixerStart::of(&m);
        m.gather_statistics();
        for i in 0..40 {
            m.predict(&[0], &[0]);
            m.update(i % 4 == 0);
        }
        for _ in 0..3 {
            m.predict(&[1], &[1]);
            m.update(true);
        }
        (m, untrained)
    }

    #[test]
    fn counters_start_at_the_observed_frequency() {
        let (m, untrained) = fed();
        let stats = Statistics::of_image(&[&m]);
        let start = InitialStates { mixers: vec![untrained.clone()] };
        let mut twice = stats.clone();
        twice.merge(stats.clone()).unwrap();
        assert_eq!(twice.decisions(), 86);
        let states = twice.initial_states_from(&start);
        let counters = &states.mixers[0].counters[0];
        // 20 ones in 80: (20.5 / 81) of 65536.
        // The same image twice: no variation between images, the most confidence.
        assert_eq!(counters[0], Counter::new(16586, MAX_CONFIDENCE as u8));
        assert_eq!(counters[1], untrained.counters[0][1]);
        assert_eq!(counters[2], untrained.counters[0][2]);
        // Weight vectors: the final weights of one image twice over is that
        // image's; a vector never updated keeps its untrained start.
        let (weights, finals) = m.weights();
        assert_eq!(states.mixers[0].weights[0][..2], weights[0][..2]);
        assert_eq!(states.mixers[0].weights[0][2..], weights[0][2..]);
        assert_eq!(states.mixers[0].final_weights, finals);
        let mut other = Mixer::new(&[(3, 255)], &[2], 4, 30000);
        other.gather_statistics();
        let never = Statistics::of_image(&[&other]).initial_states_from(&start);
        assert_eq!(never.mixers[0], untrained);
    }
}
