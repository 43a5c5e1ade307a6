//! Proof-of-Compute end to end: the `cpcd poc` commands, `cpcd gpu list` without CUDA, the
//! in-process CPU miner getting paid, and one JSON-RPC rejection per synthetic rule.

use cpc_poc::SynthParams;
use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../primitives/tests/data/protocol-v2.json")).unwrap()
}

fn verify_cmd(tip: &str, n: usize, k: usize, input: &str) -> (i32, String) {
    verify_cmd_with(tip, n, k, input, &[])
}

/// `cpcd poc verify` with extra arguments (e.g. `--target HEX`).
fn verify_cmd_with(tip: &str, n: usize, k: usize, input: &str, extra: &[&str]) -> (i32, String) {
    let mut child = Command::new(cpcd_path())
        .args(["poc", "verify", "--tip", tip, "--size", &n.to_string(), "--k", &k.to_string()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn poc_solve_reproduces_the_vectors_and_verify_judges() {
    for v in vectors()["synthetic"].as_array().unwrap().iter().filter(|v| v["n"].as_u64().unwrap() <= 256) {
        let (n, k) = (v["n"].as_u64().unwrap() as usize, v["k"].as_u64().unwrap() as usize);
        let tip = v["tip_hash"].as_str().unwrap();
        let out = Command::new(cpcd_path())
            .args(["poc", "solve", "--tip", tip, "--worker", v["worker_address"].as_str().unwrap()])
            .args(["--nonce", &v["nonce"].to_string(), "--size", &n.to_string(), "--k", &k.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).unwrap();
        assert_eq!(line.lines().count(), 1, "one line of JSON");
        let got: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(got, v["result"], "n = {n}");

        let (code, msg) = verify_cmd(tip, n, k, &line);
        assert_eq!(code, 0, "{msg}");
        assert!(msg.starts_with("valid"), "{msg}");

        let mut bad = got.clone();
        bad["result_hash"] = json!("00".repeat(32));
        let (code, msg) = verify_cmd(tip, n, k, &bad.to_string());
        assert_eq!(code, 1);
        assert!(msg.contains("result_hash mismatch"), "{msg}");

        let (code, msg) = verify_cmd(&"11".repeat(32), n, k, &line);
        assert_eq!(code, 1);
        assert!(msg.contains("task id mismatch"), "{msg}");

        let (code, msg) = verify_cmd(tip, n, k, "{\"task_id\": 1}");
        assert_eq!(code, 1);
        assert!(msg.starts_with("invalid"), "{msg}");
    }
}

#[test]
fn gpu_list_and_gpu_mining_without_cuda_say_so() {
    if cpc_gpu_present() {
        eprintln!("skipped: a CUDA driver is present on this machine");
        return;
    }
    let out = Command::new(cpcd_path()).args(["gpu", "list"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no CUDA driver found"));
    let out = Command::new(cpcd_path()).args(["--dev", "--http.port", "0", "--mine", "--gpu", "0"]).output().unwrap();
    assert!(!out.status.success(), "mining on a GPU that is not there must fail at start");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no CUDA driver found"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn cpc_gpu_present() -> bool {
    std::path::Path::new("/dev/nvidiactl").exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_miner_results_are_verified_included_and_paid() {
    let node = NodeProc::start_dev(
        None,
        &["--dev.block-time", "500ms", "--mine", "--cpu-threads", "1", "--miner.results-per-tip", "2"],
    )
    .unwrap();
    let c = node.client();
    let deadline = Instant::now() + WAIT;
    let found = loop {
        let h = block_number(&c).await.unwrap();
        let mut hit = None;
        for height in 1..=h {
            let v = call(&c, "cpc_getComputeResults", vec![height.into()]).await.unwrap();
            if !v["results"].as_array().unwrap().is_empty() {
                hit = Some(v);
                break;
            }
        }
        if let Some(v) = hit {
            break v;
        }
        assert!(Instant::now() < deadline, "no block with mined results: {}", node.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let results = found["results"].as_array().unwrap();
    let miner = addr_of(&keys()[0]).to_string();
    // PROTOCOL v2: every share mints (R·30 // 100) // S with R = 10 CPC and S = 8 at height 1.
    let per_share = 10 * UNITS_PER_CPC * 30 / 100 / 8;
    assert_eq!(found["share_reward"], json!(per_share.to_string()));
    assert_eq!(found["shares"], json!(results.len()));
    let height = found["height"].as_u64().unwrap();
    for r in results {
        assert_eq!(r["synthetic"], true);
        assert_eq!(r["result"]["worker_address"], json!(miner));
        assert_eq!(r["reward"], json!(per_share.to_string()), "each share is paid the fixed share reward");
        assert!(r["result"]["signature"].is_string(), "the miner signs its results");
        // The share value, recomputed here, is at most the target of the result's tip.
        let res: ComputeResult = serde_json::from_value(r["result"].clone()).unwrap();
        let mut tip_target = None;
        for h in height.saturating_sub(16)..height {
            let b = call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
            let tip = H256::from_hex(b["hash"].as_str().unwrap()).unwrap();
            if cpc_poc::task_id(&tip, &miner, res.nonce.unwrap()) == res.task_id {
                let t = ShareTarget::from_hex(b["header"]["share_target"].as_str().unwrap()).unwrap();
                let v = cpc_poc::result_share_value(&res, &tip).unwrap();
                assert_eq!(r["share_value"], json!(format!("{v:016x}")));
                tip_target = Some((v, t));
            }
        }
        let (v, t) = tip_target.expect("the result's tip is in the window");
        assert!(v <= t.0, "share value {v:016x} above its tip's target {t}");
    }
    let rs: Vec<ComputeResult> = results.iter().map(|r| serde_json::from_value(r["result"].clone()).unwrap()).collect();
    assert_eq!(found["compute_root"].as_str().unwrap(), compute_root_of_results(&rs).to_text());
    // The worker index agrees with the chain: shares and rewards of every block so far.
    let top = block_number(&c).await.unwrap();
    let (mut shares, mut rewards, mut last) = (0u64, 0u128, None);
    for h in 1..=top {
        let v = call(&c, "cpc_getComputeResults", vec![h.into()]).await.unwrap();
        for r in v["results"].as_array().unwrap() {
            if r["result"]["worker_address"] == json!(miner) && r["reward"].is_string() {
                shares += 1;
                rewards += r["reward"].as_str().unwrap().parse::<u128>().unwrap();
                last = Some(h);
            }
        }
    }
    let w = call(&c, "poc_getWorker", vec![miner.clone().into()]).await.unwrap();
    // The index may have moved on since `top`: compare against what it says of the blocks we read.
    assert!(w["shares"].as_u64().unwrap() >= shares, "{w}");
    if block_number(&c).await.unwrap() == top {
        assert_eq!(w["shares"].as_u64().unwrap(), shares);
        assert_eq!(w["rewards"].as_str().unwrap().parse::<u128>().unwrap(), rewards);
        assert_eq!(w["last_share_height"].as_u64(), last);
    }
    // The network estimate needs shares in a block after the first of its range: wait for one.
    let deadline = Instant::now() + WAIT;
    let stats = loop {
        let stats = call(&c, "poc_networkStats", vec![]).await.unwrap();
        if stats["tasks_per_second"].as_f64().unwrap() > 0.0 {
            break stats;
        }
        assert!(Instant::now() < deadline, "no compute estimate: {stats}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(stats["mean_shares_per_block"].as_f64().unwrap() > 0.0, "{stats}");
    let tops = stats["int8_tops"].as_f64().unwrap();
    let tps = stats["tasks_per_second"].as_f64().unwrap();
    assert!((tops - tps * 2.0 * 1024f64.powi(3) / 1e12).abs() <= 1e-9 * tops.max(1.0), "{stats}");
    assert_eq!(stats["n"], 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn poc_verify_checks_the_share_rule() {
    let v = &vectors()["synthetic"][0];
    let (n, k) = (v["n"].as_u64().unwrap() as usize, v["k"].as_u64().unwrap() as usize);
    let tip = v["tip_hash"].as_str().unwrap();
    let line = v["result"].to_string();
    let value = v["share_value_hex"].as_str().unwrap();
    let verify_with = |target: &str| verify_cmd_with(tip, n, k, &line, &["--target", target]);
    // At the value itself: a share.
    let (code, msg) = verify_with(value);
    assert_eq!(code, 0, "{msg}");
    assert!(msg.contains("a share"), "{msg}");
    // One below: valid work, but not a share.
    let below = format!("{:016x}", u64::from_str_radix(value, 16).unwrap() - 1);
    let (code, msg) = verify_with(&below);
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("rule 6 (share)") && msg.contains("not a share"), "{msg}");
}

// --- one JSON-RPC rejection per synthetic rule ----------------------------------------------

struct Ctx {
    node: NodeProc,
    c: jsonrpsee::http_client::HttpClient,
    p: SynthParams,
}

impl Ctx {
    async fn tip(&self) -> (u64, H256) {
        let h = block_number(&self.c).await.unwrap();
        let b = call(&self.c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
        (h, H256::from_hex(b["hash"].as_str().unwrap()).unwrap())
    }
    async fn nonce(&self, a: &Address) -> u64 {
        call(&self.c, "cpc_getTransactionCount", vec![a.to_string().into()]).await.unwrap().as_u64().unwrap()
    }
    async fn send_result(&self, sk: &SecretKey, r: &ComputeResult) -> Result<String, (i32, String)> {
        let n = self.nonce(&addr_of(sk)).await;
        send(&self.c, &submit_result(sk, r.to_payload(), n, 80_000)).await
    }
}

async fn expect_rule6(ctx: &Ctx, sk: &SecretKey, r: &ComputeResult, want: &str) {
    match ctx.send_result(sk, r).await {
        Ok(h) => panic!("accepted {h}; expected {want:?}"),
        Err((code, msg)) => {
            assert_eq!(code, -32000);
            assert!(msg.contains("SUBMIT_RESULT rule 6") || msg.contains("SUBMIT_RESULT rule 4"), "{msg}");
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn synthetic_rejections_one_per_rule() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "100ms"]).unwrap();
    let ctx = Ctx { c: node.client(), node, p: SynthParams { n: 1024, k: 8 } };
    let k = keys();
    let (w, other) = (&k[1], &k[2]);
    let (_, tip) = ctx.tip().await;
    let me = addr_of(w).to_string();

    // garbage result_hash
    let mut r = cpc_poc::solve(&tip, &me, 0, &ctx.p);
    r.result_hash = "5a".repeat(32);
    expect_rule6(&ctx, w, &r, "does not reach result_hash").await;
    // tampered proof
    let mut r = cpc_poc::solve(&tip, &me, 1, &ctx.p);
    let mut p = r.proof.take().unwrap().into_bytes();
    p[100] = if p[100] == b'a' { b'b' } else { b'a' };
    r.proof = Some(String::from_utf8(p).unwrap());
    expect_rule6(&ctx, w, &r, "does not reach result_hash").await;
    // unknown tip
    let r = cpc_poc::solve(&H256([0x77; 32]), &me, 2, &ctx.p);
    expect_rule6(&ctx, w, &r, "matches no canonical tip").await;
    // someone else's task: another worker's correct result under my address
    let mut r = cpc_poc::solve(&tip, &addr_of(other).to_string(), 3, &ctx.p);
    r.worker_address = me.clone();
    expect_rule6(&ctx, w, &r, "matches no canonical tip").await;
    // duplicate task: the same correct result twice
    let good = cpc_poc::solve(&tip, &me, 4, &ctx.p);
    let h = ctx.send_result(w, &good).await.expect("a correct result is admitted");
    expect_rule6(&ctx, w, &good, "already pending").await;
    let rcpt = wait_receipt(&ctx.c, &h, WAIT).await.unwrap();
    assert_eq!(rcpt["status"], "success");
    expect_rule6(&ctx, w, &good, "already on the chain").await;
    // stale tip: once the chain has moved W = 16 blocks past it
    let (h0, _) = ctx.tip().await;
    let stale_tip = tip;
    let deadline = Instant::now() + WAIT;
    while ctx.tip().await.0 < h0 + 17 {
        assert!(Instant::now() < deadline, "chain did not advance");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = cpc_poc::solve(&stale_tip, &me, 5, &ctx.p);
    expect_rule6(&ctx, w, &r, "matches no canonical tip").await;
    let _ = &ctx.node;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_the_cap_of_synthetic_results_per_block() {
    // A 1 h block time: nothing is built until we have queued more than the cap.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "3s"]).unwrap();
    let c = node.client();
    let p = SynthParams { n: 1024, k: 8 };
    let (h, tip) = {
        let h = block_number(&c).await.unwrap();
        let b = call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
        (h, H256::from_hex(b["hash"].as_str().unwrap()).unwrap())
    };
    let k = keys();
    let mut hashes = Vec::new();
    for i in 0..18u64 {
        let sk = &k[1 + (i % 9) as usize];
        let r = cpc_poc::solve(&tip, &addr_of(sk).to_string(), i, &p);
        hashes.push(send(&c, &submit_result(sk, r.to_payload(), i / 9, 80_000)).await.unwrap());
    }
    let mut per_block = std::collections::BTreeMap::new();
    for hsh in &hashes {
        let r = wait_receipt(&c, hsh, Duration::from_secs(60)).await.unwrap();
        *per_block.entry(r["block_height"].as_u64().unwrap()).or_insert(0) += 1;
    }
    assert!(per_block.keys().all(|b| *b > h));
    assert!(per_block.values().all(|n| *n <= 16), "{per_block:?}");
    assert!(per_block.len() >= 2, "18 results need two blocks: {per_block:?}");
}
