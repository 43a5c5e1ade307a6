//! BFT consensus with real `cpcd` processes (`testnet init --bft-base-port`): four validators
//! decide blocks with transfers; one killed with SIGKILL does not stop the rest; two killed
//! stop every commit without a fork; one restarted brings commits back and catches up. At the
//! end every node's database holds the same blocks and state roots, and every block has a
//! commit certificate that cpcd's own check accepts against the genesis validators.

use cpc_bft::certificate::{decode_certificate, verify_certificate};
use cpc_bft::context::BlockId;
use cpc_bft::{Validator, ValidatorSet};
use cpcd_tests::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

async fn heights(clients: &[&jsonrpsee::http_client::HttpClient]) -> Vec<u64> {
    let mut out = Vec::new();
    for c in clients {
        out.push(block_number(c).await.unwrap_or(0));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_bft_validators_commit_survive_one_kill_halt_at_two_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init_bft(dir.path(), 4, 4).unwrap();
    let mut nodes: Vec<Option<NodeProc>> = dirs
        .iter()
        .map(|d| Some(NodeProc::start_datadir(d, &[]).unwrap()))
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
async fn a_poa_node_has_no_finalized_block_and_no_certificates() {
    let node = NodeProc::start_dev(None, &["--dev.block-time", "200ms"]).unwrap();
    let c = node.client();
    wait_height(&c, 2, LONG).await.unwrap();
    let err = call(&c, "cpc_getBlockByNumber", vec!["finalized".into(), false.into()]).await.unwrap_err();
    assert!(format!("{err:#}").contains("no finality"), "{err:#}");
    let b = call(&c, "cpc_getBlockByNumber", vec!["latest".into(), false.into()]).await.unwrap();
    assert!(b.get("certificate").is_none(), "a PoA block with a certificate: {b}");
}
