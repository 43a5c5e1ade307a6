//! Proof of Stake in the state transition: one test per staking rule (each rejection names
//! its rule), and the economics end to end on [`MemState`]: unbonding, liveness, double
//! signing, F1 rewards, the active set, and the supply invariant over random sequences.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::stake::*;
use cpc_state::*;
use proptest::prelude::*;
use serde_json::json;

const CPC: u128 = UNITS_PER_CPC;

fn sparams() -> StakingParams {
    StakingParams {
        max_validators: 3,
        min_self_bond: 100 * CPC,
        unbonding_period: 5,
        evidence_max_age: 10,
        set_change_delay: 2,
        max_unbonding_entries: 2,
        signed_blocks_window: 4,
        min_signed_percent: 50,
        downtime_jail_blocks: 3,
        slash_downtime_ppb: 10_000_000,     // 1 %
        slash_double_sign_ppb: 50_000_000, // 5 %
    }
}

/// A chain on MemState: accounts 0..6 with 100 000 CPC, validator 0 (self-bond 1 000 CPC,
/// commission 10 %) in the genesis set.
struct Chain {
    st: MemState,
    p: ChainParams,
    height: u64,
    time: u64,
    nonces: [u64; 8],
    last: Option<BlockOutcome>,
}

fn create_payload(i: u8, rate: u32, max: u32, change: u32) -> Payload {
    obj(json!({
        "consensus_key": key(i).public_key().to_hex(),
        "moniker": format!("v{i}"),
        "commission_rate_bps": rate,
        "max_rate_bps": max,
        "max_change_bps": change,
    }))
}

fn obj(v: serde_json::Value) -> Payload {
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

impl Chain {
    fn new() -> Chain {
        Self::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut ChainParams)) -> Chain {
        let mut p = params();
        p.staking = sparams();
        f(&mut p);
        let st = validator_genesis(&p, 8, 100_000 * CPC, 1_000 * CPC);
        Chain { st, p, height: 0, time: 1_000_000, nonces: [0; 8], last: None }
    }

    fn tx(&mut self, from: u8, t: TxType, to: Option<Address>, amount: u128, payload: Payload) -> Transaction {
        let nonce = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        UnsignedTx::at_intrinsic_gas("cpc-test", t, addr(from), to, amount, nonce, 1000, payload).sign(&key(from))
    }

    /// Executes one block; returns each transaction's outcome.
    fn block_with(&mut self, txs: &[Transaction], inputs: BlockInputs) -> Vec<TxOutcome> {
        self.height += 1;
        self.time += 1_000;
        let mut ex = BlockExecutor::new(&self.st, &self.p, self.height).at_time(self.time);
        for tx in txs {
            ex.execute(tx, tx.hash()).expect("includable");
        }
        let out = ex.finish(&inputs, &[]).unwrap();
        self.st.commit(&out.changes);
        let outcomes = out.outcomes.clone();
        self.last = Some(out);
        outcomes
    }

    fn block(&mut self, txs: &[Transaction]) -> Vec<TxOutcome> {
        self.block_with(txs, BlockInputs::plain(Address([0xaa; 20])))
    }

    /// One transaction in its own block: its error, None on success.
    fn run(&mut self, from: u8, t: TxType, to: Option<Address>, amount: u128, payload: Payload) -> Option<String> {
        let tx = self.tx(from, t, to, amount, payload);
        self.block(&[tx]).pop().unwrap().error
    }

    fn validator(&self, i: u8) -> Option<ValidatorRecord> {
        match self.st.stake_record(&StakeKey::Validator(addr(i))).unwrap() {
            Some(StakeRecord::Validator(v)) => Some(v),
            _ => None,
        }
    }

    fn delegation(&self, d: u8, v: u8) -> Option<DelegationRecord> {
        match self.st.stake_record(&StakeKey::Delegation { delegator: addr(d), validator: addr(v) }).unwrap() {
            Some(StakeRecord::Delegation(x)) => Some(x),
            _ => None,
        }
    }

    fn set_at(&self, h: u64) -> Vec<Address> {
        self.st.active_set_at(h).unwrap().unwrap().members.iter().map(|m| m.operator).collect()
    }

    fn stake(&mut self, i: u8, amount: u128) -> Option<String> {
        self.run(i, TxType::Stake, None, amount, create_payload(i, 500, 2_000, 100))
    }

    fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(&[]);
        }
    }

    /// The supply invariant, each part summed from the records themselves.
    fn check_supply(&self) {
        let s = self.st.supply;
        let balances = self.st.sum_of_balances();
        let (mut tokens, mut unbonding) = (0u128, 0u128);
        for (k, e) in &self.st.stake {
            if e.is_removed() {
                continue;
            }
            match StakeRecord::from_bytes(&StakeKey::decode(k).unwrap(), &e.value).unwrap() {
                StakeRecord::Validator(v) => tokens += v.tokens,
                StakeRecord::Unbonding(u) => unbonding += u.balance,
                _ => {}
            }
        }
        assert_eq!(balances, s.liquid, "liquid");
        assert_eq!(tokens, s.bonded, "bonded");
        assert_eq!(unbonding, s.unbonding, "unbonding");
        assert_eq!(s.genesis + s.minted - s.burned, balances + tokens + unbonding + s.rewards, "genesis + minted − burned");
    }
}

