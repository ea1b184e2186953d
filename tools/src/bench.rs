//! Speed and memory benchmarks of neco's models, with CompressAI timed in the same run.
//!
//! [`run_bench`] codes the first K images (sorted by path) of a folder with each model: one
//! warm-up encode + decode per image, then R timed encodes and R timed decodes. Per model it
//! reports the median encode and decode wall time per image over all K·R samples, images/s
//! (one encode plus one decode), MPixel/s (original, unpadded pixels), bpp from the produced
//! bytes, and the peak resident memory.
//!
//! Models come in two kinds ([`ModelSpec`]):
//!
//! * [`ModelSpec::Codec`]: a built-in model name or a weights file, loaded with
//!   [`neco::Codec::load_on`]. Timing covers the whole public API (`encode_image` /
//!   `decode_image`: image → tensor, padding, networks, entropy coding, container), and bpp
//!   comes from the complete `.neco` file.
//! * [`ModelSpec::Random`]: a randomly initialised model of an architecture (e.g. CompressAI's
//!   widths for a quality). It is coded through [`ImageModel`] directly, exactly as CompressAI's
//!   own benchmark is: the padded float tensor is prepared before the clock starts, and the
//!   timed calls are `compress(x)` and `decompress(streams, h, w)`. bpp counts the entropy-coded
//!   streams only (no container: a two-stream `.neco` file adds 38 bytes), like CompressAI's
//!   string lengths.
//!
//! With `compare_compressai`, random models of the architectures CompressAI has
//! (`bmshj2018-factorized`, `bmshj2018-hyperprior`, `mbt2018-mean`) at CompressAI's widths are
//! also timed with `tools/compressai/bench_compressai.py` (same images, threads, quality; random
//! weights, padded to 64). To be fair on a noisy machine the runs alternate: CompressAI, then
//! neco, then CompressAI again; CompressAI's medians are taken over both of its runs.
//!
//! Peak RSS is the process's `VmHWM` from `/proc/self/status`. It is process-wide: it includes
//! libtorch's allocator caches and anything earlier in the process. Before each model the
//! high-water mark is reset (writing `5` to `/proc/self/clear_refs`) where the kernel allows;
//! [`BenchResult::peak_rss_reset`] says whether that worked (if not, the peak may belong to an
//! earlier model). CompressAI's figure is its Python process's `ru_maxrss` (including importing
//! torch).
//!
//! Allocator: libtorch's CPU tensors come from glibc malloc, which serves the large activations
//! with fresh `mmap`s and returns them on free, so every layer page-faults its output in again.
//! On a 2-core machine that is a large share of the time (for neco and CompressAI alike).
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296`
//! keeps freed memory for reuse (about 100 MB more peak RSS); it is inherited by the CompressAI
//! process, and recorded in [`BenchResult::glibc_tunables`].

use anyhow::{bail, ensure, Context, Result};
use neco::{Codec, EncodeParams};
use neco_models::device::DeviceChoice;
use neco_models::{pad_to_stride, Arch, CompressedLatents, ImageModel, ModelConfig, Rate};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// The architectures `bench_compressai.py` can time.
pub const COMPRESSAI_ARCHS: [&str; 3] = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean"];

/// CompressAI's padding multiple in its benchmark (and in `bench_compressai.py`).
pub const COMPRESSAI_PAD: i64 = 64;

/// One model to benchmark.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// A built-in model name or a `.safetensors` weights path, coded through [`neco::Codec`].
    /// `quality` is the codec's 1..=100 (`None`: the model's default).
    Codec { name: String, quality: Option<u8> },
    /// A randomly initialised model, coded through [`ImageModel`] directly. `quality` is the
    /// CompressAI quality (1..=8) the widths came from, if any (needed for the comparison).
    Random { config: ModelConfig, quality: Option<u8>, seed: i64 },
}

impl ModelSpec {
    /// A random model of `arch`: CompressAI's widths for `quality` (default 3), or `n`/`m` if
    /// given (both are needed for architectures CompressAI lacks, e.g. `elic`).
    pub fn random(arch: &str, quality: Option<u8>, n: Option<i64>, m: Option<i64>) -> Result<Self> {
        let arch = Arch::from_name(arch)?;
        let q = quality.unwrap_or(3);
        let config = match (ModelConfig::compressai(arch, q), n, m) {
            (Ok(mut c), n, m) => {
                c.n = n.unwrap_or(c.n);
                c.m = m.unwrap_or(c.m);
                c
            }
            (Err(_), Some(n), Some(m)) => ModelConfig::new(arch, n, m),
            (Err(e), _, _) => return Err(e.context(format!("give --n and --m for a random {} model", arch.name()))),
        };
        ensure!(config.n > 0 && config.m > 0, "widths must be positive (N={}, M={})", config.n, config.m);
        // The quality names the model only while the widths are CompressAI's for it.
        let quality = ModelConfig::compressai(arch, q).is_ok_and(|c| c.n == config.n && c.m == config.m).then_some(q);
        Ok(ModelSpec::Random { config, quality, seed: 0 })
    }

    /// A short name for tables, e.g. `mbt2018-mean q3 N128 M192 (random)`.
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Codec { name, quality: Some(q) } => format!("{name} q{q}"),
            ModelSpec::Codec { name, quality: None } => name.clone(),
            ModelSpec::Random { config, quality, .. } => {
                let q = quality.map(|q| format!(" q{q}")).unwrap_or_default();
                format!("{}{q} N{} M{} (random)", config.arch.name(), config.n, config.m)
            }
        }
    }

    /// The CompressAI model (arch, quality) with the same architecture and widths, if any.
    pub fn compressai_equivalent(&self) -> Option<(&'static str, u8)> {
        let ModelSpec::Random { config, quality: Some(q), .. } = self else { return None };
        let name = config.arch.name();
        let same = ModelConfig::compressai(config.arch, *q).is_ok_and(|c| c.n == config.n && c.m == config.m);
        (same && COMPRESSAI_ARCHS.contains(&name)).then_some((name, *q))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub models: Vec<ModelSpec>,
    /// Image folder (searched recursively, sorted by path).
    pub data: PathBuf,
    /// Number of images K (the first K).
    pub images: usize,
    /// Timed repetitions R per image (after one warm-up).
    pub repeat: usize,
    /// libtorch intra-op threads (also passed to CompressAI); 0 leaves libtorch's default.
    pub threads: usize,
    pub device: DeviceChoice,
    /// Also time CompressAI for the random models it has.
    pub compare_compressai: bool,
    /// Python with compressai installed (default: the workspace's `.venv/bin/python`).
    pub python: Option<PathBuf>,
    /// `bench_compressai.py` (default: found next to the workspace or the cwd).
    pub compressai_script: Option<PathBuf>,
    /// Progress lines on stderr.
    pub verbose: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            models: vec![],
            data: PathBuf::from("../shared/datasets/kodak"),
            images: 3,
            repeat: 3,
            threads: 2,
            device: DeviceChoice::Cpu,
            compare_compressai: false,
            python: None,
            compressai_script: None,
            verbose: false,
        }
    }
}

/// Results of one model (and, when compared, of CompressAI's equivalent).
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model: String,
    pub arch: String,
    /// `random` (coded through `ImageModel`) or `codec` (through `neco::Codec`).
    pub kind: String,
    pub device: String,
    pub threads: usize,
    pub images: usize,
    pub repeat: usize,
    /// Mean original pixels per image.
    pub pixels_per_image: f64,
    /// Medians over all images × repeats, seconds per image.
    pub encode_s: f64,
    pub decode_s: f64,
    /// 1 / (encode_s + decode_s).
    pub images_per_s: f64,
    pub encode_mpix_s: f64,
    pub decode_mpix_s: f64,
    pub bpp: f64,
    /// Whether the bytes behind `bpp` include the container (true for `codec`).
    pub bpp_includes_container: bool,
    /// Model load / build time (s), not part of the per-image times.
    pub load_s: f64,
    /// Process-wide VmRSS before loading the model and VmHWM after its runs (MiB).
    pub rss_before_mb: f64,
    pub peak_rss_mb: f64,
    /// Whether the high-water mark was reset before this model.
    pub peak_rss_reset: bool,
    /// `GLIBC_TUNABLES` of this run (inherited by CompressAI's process too): allocator settings
    /// such as `glibc.malloc.mmap_threshold` change libtorch's speed a lot on CPU.
    pub glibc_tunables: Option<String>,
    pub encode_samples: Vec<f64>,
    pub decode_samples: Vec<f64>,
    pub compressai: Option<CompressAiResult>,
}

/// CompressAI's figures for the same architecture, quality, images and threads.
#[derive(Debug, Clone, Serialize)]
pub struct CompressAiResult {
    pub arch: String,
    pub quality: u8,
    pub n: i64,
    pub m: i64,
    /// Number of separate CompressAI processes (runs) merged.
    pub runs: usize,
    pub encode_s: f64,
    pub decode_s: f64,
    /// Per-run medians, in run order (to see drift on a noisy machine).
    pub run_encode_s: Vec<f64>,
    pub run_decode_s: Vec<f64>,
    pub bpp: f64,
    /// Max over runs of the Python process's ru_maxrss (MiB).
    pub peak_rss_mb: f64,
    /// neco / CompressAI (below 1: neco is faster).
    pub encode_ratio: f64,
    pub decode_ratio: f64,
    pub torch: String,
    pub compressai: String,
    pub encode_samples: Vec<f64>,
    pub decode_samples: Vec<f64>,
}

/// An image ready to code.
#[derive(Debug, Clone)]
pub struct BenchImage {
    pub path: PathBuf,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// 8-bit RGB, row-major.
    pub rgb: Vec<u8>,
}

impl BenchImage {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// The workspace root this crate was built in (to find `.venv`, the scripts and `../shared`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The default data folder: `../shared/datasets/kodak` relative to the cwd, else to the
/// workspace root.
pub fn default_data_dir() -> PathBuf {
    let rel = Path::new("../shared/datasets/kodak");
    if rel.is_dir() {
        return rel.to_path_buf();
    }
    let ws = workspace_root().join(rel);
    if ws.is_dir() {
        return ws;
    }
    rel.to_path_buf()
}

/// The first `count` images (sorted by path) under `dir`, decoded to RGB.
pub fn load_images(dir: &Path, count: usize) -> Result<Vec<BenchImage>> {
    ensure!(count > 0, "--images must be at least 1");
    ensure!(dir.exists(), "image folder {} does not exist (give --data DIR)", dir.display());
    let paths = neco_datasets::image_folder::list_images(dir)?;
    ensure!(!paths.is_empty(), "no images in {}", dir.display());
    paths
        .into_iter()
        .take(count)
        .map(|path| {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let img = neco::image_io::decode_image_bytes(&bytes, &path.display().to_string())?.to_rgb8();
            let (width, height) = img.dimensions();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(BenchImage { path, name, width, height, rgb: img.into_raw() })
        })
        .collect()
}

/// Memory figures of this process, in KiB, from `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemStatus {
    /// Current resident set (VmRSS).
    pub rss_kb: u64,
    /// Peak resident set since start or the last reset (VmHWM).
    pub hwm_kb: u64,
}

