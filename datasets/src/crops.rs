//! Random training crops from image folders, deterministic and prefetched.
//!
//! [`CropLoader`] lists every image under a set of folders, decodes them once (skipping
//! unreadable files with a warning) and serves batches of random square crops as plain
//! `f32` data (`N×3×P×P`, NCHW, RGB in `[0, 1]`).
//!
//! # Determinism
//!
//! The content of batch `step` depends only on the seed, `step`, the sorted list of usable
//! images, the patch size and the batch size — never on the worker count, the prefetch depth,
//! `cache_decoded` or timing — so training resumes exactly from any step:
//!
//! * **Which image.** Samples are drawn *without replacement within an epoch*: global sample
//!   index `g = step × batch + i` is epoch `g / n`, position `g % n` (`n` usable images) in a
//!   per-epoch permutation of `0..n`, a Fisher–Yates shuffle driven by ChaCha8 seeded with
//!   `seed` on stream `2^63 | epoch`. Every image is seen once per epoch.
//! * **Where and how.** The crop of sample `i` uses ChaCha8 seeded with `seed` on stream
//!   `step` (the low 63 bits); for each sample in order it draws the crop's left edge, top
//!   edge (uniform over all valid positions) and a horizontal-flip bit (probability ½).
//!   There is no vertical flip.
//! * **Small images.** An image narrower or shorter than the patch is first resized (Catmull–
//!   Rom, `image::imageops::resize`, deterministic) so that its short side equals the patch,
//!   preserving aspect ratio (the long side is rounded up).
//!
//! Images are held as 8-bit RGB (16-bit inputs are reduced to 8 bits; gray is replicated to
//! three channels; alpha is dropped).
//!
//! # Threads
//!
//! With `workers > 0`, that many threads build batches ahead of the consumer; at most
//! `max(prefetch, workers, 1)` batches are in flight or queued, and results are put back in
//! step order. With `workers == 0` batches are built on the calling thread when asked for.
//! Dropping the loader stops the workers (each finishes at most the batch it is building).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{anyhow, ensure, Context, Result};
use image::{DynamicImage, ImageReader, RgbImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::image_folder::list_images;

/// How a [`CropLoader`] makes batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CropConfig {
    /// Side of the square crops, in pixels (e.g. 256).
    pub patch: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Background threads building batches; 0 builds them on the calling thread.
    pub workers: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Batches built ahead of the consumer (at least `workers` are, to keep them busy).
    pub prefetch: usize,
    /// Keep the decoded images in memory; `false` re-decodes a file for every crop of it.
    pub cache_decoded: bool,
}

impl Default for CropConfig {
    fn default() -> Self {
        Self { patch: 256, batch: 8, workers: 2, seed: 0, prefetch: 4, cache_decoded: true }
    }
}

/// One batch of crops.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The training step this batch belongs to.
    pub step: u64,
    /// `n × 3 × patch × patch` values, NCHW, RGB in `[0, 1]`.
    pub data: Vec<f32>,
    /// Crops in the batch.
    pub n: usize,
    /// Side of each crop.
    pub patch: usize,
}

/// Where the pixels of the usable images come from.
enum Source {
    /// Decoded (and, when small, already resized) images.
    Cached(Vec<Arc<RgbImage>>),
    /// Files decoded on demand.
    Files(Vec<PathBuf>),
}

struct Shared {
    source: Source,
    patch: usize,
    batch: usize,
    seed: u64,
}

impl Shared {
    fn len(&self) -> usize {
        match &self.source {
            Source::Cached(v) => v.len(),
            Source::Files(v) => v.len(),
        }
    }

    fn image(&self, index: usize) -> Result<Arc<RgbImage>> {
        match &self.source {
            Source::Cached(v) => Ok(v[index].clone()),
            Source::Files(v) => Ok(Arc::new(prepare(decode_rgb8(&v[index])?, self.patch))),
        }
    }

