#![no_main]
// libFuzzer entry of the `gossip_evidence` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::gossip_evidence(data);
});
