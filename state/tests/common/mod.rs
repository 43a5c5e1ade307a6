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
        market: MarketParams::default(),
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

/// A genesis state on `p`: accounts `0..accounts` with `balance` each, and validator 0
/// (consensus key `key(0)`, 10% commission) self-bonded with `self_bond` in the genesis set.
pub fn validator_genesis(p: &ChainParams, accounts: u8, balance: u128, self_bond: u128) -> MemState {
    let mut st = MemState::default();
    let mut ex = BlockExecutor::new(&st, p, 0);
    for i in 0..accounts {
        ex.allocate(&addr(i), balance).unwrap();
    }
    let c = CreateValidator {
        consensus_key: key(0).public_key(),
        moniker: "v0".into(),
        commission_rate_bps: 1_000,
        max_rate_bps: 2_000,
        max_change_bps: 100,
    };
    ex.genesis_validator(addr(0), c, self_bond).unwrap();
    let out = ex.finish_genesis().unwrap();
    st.commit(&out.changes);
    st
}
