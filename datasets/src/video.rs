//! Video frames: raw I420 (yuv420p) files, `im1.png..imN.png` folders and any container/codec
//! FFmpeg can decode.
//!
//! Colour conversion used by [`I420Frame::to_rgb8`]: **BT.601, limited ("TV") range**
//! (Y in 16..=235, Cb/Cr in 16..=240), chroma upsampled by nearest neighbour (each chroma sample
//! covers a 2x2 block of luma samples). This is what untagged SD yuv420p material (the openh264
//! and carphone test clips, most raw `.yuv` files) means in practice, and what FFmpeg's swscale
//! assumes for untagged SD video too, so frames read here and frames decoded with
//! [`decode_video_frames`] agree to within rounding and chroma-interpolation differences.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, ensure, Context, Result};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

/// One 8-bit 4:2:0 planar frame (I420 plane order: Y, then U (Cb), then V (Cr)).
///
/// Chroma planes are `ceil(width / 2) x ceil(height / 2)`; all planes are tightly packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Frame {
    /// Width and height of each chroma plane.
    pub fn chroma_size(width: usize, height: usize) -> (usize, usize) {
        (width.div_ceil(2), height.div_ceil(2))
    }

    /// Bytes of one frame in a raw I420 file.
    pub fn frame_bytes(width: usize, height: usize) -> usize {
        let (cw, ch) = Self::chroma_size(width, height);
        width * height + 2 * cw * ch
    }

    /// Splits one raw frame (`frame_bytes(width, height)` bytes) into planes.
    pub fn from_bytes(width: usize, height: usize, data: &[u8]) -> Result<Self> {
        ensure!(width > 0 && height > 0, "I420 frame size must be non-zero, got {width}x{height}");
        let expected = Self::frame_bytes(width, height);
        ensure!(data.len() == expected, "I420 {width}x{height} frame needs {expected} bytes, got {}", data.len());
        let (cw, ch) = Self::chroma_size(width, height);
        let (y, rest) = data.split_at(width * height);
        let (u, v) = rest.split_at(cw * ch);
        Ok(Self { width, height, y: y.to_vec(), u: u.to_vec(), v: v.to_vec() })
    }

    /// Converts to 8-bit RGB with limited-range BT.601 (see the module docs).
    pub fn to_rgb8(&self) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let (cw, _) = Self::chroma_size(w, h);
        let mut out = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let yrow = &self.y[row * w..(row + 1) * w];
            let crow = (row / 2) * cw;
            for (col, &yv) in yrow.iter().enumerate() {
                let u = self.u[crow + col / 2];
                let v = self.v[crow + col / 2];
                out.extend_from_slice(&bt601_limited_to_rgb(yv, u, v));
            }
        }
        RgbImage::from_raw(w as u32, h as u32, out).expect("buffer size matches dimensions")
    }
}

/// One pixel, limited-range BT.601 YCbCr -> RGB, in 16.16 fixed point with rounding.
///
/// R = 1.164383 (Y-16) + 1.596027 (Cr-128)
/// G = 1.164383 (Y-16) - 0.391762 (Cb-128) - 0.812968 (Cr-128)
/// B = 1.164383 (Y-16) + 2.017232 (Cb-128)
#[inline]
fn bt601_limited_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    const ONE: i32 = 1 << 16;
    const HALF: i32 = ONE / 2;
    const CY: i32 = 76309; // 1.164383 * 65536
    const CRV: i32 = 104597; // 1.596027
    const CGU: i32 = 25675; // 0.391762
    const CGV: i32 = 53279; // 0.812968
    const CBU: i32 = 132201; // 2.017232
    let y = (y as i32 - 16) * CY;
    let u = u as i32 - 128;
    let v = v as i32 - 128;
    let clamp = |x: i32| ((x + HALF) >> 16).clamp(0, 255) as u8;
    [clamp(y + CRV * v), clamp(y - CGU * u - CGV * v), clamp(y + CBU * u)]
}