fn fails_with(err: Option<String>, want: &str) {
    let e = err.unwrap_or_else(|| panic!("expected a failure containing {want:?}, the transaction succeeded"));
    assert!(e.contains(want), "expected {want:?} in {e:?}");
}

// --- STAKE ---------------------------------------------------------------------------------

#[test]
fn stake_creates_a_validator_that_joins_the_set_after_the_delay() {
    let mut c = Chain::new();
    let before = c.st.balance(&addr(1));
    assert_eq!(c.stake(1, 2_000 * CPC), None);
    let v = c.validator(1).unwrap();
    assert_eq!((v.tokens, v.shares, v.commission.rate_bps), (2_000 * CPC, 2_000 * CPC, 500));
    assert_eq!(c.st.balance(&addr(1)), before - 2_000 * CPC - 40_000 * 1000);
    assert_eq!(c.delegation(1, 1).unwrap().shares, 2_000 * CPC, "the self-bond is a delegation");
    // Scheduled at h + delay, by power: validator 1 (2 000) before validator 0 (1 000).
    let h = c.height;
    assert_eq!(c.last.as_ref().unwrap().rewards.staking.new_set_from, Some(h + 2));
    assert_eq!(c.set_at(h + 1), vec![addr(0)], "not before the delay");
    assert_eq!(c.set_at(h + 2), vec![addr(1), addr(0)]);
    c.check_supply();
}

#[test]
fn stake_payload_rules() {
    let mut c = Chain::new();
    fails_with(c.run(1, TxType::Stake, None, 200 * CPC, create_payload(1, 2_001, 2_000, 100)), "rate 2001 bps exceeds the max rate 2000");
    fails_with(c.run(1, TxType::Stake, None, 200 * CPC, create_payload(1, 100, 200, 300)), "max change 300 bps exceeds the max rate 200");
    fails_with(c.run(1, TxType::Stake, None, 99 * CPC, create_payload(1, 100, 200, 10)), "below the minimum self-bond");
    fails_with(c.run(1, TxType::Stake, None, 100_001 * CPC, create_payload(1, 100, 200, 10)), "insufficient balance for amount");
    fails_with(c.run(1, TxType::Stake, None, 200 * CPC, create_payload(0, 100, 200, 10)), "is already the key of validator");
    fails_with(c.run(0, TxType::Stake, None, 200 * CPC, create_payload(9, 100, 200, 10)), "already exists");
    fails_with(c.run(2, TxType::Stake, None, 200 * CPC, Payload::empty()), "no validator is operated by");
    assert!(c.validator(1).is_none() && c.validator(2).is_none(), "failed STAKEs created nothing");
    // STAKE {} adds to the own self-bond.
    assert_eq!(c.run(0, TxType::Stake, None, 50 * CPC, Payload::empty()), None);
    assert_eq!(c.validator(0).unwrap().tokens, 1_050 * CPC);
    c.check_supply();
}

