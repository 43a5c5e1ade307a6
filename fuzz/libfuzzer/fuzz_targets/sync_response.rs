#![no_main]
// libFuzzer entry of the `sync_response` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::sync_response(data);
});
