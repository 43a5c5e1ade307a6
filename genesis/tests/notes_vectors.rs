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
    json!({
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
