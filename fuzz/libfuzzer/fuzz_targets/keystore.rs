#![no_main]
// libFuzzer entry of the `keystore` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::keystore(data);
});
