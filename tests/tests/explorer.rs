//! The built-in explorer: served by a real `cpcd --dev` on GET beside JSON-RPC on POST, the API
//! it needs (account history, task lookup) against what the chain committed, and the page
//! itself driven by Playwright in Debian's Chromium against a mining dev node.

use cpc_primitives::*;
use cpcd_tests::prom::http;
use cpcd_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn hostport(node: &NodeProc) -> String {
    node.rpc_url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

fn explorer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../explorer")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_is_served_on_get_and_json_rpc_stays_on_post() {
    let node = NodeProc::start_dev(None, &["--ws.port", "0"]).unwrap();
    let addr = hostport(&node);
    let (status, index) = http(&addr, "GET", "/");
    assert_eq!(status, 200, "GET / under --dev is the explorer: {index}");
    assert!(index.contains("<html") && index.contains("./assets/"), "the page: {index}");
    assert!(!index.contains("http://") && !index.contains("https://"), "nothing fetched from the web: {index}");
    // Every script and style the page names is served, and nothing else lies about.
    for src in index.split('"').filter(|s| s.starts_with("./assets/")) {
        let (s, body) = http(&addr, "GET", &src[1..]);
        assert_eq!(s, 200, "{src}");
        assert!(!body.is_empty(), "{src}");
    }
    assert_eq!(http(&addr, "GET", "/assets/nope.js").0, 404);
    assert_eq!(http(&addr, "GET", "/../Cargo.toml").0, 404);
    // The page learns where to subscribe from the node itself.
    let (s, cfg) = http(&addr, "GET", "/config.json");
    assert_eq!(s, 200);
    let cfg: Value = serde_json::from_str(&cfg).unwrap();
    let ws = ws_url(&node).unwrap();
    let ws_port = ws.rsplit(':').next().unwrap().trim_end_matches('/');
    assert_eq!(cfg["ws"], json!(format!("ws://127.0.0.1:{ws_port}")), "{cfg}");
    assert_eq!(cfg["chain_id"], "cpc-devnet-1");
    // JSON-RPC on the same port, same path.
    let c = node.client();
    assert!(block_number(&c).await.is_ok());

    // --explorer=false: GET / is JSON-RPC's again (which wants POST).
    let off = NodeProc::start_dev(None, &["--explorer=false"]).unwrap();
    let (s, body) = http(&hostport(&off), "GET", "/");
    assert_ne!(s, 200, "no explorer: {body}");
    assert!(!body.contains("<html"), "{body}");
    assert_eq!(http(&hostport(&off), "GET", "/config.json").0, s, "no config either");
    // Without --ws the page is told to poll.
    let no_ws = NodeProc::start_dev(None, &[]).unwrap();
    let cfg: Value = serde_json::from_str(&http(&hostport(&no_ws), "GET", "/config.json").1).unwrap();
    assert_eq!(cfg["ws"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn account_history_and_task_lookup_answer_what_the_chain_committed() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms", "--mine", "--cpu-threads", "1"]).unwrap();
    let c = node.client();
    let k = keys();
    let (a, b, d) = (addr_of(&k[1]), addr_of(&k[2]), addr_of(&k[3]));
    // a sends to b and d in turns, b sends back to a once.
    let mut sent = Vec::new();
    for n in 0..7u64 {
        let to = if n % 2 == 0 { b } else { d };
        sent.push((a, to, send(&c, &transfer(&k[1], to, 1_000 + n as u128, n)).await.unwrap()));
    }
    sent.push((b, a, send(&c, &transfer(&k[2], a, 5, 0)).await.unwrap()));
    // The places the receipts give: the expectation, from another index of the node.
    let mut placed = Vec::new();
    for (from, to, h) in &sent {
        let r = wait_receipt(&c, h, WAIT).await.unwrap();
        assert_eq!(r["status"], "success");
        placed.push((r["block_height"].as_u64().unwrap(), r["index"].as_u64().unwrap(), h.clone(), *from, *to));
    }
    placed.sort_by(|x, y| (y.0, y.1).cmp(&(x.0, x.1)));
    let history = |who: Address| -> Vec<(u64, u64, String)> {
        placed.iter().filter(|p| p.3 == who || p.4 == who).map(|p| (p.0, p.1, p.2.clone())).collect()
    };
    for who in [a, b, d] {
        let page = call(&c, "cpc_getAccountTransactions", vec![who.to_string().into()]).await.unwrap();
        let got: Vec<(u64, u64, String)> = page["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["block_height"].as_u64().unwrap(), t["index"].as_u64().unwrap(), t["tx_hash"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(got, history(who), "history of {who}");
        assert_eq!(page["next"], Value::Null, "one page holds it all");
        // Paged two at a time with `next`: the same list.
        let mut paged = Vec::new();
        let mut before = Value::Null;
        loop {
            let mut params = vec![who.to_string().into(), 2.into()];
            if !before.is_null() {
                params.push(before.clone());
            }
            let page = call(&c, "cpc_getAccountTransactions", params).await.unwrap();
            for t in page["transactions"].as_array().unwrap() {
                paged.push((t["block_height"].as_u64().unwrap(), t["index"].as_u64().unwrap(), t["tx_hash"].as_str().unwrap().to_string()));
            }
            before = page["next"].clone();
            if before.is_null() {
                break;
            }
        }
        assert_eq!(paged, history(who), "paged history of {who}");
    }
    // One entry carries what the explorer shows.
    let first = &call(&c, "cpc_getAccountTransactions", vec![d.to_string().into(), 1.into()]).await.unwrap()["transactions"][0];
    assert_eq!(first["from_address"], json!(a.to_string()));
    assert_eq!(first["to_address"], json!(d.to_string()));
    assert_eq!(first["tx_type"], "TRANSFER");
    assert_eq!(first["amount"], "1005");
    assert_eq!(first["status"], "success");
    // Bad parameters are refused with what was expected.
    let err = call(&c, "cpc_getAccountTransactions", vec![a.to_string().into(), 101.into()]).await.unwrap_err().to_string();
    assert!(err.contains("expected 1 to 100, found 101"), "{err}");
    let err = call(&c, "cpc_getAccountTransactions", vec!["cpc1nope".into()]).await.unwrap_err().to_string();
    assert!(err.contains("address"), "{err}");

    // Task ids: each synthetic result the miner got in is found where the block holds it.
    let deadline = Instant::now() + WAIT;
    let (height, results) = loop {
        let head = block_number(&c).await.unwrap();
        let cr = call(&c, "cpc_getComputeResults", vec![head.into()]).await.unwrap();
        if cr["shares"].as_u64().unwrap_or(0) > 0 {
            break (head, cr["results"].as_array().unwrap().clone());
        }
        assert!(Instant::now() < deadline, "no block with shares within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let worker = call(&c, "miner_status", vec![]).await.unwrap()["worker"].clone();
    // Without proofs: the same answer with every proof null (and far fewer bytes).
    let full = call(&c, "cpc_getComputeResults", vec![height.into()]).await.unwrap();
    let mut light = call(&c, "cpc_getComputeResults", vec![height.into(), false.into()]).await.unwrap();
    assert!(light.to_string().len() * 4 < full.to_string().len(), "proofs are most of the bytes");
    for (l, f) in light["results"].as_array_mut().unwrap().iter_mut().zip(full["results"].as_array().unwrap()) {
        assert_eq!(l["result"]["proof"], Value::Null);
        assert!(f["result"]["proof"].is_string());
        l["result"]["proof"] = f["result"]["proof"].clone();
    }
    assert_eq!(light, full);
    for r in &results {
        let task = r["result"]["task_id"].as_str().unwrap();
        let found = call(&c, "poc_getResultByTask", vec![task.into()]).await.unwrap();
        assert_eq!(found["tx_hash"], r["tx_hash"], "{task}");
        assert_eq!(found["block_height"], json!(height));
        assert_eq!(found["worker_address"], worker);
        let receipt = call(&c, "cpc_getTransactionReceipt", vec![r["tx_hash"].clone()]).await.unwrap();
        assert_eq!(found["index"], receipt["index"]);
        assert_eq!(found["block_hash"], receipt["block_hash"]);
    }
    let unknown = call(&c, "poc_getResultByTask", vec!["00000000-0000-0000-0000-000000000000".into()]).await.unwrap();
    assert_eq!(unknown, Value::Null);
    // The worker's own history lists its results too.
    let w_hist = call(&c, "cpc_getAccountTransactions", vec![worker.clone(), 100.into()]).await.unwrap();
    let listed: Vec<&Value> = w_hist["transactions"].as_array().unwrap().iter().map(|t| &t["tx_hash"]).collect();
    for r in &results {
        assert!(listed.contains(&&r["tx_hash"]), "the worker's history lists {}", r["tx_hash"]);
    }
}

/// Where the browser test writes its screenshots: `$CARGO_TARGET_DIR/explorer-e2e` (next to
/// the test binaries' profile directory), or `EXPLORER_E2E_OUT`.
fn screenshot_dir() -> PathBuf {
    if let Ok(d) = std::env::var("EXPLORER_E2E_OUT") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/explorer-… → target/explorer-e2e
    exe.ancestors().nth(3).unwrap().join("explorer-e2e")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_works_in_a_real_browser_against_a_mining_node() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed (scripts/install-deps.sh installs it: apt-get install chromium)"
    );
    assert!(
        explorer_dir().join("node_modules/playwright-core").is_dir(),
        "explorer/node_modules is missing: run `npm ci --prefix explorer` (make test does)"
    );
    let node = NodeProc::start_dev(None, &["--mine", "--cpu-threads", "1", "--ws.port", "0", "--rpc.calls-per-sec", "0"]).unwrap();
    let c = node.client();
    // The miner starts just after JSON-RPC does: until then miner_status says not mining.
    let deadline = Instant::now() + Duration::from_secs(20);
    let worker = loop {
        let st = call(&c, "miner_status", vec![]).await.unwrap();
        if let Some(w) = st["worker"].as_str() {
            break w.to_string();
        }
        assert!(Instant::now() < deadline, "the miner did not start within 20 s: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A transfer, so that the pages have a transaction that is not a result.
    let k = keys();
    let h = send(&c, &transfer(&k[1], addr_of(&k[2]), 42, 0)).await.unwrap();
    wait_receipt(&c, &h, WAIT).await.unwrap();
    // An attacker's markup in chain data (anyone can name an external task so): the page must
    // show it as text, never run or load it. The image would also be a failed request.
    let markup = external_result(&addr_of(&k[3]), "<img src=x onerror=\"window.__pwned=1\">").to_payload();
    let evil = send(&c, &submit_result(&k[3], markup, 0, 80_000)).await.unwrap();
    wait_receipt(&c, &evil, WAIT).await.unwrap();
    // An open job of the task market (A 3 x 5, B 5 x 4), for the jobs pages.
    let put = |rows: u32, cols: u32, salt: u8| {
        let data: Vec<u8> = (0..rows * cols).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect();
        let root = cpc_primitives::blob::Blob::new(cpc_primitives::blob::BlobKind::Int8, rows, cols, data.clone()).unwrap().root();
        (root.to_hex(), serde_json::json!(["int8", rows, cols, hex::encode(data)]))
    };
    let (a_root, a) = put(3, 5, 1);
    let (b_root, b) = put(5, 4, 2);
    for p in [a, b] {
        call(&c, "job_putBlob", p.as_array().unwrap().clone()).await.unwrap();
    }
    let head = block_number(&c).await.unwrap();
    let payload = serde_json::json!({"m": 3, "k": 5, "n": 4, "a_root": a_root, "b_root": b_root, "bond": "1000",
        "claim_blocks": 10, "deadline": head + 100_000, "retention": 10});
    let post = staking_tx(CHAIN_ID, &k[4], TxType::PostJob, None, 7 * UNITS_PER_CPC, 0, Payload::from_map(payload.as_object().unwrap().clone()).unwrap());
    let job = send(&c, &post).await.unwrap();
    wait_receipt(&c, &job, WAIT).await.unwrap();
    let out = screenshot_dir();
    std::fs::create_dir_all(&out).unwrap();
    let url = node.rpc_url.trim_end_matches('/').to_string() + "/";
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(explorer_dir().join("e2e/run.mjs")).arg(&url).arg(&out).arg(&worker).arg(&evil).arg(&job).output()
    })
    .await
    .unwrap()
    .expect("running node explorer/e2e/run.mjs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    println!("{text}");
    assert!(run.status.success(), "the browser test failed:\n{text}\nnode log:\n{}", node.logs());
    let shots = std::fs::read_dir(screenshot_dir()).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "png")).count();
    assert!(shots >= 14, "a screenshot of each page at both sizes, found {shots} in {}", screenshot_dir().display());
}

/// The page while its node is killed and restarted: the banner says so, and the page recovers
/// by itself once the node is back (no reload), the head moving on.
#[tokio::test(flavor = "multi_thread")]
async fn the_explorer_says_when_its_node_is_down_and_recovers_when_it_returns() {
    use std::io::{BufRead, BufReader};
    assert!(explorer_dir().join("node_modules/playwright-core").is_dir(), "run `npm ci --prefix explorer` (make test does)");
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().to_str().unwrap().to_string();
    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "500ms"]).unwrap();
    let port = hostport(&node).rsplit(':').next().unwrap().to_string();
    let url = node.rpc_url.trim_end_matches('/').to_string() + "/";
    let mut page = Command::new("node")
        .arg(explorer_dir().join("e2e/down.mjs"))
        .arg(&url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running node explorer/e2e/down.mjs");
    let mut lines = BufReader::new(page.stdout.take().unwrap()).lines();
    let mut next_line = move || lines.next().and_then(|l| l.ok()).unwrap_or_default();
    let watching = tokio::task::block_in_place(&mut next_line);
    assert!(watching.starts_with("watching "), "{watching}");
    node.kill9();
    let down = tokio::task::block_in_place(&mut next_line);
    assert!(down.starts_with("down "), "the page did not say the node is down: {down}");
    // The same chain back on the same port.
    let args: Vec<String> =
        ["--dev", "--datadir", &datadir, "--dev.block-time", "500ms", "--http.port", &port].iter().map(|s| s.to_string()).collect();
    let back = NodeProc::spawn(&args, PathBuf::from(&datadir), None).unwrap();
    let line = tokio::task::block_in_place(&mut next_line);
    let status = page.wait().unwrap();
    assert!(line.starts_with("back ") && status.success(), "the page did not recover: {line} ({status}); node log:\n{}", back.logs());
}

fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((p.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The node embeds the committed `explorer/dist`; it must be what the sources build to, so
/// that nobody reviews one thing and ships another.
#[test]
fn the_committed_explorer_build_is_the_build_of_its_sources() {
    let dir = explorer_dir();
    assert!(dir.join("node_modules/vite").is_dir(), "explorer/node_modules is missing: run `npm ci --prefix explorer` (make test does)");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("npm")
        .current_dir(&dir)
        .args(["run", "build", "--", "--outDir"])
        .arg(tmp.path())
        .output()
        .expect("running npm run build");
    assert!(out.status.success(), "npm run build failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let built = files_under(tmp.path());
    let committed = files_under(&dir.join("dist"));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&committed), names(&built), "explorer/dist is stale: run `npm run build` in explorer/ and commit dist/");
    for ((name, a), (_, b)) in committed.iter().zip(&built) {
        assert!(a == b, "explorer/dist/{name} differs from the build of the sources: run `npm run build` in explorer/ and commit dist/");
    }
    assert!(!committed.is_empty());
}

/// The status line's code of a raw HTTP/1.1 request with the given extra header lines.
fn raw_status(addr: &str, request_line: &str, headers: &[&str], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{request_line}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    // Enough for the status line and a short body (a 101 keeps the socket open).
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(4).any(|w| w == b"\r\n\r\n") && (got.starts_with(b"HTTP/1.1 101") || got.len() > 200) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// A web page the operator visits must not use the node: not by DNS rebinding (its own name
/// resolving to 127.0.0.1, which makes it same-origin with the explorer and JSON-RPC) and not
/// by opening a WebSocket to it from its own origin. Without the Host and Origin rules both
/// requests below are answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_site_cannot_use_the_node() {
    let node = NodeProc::start_dev(None, &["--ws.port", "0"]).unwrap();
    let http = hostport(&node);
    let ws = ws_url(&node).unwrap().trim_start_matches("ws://").trim_end_matches('/').to_string();
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"cpc_blockNumber","params":[]}"#;
    let json = "Content-Type: application/json";
    // Rebinding: the browser names the attacker's host.
    for (line, body) in [("POST / HTTP/1.1", call), ("GET / HTTP/1.1", "")] {
        let (code, text) = raw_status(&http, line, &["Host: evil.example:8545", json], body);
        assert_eq!(code, 403, "{line} with a rebound Host: {text}");
        assert!(text.contains("--http.vhosts"), "{text}");
        let (code, text) = raw_status(&http, line, &[&format!("Host: {http}"), json], body);
        assert_eq!(code, 200, "{line} by address: {text}");
        let (code, _) = raw_status(&http, line, &["Host: localhost", json], body);
        assert_eq!(code, 200, "{line} by localhost");
    }
    // A WebSocket opened by another site's page, and one by the explorer's own page.
    let upgrade = |origin: &str| {
        let o = format!("Origin: {origin}");
        let h = format!("Host: {ws}");
        raw_status(
            &ws,
            "GET / HTTP/1.1",
            &[&h, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", &o],
            "",
        )
    };
    let (code, text) = upgrade("https://evil.example");
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("--ws.origins"), "{text}");
    let (code, text) = upgrade(&format!("http://{http}"));
    assert_eq!(code, 101, "the explorer's own page: {text}");
    // A remote worker names the WebSocket server as it likes (and sends no Origin).
    let h = "Host: node.example:8546".to_string();
    let (code, text) = raw_status(
        &ws,
        "GET / HTTP/1.1",
        &[&h, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"],
        "",
    );
    assert_eq!(code, 101, "a worker by name: {text}");
    // The operator can allow a dashboard of its own.
    let open = NodeProc::start_dev(None, &["--ws.port", "0", "--ws.origins", "evil.example", "--http.vhosts", "node.example"]).unwrap();
    let ws2 = ws_url(&open).unwrap().trim_start_matches("ws://").trim_end_matches('/').to_string();
    let (code, text) = raw_status(
        &ws2,
        "GET / HTTP/1.1",
        &[&format!("Host: {ws2}"), "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "Origin: https://evil.example"],
        "",
    );
    assert_eq!(code, 101, "{text}");
    let (code, text) = raw_status(&hostport(&open), "POST / HTTP/1.1", &["Host: node.example", json], call);
    assert_eq!(code, 200, "{text}");
}
