#![no_main]
// libFuzzer entry of the `rpc_params` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::rpc_params(data);
});
