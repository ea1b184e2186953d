// Shared build-script code for every crate whose tests or binaries link libtorch.
//
// Use it from a crate's build.rs with:
//
//     include!("../build-support/libtorch_rpath.rs");
//     fn main() { emit_libtorch_link_args(); }
//
// Why every crate needs it: `cargo:rustc-link-arg` only applies to the targets of the package
// whose build script prints it (its bins, tests, benches, examples), it does not propagate to
// dependents. So each crate that produces an executable linking libtorch includes this file.
//
// What it does (Linux/macOS):
// * adds an rpath to `$LIBTORCH/lib` (canonicalized, so the `.libtorch` symlink is resolved) so
//   binaries and test executables run without LD_LIBRARY_PATH;
// * it does NOT force-link libtorch's CUDA backend (`libtorch_cuda.so`). Nothing references its
//   symbols, so the linker drops it (tch-rs issues #291, #907, #980), and that is what we want:
//   loading it and the CUDA libraries behind it costs seconds and ~400 MB at every start-up.
//   `neco_models::device::cuda_available()` dlopens it when a GPU is asked for.

#[allow(dead_code)]
fn emit_libtorch_link_args() {
    use std::path::PathBuf;

    println!("cargo:rerun-if-env-changed=LIBTORCH");
    // The including build.rs may sit one or two folders below the workspace root.
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    if let Some(shared) = manifest.ancestors().map(|d| d.join("build-support/libtorch_rpath.rs")).find(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", shared.display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" && target_os != "macos" {
        return;
    }
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        println!(
            "cargo:warning=LIBTORCH is not set (see .cargo/config.toml / ./setup.sh); \
             no libtorch rpath added"
        );
        return;
    };
    let lib_dir = PathBuf::from(libtorch).join("lib");
    let lib_dir = match lib_dir.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            println!("cargo:warning=cannot resolve libtorch lib dir {}: {e}; run ./setup.sh", lib_dir.display());
            return;
        }
    };
    // Rebuild when the venv (and thus the resolved path) is recreated.
    println!("cargo:rerun-if-changed={}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
}
