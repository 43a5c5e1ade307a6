//! Vectors for what PROTOCOL.md leaves to the project (docs/PROTOCOL-NOTES.md): account
//! leaves, the account tree, the state root, and the dev genesis. The file
//! docs/vectors/notes-v2.json is produced by this code; the test fails if the code and the
//! file disagree. Regenerate deliberately with `UPDATE_VECTORS=1 cargo test -p cpc-genesis
//! --test notes_vectors` (a change here is a consensus change).

use cpc_genesis::Genesis;
use cpc_primitives::*;
use cpc_state::stake::{stake_leaf, StakeKey};
use cpc_state::{account_leaf, state_root, AccountTree, Supply};
use serde_json::{json, Value};

fn produce() -> Value {
    let accounts: Vec<(Address, Account)> = (0u8..3)
        .map(|i| {
            let a = Address::from_public_key(&SecretKey::from_bytes(&[i + 1; 32]).public_key());
            (a, Account { balance: (i as u128 + 1) * UNITS_PER_CPC, nonce: i as u64 })
        })
        .collect();
    let leaves: Vec<H256> = accounts.iter().map(|(a, acc)| account_leaf(a, acc)).collect();
    let tree = AccountTree::from_leaves(leaves.clone());
    let supply = Supply {
        total: 6 * UNITS_PER_CPC + 7,
        genesis: 6 * UNITS_PER_CPC,
        minted: 10,
        burned: 3,
        liquid: 6 * UNITS_PER_CPC + 1,
        bonded: 3,
        unbonding: 2,
        rewards: 1,
    };
    let root = state_root(&tree.root(), 3, &supply);
    let g = Genesis::dev();
    let (gb, gout) = g.build().unwrap();
    // The dev genesis's staking records, as stored and hashed into the tree.
    let stake_records: Vec<Value> = gout
        .changes
        .stake
        .iter()
        .map(|(k, e)| {
            json!({
                "key": hex::encode(k),
                "key_decoded": format!("{:?}", StakeKey::decode(k).unwrap()),
                "slot": e.slot,
                "value": String::from_utf8(e.value.clone()).unwrap(),
                "leaf": stake_leaf(k, &e.value).to_hex(),
            })
        })
        .collect();
    // One signed example of each staking transaction (key of dev account 1).
    let k = &cpc_genesis::dev_keys()[1];
    let from = Address::from_public_key(&k.public_key());
    let validator = Address::from_public_key(&cpc_genesis::dev_keys()[0].public_key());
    let obj = |v: Value| Payload::from_map(v.as_object().unwrap().clone()).unwrap();
    let examples: Vec<(TxType, Option<Address>, u128, Payload)> = vec![
        (
            TxType::Stake,
            None,
            20_000 * UNITS_PER_CPC,
            obj(json!({"consensus_key": k.public_key().to_hex(), "moniker": "example", "commission_rate_bps": 500, "max_rate_bps": 2000, "max_change_bps": 100})),
        ),
        (TxType::Stake, None, 1_000 * UNITS_PER_CPC, Payload::empty()),
        (TxType::Unstake, None, 500 * UNITS_PER_CPC, Payload::empty()),
        (TxType::Delegate, Some(validator), 1_000 * UNITS_PER_CPC, Payload::empty()),
        (TxType::Delegate, Some(validator), 0, Payload::empty()),
        (TxType::Undelegate, Some(validator), 250 * UNITS_PER_CPC, Payload::empty()),
        (TxType::UpdateValidator, None, 0, obj(json!({"moniker": "renamed", "commission_rate_bps": 600}))),
        (TxType::Unjail, None, 0, Payload::empty()),
    ];
    let staking_txs: Vec<Value> = examples
        .into_iter()
        .enumerate()
        .map(|(i, (t, to, amount, payload))| {
            let tx = UnsignedTx::at_intrinsic_gas(&g.chain_id, t, from, to, amount, i as u64, 1000, payload).sign(k);
            json!({
                "tx": serde_json::from_slice::<Value>(&tx.canonical_json()).unwrap(),
                "hash": tx.hash().to_hex(),
            })
        })
        .collect();
    let market = market_vectors(&g);
    json!({
        "market": market,
        "account_leaves": accounts.iter().zip(&leaves).map(|((a, acc), l)| json!({
            "address": a.to_string(),
            "balance": acc.balance.to_string(),
            "nonce": acc.nonce,
            "leaf": l.to_hex(),
        })).collect::<Vec<_>>(),
        "accounts_root_of_the_3_leaves_in_slot_order": tree.root().to_hex(),
        "state_root": {
            "accounts_root": tree.root().to_hex(),
            "account_count": 3,
            "supply": serde_json::to_value(supply).unwrap(),
            "state_root": root.to_hex(),
        },
        "dev_genesis": {
            "chain_id": g.chain_id,
            "hash": gb.hash().to_hex(),
            "state_root": gb.header.state_root.to_hex(),
            "header": serde_json::to_value(&gb.header).unwrap(),
            "supply": serde_json::to_value(gout.changes.supply).unwrap(),
            "staking_records": stake_records,
        },
        "staking_transactions": staking_txs,
    })
}