/// Reads VmRSS and VmHWM (process-wide); `None` where `/proc` is unavailable.
pub fn mem_status() -> Option<MemStatus> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(MemStatus { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}

/// Resets the process's peak RSS (VmHWM) to the current RSS; false where not permitted.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Median of samples (mean of the middle two for an even count); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A model ready to code, with whatever it needs prepared per image. The codec is boxed so the
/// enum stays small (a `Codec` holds its tables and is several hundred bytes).
enum Coder {
    Codec { codec: Box<Codec>, params: EncodeParams },
    Random { model: Box<dyn ImageModel>, _vs: nn::VarStore, device: Device },
}

/// One image in the form the coder's timed call takes.
enum Input {
    Image(image::DynamicImage),
    Tensor { x: Tensor, height: i64, width: i64 },
}

enum Encoded {
    File(Vec<u8>),
    Latents(CompressedLatents),
}

impl Encoded {
    fn bytes(&self) -> usize {
        match self {
            Encoded::File(b) => b.len(),
            Encoded::Latents(l) => l.latent.len() + l.hyper.as_ref().map_or(0, Vec::len),
        }
    }
}

impl Coder {
    fn build(spec: &ModelSpec, device: DeviceChoice) -> Result<Self> {
        Ok(match spec {
            ModelSpec::Codec { name, quality } => Coder::Codec {
                codec: Box::new(Codec::load_on(name, device)?),
                params: EncodeParams { quality: *quality, ..EncodeParams::default() },
            },
            ModelSpec::Random { config, seed, .. } => {
                let device = device.resolve()?;
                tch::manual_seed(*seed);
                let vs = nn::VarStore::new(device);
                let mut model = config.build(&vs.root())?;
                model.update_tables()?;
                Coder::Random { model, _vs: vs, device }
            }
        })
    }

    fn prepare(&self, img: &BenchImage) -> Result<Input> {
        Ok(match self {
            Coder::Codec { .. } => {
                let buf = image::RgbImage::from_raw(img.width, img.height, img.rgb.clone())
                    .context("image buffer of the wrong size")?;
                Input::Image(image::DynamicImage::ImageRgb8(buf))
            }
            Coder::Random { model, device, .. } => {
                let x = Tensor::from_slice(&img.rgb)
                    .view([i64::from(img.height), i64::from(img.width), 3])
                    .permute([2, 0, 1])
                    .unsqueeze(0)
                    .to_kind(Kind::Float)
                    .to_device(*device)
                    / 255.0;
                let x = pad_to_stride(&x, model.stride()).contiguous();
                let (_, _, height, width) = x.size4()?;
                Input::Tensor { x, height, width }
            }
        })
    }

    fn encode(&self, input: &Input) -> Result<Encoded> {
        match (self, input) {
            (Coder::Codec { codec, params }, Input::Image(img)) => Ok(Encoded::File(codec.encode_image(img, params)?)),
            (Coder::Random { model, .. }, Input::Tensor { x, .. }) => {
                Ok(Encoded::Latents(model.compress(x, &Rate::Default)?))
            }
            _ => bail!("internal: input prepared for another coder"),
        }
    }

    fn decode(&self, encoded: &Encoded, input: &Input) -> Result<()> {
        match (self, encoded, input) {
            (Coder::Codec { codec, .. }, Encoded::File(bytes), _) => {
                std::hint::black_box(codec.decode_image(bytes)?);
            }
            (Coder::Random { model, device, .. }, Encoded::Latents(l), Input::Tensor { height, width, .. }) => {
                let x_hat = model.decompress(l, *height, *width, &Rate::Default)?;
                if let Device::Cuda(i) = device {
                    tch::Cuda::synchronize(*i as i64);
                }
                drop(std::hint::black_box(x_hat));
            }
            _ => bail!("internal: stream made by another coder"),
        }
        Ok(())
    }

    fn sync(&self) {
        if let Coder::Random { device: Device::Cuda(i), .. } = self {
            tch::Cuda::synchronize(*i as i64);
        }
    }
}

/// Per-image samples of one model.
struct Samples {
    encode: Vec<f64>,
    decode: Vec<f64>,
    bytes: usize,
}

fn time_coder(coder: &Coder, images: &[BenchImage], repeat: usize, verbose: bool) -> Result<Samples> {
    let mut s = Samples { encode: vec![], decode: vec![], bytes: 0 };
    for img in images {
        let input = coder.prepare(img)?;
        coder.sync();
        // Warm-up (allocator caches, oneDNN primitives for this size).
        let warm = coder.encode(&input).with_context(|| format!("encoding {}", img.name))?;
        coder.decode(&warm, &input).with_context(|| format!("decoding {}", img.name))?;
        let mut bytes = warm.bytes();
        for _ in 0..repeat {
            let t = Instant::now();
            let encoded = coder.encode(&input)?;
            s.encode.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            coder.decode(&encoded, &input)?;
            s.decode.push(t.elapsed().as_secs_f64());
            bytes = encoded.bytes();
        }
        if verbose {
            let n = s.encode.len();
            let (e, d) = (median(&s.encode[n - repeat..]), median(&s.decode[n - repeat..]));
            eprintln!("  {}: {}x{}, encode {e:.3} s, decode {d:.3} s, {bytes} bytes", img.name, img.width, img.height);
        }
        s.bytes += bytes;
    }
    Ok(s)
}

/// Benchmarks one model on prepared images (no CompressAI).
pub fn bench_model(spec: &ModelSpec, images: &[BenchImage], cfg: &BenchConfig) -> Result<BenchResult> {
    ensure!(!images.is_empty(), "no images to benchmark");
    ensure!(cfg.repeat > 0, "--repeat must be at least 1");
    let peak_rss_reset = reset_peak_rss();
    let before = mem_status();
    let t = Instant::now();
    let coder = Coder::build(spec, cfg.device).with_context(|| format!("model {}", spec.label()))?;
    let load_s = t.elapsed().as_secs_f64();
    let (arch, kind) = match (&coder, spec) {
        (Coder::Random { model, .. }, _) => (model.arch().to_string(), "random"),
        (Coder::Codec { .. }, ModelSpec::Codec { name, .. }) => (name.clone(), "codec"),
        _ => unreachable!(),
    };
    if cfg.verbose {
        eprintln!("neco {} ({kind}, loaded in {load_s:.2} s)", spec.label());
    }
    let s = time_coder(&coder, images, cfg.repeat, cfg.verbose)?;
    let after = mem_status();
    drop(coder);
    let pixels: u64 = images.iter().map(BenchImage::pixels).sum();
    let ppi = pixels as f64 / images.len() as f64;
    let (enc, dec) = (median(&s.encode), median(&s.decode));
    Ok(BenchResult {
        model: spec.label(),
        arch,
        kind: kind.to_string(),
        device: cfg.device.resolve().map(|d| format!("{d:?}").to_lowercase()).unwrap_or_default(),
        threads: tch::get_num_threads() as usize,
        images: images.len(),
        repeat: cfg.repeat,
        pixels_per_image: ppi,
        encode_s: enc,
        decode_s: dec,
        images_per_s: 1.0 / (enc + dec),
        encode_mpix_s: ppi / enc / 1e6,
        decode_mpix_s: ppi / dec / 1e6,
        bpp: 8.0 * s.bytes as f64 / pixels as f64,
        bpp_includes_container: kind == "codec",
        load_s,
        rss_before_mb: before.map_or(f64::NAN, |m| mib(m.rss_kb)),
        peak_rss_mb: after.map_or(f64::NAN, |m| mib(m.hwm_kb)),
        peak_rss_reset,
        glibc_tunables: std::env::var("GLIBC_TUNABLES").ok().filter(|t| !t.is_empty()),
        encode_samples: s.encode,
        decode_samples: s.decode,
        compressai: None,
    })
}

/// One CompressAI process's output (see `bench_compressai.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct CompressAiRun {
    pub arch: String,
    pub quality: u8,
    #[serde(rename = "N")]
    pub n: i64,
    #[serde(rename = "M")]
    pub m: i64,
    pub threads: usize,
    pub images: Vec<CompressAiImage>,
    pub encode_s_median: f64,
    pub decode_s_median: f64,
    pub bpp: f64,
    pub peak_rss_mb: f64,
    pub torch: String,
    pub compressai: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompressAiImage {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub encode_s: Vec<f64>,
    pub decode_s: Vec<f64>,
    pub bytes: usize,
}

fn first_existing(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}

/// The Python interpreter for CompressAI: `cfg.python`, `$NECO_PYTHON`, or `.venv/bin/python` of
/// the cwd or the workspace.
pub fn find_python(cfg: &BenchConfig) -> Result<PathBuf> {
    if let Some(p) = &cfg.python {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("NECO_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    first_existing([PathBuf::from(".venv/bin/python"), workspace_root().join(".venv/bin/python")])
        .context("no .venv/bin/python in the cwd or the workspace (run ./setup.sh, or give --python)")
}

/// `tools/compressai/bench_compressai.py` next to the cwd or the workspace.
pub fn find_compressai_script(cfg: &BenchConfig) -> Result<PathBuf> {
    if let Some(p) = &cfg.compressai_script {
        return Ok(p.clone());
    }
    let rel = Path::new("tools/compressai/bench_compressai.py");
    first_existing([rel.to_path_buf(), workspace_root().join(rel)])
        .context("cannot find tools/compressai/bench_compressai.py (run from the workspace)")
}

/// Runs `bench_compressai.py` once.
pub fn run_compressai(
    cfg: &BenchConfig,
    arch: &str,
    quality: u8,
    images: &[BenchImage],
    seed: i64,
) -> Result<CompressAiRun> {
    let python = find_python(cfg)?;
    let script = find_compressai_script(cfg)?;
    let device = match cfg.device.resolve()? {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    };
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(["--arch", arch])
        .args(["--quality", &quality.to_string()])
        .args(["--threads", &cfg.threads.to_string()])
        .args(["--repeat", &cfg.repeat.to_string()])
        .args(["--pad", &COMPRESSAI_PAD.to_string()])
        .args(["--device", &device])
        .args(["--seed", &seed.to_string()])
        .args(images.iter().map(|i| &i.path));
    let out = cmd.output().with_context(|| format!("cannot run {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("bench_compressai.py failed ({}): {}", out.status, tail.join(" | "));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line =
        stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).context("no JSON from bench_compressai.py")?;
    serde_json::from_str(line).context("bench_compressai.py printed unexpected JSON")
}

fn merge_compressai(runs: &[CompressAiRun], neco: &BenchResult) -> CompressAiResult {
    let enc: Vec<f64> = runs.iter().flat_map(|r| r.images.iter().flat_map(|i| i.encode_s.iter().copied())).collect();
    let dec: Vec<f64> = runs.iter().flat_map(|r| r.images.iter().flat_map(|i| i.decode_s.iter().copied())).collect();
    let (e, d) = (median(&enc), median(&dec));
    let first = &runs[0];
    CompressAiResult {
        arch: first.arch.clone(),
        quality: first.quality,
        n: first.n,
        m: first.m,
        runs: runs.len(),
        encode_s: e,
        decode_s: d,
        run_encode_s: runs.iter().map(|r| r.encode_s_median).collect(),
        run_decode_s: runs.iter().map(|r| r.decode_s_median).collect(),
        bpp: first.bpp,
        peak_rss_mb: runs.iter().map(|r| r.peak_rss_mb).fold(f64::NAN, f64::max),
        encode_ratio: neco.encode_s / e,
        decode_ratio: neco.decode_s / d,
        torch: first.torch.clone(),
        compressai: first.compressai.clone(),
        encode_samples: enc,
        decode_samples: dec,
    }
}

/// Runs every model of `cfg` (and CompressAI, when asked) on the first `cfg.images` images.
pub fn run_bench(cfg: &BenchConfig) -> Result<Vec<BenchResult>> {
    ensure!(!cfg.models.is_empty(), "nothing to benchmark: give --model or --arch");
    neco_models::device::set_threads(cfg.threads);
    let images = load_images(&cfg.data, cfg.images)?;
    if cfg.verbose {
        eprintln!(
            "{} images from {}, {} repeats after 1 warm-up, {} threads, device {}",
            images.len(),
            cfg.data.display(),
            cfg.repeat,
            tch::get_num_threads(),
            cfg.device
        );
    }
    let mut results = Vec::with_capacity(cfg.models.len());
    for spec in &cfg.models {
        let compare = if cfg.compare_compressai { spec.compressai_equivalent() } else { None };
        if cfg.compare_compressai && compare.is_none() && cfg.verbose {
            eprintln!("{}: no CompressAI equivalent (needs a random model of CompressAI's widths)", spec.label());
        }
        let seed = match spec {
            ModelSpec::Random { seed, .. } => *seed,
            ModelSpec::Codec { .. } => 0,
        };
        let mut runs = vec![];
        if let Some((arch, q)) = compare {
            if cfg.verbose {
                eprintln!("CompressAI {arch} q{q} (run 1 of 2)");
            }
            runs.push(run_compressai(cfg, arch, q, &images, seed)?);
        }
        let mut result = bench_model(spec, &images, cfg)?;
        if let Some((arch, q)) = compare {
            if cfg.verbose {
                eprintln!("CompressAI {arch} q{q} (run 2 of 2)");
            }
            runs.push(run_compressai(cfg, arch, q, &images, seed)?);
            result.compressai = Some(merge_compressai(&runs, &result));
        }
        results.push(result);
    }
    Ok(results)
}

/// The plain-text report: one row per model, then the CompressAI comparison if any.
pub fn format_table(results: &[BenchResult]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let width = results.iter().map(|r| r.model.len()).max().unwrap_or(5).max(5);
    if let Some(r) = results.first() {
        let _ = writeln!(
            s,
            "{} image(s) of {:.2} MPixel, {} timed repeat(s) each after 1 warm-up, {} thread(s), {}; medians",
            r.images,
            r.pixels_per_image / 1e6,
            r.repeat,
            r.threads,
            r.device
        );
    }
    let _ = writeln!(
        s,
        "{:<width$}  {:>9}  {:>9}  {:>6}  {:>8}  {:>8}  {:>7}  {:>11}",
        "model", "enc s/img", "dec s/img", "img/s", "enc MP/s", "dec MP/s", "bpp", "peak RSS MB"
    );
    for r in results {
        let _ = writeln!(
            s,
            "{:<width$}  {:>9.3}  {:>9.3}  {:>6.3}  {:>8.3}  {:>8.3}  {:>7.4}  {:>11.0}{}",
            r.model,
            r.encode_s,
            r.decode_s,
            r.images_per_s,
            r.encode_mpix_s,
            r.decode_mpix_s,
            r.bpp,
            r.peak_rss_mb,
            if r.peak_rss_reset { "" } else { "*" }
        );
    }
    let _ = writeln!(
        s,
        "img/s = 1/(enc+dec); MP/s on unpadded pixels; bpp of random models = streams only (no container); \
         peak RSS = process-wide VmHWM{}",
        if results.iter().any(|r| !r.peak_rss_reset) { " (*: not reset, may include earlier models)" } else { "" }
    );
    if let Some(t) = results.iter().find_map(|r| r.glibc_tunables.as_ref()) {
        let _ = writeln!(s, "GLIBC_TUNABLES={t} (for neco and CompressAI alike)");
    }
    let compared: Vec<_> = results.iter().filter_map(|r| r.compressai.as_ref().map(|c| (r, c))).collect();
    if let Some((_, c0)) = compared.first() {
        let _ = writeln!(
            s,
            "\nvs CompressAI {} (torch {}; random weights, padded to {COMPRESSAI_PAD}; runs: CompressAI, neco, \
             CompressAI; ratio = neco / CompressAI, < 1: neco faster)",
            c0.compressai, c0.torch
        );
        let _ = writeln!(
            s,
            "{:<width$}  {:>8}  {:>8}  {:>9}  {:>8}  {:>8}  {:>9}  {:>8}  {:>8}  {:>8}  {:>8}",
            "model",
            "neco enc",
            "CAI enc",
            "enc ratio",
            "neco dec",
            "CAI dec",
            "dec ratio",
            "neco bpp",
            "CAI bpp",
            "neco MB",
            "CAI MB"
        );
        for (r, c) in compared {
            let _ = writeln!(
                s,
                "{:<width$}  {:>8.3}  {:>8.3}  {:>9.2}  {:>8.3}  {:>8.3}  {:>9.2}  {:>8.4}  {:>8.4}  {:>8.0}  {:>8.0}",
                r.model,
                r.encode_s,
                c.encode_s,
                c.encode_ratio,
                r.decode_s,
                c.decode_s,
                c.decode_ratio,
                r.bpp,
                c.bpp,
                r.peak_rss_mb,
                c.peak_rss_mb
            );
            let runs: Vec<String> =
                c.run_encode_s.iter().zip(&c.run_decode_s).map(|(e, d)| format!("{e:.3}/{d:.3}")).collect();
            let _ = writeln!(s, "{:<width$}  CompressAI per-run enc/dec medians: {}", "", runs.join(", "));
        }
    }
    s
}

/// The results as pretty JSON.
pub fn to_json(results: &[BenchResult]) -> Result<String> {
    Ok(serde_json::to_string_pretty(results)?)
}
