//! A transaction that fails changes nothing: one dropped from the block (an `Err` from
//! `execute`) leaves every account, staking record, slot and supply figure as before it; one
//! included as failed changes its sender's fee and nonce only. The failures are injected by a
//! view whose storage fails on chosen reads, after the transaction has started writing.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::stake::*;
use cpc_state::tree::NodeReader;
use cpc_state::*;
use std::cell::Cell;

const PROPOSER: Address = Address([0xaa; 20]);
const CPC: u128 = UNITS_PER_CPC;

/// A [`MemState`] whose storage fails reading the account `fail_account`, and reading the
/// staking record `fail_key` once `reads_before_failing` reads of it have succeeded.
struct Flaky<'a> {
    inner: &'a MemState,
    fail_account: Option<Address>,
    fail_key: Option<Vec<u8>>,
    reads_before_failing: Cell<u32>,
}

impl<'a> Flaky<'a> {
    fn new(inner: &'a MemState) -> Self {
        Flaky { inner, fail_account: None, fail_key: None, reads_before_failing: Cell::new(0) }
    }
}

fn injected() -> StorageError {
    StorageError::corrupt("injected read failure".into())
}

impl NodeReader for Flaky<'_> {
    fn node(&self, level: usize, index: u64) -> H256 {
        self.inner.node(level, index)
    }
}

impl StateView for Flaky<'_> {
    fn account_entry(&self, addr: &Address) -> Result<Option<AccountEntry>, StorageError> {
        if self.fail_account == Some(*addr) {
            return Err(injected());
        }
        self.inner.account_entry(addr)
    }
    fn account_count(&self) -> u64 {
        self.inner.account_count()
    }
    fn supply(&self) -> Supply {
        self.inner.supply()
    }
    fn task_known(&self, task_id: &str) -> Result<bool, StorageError> {
        self.inner.task_known(task_id)
    }
    fn stake_entry(&self, key: &[u8]) -> Result<Option<StakeEntry>, StorageError> {
        if self.fail_key.as_deref() == Some(key) {
            let left = self.reads_before_failing.get();
            if left == 0 {
                return Err(injected());
            }
            self.reads_before_failing.set(left - 1);
        }
        self.inner.stake_entry(key)
    }
    fn stake_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        self.inner.stake_prefix(prefix)
    }
    fn stake_range(&self, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        self.inner.stake_range(from, to)
    }
    fn active_set_at(&self, height: u64) -> Result<Option<ActiveSet>, StorageError> {
        self.inner.active_set_at(height)
    }
}

/// Accounts 0..4 with 1 000 CPC, validator 0 (self-bond 500 CPC) in the genesis set.
fn staking_genesis() -> MemState {
    validator_genesis(&params(), 4, 1000 * CPC, 500 * CPC)
}

fn staking(from: u8, t: TxType, to: Option<Address>, amount: u128, nonce: u64) -> Transaction {
    UnsignedTx::at_intrinsic_gas("cpc-test", t, addr(from), to, amount, nonce, 1000, Payload::empty()).sign(&key(from))
}

/// The block of `txs` on `st` without any injected failure: what the block must equal when
/// the refused transaction left no trace.
fn reference(st: &MemState, txs: &[Transaction]) -> BlockOutcome {
    let p = params();
    let mut ex = BlockExecutor::new(st, &p, 1);
    for tx in txs {
        ex.execute(tx, tx.hash()).unwrap();
    }
    ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap()
}

