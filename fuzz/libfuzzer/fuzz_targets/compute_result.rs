#![no_main]
// libFuzzer entry of the `compute_result` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::compute_result(data);
});
