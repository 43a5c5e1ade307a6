#![no_main]
// libFuzzer entry of the `tx_json` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::tx_json(data);
});
