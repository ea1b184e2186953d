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
                if cuda_available() {
                    Ok(tch::Device::Cuda(0))
                } else {
                    let why = match cuda_backend() {
                        Err(e) => format!("libtorch's CUDA backend did not load: {e}"),
                        Ok(()) => "no GPU/driver visible".to_string(),
                    };
                    bail!("--device cuda requested but CUDA is not available to libtorch ({why}); use --device cpu or --device auto")
                }
            }
            DeviceChoice::Auto => Ok(if cuda_available() { tch::Device::Cuda(0) } else { tch::Device::Cpu }),
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

/// Whether libtorch can use a CUDA GPU.
///
/// neco's binaries do not link libtorch's CUDA backend: loading it (cuDNN, cuBLAS, NCCL, …) costs
/// seconds of start-up and hundreds of MB of memory, which every CPU run, like a quick
/// `neco decode`, would pay. It is loaded here instead, the first time a GPU is asked for; its
/// static initializers register the CUDA kernels and hooks with libtorch. It is found through
/// the binary's rpath (libtorch's `lib` folder) or `LD_LIBRARY_PATH`.
pub fn cuda_available() -> bool {
    cuda_backend().is_ok() && tch::Cuda::is_available()
}

/// Loads libtorch's CUDA backend once; the loader's error if it cannot.
fn cuda_backend() -> std::result::Result<(), &'static str> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    LOADED.get_or_init(load_cuda_backend).as_ref().map(|_| ()).map_err(String::as_str)
}

#[cfg(unix)]
fn load_cuda_backend() -> std::result::Result<(), String> {
    // RTLD_GLOBAL: the backend's symbols must resolve for libtorch's own later lookups.
    // SAFETY: a NUL-terminated name; the handle is kept open for the life of the process.
    let handle = unsafe { libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc.
    let reason = unsafe { libc::dlerror() };
    Err(if reason.is_null() {
        "cannot load libtorch_cuda.so".to_string()
    } else {
        unsafe { std::ffi::CStr::from_ptr(reason) }.to_string_lossy().into_owned()
    })
}

#[cfg(not(unix))]
fn load_cuda_backend() -> std::result::Result<(), String> {
    Ok(())
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

    /// The CUDA backend is loaded on demand (the binaries do not link it): after asking for CUDA,
    /// libtorch must know its CUDA kernels, so that without a GPU the error is about the driver
    /// ("Found no NVIDIA driver"), not "Could not run 'aten::empty.memory_format' with arguments
    /// from the 'CUDA' backend" (what an unloaded backend gives; checked by hand by loading
    /// another library instead). Only meaningful with a CUDA build of libtorch.
    #[test]
    fn cuda_backend_loads_on_demand() {
        let has_cuda_build = std::env::var_os("LIBTORCH")
            .map(|l| std::path::Path::new(&l).join("lib/libtorch_cuda.so").exists())
            .unwrap_or(false);
        let available = cuda_available();
        if !has_cuda_build {
            eprintln!("CPU-only libtorch: nothing to check");
            return;
        }
        assert_eq!(cuda_backend(), Ok(()));
        if !available {
            let err = Tensor::f_zeros([1], (Kind::Float, tch::Device::Cuda(0))).unwrap_err().to_string();
            let unregistered = err.contains("from the 'CUDA' backend") || err.contains("without ATen_cuda");
            assert!(!unregistered, "CUDA kernels not registered: {}", err.lines().next().unwrap_or(""));
        }
    }

    #[test]
    fn cuda_choice_matches_availability() {
        let available = cuda_available();
        assert_eq!(DeviceChoice::Cuda.resolve().is_ok(), available);
        let auto = DeviceChoice::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), available);
    }
}
