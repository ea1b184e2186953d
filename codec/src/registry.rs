//! The models neco can code with, by name and by container model id.

/// What `neco encode` uses when no `--model` is given. The learned "hyperprior" model becomes
/// the default once its training beats the wavelet codec on Kodak (see weights/MANIFEST.json).
pub const DEFAULT_MODEL: &str = "wavelet";

/// Where a model's coding machinery comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    /// The classical wavelet codec: no weights.
    Wavelet,
    /// A learned model whose weights are compiled into the binary (from weights/).
    Embedded(&'static [u8]),
}

/// A model known to this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: &'static str,
    /// The architecture id written in the container header (docs/format.md).
    pub id: u32,
    pub description: &'static str,
    /// Quality used when the caller gives none.
    pub default_quality: u8,
    pub source: ModelSource,
}

/// Container model ids of the learned architectures (docs/format.md).
pub fn arch_id(arch: &str) -> Option<u32> {
    match arch {
        "bmshj2018-factorized" => Some(2),
        "bmshj2018-hyperprior" => Some(3),
        "mbt2018-mean" => Some(4),
        "elic" => Some(5),
        _ => None,
    }
}

pub fn arch_name(id: u32) -> Option<&'static str> {
    match id {
        1 => Some("wavelet"),
        2 => Some("bmshj2018-factorized"),
        3 => Some("bmshj2018-hyperprior"),
        4 => Some("mbt2018-mean"),
        5 => Some("elic"),
        _ => None,
    }
}

const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "hyperprior",
        id: 4,
        description: "learned mean-scale hyperprior (mbt2018-mean, N=128 M=192), continuous rate via gain units; \
                      weights/hyperprior.safetensors",
        default_quality: 60,
        source: ModelSource::Embedded(include_bytes!("../../weights/hyperprior.safetensors")),
    },
    ModelInfo {
        name: "wavelet",
        id: 1,
        description: "classical CDF 9/7 wavelet codec with context-adaptive range coding (no weights)",
        default_quality: 60,
        source: ModelSource::Wavelet,
    },
];

/// Every model this build can encode and decode without a weights file.
pub fn available_models() -> &'static [ModelInfo] {
    MODELS
}

pub(crate) fn by_name(name: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name)
}

/// The built-in models of an architecture id (the fingerprint picks among them).
pub(crate) fn by_id(id: u32) -> impl Iterator<Item = &'static ModelInfo> {
    MODELS.iter().filter(move |m| m.id == id)
}
