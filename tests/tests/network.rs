//! Several real `cpcd` processes on loopback: agreement, transactions over gossip, a
//! validator killed with SIGKILL and restarted, a fresh full node following the whole chain by
//! its certificates, and a partition into two halves that halts without forking and resumes.

use cpc_primitives::*;
use cpcd_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);

/// The two tests run one at a time: together they would be nine `cpcd` processes on two cores,
/// and a starved validator misses its rounds.
static PROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _one_at_a_time = PROCESSES.lock().await;
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

/// The hashes the nodes hold at each height up to the highest: a fork is two different hashes
/// at one height.
async fn assert_no_fork(clients: &[jsonrpsee::http_client::HttpClient]) -> u64 {
    let mut top = 0;
    for c in clients {
        top = top.max(block_number(c).await.unwrap());
    }
    for h in 1..=top {
        let mut seen = std::collections::BTreeSet::new();
        for c in clients {
            if let Some(x) = hash_at(c, h).await.unwrap() {
                seen.insert(x);
            }
        }
        assert!(seen.len() <= 1, "fork at height {h}: {seen:?}");
    }
    top
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_into_two_halves_halts_without_forking_and_resumes_when_healed() {
    let _one_at_a_time = PROCESSES.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let dirs = testnet_init(dir.path(), 4, 4, "300ms").unwrap();
    // Every consensus connection i -> j goes through a relay the test can cut.
    let ports: Vec<u16> = dirs.iter().map(|d| bft_port(d).expect("a validator's bft.port")).collect();
    let mut relays = std::collections::BTreeMap::new();
    for i in 0..4 {
        let mut mine = Vec::new();
        for j in (0..4).filter(|&j| j != i) {
            let r = Relay::start(ports[j]).await;
            mine.push(r.port);
            relays.insert((i, j), r);
        }
        set_bft_peers(&dirs[i], &mine).unwrap();
    }
    let nodes: Vec<NodeProc> = dirs.iter().map(|d| NodeProc::start_datadir(d, &[]).unwrap()).collect();
    let clients: Vec<_> = nodes.iter().map(|n| n.client()).collect();
    for c in &clients {
        wait_height(c, 5, LONG).await.unwrap();
    }
    let mut ids = Vec::new();
    for c in &clients {
        ids.push(call(c, "admin_nodeInfo", vec![]).await.unwrap()["peer_id"].clone());
    }
    // Two halves of two validators each (2 of 4 is no quorum): consensus and gossip both cut.
    let side = |i: usize| i / 2;
    for ((i, j), r) in &relays {
        if side(*i) != side(*j) {
            r.cut();
        }
    }
    for (i, c) in clients.iter().enumerate() {
        let mine: Vec<Value> = if side(i) == 0 { ids[..2].to_vec() } else { ids[2..].to_vec() };
        call(c, "admin_setPartition", vec![Value::Array(mine)]).await.unwrap();
    }
    let k = keys();
    let tx = send(&clients[0], &transfer_on(TESTNET_CHAIN_ID, &k[5], addr_of(&k[6]), 77, 0)).await.unwrap();
    // A decision in flight at the cut may still land; after that nothing is committed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut halted = Vec::new();
    for c in &clients {
        halted.push(block_number(c).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(block_number(c).await.unwrap(), halted[i], "validator {i} committed without a quorum");
    }
    let top = assert_no_fork(&clients).await;
    assert_eq!(balance(&clients[0], &addr_of(&k[6])).await.unwrap(), 1_000_000 * UNITS_PER_CPC, "the transfer waits");
    // Heal: commits resume on one chain and the waiting transfer is committed everywhere.
    for r in relays.values() {
        r.heal();
    }
    for c in &clients {
        call(c, "admin_setPartition", vec![Value::Null]).await.unwrap();
    }
    for c in &clients {
        wait_height(c, top + 3, LONG).await.unwrap();
    }
    for c in &clients {
        let r = wait_receipt(c, &tx, LONG).await.unwrap();
        assert_eq!(r["status"], "success");
        assert_eq!(balance(c, &addr_of(&k[6])).await.unwrap(), 1_000_000 * UNITS_PER_CPC + 77);
    }
    let end = assert_no_fork(&clients).await;
    let mut roots = Vec::new();
    for c in &clients {
        wait_height(c, end, LONG).await.unwrap();
        roots.push(header_at(c, end).await["header"]["state_root"].clone());
    }
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "identical state roots: {roots:?}");
}