/// The task market (docs/MARKET.md): the escrow address, content roots, one signed example of
/// each market transaction with the job id and task id they make, and the records a POST_JOB
/// and its CLAIM_JOB leave in the state tree.
fn market_vectors(g: &Genesis) -> Value {
    use cpc_primitives::blob::Blob;
    use cpc_state::{escrow_address, job_task_id, BlockExecutor, BlockInputs, MemState};
    let a: Vec<i8> = (0..12).map(|i| (i * 23 - 128) as i8).collect();
    let c: Vec<i32> = vec![-(1 << 26), 1 << 26, -1, 0, 7, 123_456, -99, 5, 1, -2];
    let blob_a = Blob::from_i8(3, 4, &a).unwrap();
    let blob_c = Blob::from_i32(5, 2, &c).unwrap();
    let k = &cpc_genesis::dev_keys()[1];
    let from = Address::from_public_key(&k.public_key());
    let obj = |v: Value| Payload::from_map(v.as_object().unwrap().clone()).unwrap();
    let post = UnsignedTx::at_intrinsic_gas(&g.chain_id, TxType::PostJob, from, None, 50 * UNITS_PER_CPC, 0, 1000, obj(json!({
        "m": 3, "k": 4, "n": 2, "a_root": blob_a.root().to_hex(), "b_root": blob_a.root().to_hex(),
        "bond": (2 * UNITS_PER_CPC).to_string(), "claim_blocks": 60, "deadline": 600, "retention": 3600,
        "max_blob_fee_per_byte": "2000000000",
    })))
    .sign(k);
    let job = post.hash();
    let w = &cpc_genesis::dev_keys()[2];
    let wa = Address::from_public_key(&w.public_key());
    let claim = UnsignedTx::at_intrinsic_gas(&g.chain_id, TxType::ClaimJob, wa, None, 2 * UNITS_PER_CPC, 0, 1000, obj(json!({"job_id": job.to_hex()}))).sign(w);
    let cancel = UnsignedTx::at_intrinsic_gas(&g.chain_id, TxType::CancelJob, from, None, 0, 1, 1000, obj(json!({"job_id": job.to_hex()}))).sign(k);
    let r = ComputeResult { task_id: job_task_id(&job), worker_address: wa.to_string(), result_hash: blob_c.root().to_hex(), proof: None, nonce: None, signature: None };
    let result = UnsignedTx::submit_result(&g.chain_id, wa, &r, 1, 1000).sign(w);
    let signed = |t: &Transaction| json!({"tx": serde_json::from_slice::<Value>(&t.canonical_json()).unwrap(), "hash": t.hash().to_hex()});
    // The records of POST_JOB and CLAIM_JOB executed at height 1 of the dev chain.
    let (_, gout) = g.build().unwrap();
    let mut st = MemState::default();
    st.commit(&gout.changes);
    let p = g.chain_params();
    let mut ex = BlockExecutor::new(&st, &p, 1).at_time(g.genesis_time + 1000);
    ex.execute(&post, post.hash()).unwrap();
    ex.execute(&claim, claim.hash()).unwrap();
    let proposer = Address::from_public_key(&g.validators[0].pub_key);
    let out = ex.finish(&BlockInputs::plain(proposer), &[]).unwrap();
    let records: Vec<Value> = out
        .changes
        .stake
        .iter()
        .filter(|(k, _)| matches!(StakeKey::decode(k), Some(StakeKey::Job(_) | StakeKey::JobDue { .. })))
        .map(|(k, e)| json!({"key": hex::encode(k), "key_decoded": format!("{:?}", StakeKey::decode(k).unwrap()), "value": String::from_utf8(e.value.clone()).unwrap(), "leaf": stake_leaf(k, &e.value).to_hex()}))
        .collect();
    // The blob fee (EIP-4844's): per byte at a few excesses under the dev parameters, and the
    // record that holds the excess.
    let mp = &g.market;
    let fee_table: Vec<Value> = [0u64, 1, mp.target_blob_bytes_per_block, 10 * mp.target_blob_bytes_per_block, 100 * mp.target_blob_bytes_per_block]
        .iter()
        .map(|&e| json!({"excess_blob_bytes": e, "blob_fee_per_byte": mp.blob_fee_at(e).to_string()}))
        .collect();
    let fee_key = StakeKey::BlobFee.encode();
    let fee_value = cpc_state::stake::StakeRecord::BlobFee(cpc_state::market::BlobFeeState { excess_blob_bytes: 12_345 }).to_bytes();
    json!({
        "blob_fee": {
            "floor": mp.blob_fee_per_byte.to_string(),
            "target_blob_bytes_per_block": mp.target_blob_bytes_per_block,
            "blob_fee_update_fraction": mp.blob_fee_update_fraction,
            "fee_at": fee_table,
            "record": {"key": hex::encode(&fee_key), "value": String::from_utf8(fee_value.clone()).unwrap(), "leaf": stake_leaf(&fee_key, &fee_value).to_hex()},
        },
        "escrow_address": escrow_address().to_string(),
        "blob_roots": [
            {"kind": "int8", "rows": 3, "cols": 4, "data": hex::encode(&blob_a.data), "leaves": blob_a.leaves().iter().map(|l| l.to_hex()).collect::<Vec<_>>(), "root": blob_a.root().to_hex()},
            {"kind": "int32", "rows": 5, "cols": 2, "data": hex::encode(&blob_c.data), "leaves": blob_c.leaves().iter().map(|l| l.to_hex()).collect::<Vec<_>>(), "root": blob_c.root().to_hex()},
        ],
        "post_job": signed(&post),
        "job_id": job.to_hex(),
        "task_id": job_task_id(&job),
        "claim_job": signed(&claim),
        "cancel_job": signed(&cancel),
        "job_result": signed(&result),
        "records_after_post_and_claim_at_height_1": records,
        "state_root_after": out.state_root.to_hex(),
    })
}

#[test]
fn notes_vectors_match_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/notes-v2.json");
    let produced = serde_json::to_string_pretty(&produce()).unwrap() + "\n";
    if std::env::var("UPDATE_VECTORS").is_ok() {
        std::fs::write(path, &produced).unwrap();
    }
    let stored = std::fs::read_to_string(path).expect("docs/vectors/notes-v2.json (UPDATE_VECTORS=1 to create)");
    assert_eq!(stored, produced, "the code no longer produces docs/vectors/notes-v2.json: a consensus change?");
}
