//! The task market with real processes (docs/MARKET.md): a user posts a 512 × 1024 × 512 job
//! with `cpcd job post` from `.npy` files, a `cpcd worker --jobs` process claims, computes
//! and is paid, and `cpcd job fetch` returns a C equal to the product computed here by a plain
//! loop; then the attacks: a worker that did not claim cannot submit, a C with one wrong entry
//! is refused and costs its worker nothing, a lapsed claim forfeits its bond, a passed
//! deadline refunds the poster. On four validators the blobs travel: each node fetches a
//! gossiped job transaction's data from its peers before admitting it. A node's own miner
//! (`--mine --jobs`) takes jobs too.

use cpc_primitives::blob::Blob;
use cpc_primitives::*;
use cpc_wallet::npy::{self, Dtype, Matrix};
use cpcd_tests::*;
use serde_json::{json, Value};
use jsonrpsee::core::client::{Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CPC: u128 = UNITS_PER_CPC;
/// Blocks the four-validator job's data is kept after it is paid (300 ms blocks).
const RETENTION: u64 = 20;

fn matrix(rows: usize, cols: usize, salt: u64) -> Vec<i8> {
    let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..rows * cols)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8 as i8
        })
        .collect()
}

/// C = A · B by the textbook loop (not the code under test).
fn product(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for t in 0..k {
            let x = a[i * k + t] as i32;
            for j in 0..n {
                c[i * n + j] += x * b[t * n + j] as i32;
            }
        }
    }
    c
}

