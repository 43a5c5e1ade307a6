#![no_main]
// libFuzzer entry of the `bft_message` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::bft_message(data);
});
