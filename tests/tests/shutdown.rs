//! SIGTERM while transactions pour in: the node finishes the block it is writing, exits 0,
//! and every block committed before the signal is there after a restart.

use cpcd_tests::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_loses_no_committed_block() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "0"]).unwrap();
    let url = node.rpc_url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Load: 4 senders submitting transfers as fast as the node takes them.
    let mut load = Vec::new();
    for s in 1..5usize {
        let (url, stop) = (url.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let c = jsonrpsee::http_client::HttpClientBuilder::default().build(&url).unwrap();
            let k = keys();
            let mut sent = Vec::new();
            let mut nonce = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match send(&c, &transfer(&k[s], addr_of(&k[9]), 1, nonce)).await {
                    Ok(h) => {
                        sent.push(h);
                        nonce += 1;
                    }
                    Err(_) => break, // the node is going away
                }
            }
            sent
        }));
    }
    let c = node.client();
    wait_height(&c, 10, Duration::from_secs(30)).await.unwrap();
    // Remember what is committed right before the signal.
    let h_before = block_number(&c).await.unwrap();
    let mut before = Vec::new();
    for h in 1..=h_before {
        before.push(call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap());
    }
    let (code, log) = node.stop().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for t in load {
        sent.extend(t.await.unwrap());
    }
    assert_eq!(code, 0, "clean exit under load: {log}");
    assert!(sent.len() > 100, "the load was real: {} transactions", sent.len());
    let final_height = stopped_height(&log);
    assert!(final_height >= h_before);

    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "1h"]).unwrap();
    let c = node.client();
    assert_eq!(block_number(&c).await.unwrap(), final_height, "restarts at the head it stopped at");
    for (i, b) in before.iter().enumerate() {
        let again: Value = call(&c, "cpc_getBlockByNumber", vec![(i as u64 + 1).into(), false.into()]).await.unwrap();
        assert_eq!(&again, b, "block {} changed or vanished", i + 1);
    }
    // Every transaction in a committed block has its receipt.
    let mut committed = 0;
    for h in 1..=final_height {
        let b = call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
        for t in b["transactions"].as_array().unwrap() {
            let r = call(&c, "cpc_getTransactionReceipt", vec![t.clone()]).await.unwrap();
            assert_eq!(r["block_height"], h);
            committed += 1;
        }
    }
    assert!(committed > 0);
}
