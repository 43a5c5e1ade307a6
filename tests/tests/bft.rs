//! BFT consensus with real `cpcd` processes (`testnet init`): four validators decide blocks
//! with transfers and one validator's mined shares; one killed with SIGKILL does not stop the rest; two killed
//! stop every commit without a fork; one restarted brings commits back and catches up. At the
//! end every node's database holds the same blocks and state roots, and every block has a
//! commit certificate that cpcd's own check accepts against the genesis validators.

use cpc_bft::certificate::{decode_certificate, verify_certificate};
use cpc_bft::context::BlockId;
use cpc_bft::{Validator, ValidatorSet};
use cpcd_tests::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

/// The two multi-process tests below run one at a time: together they would be nine `cpcd`
/// processes and a miner on two cores, and a starved validator misses its rounds.
static PROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn heights(clients: &[&jsonrpsee::http_client::HttpClient]) -> Vec<u64> {
    let mut out = Vec::new();
    for c in clients {
        out.push(block_number(c).await.unwrap_or(0));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_bft_validators_commit_survive_one_kill_halt_at_two_and_resume() {
    let _one_at_a_time = PROCESSES.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 4, 4, "300ms").unwrap();
    // Validator 0 also mines (one CPU thread, two shares per tip): its shares go through
    // consensus like transfers.
    let toml = std::fs::read_to_string(dirs[0].join("cpcd.toml")).unwrap();
    let miner = toml.lines().find_map(|l| l.strip_prefix("validator = ")).unwrap().trim_matches('"').to_string();
    let mut nodes: Vec<Option<NodeProc>> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mine: &[&str] = if i == 0 { &["--mine", "--cpu-threads", "1", "--miner.results-per-tip", "2", "--miner", &miner] } else { &[] };
            Some(NodeProc::start_datadir(d, mine).unwrap())
        })
        .collect();
    let clients: Vec<_> = nodes.iter().map(|n| n.as_ref().unwrap().client()).collect();

    // 1. Transfers sent to different nodes are all committed, on every node.
    let k = keys();
    let mut hashes = Vec::new();
    for round in 0..5u64 {
        for (i, c) in clients.iter().enumerate() {
            let tx = transfer_on(TESTNET_CHAIN_ID, &k[i + 1], addr_of(&k[9]), 1000, round);
            hashes.push(send(c, &tx).await.unwrap());
        }
    }
    for c in &clients {
        wait_height(c, 50, LONG).await.unwrap();
    }
    for h in &hashes {
        for c in &clients {
            wait_receipt(c, h, LONG).await.unwrap();
        }
    }

    // Over RPC: "finalized" is the last committed block, and every block carries its
    // certificate (signed by at least 3 of the 4 genesis validators).
    let g = cpc_genesis::Genesis::from_json(&std::fs::read(dir.path().join("genesis.json")).unwrap()).unwrap();
    let members: Vec<String> = g.validators.iter().map(|v| v.consensus_address().to_string()).collect();
    let fin = call(&clients[0], "cpc_getBlockByNumber", vec!["finalized".into(), false.into()]).await.unwrap();
    let fin_h = fin["header"]["height"].as_u64().unwrap();
    assert!(fin_h >= 50, "{fin}");
    for h in [1, 10, fin_h] {
        let b = call(&clients[1], "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap();
        let c = &b["certificate"];
        assert_eq!(c["height"].as_u64(), Some(h), "{b}");
        assert_eq!(c["block_hash"], b["hash"], "{b}");
        let signers: Vec<&str> = c["signatures"].as_array().unwrap().iter().map(|s| s["validator"].as_str().unwrap()).collect();
        assert!(signers.len() >= 3 && signers.iter().all(|s| members.iter().any(|m| m == s)), "{c}");
    }

    // The miner's shares are in the committed blocks, as every validator sees them.
    let mut shares = 0;
    for h in 1..=50u64 {
        let r = call(&clients[2], "cpc_getComputeResults", vec![h.into()]).await.unwrap();
        shares += r["shares"].as_u64().unwrap_or(0);
    }
    assert!(shares > 0, "no share committed in 50 heights");

    // 2. One validator killed: the three others go on.
    nodes[3].take().unwrap().kill9();
    let h = *heights(&[&clients[0], &clients[1], &clients[2]])
        .await
        .iter()
        .max()
        .unwrap();
    for c in &clients[..3] {
        wait_height(c, h + 10, LONG).await.unwrap();
    }

    // 3. A second one killed: 2 of 4 is no quorum, nothing more is committed.
    nodes[2].take().unwrap().kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let frozen = heights(&[&clients[0], &clients[1]]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        heights(&[&clients[0], &clients[1]]).await,
        frozen,
        "two of four validators committed blocks"
    );

    // 4. One restarted: commits resume and it catches up.
    nodes[3] = Some(NodeProc::start_datadir(&dirs[3], &[]).unwrap());
    let top = *frozen.iter().max().unwrap();
    for c in [&clients[0], &clients[1], &clients[3]] {
        wait_height(c, top + 10, LONG).await.unwrap();
    }

    // 5. Every database: the same blocks and state roots, and a verifying certificate for
    // every block.
    for n in nodes.iter_mut() {
        if let Some(n) = n.take() {
            n.stop().unwrap();
        }
    }
    let g =
        cpc_genesis::Genesis::from_json(&std::fs::read(dir.path().join("genesis.json")).unwrap())
            .unwrap();
    let set = ValidatorSet::new(
        g.validators
            .iter()
            .map(|v| Validator::new(v.pub_key, 1))
            .collect(),
    )
    .unwrap();
    let stores: Vec<_> = dirs
        .iter()
        .map(|d| cpc_state::Store::open(&d.join("chaindata")).unwrap())
        .collect();
    let tops: Vec<u64> = stores.iter().map(|s| s.head().unwrap().height).collect();
    let common = *tops.iter().min().unwrap();
    assert!(common >= 50, "heights {tops:?}");
    for (i, s) in stores.iter().enumerate() {
        for h in 1..=tops[i] {
            let hash = s.hash_at(h).unwrap().unwrap();
            if h <= common {
                assert_eq!(
                    Some(hash),
                    stores[0].hash_at(h).unwrap(),
                    "node {i} differs at height {h}"
                );
            }
            let cert = decode_certificate(
                &s.certificate(h)
                    .unwrap()
                    .unwrap_or_else(|| panic!("node {i} height {h}: no certificate")),
            )
            .unwrap();
            verify_certificate(&cert, h, BlockId(hash.0), &set)
                .unwrap_or_else(|e| panic!("node {i} height {h}: {e}"));
        }
    }
    let root = |s: &cpc_state::Store| {
        s.header(&s.hash_at(common).unwrap().unwrap())
            .unwrap()
            .unwrap()
            .state_root
    };
    let r0 = root(&stores[0]);
    assert!(
        stores.iter().all(|s| root(s) == r0),
        "state roots differ at height {common}"
    );
}

