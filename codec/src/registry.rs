//! The models neco can code with, by name and by container model id.

/// What `neco encode` uses when no `--model` is given. Until trained neural
/// weights ship, the classical wavelet codec is the best model available.
pub const DEFAULT_MODEL: &str = "wavelet";

/// A model known to this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: &'static str,
    /// The id written in the container header (docs/format.md).
    pub id: u32,
    pub description: &'static str,
    /// Quality used when the caller gives none.
    pub default_quality: u8,
}

const MODELS: &[ModelInfo] = &[ModelInfo {
    name: "wavelet",
    id: 1,
    description: "classical CDF 9/7 wavelet codec with context-adaptive range coding (no weights)",
    default_quality: 60,
}];

/// Every model this build can encode and decode.
pub fn available_models() -> &'static [ModelInfo] {
    MODELS
}

pub(crate) fn by_name(name: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name)
}

pub(crate) fn by_id(id: u32) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.id == id)
}
