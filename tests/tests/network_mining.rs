//! Mining on a real network (PoC v2): three validator processes on loopback, one of them
//! mining on the CPU. Its shares travel by gossip to peers that may not have the tip yet (that
//! is timing, never a penalty): no peer is banned, every node holds the same chain and state,
//! and the miner's shares are on chain and paid.

use cpcd_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const BLOCKS: u64 = 60;
const LONG: Duration = Duration::from_secs(240);

fn validator_of(dir: &std::path::Path) -> String {
    let toml = std::fs::read_to_string(dir.join("cpcd.toml")).unwrap();
    let line = toml.lines().find(|l| l.starts_with("validator = ")).expect("a validator line");
    line.trim_start_matches("validator = ").trim_matches('"').to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_validators_one_mining_agree_and_pay_its_shares() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 3, 3, "1s").unwrap();
    let miner = validator_of(&dirs[0]);
    let mut nodes = vec![NodeProc::start_datadir(&dirs[0], &["--mine", "--cpu-threads", "1", "--miner", &miner]).unwrap()];
    for d in &dirs[1..] {
        nodes.push(NodeProc::start_datadir(d, &[]).unwrap());
    }
    let clients: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &clients {
        wait_height(c, BLOCKS, LONG).await.unwrap();
    }

    // Every node has the same blocks and state roots up to BLOCKS.
    let mut hashes = Vec::new();
    for c in &clients {
        let b = call(c, "cpc_getBlockByNumber", vec![BLOCKS.into(), false.into()]).await.unwrap();
        hashes.push((b["hash"].clone(), b["header"]["state_root"].clone(), b["header"]["share_target"].clone()));
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "same block, state root and target at {BLOCKS}: {hashes:?}");

    // The miner's shares are on chain, each paid the share reward, and the index agrees.
    let (mut shares, mut paid) = (0u64, 0u128);
    for h in 1..=BLOCKS {
        let v = call(&clients[1], "cpc_getComputeResults", vec![h.into()]).await.unwrap();
        for r in v["results"].as_array().unwrap() {
            assert_eq!(r["synthetic"], true);
            if r["result"]["worker_address"] == Value::String(miner.clone()) {
                shares += 1;
                paid += r["reward"].as_str().expect("a share is paid").parse::<u128>().unwrap();
            }
        }
    }
    assert!(shares >= 8, "the miner's shares are on chain: {shares} in {BLOCKS} blocks\n{}", nodes[0].logs());
    assert_eq!(paid, shares as u128 * (10 * cpc_primitives::UNITS_PER_CPC * 30 / 100 / 8), "each paid the fixed share reward");
    for c in &clients {
        let w = call(c, "poc_getWorker", vec![miner.clone().into()]).await.unwrap();
        assert!(w["shares"].as_u64().unwrap() >= shares, "{w}");
    }

    // Nobody was banned, nobody rejected the miner's gossip, every node still has both peers.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (i, c) in clients.iter().enumerate() {
        loop {
            let peers = call(c, "net_peers", vec![]).await.unwrap();
            let list = peers.as_array().unwrap();
            let n = list.len();
            if n == 2 {
                for p in list {
                    assert!(p["score"].as_i64().unwrap() >= 0, "node{i} penalised a peer: {peers}");
                }
                break;
            }
            assert!(Instant::now() < deadline, "node{i} has {n} peers: {peers}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let logs = n.logs();
        assert!(!logs.contains("banning peer"), "node{i} banned a peer:\n{logs}");
        assert!(!logs.contains("gossip message rejected"), "node{i} rejected gossip:\n{logs}");
    }
}
