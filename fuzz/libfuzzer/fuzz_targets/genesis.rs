#![no_main]
// libFuzzer entry of the `genesis` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::genesis(data);
});
