//! One test per state-transition rule.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::*;

const PROPOSER: Address = Address([0xaa; 20]);

fn run(st: &MemState, txs: &[Transaction]) -> Result<BlockOutcome, TxError> {
    let p = params();
    let mut ex = BlockExecutor::new(st, &p, 1);
    for tx in txs {
        ex.execute(tx, tx.hash())?;
    }
    Ok(ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap())
}

#[test]
fn transfer_moves_amount_and_charges_gas_used_times_price() {
    let mut st = genesis(2);
    let tx = transfer(0, addr(1), 5 * UNITS_PER_CPC, 0, 2000);
    let out = run(&st, &[tx.clone()]).unwrap();
    st.commit(&out.changes);
    let fee = 21_000u128 * 2000;
    assert_eq!(st.balance(&addr(0)), 995 * UNITS_PER_CPC - fee);
    assert_eq!(st.balance(&addr(1)), 1005 * UNITS_PER_CPC);
    assert_eq!(st.accounts[&addr(0)].account.nonce, 1);
    assert_eq!(out.outcomes[0].fee_paid, fee);
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
}

#[test]
fn charge_is_gas_used_not_gas_limit() {
    let st = genesis(1);
    let sk = key(0);
    let tx = UnsignedTx {
        chain_id: "cpc-test".into(),
        tx_type: TxType::Transfer,
        from_address: addr(0),
        to_address: Some(addr(1)),
        amount: 1,
        fee: 30_000 * 1000,
        nonce: 0,
        gas_price: 1000,
        gas_limit: 30_000,
        payload: Payload::empty(),
    }
    .sign(&sk);
    let out = run(&st, &[tx]).unwrap();
    assert_eq!(out.outcomes[0].gas_used, 21_000);
    assert_eq!(out.outcomes[0].fee_paid, 21_000 * 1000);
    assert_eq!(out.gas_used, 21_000);
}

#[test]
fn wrong_nonce_is_refused() {
    let st = genesis(1);
    assert_eq!(
        run(&st, &[transfer(0, addr(1), 1, 1, 1000)]).unwrap_err(),
        TxError::Nonce { expected: 0, found: 1 }
    );
    let a = transfer(0, addr(1), 1, 0, 1000);
    assert_eq!(run(&st, &[a.clone(), a]).unwrap_err(), TxError::Nonce { expected: 1, found: 0 });
}

#[test]
fn sender_must_cover_the_max_fee() {
    let st = genesis(1);
    // key 5 has no account at all
    let err = run(&st, &[transfer(5, addr(1), 0, 0, 1000)]).unwrap_err();
    assert_eq!(err, TxError::FeeBalance { balance: 0, fee: 21_000_000 });
}

#[test]
fn amount_beyond_balance_fails_but_pays_the_fee() {
    let mut st = genesis(1);
    let tx = transfer(0, addr(1), 1000 * UNITS_PER_CPC, 0, 1000);
    let out = run(&st, &[tx]).unwrap();
    assert_eq!(out.outcomes[0].status, TxStatus::Failed);
    assert!(out.outcomes[0].error.as_ref().unwrap().contains("insufficient balance for amount"));
    st.commit(&out.changes);
    assert_eq!(st.balance(&addr(0)), 1000 * UNITS_PER_CPC - 21_000_000);
    assert_eq!(st.balance(&addr(1)), 0);
    assert_eq!(st.accounts[&addr(0)].account.nonce, 1);
}

#[test]
fn block_gas_limit_is_enforced() {
    let st = genesis(1);
    let mut p = params();
    p.block_gas_limit = 42_000;
    let mut ex = BlockExecutor::new(&st, &p, 1);
    for n in 0..2 {
        let tx = transfer(0, addr(1), 1, n, 1000);
        ex.execute(&tx, tx.hash()).unwrap();
    }
    let tx = transfer(0, addr(1), 1, 2, 1000);
    assert_eq!(ex.execute(&tx, tx.hash()).unwrap_err(), TxError::BlockGas { used: 42_000, limit: 42_000, needed: 21_000 });
}

#[test]
fn max_txs_per_block_is_enforced() {
    let st = genesis(1);
    let mut p = params();
    p.max_txs_per_block = 1;
    let mut ex = BlockExecutor::new(&st, &p, 1);
    let a = transfer(0, addr(1), 1, 0, 1000);
    ex.execute(&a, a.hash()).unwrap();
    let b = transfer(0, addr(1), 1, 1, 1000);
    assert_eq!(ex.execute(&b, b.hash()).unwrap_err(), TxError::BlockFull(1));
}

#[test]
fn duplicate_task_id_in_block_and_on_chain_is_refused() {
    let mut st = genesis(2);
    let a = submit(0, "task-1", 0);
    let b = submit(1, "task-1", 0);
    assert_eq!(run(&st, &[a.clone(), b.clone()]).unwrap_err(), TxError::TaskInBlock("task-1".into()));
    let out = run(&st, &[a]).unwrap();
    assert_eq!(out.changes.task_ids.len(), 1);
    st.commit(&out.changes);
    assert_eq!(run(&st, &[b]).unwrap_err(), TxError::TaskOnChain("task-1".into()));
}

#[test]
fn refused_transaction_leaves_no_trace() {
    let st = genesis(2);
    let p = params();
    let mut ex = BlockExecutor::new(&st, &p, 1);
    let bad = transfer(0, addr(1), 1, 9, 1000);
    assert!(ex.execute(&bad, bad.hash()).is_err());
    assert_eq!((ex.tx_count(), ex.gas_used()), (0, 0));
    assert_eq!(ex.account(&addr(0)).unwrap().balance, 1000 * UNITS_PER_CPC);
}

