//! `--metrics`: a real `cpcd --dev` process serving Prometheus metrics, `/health` and `/ready`
//! (docs/OPERATIONS.md, "Metrics").

use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The metrics address (`127.0.0.1:PORT`) from the node's log line
/// `metrics listening on http://…`.
fn metrics_addr(node: &NodeProc) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = node.logs();
        if let Some(i) = logs.find("metrics listening on http://") {
            let rest = &logs[i + "metrics listening on http://".len()..];
            return rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no metrics address in the log:\n{logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw HTTP/1.1 request; returns (status, body).
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {resp:?}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Bodies here are small: hyper sends them with Content-Length, not chunked.
    (status, body.to_string())
}

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format: every non-comment line is
/// `name{label="value",…} value`, and every sample's family has a HELP and a TYPE line before it.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut help = HashMap::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or_else(|| panic!("bad HELP line {line:?}"));
            assert!(!h.trim().is_empty(), "empty help text: {line:?}");
            help.insert(name.to_string(), h.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "type {t:?} in {line:?}");
            types.insert(name.to_string(), t.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = &line[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let close = r.rfind('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            let mut body = &r[..close];
            rest = &r[close + 1..];
            while !body.is_empty() {
                let (k, v) = body.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name {k:?} in {line:?}");
                // The value runs to the next unescaped quote.
                let mut end = None;
                let mut escaped = false;
                for (i, c) in v.char_indices() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
                labels.insert(k.to_string(), v[..end].to_string());
                body = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
            }
        }
        let value = rest.trim();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| types.get(*b).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        assert!(help.contains_key(family), "{name} has no HELP line");
        assert!(types.contains_key(family), "{name} has no TYPE line");
        out.push(Sample { name: name.to_string(), labels, value });
    }
    out
}

fn scrape(addr: &str) -> Vec<Sample> {
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    parse_exposition(&body)
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|s| s.name == name)
}

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