    fn build(&self, step: u64) -> Result<Batch> {
        let (p, n_img) = (self.patch, self.len() as u64);
        let plane = p * p;
        let mut data = vec![0f32; self.batch * 3 * plane];
        let mut crop_rng = rng_on_stream(self.seed, step & !(1 << 63));
        let mut epoch_perm: Option<(u64, Vec<usize>)> = None;
        for i in 0..self.batch {
            let g = step as u128 * self.batch as u128 + i as u128;
            let epoch = (g / n_img as u128) as u64;
            let pos = (g % n_img as u128) as usize;
            if epoch_perm.as_ref().is_none_or(|(e, _)| *e != epoch) {
                epoch_perm = Some((epoch, epoch_permutation(self.seed, epoch, n_img as usize)));
            }
            let index = epoch_perm.as_ref().unwrap().1[pos];
            let img = self.image(index)?;
            let (w, h) = (img.width() as usize, img.height() as usize);
            let x0 = crop_rng.gen_range(0..=w - p);
            let y0 = crop_rng.gen_range(0..=h - p);
            let flip = crop_rng.gen::<bool>();
            let out = &mut data[i * 3 * plane..(i + 1) * 3 * plane];
            let (r, rest) = out.split_at_mut(plane);
            let (g_, b) = rest.split_at_mut(plane);
            let raw: &[u8] = img.as_raw();
            let lut = &*U8_TO_UNIT;
            for y in 0..p {
                let row = &raw[((y0 + y) * w + x0) * 3..((y0 + y) * w + x0 + p) * 3];
                let (ro, go, bo) =
                    (&mut r[y * p..(y + 1) * p], &mut g_[y * p..(y + 1) * p], &mut b[y * p..(y + 1) * p]);
                for (x, px) in row.chunks_exact(3).enumerate() {
                    let xo = if flip { p - 1 - x } else { x };
                    ro[xo] = lut[px[0] as usize];
                    go[xo] = lut[px[1] as usize];
                    bo[xo] = lut[px[2] as usize];
                }
            }
        }
        Ok(Batch { step, data, n: self.batch, patch: p })
    }
}

/// `v / 255` for every byte (exactly what `load_rgb_f32` gives for 8-bit images).
static U8_TO_UNIT: std::sync::LazyLock<[f32; 256]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|v| v as f32 / 255.0));

fn rng_on_stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

fn epoch_permutation(seed: u64, epoch: u64, n: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng_on_stream(seed, (1 << 63) | epoch));
    perm
}

/// Decodes any supported image file (format sniffed from the content) to 8-bit RGB.
fn decode_rgb8(path: &Path) -> Result<RgbImage> {
    Ok(decode(path)?.into_rgb8())
}

fn decode(path: &Path) -> Result<DynamicImage> {
    let reader = ImageReader::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("reading {}", path.display()))?;
    let img = reader.decode().with_context(|| format!("decoding {}", path.display()))?;
    ensure!(img.width() > 0 && img.height() > 0, "{} is empty", path.display());
    Ok(img)
}

/// Resizes `img` so its short side equals `patch` when either side is smaller than `patch`.
fn prepare(img: RgbImage, patch: usize) -> RgbImage {
    let (w, h) = (img.width() as u64, img.height() as u64);
    let p = patch as u64;
    if w >= p && h >= p {
        return img;
    }
    let short = w.min(h);
    // ceil(side * p / short): the short side becomes exactly p, the long side at least p.
    let nw = (w * p).div_ceil(short).max(p) as u32;
    let nh = (h * p).div_ceil(short).max(p) as u32;
    image::imageops::resize(&img, nw, nh, image::imageops::FilterType::CatmullRom)
}

fn warn_skip(path: &Path, err: &anyhow::Error) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("skipping unreadable image {}: {err:#}", path.display());
    } else {
        eprintln!("warning: skipping unreadable image {}: {err:#}", path.display());
    }
}

/// A whole image as `f32` CHW RGB in `[0, 1]` (16-bit inputs keep their precision), with its
/// width and height: `(data, width, height)`, `data.len() == 3 * width * height`.
pub fn load_rgb_f32(path: impl AsRef<Path>) -> Result<(Vec<f32>, usize, usize)> {
    let img = decode(path.as_ref())?.into_rgb32f();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = w * h;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px[c].clamp(0.0, 1.0);
        }
    }
    Ok((out, w, h))
}

type Job = u64;
type JobResult = (u64, Result<Batch>);

struct Workers {
    jobs: Option<Sender<Job>>,
    results: Receiver<JobResult>,
    handles: Vec<JoinHandle<()>>,
    /// Finished batches waiting for their turn.
    ready: BTreeMap<u64, Result<Batch>>,
    /// Next step to hand to the workers.
    next_job: u64,
}

/// Serves deterministic batches of random crops; see the [module docs](self).
pub struct CropLoader {
    shared: Arc<Shared>,
    next_step: u64,
    workers: Option<Workers>,
}

