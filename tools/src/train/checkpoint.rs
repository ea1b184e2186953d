//! Training checkpoints: variables, both optimizers' state, the step, elapsed time and the run's
//! configuration, in one safetensors file written atomically.

use super::{Adam, TrainConfig};
use anyhow::{Context, Result};
use neco_models::weights::{read_safetensors, write_safetensors};
use std::collections::HashMap;
use std::path::Path;
use tch::nn;

pub struct CheckpointState {
    pub step: u64,
    pub seconds: f64,
    pub config: TrainConfig,
}

pub fn save(
    path: &Path,
    cfg: &TrainConfig,
    step: u64,
    seconds: f64,
    vs: &nn::VarStore,
    adam: &Adam,
    aux_adam: &Adam,
) -> Result<()> {
    let mut named: Vec<_> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (format!("model/{k}"), v.detach().to_device(tch::Device::Cpu)))
        .collect();
    named.extend(adam.state("adam"));
    named.extend(aux_adam.state("aux_adam"));
    let meta = HashMap::from([
        ("step".to_string(), step.to_string()),
        ("seconds".to_string(), seconds.to_string()),
        ("train_config".to_string(), serde_json::to_string(cfg)?),
    ]);
    let bytes = write_safetensors(&named, meta)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn load(path: &Path, vs: &nn::VarStore, adam: &mut Adam, aux_adam: &mut Adam) -> Result<CheckpointState> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let (tensors, meta) = read_safetensors(&bytes)?;
    let get = |k: &str| meta.get(k).with_context(|| format!("checkpoint lacks '{k}'"));
    let step = get("step")?.parse().context("checkpoint step")?;
    let seconds = get("seconds")?.parse().context("checkpoint seconds")?;
    let config: TrainConfig = serde_json::from_str(get("train_config")?).context("checkpoint config")?;
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vs.variables() {
            let t = tensors.get(&format!("model/{name}")).with_context(|| format!("checkpoint lacks {name}"))?;
            var.copy_(&t.to_kind(var.kind()).to_device(var.device()));
        }
        Ok(())
    })?;
    adam.load_state("adam", &tensors)?;
    aux_adam.load_state("aux_adam", &tensors)?;
    Ok(CheckpointState { step, seconds, config })
}
