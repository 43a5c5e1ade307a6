#![no_main]
// libFuzzer entry of the `config` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::config(data);
});
