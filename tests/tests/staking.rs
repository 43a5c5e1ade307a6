//! Proof of Stake with real processes: a standby validator stakes, enters the active set and
//! proposes without anyone restarting; a delegator's undelegated tokens come back exactly at
//! completion; a validator stopped past its signed-blocks window is jailed, restarts, unjails
//! and is active again; the staking supply adds up at the end on every node.

use cpcd_tests::*;
use cpc_primitives::*;
use serde_json::Value;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);
const CPC: u128 = UNITS_PER_CPC;

/// Small periods so that the lifecycle fits a test: unbonding 15 blocks, a window of 20 blocks
/// at 50 %, 10 blocks of jail.
const STAKING: &str = r#"{"unbonding_period": 15, "evidence_max_age": 100, "set_change_delay": 2,
    "signed_blocks_window": 20, "min_signed_percent": 50, "downtime_jail_blocks": 10}"#;

async fn validator(c: &jsonrpsee::http_client::HttpClient, op: &Address) -> Value {
    call(c, "cpc_getValidator", vec![op.to_string().into()]).await.unwrap()
}

async fn active_operators(c: &jsonrpsee::http_client::HttpClient) -> Vec<String> {
    let s = call(c, "cpc_getActiveSet", vec![]).await.unwrap();
    s["members"].as_array().unwrap().iter().map(|m| m["operator"].as_str().unwrap().to_string()).collect()
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + LONG;
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn amount(v: &Value) -> u128 {
    v.as_str().unwrap_or_else(|| panic!("an amount string, found {v}")).parse().unwrap()
}

async fn balance(c: &jsonrpsee::http_client::HttpClient, a: &Address) -> u128 {
    amount(&call(c, "cpc_getBalance", vec![a.to_string().into()]).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validators_join_by_stake_unbond_exactly_and_come_back_from_jail() {
    let dir = tempfile::tempdir().unwrap();
    // Five validator nodes; node4 is standby (keys, funds, consensus port, no genesis stake).
    let dirs = testnet_init_with(dir.path(), 5, 5, "300ms", &["--standby", "1", "--staking", STAKING]).unwrap();
    let mut nodes: Vec<Option<NodeProc>> = dirs.iter().map(|d| Some(NodeProc::start_datadir(d, &[]).unwrap())).collect();
    let clients: Vec<_> = nodes.iter().map(|n| n.as_ref().unwrap().client()).collect();
    let vkeys: Vec<SecretKey> = dirs.iter().map(|d| validator_key(d).unwrap()).collect();
    let ops: Vec<Address> = vkeys.iter().map(addr_of).collect();
    wait_height(&clients[0], 3, LONG).await.unwrap();
    assert_eq!(active_operators(&clients[0]).await.len(), 4, "genesis: four active validators");
    assert!(validator(&clients[0], &ops[4]).await.is_null(), "the standby has no validator yet");

    // 1. The standby stakes 20 000 CPC (twice a genesis self-bond) through its own node.
    let stake = staking_tx(TESTNET_CHAIN_ID, &vkeys[4], TxType::Stake, None, 20_000 * CPC, 0, create_validator_payload(&vkeys[4], "node4"));
    let h = send(&clients[4], &stake).await.unwrap();
    let r = wait_receipt(&clients[0], &h, LONG).await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    let op4 = ops[4].to_string();
    wait_for("the standby in the active set", || {
        let c = clients[1].clone();
        let op4 = op4.clone();
        async move { active_operators(&c).await.contains(&op4) }
    })
    .await;
    let v4 = validator(&clients[0], &ops[4]).await;
    assert_eq!(v4["voting_power"], 20_000, "{v4}");
    assert_eq!(v4["active"], true, "{v4}");
    // It proposes: a block built by its consensus address appears.
    let cons4 = v4["consensus_address"].as_str().unwrap().to_string();
    let from = block_number(&clients[0]).await.unwrap();
    wait_for("a block proposed by the new validator", || {
        let c = clients[0].clone();
        let cons4 = cons4.clone();
        async move {
            let top = block_number(&c).await.unwrap();
            for hgt in from..=top {
                let b = call(&c, "cpc_getBlockByNumber", vec![hgt.into(), false.into()]).await.unwrap();
                if b["header"]["proposer_address"] == cons4.as_str() {
                    return true;
                }
            }
            false
        }
    })
    .await;

    // 2. A delegator (dev account 1) delegates 1 000 CPC to node0 and undelegates 400.
    let k = keys();
    let d = addr_of(&k[1]);
    let del = staking_tx(TESTNET_CHAIN_ID, &k[1], TxType::Delegate, Some(ops[0]), 1_000 * CPC, 0, Payload::empty());
    let r = wait_receipt(&clients[0], &send(&clients[2], &del).await.unwrap(), LONG).await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    let und = staking_tx(TESTNET_CHAIN_ID, &k[1], TxType::Undelegate, Some(ops[0]), 400 * CPC, 1, Payload::empty());
    let r = wait_receipt(&clients[0], &send(&clients[2], &und).await.unwrap(), LONG).await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    let at = r["block_height"].as_u64().unwrap();
    let entries = call(&clients[0], "cpc_getUnbonding", vec![d.to_string().into()]).await.unwrap();
    let entries = entries.as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let completion = entries[0]["completion_height"].as_u64().unwrap();
    assert_eq!(completion, at + 15, "the unbonding period is 15 blocks");
    let released = amount(&entries[0]["balance"]);
    assert!(released >= 399 * CPC && released <= 400 * CPC, "400 CPC of shares, rounded toward the pool: {released}");
    // Read where the undelegation is committed (the receipt came from node0).
    let after_undelegate = balance(&clients[0], &d).await;

    // 3. Meanwhile node1 goes down for longer than its window: jailed.
    let n1 = nodes[1].take().unwrap();
    let _ = n1.stop();
    wait_for("node1 jailed for downtime", || {
        let c = clients[0].clone();
        let op1 = ops[1];
        async move { validator(&c, &op1).await["jailed"] == true }
    })
    .await;
    let v1 = validator(&clients[0], &ops[1]).await;
    assert_eq!(v1["tombstoned"], false, "{v1}");
    assert!(amount(&v1["tokens"]) < 10_000 * CPC, "slashed a little for downtime: {v1}");

    // The undelegated tokens came back exactly once, at completion, and nothing else moved.
    wait_height(&clients[0], completion, LONG).await.unwrap();
    assert_eq!(balance(&clients[0], &d).await, after_undelegate + released, "exactly the released tokens");
    assert!(call(&clients[0], "cpc_getUnbonding", vec![d.to_string().into()]).await.unwrap().as_array().unwrap().is_empty());

    // 4. node1 restarts, waits out its jail and unjails: active again.
    nodes[1] = Some(NodeProc::start_datadir(&dirs[1], &[]).unwrap());
    let c1 = nodes[1].as_ref().unwrap().client();
    let until = validator(&clients[0], &ops[1]).await["jailed_until"].as_u64().unwrap();
    wait_height(&clients[0], until, LONG).await.unwrap();
    wait_height(&c1, until, LONG).await.unwrap();
    let nonce = call(&c1, "cpc_getTransactionCount", vec![ops[1].to_string().into()]).await.unwrap().as_u64().unwrap();
    // The downtime slash took the self-bond below the minimum: UNJAIL alone fails, naming the
    // rule; a top-up (STAKE {}) first, then UNJAIL.
    let unjail = staking_tx(TESTNET_CHAIN_ID, &vkeys[1], TxType::Unjail, None, 0, nonce, Payload::empty());
    let r = wait_receipt(&clients[0], &send(&c1, &unjail).await.unwrap(), LONG).await.unwrap();
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("below the minimum self-bond"), "{r}");
    let top_up = staking_tx(TESTNET_CHAIN_ID, &vkeys[1], TxType::Stake, None, 100 * CPC, nonce + 1, Payload::empty());
    let r = wait_receipt(&clients[0], &send(&c1, &top_up).await.unwrap(), LONG).await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    let unjail = staking_tx(TESTNET_CHAIN_ID, &vkeys[1], TxType::Unjail, None, 0, nonce + 2, Payload::empty());
    let r = wait_receipt(&clients[0], &send(&c1, &unjail).await.unwrap(), LONG).await.unwrap();
    assert_eq!(r["status"], "success", "{r}");
    let op1 = ops[1].to_string();
    wait_for("node1 active again", || {
        let c = clients[0].clone();
        let op1 = op1.clone();
        async move { active_operators(&c).await.contains(&op1) }
    })
    .await;

    // 5. Every node agrees on the staking state, and the supply adds up on each.
    let top = block_number(&clients[0]).await.unwrap();
    let all: Vec<_> = std::iter::once(c1.clone()).chain(clients.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, c)| c.clone())).collect();
    for c in &all {
        wait_height(c, top, LONG).await.unwrap();
    }
    let h = hash_at(&clients[0], top).await.unwrap();
    for c in &all {
        assert_eq!(hash_at(c, top).await.unwrap(), h);
        let s = call(c, "cpc_getSupply", vec![]).await.unwrap();
        let (total, genesis, minted, burned) = (amount(&s["total"]), amount(&s["genesis"]), amount(&s["minted"]), amount(&s["burned"]));
        let parts = amount(&s["liquid"]) + amount(&s["bonded"]) + amount(&s["unbonding"]) + amount(&s["rewards"]);
        assert_eq!(total, genesis + minted - burned, "{s}");
        assert_eq!(parts, total, "{s}");
        assert!(burned > 0, "the downtime slash is counted: {s}");
    }
    for n in nodes.into_iter().flatten() {
        let _ = n.stop();
    }
}