#[test]
fn a_failed_staking_transaction_pays_its_fee_and_changes_nothing_else() {
    let mut c = Chain::new();
    let before_tree = c.st.stake.clone();
    let bal = c.st.balance(&addr(1));
    let tx = c.tx(1, TxType::Delegate, Some(addr(5)), 10 * CPC, Payload::empty());
    let out = c.block(&[tx]).pop().unwrap();
    assert_eq!(out.status, TxStatus::Failed);
    assert_eq!(c.st.balance(&addr(1)), bal - out.fee_paid);
    assert_eq!(c.st.accounts[&addr(1)].account.nonce, 1);
    let changed: Vec<_> = c.st.stake.iter().filter(|(k, e)| before_tree.get(*k) != Some(e)).map(|(k, _)| StakeKey::decode(k)).collect();
    // Only the validator's reward accounting moved (every block pays the set).
    assert_eq!(changed, vec![Some(StakeKey::Validator(addr(0)))]);
}

// --- DELEGATE / UNDELEGATE -------------------------------------------------------------------

#[test]
fn only_the_owner_of_a_stake_can_move_it() {
    let mut c = Chain::new();
    assert_eq!(c.run(1, TxType::Delegate, Some(addr(0)), 500 * CPC, Payload::empty()), None);
    // Account 2 names account 1's delegation: it has none of its own to move.
    fails_with(c.run(2, TxType::Undelegate, Some(addr(0)), 100 * CPC, Payload::empty()), "no delegation of");
    // And nobody but the operator unstakes the self-bond: UNSTAKE always means the sender's.
    fails_with(c.run(2, TxType::Unstake, None, 100 * CPC, Payload::empty()), "no validator is operated by");
    assert_eq!(c.delegation(1, 0).unwrap().shares, 500 * CPC);
    assert_eq!(c.validator(0).unwrap().tokens, 1_500 * CPC);
}

#[test]
fn undelegate_rules_and_funds_return_exactly_after_the_unbonding_period() {
    let mut c = Chain::new();
    assert_eq!(c.run(1, TxType::Delegate, Some(addr(0)), 500 * CPC, Payload::empty()), None);
    fails_with(c.run(1, TxType::Undelegate, Some(addr(0)), 501 * CPC, Payload::empty()), "worth 500000000000000000000, less than the 501");
    let bal = c.st.balance(&addr(1));
    let tx = c.tx(1, TxType::Undelegate, Some(addr(0)), 200 * CPC, Payload::empty());
    let out = c.block(&[tx]).pop().unwrap();
    assert_eq!(out.error, None);
    let started = c.height;
    // Rewards earned so far were paid at the undelegation; nothing of the 200 yet.
    let after_tx = c.st.balance(&addr(1));
    assert!(after_tx + out.fee_paid >= bal, "the settled rewards are paid, not taken");
    assert_eq!(c.st.supply.unbonding, 200 * CPC);
    assert_eq!(c.delegation(1, 0).unwrap().unbonding_entries, 1);
    // Two entries at most per (delegator, validator): a second block's entry is the second…
    assert_eq!(c.run(1, TxType::Undelegate, Some(addr(0)), 10 * CPC, Payload::empty()), None);
    // …and a third is refused.
    fails_with(c.run(1, TxType::Undelegate, Some(addr(0)), 10 * CPC, Payload::empty()), "at most 2 entries in flight");
    // Blocks before completion pay nothing.
    while c.height + 1 < started + 5 {
        let b = c.st.balance(&addr(1));
        c.block(&[]);
        assert_eq!(c.st.balance(&addr(1)), b, "height {}: not complete yet", c.height);
    }
    let b = c.st.balance(&addr(1));
    c.block(&[]);
    assert_eq!(c.height, started + 5);
    assert_eq!(c.st.balance(&addr(1)), b + 200 * CPC, "exactly the 200 CPC, at completion");
    let s = &c.last.as_ref().unwrap().rewards.staking;
    assert_eq!(s.matured, vec![(addr(1), (200 * CPC).to_string())]);
    assert_eq!(c.delegation(1, 0).unwrap().unbonding_entries, 1, "the third one was refused, the second is still in flight");
    c.empty_blocks(3);
    assert_eq!(c.st.supply.unbonding, 0);
    assert_eq!(c.delegation(1, 0).unwrap().unbonding_entries, 0);
    c.check_supply();
}

