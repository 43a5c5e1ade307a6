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
    assert!(log.contains("database closed"), "no service keeps the database open at exit: {log}");
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

/// A critical task that panics (or fails) stops the whole node: exit code ≠ 0, the failure
/// named in the log, the database flushed and closed, and a restart finds every block the
/// node reported committed.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_critical_task_stops_the_node_cleanly() {
    for (fault, said) in [("producer:panic", "critical task \"producer\" panicked"), ("metrics:error", "critical task \"metrics\" failed")] {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = ["--dev", "--http.port", "0", "--dev.block-time", "100ms", "--metrics", "127.0.0.1:0", "--datadir"]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.path().display().to_string()])
            .collect();
        let env = [("CPCD_TEST_FAULT", fault), ("CPCD_TEST_FAULT_AFTER_MS", "2000")];
        let mut node = NodeProc::spawn_with_env(&args, &env, dir.path().to_path_buf(), None).unwrap();
        let c = node.client();
        let mut seen = 0u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = node.child.try_wait().unwrap() {
                break s;
            }
            if let Ok(h) = block_number(&c).await {
                seen = seen.max(h);
            }
            assert!(std::time::Instant::now() < deadline, "{fault}: the node kept running:\n{}", node.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        std::thread::sleep(Duration::from_millis(200)); // the log reader drains the pipe
        let log = node.logs();
        assert_ne!(status.code(), Some(0), "{fault}: exit code must say it failed:\n{log}");
        assert!(log.contains(said), "{fault}: the failure is named:\n{log}");
        assert!(log.contains("database closed"), "{fault}: the database is closed on the way out:\n{log}");
        assert!(seen >= 5, "{fault}: the node was producing before the fault ({seen} blocks)");
        let again = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "1h"]).unwrap();
        let c = again.client();
        assert!(block_number(&c).await.unwrap() >= seen, "{fault}: every block it reported is still there");
    }
}

/// A SIGTERM that comes while the node is still starting (opening its database, starting its
/// services) is a clean stop once it is up — exit 0, "stopped cleanly" — never the signal's
/// default action killing it mid-start (the handler used to be installed only when the node
/// began to wait for it, after JSON-RPC was listening). Also with a chain on disk to reopen.
#[test]
fn a_sigterm_during_start_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap();
    for (round, delay_ms) in [(0, 40u64), (1, 80), (2, 150), (3, 40)] {
        let child = std::process::Command::new(cpcd_path())
            .args(["--dev", "--http.port", "0", "--dev.block-time", "0", "--datadir", datadir])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let sent = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "round {round}, TERM after {delay_ms} ms: {:?}\n{log}", out.status);
        assert!(log.contains("stopped cleanly"), "round {round}: {log}");
    }
}