impl CropLoader {
    /// Lists the images under every folder of `dirs` (recursively; a path may also be a single
    /// image file), decodes them and prepares to serve batches `start_step, start_step + 1, …`.
    ///
    /// Unreadable files are skipped with a warning naming them; it is an error if no usable
    /// image remains, or if `patch` or `batch` is 0.
    pub fn new(dirs: &[PathBuf], cfg: CropConfig, start_step: u64) -> Result<Self> {
        ensure!(cfg.patch > 0, "crop patch size must be positive");
        ensure!(cfg.batch > 0, "batch size must be positive");
        let mut files = Vec::new();
        for dir in dirs {
            files.extend(list_images(dir)?);
        }
        files.sort();
        files.dedup();
        ensure!(!files.is_empty(), "no image files found under {dirs:?}");

        // Decode everything once (in parallel) to find the usable files; keep the pixels if
        // caching.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len()).max(1);
        let decoded: Vec<Option<RgbImage>> = {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<RgbImage>>> = files.iter().map(|_| Mutex::new(None)).collect();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= files.len() {
                            break;
                        }
                        match decode_rgb8(&files[i]) {
                            Ok(img) => {
                                let img = if cfg.cache_decoded { prepare(img, cfg.patch) } else { RgbImage::new(1, 1) };
                                *slots[i].lock().unwrap() = Some(img);
                            }
                            Err(e) => warn_skip(&files[i], &e),
                        }
                    });
                }
            });
            slots.into_iter().map(|m| m.into_inner().unwrap()).collect()
        };
        let usable: Vec<(PathBuf, RgbImage)> =
            files.into_iter().zip(decoded).filter_map(|(f, d)| d.map(|d| (f, d))).collect();
        ensure!(!usable.is_empty(), "no readable image under {dirs:?}");
        let source = if cfg.cache_decoded {
            Source::Cached(usable.into_iter().map(|(_, img)| Arc::new(img)).collect())
        } else {
            Source::Files(usable.into_iter().map(|(f, _)| f).collect())
        };
        let shared = Arc::new(Shared { source, patch: cfg.patch, batch: cfg.batch, seed: cfg.seed });

        let workers = (cfg.workers > 0).then(|| {
            let (job_tx, job_rx) = mpsc::channel::<Job>();
            let job_rx = Arc::new(Mutex::new(job_rx));
            let (res_tx, res_rx) = mpsc::channel::<JobResult>();
            let handles = (0..cfg.workers)
                .map(|k| {
                    let (shared, job_rx, res_tx) = (shared.clone(), job_rx.clone(), res_tx.clone());
                    std::thread::Builder::new()
                        .name(format!("neco-crops-{k}"))
                        .spawn(move || worker_loop(&shared, &job_rx, &res_tx))
                        .expect("spawning a crop worker thread")
                })
                .collect();
            let mut w =
                Workers { jobs: Some(job_tx), results: res_rx, handles, ready: BTreeMap::new(), next_job: start_step };
            for _ in 0..cfg.prefetch.max(cfg.workers).max(1) {
                w.submit();
            }
            w
        });
        Ok(Self { shared, next_step: start_step, workers })
    }

    /// The next batch, for steps `start_step, start_step + 1, …` in order. An error (e.g. a
    /// file that became unreadable with `cache_decoded: false`) consumes its step.
    pub fn next_batch(&mut self) -> Result<Batch> {
        let step = self.next_step;
        self.next_step += 1;
        let Some(w) = self.workers.as_mut() else { return self.shared.build(step) };
        let result = loop {
            if let Some(r) = w.ready.remove(&step) {
                break r;
            }
            let (s, r) = w.results.recv().map_err(|_| anyhow!("crop worker threads stopped"))?;
            w.ready.insert(s, r);
        };
        w.submit();
        result
    }

    /// Number of usable (readable) images.
    pub fn num_images(&self) -> usize {
        self.shared.len()
    }

    /// The step the next call of [`next_batch`](Self::next_batch) returns.
    pub fn next_step(&self) -> u64 {
        self.next_step
    }
}

impl Workers {
    fn submit(&mut self) {
        if let Some(tx) = &self.jobs {
            // A send fails only when every worker is gone; next_batch then reports it.
            let _ = tx.send(self.next_job);
            self.next_job += 1;
        }
    }
}

fn worker_loop(shared: &Shared, jobs: &Mutex<Receiver<Job>>, results: &Sender<JobResult>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(step) = job else { return };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.build(step)))
            .unwrap_or_else(|_| Err(anyhow!("crop worker panicked building step {step}")));
        if results.send((step, r)).is_err() {
            return;
        }
    }
}

impl Drop for CropLoader {
    fn drop(&mut self) {
        if let Some(mut w) = self.workers.take() {
            drop(w.jobs.take()); // workers see a closed job channel and exit
            for h in w.handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

/// The loader can move to another thread (e.g. a trainer's own data thread).
#[allow(dead_code)]
fn assert_send() {
    fn is_send<T: Send>() {}
    is_send::<CropLoader>();
}