#[test]
fn a_fully_slashed_validator_takes_no_new_delegation() {
    let mut c = Chain::with(|p| p.staking.slash_downtime_ppb = 1_000_000_000);
    // Validator 0 misses every block of its window: jailed and slashed to 0.
    for _ in 0..4 {
        let inputs = BlockInputs { proposer: Address([0xaa; 20]), last_commit: Some(LastCommit { height: c.height, signers: vec![] }), infractions: vec![] };
        c.block_with(&[], inputs);
    }
    assert_eq!(c.validator(0).unwrap().tokens, 0);
    fails_with(c.run(1, TxType::Delegate, Some(addr(0)), 10 * CPC, Payload::empty()), "slashed to 0");
    c.check_supply();
}

// --- UPDATE_VALIDATOR --------------------------------------------------------------------------

#[test]
fn commission_changes_are_bounded_and_once_a_day() {
    let mut c = Chain::new();
    let upd = |r: u32| obj(json!({ "commission_rate_bps": r }));
    fails_with(c.run(0, TxType::UpdateValidator, None, 0, upd(2_001)), "exceeds the max rate 2000");
    fails_with(c.run(0, TxType::UpdateValidator, None, 0, upd(1_101)), "a change of 101 bps exceeds the max change per day 100");
    // Genesis set changed_at 0 and the chain runs at 1 000 s: more than a day later? No: 1 000 s.
    fails_with(c.run(0, TxType::UpdateValidator, None, 0, upd(1_050)), "the next change is allowed from 86400000 ms");
    c.time = 86_400_000;
    assert_eq!(c.run(0, TxType::UpdateValidator, None, 0, upd(1_050)), None);
    fails_with(c.run(0, TxType::UpdateValidator, None, 0, upd(1_000)), "the next change is allowed from");
    assert_eq!(c.run(0, TxType::UpdateValidator, None, 0, obj(json!({"moniker": "renamed"}))), None, "the moniker is free to change");
    let v = c.validator(0).unwrap();
    assert_eq!((v.commission.rate_bps, v.moniker.as_str()), (1_050, "renamed"));
    fails_with(c.run(3, TxType::UpdateValidator, None, 0, upd(10)), "no validator is operated by");
}

// --- liveness, UNJAIL --------------------------------------------------------------------------

fn commit_without(c: &mut Chain, missing: &[u8]) {
    let set = c.st.active_set_at(c.height).unwrap().unwrap();
    let signers = set
        .members
        .iter()
        .map(|m| ValconsAddress::from_public_key(&m.consensus_key))
        .filter(|a| !missing.iter().any(|i| ValconsAddress::from_public_key(&key(*i).public_key()) == *a))
        .collect();
    let inputs = BlockInputs { proposer: Address([0xaa; 20]), last_commit: Some(LastCommit { height: c.height, signers }), infractions: vec![] };
    c.block_with(&[], inputs);
}