#[tokio::test]
async fn a_dev_chain_is_final_with_the_lone_validators_certificates() {
    // One validator: its own precommit is more than 2/3 of the power, so every dev block is
    // final at once and carries the certificate it signed alone.
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms"]).unwrap();
    let c = node.client();
    wait_height(&c, 2, LONG).await.unwrap();
    let fin = call(&c, "cpc_getBlockByNumber", vec!["finalized".into(), false.into()]).await.unwrap();
    let fin_h = fin["header"]["height"].as_u64().unwrap();
    assert!(fin_h >= 2, "{fin}");
    let dev_validator = cpc_genesis::Genesis::dev().validators[0].consensus_address().to_string();
    let b = call(&c, "cpc_getBlockByNumber", vec![1.into(), false.into()]).await.unwrap();
    let cert = &b["certificate"];
    assert_eq!(cert["height"], 1, "{b}");
    assert_eq!(cert["block_hash"], b["hash"]);
    let sigs = cert["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1, "{cert}");
    assert_eq!(sigs[0]["validator"], dev_validator.as_str());
    let genesis = call(&c, "cpc_getBlockByNumber", vec![0.into(), false.into()]).await.unwrap();
    assert!(genesis.get("certificate").is_none(), "genesis is final by definition, without votes: {genesis}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_forks_nothing_and_its_evidence_is_kept_and_gossiped() {
    let _one_at_a_time = PROCESSES.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 4, 5, "300ms").unwrap();
    let mut nodes = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let extra: &[&str] = match i {
            0 => &["--metrics", "127.0.0.1:0"],
            3 => &["--bft.test-equivocate"],
            _ => &[],
        };
        nodes.push(NodeProc::start_datadir(d, extra).unwrap());
    }
    let clients: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    let g = cpc_genesis::Genesis::from_json(&std::fs::read(dir.path().join("genesis.json")).unwrap()).unwrap();
    let byzantine = g.validators[3].consensus_address().to_string();
    let set = cpc_consensus::ValidatorSet::new(g.validators.iter().map(|v| v.pub_key).collect());

    // Every honest validator, and the full node by gossip, keeps evidence (a double proposal or
    // a double vote) by validator 3, each piece verifying on its own against the genesis
    // validators.
    let deadline = std::time::Instant::now() + LONG;
    for (i, c) in clients.iter().enumerate().filter(|(i, _)| *i != 3) {
        loop {
            let list = call(c, "cpc_getEvidence", vec![]).await.unwrap();
            let list = list.as_array().unwrap().clone();
            let kinds: std::collections::BTreeSet<String> =
                list.iter().filter(|e| e["validator"] == byzantine.as_str()).map(|e| e["type"].as_str().unwrap().to_string()).collect();
            // The first piece in a block tombstones the equivocator and takes it out of the set
            // two blocks later, so it may not live to equivocate in the other way too.
            if !kinds.is_empty() && kinds.iter().all(|k| k == "double_proposal" || k == "double_vote") {
                for e in &list {
                    let mut e = e.clone();
                    let id = e.as_object_mut().unwrap().remove("id").unwrap();
                    let ev: cpc_consensus::Evidence = serde_json::from_value(e).unwrap();
                    assert_eq!(ev.verify(&set), Ok(()), "node {i}: {ev:?}");
                    assert_eq!(serde_json::json!(ev.id()), id);
                    assert_eq!(ev.validator().to_string(), byzantine, "only the equivocator is accused");
                }
                break;
            }
            if std::time::Instant::now() >= deadline {
                let tail = |n: &NodeProc| n.logs().lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("node {i} has no evidence by {byzantine}: {list:?}\nnode {i}:\n{}\nnode 3:\n{}", tail(&nodes[i]), tail(&nodes[3]));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    // No fork: the same block at every height on all five nodes, the equivocator's included.
    let top = block_number(&clients[0]).await.unwrap();
    for c in &clients {
        wait_height(c, top, LONG).await.unwrap();
    }
    for h in 1..=top {
        let first = hash_at(&clients[0], h).await.unwrap();
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(hash_at(c, h).await.unwrap(), first, "node {i} at height {h}");
        }
    }

    // The evidence went into a block: on every node, the full node's included, the equivocator
    // is slashed once (5 %), jailed and tombstoned, and leaves the active set.
    let op3 = g.validators[3].account_address().to_string();
    for (i, c) in clients.iter().enumerate().filter(|(i, _)| *i != 3) {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let v = call(c, "cpc_getValidator", vec![op3.clone().into()]).await.unwrap();
            let set = call(c, "cpc_getActiveSet", vec![]).await.unwrap();
            let active = set["members"].as_array().unwrap().iter().any(|m| m["operator"] == op3.as_str());
            if v["tombstoned"] == true && !active {
                assert_eq!(v["jailed"], true, "node {i}: {v}");
                let tokens: u128 = v["tokens"].as_str().unwrap().parse().unwrap();
                let bond = g.validators[3].self_bond;
                assert!(tokens <= bond - bond * 5 / 100, "node {i}: at least the 5 % double-sign slash: {v}");
                let supply = call(c, "cpc_getSupply", vec![]).await.unwrap();
                let burned: u128 = supply["burned"].as_str().unwrap().parse().unwrap();
                assert!(burned >= bond * 5 / 100 && burned <= bond - tokens, "node {i}: the slash is burned, once: {supply} {v}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "node {i}: the equivocator is not tombstoned and out of the set: {v} {set}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    // cpc_consensusState: a validator's view of its current height, a full node's mode.
    let mut st = call(&clients[1], "cpc_consensusState", vec![]).await.unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while st["validators"] != 3 && std::time::Instant::now() < deadline {
        // The height consensus is on may still be one the equivocator was scheduled for.
        tokio::time::sleep(Duration::from_millis(200)).await;
        st = call(&clients[1], "cpc_consensusState", vec![]).await.unwrap();
    }
    assert_eq!(st["mode"], "validator", "{st}");
    assert!(st["height"].as_u64().unwrap() > top.saturating_sub(1), "{st}");
    assert_eq!(st["validators"], 3, "the tombstoned equivocator no longer decides: {st}");
    assert!(st["votes"].is_array() && st["step"].is_string(), "{st}");
    let full = call(&clients[4], "cpc_consensusState", vec![]).await.unwrap();
    assert_eq!(full["mode"], "full_node", "{full}");

    // Metrics of consensus on validator 0. The evidence counter counts every piece kept, as
    // cpc_getEvidence lists them (read before and after the scrape: a piece may land between).
    // How many pieces there are depends on timing: the first one in a block ends the
    // equivocator's run.
    let kept = |l: serde_json::Value| l.as_array().unwrap().len() as f64;
    let before = kept(call(&clients[0], "cpc_getEvidence", vec![]).await.unwrap());
    let s = cpcd_tests::prom::scrape(&cpcd_tests::prom::metrics_addr(&nodes[0]));
    let after = kept(call(&clients[0], "cpc_getEvidence", vec![]).await.unwrap());
    let v = |name: &str| cpcd_tests::prom::value(&s, name, &[]).unwrap_or_else(|| panic!("{name} missing: {s:?}"));
    let counted = v("cpcd_evidence_total");
    assert!(before >= 1.0 && before <= counted && counted <= after, "kept {before}..{after}, counted {counted}");
    assert!(v("cpcd_bft_rounds_per_height_count") >= top as f64 - 1.0);
    assert!(v("cpcd_bft_commit_latency_seconds_count") >= 1.0);
    assert!(v("cpcd_bft_height") >= top as f64);
}
