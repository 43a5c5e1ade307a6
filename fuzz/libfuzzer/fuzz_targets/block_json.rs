#![no_main]
// libFuzzer entry of the `block_json` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::block_json(data);
});