/// Reads every frame of a headerless raw I420 (yuv420p, 8-bit) file.
///
/// The file size must be a whole number of `width x height` frames.
pub fn read_i420_file(path: impl AsRef<Path>, width: usize, height: usize) -> Result<Vec<I420Frame>> {
    let path = path.as_ref();
    ensure!(width > 0 && height > 0, "I420 frame size must be non-zero, got {width}x{height}");
    let frame_bytes = I420Frame::frame_bytes(width, height);
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().with_context(|| format!("stat {}", path.display()))?.len() as usize;
    let trailing = len % frame_bytes; // (`is_multiple_of` needs Rust 1.87; MSRV is 1.85)
    ensure!(
        trailing == 0,
        "{}: size {len} is not a multiple of the {width}x{height} I420 frame size {frame_bytes}",
        path.display()
    );
    let mut reader = BufReader::new(file);
    let mut buf = vec![0u8; frame_bytes];
    let mut frames = Vec::with_capacity(len / frame_bytes);
    for i in 0..len / frame_bytes {
        reader.read_exact(&mut buf).with_context(|| format!("{}: reading frame {i}", path.display()))?;
        frames.push(I420Frame::from_bytes(width, height, &buf)?);
    }
    Ok(frames)
}

/// Frame number `N` of a file named `imN.png` (case-insensitive extension), else `None`.
fn png_frame_index(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix("im")?;
    let (num, ext) = stem.split_once('.')?;
    if !ext.eq_ignore_ascii_case("png") || num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse().ok()
}

/// Paths of `im1.png`, `im2.png`, ... `imN.png` in `dir`, in numeric order (the Vimeo-90K /
/// DVC layout). Fails if the folder has none, or if the numbering does not run 1..=N without
/// gaps. Other files are ignored.
pub fn png_frame_paths(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut indexed = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if let Some(n) = png_frame_index(&path) {
            indexed.push((n, path));
        }
    }
    ensure!(!indexed.is_empty(), "{}: no im<N>.png frames", dir.display());
    indexed.sort();
    for (expected, (n, path)) in (1u64..).zip(&indexed) {
        ensure!(
            *n == expected,
            "{}: frame numbering must be im1.png..imN.png without gaps; expected im{expected}.png, found {}",
            dir.display(),
            path.display()
        );
    }
    Ok(indexed.into_iter().map(|(_, p)| p).collect())
}

/// Reads `im1.png..imN.png` from `dir` in numeric order as RGB8 frames (see [`png_frame_paths`]).
/// All frames must have the same size.
pub fn read_png_frames(dir: impl AsRef<Path>) -> Result<Vec<RgbImage>> {
    let paths = png_frame_paths(dir)?;
    let mut frames: Vec<RgbImage> = Vec::with_capacity(paths.len());
    for path in &paths {
        let img = image::open(path).with_context(|| format!("decoding {}", path.display()))?.to_rgb8();
        if let Some(first) = frames.first() {
            ensure!(
                img.dimensions() == first.dimensions(),
                "{}: frame size {:?} differs from im1.png's {:?}",
                path.display(),
                img.dimensions(),
                first.dimensions()
            );
        }
        frames.push(img);
    }
    Ok(frames)
}

/// Initializes FFmpeg once per process (and quiets its logging to errors only).
fn ffmpeg_init() -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg::init().map_err(|e| e.to_string())?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
        Ok(())
    })
    .clone()
    .map_err(|e| anyhow!("initializing FFmpeg: {e}"))
}