#[test]
fn downtime_jails_slashes_a_little_and_unjail_waits_for_the_jail_time() {
    let mut c = Chain::new();
    assert_eq!(c.stake(1, 2_000 * CPC), None);
    c.empty_blocks(2);
    assert_eq!(c.set_at(c.height), vec![addr(1), addr(0)]);
    fails_with(c.run(1, TxType::Unjail, None, 0, Payload::empty()), "is not jailed");
    // Window 4, 50 %: two misses are tolerated (timing), the third in the window jails.
    commit_without(&mut c, &[1]);
    commit_without(&mut c, &[]);
    commit_without(&mut c, &[1]);
    assert!(!c.validator(1).unwrap().jailed, "2 of 4 missed: within the allowance");
    let tokens = c.validator(1).unwrap().tokens;
    commit_without(&mut c, &[1]);
    let v = c.validator(1).unwrap();
    assert!(v.jailed && !v.tombstoned);
    assert_eq!(v.tokens, tokens - tokens / 100, "1 % burned");
    assert_eq!(c.st.supply.burned, tokens / 100);
    let jailed_at = c.height;
    assert_eq!(v.jailed_until, jailed_at + 3);
    // Still in the set until the delay passes, but paid nothing meanwhile.
    c.block(&[]);
    assert!(c.set_at(c.height).contains(&addr(1)), "the set changes only after the delay");
    let paid: Vec<Address> = c.last.as_ref().unwrap().rewards.staking.validator_rewards.iter().map(|(a, _)| *a).collect();
    assert_eq!(paid, vec![addr(0)], "a jailed member earns nothing");
    assert_eq!(c.set_at(jailed_at + 2), vec![addr(0)], "out of the set after the delay");
    fails_with(c.run(1, TxType::Unjail, None, 0, Payload::empty()), &format!("jailed until height {}", jailed_at + 3));
    assert_eq!(c.run(1, TxType::Unjail, None, 0, Payload::empty()), None);
    assert!(!c.validator(1).unwrap().jailed);
    c.empty_blocks(2);
    assert_eq!(c.set_at(c.height), vec![addr(1), addr(0)], "active again");
    c.check_supply();
}

#[test]
fn unjail_needs_the_minimum_self_bond() {
    let mut c = Chain::new();
    assert_eq!(c.stake(1, 150 * CPC), None);
    c.empty_blocks(2);
    for _ in 0..4 {
        commit_without(&mut c, &[1]);
    }
    assert!(c.validator(1).unwrap().jailed, "a full window missed");
    assert_eq!(c.run(1, TxType::Unstake, None, 100 * CPC, Payload::empty()), None);
    c.empty_blocks(3);
    fails_with(c.run(1, TxType::Unjail, None, 0, Payload::empty()), "below the minimum self-bond");
}

// --- double signing ------------------------------------------------------------------------------

#[test]
fn double_signing_slashes_bonded_and_later_unbonding_stake_once_and_tombstones() {
    let mut c = Chain::new();
    assert_eq!(c.run(1, TxType::Delegate, Some(addr(0)), 1_000 * CPC, Payload::empty()), None);
    assert_eq!(c.run(1, TxType::Undelegate, Some(addr(0)), 100 * CPC, Payload::empty()), None); // before
    let infraction = c.height + 1;
    c.block(&[]);
    assert_eq!(c.run(2, TxType::Delegate, Some(addr(0)), 400 * CPC, Payload::empty()), None);
    assert_eq!(c.run(2, TxType::Undelegate, Some(addr(0)), 200 * CPC, Payload::empty()), None); // after
    let tokens = c.validator(0).unwrap().tokens;
    let v0 = ValconsAddress::from_public_key(&key(0).public_key());
    let ev = Infraction { validator: v0, height: infraction };
    let inputs = BlockInputs { proposer: Address([0xaa; 20]), last_commit: None, infractions: vec![ev, ev] };
    c.block_with(&[], inputs);
    let v = c.validator(0).unwrap();
    assert!(v.jailed && v.tombstoned);
    assert_eq!(v.tokens, tokens - tokens * 5 / 100, "5 % of the bonded tokens, once for two pieces");
    let expected_burn = tokens * 5 / 100 + 200 * CPC * 5 / 100;
    assert_eq!(c.st.supply.burned, expected_burn, "and 5 % of the entry created after the infraction only");
    assert_eq!(c.st.supply.unbonding, 100 * CPC + 190 * CPC);
    // Later evidence is a no-op; UNJAIL is refused forever; no new delegation.
    let inputs = BlockInputs { proposer: Address([0xaa; 20]), last_commit: None, infractions: vec![ev] };
    c.block_with(&[], inputs);
    assert_eq!(c.st.supply.burned, expected_burn);
    c.time += 10 * 86_400_000;
    fails_with(c.run(0, TxType::Unjail, None, 0, Payload::empty()), "tombstoned");
    fails_with(c.run(3, TxType::Delegate, Some(addr(0)), 10 * CPC, Payload::empty()), "tombstoned");
    c.check_supply();
}

