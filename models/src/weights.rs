//! Weights files: safetensors with CompressAI's parameter names plus neco's coding tables, and
//! the architecture in the metadata.

use crate::config::ModelConfig;
use crate::model::ImageModel;
use anyhow::{bail, ensure, Context, Result};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// A model with its variables, ready to run.
pub struct LoadedModel {
    pub config: ModelConfig,
    pub model: Box<dyn ImageModel>,
    pub vs: nn::VarStore,
    /// All metadata in the file (training provenance, source, ...).
    pub metadata: HashMap<String, String>,
    /// SHA-256 of the weights file's bytes.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("config", &self.config).field("metadata", &self.metadata).finish()
    }
}

/// Reads a weights file from disk. See [`load_bytes`].
pub fn load(path: &Path, device: Device) -> Result<LoadedModel> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read weights {}", path.display()))?;
    load_bytes(&bytes, device).with_context(|| format!("weights {}", path.display()))
}

/// Builds the model the metadata describes and fills every variable from the file. Tensors
/// that are not variables (coding tables, CompressAI buffers) go to the model's table loader;
/// if the file has no tables they are computed from the learned densities.
pub fn load_bytes(bytes: &[u8], device: Device) -> Result<LoadedModel> {
    let (tensors, metadata) = read_safetensors(bytes)?;
    let config = ModelConfig::from_metadata(&metadata)?;
    let mut vs = nn::VarStore::new(device);
    let mut model = config.build(&vs.root())?;
    let mut extra = tensors;
    {
        let mut missing = vec![];
        for (name, mut var) in vs.variables() {
            let Some(src) = extra.remove(&name) else {
                missing.push(name);
                continue;
            };
            ensure!(
                src.size() == var.size(),
                "'{name}' has shape {:?} in the file but {:?} in {}",
                src.size(),
                var.size(),
                config.arch.name()
            );
            tch::no_grad(|| var.copy_(&src.to_kind(var.kind()).to_device(device)));
        }
        if !missing.is_empty() {
            missing.sort();
            bail!(
                "weights do not fit {} (N={}, M={}): {} variables missing, e.g. {}",
                config.arch.name(),
                config.n,
                config.m,
                missing.len(),
                missing.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(table) = extra.get("gaussian_conditional.scale_table") {
        let table: Vec<f64> = Vec::try_from(&table.to_kind(Kind::Double).view([-1]))?;
        model.set_scale_table(&table)?;
    }
    if !model.load_tables(&extra)? {
        model.update_tables()?;
    }
    vs.freeze();
    let sha256 = Sha256::digest(bytes).into();
    Ok(LoadedModel { config, model, vs, metadata, sha256 })
}

/// Writes the model's variables (as `storage`: Float or Half) and coding tables. With Half,
/// call [`round_to_storage`] and `update_tables` first so the tables match the stored values.
pub fn save(
    path: &Path,
    config: &ModelConfig,
    model: &dyn ImageModel,
    vs: &nn::VarStore,
    storage: Kind,
    extra_metadata: &HashMap<String, String>,
) -> Result<()> {
    ensure!(matches!(storage, Kind::Float | Kind::Half), "weights are stored as f32 or f16");
    let mut named: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(k, v)| (k, v.detach().to_device(Device::Cpu).to_kind(storage))).collect();
    named.extend(model.table_tensors()?);
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut metadata = extra_metadata.clone();
    metadata.extend(config.to_metadata());
    let bytes = write_safetensors(&named, metadata)?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Rounds every floating variable to `storage` precision in place, so the model in memory is
/// exactly what a file stored at that precision reloads to.
pub fn round_to_storage(vs: &nn::VarStore, storage: Kind) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.is_floating_point() {
                let rounded = v.to_kind(storage).to_kind(v.kind());
                v.copy_(&rounded);
            }
        }
    });
}

/// All tensors (on the CPU) and the metadata of a safetensors buffer.
pub fn read_safetensors(bytes: &[u8]) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let st = SafeTensors::deserialize(bytes).context("not a safetensors file")?;
    let (_, header) = SafeTensors::read_metadata(bytes).context("not a safetensors file")?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::F64 => Kind::Double,
            Dtype::I32 => Kind::Int,
            Dtype::I64 => Kind::Int64,
            Dtype::U8 => Kind::Uint8,
            Dtype::I8 => Kind::Int8,
            Dtype::I16 => Kind::Int16,
            Dtype::BOOL => Kind::Bool,
            other => bail!("tensor '{name}' has unsupported dtype {other:?}"),
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = if view.data().is_empty() {
            Tensor::zeros(shape.as_slice(), (kind, Device::Cpu))
        } else {
            Tensor::f_from_data_size(view.data(), &shape, kind)?
        };
        out.insert(name, t);
    }
    Ok((out, metadata))
}

/// Serializes named CPU tensors with metadata.
pub fn write_safetensors(named: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let mut buffers = Vec::with_capacity(named.len());
    for (name, t) in named {
        let t = t.to_device(Device::Cpu).contiguous();
        let dtype = match t.kind() {
            Kind::Float => Dtype::F32,
            Kind::Half => Dtype::F16,
            Kind::BFloat16 => Dtype::BF16,
            Kind::Double => Dtype::F64,
            Kind::Int => Dtype::I32,
            Kind::Int64 => Dtype::I64,
            Kind::Uint8 => Dtype::U8,
            other => bail!("cannot store '{name}' of kind {other:?}"),
        };
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, numel)?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        buffers.push((name.clone(), dtype, shape, data));
    }
    let views = buffers
        .iter()
        .map(|(n, d, s, data)| Ok((n.clone(), TensorView::new(*d, s.clone(), data)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, &Some(metadata))?)
}
