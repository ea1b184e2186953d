//! `neco train --model wavelet`: trains the wavelet codec's starting states
//! of its context mixers (format version 7, `models/src/wavelet/initial_states.rs`).
//!
//! Every training image is coded at several qualities; the mixers count what
//! they code, and the counts become the starting states, one set per
//! quality class (trained on the qualities in it). Round 1 starts from
//! the untrained state, each later round from the round before (the weights
//! the mixers settle on depend on where the counters start). Images are
//! coded on worker threads; the counts are integers, so the result does not
//! depend on the number of workers or the order of the images.

use anyhow::{ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use neco_models::wavelet::{Statistics, TrainedStates, WaveletCodec};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Qualities each image is coded at: the range the default curve covers,
/// five per class.
pub const DEFAULT_QUALITIES: [u8; 15] = [8, 12, 16, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90];
/// The highest quality of each class of states (the last takes all above).
pub const DEFAULT_QUALITY_CLASSES: [u8; 3] = [25, 50, 100];

#[derive(Debug, Clone)]
pub struct WaveletStatesConfig {
    pub data: Vec<PathBuf>,
    pub qualities: Vec<u8>,
    /// Each class's highest quality, ascending: one set of states per class,
    /// trained on the qualities in it.
    pub quality_classes: Vec<u8>,
    pub rounds: usize,
    pub workers: usize,
    pub out: PathBuf,
    pub quiet: bool,
}

/// What a run did; also written to `OUT/wavelet-states.json`.
#[derive(Debug, Clone, Serialize)]
pub struct WaveletStatesReport {
    pub images: usize,
    pub unreadable: Vec<String>,
    pub qualities: Vec<u8>,
    pub quality_classes: Vec<u8>,
    pub rounds: usize,
    /// Mixer decisions coded in the last round.
    pub decisions: u64,
    pub seconds: f64,
    pub states: PathBuf,
    pub sha256: String,
    pub bytes: usize,
}

/// File name of the trained states under the output folder.
pub const STATES_FILE: &str = "wavelet-initial-states.bin";

pub fn train_wavelet_states(cfg: &WaveletStatesConfig, stop: Arc<AtomicBool>) -> Result<WaveletStatesReport> {
    ensure!(cfg.rounds >= 1, "at least one round");
    ensure!(!cfg.qualities.is_empty(), "no qualities");
    ensure!(cfg.qualities.iter().all(|q| (1..=100).contains(q)), "qualities are 1..=100");
    super::refuse_evaluation_data(&cfg.data)?;
    let classes = &cfg.quality_classes;
    ensure!(!classes.is_empty() && classes.windows(2).all(|w| w[0] < w[1]), "quality classes must be ascending");
    for (c, &top) in classes.iter().enumerate() {
        let bottom = if c == 0 { 0 } else { classes[c - 1] };
        let last = c + 1 == classes.len();
        ensure!(
            cfg.qualities.iter().any(|&q| q > bottom && (q <= top || last)),
            "no training quality in the class up to {top}"
        );
    }
    let started = Instant::now();
    let mut paths = Vec::new();
    for dir in &cfg.data {
        paths.extend(neco_datasets::image_folder::list_images(dir)?);
    }
    ensure!(!paths.is_empty(), "no images under {:?}", cfg.data);
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let mut unreadable = Vec::new();
    let mut start: Option<TrainedStates> = None;
    let mut decisions = 0;
    for round in 1..=cfg.rounds {
        let (stats, bad) = gather_round(&paths, cfg, start.as_ref(), round, &stop)?;
        ensure!(stats.iter().all(|s| s.images > 0), "no readable images under {:?}", cfg.data);
        if round == 1 {
            unreadable = bad;
        }
        decisions = stats.iter().map(Statistics::decisions).sum();
        if !cfg.quiet {
            eprintln!(
                "round {round}/{}: {} image codings, {decisions} mixer decisions, {:.0} s so far",
                cfg.rounds,
                stats.iter().map(|s| s.images).sum::<u64>(),
                started.elapsed().as_secs_f64()
            );
        }
        // What a round never saw keeps the state the round started from.
        let learnt = |c: usize, s: &Statistics| match &start {
            Some(start) => s.initial_states_from(&start.classes[c].1),
            None => s.initial_states(),
        };
        let classes = classes.iter().zip(&stats).enumerate().map(|(c, (&top, s))| (top, learnt(c, s))).collect();
        start = Some(TrainedStates { classes });
    }
    let states = start.context("at least one round ran")?;
    let bytes = states.to_bytes();
    let path = cfg.out.join(STATES_FILE);
    write_atomically(&path, &bytes)?;
    let report = WaveletStatesReport {
        images: paths.len() - unreadable.len(),
        unreadable,
        qualities: cfg.qualities.clone(),
        quality_classes: cfg.quality_classes.clone(),
        rounds: cfg.rounds,
        decisions,
        seconds: started.elapsed().as_secs_f64(),
        sha256: neco_datasets::fetch::sha256_file(&path)?.sha256,
        bytes: bytes.len(),
        states: path,
    };
    write_atomically(&cfg.out.join("wavelet-states.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    Ok(report)
}

/// The class of `quality`: the first whose highest quality is not below it.
fn class_of(classes: &[u8], quality: u8) -> usize {
    classes.iter().position(|&top| quality <= top).unwrap_or(classes.len() - 1)
}

/// One round over all images and qualities; returns the merged statistics
/// per quality class and the files that could not be read (each warned
/// about once).
fn gather_round(
    paths: &[PathBuf],
    cfg: &WaveletStatesConfig,
    start: Option<&TrainedStates>,
    round: usize,
    stop: &AtomicBool,
) -> Result<(Vec<Statistics>, Vec<String>)> {
    let fresh = || vec![Statistics::default(); cfg.quality_classes.len()];
    let bar = if cfg.quiet { ProgressBar::hidden() } else { ProgressBar::new(paths.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} images, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("round {round}/{}", cfg.rounds));
    let next = AtomicUsize::new(0);
    let total = Mutex::new(fresh());
    let unreadable = Mutex::new(Vec::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let codec = WaveletCodec::default();
    std::thread::scope(|scope| {
        for _ in 0..cfg.workers.max(1) {
            scope.spawn(|| {
                let mut mine = fresh();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= paths.len() || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match image_statistics(&codec, &paths[i], cfg, start, &mut mine) {
                        Ok(true) => {}
                        Ok(false) => {
                            if round == 1 {
                                bar.suspend(|| eprintln!("warning: skipping unreadable {}", paths[i].display()));
                            }
                            unreadable.lock().unwrap().push(paths[i].display().to_string());
                        }
                        Err(e) => {
                            failure.lock().unwrap().get_or_insert(e);
                            break;
                        }
                    }
                    bar.inc(1);
                }
                let mut total = total.lock().unwrap();
                for (t, m) in total.iter_mut().zip(mine) {
                    if let Err(e) = t.merge(m) {
                        failure.lock().unwrap().get_or_insert(e);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    ensure!(!stop.load(Ordering::SeqCst), "interrupted; no states written");
    let mut bad = unreadable.into_inner().unwrap();
    bad.sort();
    Ok((total.into_inner().unwrap(), bad))
}

/// Adds one image's statistics at every quality to `into` (per class);
/// `false` if it cannot be read.
fn image_statistics(
    codec: &WaveletCodec,
    path: &Path,
    cfg: &WaveletStatesConfig,
    start: Option<&TrainedStates>,
    into: &mut [Statistics],
) -> Result<bool> {
    let Ok(img) = image::open(path) else { return Ok(false) };
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    for &q in &cfg.qualities {
        let s = codec
            .gather_statistics(rgb.as_raw(), w, h, q, start.map(|s| s.for_quality(q)))
            .with_context(|| format!("coding {} at quality {q}", path.display()))?;
        into[class_of(&cfg.quality_classes, q)].merge(s)?;
    }
    Ok(true)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