/// Decodes the best video stream of any file FFmpeg can read into RGB8 frames, in
/// presentation order, stopping after `max_frames` frames if given.
///
/// Colour conversion is FFmpeg swscale's to RGB24 (it follows the stream's colour tags;
/// untagged SD material is treated as limited-range BT.601).
pub fn decode_video_frames(path: impl AsRef<Path>, max_frames: Option<usize>) -> Result<Vec<RgbImage>> {
    use ffmpeg::format::Pixel;
    use ffmpeg::software::scaling::{context::Context as Scaler, flag::Flags};
    use ffmpeg::util::frame::video::Video;

    let path = path.as_ref();
    ffmpeg_init()?;
    let limit = max_frames.unwrap_or(usize::MAX);
    let mut frames = Vec::new();
    if limit == 0 {
        return Ok(frames);
    }

    let mut input = ffmpeg::format::input(&path).with_context(|| format!("opening video {}", path.display()))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| anyhow!("{}: no video stream", path.display()))?;
    let stream_index = stream.index();
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .with_context(|| format!("{}: creating the video decoder", path.display()))?;
    let (width, height) = (decoder.width(), decoder.height());
    ensure!(width > 0 && height > 0, "{}: video stream has no frame size", path.display());

    // Created lazily from the first decoded frame: its pixel format is the authoritative one.
    let mut scaler: Option<(Scaler, Pixel, u32, u32)> = None;

    // Drains decoded frames into `frames`; returns true once `limit` frames were collected.
    let mut drain = |decoder: &mut ffmpeg::decoder::Video, frames: &mut Vec<RgbImage>| -> Result<bool> {
        let mut decoded = Video::empty();
        loop {
            if frames.len() >= limit {
                return Ok(true);
            }
            match decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(false),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return Ok(false),
                Err(e) => return Err(anyhow!("{}: decoding: {e}", path.display())),
            }
            let (fmt, fw, fh) = (decoded.format(), decoded.width(), decoded.height());
            if !matches!(&scaler, Some((_, f, w, h)) if (*f, *w, *h) == (fmt, fw, fh)) {
                let ctx = Scaler::get(fmt, fw, fh, Pixel::RGB24, fw, fh, Flags::BILINEAR)
                    .with_context(|| format!("{}: creating the RGB converter", path.display()))?;
                scaler = Some((ctx, fmt, fw, fh));
            }
            let mut rgb = Video::empty();
            scaler.as_mut().expect("set above").0.run(&decoded, &mut rgb)?;
            frames.push(video_frame_to_rgb(&rgb)?);
        }
    };

    for (stream, packet) in input.packets() {
        if stream.index() != stream_index {
            continue;
        }
        decoder.send_packet(&packet).with_context(|| format!("{}: sending a packet to the decoder", path.display()))?;
        if drain(&mut decoder, &mut frames)? {
            return Ok(frames);
        }
    }
    decoder.send_eof().with_context(|| format!("{}: flushing the decoder", path.display()))?;
    drain(&mut decoder, &mut frames)?;
    Ok(frames)
}