// --- rewards ---------------------------------------------------------------------------------------

#[test]
fn rewards_follow_stake_with_commission_to_the_operator_and_are_paid_on_withdrawal() {
    let mut c = Chain::new();
    // Delegators 1 and 2 hold 1 000 and 3 000 CPC of validator 0 (self-bond 1 000).
    let t1 = c.tx(1, TxType::Delegate, Some(addr(0)), 1_000 * CPC, Payload::empty());
    let t2 = c.tx(2, TxType::Delegate, Some(addr(0)), 3_000 * CPC, Payload::empty());
    c.block(&[t1, t2]);
    let (b1, b2, b0) = (c.st.balance(&addr(1)), c.st.balance(&addr(2)), c.st.balance(&addr(0)));
    c.empty_blocks(10);
    // Withdraw (DELEGATE 0) for all three.
    let w: Vec<Transaction> = [1u8, 2, 0].iter().map(|&i| c.tx(i, TxType::Delegate, Some(addr(0)), 0, Payload::empty())).collect();
    let fee = 35_000 * 1000;
    c.block(&w);
    let got1 = c.st.balance(&addr(1)) + fee - b1;
    let got2 = c.st.balance(&addr(2)) + fee - b2;
    let got0 = c.st.balance(&addr(0)) + fee - b0;
    // Independently: the delegation block and the 10 empty ones each gave the validator 7 CPC
    // (70 % of R = 10 CPC), and the delegation block also 90 % of its two fees; the withdrawal
    // block's own pot arrives after its transactions ran.
    let pot = 11 * 7 * CPC + 2 * 35_000 * 1000 * 90 / 100;
    let commission = pot / 10;
    let per = (pot - commission) / 5; // 5 000 CPC of shares: 1 000 each
    let close = |a: u128, b: u128| a.abs_diff(b) <= 10;
    assert!(close(got1, per), "delegator 1: {got1} vs {per}");
    assert!(close(got2, 3 * per), "delegator 2: {got2} vs {}", 3 * per);
    assert!(close(got0, per + commission), "operator: {got0} vs {}", per + commission);
    c.check_supply();
}

// --- the active set --------------------------------------------------------------------------------

#[test]
fn the_active_set_is_the_top_n_eligible_by_power() {
    let mut c = Chain::new();
    // max_validators 3: stakes of 500, 3 000, 2 000 and 1 500 next to validator 0's 1 000.
    for (i, amount) in [(1u8, 500), (2, 3_000), (3, 2_000), (4, 1_500)] {
        assert_eq!(c.stake(i, amount * CPC), None);
    }
    c.empty_blocks(2);
    assert_eq!(c.set_at(c.height), vec![addr(2), addr(3), addr(4)]);
    // Self-bond below the minimum: not eligible, whatever the delegations.
    assert_eq!(c.run(2, TxType::Unstake, None, 2_950 * CPC, Payload::empty()), None);
    assert_eq!(c.run(5, TxType::Delegate, Some(addr(2)), 50_000 * CPC, Payload::empty()), None);
    c.empty_blocks(2);
    assert_eq!(c.set_at(c.height), vec![addr(3), addr(4), addr(0)]);
    let set = c.st.active_set_at(c.height).unwrap().unwrap();
    assert_eq!(set.members.iter().map(|m| m.power).collect::<Vec<_>>(), vec![2_000, 1_500, 1_000], "power is whole CPC");
    c.check_supply();
}

