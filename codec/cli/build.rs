// Adds the libtorch rpath (and CUDA linking) to the `neco` binary and its tests.
include!("../../build-support/libtorch_rpath.rs");

fn main() {
    emit_libtorch_link_args();
}