/// Copies a packed RGB24 FFmpeg frame (rows may be padded to `stride`) into an `RgbImage`.
fn video_frame_to_rgb(frame: &ffmpeg::util::frame::video::Video) -> Result<RgbImage> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    ensure!(stride >= 3 * w && data.len() >= stride * (h - 1) + 3 * w, "bad RGB24 frame layout");
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + 3 * w]);
    }
    RgbImage::from_raw(w as u32, h as u32, out).ok_or_else(|| anyhow!("bad RGB24 frame size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIDEO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/video");

    fn shared(rel: &str) -> Option<PathBuf> {
        let p = Path::new(VIDEO_DIR).join(rel);
        if p.exists() {
            Some(p)
        } else {
            eprintln!("skipping: {} not found (shared datasets absent)", p.display());
            None
        }
    }

    /// A fresh empty directory under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("neco-datasets-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn have_ffmpeg_cli() -> bool {
        let ok =
            std::process::Command::new("ffmpeg").arg("-version").output().map(|o| o.status.success()).unwrap_or(false);
        if !ok {
            eprintln!("skipping: `ffmpeg` CLI not found (./setup.sh installs it)");
        }
        ok
    }

    fn run_ffmpeg(args: &[&str]) {
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .output()
            .expect("running ffmpeg");
        assert!(out.status.success(), "ffmpeg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| x.abs_diff(y) as u64).sum();
        sum as f64 / a.as_raw().len() as f64
    }

    #[test]
    fn bt601_limited_reference_points() {
        assert_eq!(bt601_limited_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(bt601_limited_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(bt601_limited_to_rgb(126, 128, 128), [128, 128, 128]);
        // BT.601 limited-range red (R'G'B' = 255, 0, 0) is Y=81, Cb=90, Cr=240.
        let [r, g, b] = bt601_limited_to_rgb(81, 90, 240);
        assert!(r >= 253 && g <= 2 && b <= 2, "{r} {g} {b}");
    }

    #[test]
    fn i420_bytes_odd_sizes() {
        assert_eq!(I420Frame::frame_bytes(160, 96), 160 * 96 * 3 / 2);
        assert_eq!(I420Frame::frame_bytes(3, 3), 9 + 2 * 4);
        let data: Vec<u8> = (0..17).collect();
        let f = I420Frame::from_bytes(3, 3, &data).unwrap();
        assert_eq!((f.y.len(), f.u.len(), f.v.len()), (9, 4, 4));
        assert_eq!(f.to_rgb8().dimensions(), (3, 3));
        assert!(I420Frame::from_bytes(3, 3, &data[..16]).is_err());
    }

    #[test]
    fn reads_openh264_160x96_clip() {
        let Some(p) = shared("openh264_res/CiscoVT2people_160x96_6fps.yuv") else { return };
        let frames = read_i420_file(&p, 160, 96).unwrap();
        assert_eq!(frames.len(), 5);
        let rgb = frames[0].to_rgb8();
        assert_eq!(rgb.dimensions(), (160, 96));
        // A natural scene: not flat.
        let (min, max) = rgb.as_raw().iter().fold((255u8, 0u8), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!(max - min > 100, "range {min}..{max}");
        assert_ne!(frames[0], frames[4]);
        // Wrong size is rejected (115200 is not a multiple of the 320x192 frame size).
        assert!(read_i420_file(&p, 320, 192).is_err());
    }

    #[test]
    fn reads_png_frames_in_numeric_order() {
        let Some(dir) = shared("vimeo_septuplet_sample/sequences/00001/0001") else { return };
        let frames = read_png_frames(&dir).unwrap();
        assert_eq!(frames.len(), 7);
        assert!(frames.iter().all(|f| f.dimensions() == (448, 256)));

        let Some(dir) = shared("basketballpass_416x240_rgb_png") else { return };
        let paths = png_frame_paths(&dir).unwrap();
        assert_eq!(paths.len(), 100);
        assert!(paths[1].ends_with("im2.png") && paths[9].ends_with("im10.png"));
        assert!(paths[99].ends_with("im100.png"));
    }

    #[test]
    fn png_frames_reject_gaps_and_empty() {
        let dir = temp_dir("pnggap");
        assert!(read_png_frames(&dir).is_err());
        let img = RgbImage::from_pixel(4, 2, image::Rgb([10, 20, 30]));
        img.save(dir.join("im1.png")).unwrap();
        img.save(dir.join("im3.png")).unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        assert!(read_png_frames(&dir).is_err());
        img.save(dir.join("im2.png")).unwrap();
        let frames = read_png_frames(&dir).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2], img);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decodes_mp4_written_by_ffmpeg_cli() {
        if !have_ffmpeg_cli() {
            return;
        }
        let dir = temp_dir("mp4");
        let mp4 = dir.join("testsrc.mp4");
        let mp4s = mp4.to_str().unwrap();
        run_ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-frames:v",
            "7",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "mpeg4",
            "-q:v",
            "2",
            mp4s,
        ]);
        let frames = decode_video_frames(&mp4, None).unwrap();
        assert_eq!(frames.len(), 7);
        assert!(frames.iter().all(|f| f.dimensions() == (64, 48)));
        let first3 = decode_video_frames(&mp4, Some(3)).unwrap();
        assert_eq!(first3.len(), 3);
        assert_eq!(first3[2], frames[2]);
        assert!(decode_video_frames(dir.join("missing.mp4"), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ffmpeg_decode_matches_raw_i420_reader() {
        // Losslessly wrap the raw clip in mkv/FFV1, decode it through FFmpeg + swscale and
        // compare with our own BT.601 limited-range conversion.
        let Some(yuv) = shared("openh264_res/CiscoVT2people_160x96_6fps.yuv") else { return };
        if !have_ffmpeg_cli() {
            return;
        }
        let dir = temp_dir("mkv");
        let mkv = dir.join("clip.mkv");
        run_ffmpeg(&[
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            "160x96",
            "-r",
            "6",
            "-i",
            yuv.to_str().unwrap(),
            "-c:v",
            "ffv1",
            mkv.to_str().unwrap(),
        ]);
        let decoded = decode_video_frames(&mkv, None).unwrap();
        let raw = read_i420_file(&yuv, 160, 96).unwrap();
        assert_eq!(decoded.len(), raw.len());
        for (d, r) in decoded.iter().zip(&raw) {
            let mad = mean_abs_diff(d, &r.to_rgb8());
            assert!(mad < 2.0, "mean abs diff {mad} between swscale and BT.601 limited conversion");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