#[test]
fn rewards_and_fees_are_split_and_nothing_is_burned_without_shares() {
    let mut st = genesis(2);
    let p = params();
    let genesis_total = st.supply.total;
    let tx = transfer(0, addr(1), 1, 0, 1000);
    let mut ex = BlockExecutor::new(&st, &p, 1);
    ex.execute(&tx, tx.hash()).unwrap();
    let out = ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap();
    let fee = 21_000_000u128;
    let r = &out.rewards;
    assert_eq!(r.block_reward, 10 * UNITS_PER_CPC);
    assert_eq!(r.proposer_reward, 7 * UNITS_PER_CPC);
    // (R·30 // 100) // S with R = 10 CPC and S = 8: 3/8 CPC per share.
    assert_eq!(r.share_reward, 3 * UNITS_PER_CPC / 8);
    assert_eq!((r.shares, r.worker_payments.len()), (0, 0));
    assert_eq!(r.minted, 7 * UNITS_PER_CPC, "no shares: only the proposer's part is minted");
    assert_eq!((r.proposer_fees, r.treasury_fees), (fee * 9 / 10, fee / 10));
    st.commit(&out.changes);
    assert_eq!(st.balance(&PROPOSER), 7 * UNITS_PER_CPC + fee * 9 / 10);
    assert_eq!(st.balance(&p.economics.treasury_address), fee / 10);
    assert_eq!(st.supply.minted, 7 * UNITS_PER_CPC);
    assert_eq!(st.supply.burned, 0, "v2 burns nothing for missing shares");
    assert_eq!(st.supply.total, genesis_total + 7 * UNITS_PER_CPC);
    assert_eq!(st.sum_of_balances(), st.supply.total);
}

#[test]
fn each_share_mints_the_share_reward_for_its_worker() {
    let mut st = genesis(1);
    let p = params();
    let genesis_total = st.supply.total;
    let per_share = 3 * UNITS_PER_CPC / 8; // (10 CPC · 30 // 100) // S, S = 8
    // More shares than S (up to M = 2S may be in a block): each is paid in full, no pool split.
    let workers: Vec<Address> = [3u8, 4, 3].iter().chain([5u8; 10].iter()).map(|&i| addr(i)).collect();
    assert!(workers.len() as u64 > p.poc.shares_per_block);
    let out = BlockExecutor::new(&st, &p, 1).finish(&BlockInputs::plain(PROPOSER), &workers).unwrap();
    let r = &out.rewards;
    assert_eq!(r.share_reward, per_share);
    assert_eq!(r.shares, 13);
    let expected_payments: Vec<(Address, String)> = workers.iter().map(|w| (*w, per_share.to_string())).collect();
    assert_eq!(r.worker_payments, expected_payments, "one payment per share, in block order");
    assert_eq!(r.minted, 7 * UNITS_PER_CPC + 13 * per_share);
    st.commit(&out.changes);
    assert_eq!(st.balance(&addr(3)), 2 * per_share);
    assert_eq!(st.balance(&addr(4)), per_share);
    assert_eq!(st.balance(&addr(5)), 10 * per_share);
    assert_eq!(st.balance(&PROPOSER), 7 * UNITS_PER_CPC);
    assert_eq!(st.supply.minted, 7 * UNITS_PER_CPC + 13 * per_share);
    assert_eq!(st.supply.burned, 0);
    assert_eq!(st.supply.total, genesis_total + st.supply.minted);
    assert_eq!(st.sum_of_balances(), st.supply.total);
}

#[test]
fn share_reward_follows_s_and_the_halving() {
    let mut p = params();
    p.poc.shares_per_block = 3;
    let st = genesis(0);
    // Height 1 000 001 is the first block of the second halving interval: R = 5 CPC.
    let out = BlockExecutor::new(&st, &p, 1_000_001).finish(&BlockInputs::plain(PROPOSER), &[addr(1)]).unwrap();
    assert_eq!(out.rewards.block_reward, 5 * UNITS_PER_CPC);
    assert_eq!(out.rewards.share_reward, (5 * UNITS_PER_CPC * 30 / 100) / 3);
    assert_eq!(out.rewards.minted, 5 * UNITS_PER_CPC * 70 / 100 + (5 * UNITS_PER_CPC * 30 / 100) / 3);
}

#[test]
fn state_root_changes_with_any_balance_and_is_incremental() {
    let mut st = genesis(3);
    let out = run(&st, &[transfer(0, addr(1), 1, 0, 1000)]).unwrap();
    let root1 = out.state_root;
    st.commit(&out.changes);
    // The incrementally maintained tree equals a full rebuild.
    let mut leaves: Vec<(u64, H256)> =
        st.accounts.iter().map(|(a, e)| (e.slot, account_leaf(a, &e.account))).collect();
    leaves.sort_by_key(|l| l.0);
    let rebuilt = AccountTree::from_leaves(leaves.into_iter().map(|l| l.1).collect());
    assert_eq!(rebuilt, st.tree);
    assert_eq!(state_root(&rebuilt.root(), st.tree.len(), &st.supply), root1);
    let out2 = run(&st, &[transfer(0, addr(1), 2, 1, 1000)]).unwrap();
    assert_ne!(out2.state_root, root1);
}
