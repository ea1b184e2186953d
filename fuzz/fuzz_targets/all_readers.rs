//! Every container reader and entropy decoder on arbitrary bytes.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run all_readers` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    neco_bitstream::fuzz_harness::exercise_all_readers(data);
});