fn payload(v: Value) -> Payload {
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

async fn job(c: &jsonrpsee::http_client::HttpClient, id: &str) -> Value {
    call(c, "job_getJob", vec![id.into()]).await.unwrap()
}

async fn wait_job(c: &jsonrpsee::http_client::HttpClient, id: &str, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = job(c, id).await;
        if j["status"] == status {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} not {status} within {secs} s: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn put(c: &jsonrpsee::http_client::HttpClient, b: &Blob) -> String {
    let kind = if b.kind == cpc_primitives::blob::BlobKind::Int8 { "int8" } else { "int32" };
    let v = call(c, "job_putBlob", vec![kind.into(), b.rows.into(), b.cols.into(), hex::encode(&b.data).into()]).await.unwrap();
    assert_eq!(v["root"], json!(b.root().to_hex()));
    b.root().to_hex()
}

async fn nonce(c: &jsonrpsee::http_client::HttpClient, a: &Address) -> u64 {
    call(c, "cpc_getTransactionCount", vec![a.to_string().into()]).await.unwrap().as_u64().unwrap()
}

fn tx(sk: &SecretKey, t: TxType, amount: u128, nonce: u64, p: Payload) -> Transaction {
    tx_on(CHAIN_ID, sk, t, amount, nonce, p)
}

fn tx_on(chain: &str, sk: &SecretKey, t: TxType, amount: u128, nonce: u64, p: Payload) -> Transaction {
    UnsignedTx::at_intrinsic_gas(chain, t, addr_of(sk), None, amount, nonce, 1000, p).sign(sk)
}

fn job_result(sk: &SecretKey, id: &str, root: &str, nonce: u64) -> Transaction {
    job_result_on(CHAIN_ID, sk, id, root, nonce)
}

fn job_result_on(chain: &str, sk: &SecretKey, id: &str, root: &str, nonce: u64) -> Transaction {
    let r = ComputeResult {
        task_id: format!("job:{id}"),
        worker_address: addr_of(sk).to_string(),
        result_hash: root.into(),
        proof: None,
        nonce: None,
        signature: None,
    };
    UnsignedTx::submit_result(chain, addr_of(sk), &r, nonce, 1000).sign(sk)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_job_is_computed_by_a_worker_paid_and_fetched() {
    let (m, k, n) = (512usize, 1024usize, 512usize);
    let node = NodeProc::start_dev(None, &["--dev.block-time", "500ms", "--ws.port", "0", "--metrics", "127.0.0.1:0"]).unwrap();
    let c = node.client();
    // A subscriber of every job event, and one of another job only (it hears nothing).
    let ws = WsClientBuilder::default().build(ws_url(&node).unwrap()).await.unwrap();
    let mut events: Subscription<Value> =
        ws.subscribe("cpc_subscribe", rpc_params!["jobEvents"], "cpc_unsubscribe").await.unwrap();
    let mut other: Subscription<Value> = ws
        .subscribe("cpc_subscribe", rpc_params!["jobEvents", json!({"job_id": "ab".repeat(32)})], "cpc_unsubscribe")
        .await
        .unwrap();
    let bad = ws.subscribe::<Value, _>("cpc_subscribe", rpc_params!["jobEvents", json!({"job": "x"})], "cpc_unsubscribe").await;
    assert!(format!("{:?}", bad.unwrap_err()).contains("unknown filter field"), "a bad filter is refused");
    let files = tempfile::tempdir().unwrap();
    let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
    let (fa, fb, fc) = (files.path().join("a.npy"), files.path().join("b.npy"), files.path().join("c.npy"));
    std::fs::write(&fa, npy::write(&Matrix { dtype: Dtype::I8, rows: m, cols: k, data: a.iter().map(|x| *x as u8).collect() })).unwrap();
    std::fs::write(&fb, npy::write(&Matrix { dtype: Dtype::I8, rows: k, cols: n, data: b.iter().map(|x| *x as u8).collect() })).unwrap();

    // The user posts it with the CLI.
    let (_user_dir, user_ks, user_pw) = keystore_with(1);
    let user = addr_of(&keys()[1]);
    let user_before = balance(&c, &user).await.unwrap();
    let out = Command::new(cpcd_path())
        .args(["job", "post", "--node", &node.rpc_url.clone(), "--from", &user.to_string()])
        .args(["--a", fa.to_str().unwrap(), "--b", fb.to_str().unwrap(), "--price", "100cpc", "--bond", "2cpc"])
        .args(["--claim-blocks", "120", "--deadline-blocks", "600", "--keystore", user_ks.to_str().unwrap()])
        .args(["--password-file", user_pw.to_str().unwrap(), "--wait"])
        .output()
        .unwrap();
    assert!(out.status.success(), "job post: {}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().trim().to_string();
    let posted = wait_job(&c, &id, "open", 10).await;
    assert_eq!((posted["m"].as_u64(), posted["k"].as_u64(), posted["n"].as_u64()), (Some(512), Some(1024), Some(512)));
    let params = call(&c, "job_getParams", vec![]).await.unwrap();
    let escrow: Address = params["escrow_address"].as_str().unwrap().parse().unwrap();
    assert_eq!(balance(&c, &escrow).await.unwrap(), 100 * CPC);
    // 1 MiB of inputs is under the 8 MiB target: the fee stays at its floor, and the job paid
    // it for A, B and the C to come.
    assert_eq!(params["excess_blob_bytes"], json!(0));
    assert_eq!(params["next_blob_fee_per_byte"], params["blob_fee_per_byte"]);
    let floor: u128 = params["blob_fee_per_byte"].as_str().unwrap().parse().unwrap();
    let bytes = (512 * 1024 + 1024 * 512 + 4 * 512 * 512) as u128;
    assert_eq!(posted["blob_fee"], json!((bytes * floor).to_string()));
    assert!(user_before - balance(&c, &user).await.unwrap() >= 100 * CPC, "the price left the poster's balance");

    // A worker process claims, computes and submits.
    let (_w_dir, w_ks, w_pw) = keystore_with(6);
    let w = addr_of(&keys()[6]);
    let mut worker = Command::new(cpcd_path())
        .args(["worker", "--jobs", "--node", &ws_url(&node).unwrap(), "--miner", &w.to_string()])
        .args(["--keystore", w_ks.to_str().unwrap(), "--password-file", w_pw.to_str().unwrap(), "--cpu-threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done = wait_job(&c, &id, "done", 120).await;
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(done["claimant"], json!(w.to_string()));
    assert_eq!(balance(&c, &escrow).await.unwrap(), 0, "price and bond left the escrow");
    // The result's transaction paid the worker price - fee + bond (its receipt names it).
    let r = call(&c, "poc_getResultByTask", vec![format!("job:{id}").into()]).await.unwrap();
    assert_eq!(r["worker_address"], json!(w.to_string()));

    // The subscriber heard the job's life in order, each event in the block that made it.
    let mut heard = Vec::new();
    while heard.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("a job event").unwrap().unwrap();
        heard.push(e);
    }
    let kinds: Vec<&str> = heard.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["posted", "claimed", "done"], "{heard:?}");
    assert!(heard.iter().all(|e| e["job_id"] == json!(id)), "{heard:?}");
    assert_eq!(heard[0]["by"], json!(user.to_string()));
    assert_eq!((&heard[1]["by"], &heard[2]["by"]), (&json!(w.to_string()), &json!(w.to_string())));
    assert_eq!(heard[0]["tx_hash"], json!(id), "the job id is its POST_JOB's hash");
    assert_eq!(heard[2]["block_height"], done["closed_height"]);
    for e in &heard {
        let receipt = call(&c, "cpc_getTransactionReceipt", vec![e["tx_hash"].clone()]).await.unwrap();
        assert_eq!((&receipt["block_height"], &receipt["block_hash"]), (&e["block_height"], &e["block_hash"]), "{e}");
    }
    assert!(tokio::time::timeout(Duration::from_millis(500), other.next()).await.is_err(), "the other job's subscriber heard nothing");
    let samples = prom::scrape(&prom::metrics_addr(&node));
    for (event, n) in [("posted", 1.0), ("claimed", 1.0), ("done", 1.0), ("expired", 0.0)] {
        assert_eq!(prom::value(&samples, "cpcd_market_jobs_total", &[("event", event)]), Some(n), "{event}");
    }
    assert!(prom::value(&samples, "cpcd_market_blob_bytes", &[]).unwrap() >= (m * k + k * n + 4 * m * n) as f64);

    // The user fetches C (`cpcd job result` = `job fetch --part c`): it is the product.
    let out = Command::new(cpcd_path())
        .args(["job", "result", &id, "--out", fc.to_str().unwrap(), "--node", &node.rpc_url.clone()])
        .output()
        .unwrap();
    assert!(out.status.success(), "job result: {}", String::from_utf8_lossy(&out.stderr));
    let got = npy::parse(&std::fs::read(&fc).unwrap()).unwrap();
    assert_eq!((got.dtype, got.rows, got.cols), (Dtype::I32, m, n));
    assert!(got.i32s() == product(&a, &b, m, k, n), "the fetched C is not A·B");
}

#[tokio::test(flavor = "multi_thread")]
async fn thieves_forgers_lapsed_claims_and_passed_deadlines() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "300ms"]).unwrap();
    let c = node.client();
    let ks = keys();
    let (poster, claimant, thief) = (&ks[1], &ks[3], &ks[4]);
    let (m, k, n) = (16usize, 40usize, 8usize);
    let (a, b) = (matrix(m, k, 7), matrix(k, n, 8));
    let a_root = put(&c, &Blob::from_i8(m as u32, k as u32, &a).unwrap()).await;
    let b_root = put(&c, &Blob::from_i8(k as u32, n as u32, &b).unwrap()).await;
    let head = block_number(&c).await.unwrap();
    let bond = 3 * CPC;
    let post = |claim_blocks: u64, deadline: u64, nonce: u64| {
        tx(poster, TxType::PostJob, 10 * CPC, nonce, payload(json!({"m": m, "k": k, "n": n, "a_root": a_root, "b_root": b_root,
            "bond": bond.to_string(), "claim_blocks": claim_blocks, "deadline": deadline, "retention": 10})))
    };
    let p0 = nonce(&c, &addr_of(poster)).await;
    let job1 = post(6, head + 400, p0);
    let job2 = post(6, head + 60, p0 + 1);
    send(&c, &job1).await.unwrap();
    send(&c, &job2).await.unwrap();
    let (id1, id2) = (job1.hash().to_hex(), job2.hash().to_hex());
    wait_receipt(&c, &id2, Duration::from_secs(10)).await.unwrap();
    let poster_before = balance(&c, &addr_of(poster)).await.unwrap();
    // The open jobs page by page in posting order, each page after the last id of the one before.
    let ids = |v: Value| v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(call(&c, "job_getOpenJobs", vec![]).await.unwrap()), [id1.clone(), id2.clone()]);
    assert_eq!(ids(call(&c, "job_getOpenJobs", vec![1.into()]).await.unwrap()), [id1.clone()]);
    assert_eq!(ids(call(&c, "job_getOpenJobs", vec![1.into(), id1.clone().into()]).await.unwrap()), [id2.clone()]);
    assert!(ids(call(&c, "job_getOpenJobs", vec![1.into(), id2.clone().into()]).await.unwrap()).is_empty());
    let err = call(&c, "job_getOpenJobs", vec![1.into(), "ab".repeat(32).into()]).await.unwrap_err().to_string();
    assert!(err.contains("names none"), "{err}");

    // A POST_JOB whose inputs the node does not hold is refused at once.
    let missing = tx(poster, TxType::PostJob, CPC, p0 + 2, payload(json!({"m": 2, "k": 2, "n": 2, "a_root": "ab".repeat(32),
        "b_root": b_root, "bond": "1", "claim_blocks": 5, "deadline": head + 100, "retention": 10})));
    let (_, msg) = send(&c, &missing).await.unwrap_err();
    assert!(msg.contains("not held by this node"), "{msg}");

    // The claimant claims job 1.
    let cl = tx(claimant, TxType::ClaimJob, bond, nonce(&c, &addr_of(claimant)).await, payload(json!({"job_id": id1})));
    send(&c, &cl).await.unwrap();
    let claimed = wait_job(&c, &id1, "claimed", 10).await;
    let until = claimed["claim_until"].as_u64().unwrap();
    let right = Blob::from_i32(m as u32, n as u32, &product(&a, &b, m, k, n)).unwrap();
    let right_root = put(&c, &right).await;

    // 1. Someone who did not claim it cannot submit even the right C.
    let (_, msg) = send(&c, &job_result(thief, &id1, &right_root, nonce(&c, &addr_of(thief)).await)).await.unwrap_err();
    assert!(msg.contains("only the claimant may submit"), "{msg}");

    // 2. A C with one wrong entry is refused, and the claimant pays nothing for it.
    let mut wrong = product(&a, &b, m, k, n);
    wrong[5 * n + 3] += 1;
    let wrong_root = put(&c, &Blob::from_i32(m as u32, n as u32, &wrong).unwrap()).await;
    let before = balance(&c, &addr_of(claimant)).await.unwrap();
    let (_, msg) = send(&c, &job_result(claimant, &id1, &wrong_root, nonce(&c, &addr_of(claimant)).await)).await.unwrap_err();
    assert!(msg.contains("Freivalds"), "{msg}");
    assert_eq!(balance(&c, &addr_of(claimant)).await.unwrap(), before);
    assert_eq!(job(&c, &id1).await["status"], "claimed");

    // 3. The claim lapses: the bond goes to the treasury and the job reopens.
    wait_height(&c, until + 1, Duration::from_secs(30)).await.unwrap();
    let reopened = wait_job(&c, &id1, "open", 10).await;
    assert_eq!(reopened["claims"], 1);
    assert_eq!(balance(&c, &addr_of(claimant)).await.unwrap(), before, "the bond stays forfeited");
    // A result without a live claim may wait in the pool (a claim of its sender might be on
    // its way) but is never included.
    let late = job_result(claimant, &id1, &right_root, nonce(&c, &addr_of(claimant)).await);
    let _ = send(&c, &late).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(call(&c, "cpc_getTransactionReceipt", vec![late.hash().to_hex().into()]).await.unwrap().is_null());

    // 4. Job 2 was never claimed: at its deadline the poster gets the price back.
    wait_job(&c, &id2, "expired", 30).await;
    assert_eq!(balance(&c, &addr_of(poster)).await.unwrap(), poster_before + 10 * CPC);
    let escrow: Address = call(&c, "job_getParams", vec![]).await.unwrap()["escrow_address"].as_str().unwrap().parse().unwrap();
    assert_eq!(balance(&c, &escrow).await.unwrap(), 10 * CPC, "only job 1's price is still escrowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_four_validators_a_worker_is_paid_and_the_data_travels_then_is_pruned_after_retention() {
    let (m, k, n) = (512usize, 1024usize, 512usize);
    let dir = tempfile::tempdir().unwrap();
    // Four validators and a full node that starts only once the job is paid.
    let dirs = testnet_init_with(dir.path(), 4, 5, "300ms", &["--market"]).unwrap();
    // Node 2 serves WebSocket for the worker.
    let nodes: Vec<NodeProc> = dirs[..4]
        .iter()
        .enumerate()
        .map(|(i, d)| NodeProc::start_datadir(d, if i == 2 { &["--ws.port", "0"] } else { &[] }).unwrap())
        .collect();
    let cs: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &cs {
        wait_height(c, 2, Duration::from_secs(60)).await.unwrap();
    }
    let ks = keys();
    let (poster, worker) = (&ks[1], &ks[6]);
    let (a, b) = (matrix(m, k, 11), matrix(k, n, 12));
    // The poster hands A and B to node 0 only and posts there.
    let a_root = put(&cs[0], &Blob::from_i8(m as u32, k as u32, &a).unwrap()).await;
    let b_root = put(&cs[0], &Blob::from_i8(k as u32, n as u32, &b).unwrap()).await;
    let head = block_number(&cs[0]).await.unwrap();
    let post = tx_on(TESTNET_CHAIN_ID, poster, TxType::PostJob, 50 * CPC, nonce(&cs[0], &addr_of(poster)).await, payload(json!({
        "m": m, "k": k, "n": n, "a_root": a_root, "b_root": b_root, "bond": (2 * CPC).to_string(),
        "claim_blocks": 200, "deadline": head + 1000, "retention": RETENTION})));
    send(&cs[0], &post).await.unwrap();
    let id = post.hash().to_hex();
    for c in &cs {
        wait_job(c, &id, "open", 60).await;
    }
    // Every node now holds the inputs (fetched from its peers before admitting the gossiped
    // POST_JOB, or before voting on the block that holds it).
    for (i, c) in cs.iter().enumerate() {
        let blob = call(c, "job_getBlob", vec![a_root.clone().into()]).await.unwrap();
        assert!(!blob.is_null(), "node {i} does not hold A");
    }
    // A CPU worker process talks to node 2 only: claims, fetches A and B, computes, hands C
    // to node 2 and submits there.
    let (_w_dir, w_ks, w_pw) = keystore_with(6);
    let mut worker_proc = Command::new(cpcd_path())
        .args(["worker", "--jobs", "--node", &ws_url(&nodes[2]).unwrap(), "--miner", &addr_of(worker).to_string()])
        .args(["--keystore", w_ks.to_str().unwrap(), "--password-file", w_pw.to_str().unwrap(), "--cpu-threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let want = product(&a, &b, m, k, n);
    let c_root = Blob::from_i32(m as u32, n as u32, &want).unwrap().root().to_hex();
    let mut roots = Vec::new();
    for c in &cs {
        let done = wait_job(c, &id, "done", 120).await;
        assert_eq!(done["claimant"], json!(addr_of(worker).to_string()));
        assert_eq!(done["result_root"], json!(c_root), "the worker's C is A·B");
        roots.push(call(c, "cpc_getBlockByNumber", vec![json!(done["closed_height"]), false.into()]).await.unwrap()["header"]["state_root"].clone());
    }
    let _ = worker_proc.kill();
    let _ = worker_proc.wait();
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "the nodes disagree on the state after the payment: {roots:?}");
    // Node 0 never got C from the worker: it fetched it, and it is the product.
    let got = call(&cs[0], "job_getBlob", vec![c_root.clone().into()]).await.unwrap();
    let bytes = hex::decode(got["data"].as_str().expect("node 0 holds C")).unwrap();
    let c0: Vec<i32> = bytes.chunks_exact(4).map(|x| i32::from_le_bytes(x.try_into().unwrap())).collect();
    assert!(c0 == want, "node 0's C is not A·B");
    // Retention: through closed + RETENTION every node keeps A, B and C; after it each one
    // prunes them and says so.
    let closed = job(&cs[0], &id).await["closed_height"].as_u64().unwrap();
    for c in &cs {
        wait_height(c, closed + RETENTION, Duration::from_secs(60)).await.unwrap();
    }
    for c in &cs {
        wait_height(c, closed + RETENTION + 2, Duration::from_secs(60)).await.unwrap();
        for root in [&a_root, &b_root, &c_root] {
            let e = call(c, "job_getBlob", vec![root.clone().into()]).await.unwrap_err().to_string();
            assert!(e.contains("was pruned at height"), "{e}");
        }
    }
    // The chain still validates without them: a validator restarted after pruning rejoins
    // (opening checks its state), and a node that syncs later finds no one holding the
    // job's data, takes the decided blocks' certificates for it, and reaches the same state.
    let mut nodes = nodes;
    let (code, _) = nodes.remove(1).stop().unwrap();
    assert_eq!(code, 0, "node 1 stops cleanly");
    nodes.insert(1, NodeProc::start_datadir(&dirs[1], &[]).unwrap());
    let late = NodeProc::start_datadir(&dirs[4], &[]).unwrap();
    let cl = late.client();
    let top = block_number(&cs[0]).await.unwrap();
    for c in [&cl, &nodes[1].client()] {
        wait_height(c, top + 2, Duration::from_secs(90)).await.unwrap();
        assert_eq!(job(c, &id).await["status"], "done");
        let root = call(c, "cpc_getBlockByNumber", vec![closed.into(), false.into()]).await.unwrap()["header"]["state_root"].clone();
        assert_eq!(root, roots[0]);
        let head = call(c, "cpc_getBlockByNumber", vec![top.into(), false.into()]).await.unwrap()["hash"].clone();
        assert_eq!(head, call(&cs[0], "cpc_getBlockByNumber", vec![top.into(), false.into()]).await.unwrap()["hash"]);
    }
    assert!(call(&cl, "job_getBlob", vec![c_root.into()]).await.unwrap().is_null(), "the late node was never sent C");
}

/// A scripted peer that gossips a POST_JOB and answers the node's blob requests: with the
/// manifest bytes of `answer` and the chunks of its blob, or with nothing held.
async fn relayer(
    key_dir: &std::path::Path,
    node_addr: &cpc_network::Multiaddr,
    genesis_hash: H256,
    answer: Option<(Vec<u8>, Blob)>,
) -> (cpc_network::NetworkHandle, tokio::task::JoinHandle<()>) {
    let (net, mut events) = scripted_network(key_dir, node_addr, TESTNET_CHAIN_ID, genesis_hash).await;
    let pump = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            let cpc_network::NetEvent::Request { req, reply, .. } = ev else { continue };
            let resp = match req {
                cpc_network::SyncRequest::Status => cpc_network::SyncResponse::Status(cpc_network::Status {
                    chain_id: TESTNET_CHAIN_ID.into(),
                    genesis_hash,
                    head_height: 0,
                    head_hash: genesis_hash,
                }),
                cpc_network::SyncRequest::BlobManifest(_) => cpc_network::SyncResponse::BlobManifest(answer.as_ref().map(|(m, _)| m.clone())),
                cpc_network::SyncRequest::BlobChunk { index, .. } => {
                    cpc_network::SyncResponse::BlobChunk(answer.as_ref().and_then(|(_, b)| b.chunk(index).map(<[u8]>::to_vec)))
                }
                _ => cpc_network::SyncResponse::Error("scripted".into()),
            };
            let _ = reply.send(resp);
        }
    });
    (net, pump)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relayer_that_cannot_back_its_job_with_data_is_penalised_and_one_that_can_is_believed() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init_with(dir.path(), 1, 1, "300ms", &["--market"]).unwrap();
    let node = NodeProc::start_datadir(&dirs[0], &["--log.filter", "info,cpc_network=debug"]).unwrap();
    let c = node.client();
    wait_height(&c, 2, Duration::from_secs(60)).await.unwrap();
    let info = call(&c, "admin_nodeInfo", vec![]).await.unwrap();
    let genesis_hash = H256::from_hex(info["genesis_hash"].as_str().unwrap()).unwrap();
    let addr = loopback_p2p_addr(&info);
    // A is 400 x 1024 int8: 400 KiB, two chunks of 256 rows and 144.
    let (m, k, n) = (400usize, 1024usize, 2usize);
    let a = Blob::from_i8(m as u32, k as u32, &matrix(m, k, 21)).unwrap();
    let b = Blob::from_i8(k as u32, n as u32, &matrix(k, n, 22)).unwrap();
    // Only B is handed to the node: A must come from whoever relays the job.
    put(&c, &b).await;
    let ks = keys();
    let head = block_number(&c).await.unwrap();
    let post = |sk: &SecretKey, a_root: H256| {
        tx_on(TESTNET_CHAIN_ID, sk, TxType::PostJob, CPC, 0, payload(json!({"m": m, "k": k, "n": n,
            "a_root": a_root.to_hex(), "b_root": b.root().to_hex(), "bond": "1", "claim_blocks": 5,
            "deadline": head + 500, "retention": 10})))
    };
    let manifest = |b: &Blob| cpc_primitives::blob::BlobManifest::of(b).encode();
    let forged = Blob::from_i8(m as u32, k as u32, &matrix(m, k, 99)).unwrap();
    // A's true manifest, then A with one byte changed in its second chunk (row 300).
    let mut one_wrong = a.clone();
    one_wrong.data[300 * k + 5] ^= 0x40;
    // Another job's A2, held by the relayer as its int32 reading (400 x 256): the same rows,
    // so the same root and the same data; it is believed and kept as the int8 A2 the job needs.
    let a2 = Blob::from_i8(m as u32, k as u32, &matrix(m, k, 23)).unwrap();
    let alias = Blob::new(cpc_primitives::blob::BlobKind::Int32, m as u32, (k / 4) as u32, a2.data.clone()).unwrap();
    assert_eq!(alias.root(), a2.root());
    // A manifest with other rows than the job's (A2's first 200 rows) is another matrix.
    let short = Blob::from_i8(200, k as u32, &a2.as_i8()[..200 * k]).unwrap();
    let cases = [
        ("sends another matrix's manifest", Some((manifest(&forged), forged.clone())), &ks[1], a.root(), "its leaves have root"),
        ("holds nothing", None, &ks[2], a.root(), "without serving its blob"),
        ("sends A's manifest and a wrong chunk", Some((manifest(&a), one_wrong)), &ks[4], a.root(), "chunk 1: row 300 hashes to"),
        ("sends a matrix of other rows under the job's root", Some((manifest(&short), short.clone())), &ks[7], short.root(), "the transaction needs 400 x 1024 Int8"),
        ("sends A", Some((manifest(&a), a.clone())), &ks[3], a.root(), ""),
        ("sends A2 as its int32 reading", Some((manifest(&alias), alias.clone())), &ks[5], a2.root(), ""),
    ];
    for (what, answer, sk, a_root, reason) in cases {
        let key_dir = tempfile::tempdir().unwrap();
        let (net, pump) = relayer(key_dir.path(), &addr, genesis_hash, answer).await;
        let me = net.local_peer_id().to_string();
        let tx = post(sk, a_root);
        let id = tx.hash().to_hex();
        let believed = reason.is_empty();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut outcome = None;
        while Instant::now() < deadline && outcome.is_none() {
            net.publish_tx(tx.canonical_json());
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !job(&c, &id).await.is_null() {
                outcome = Some("posted");
            } else if node.logs().lines().any(|l| l.contains("peer penalised") && l.contains(&me)) {
                outcome = Some("penalised");
            }
        }
        if believed {
            assert_eq!(outcome, Some("posted"), "a relayer that {what}: its job should be admitted and posted");
        } else {
            assert_eq!(outcome, Some("penalised"), "a relayer that {what} should be penalised\n{}", node.logs());
            assert!(job(&c, &id).await.is_null(), "a relayer that {what}: the job must not be posted");
            let logs = node.logs();
            let line = logs.lines().find(|l| l.contains("peer penalised") && l.contains(&me)).unwrap();
            assert!(line.contains(reason), "a relayer that {what}: penalised for {reason:?}, found {line}");
        }
        pump.abort();
    }
    assert!(!call(&c, "job_getBlob", vec![a.root().to_hex().into()]).await.unwrap().is_null(), "A is held now");
    let held = call(&c, "job_getBlob", vec![a2.root().to_hex().into()]).await.unwrap();
    assert_eq!((held["kind"].as_str(), held["cols"].as_u64()), (Some("int8"), Some(k as u64)), "A2 kept as the job's reading");
}

