//! A remote CPU worker (`cpcd worker`, a separate process) mines for a dev node over
//! WebSocket and gets paid.

use cpc_primitives::*;
use cpcd_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_cpu_worker_is_paid() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "500ms", "--ws.port", "0"]).unwrap();
    let c = node.client();
    let ws = ws_url(&node).unwrap();

    // The worker's key (dev account 7) in its own keystore.
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore");
    let pw = dir.path().join("pw");
    let secret = dir.path().join("secret");
    std::fs::write(&pw, "worker password\n").unwrap();
    std::fs::write(&secret, keys()[7].to_hex()).unwrap();
    let out = Command::new(cpcd_path())
        .env("CPCD_INSECURE_TEST_KDF", "1")
        .args(["key", "import", "--keystore", ks.to_str().unwrap(), "--password-file", pw.to_str().unwrap()])
        .args(["--secret-file", secret.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    assert_eq!(paid["reward"], serde_json::json!((3 * UNITS_PER_CPC / n).to_string()), "the pool split over the block's results");
    // The worker signed its result with its own key.
    let r: ComputeResult = serde_json::from_value(paid["result"].clone()).unwrap();
    let sig = Signature::from_hex(r.signature.as_ref().unwrap()).unwrap();
    keys()[7].public_key().verify_strict(&r.signing_bytes(), &sig).unwrap();
}
