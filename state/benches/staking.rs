//! The staking end of a block at the largest active set (100 validators): liveness from a
//! certificate of 100 signers, rewards to 100 validators (F1, O(1) each), plus a block of 1 000
//! DELEGATE transactions, and a set recomputation. Median of 50 blocks each.
//!
//! `cargo bench -p cpc-state --bench staking`

use cpc_primitives::*;
use cpc_state::*;
use std::time::Instant;

const CPC: u128 = UNITS_PER_CPC;

fn key(i: u64) -> SecretKey {
    SecretKey::from_bytes(&sha256(&i.to_le_bytes()).0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut p = ChainParams {
        chain_id: "bench".into(),
        min_gas_price: 1000,
        block_gas_limit: u64::MAX,
        max_txs_per_block: usize::MAX,
        block_time_ms: 1000,
        economics: Economics::with_treasury(Address([0xee; 20])),
        poc: PocParams::default(),
        staking: StakingParams::default(),
        market: MarketParams::default(),
    };
    p.staking.max_validators = 100;
    let vals: Vec<SecretKey> = (0..100).map(key).collect();
    let dels: Vec<SecretKey> = (1000..2000).map(key).collect();
    let mut st = MemState::default();
    let mut ex = BlockExecutor::new(&st, &p, 0);
    for k in vals.iter().chain(&dels) {
        ex.allocate(&Address::from_public_key(&k.public_key()), 1_000_000 * CPC).unwrap();
    }
    for (i, k) in vals.iter().enumerate() {
        let c = CreateValidator {
            consensus_key: k.public_key(),
            moniker: format!("v{i}"),
            commission_rate_bps: 500,
            max_rate_bps: 1000,
            max_change_bps: 100,
        };
        ex.genesis_validator(Address::from_public_key(&k.public_key()), c, (10_000 + i as u128) * CPC).unwrap();
    }
    let out = ex.finish_genesis().unwrap();
    st.commit(&out.changes);
    let signers: Vec<ValconsAddress> = vals.iter().map(|k| ValconsAddress::from_public_key(&k.public_key())).collect();
    let mut nonces = vec![0u64; dels.len()];
    let (mut empty, mut full) = (Vec::new(), Vec::new());
    for h in 1..=100u64 {
        let txs: Vec<Transaction> = if h % 2 == 0 {
            dels.iter()
                .enumerate()
                .map(|(i, k)| {
                    let v = Address::from_public_key(&vals[i % 100].public_key());
                    let from = Address::from_public_key(&k.public_key());
                    let t = UnsignedTx::at_intrinsic_gas("bench", TxType::Delegate, from, Some(v), CPC, nonces[i], 1000, Payload::empty());
                    nonces[i] += 1;
                    t.sign(k)
                })
                .collect()
        } else {
            Vec::new()
        };
        let inputs = BlockInputs {
            proposer: Address([0; 20]),
            last_commit: (h > 1).then(|| LastCommit { height: h - 1, signers: signers.clone() }),
            infractions: vec![],
        };
        let t = Instant::now();
        let mut ex = BlockExecutor::new(&st, &p, h).at_time(h * 1000);
        for tx in &txs {
            let o = ex.execute(tx, tx.hash()).unwrap();
            assert!(o.error.is_none(), "{:?}", o.error);
        }
        let out = ex.finish(&inputs, &[]).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        st.commit(&out.changes);
        if txs.is_empty() { empty.push(ms) } else { full.push(ms) }
    }
    let set = st.active_set_at(101).unwrap().unwrap();
    assert_eq!(set.members.len(), 100);
    let paid = st.stake.values().filter(|e| !e.is_removed()).count();
    println!("staking/end_of_block_100_validators (liveness + rewards)        {:.3} ms", median(empty));
    println!("staking/block_of_1000_delegations_100_validators (+ new set)     {:.3} ms", median(full));
    println!("staking records after 100 blocks: {paid}");
}
