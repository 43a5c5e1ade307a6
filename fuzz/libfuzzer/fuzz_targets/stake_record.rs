#![no_main]
// libFuzzer entry of the `stake_record` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::stake_record(data);
});