// --- the supply invariant over random sequences ----------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Stake(u8, u16),
    Delegate(u8, u8, u16),
    Undelegate(u8, u8, u16),
    Withdraw(u8, u8),
    Miss(u8),
    DoubleSign(u8),
    Empty,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..5, 100u16..3000).prop_map(|(i, a)| Op::Stake(i, a)),
        (1u8..7, 0u8..5, 1u16..2000).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        (0u8..7, 0u8..5, 1u16..2000).prop_map(|(d, v, a)| Op::Undelegate(d, v, a)),
        (0u8..7, 0u8..5).prop_map(|(d, v)| Op::Withdraw(d, v)),
        (0u8..5).prop_map(Op::Miss),
        (0u8..5).prop_map(Op::DoubleSign),
        Just(Op::Empty),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Every block: genesis + minted − burned = balances + bonded + unbonding + undistributed
    /// rewards, with balances, bonded and unbonding summed from the records by the test, minted
    /// counted by the test (7 CPC a block: 70 % of R, no shares), and burned checked against
    /// what the test saw leave the pools and the entries.
    #[test]
    fn supply_is_conserved_over_random_staking(ops in proptest::collection::vec(op(), 1..40)) {
        let mut c = Chain::new();
        let mut minted = 0u128;
        for o in ops {
            let minted_before = c.st.supply.minted;
            let burned_before = c.st.supply.burned;
            let mut inputs = BlockInputs::plain(Address([0xaa; 20]));
            let mut txs = Vec::new();
            // The burn the test expects, from the state before the block.
            let mut expected_burn = Some(0u128);
            match o {
                Op::Stake(i, a) => txs.push(c.tx(i, TxType::Stake, None, a as u128 * CPC, create_payload(i, 300, 1000, 50))),
                Op::Delegate(d, v, a) => txs.push(c.tx(d, TxType::Delegate, Some(addr(v)), a as u128 * CPC, Payload::empty())),
                Op::Undelegate(d, v, a) => txs.push(c.tx(d, TxType::Undelegate, Some(addr(v)), a as u128 * CPC / 3, Payload::empty())),
                Op::Withdraw(d, v) => txs.push(c.tx(d, TxType::Delegate, Some(addr(v)), 0, Payload::empty())),
                Op::Miss(i) if c.height > 0 => {
                    let set = c.st.active_set_at(c.height).unwrap().unwrap();
                    let signers = set.members.iter().map(|m| ValconsAddress::from_public_key(&m.consensus_key))
                        .filter(|a| *a != ValconsAddress::from_public_key(&key(i).public_key())).collect();
                    inputs.last_commit = Some(LastCommit { height: c.height, signers });
                    expected_burn = None; // 1 % if this miss crosses the threshold
                }
                Op::DoubleSign(i) if c.height > 0 => {
                    let h = c.height;
                    let in_set = c.st.active_set_at(h).unwrap().unwrap().members.iter().any(|m| m.operator == addr(i));
                    let mut burn = 0;
                    if let Some(v) = c.validator(i).filter(|v| in_set && !v.tombstoned) {
                        burn = v.tokens * 5 / 100;
                        for (k, e) in &c.st.stake {
                            if let Some(StakeKey::Unbonding { validator, completion, .. }) = StakeKey::decode(k)
                                && validator == addr(i) && completion > h + 1 && !e.is_removed()
                                && let StakeRecord::Unbonding(u) = StakeRecord::from_bytes(&StakeKey::decode(k).unwrap(), &e.value).unwrap()
                                && u.creation_height >= h
                            {
                                burn += u.balance * 5 / 100;
                            }
                        }
                    }
                    expected_burn = Some(burn);
                    inputs.infractions.push(Infraction { validator: ValconsAddress::from_public_key(&key(i).public_key()), height: h });
                }
                _ => {}
            }
            c.block_with(&txs, inputs);
            minted += 7 * CPC;
            prop_assert_eq!(c.st.supply.minted - minted_before, 7 * CPC, "one block's issuance");
            prop_assert_eq!(c.st.supply.minted, minted);
            let burned = c.st.supply.burned - burned_before;
            match expected_burn {
                Some(b) => prop_assert_eq!(burned, b, "burned by this block"),
                None => {
                    let jailed = !c.last.as_ref().unwrap().rewards.staking.jailed.is_empty();
                    prop_assert!(burned == 0 || jailed, "a downtime burn jails");
                }
            }
            c.check_supply();
        }
    }
}
