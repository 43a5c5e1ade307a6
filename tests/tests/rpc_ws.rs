//! The full JSON-RPC surface and WebSocket subscriptions against a real `cpcd --dev`.

use cpc_primitives::*;
use cpcd_tests::*;
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

async fn next(sub: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(T, sub.next()).await.expect("notification in time").expect("open").expect("decodes")
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_deliver_heads_pending_logs_and_compute_results() {
    let node = NodeProc::start_dev(
        None,
        &["--dev.block-time", "300ms", "--ws.port", "0", "--mine", "--cpu-threads", "1", "--miner.results-per-tip", "1"],
    )
    .unwrap();
    let ws = WsClientBuilder::default().build(ws_url(&node).unwrap()).await.unwrap();
    let mut heads: Subscription<Value> =
        ws.subscribe("cpc_subscribe", rpc_params!["newHeads"], "cpc_unsubscribe").await.unwrap();
    let mut pending: Subscription<Value> =
        ws.subscribe("cpc_subscribe", rpc_params!["newPendingTransactions"], "cpc_unsubscribe").await.unwrap();
    let k = keys();
    let me = addr_of(&k[4]);
    let mut logs: Subscription<Value> = ws
        .subscribe("cpc_subscribe", rpc_params!["logs", json!({"address": me.to_string()})], "cpc_unsubscribe")
        .await
        .unwrap();
    let mut results: Subscription<Value> =
        ws.subscribe("cpc_subscribe", rpc_params!["computeResults"], "cpc_unsubscribe").await.unwrap();

    // The next three heads, in order, each a hash of its header.
    let mut last = None;
    for _ in 0..3 {
        let h = next(&mut heads).await;
        let header: Header = serde_json::from_value(h["header"].clone()).unwrap();
        assert_eq!(header.hash().to_hex(), h["hash"].as_str().unwrap());
        // v2: the header carries the share target work on this head must meet.
        assert_eq!(h["header"]["share_target"].as_str().unwrap(), header.share_target.to_hex());
        if let Some(prev) = last {
            assert_eq!(header.height, prev + 1);
        }
        last = Some(header.height);
    }
    // A transfer: seen pending (the miner's results are pending too), then in `logs`.
    let tx = transfer(&k[4], addr_of(&k[5]), 5, 0);
    let h = ws.request::<String, _>("cpc_sendTransaction", rpc_params![tx_json(&tx)]).await.unwrap();
    let mut saw_pending = false;
    for _ in 0..20 {
        if next(&mut pending).await == json!(h) {
            saw_pending = true;
            break;
        }
    }
    assert!(saw_pending);
    let l = next(&mut logs).await;
    assert_eq!(l["tx_hash"], json!(h));
    assert_eq!(l["from_address"], json!(me.to_string()));
    // Mined results as blocks commit.
    let r = next(&mut results).await;
    assert!(r["results"].as_array().unwrap().iter().any(|x| x["synthetic"] == true), "{r}");
    assert!(r["shares"].as_u64().unwrap() >= 1 && r["share_reward"].is_string(), "{r}");
    assert!(r["results"].as_array().unwrap().iter().all(|x| x["share_value"].is_string()), "{r}");
    // A bad kind is refused with invalid params.
    let e = ws.subscribe::<Value, _>("cpc_subscribe", rpc_params!["blocks"], "cpc_unsubscribe").await.unwrap_err();
    assert!(e.to_string().contains("unknown subscription"), "{e}");
    // The same methods work over WebSocket.
    assert_eq!(ws.request::<String, _>("cpc_chainId", rpc_params![]).await.unwrap(), "cpc-devnet-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_gas_work_and_miner_methods() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1h"]).unwrap();
    let c = node.client();
    let k = keys();
    assert_eq!(call(&c, "cpc_gasPrice", vec![]).await.unwrap(), 1000);
    assert_eq!(call(&c, "cpc_estimateGas", vec![json!({"tx_type": "TRANSFER"})]).await.unwrap(), 21_000);
    assert_eq!(call(&c, "cpc_estimateGas", vec![json!({"tx_type": "SUBMIT_RESULT"})]).await.unwrap(), 80_000);
    let tx = transfer(&k[1], addr_of(&k[2]), 1, 0);
    assert_eq!(call(&c, "cpc_estimateGas", vec![tx_json(&tx)]).await.unwrap(), 21_000);
    let mut bad = tx.clone();
    bad.amount = 2;
    assert!(call(&c, "cpc_estimateGas", vec![tx_json(&bad)]).await.unwrap_err().to_string().contains("signature"));
    assert_eq!(call(&c, "cpc_estimateGas", vec![json!({"tx_type": "STAKE"})]).await.unwrap(), 40_000);
    assert_eq!(call(&c, "cpc_estimateGas", vec![json!({"tx_type": "UNJAIL"})]).await.unwrap(), 50_000);
    assert!(call(&c, "cpc_estimateGas", vec![json!({"tx_type": "MINT"})]).await.is_err(), "an unknown type");

    send(&c, &tx).await.unwrap();
    send(&c, &transfer(&k[1], addr_of(&k[2]), 1, 2)).await.unwrap(); // nonce gap: queued
    assert_eq!(call(&c, "txpool_status", vec![]).await.unwrap(), json!({"pending": 1, "queued": 1}));
    let content = call(&c, "txpool_content", vec![]).await.unwrap();
    let a = addr_of(&k[1]).to_string();
    assert_eq!(content["pending"][&a]["0"]["hash"], json!(tx.hash().to_hex()));
    assert!(content["queued"][&a]["2"].is_object());
    assert!(content.get("truncated").is_none(), "all of a small pool: {content}");
    // One sender's, and nothing of another's.
    send(&c, &transfer(&k[5], addr_of(&k[2]), 1, 0)).await.unwrap();
    let from = call(&c, "txpool_contentFrom", vec![a.clone().into()]).await.unwrap();
    assert_eq!(from["pending"][&a]["0"]["hash"], json!(tx.hash().to_hex()));
    assert!(from["queued"][&a]["2"].is_object());
    assert_eq!(from["pending"].as_object().unwrap().len(), 1, "{from}");
    let all = call(&c, "txpool_content", vec![]).await.unwrap();
    assert!(all["pending"][addr_of(&k[5]).to_string()]["0"].is_object());

    // poc_getWork / poc_submitResult: the work names the tip and marks submitted nonces taken.
    let w = addr_of(&k[3]);
    let work = call(&c, "poc_getWork", vec![w.to_string().into()]).await.unwrap();
    assert_eq!((work["n"].as_u64(), work["k"].as_u64(), work["window"].as_u64()), (Some(1024), Some(8), Some(16)));
    assert_eq!(work["taken_nonces"], json!([]));
    // v2: the tip's share target and what it means in tasks per share.
    let head = call(&c, "cpc_getBlockByNumber", vec![work["height"].clone(), false.into()]).await.unwrap();
    assert_eq!(work["share_target"], head["header"]["share_target"]);
    let t = ShareTarget::from_hex(work["share_target"].as_str().unwrap()).unwrap();
    assert_eq!(work["difficulty"].as_f64().unwrap(), t.difficulty());
    let tip = H256::from_hex(work["tip"].as_str().unwrap()).unwrap();
    let r = cpc_poc::solve(&tip, &w.to_string(), 3, &cpc_poc::SynthParams { n: 1024, k: 8 });
    let stx = submit_result(&k[3], r.to_payload(), 0, 80_000);
    let sv = call(&c, "poc_submitResult", vec![tx_json(&stx)]).await.unwrap();
    assert_eq!(sv["tx_hash"], json!(stx.hash().to_hex()));
    assert_eq!(sv["synthetic"], true);
    assert_eq!(sv["tip"], json!(tip.to_hex()));
    let work = call(&c, "poc_getWork", vec![w.to_string().into()]).await.unwrap();
    assert_eq!(work["taken_nonces"], json!([3]));
    let e = call(&c, "poc_submitResult", vec![tx_json(&tx)]).await.unwrap_err().to_string();
    assert!(e.contains("expected a SUBMIT_RESULT"), "{e}");

    // No miner in this node.
    assert_eq!(call(&c, "miner_status", vec![]).await.unwrap()["mining"], false);
    assert_eq!(call(&c, "net_peerCount", vec![]).await.unwrap(), 0);
    // admin is opt-in.
    let e = call(&c, "admin_nodeInfo", vec![]).await.unwrap_err().to_string();
    assert!(e.contains("Method not found"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_requests_get_errors_and_the_node_stays_up() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1h", "--rpc.max-request-bytes", "100000", "--rpc.max-batch", "5"]).unwrap();
    let url = &node.rpc_url;
    let huge = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"cpc_chainId","params":["{}"]}}"#, "x".repeat(200_000));
    let (status, _) = raw_post_status(url, &huge).unwrap();
    assert_eq!(status, 413, "payload too large");
    let batch: Vec<Value> = (0..6).map(|i| json!({"jsonrpc":"2.0","id":i,"method":"cpc_blockNumber","params":[]})).collect();
    let r = raw_post(url, &serde_json::to_string(&batch).unwrap()).unwrap();
    assert_eq!(r["error"]["code"], -32010, "batch over the limit: {r}");
    assert_eq!(raw_post(url, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":").unwrap()["error"]["code"], -32700);
    assert_eq!(raw_post(url, "[]").unwrap()["error"]["code"], -32600);
    assert_eq!(raw_post(url, r#"{"jsonrpc":"2.0","id":1,"method":"cpc_getBlockByNumber","params":["tip"]}"#).unwrap()["error"]["code"], -32602);
    // Still serving.
    let c = node.client();
    assert_eq!(call(&c, "cpc_chainId", vec![]).await.unwrap(), "cpc-devnet-1");
}

fn raw_with_origin(url: &str, method: &str, origin: &str) -> String {
    use std::io::{Read, Write};
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"cpc_chainId","params":[]}"#;
    let extra = if method == "OPTIONS" {
        "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n".to_string()
    } else {
        format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len())
    };
    write!(s, "{method} / HTTP/1.1\r\nHost: {hostport}\r\nOrigin: {origin}\r\n{extra}Connection: close\r\n\r\n").unwrap();
    if method == "POST" {
        s.write_all(body.as_bytes()).unwrap();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.to_lowercase()
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_only_the_configured_origin() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "1h", "--http.corsdomain", "http://wallet.example"]).unwrap();
    let ok = raw_with_origin(&node.rpc_url, "OPTIONS", "http://wallet.example");
    assert!(ok.contains("access-control-allow-origin: http://wallet.example"), "{ok}");
    let post = raw_with_origin(&node.rpc_url, "POST", "http://wallet.example");
    assert!(post.contains("access-control-allow-origin: http://wallet.example") && post.contains("cpc-devnet-1"), "{post}");
    let other = raw_with_origin(&node.rpc_url, "POST", "http://evil.example");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    // Without the flag, no CORS headers at all.
    let plain = NodeProc::start_dev(None, &["--dev.block-time", "1h"]).unwrap();
    let none = raw_with_origin(&plain.rpc_url, "POST", "http://wallet.example");
    assert!(!none.contains("access-control-allow-origin"), "{none}");
}
