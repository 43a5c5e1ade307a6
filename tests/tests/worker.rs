//! A remote CPU worker (`cpcd worker`, a separate process) mines for a dev node over
//! WebSocket and gets paid.

use cpc_primitives::*;
use cpcd_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Heights of `node`'s blocks from `from` on that hold a share of `worker`.
async fn share_heights(c: &jsonrpsee::http_client::HttpClient, worker: &Address, from: u64) -> Vec<u64> {
    let top = block_number(c).await.unwrap();
    let mut out = Vec::new();
    for h in from.max(1)..=top {
        let v = call(c, "cpc_getComputeResults", vec![h.into()]).await.unwrap();
        if v["results"].as_array().unwrap().iter().any(|r| r["result"]["worker_address"] == serde_json::json!(worker.to_string())) {
            out.push(h);
        }
    }
    out
}

async fn wait_for_shares(c: &jsonrpsee::http_client::HttpClient, worker: &Address, from: u64, what: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(h) = share_heights(c, worker, from).await.first() {
            return *h;
        }
        assert!(Instant::now() < deadline, "no share from the worker {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_fails_over_to_the_next_node_and_back() {
    let a_dir = tempfile::tempdir().unwrap();
    let a = NodeProc::start_dev(Some(a_dir.path()), &["--dev.block-time", "500ms", "--ws.port", "0"]).unwrap();
    let b = NodeProc::start_dev(None, &["--dev.block-time", "500ms", "--ws.port", "0"]).unwrap();
    let (ws_a, ws_b) = (ws_url(&a).unwrap(), ws_url(&b).unwrap());
    let port_a = ws_a.rsplit(':').next().unwrap().trim_end_matches('/').to_string();
    let (_guard, ks, pw) = keystore_with(6);
    let me = addr_of(&keys()[6]);
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut worker = Command::new(cpcd_path())
        .args(["worker", "--node", &format!("{ws_a},{ws_b}"), "--miner", &me.to_string(), "--keystore", ks.to_str().unwrap()])
        .args(["--password-file", pw.to_str().unwrap(), "--cpu-threads", "1", "--miner.results-per-tip", "1"])
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let (ca, cb) = (a.client(), b.client());
    // 1. It mines for the first node; the second sees nothing from it.
    wait_for_shares(&ca, &me, 1, "on the first node").await;
    assert!(share_heights(&cb, &me, 1).await.is_empty(), "the second node got shares while the first was up");
    // 2. The first node dies: the worker moves to the second.
    a.kill9();
    wait_for_shares(&cb, &me, 1, "on the second node after the first died").await;
    // 3. The first node is back (same datadir and WebSocket port): the worker returns to it.
    let a = NodeProc::start_dev(Some(a_dir.path()), &["--dev.block-time", "500ms", "--ws.port", &port_a]).unwrap();
    let ca = a.client();
    let restarted_at = block_number(&ca).await.unwrap();
    wait_for_shares(&ca, &me, restarted_at + 1, "on the first node after it came back").await;
    let _ = worker.kill();
    let _ = worker.wait();
    let logs = std::fs::read_to_string(log.path()).unwrap();
    assert!(logs.contains("worker switched node"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_cpu_worker_is_paid() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "500ms", "--ws.port", "0"]).unwrap();
    let c = node.client();
    let ws = ws_url(&node).unwrap();

    // The worker's key (dev account 7) in its own keystore.
    let (_dir, ks, pw) = keystore_with(7);
    let me = addr_of(&keys()[7]);

    let mut worker = Command::new(cpcd_path())
        .args(["worker", "--node", &ws, "--miner", &me.to_string(), "--keystore", ks.to_str().unwrap()])
        .args(["--password-file", pw.to_str().unwrap(), "--cpu-threads", "1", "--miner.results-per-tip", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let paid = 'outer: loop {
        let top = block_number(&c).await.unwrap();
        for h in 1..=top {
            let v = call(&c, "cpc_getComputeResults", vec![h.into()]).await.unwrap();
            for r in v["results"].as_array().unwrap() {
                if r["result"]["worker_address"] == serde_json::json!(me.to_string()) && r["reward"].is_string() {
                    let n = v["results"].as_array().unwrap().iter().filter(|x| x["synthetic"] == true).count();
                    break 'outer (r.clone(), n as u128);
                }
            }
        }
        if Instant::now() > deadline {
            let _ = worker.kill();
            panic!("no paid result from the remote worker: {}", node.logs());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = worker.kill();
    let _ = worker.wait();
    let (paid, n) = paid;
    assert_eq!(paid["synthetic"], true);
    assert!(n >= 1);
    // PROTOCOL v2: a fixed reward per share, (R·30 // 100) // S, whatever else the block holds.
    assert_eq!(paid["reward"], serde_json::json!((10 * UNITS_PER_CPC * 30 / 100 / 8).to_string()), "the share reward");
    // The worker signed its result with its own key.
    let r: ComputeResult = serde_json::from_value(paid["result"].clone()).unwrap();
    let sig = Signature::from_hex(r.signature.as_ref().unwrap()).unwrap();
    keys()[7].public_key().verify_strict(&r.signing_bytes(), &sig).unwrap();
}
