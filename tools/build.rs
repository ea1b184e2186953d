// Adds the libtorch rpath (and CUDA linking) to this crate's binaries and tests.
include!("../build-support/libtorch_rpath.rs");

fn main() {
    emit_libtorch_link_args();
}
