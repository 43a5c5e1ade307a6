//! Several real `cpcd` processes on loopback: agreement, transactions over gossip, a
//! validator killed with SIGKILL and restarted, a fresh full node syncing the whole chain,
//! and a partition that heals onto one chain.

use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);

async fn header_at(c: &jsonrpsee::http_client::HttpClient, h: u64) -> Value {
    call(c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await.unwrap()
}

async fn valcons(c: &jsonrpsee::http_client::HttpClient) -> String {
    let info = call(c, "admin_nodeInfo", vec![]).await.unwrap();
    let a: Address = info["validator"].as_str().unwrap().parse().unwrap();
    a.to_valcons().to_string()
}

/// All nodes agree on the block at `height`.
async fn same_block_at(clients: &[jsonrpsee::http_client::HttpClient], height: u64) -> bool {
    let mut first = None;
    for c in clients {
        let h = hash_at(c, height).await.ok().flatten();
        if h.is_none() {
            return false;
        }
        match &first {
            None => first = Some(h),
            Some(f) if *f != h => return false,
            _ => {}
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_agree_survive_a_kill_and_a_new_node_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 4, 5, "300ms").unwrap();
    let mut nodes: Vec<Option<NodeProc>> = dirs[..4].iter().map(|d| Some(NodeProc::start_datadir(d, &[]).unwrap())).collect();
    let clients: Vec<_> = nodes.iter().map(|n| n.as_ref().unwrap().client()).collect();

    // 1. Agreement at height >= 30.
    for c in &clients {
        wait_height(c, 30, LONG).await.unwrap();
    }
    assert!(same_block_at(&clients, 30).await, "all four have the same block at height 30");

    // 2. Transactions sent to different nodes all land, and every node sees them.
    let k = keys();
    let mut hashes = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let tx = transfer_on(TESTNET_CHAIN_ID, &k[i + 1], addr_of(&k[9]), 1000 + i as u128, 0);
        hashes.push(send(c, &tx).await.unwrap());
    }
    for h in &hashes {
        for c in &clients {
            let r = wait_receipt(c, h, Duration::from_secs(30)).await.unwrap();
            assert_eq!(r["status"], "success");
        }
    }

    // 3. kill -9 validator 3: the other three keep producing (its rounds time out).
    let v3 = valcons(&clients[3]).await;
    nodes[3].take().unwrap().kill9();
    let h_kill = block_number(&clients[0]).await.unwrap();
    wait_height(&clients[0], h_kill + 8, LONG).await.unwrap();
    let mut skipped_round = false;
    for h in h_kill + 2..=h_kill + 8 {
        let b = header_at(&clients[0], h).await;
        assert_ne!(b["header"]["proposer_address"].as_str().unwrap(), v3, "the dead validator proposed at {h}");
        skipped_round |= b["header"]["round"].as_u64().unwrap() > 0;
    }
    assert!(skipped_round, "some block after the kill was made in a later round");

    // 4. Restart it: it catches up to the same head and proposes again.
    nodes[3] = Some(NodeProc::start_datadir(&dirs[3], &[]).unwrap());
    let c3 = nodes[3].as_ref().unwrap().client();
    let target = block_number(&clients[0]).await.unwrap();
    wait_height(&c3, target, LONG).await.unwrap();
    assert_eq!(hash_at(&c3, target).await.unwrap(), hash_at(&clients[0], target).await.unwrap());
    let deadline = Instant::now() + LONG;
    let mut proposed = false;
    let mut h = target + 1;
    while !proposed && Instant::now() < deadline {
        if wait_height(&clients[0], h, Duration::from_secs(30)).await.is_ok() {
            proposed = header_at(&clients[0], h).await["header"]["proposer_address"] == Value::String(v3.clone());
            h += 1;
        }
    }
    assert!(proposed, "the restarted validator proposes again");

    // 5. A fifth node started from scratch syncs the whole chain: every hash and state root.
    let full = NodeProc::start_datadir(&dirs[4], &[]).unwrap();
    let cf = full.client();
    let top = block_number(&clients[0]).await.unwrap();
    wait_height(&cf, top, LONG).await.unwrap();
    for h in 0..=top {
        let (a, b) = (header_at(&clients[0], h).await, header_at(&cf, h).await);
        assert_eq!(a["hash"], b["hash"], "block {h}");
        assert_eq!(a["header"]["state_root"], b["header"]["state_root"], "state root {h}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&cf, "cpc_syncing", vec![]).await.unwrap() != Value::Bool(false) {
        assert!(Instant::now() < deadline, "cpc_syncing still reports progress after catching up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_heals_onto_one_chain_with_identical_state() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 4, 4, "300ms").unwrap();
    let nodes: Vec<NodeProc> = dirs.iter().map(|d| NodeProc::start_datadir(d, &[]).unwrap()).collect();
    let clients: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &clients {
        wait_height(c, 5, LONG).await.unwrap();
    }
    let mut ids = Vec::new();
    for c in &clients {
        ids.push(call(c, "admin_nodeInfo", vec![]).await.unwrap()["peer_id"].clone());
    }
    // Two sides of two validators each: both keep producing (the other side's rounds time out).
    for (i, c) in clients.iter().enumerate() {
        let side: Vec<Value> = if i < 2 { ids[..2].to_vec() } else { ids[2..].to_vec() };
        call(c, "admin_setPartition", vec![Value::Array(side)]).await.unwrap();
    }
    let k = keys();
    let tx = send(&clients[0], &transfer_on(TESTNET_CHAIN_ID, &k[5], addr_of(&k[6]), 77, 0)).await.unwrap();
    let (a0, b0) = (block_number(&clients[0]).await.unwrap(), block_number(&clients[2]).await.unwrap());
    wait_height(&clients[0], a0 + 4, LONG).await.unwrap();
    wait_height(&clients[2], b0 + 4, LONG).await.unwrap();
    let top = block_number(&clients[0]).await.unwrap().min(block_number(&clients[2]).await.unwrap());
    assert_ne!(hash_at(&clients[0], top).await.unwrap(), hash_at(&clients[2], top).await.unwrap(), "the two sides forked");
    // Heal.
    for c in &clients {
        call(c, "admin_setPartition", vec![Value::Null]).await.unwrap();
    }
    let deadline = Instant::now() + LONG;
    loop {
        let top = block_number(&clients[0]).await.unwrap();
        let mut all = true;
        for c in &clients {
            all &= block_number(c).await.unwrap() >= top;
        }
        if all && same_block_at(&clients, top).await {
            for c in &clients {
                let r = wait_receipt(c, &tx, LONG).await.unwrap();
                assert_eq!(r["status"], "success");
                assert_eq!(balance(c, &addr_of(&k[6])).await.unwrap(), 1_000_000 * UNITS_PER_CPC + 77);
            }
            let top = block_number(&clients[0]).await.unwrap();
            wait_height(&clients[3], top, LONG).await.unwrap();
            let mut roots = Vec::new();
            for c in &clients {
                wait_height(c, top, LONG).await.unwrap();
                roots.push(header_at(c, top).await["header"]["state_root"].clone());
            }
            assert!(roots.windows(2).all(|w| w[0] == w[1]), "identical state roots: {roots:?}");
            break;
        }
        assert!(Instant::now() < deadline, "nodes did not converge after the partition");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reorged = nodes.iter().filter(|n| n.logs().contains(" reorg ")).count();
    assert!(reorged >= 2, "the losing side switched chains (reorg logged by {reorged} nodes)");
}
