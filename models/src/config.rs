//! Which architecture, at which size: the single description from which a model is built,
//! stored as metadata in every weights file.

use crate::hyperprior::{FactorizedPriorModel, MeanScaleHyperprior, ScaleHyperprior};
use crate::model::ImageModel;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::nn;

/// The learned architectures neco implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Ballé et al. 2018, factorized prior (CompressAI `bmshj2018-factorized`).
    Bmshj2018Factorized,
    /// Ballé et al. 2018, scale hyperprior (CompressAI `bmshj2018-hyperprior`).
    Bmshj2018Hyperprior,
    /// Minnen et al. 2018, mean-scale hyperprior (CompressAI `mbt2018-mean`).
    Mbt2018Mean,
    /// He et al. 2022 (ELIC-style): uneven channel groups and a checkerboard context.
    Elic,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::Bmshj2018Factorized, Arch::Bmshj2018Hyperprior, Arch::Mbt2018Mean, Arch::Elic];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Bmshj2018Factorized => "bmshj2018-factorized",
            Arch::Bmshj2018Hyperprior => "bmshj2018-hyperprior",
            Arch::Mbt2018Mean => "mbt2018-mean",
            Arch::Elic => "elic",
        }
    }

    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .with_context(|| format!("unknown architecture '{name}' (known: {})", Self::names().join(", ")))
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|a| a.name()).collect()
    }
}

/// An architecture and its widths. `n` is the transforms' width, `m` the latent channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n: i64,
    pub m: i64,
    /// Gain levels for continuous variable rate; 1 means a fixed-rate model.
    pub rate_levels: i64,
}

impl ModelConfig {
    pub fn new(arch: Arch, n: i64, m: i64) -> Self {
        Self { arch, n, m, rate_levels: 1 }
    }

    /// The widths CompressAI's zoo uses for `arch` at `quality` (1–8).
    pub fn compressai(arch: Arch, quality: u8) -> Result<Self> {
        if !(1..=8).contains(&quality) {
            bail!("CompressAI qualities are 1..=8, got {quality}");
        }
        let large = match arch {
            Arch::Bmshj2018Factorized | Arch::Bmshj2018Hyperprior => quality >= 6,
            Arch::Mbt2018Mean => quality >= 5,
            Arch::Elic => bail!("elic is not a CompressAI zoo model"),
        };
        let (n, m) = if large { (192, 320) } else { (128, 192) };
        Ok(Self::new(arch, n, m))
    }

    /// Builds the model's variables under `vs` (fresh initialisation).
    pub fn build(&self, vs: &nn::Path) -> Result<Box<dyn ImageModel>> {
        if self.rate_levels > 1 && self.arch != Arch::Mbt2018Mean && self.arch != Arch::Elic {
            bail!("{} has no gain units; variable rate needs mbt2018-mean or elic", self.arch.name());
        }
        Ok(match self.arch {
            Arch::Bmshj2018Factorized => Box::new(FactorizedPriorModel::new(vs, self.n, self.m)),
            Arch::Bmshj2018Hyperprior => Box::new(ScaleHyperprior::new(vs, self.n, self.m)),
            Arch::Mbt2018Mean => Box::new(MeanScaleHyperprior::new(vs, self.n, self.m, self.rate_levels)),
            Arch::Elic => {
                Box::new(crate::elic::Elic::new(vs, &crate::elic::ElicConfig::new(self.n, self.m, self.rate_levels)))
            }
        })
    }

    /// Safetensors metadata (`arch`, `N`, `M`, `rate_levels`), as the CompressAI converter writes.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("arch".to_string(), self.arch.name().to_string()),
            ("N".to_string(), self.n.to_string()),
            ("M".to_string(), self.m.to_string()),
            ("rate_levels".to_string(), self.rate_levels.to_string()),
        ])
    }

    pub fn from_metadata(meta: &HashMap<String, String>) -> Result<Self> {
        let get = |k: &str| meta.get(k).with_context(|| format!("weights metadata lacks '{k}'"));
        let int = |k: &str| -> Result<i64> {
            let v = get(k)?;
            v.parse().with_context(|| format!("weights metadata '{k}' = '{v}' is not an integer"))
        };
        let rate_levels = if meta.contains_key("rate_levels") { int("rate_levels")? } else { 1 };
        if !(1..=64).contains(&rate_levels) {
            bail!("weights metadata rate_levels = {rate_levels} out of range");
        }
        let (n, m) = (int("N")?, int("M")?);
        if !(1..=4096).contains(&n) || !(1..=4096).contains(&m) {
            bail!("weights metadata widths N={n} M={m} out of range");
        }
        Ok(Self { arch: Arch::from_name(get("arch")?)?, n, m, rate_levels })
    }
}
