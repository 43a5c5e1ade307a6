//! The dev chain end to end: real `cpcd --dev` processes, real HTTP, real signatures.

use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn transfer_is_included_with_receipt_balances_and_block() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms"]).unwrap();
    let c = node.client();
    assert_eq!(call(&c, "cpc_chainId", vec![]).await.unwrap(), json!("cpc-devnet-1"));
    let k = keys();
    let (from, to) = (addr_of(&k[1]), addr_of(&k[2]));
    let b_from = balance(&c, &from).await.unwrap();
    let b_to = balance(&c, &to).await.unwrap();
    let amount = 3 * UNITS_PER_CPC / 2;
    let tx = transfer(&k[1], to, amount, 0);
    let hash = send(&c, &tx).await.unwrap();
    assert_eq!(hash, tx.hash().to_hex());
    // Pending: the pending nonce counts it and the tx is visible without a block.
    let r = wait_receipt(&c, &hash, WAIT).await.unwrap();
    assert_eq!(r["status"], "success");
    assert_eq!(r["gas_used"], 21_000);
    assert_eq!(r["error"], Value::Null);
    let fee = 21_000u128 * 1000;
    assert_eq!(balance(&c, &from).await.unwrap(), b_from - amount - fee);
    assert_eq!(balance(&c, &to).await.unwrap(), b_to + amount);
    let acc = call(&c, "cpc_getAccount", vec![from.to_string().into()]).await.unwrap();
    assert_eq!(acc["nonce"], 1);
    assert_eq!(call(&c, "cpc_getTransactionCount", vec![from.to_string().into()]).await.unwrap(), 1);

    let height = r["block_height"].as_u64().unwrap();
    let blk = call(&c, "cpc_getBlockByNumber", vec![height.into(), true.into()]).await.unwrap();
    assert_eq!(blk["hash"], r["block_hash"]);
    assert_eq!(blk["transactions"][0]["hash"], json!(hash));
    assert_eq!(blk["transactions"][0]["amount"], json!(amount.to_string()));
    let header: Header = serde_json::from_value(blk["header"].clone()).unwrap();
    assert_eq!(header.hash().to_hex(), blk["hash"].as_str().unwrap(), "block hash = H(CPC-BLOCK-V1: CJ(header))");
    assert_eq!(header.tx_root, tx_root(&[tx.hash()]));
    assert_eq!(header.compute_root, ComputeRoot(None), "no SUBMIT_RESULT: compute_root is \"\"");
    // The proposer signature verifies over the header bytes.
    let pk = PublicKey::from_hex(blk["proposer_pub_key"].as_str().unwrap()).unwrap();
    let sig = Signature::from_hex(blk["signature"].as_str().unwrap()).unwrap();
    pk.verify_strict(&header.signing_bytes(), &sig).unwrap();
    // By hash, without bodies.
    let by_hash = call(&c, "cpc_getBlockByHash", vec![blk["hash"].clone(), false.into()]).await.unwrap();
    assert_eq!(by_hash["transactions"], json!([hash]));
    let t = call(&c, "cpc_getTransactionByHash", vec![hash.clone().into()]).await.unwrap();
    assert_eq!(t["block_height"], height);
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_result_lands_and_compute_root_matches_the_seed_rule() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "0"]).unwrap();
    let c = node.client();
    let k = keys();
    let me = addr_of(&k[3]);
    let mut hashes = Vec::new();
    let mut results = Vec::new();
    for i in 0..3u64 {
        let mut r = ComputeResult {
            task_id: format!("job-{i}-é"),
            worker_address: me.to_string(),
            result_hash: format!("{:064x}", i + 1),
            proof: None,
            nonce: Some(i),
            signature: None,
        };
        r.sign(&k[3]);
        results.push(r.clone());
        hashes.push(send(&c, &submit_result(&k[3], r.to_payload(), i, 80_000)).await.unwrap());
    }
    let mut heights = Vec::new();
    for h in &hashes {
        heights.push(wait_receipt(&c, h, WAIT).await.unwrap()["block_height"].as_u64().unwrap());
    }
    // Recompute each block's compute_root independently from its results.
    heights.dedup();
    let mut seen = 0;
    for h in heights {
        let v = call(&c, "cpc_getComputeResults", vec![h.into()]).await.unwrap();
        let got: Vec<ComputeResult> =
            v["results"].as_array().unwrap().iter().map(|x| serde_json::from_value(x["result"].clone()).unwrap()).collect();
        assert!(got.iter().all(|r| results.contains(r)));
        seen += got.len();
        assert_eq!(v["compute_root"].as_str().unwrap(), compute_root_of_results(&got).to_text());
        let blk = call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
        assert_eq!(blk["header"]["compute_root"], v["compute_root"]);
        assert!(v["results"].as_array().unwrap().iter().all(|x| x["synthetic"] == false && x["reward"].is_null()));
    }
    assert_eq!(seen, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_resumes_at_the_same_head_with_everything_kept() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let to = addr_of(&k[5]);
    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "100ms"]).unwrap();
    let c = node.client();
    let mut last = String::new();
    for n in 0..5u64 {
        last = send(&c, &transfer(&k[4], to, 1000 + n as u128, n)).await.unwrap();
    }
    let receipt = wait_receipt(&c, &last, WAIT).await.unwrap();
    let block_of_tx = call(&c, "cpc_getBlockByNumber", vec![receipt["block_height"].clone(), false.into()]).await.unwrap();
    let (code, log) = node.stop().unwrap();
    assert_eq!(code, 0, "clean exit on SIGTERM");
    let final_height = stopped_height(&log);

    // Restart with a block time long enough that nothing new is produced.
    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "1h"]).unwrap();
    let c = node.client();
    assert_eq!(block_number(&c).await.unwrap(), final_height, "resumes at the same head");
    assert_eq!(call(&c, "cpc_getTransactionReceipt", vec![last.clone().into()]).await.unwrap(), receipt);
    let again = call(&c, "cpc_getBlockByNumber", vec![receipt["block_height"].clone(), false.into()]).await.unwrap();
    assert_eq!(again, block_of_tx, "same block, same hash, same state root");
    assert_eq!(balance(&c, &to).await.unwrap(), 1_000_000 * UNITS_PER_CPC + (1000..1005).sum::<u128>());
    assert_eq!(call(&c, "cpc_getTransactionCount", vec![addr_of(&k[4]).to_string().into()]).await.unwrap(), 5);
    let (code, _) = node.stop().unwrap();
    assert_eq!(code, 0);

    // And the chain continues from it.
    let node = NodeProc::start_dev(Some(dir.path()), &["--dev.block-time", "100ms"]).unwrap();
    let c = node.client();
    let next = send(&c, &transfer(&k[4], to, 1, 5)).await.unwrap();
    let r = wait_receipt(&c, &next, WAIT).await.unwrap();
    assert!(r["block_height"].as_u64().unwrap() > final_height);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_datadir_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = cpc_genesis::Genesis::dev();
    g.chain_id = "cpc-other-1".into();
    let gfile = dir.path().join("genesis.json");
    std::fs::write(&gfile, g.to_pretty_json()).unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(cpcd_path())
        .args(["init", "--genesis", gfile.to_str().unwrap(), "--datadir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(cpcd_path())
        .args(["--dev", "--http.port", "0", "--datadir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds chain \"cpc-other-1\""), "{err}");
}

// --- one rejection test per SUBMIT_RESULT rule ----------------------------------------------

fn result_payload(worker: &Address, task: &str) -> Payload {
    external_result(worker, task).to_payload()
}

async fn rejected(c: &jsonrpsee::http_client::HttpClient, tx: &Transaction, want: &str) {
    match send(c, tx).await {
        Ok(h) => panic!("accepted {h}, expected rejection containing {want:?}"),
        Err((code, msg)) => {
            assert_eq!(code, -32000, "{msg}");
            assert!(msg.contains(want), "message {msg:?} should contain {want:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_result_rejections_name_their_rule() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "100ms"]).unwrap();
    let c = node.client();
    let k = keys();
    let me = addr_of(&k[6]);
    let other = addr_of(&k[7]);

    // rule 2: worker != sender
    rejected(&c, &submit_result(&k[6], result_payload(&other, "r2"), 0, 80_000), "SUBMIT_RESULT rule 2").await;
    // rule 3: gas limit 79 999
    rejected(&c, &submit_result(&k[6], result_payload(&me, "r3"), 0, 79_999), "SUBMIT_RESULT rule 3").await;
    // rule 1: malformed payload (result_hash missing; a number as task id)
    let mut m = result_payload(&me, "r1").as_map().clone();
    m.remove("result_hash");
    rejected(&c, &submit_result(&k[6], Payload::from_map(m).unwrap(), 0, 80_000), "SUBMIT_RESULT rule 1").await;
    let mut m = result_payload(&me, "r1").as_map().clone();
    m.insert("task_id".into(), json!(5));
    rejected(&c, &submit_result(&k[6], Payload::from_map(m).unwrap(), 0, 80_000), "SUBMIT_RESULT rule 1").await;
    // rule 1: unknown field
    let mut m = result_payload(&me, "r1u").as_map().clone();
    m.insert("bonus".into(), json!("1"));
    rejected(&c, &submit_result(&k[6], Payload::from_map(m).unwrap(), 0, 80_000), "unknown field \"bonus\"").await;
    // rule 5: bad worker signature (signed by someone else)
    let mut r: ComputeResult = ComputeResult::from_payload(&result_payload(&me, "r5")).unwrap();
    r.sign(&k[7]);
    rejected(&c, &submit_result(&k[6], r.to_payload(), 0, 80_000), "SUBMIT_RESULT rule 5").await;
    // rule 4: duplicate task id — pending, then on chain
    let first = send(&c, &submit_result(&k[6], result_payload(&me, "r4"), 0, 80_000)).await.unwrap();
    rejected(&c, &submit_result(&k[7], result_payload(&other, "r4"), 0, 80_000), "SUBMIT_RESULT rule 4").await;
    wait_receipt(&c, &first, WAIT).await.unwrap();
    rejected(&c, &submit_result(&k[7], result_payload(&other, "r4"), 0, 80_000), "already on the chain").await;
    // rule 6: a synthetic-looking task id from no known tip
    let p = cpc_poc::SynthParams { n: 1024, k: 8 };
    let fake = cpc_poc::task_id(&H256([9; 32]), &me.to_string(), 1);
    let mut r = ComputeResult::from_payload(&result_payload(&me, &fake)).unwrap();
    r.nonce = Some(1);
    r.proof = Some("00".repeat(p.proof_bytes()));
    rejected(&c, &submit_result(&k[6], r.to_payload(), 1, 80_000), "SUBMIT_RESULT rule 6").await;
    // Nothing rejected was admitted: the pending nonce moved only for the accepted one.
    assert_eq!(call(&c, "cpc_getTransactionCount", vec![me.to_string().into()]).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_rejections_and_malformed_requests() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1h"]).unwrap();
    let c = node.client();
    let k = keys();
    let to = addr_of(&k[2]);
    // bad signature
    let mut tx = transfer(&k[1], to, 5, 0);
    tx.amount = 6;
    rejected(&c, &tx, "signature").await;
    // wrong chain id
    let mut u = transfer(&k[1], to, 5, 0);
    u.chain_id = "cpc-mainnet".into();
    let u = UnsignedTx {
        chain_id: u.chain_id,
        tx_type: u.tx_type,
        from_address: u.from_address,
        to_address: u.to_address,
        amount: u.amount,
        fee: u.fee,
        nonce: u.nonce,
        gas_price: u.gas_price,
        gas_limit: u.gas_limit,
        payload: u.payload,
    }
    .sign(&k[1]);
    rejected(&c, &u, "chain_id").await;
    // insufficient balance: key of an empty account
    let poor = SecretKey::from_bytes(&[42; 32]);
    rejected(&c, &transfer(&poor, to, 1, 0), "insufficient balance").await;
    // nonce too low after one is pending? No: pending is not committed; replacement rules:
    send(&c, &transfer(&k[1], to, 5, 0)).await.unwrap();
    rejected(&c, &transfer(&k[1], to, 6, 0), "replacement underpriced").await;
    assert_eq!(call(&c, "cpc_getTransactionCount", vec![addr_of(&k[1]).to_string().into()]).await.unwrap(), 1);
    // unsupported type
    let st = UnsignedTx {
        chain_id: CHAIN_ID.into(),
        tx_type: TxType::Stake,
        from_address: addr_of(&k[1]),
        to_address: None,
        amount: 0,
        fee: 40_000_000,
        nonce: 1,
        gas_price: 1000,
        gas_limit: 40_000,
        payload: Payload::empty(),
    }
    .sign(&k[1]);
    rejected(&c, &st, "STAKE needs a positive amount").await;

    // Malformed requests get the standard codes and the node stays up.
    let url = &node.rpc_url;
    assert_eq!(raw_post(url, "{not json").unwrap()["error"]["code"], -32700);
    assert_eq!(raw_post(url, r#"{"jsonrpc":"2.0","id":1,"method":"cpc_nope","params":[]}"#).unwrap()["error"]["code"], -32601);
    let bad_addr = raw_post(url, r#"{"jsonrpc":"2.0","id":1,"method":"cpc_getBalance","params":["cpc1xyz"]}"#).unwrap();
    assert_eq!(bad_addr["error"]["code"], -32602);
    let bad_tx = raw_post(url, r#"{"jsonrpc":"2.0","id":1,"method":"cpc_sendTransaction","params":[{"chain_id":"x"}]}"#).unwrap();
    assert_eq!(bad_tx["error"]["code"], -32602);
    assert!(bad_tx["error"]["message"].as_str().unwrap().contains("malformed transaction"));
    let batch = raw_post(url, r#"[{"jsonrpc":"2.0","id":1,"method":"cpc_blockNumber","params":[]},{"jsonrpc":"2.0","id":2,"method":"cpc_chainId","params":[]}]"#).unwrap();
    assert_eq!(batch.as_array().unwrap().len(), 2);
    assert_eq!(call(&c, "cpc_chainId", vec![]).await.unwrap(), "cpc-devnet-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn instant_mode_makes_a_block_only_when_transactions_wait() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "0"]).unwrap();
    let c = node.client();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(block_number(&c).await.unwrap(), 0, "no transactions, no blocks");
    let k = keys();
    let h = send(&c, &transfer(&k[1], addr_of(&k[2]), 1, 0)).await.unwrap();
    let r = wait_receipt(&c, &h, WAIT).await.unwrap();
    assert_eq!(r["block_height"], 1);
}
