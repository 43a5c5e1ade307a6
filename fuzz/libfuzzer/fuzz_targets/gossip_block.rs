#![no_main]
// libFuzzer entry of the `gossip_block` target (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cpc_fuzz::gossip_block(data);
});
