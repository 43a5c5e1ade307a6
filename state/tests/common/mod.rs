#![allow(dead_code)]
use cpc_primitives::*;
use cpc_state::*;

pub fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i + 1; 32])
}

pub fn addr(i: u8) -> Address {
    Address::from_public_key(&key(i).public_key())
}

pub fn params() -> ChainParams {
    ChainParams {
        chain_id: "cpc-test".into(),
        min_gas_price: 1000,
        block_gas_limit: 50_000_000,
        max_txs_per_block: 10_000,
        block_time_ms: 1000,
        economics: Economics::with_treasury(Address([0xee; 20])),
        poc: PocParams::default(),
        staking: StakingParams::default(),
    }
}

pub fn transfer(from: u8, to: Address, amount: u128, nonce: u64, gas_price: u64) -> Transaction {
    UnsignedTx::transfer("cpc-test", addr(from), to, amount, nonce, gas_price).sign(&key(from))
}

pub fn submit(from: u8, task_id: &str, nonce: u64) -> Transaction {
    let r = ComputeResult {
        task_id: task_id.into(),
        worker_address: addr(from).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: Some(1),
        signature: None,
    };
    UnsignedTx::submit_result("cpc-test", addr(from), &r, nonce, 1000).sign(&key(from))
}

/// A MemState with `n` funded accounts (keys 0..n), 1 000 CPC each.
pub fn genesis(n: u8) -> MemState {
    let mut st = MemState::default();
    let p = params();
    let mut ex = BlockExecutor::new(&st, &p, 0);
    for i in 0..n {
        ex.allocate(&addr(i), 1000 * UNITS_PER_CPC).unwrap();
    }
    let out = ex.finish_genesis().unwrap();
    st.commit(&out.changes);
    st
}
