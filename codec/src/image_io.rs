//! Reading and writing pixel files, with errors that name the file.

use anyhow::{Context, Result};
use image::{DynamicImage, ImageFormat};
use std::path::Path;

/// Decodes an image from memory, guessing the format from its bytes.
pub fn decode_image_bytes(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("cannot read {name}"))?;
    if reader.format().is_none() {
        anyhow::bail!("cannot read {name}: not a recognised image format");
    }
    reader.decode().with_context(|| format!("cannot decode image {name}"))
}

/// The output format for a path: from its extension, PNG when there is none.
pub fn format_for_path(path: &Path) -> Result<ImageFormat> {
    match path.extension() {
        None => Ok(ImageFormat::Png),
        Some(ext) => ImageFormat::from_extension(ext)
            .with_context(|| format!("unknown output image extension {:?}", ext.to_string_lossy())),
    }
}

/// Encodes `image` in `format` into memory.
pub fn encode_image_bytes(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).with_context(|| format!("cannot write {format:?} image"))?;
    Ok(out.into_inner())
}
