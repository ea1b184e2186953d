//! Reading and writing pixel files, with errors that name the file.
//!
//! Inputs: PNG (8 and 16 bit), JPEG, PPM/PGM/PAM, TIFF, WebP and BMP, recognised by their
//! bytes. Outputs: the same formats, chosen by extension or by name ([`OutputFormat`]).

use anyhow::{bail, Context, Result};
use image::codecs::pnm::{PnmEncoder, PnmSubtype, SampleEncoding};
use image::{DynamicImage, ImageFormat};
use std::path::Path;

/// Decodes an image from memory, guessing the format from its bytes.
pub fn decode_image_bytes(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    if bytes.is_empty() {
        bail!("cannot read {name}: the file is empty");
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("cannot read {name}"))?;
    if reader.format().is_none() {
        bail!("cannot read {name}: not a recognised image format (PNG, JPEG, PPM/PGM, TIFF, WebP or BMP)");
    }
    reader.decode().with_context(|| format!("cannot decode image {name}"))
}

/// The output format for a path: from its extension, PNG when there is none.
pub fn format_for_path(path: &Path) -> Result<ImageFormat> {
    Ok(output_format_for_path(path)?.format)
}

/// A file format to write decoded images in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    /// The image crate's format.
    pub format: ImageFormat,
    /// The file extension for names made up from a stem (`png`, `jpg`, `ppm`, ...).
    pub extension: &'static str,
    /// For PNM: binary PPM (RGB) or PGM (gray); `None` picks by the image (PAM for alpha).
    pnm: Option<PnmKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PnmKind {
    Ppm,
    Pgm,
}

impl OutputFormat {
    /// PNG, the default.
    pub const PNG: OutputFormat = OutputFormat { format: ImageFormat::Png, extension: "png", pnm: None };

    /// A format from its name or extension: `png`, `jpg`/`jpeg`, `ppm`, `pgm`, `pnm`/`pam`,
    /// `tif`/`tiff`, `webp` (lossless) or `bmp` (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self> {
        let (format, extension, pnm) = match name.to_ascii_lowercase().as_str() {
            "png" => (ImageFormat::Png, "png", None),
            "jpg" | "jpeg" => (ImageFormat::Jpeg, "jpg", None),
            "ppm" => (ImageFormat::Pnm, "ppm", Some(PnmKind::Ppm)),
            "pgm" => (ImageFormat::Pnm, "pgm", Some(PnmKind::Pgm)),
            "pnm" => (ImageFormat::Pnm, "pnm", None),
            "pam" => (ImageFormat::Pnm, "pam", None),
            "tif" | "tiff" => (ImageFormat::Tiff, "tiff", None),
            "webp" => (ImageFormat::WebP, "webp", None),
            "bmp" => (ImageFormat::Bmp, "bmp", None),
            other => bail!("unknown output image format {other:?} (png, jpg, ppm, pgm, pam, tiff, webp or bmp)"),
        };
        Ok(OutputFormat { format, extension, pnm })
    }

    /// Whether the format can store an alpha channel.
    pub fn has_alpha(&self) -> bool {
        !matches!(self.format, ImageFormat::Jpeg) && self.pnm.is_none()
    }
}

/// The output format for a path: from its extension, PNG when there is none.
pub fn output_format_for_path(path: &Path) -> Result<OutputFormat> {
    match path.extension() {
        None => Ok(OutputFormat::PNG),
        Some(ext) => OutputFormat::from_name(&ext.to_string_lossy())
            .with_context(|| format!("cannot choose an output format for {}", path.display())),
    }
}

/// Encodes `image` in `format` into memory.
pub fn encode_image_bytes(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).with_context(|| format!("cannot write {format:?} image"))?;
    Ok(out.into_inner())
}