/// `cpcd --mine --jobs`: the node's own miner claims a job with its account, computes C on
/// the CPU, hands C to its node's store and is paid, while its synthetic shares go on from the
/// same account (one nonce sequence for both). `--jobs` needs `--mine` and a chain with a market.
#[tokio::test(flavor = "multi_thread")]
async fn the_in_process_miner_with_jobs_claims_computes_and_is_paid() {
    let out = Command::new(cpcd_path()).args(["--dev", "--jobs"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mine"), "{}", String::from_utf8_lossy(&out.stderr));

    // A chain without the market refuses --jobs at start, naming why.
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 1, 1, "300ms").unwrap();
    let toml = std::fs::read_to_string(dirs[0].join("cpcd.toml")).unwrap();
    let miner = toml.lines().find_map(|l| l.strip_prefix("validator = ")).unwrap().trim_matches('"').to_string();
    let mut off = Command::new(cpcd_path())
        .args(["--datadir", dirs[0].to_str().unwrap(), "--http.port", "0", "--mine", "--jobs", "--cpu-threads", "1", "--miner", &miner])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = off.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = off.kill();
            panic!("cpcd --jobs on a chain without a market did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut off.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success() && err.contains("no task market"), "{status}: {err}");

    let node = NodeProc::start_dev(None, &["--dev.block-time", "300ms", "--mine", "--jobs", "--cpu-threads", "1"]).unwrap();
    let c = node.client();
    let ks = keys();
    let (poster, miner) = (&ks[1], addr_of(&ks[0]));
    let (m, k, n) = (64usize, 300usize, 48usize);
    let (a, b) = (matrix(m, k, 21), matrix(k, n, 22));
    let a_root = put(&c, &Blob::from_i8(m as u32, k as u32, &a).unwrap()).await;
    let b_root = put(&c, &Blob::from_i8(k as u32, n as u32, &b).unwrap()).await;
    let head = block_number(&c).await.unwrap();
    let post = tx(poster, TxType::PostJob, 10 * CPC, nonce(&c, &addr_of(poster)).await, payload(json!({"m": m, "k": k, "n": n,
        "a_root": a_root, "b_root": b_root, "bond": (2 * CPC).to_string(), "claim_blocks": 100, "deadline": head + 400,
        "retention": 10})));
    send(&c, &post).await.unwrap();
    let id = post.hash().to_hex();
    let done = wait_job(&c, &id, "done", 60).await;
    assert_eq!(done["claimant"], json!(miner.to_string()), "the node's miner account claimed it");
    let want = Blob::from_i32(m as u32, n as u32, &product(&a, &b, m, k, n)).unwrap().root().to_hex();
    assert_eq!(done["result_root"], json!(want), "C is A·B computed here");
    let r = call(&c, "poc_getResultByTask", vec![format!("job:{id}").into()]).await.unwrap();
    assert_eq!(r["worker_address"], json!(miner.to_string()));
    // Synthetic shares went on beside the job, and none was refused for its nonce.
    let status = call(&c, "miner_status", vec![]).await.unwrap();
    assert!(status["results_accepted"].as_u64().unwrap() > 0, "{status}");
    assert!(status["results_rejected"].get("nonce").is_none(), "{status}");
}

/// Two validators whose peer-to-peer networks never meet (no bootnodes: no transaction gossip,
/// no blob fetches between them) and whose consensus networks do. A job posted at node 0 is
/// held there alone; node 1 can check a proposal holding it only with the data that travels
/// beside the block in the proposal stream. Without that, node 1 votes nil on every proposal
/// of node 0 that holds the job (two equal validators: no quorum without it), and the job is
/// never included; with it, the job is posted, claimed and paid, and node 1 holds A, B and C.
#[tokio::test(flavor = "multi_thread")]
async fn a_validator_that_missed_the_gossip_gets_the_data_with_the_proposal_and_votes_for_it() {
    let (m, k, n) = (64usize, 128usize, 64usize);
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init_with(dir.path(), 2, 2, "300ms", &["--market"]).unwrap();
    for d in &dirs {
        let path = d.join("cpcd.toml");
        let toml = std::fs::read_to_string(&path).unwrap();
        let cut: Vec<String> = toml.lines().map(|l| if l.starts_with("bootnodes = ") { "bootnodes = []".to_string() } else { l.to_string() }).collect();
        std::fs::write(&path, cut.join("\n") + "\n").unwrap();
    }
    let nodes: Vec<NodeProc> = dirs.iter().map(|d| NodeProc::start_datadir(d, &[]).unwrap()).collect();
    let cs: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &cs {
        wait_height(c, 2, Duration::from_secs(60)).await.unwrap();
    }
    let peers = call(&cs[1], "net_peerCount", vec![]).await.unwrap();
    assert_eq!(peers, json!(0), "node 1's peer-to-peer network stays apart: {peers}");
    let ks = keys();
    let (poster, worker) = (&ks[1], &ks[6]);
    let (a, b) = (matrix(m, k, 21), matrix(k, n, 22));
    let a_root = put(&cs[0], &Blob::from_i8(m as u32, k as u32, &a).unwrap()).await;
    let b_root = put(&cs[0], &Blob::from_i8(k as u32, n as u32, &b).unwrap()).await;
    let head = block_number(&cs[0]).await.unwrap();
    let post = tx_on(TESTNET_CHAIN_ID, poster, TxType::PostJob, 5 * CPC, nonce(&cs[0], &addr_of(poster)).await, payload(json!({
        "m": m, "k": k, "n": n, "a_root": a_root, "b_root": b_root, "bond": CPC.to_string(),
        "claim_blocks": 200, "deadline": head + 1000, "retention": 500})));
    send(&cs[0], &post).await.unwrap();
    let id = post.hash().to_hex();
    for c in &cs {
        wait_job(c, &id, "open", 60).await;
    }
    for root in [&a_root, &b_root] {
        let held = call(&cs[1], "job_getBlob", vec![root.clone().into()]).await.unwrap();
        assert!(!held.is_null(), "node 1 holds {root}: it came with the proposal");
    }
    // The worker claims and submits at node 0 alone; C reaches node 1 the same way.
    let claim = tx_on(TESTNET_CHAIN_ID, worker, TxType::ClaimJob, CPC, nonce(&cs[0], &addr_of(worker)).await, payload(json!({"job_id": id})));
    send(&cs[0], &claim).await.unwrap();
    for c in &cs {
        wait_job(c, &id, "claimed", 60).await;
    }
    let want = product(&a, &b, m, k, n);
    let c_root = put(&cs[0], &Blob::from_i32(m as u32, n as u32, &want).unwrap()).await;
    send(&cs[0], &job_result_on(TESTNET_CHAIN_ID, worker, &id, &c_root, nonce(&cs[0], &addr_of(worker)).await)).await.unwrap();
    for c in &cs {
        let done = wait_job(c, &id, "done", 60).await;
        assert_eq!(done["result_root"], json!(c_root));
    }
    let got = call(&cs[1], "job_getBlob", vec![c_root.clone().into()]).await.unwrap();
    let bytes = hex::decode(got["data"].as_str().expect("node 1 holds C: it came with the proposal")).unwrap();
    let c1: Vec<i32> = bytes.chunks_exact(4).map(|x| i32::from_le_bytes(x.try_into().unwrap())).collect();
    assert!(c1 == want, "node 1's C is A·B");
}

/// EIP-4844's fee rule, written here again: `factor · e^(numerator / denominator)` by its
/// Taylor series in integers.
fn fake_exponential(factor: u128, numerator: u128, denominator: u128) -> u128 {
    let (mut i, mut output, mut accum) = (1u128, 0u128, factor * denominator);
    while accum > 0 {
        output += accum;
        accum = accum * numerator / (denominator * i);
        i += 1;
    }
    output / denominator
}

/// The blob fee moves with demand on a real network: two validators on a genesis whose target
/// is 1 KiB of data per block. Two jobs posted together bring 64 KiB of inputs (a block counts
/// A and B of a POST_JOB, C of a result; the poster pays for all three), so the blocks after
/// them charge more per byte; a job posted then pays more than they did, exactly what the rule
/// gives from each block's data (simulated here from the jobs' posting heights); both nodes
/// agree; and with no more data the fee falls back to its floor.
#[tokio::test(flavor = "multi_thread")]
async fn on_two_validators_the_blob_fee_rises_above_its_target_and_falls_back() {
    let (m, k, n) = (128usize, 128usize, 128usize);
    let (target, fraction) = (1024u64, 65536u64);
    let params = json!({"target_blob_bytes_per_block": target, "blob_fee_update_fraction": fraction}).to_string();
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init_with(dir.path(), 2, 2, "300ms", &["--market-params", &params]).unwrap();
    let nodes: Vec<NodeProc> = dirs.iter().map(|d| NodeProc::start_datadir(d, &[]).unwrap()).collect();
    let cs: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &cs {
        wait_height(c, 2, Duration::from_secs(60)).await.unwrap();
    }
    let p = call(&cs[0], "job_getParams", vec![]).await.unwrap();
    assert_eq!(p["excess_blob_bytes"], json!(0), "{p}");
    let floor: u128 = p["blob_fee_per_byte"].as_str().unwrap().parse().unwrap();
    assert_eq!(p["next_blob_fee_per_byte"], json!(floor.to_string()));
    let ks = keys();
    let mut ids = Vec::new();
    let post = |sk: &SecretKey, nonce: u64, head: u64, salt: u64| {
        let (a, b) = (matrix(m, k, salt), matrix(k, n, salt + 1));
        let (a, b) = (Blob::from_i8(m as u32, k as u32, &a).unwrap(), Blob::from_i8(k as u32, n as u32, &b).unwrap());
        let tx = tx_on(TESTNET_CHAIN_ID, sk, TxType::PostJob, CPC, nonce, payload(json!({
            "m": m, "k": k, "n": n, "a_root": a.root().to_hex(), "b_root": b.root().to_hex(), "bond": CPC.to_string(),
            "claim_blocks": 100, "deadline": head + 1000, "retention": 100})));
        (a, b, tx)
    };
    // Two jobs at once (at node 0), then, once they are in, a third (at node 1).
    let head = block_number(&cs[0]).await.unwrap();
    for (i, sk) in [&ks[1], &ks[2]].into_iter().enumerate() {
        let (a, b, tx) = post(sk, nonce(&cs[0], &addr_of(sk)).await, head, 40 + 2 * i as u64);
        put(&cs[0], &a).await;
        put(&cs[0], &b).await;
        send(&cs[0], &tx).await.unwrap();
        ids.push(tx.hash().to_hex());
    }
    for id in &ids {
        wait_job(&cs[1], id, "open", 60).await;
    }
    let (a, b, tx) = post(&ks[3], nonce(&cs[1], &addr_of(&ks[3])).await, head, 50);
    put(&cs[1], &a).await;
    put(&cs[1], &b).await;
    send(&cs[1], &tx).await.unwrap();
    ids.push(tx.hash().to_hex());
    wait_job(&cs[0], &ids[2], "open", 60).await;

    // Each job paid data × the fee of its block, from the parent's excess.
    let (inputs, data) = ((m * k + k * n) as u64, (m * k + k * n + 4 * m * n) as u64);
    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(job(&cs[0], id).await);
    }
    let posted: Vec<u64> = jobs.iter().map(|j| j["posted_height"].as_u64().unwrap()).collect();
    let first = *posted.iter().min().unwrap();
    let mut excess_after = std::collections::BTreeMap::from([(first - 1, 0u64)]);
    for h in first..=*posted.iter().max().unwrap() {
        let bytes = posted.iter().filter(|&&p| p == h).count() as u64 * inputs;
        excess_after.insert(h, (excess_after[&(h - 1)] + bytes).saturating_sub(target));
    }
    let mut fees = Vec::new();
    for (j, id) in jobs.iter().zip(&ids) {
        let per_byte = fake_exponential(floor, excess_after[&(j["posted_height"].as_u64().unwrap() - 1)] as u128, fraction as u128);
        let want = per_byte * data as u128;
        assert_eq!(j["blob_fee"], json!(want.to_string()), "job {id} at height {}: {j}", j["posted_height"]);
        assert_eq!(job(&cs[1], id).await["blob_fee"], j["blob_fee"], "the nodes agree on job {id}");
        fees.push(want);
    }
    assert!(posted[2] > posted[0].max(posted[1]), "the third job came after the first two");
    assert!(fees[2] > fees[0].min(fees[1]), "a job posted after the busy block paid more: {fees:?}");
    // No more data: each block takes the target off the excess, down to the floor.
    for c in &cs {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let p = call(c, "job_getParams", vec![]).await.unwrap();
            if p["excess_blob_bytes"] == json!(0) {
                assert_eq!(p["next_blob_fee_per_byte"], json!(floor.to_string()));
                break;
            }
            assert!(Instant::now() < deadline, "the excess never fell back: {p}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
