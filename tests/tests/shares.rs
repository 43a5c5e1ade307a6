//! PoC v2 shares end to end with real processes: the share rule at admission (before the
//! k-row proof), forged results that pass the k-row check but not recomputation, and the
//! forger's other results and cooldown.

use cpc_poc::SynthParams;
use cpc_primitives::*;
use cpcd_tests::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const P: SynthParams = SynthParams { n: 1024, k: 8 };

async fn head_tip(c: &jsonrpsee::http_client::HttpClient) -> (u64, H256, ShareTarget) {
    let h = block_number(c).await.unwrap();
    let b = call(c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
    let target = ShareTarget::from_hex(b["header"]["share_target"].as_str().unwrap()).unwrap();
    (h, H256::from_hex(b["hash"].as_str().unwrap()).unwrap(), target)
}

fn result_tx(chain_id: &str, sk: &SecretKey, r: &ComputeResult, nonce: u64, gas_price: u64) -> Transaction {
    UnsignedTx::submit_result(chain_id, addr_of(sk), r, nonce, gas_price).sign(sk)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_that_is_not_a_share_is_refused_naming_the_share_rule() {
    // One validator, genesis target 1: a result is a share with probability 2^-63.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let p2p = free_port_range(2); // one range: two probes could return the same port
    let http = p2p + 1;
    let o = std::process::Command::new(cpcd_path())
        .args(["testnet", "init", "--validators", "1", "--out", out.to_str().unwrap(), "--block-time", "500ms"])
        .args(["--fund-dev-accounts", "--share-target-start", "0000000000000001"])
        .args(["--p2p-base-port", &p2p.to_string(), "--http-base-port", &http.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let node = NodeProc::start_datadir(&out.join("node0"), &[]).unwrap();
    let c = node.client();
    let (_, tip, target) = head_tip(&c).await;
    assert_eq!(target, ShareTarget(1));
    let k = keys();
    let me = addr_of(&k[1]).to_string();
    let good = cpc_poc::solve(&tip, &me, 0, &P);
    assert!(cpc_poc::result_share_value(&good, &tip).unwrap() > 1, "the 2^-63 chance did not happen");
    let err = send(&c, &result_tx(TESTNET_CHAIN_ID, &k[1], &good, 0, 1000)).await.unwrap_err();
    assert!(err.1.contains("rule 6 (share)") && err.1.contains("not a share"), "{err:?}");
    // The error also carries the rule as data, for clients that must not parse messages.
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "poc_submitResult",
        "params": [tx_json(&result_tx(TESTNET_CHAIN_ID, &k[1], &good, 0, 1000))]});
    let v = raw_post(&node.rpc_url, &body.to_string()).unwrap();
    assert_eq!(v["error"]["data"]["reason"], "not a share", "{v}");
    // The share rule runs before the k-row proof: a result with a broken proof that is not a
    // share either is refused for the share rule (one hash), not for its proof (a product).
    let mut broken = good.clone();
    broken.proof = Some("00".repeat(P.proof_bytes()));
    let err = send(&c, &result_tx(TESTNET_CHAIN_ID, &k[1], &broken, 0, 1000)).await.unwrap_err();
    assert!(err.1.contains("not a share"), "share rule first: {err:?}");
    // Nothing was admitted.
    let st = call(&c, "txpool_status", vec![]).await.unwrap();
    assert_eq!(st["pending"], 0, "{st}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_results_at_a_higher_price_do_not_keep_an_honest_share_out() {
    // Blocks every 3 s: everything below is queued before the next block is built.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "3s"]).unwrap();
    let c = node.client();
    let k = keys();
    let (h0, tip, target) = head_tip(&c).await;
    assert_eq!(target, ShareTarget::MAX, "the dev chain starts with every result a share");
    // 2 forgers x 8 forged results at 5x the gas price, queued ahead of one honest result.
    let mut forged = Vec::new();
    for (i, sk) in [&k[1], &k[2]].into_iter().enumerate() {
        let me = addr_of(sk).to_string();
        for n in 0..8u64 {
            let r = forge_result(&tip, &me, 100 * i as u64 + n, &P);
            assert!(cpc_poc::check_proof(&r, &tip, &P).is_ok(), "a forged result passes the k-row check");
            assert!(cpc_poc::verify_full(&r, &tip, &P).is_err(), "and fails recomputation");
            match send(&c, &result_tx(CHAIN_ID, sk, &r, n, 5000)).await {
                Ok(h) => forged.push(h),
                // Once the node recomputed an earlier one, the forger is refused outright.
                Err((_, msg)) => assert!(msg.contains("failed full recomputation"), "{msg}"),
            }
        }
    }
    assert!(!forged.is_empty(), "admission (the k-row check) took forged results");
    let honest_sk = &k[3];
    let me = addr_of(honest_sk).to_string();
    let honest = cpc_poc::solve(&tip, &me, 0, &P);
    let before = block_number(&c).await.unwrap();
    let sent_ms = now_millis();
    let h = send(&c, &result_tx(CHAIN_ID, honest_sk, &honest, 0, 1000)).await.unwrap();
    let rcpt = wait_receipt(&c, &h, WAIT).await.unwrap();
    assert_eq!(rcpt["status"], "success");
    // "The next block": before + 1 — or before + 2 when block before + 1 was already being
    // built when the share was sent (sealed between reading the height and sending).
    let got = rcpt["block_height"].as_u64().unwrap();
    let b1 = call(&c, "cpc_getBlockByNumber", vec![(before + 1).into(), false.into()]).await.unwrap();
    let raced = b1["header"]["timestamp"].as_u64().unwrap() <= sent_ms;
    assert!(got == before + 1 || (raced && got == before + 2), "the honest share is in the next block: {got}, head was {before}");
    assert!(before >= h0);
    // No forged result is on chain, and none is left in the pool.
    for f in &forged {
        assert!(call(&c, "cpc_getTransactionReceipt", vec![f.clone().into()]).await.unwrap().is_null(), "{f} on chain");
    }
    let st = call(&c, "txpool_status", vec![]).await.unwrap();
    assert_eq!(st["pending"].as_u64().unwrap() + st["queued"].as_u64().unwrap(), 0, "{st}");
    // The forger pays: its next (honest) result is refused while the cooldown lasts.
    let (_, tip2, _) = head_tip(&c).await;
    let later = cpc_poc::solve(&tip2, &addr_of(&k[1]).to_string(), 7, &P);
    let nonce = call(&c, "cpc_getTransactionCount", vec![addr_of(&k[1]).to_string().into()]).await.unwrap();
    let err = send(&c, &result_tx(CHAIN_ID, &k[1], &later, nonce.as_u64().unwrap(), 1000)).await.unwrap_err();
    assert!(err.1.contains("failed full recomputation"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_is_bounded_in_bytes_by_the_flag() {
    // No block for an hour: everything stays in the pool. A transfer is ~560 bytes of JSON.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1h", "--txpool.max-bytes", "3000"]).unwrap();
    let c = node.client();
    let k = keys();
    let mut admitted = 0usize;
    let mut refused = None;
    for (i, sk) in k[1..].iter().enumerate() {
        match send(&c, &transfer(sk, addr_of(&k[0]), 1 + i as u128, 0)).await {
            Ok(_) => admitted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let (_, msg) = refused.expect("the byte bound refused a transfer");
    assert!(msg.contains("mempool full (3000 bytes)"), "{msg}");
    assert!((1..9).contains(&admitted), "{admitted} admitted");
    let st = call(&c, "txpool_status", vec![]).await.unwrap();
    assert_eq!(st["pending"].as_u64().unwrap() as usize, admitted, "nothing was lost to the refusal: {st}");
    // A better-paying transaction makes room by evicting a cheaper one.
    let rich = UnsignedTx::transfer(CHAIN_ID, addr_of(&k[9]), addr_of(&k[0]), 1, 0, 5000).sign(&k[9]);
    send(&c, &rich).await.expect("a higher gas price evicts the cheapest");
    let st = call(&c, "txpool_status", vec![]).await.unwrap();
    assert!(st["pending"].as_u64().unwrap() as usize <= admitted, "{st}");
}