/// Encodes `image` as `format`, converting it to a pixel layout the format can hold.
/// Returns the bytes and whether an alpha channel had to be dropped (JPEG, PPM and PGM have
/// none).
pub fn encode_image_as(image: &DynamicImage, format: OutputFormat) -> Result<(Vec<u8>, bool)> {
    use image::ColorType as C;
    // Decoded images are 8-bit; anything else is brought to the 8-bit layout of its channels.
    let image = match image.color() {
        C::L8 | C::La8 | C::Rgb8 | C::Rgba8 => std::borrow::Cow::Borrowed(image),
        C::L16 => std::borrow::Cow::Owned(DynamicImage::ImageLuma8(image.to_luma8())),
        C::La16 => std::borrow::Cow::Owned(DynamicImage::ImageLumaA8(image.to_luma_alpha8())),
        c if c.has_alpha() => std::borrow::Cow::Owned(DynamicImage::ImageRgba8(image.to_rgba8())),
        _ => std::borrow::Cow::Owned(DynamicImage::ImageRgb8(image.to_rgb8())),
    };
    let had_alpha = image.color().has_alpha();
    let converted: Option<DynamicImage> = match (format.format, format.pnm, image.color()) {
        (ImageFormat::Jpeg, _, C::La8) => Some(DynamicImage::ImageLuma8(image.to_luma8())),
        (ImageFormat::Jpeg, _, C::Rgba8) => Some(DynamicImage::ImageRgb8(image.to_rgb8())),
        (ImageFormat::Pnm, Some(PnmKind::Ppm), c) if c != C::Rgb8 => Some(DynamicImage::ImageRgb8(image.to_rgb8())),
        (ImageFormat::Pnm, Some(PnmKind::Pgm), c) if c != C::L8 => Some(DynamicImage::ImageLuma8(image.to_luma8())),
        // TIFF cannot store gray+alpha, and the BMP reader drops it: write RGBA.
        (ImageFormat::Tiff | ImageFormat::Bmp, _, C::La8) => Some(DynamicImage::ImageRgba8(image.to_rgba8())),
        _ => None,
    };
    let image = converted.as_ref().unwrap_or(&image);
    let alpha_dropped = had_alpha && !image.color().has_alpha();
    let bytes = match format.pnm {
        Some(kind) => {
            let subtype = match kind {
                PnmKind::Ppm => PnmSubtype::Pixmap(SampleEncoding::Binary),
                PnmKind::Pgm => PnmSubtype::Graymap(SampleEncoding::Binary),
            };
            let mut out = Vec::new();
            image
                .write_with_encoder(PnmEncoder::new(&mut out).with_subtype(subtype))
                .with_context(|| format!("cannot write {} image", format.extension))?;
            out
        }
        None => encode_image_bytes(image, format.format)?,
    };
    Ok((bytes, alpha_dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_format_writes_every_layout() {
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(5, 3, |x, y| {
            image::Rgba([x as u8 * 40, y as u8 * 80, 7, 128 + x as u8])
        }));
        let layouts = [rgba.clone(), DynamicImage::ImageRgb8(rgba.to_rgb8()), rgba.to_luma8().into(), {
            DynamicImage::ImageLumaA8(rgba.to_luma_alpha8())
        }];
        for name in ["png", "jpg", "ppm", "pgm", "pam", "tiff", "webp", "bmp"] {
            let format = OutputFormat::from_name(name).unwrap();
            for image in &layouts {
                let (bytes, dropped) = encode_image_as(image, format).unwrap();
                assert_eq!(dropped, image.color().has_alpha() && !format.has_alpha(), "{name}");
                let back = decode_image_bytes(&bytes, name).unwrap();
                assert_eq!((back.width(), back.height()), (5, 3), "{name}");
                if format.has_alpha() && image.color().has_alpha() {
                    assert_eq!(
                        back.to_rgba8().pixels().map(|p| p[3]).collect::<Vec<_>>(),
                        { image.to_rgba8().pixels().map(|p| p[3]).collect::<Vec<_>>() },
                        "{name} {:?}",
                        image.color()
                    );
                }
            }
        }
        assert!(OutputFormat::from_name("gif").is_err());
        assert!(decode_image_bytes(b"", "x").is_err());
    }
}