#[test]
fn a_transfer_whose_credit_fails_is_dropped_with_its_fee_and_nonce_undone() {
    let st = genesis(3);
    let p = params();
    let mut view = Flaky::new(&st);
    view.fail_account = Some(addr(1));
    let mut ex = BlockExecutor::new(&view, &p, 1);
    // The fee and the nonce are charged, then crediting the recipient fails (its last step).
    let bad = transfer(0, addr(1), 5 * CPC, 0, 1000);
    assert!(matches!(ex.execute(&bad, bad.hash()), Err(TxError::Storage(_))));
    assert_eq!((ex.tx_count(), ex.gas_used()), (0, 0));
    let sender = ex.account(&addr(0)).unwrap();
    assert_eq!((sender.balance, sender.nonce), (1000 * CPC, 0), "no fee charged, no nonce bumped");
    // The same sender's next transaction still has nonce 0.
    let good = transfer(0, addr(2), 7 * CPC, 0, 1000);
    ex.execute(&good, good.hash()).expect("nonce 0 is still the sender's next");
    let out = ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap();
    let fee = 21_000u128 * 1000;
    let sender = out.changes.accounts.iter().find(|(a, _)| *a == addr(0)).unwrap().1.account;
    assert_eq!((sender.balance, sender.nonce), (1000 * CPC - fee - 7 * CPC, 1));
    assert!(out.changes.accounts.iter().all(|(a, _)| *a != addr(1)), "the recipient of the refused transfer is untouched");
    let want = reference(&st, &[good]);
    assert_eq!(out.changes, want.changes);
    assert_eq!(out.state_root, want.state_root);
}

#[test]
fn a_delegation_whose_last_write_fails_leaves_balances_stake_and_supply_as_before() {
    let st = staking_genesis();
    let p = params();
    let validator_before = st.stake_record(&StakeKey::Validator(addr(0))).unwrap();
    let dkey = StakeKey::Delegation { delegator: addr(1), validator: addr(0) };
    let mut view = Flaky::new(&st);
    // The first read (is there a delegation already?) succeeds; the second, when the new
    // delegation record is written after the balance, the validator's tokens and the bonded
    // supply moved, fails.
    view.fail_key = Some(dkey.encode());
    view.reads_before_failing.set(1);
    let mut ex = BlockExecutor::new(&view, &p, 1);
    let bad = staking(1, TxType::Delegate, Some(addr(0)), 200 * CPC, 0);
    assert!(matches!(ex.execute(&bad, bad.hash()), Err(TxError::Storage(_))));
    assert_eq!((ex.tx_count(), ex.gas_used()), (0, 0));
    let sender = ex.account(&addr(1)).unwrap();
    assert_eq!((sender.balance, sender.nonce), (1000 * CPC, 0), "no fee, no nonce, no amount bonded");
    let good = transfer(1, addr(2), 3 * CPC, 0, 1000);
    ex.execute(&good, good.hash()).expect("nonce 0 is still the sender's next");
    let out = ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap();
    // Independently of the executor: nothing was bonded, so the supply's bonded part and the
    // validator's tokens are the genesis self-bond.
    assert_eq!(out.changes.supply.bonded, 500 * CPC);
    let Some(StakeRecord::Validator(v)) = validator_before else { panic!("genesis validator") };
    assert_eq!(v.tokens, 500 * CPC);
    for (k, e) in &out.changes.stake {
        assert_ne!(k, &dkey.encode(), "no delegation record");
        if let Some(StakeKey::Validator(op)) = StakeKey::decode(k) {
            let Ok(StakeRecord::Validator(after)) = StakeRecord::from_bytes(&StakeKey::Validator(op), &e.value) else { panic!() };
            assert_eq!(after.tokens, 500 * CPC, "the validator's tokens are the self-bond only");
        }
    }
    let want = reference(&st, &[good]);
    assert_eq!(out.changes, want.changes);
    assert_eq!(out.state_root, want.state_root);
}

#[test]
fn a_refused_staking_transaction_changes_only_its_fee_and_nonce() {
    let st = staking_genesis();
    let p = params();
    let mut ex = BlockExecutor::new(&st, &p, 1);
    // More than the sender has: refused by the balance rule, included as failed.
    let tx = staking(1, TxType::Delegate, Some(addr(0)), 5000 * CPC, 0);
    let o = ex.execute(&tx, tx.hash()).unwrap().clone();
    assert_eq!(o.status, TxStatus::Failed);
    let fee = 35_000u128 * 1000;
    let sender = ex.account(&addr(1)).unwrap();
    assert_eq!((sender.balance, sender.nonce), (1000 * CPC - fee, 1));
    let out = ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap();
    assert_eq!(out.changes.supply.bonded, 500 * CPC);
    let dkey = StakeKey::Delegation { delegator: addr(1), validator: addr(0) }.encode();
    assert!(out.changes.stake.iter().all(|(k, _)| *k != dkey));
}
