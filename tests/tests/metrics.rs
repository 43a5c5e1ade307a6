//! `--metrics`: a real `cpcd --dev` process serving Prometheus metrics, `/health` and `/ready`
//! (docs/OPERATIONS.md, "Metrics").

use cpc_primitives::*;
use cpcd_tests::prom::*;
use cpcd_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);


fn result_payload(worker: &Address, task: &str) -> Payload {
    external_result(worker, task).to_payload()
}

#[test]
fn the_exposition_parser_rejects_what_prometheus_would() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"}\"} 3\n";
    assert_eq!(parse_exposition(ok)[0].labels["k"], "v\\\"}");
    for bad in
        ["a 1\n", "# HELP a x\na 1\n", "# HELP a x\n# TYPE a gauge\na{k=v} 1\n", "# HELP a x\n# TYPE a gauge\na one\n"]
    {
        assert!(std::panic::catch_unwind(|| parse_exposition(bad)).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness_of_a_dev_node() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms", "--metrics", "127.0.0.1:0"]).unwrap();
    let addr = metrics_addr(&node);
    let c = node.client();

    // Operational endpoints.
    assert_eq!(http(&addr, "GET", "/health"), (200, "ok\n".to_string()));
    let (status, body) = http(&addr, "GET", "/ready");
    assert_eq!(status, 200, "a --dev node is ready: {body}");
    assert_eq!(http(&addr, "GET", "/nope").0, 404);
    assert_eq!(http(&addr, "GET", "/").0, 404);
    assert_eq!(http(&addr, "POST", "/metrics").0, 404);
    assert_eq!(http(&addr, "GET", "/metrics?x=1").0, 200, "a query string is ignored");

    // A transfer and a rejected SUBMIT_RESULT (rule 2: worker is not the sender).
    let k = keys();
    let tx = transfer(&k[1], addr_of(&k[2]), 5 * UNITS_PER_CPC, 0);
    let hash = send(&c, &tx).await.unwrap();
    wait_receipt(&c, &hash, WAIT).await.unwrap();
    let bad = submit_result(&k[6], result_payload(&addr_of(&k[7]), "m2"), 0, 80_000);
    let err = send(&c, &bad).await.unwrap_err();
    assert!(err.1.contains("SUBMIT_RESULT rule 2"), "{err:?}");
    wait_height(&c, 3, WAIT).await.unwrap();

    // Exactly the cpc_blockNumber calls made between two scrapes are counted.
    let before = scrape(&addr);
    let n0 =
        value(&before, "cpcd_rpc_requests_total", &[("method", "cpc_blockNumber"), ("result", "ok")]).unwrap_or(0.0);
    const CALLS: u64 = 7;
    for _ in 0..CALLS {
        block_number(&c).await.unwrap();
    }
    // An unknown method is an error under method="other", never its own label.
    assert!(call(&c, "cpc_noSuchMethod", vec![]).await.is_err());
    let s = scrape(&addr);
    let n1 = value(&s, "cpcd_rpc_requests_total", &[("method", "cpc_blockNumber"), ("result", "ok")]).unwrap();
    assert_eq!(n1 - n0, CALLS as f64, "cpc_blockNumber calls counted");
    assert!(value(&s, "cpcd_rpc_request_seconds_count", &[("method", "cpc_blockNumber")]).unwrap() >= CALLS as f64);
    assert_eq!(value(&s, "cpcd_rpc_requests_total", &[("method", "cpc_sendTransaction"), ("result", "ok")]), Some(1.0));
    assert_eq!(
        value(&s, "cpcd_rpc_requests_total", &[("method", "cpc_sendTransaction"), ("result", "error")]),
        Some(1.0)
    );
    assert!(value(&s, "cpcd_rpc_requests_total", &[("method", "other"), ("result", "error")]).unwrap() >= 1.0);
    assert!(!s.iter().any(|x| x.labels.get("method").is_some_and(|m| m == "cpc_noSuchMethod")));

    // Every named series is there, with sensible values.
    for name in [
        "cpcd_info",
        "cpcd_chain_height",
        "cpcd_block_import_seconds_bucket",
        "cpcd_block_transactions_bucket",
        "cpcd_blocks_produced_total",
        "cpcd_evidence_total",
        "cpcd_mempool_transactions",
        "cpcd_peers",
        "cpcd_syncing",
        "cpcd_peer_best_height",
        "cpcd_rpc_requests_total",
        "cpcd_rpc_request_seconds_bucket",
        "cpcd_poc_results_total",
        "cpcd_poc_verify_seconds_bucket",
    ] {
        assert!(has(&s, name), "{name} missing from the scrape");
    }
    let height = value(&s, "cpcd_chain_height", &[]).unwrap();
    assert!(height >= 3.0, "height {height}");
    assert_eq!(value(&s, "cpcd_info", &[("chain_id", CHAIN_ID)]), Some(1.0));
    let produced = value(&s, "cpcd_blocks_produced_total", &[]).unwrap();
    // (A block may be committed between the two reads of one scrape.)
    assert!(produced + 1.0 >= height, "produced {produced} blocks, height {height}");
    let own = value(&s, "cpcd_block_import_seconds_count", &[("source", "own")]).unwrap();
    assert!((own - produced).abs() <= 1.0, "every produced block is timed: {own} vs {produced}");
    assert!(value(&s, "cpcd_block_import_seconds_bucket", &[("source", "own"), ("le", "+Inf")]).unwrap() == own);
    assert!(value(&s, "cpcd_block_transactions_sum", &[]).unwrap() >= 1.0, "the transfer was in a block");
    assert_eq!(value(&s, "cpcd_mempool_transactions", &[("state", "pending")]), Some(0.0));
    assert_eq!(value(&s, "cpcd_mempool_transactions", &[("state", "queued")]), Some(0.0));
    assert_eq!(value(&s, "cpcd_peers", &[]), Some(0.0));
    assert_eq!(value(&s, "cpcd_syncing", &[]), Some(0.0));
    assert_eq!(value(&s, "cpcd_evidence_total", &[]), Some(0.0));
    assert_eq!(value(&s, "cpcd_poc_results_total", &[("result", "rejected"), ("reason", "rule 2")]), Some(1.0));
    assert!(value(&s, "cpcd_poc_verify_seconds_count", &[("stage", "admission")]).unwrap() >= 1.0);

    // The height follows the chain.
    wait_height(&c, height as u64 + 2, WAIT).await.unwrap();
    let later = value(&scrape(&addr), "cpcd_chain_height", &[]).unwrap();
    assert!(later >= height + 2.0, "{later} after {height}");
    assert_eq!(call(&c, "cpc_chainId", vec![]).await.unwrap(), json!(CHAIN_ID));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_miner_and_accepted_results_are_exported() {
    let node = NodeProc::start_dev(
        None,
        &[
            "--dev.block-time",
            "500ms",
            "--mine",
            "--cpu-threads",
            "1",
            "--miner.results-per-tip",
            "2",
            "--metrics",
            "127.0.0.1:0",
        ],
    )
    .unwrap();
    let addr = metrics_addr(&node);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = scrape(&addr);
        let accepted = value(&s, "cpcd_poc_results_total", &[("result", "accepted")]).unwrap_or(0.0);
        let mined = value(&s, "cpcd_miner_results_total", &[("result", "accepted")]).unwrap_or(0.0);
        let tasks = value(&s, "cpcd_miner_tasks_total", &[("device", "cpu0")]).unwrap_or(0.0);
        let built = value(&s, "cpcd_poc_verify_seconds_count", &[("stage", "block_build")]).unwrap_or(0.0);
        if accepted >= 1.0 && mined >= 1.0 && tasks >= 1.0 && built >= 1.0 {
            assert!(has(&s, "cpcd_miner_tasks_per_second"));
            assert!(has(&s, "cpcd_miner_gmac_per_second"));
            assert!(mined <= accepted, "the miner's results go through admission: {mined} > {accepted}");
            // No GPU mines here: no NVML poller, no GPU series.
            assert!(!has(&s, "cpcd_gpu_temperature_celsius"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no mined result in the metrics: accepted {accepted} mined {mined} tasks {tasks} built {built}\n{}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn without_the_flag_nothing_listens() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1s"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!node.logs().contains("metrics listening"), "{}", node.logs());
}

/// Polls `/ready` until it answers `want`; returns the body.
fn wait_ready(addr: &str, want: u16, node: &NodeProc) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(addr, "GET", "/ready");
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/ready stays {status} {body:?}, expected {want}\n{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_node_is_ready_only_with_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 1, 2, "300ms").unwrap();
    // The full node alone: up, but not ready.
    let full = NodeProc::start_datadir(&dirs[1], &["--metrics", "127.0.0.1:0"]).unwrap();
    let addr = metrics_addr(&full);
    assert_eq!(http(&addr, "GET", "/health").0, 200);
    let body = wait_ready(&addr, 503, &full);
    assert!(body.contains("no peers"), "{body:?}");

    // With the validator up, it connects, catches up and becomes ready.
    let validator = NodeProc::start_datadir(&dirs[0], &[]).unwrap();
    wait_height(&full.client(), 5, Duration::from_secs(60)).await.unwrap();
    wait_ready(&addr, 200, &full);
    // Peer heads arrive with status refreshes (every 2 s) and gossip.
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        let s = scrape(&addr);
        if value(&s, "cpcd_peer_best_height", &[]).unwrap() >= 5.0 {
            break s;
        }
        assert!(Instant::now() < deadline, "the best peer height stays below 5");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(value(&s, "cpcd_peers", &[]).unwrap() >= 1.0);
    assert_eq!(value(&s, "cpcd_syncing", &[]), Some(0.0));
    assert!(value(&s, "cpcd_blocks_imported_total", &[("result", "extended")]).unwrap() >= 1.0);
    assert!(value(&s, "cpcd_block_import_seconds_count", &[("source", "peer")]).unwrap() >= 1.0);
    assert_eq!(value(&s, "cpcd_blocks_produced_total", &[]), Some(0.0), "a full node produces nothing");
    assert_eq!(value(&s, "cpcd_block_import_seconds_count", &[("source", "own")]), Some(0.0));

    // Alone again: not ready.
    validator.kill9();
    let body = wait_ready(&addr, 503, &full);
    assert!(body.contains("no peers"), "{body:?}");
}
