//! Choosing the torch device and thread count.
//!
//! `DeviceChoice` is what the CLI and tools accept (`--device cpu|cuda|auto`); `resolve` turns it
//! into a [`tch::Device`], failing clearly when CUDA is requested but not usable.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

/// Which device to run the models on.
///
/// ```
/// use neco_models::device::DeviceChoice;
///
/// let device = "auto".parse::<DeviceChoice>()?.resolve()?;
/// let x = tch::Tensor::ones([2, 3], (tch::Kind::Float, device));
/// assert_eq!(x.sum(tch::Kind::Float).double_value(&[]), 6.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceChoice {
    /// Always the CPU.
    #[default]
    Cpu,
    /// The first CUDA GPU; resolving fails if CUDA is not available.
    Cuda,
    /// The first CUDA GPU if available, otherwise the CPU.
    Auto,
}

impl DeviceChoice {
    /// Resolves the choice to a concrete torch device.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Cuda => {
                if tch::Cuda::is_available() {
                    Ok(tch::Device::Cuda(0))
                } else {
                    bail!(
                        "--device cuda requested but CUDA is not available to libtorch \
                         (no GPU/driver visible, or a CPU-only libtorch build); \
                         use --device cpu or --device auto"
                    )
                }
            }
            DeviceChoice::Auto => Ok(if tch::Cuda::is_available() { tch::Device::Cuda(0) } else { tch::Device::Cpu }),
        }
    }

    /// The name accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => bail!("unknown device {other:?}: expected one of cpu, cuda, auto"),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets the number of intra-op CPU threads libtorch uses (`0` leaves the libtorch default).
pub fn set_threads(n: usize) {
    if n > 0 {
        tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn parses_choices() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("CUDA".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda);
        assert_eq!(" auto ".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert!("tpu".parse::<DeviceChoice>().is_err());
        for c in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Auto] {
            assert_eq!(c.to_string().parse::<DeviceChoice>().unwrap(), c);
        }
    }

    #[test]
    fn cpu_tensor_op_runs() {
        // Proves libtorch links and loads at test time (no LD_LIBRARY_PATH needed).
        set_threads(1);
        assert_eq!(tch::get_num_threads(), 1);
        let device = DeviceChoice::Cpu.resolve().unwrap();
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]).to_device(device);
        let b = a.matmul(&a.transpose(0, 1));
        let got: Vec<f32> = Vec::<f32>::try_from(b.flatten(0, -1)).unwrap();
        assert_eq!(got, vec![5.0, 11.0, 11.0, 25.0]);
        assert_eq!(b.kind(), Kind::Float);
    }

    #[test]
    fn cuda_choice_matches_availability() {
        let available = tch::Cuda::is_available();
        assert_eq!(DeviceChoice::Cuda.resolve().is_ok(), available);
        let auto = DeviceChoice::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), available);
    }
}
