//! Reliability under failure (RELIABILITY.md): a short crash soak (the full one is
//! `scripts/crash-soak.sh 100`), and the database faults.

use cpcd_tests::*;

/// Four kill -9 cycles under transfer and result load: nothing the node reported is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_soak_loses_nothing_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let r = soak::crash_soak(&tmp.path().join("node"), 4, 0x5eed, 800, 2_000).await.unwrap();
    assert_eq!(r.kills, 4);
    assert!(r.problems.is_empty() && r.losses == 0, "losses: {:#?}", r.problems);
    assert!(r.receipts_checked > 0, "the soak checked no receipt: the load did not run ({r:?})");
    assert!(r.final_height > 0);
}
