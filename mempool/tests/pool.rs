//! Admission rules (one test each), ordering, replacement, limits and eviction.
use cpc_consensus::{PocVerifier, SyntheticError, TxCheckError, WindowTip};
use cpc_genesis::{dev_keys, Genesis};
use cpc_mempool::*;
use cpc_primitives::*;
use cpc_state::{ChainParams, MemState};

struct T {
    st: MemState,
    p: ChainParams,
    poc: PocVerifier,
    keys: Vec<SecretKey>,
    tip: H256,
    /// The admission window: the genesis block (hash, share target).
    tips: Vec<WindowTip>,
}

impl T {
    fn new() -> T {
        T::with(|_| {})
    }
    fn with(f: impl FnOnce(&mut Genesis)) -> T {
        let mut g = Genesis::dev();
        g.poc.matrix_size = 64;
        f(&mut g);
        let (b, out) = g.build().unwrap();
        let mut st = MemState::default();
        st.commit(&out.changes);
        let p = g.chain_params();
        let tips = vec![(b.hash(), b.header.share_target)];
        T { st, poc: PocVerifier::new(&p.poc), p, keys: dev_keys(), tip: b.hash(), tips }
    }
    fn addr(&self, i: usize) -> Address {
        Address::from_public_key(&self.keys[i].public_key())
    }
    fn tx(&self, from: usize, amount: u128, nonce: u64, price: u64) -> Transaction {
        UnsignedTx::transfer(&self.p.chain_id, self.addr(from), self.addr(9), amount, nonce, price).sign(&self.keys[from])
    }
    fn result_tx(&self, from: usize, r: &ComputeResult, nonce: u64) -> Transaction {
        self.result_tx_at(from, r, nonce, 1000)
    }
    fn result_tx_at(&self, from: usize, r: &ComputeResult, nonce: u64, price: u64) -> Transaction {
        UnsignedTx::submit_result(&self.p.chain_id, self.addr(from), r, nonce, price).sign(&self.keys[from])
    }
    /// An honest synthetic result of worker `i` on the genesis tip.
    fn solve(&self, i: usize, nonce: u64) -> ComputeResult {
        let p = cpc_poc::SynthParams { n: self.p.poc.matrix_size, k: self.p.poc.challenges };
        cpc_poc::solve(&self.tip, &self.addr(i).to_string(), nonce, &p)
    }
    /// An external (non-synthetic) result of worker `i` with a `proof_len`-byte proof.
    fn external(&self, i: usize, id: &str, proof_len: usize) -> ComputeResult {
        ComputeResult {
            task_id: id.into(),
            worker_address: self.addr(i).to_string(),
            result_hash: "ab".repeat(32),
            proof: (proof_len > 0).then(|| "a".repeat(proof_len)),
            nonce: None,
            signature: None,
        }
    }
    fn add(&self, pool: &mut Mempool, tx: Transaction) -> Result<H256, AdmitError> {
        let w = AdmissionWindow { poc: &self.poc, tips: &self.tips, lo: 0, hi: 0 };
        let v = prevalidate(tx, &self.p, &w)?;
        pool.admit(v, &self.st)
    }
}

fn pool() -> Mempool {
    Mempool::new(MempoolConfig::default())
}

#[test]
fn in_isolation_failures_name_the_rule() {
    let t = T::new();
    let mut m = pool();
    let mut tx = t.tx(1, 1, 0, 1000);
    tx.amount = 2;
    let e = t.add(&mut m, tx).unwrap_err();
    assert!(matches!(e, AdmitError::Invalid(TxCheckError::Signature(_))));
    assert!(e.to_string().contains("signature"));
    assert!(m.is_empty(), "nothing admitted");
}

#[test]
fn duplicate_is_refused() {
    let t = T::new();
    let mut m = pool();
    let tx = t.tx(1, 1, 0, 1000);
    let h = t.add(&mut m, tx.clone()).unwrap();
    assert_eq!(t.add(&mut m, tx).unwrap_err(), AdmitError::AlreadyKnown(h));
}

#[test]
fn nonce_below_account_is_refused() {
    let mut t = T::new();
    let a = t.addr(1);
    t.st.accounts.get_mut(&a).unwrap().account.nonce = 3;
    let mut m = pool();
    assert_eq!(t.add(&mut m, t.tx(1, 1, 2, 1000)).unwrap_err(), AdmitError::NonceTooLow { expected: 3, found: 2 });
}

#[test]
fn nonce_too_far_ahead_is_refused() {
    let t = T::new();
    let mut m = Mempool::new(MempoolConfig { max_nonce_gap: 4, ..Default::default() });
    assert!(t.add(&mut m, t.tx(1, 1, 4, 1000)).is_ok());
    assert_eq!(t.add(&mut m, t.tx(1, 1, 5, 1000)).unwrap_err(), AdmitError::NonceTooHigh { max: 4, gap: 4, found: 5 });
}

#[test]
fn balance_must_cover_amount_and_fee_including_earlier_pending() {
    let t = T::new();
    let mut m = pool();
    let bal = t.st.balance(&t.addr(1));
    let fee = 21_000_000u128;
    let e = t.add(&mut m, t.tx(1, bal, 0, 1000)).unwrap_err();
    assert_eq!(e, AdmitError::InsufficientBalance { balance: bal, needed: bal + fee });
    t.add(&mut m, t.tx(1, bal / 2, 0, 1000)).unwrap();
    let e = t.add(&mut m, t.tx(1, bal / 2, 1, 1000)).unwrap_err();
    assert_eq!(e, AdmitError::InsufficientBalance { balance: bal, needed: bal / 2 * 2 + 2 * fee });
}

#[test]
fn unbonding_needs_only_the_fee_bonding_needs_amount_and_fee() {
    // An UNDELEGATE's amount is stake coming back, not balance going out: a delegator whose
    // balance is below it must still be able to unbond. A DELEGATE's amount leaves the balance.
    let t = T::new();
    let mut m = pool();
    let bal = t.st.balance(&t.addr(1));
    let staking = |ty: TxType, amount: u128, nonce: u64| {
        UnsignedTx::at_intrinsic_gas(&t.p.chain_id, ty, t.addr(1), Some(t.addr(0)), amount, nonce, 1000, Payload::empty()).sign(&t.keys[1])
    };
    let e = t.add(&mut m, staking(TxType::Delegate, bal, 0)).unwrap_err();
    assert_eq!(e, AdmitError::InsufficientBalance { balance: bal, needed: bal + 35_000_000 });
    t.add(&mut m, staking(TxType::Undelegate, 10 * bal, 0)).unwrap();
}

#[test]
fn same_nonce_replacement_only_at_higher_price() {
    let t = T::new();
    let mut m = pool();
    let h1 = t.add(&mut m, t.tx(1, 1, 0, 2000)).unwrap();
    assert_eq!(
        t.add(&mut m, t.tx(1, 2, 0, 2000)).unwrap_err(),
        AdmitError::ReplacementUnderpriced { nonce: 0, existing: 2000, found: 2000 }
    );
    let h2 = t.add(&mut m, t.tx(1, 2, 0, 2001)).unwrap();
    assert!(!m.contains(&h1) && m.contains(&h2));
    assert_eq!(m.len(), 1);
}

#[test]
fn sender_queue_is_bounded() {
    let t = T::new();
    let mut m = Mempool::new(MempoolConfig { max_per_sender: 2, ..Default::default() });
    t.add(&mut m, t.tx(1, 1, 0, 1000)).unwrap();
    t.add(&mut m, t.tx(1, 1, 5, 1000)).unwrap();
    assert_eq!(t.add(&mut m, t.tx(1, 1, 1, 1000)).unwrap_err(), AdmitError::SenderFull(2));
}

#[test]
fn full_pool_evicts_the_cheapest_or_refuses() {
    let t = T::new();
    let mut m = Mempool::new(MempoolConfig { max_txs: 2, ..Default::default() });
    let cheap = t.add(&mut m, t.tx(1, 1, 0, 1000)).unwrap();
    t.add(&mut m, t.tx(2, 1, 0, 3000)).unwrap();
    assert_eq!(
        t.add(&mut m, t.tx(3, 1, 0, 1000)).unwrap_err(),
        AdmitError::PoolFull { max: 2, cheapest: 1000, found: 1000 }
    );
    t.add(&mut m, t.tx(3, 1, 0, 2000)).unwrap();
    assert!(!m.contains(&cheap));
    assert_eq!(m.len(), 2);
}

#[test]
fn rule_4_task_pending_or_on_chain_is_refused() {
    let mut t = T::new();
    let mut m = pool();
    let r = ComputeResult {
        task_id: "ext".into(),
        worker_address: t.addr(1).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: None,
        signature: None,
    };
    let h = t.add(&mut m, t.result_tx(1, &r, 0)).unwrap();
    let mut r2 = r.clone();
    r2.worker_address = t.addr(2).to_string();
    assert_eq!(
        t.add(&mut m, t.result_tx(2, &r2, 0)).unwrap_err(),
        AdmitError::TaskPending { task_id: "ext".into(), tx: h }
    );
    t.st.tasks.insert("ext".into());
    let mut m2 = pool();
    assert_eq!(t.add(&mut m2, t.result_tx(2, &r2, 0)).unwrap_err(), AdmitError::TaskOnChain("ext".into()));
}

#[test]
fn rule_6_cheap_check_at_admission() {
    let t = T::new();
    let mut m = pool();
    let p = cpc_poc::SynthParams { n: 64, k: 8 };
    let good = cpc_poc::solve(&t.tip, &t.addr(1).to_string(), 0, &p);
    t.add(&mut m, t.result_tx(1, &good, 0)).unwrap();
    let mut bad = cpc_poc::solve(&t.tip, &t.addr(1).to_string(), 1, &p);
    bad.result_hash = "00".repeat(32);
    let e = t.add(&mut m, t.result_tx(1, &bad, 1)).unwrap_err();
    assert!(e.to_string().contains("SUBMIT_RESULT rule 6"), "{e}");
    let other_tip = cpc_poc::solve(&H256([3; 32]), &t.addr(1).to_string(), 2, &p);
    let e = t.add(&mut m, t.result_tx(1, &other_tip, 1)).unwrap_err();
    assert!(matches!(e, AdmitError::Synthetic(cpc_consensus::SyntheticError::UnknownTip { .. })));
}

#[test]
fn best_orders_by_price_across_senders_and_nonce_within() {
    let t = T::new();
    let mut m = pool();
    t.add(&mut m, t.tx(1, 1, 1, 9000)).unwrap(); // waits for nonce 0
    t.add(&mut m, t.tx(1, 1, 0, 1000)).unwrap();
    t.add(&mut m, t.tx(2, 1, 0, 5000)).unwrap();
    t.add(&mut m, t.tx(3, 1, 0, 5000)).unwrap(); // same price, later arrival
    t.add(&mut m, t.tx(4, 1, 3, 9999)).unwrap(); // gap: never ready
    let order: Vec<(Address, u64)> = m.best(100).iter().map(|c| (c.tx.from_address, c.tx.nonce)).collect();
    assert_eq!(order, vec![(t.addr(2), 0), (t.addr(3), 0), (t.addr(1), 0), (t.addr(1), 1)]);
    assert_eq!(m.status(), PoolStatus { pending: 4, queued: 1 });
    assert_eq!(m.pending_nonce(&t.addr(1), 0), 2);
    assert_eq!(m.best(2).len(), 2);
}

#[test]
fn on_block_drops_included_and_stale() {
    let mut t = T::new();
    let mut m = pool();
    let a = t.add(&mut m, t.tx(1, 1, 0, 1000)).unwrap();
    let b = t.add(&mut m, t.tx(1, 1, 1, 1000)).unwrap();
    let c = t.add(&mut m, t.tx(1, 1, 2, 1000)).unwrap();
    // A block included nonce 0 and (from elsewhere) another tx with nonce 1.
    let addr = t.addr(1);
    t.st.accounts.get_mut(&addr).unwrap().account.nonce = 2;
    m.on_block(&[(a, addr)], &t.st).unwrap();
    assert!(!m.contains(&a) && !m.contains(&b) && m.contains(&c));
    assert_eq!(m.best(10).len(), 1);
}

// --- PoC v2: the byte bound, forgers, shares -----------------------------------------------

fn size(tx: &Transaction) -> usize {
    tx.canonical_json().len()
}

/// Bytes of everything the pool holds, counted from its content (not from `bytes()`).
fn held_bytes(m: &Mempool) -> usize {
    m.content().iter().flat_map(|(_, txs)| txs.iter().map(|(_, tx)| size(tx))).sum()
}

#[test]
fn byte_bound_refuses_without_evicting_when_nothing_cheaper_makes_room() {
    let t = T::new();
    let (cheap, dear) = (t.tx(1, 1, 0, 1000), t.tx(2, 1, 0, 3000));
    let max = size(&cheap) + size(&dear);
    let mut m = Mempool::new(MempoolConfig { max_bytes: max, ..Default::default() });
    let hc = t.add(&mut m, cheap.clone()).unwrap();
    let hd = t.add(&mut m, dear).unwrap();
    assert_eq!(m.bytes(), max);
    assert_eq!(held_bytes(&m), max);
    let unchanged = |m: &Mempool| {
        assert_eq!(m.len(), 2);
        assert!(m.contains(&hc) && m.contains(&hd), "nothing evicted");
        assert_eq!(m.bytes(), max);
    };

    // The same price as the cheapest: nothing strictly cheaper to evict.
    let same = t.tx(3, 1, 0, 1000);
    assert_eq!(t.add(&mut m, same.clone()).unwrap_err(), AdmitError::PoolBytesFull { max, size: size(&same), found: 1000 });
    unchanged(&m);
    // Above the cheapest, but bigger than all cheaper entries together (the 3000 one is not
    // cheaper): refused, and the cheaper one is not evicted for nothing.
    let big = t.result_tx_at(4, &t.external(4, "ext-big", 4096), 0, 2000);
    assert!(size(&big) > size(&cheap));
    assert_eq!(t.add(&mut m, big.clone()).unwrap_err(), AdmitError::PoolBytesFull { max, size: size(&big), found: 2000 });
    unchanged(&m);
    // A transfer that fits in the cheapest's room at a higher price takes it.
    let better = t.tx(3, 1, 0, 2000);
    assert!(size(&better) <= size(&cheap));
    let hb = t.add(&mut m, better.clone()).unwrap();
    assert!(!m.contains(&hc) && m.contains(&hd) && m.contains(&hb));
    assert_eq!(m.bytes(), held_bytes(&m));
    assert!(m.bytes() <= max);
}

#[test]
fn byte_bound_evicts_the_cheapest_first_and_only_as_many_as_needed() {
    let t = T::new();
    let txs = [t.tx(1, 1, 0, 1000), t.tx(2, 1, 0, 1100), t.tx(3, 1, 0, 1200), t.tx(5, 1, 0, 5000)];
    let max: usize = txs.iter().map(size).sum();
    let mut m = Mempool::new(MempoolConfig { max_bytes: max, ..Default::default() });
    let h: Vec<H256> = txs.iter().map(|tx| t.add(&mut m, tx.clone()).unwrap()).collect();
    // A result whose size needs the room of the two cheapest, but not of three.
    let (s0, s1) = (size(&txs[0]), size(&txs[1]));
    let base = size(&t.result_tx_at(4, &t.external(4, "ext-fit", 1), 0, 4000));
    let target = s0 + s1 - 5;
    assert!(base < target && target > s0, "the test's sizes: base {base}, target {target}");
    let fit = t.result_tx_at(4, &t.external(4, "ext-fit", 1 + target - base), 0, 4000);
    assert_eq!(size(&fit), target);
    let hf = t.add(&mut m, fit).unwrap();
    assert!(!m.contains(&h[0]) && !m.contains(&h[1]), "the two cheapest went");
    assert!(m.contains(&h[2]) && m.contains(&h[3]) && m.contains(&hf), "the 1200 one was not needed");
    assert_eq!(m.bytes(), held_bytes(&m));
    assert!(m.bytes() <= max);
}

#[test]
fn byte_bound_refusal_loses_nothing_when_the_count_bound_binds_too() {
    let t = T::new();
    let (cheap, dear) = (t.tx(1, 1, 0, 1000), t.tx(2, 1, 0, 3000));
    let max = size(&cheap) + size(&dear);
    let mut m = Mempool::new(MempoolConfig { max_txs: 2, max_bytes: max, ..Default::default() });
    let hc = t.add(&mut m, cheap).unwrap();
    let hd = t.add(&mut m, dear).unwrap();
    // Beats the cheapest on price (the count bound alone would evict it), but even without it
    // there are not enough bytes: refused, and the cheapest must still be there.
    let big = t.result_tx_at(4, &t.external(4, "ext-big", 4096), 0, 2000);
    assert!(matches!(t.add(&mut m, big).unwrap_err(), AdmitError::PoolBytesFull { .. }));
    assert!(m.contains(&hc) && m.contains(&hd), "a refused transaction evicted nothing");
    assert_eq!((m.len(), m.bytes()), (2, max));
    // Where both bounds are met by evicting the cheapest, it goes.
    let h = t.add(&mut m, t.tx(3, 1, 0, 2000)).unwrap();
    assert!(!m.contains(&hc) && m.contains(&hd) && m.contains(&h));
    assert_eq!(m.bytes(), held_bytes(&m));
}

#[test]
fn bytes_follow_every_way_in_and_out() {
    let mut t = T::new();
    let mut m = pool();
    let a = t.add(&mut m, t.tx(1, 1, 0, 1000)).unwrap();
    t.add(&mut m, t.tx(1, 1, 1, 1000)).unwrap();
    t.add(&mut m, t.result_tx(2, &t.external(2, "ext-1", 300), 0)).unwrap();
    t.add(&mut m, t.result_tx(3, &t.solve(3, 0), 0)).unwrap();
    assert_eq!(m.bytes(), held_bytes(&m));
    // Replacement by a bigger transaction (longer amount).
    t.add(&mut m, t.tx(1, 123_456_789_000, 1, 2000)).unwrap();
    assert_eq!(m.bytes(), held_bytes(&m));
    m.remove(&a);
    assert_eq!(m.bytes(), held_bytes(&m));
    m.punish_forger(&t.addr(3));
    assert_eq!(m.bytes(), held_bytes(&m));
    let addr = t.addr(1);
    t.st.accounts.get_mut(&addr).unwrap().account.nonce = 2;
    m.on_block(&[], &t.st).unwrap();
    m.on_block(&[(H256([1; 32]), addr)], &t.st).unwrap();
    assert_eq!(m.bytes(), held_bytes(&m));
    assert_eq!(m.len(), 1);
}

#[test]
fn punish_forger_drops_only_that_workers_synthetic_results_and_cools_down() {
    let t = T::new();
    let mut m = Mempool::new(MempoolConfig { forger_cooldown_blocks: 3, ..Default::default() });
    let (forger, other) = (1usize, 2usize);
    let r0 = t.add(&mut m, t.result_tx(forger, &t.solve(forger, 0), 0)).unwrap();
    let r1 = t.add(&mut m, t.result_tx(forger, &t.solve(forger, 1), 1)).unwrap();
    let ext = t.add(&mut m, t.result_tx(forger, &t.external(forger, "ext-f", 0), 2)).unwrap();
    let transfer = t.add(&mut m, t.tx(forger, 1, 3, 1000)).unwrap();
    let others = t.add(&mut m, t.result_tx(other, &t.solve(other, 0), 0)).unwrap();

    let mut dropped = m.punish_forger(&t.addr(forger));
    dropped.sort();
    let mut want = vec![r0, r1];
    want.sort();
    assert_eq!(dropped, want, "exactly the forger's synthetic results");
    assert!(!m.contains(&r0) && !m.contains(&r1));
    assert!(m.contains(&ext) && m.contains(&transfer), "its other transactions stay");
    assert!(m.contains(&others), "another worker's results stay");
    assert_eq!(m.len(), 3);

    // Cooldown: its synthetic results are refused for 3 blocks, counting down.
    let again = t.result_tx(forger, &t.solve(forger, 5), 0);
    let worker = t.addr(forger);
    assert_eq!(t.add(&mut m, again.clone()).unwrap_err(), AdmitError::ForgerCooldown { worker, blocks: 3 });
    // Meanwhile a transfer of the forger and another worker's result are admitted.
    let other_again = t.add(&mut m, t.result_tx(other, &t.solve(other, 1), 1)).unwrap();
    assert!(m.contains(&other_again));
    let t0 = t.add(&mut m, t.tx(forger, 1, 0, 1000)).unwrap();
    m.remove(&t0); // (frees nonce 0 for the result below)
    for left in [2u64, 1] {
        m.on_block(&[], &t.st).unwrap();
        assert_eq!(t.add(&mut m, again.clone()).unwrap_err(), AdmitError::ForgerCooldown { worker, blocks: left });
    }
    m.on_block(&[], &t.st).unwrap();
    let h = t.add(&mut m, again).expect("the cooldown is over after 3 blocks");
    assert!(m.contains(&h));
}

#[test]
fn rule_6_a_result_that_is_not_a_share_is_refused_at_admission() {
    // share_target_start = 1: an honest result is a share with probability 2^-63.
    let t = T::with(|g| g.poc.share_target_start = ShareTarget(1));
    let mut m = pool();
    let r = t.solve(1, 0);
    assert!(cpc_poc::result_share_value(&r, &t.tip).unwrap() > 1);
    let e = t.add(&mut m, t.result_tx(1, &r, 0)).unwrap_err();
    assert!(matches!(e, AdmitError::Synthetic(SyntheticError::NotAShare { target: ShareTarget(1), .. })), "{e}");
    assert!(m.is_empty());
    // The same result is admitted where the tip's target admits it.
    let t = T::new();
    assert!(t.add(&mut m, t.result_tx(1, &t.solve(1, 0), 0)).is_ok());
}

#[test]
fn external_proof_above_4_kib_is_refused_at_admission() {
    let t = T::new();
    let mut m = pool();
    assert!(t.add(&mut m, t.result_tx(1, &t.external(1, "ext-4k", 4096), 0)).is_ok());
    let e = t.add(&mut m, t.result_tx(2, &t.external(2, "ext-4k1", 4097), 0)).unwrap_err();
    assert_eq!(
        e,
        AdmitError::Invalid(TxCheckError::FieldTooLong { field: "proof of an external result", max: 4096, found: 4097 })
    );
}

#[test]
fn one_senders_transactions_and_a_capped_content() {
    let t = T::new();
    let mut m = pool();
    for from in 1..=4 {
        for nonce in 0..5 {
            t.add(&mut m, t.tx(from, 1, nonce, 1000)).unwrap();
        }
    }
    // One sender's: its own five, by nonce, nothing of the others.
    let own = m.sender_txs(&t.addr(3));
    assert_eq!(own.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert!(own.iter().all(|(_, tx)| tx.from_address == t.addr(3)));
    assert!(m.sender_txs(&t.addr(7)).is_empty());
    // Capped: 7 of 20, senders in address order, each from its lowest nonce; the total is told.
    let (content, total) = m.content_limited(7);
    assert_eq!(total, 20);
    assert_eq!(content.iter().map(|(_, txs)| txs.len()).sum::<usize>(), 7);
    let mut senders: Vec<Address> = (1..=4).map(|i| t.addr(i)).collect();
    senders.sort();
    assert_eq!(content.iter().map(|(a, _)| *a).collect::<Vec<_>>(), senders[..2].to_vec());
    assert_eq!(content[1].1.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![0, 1]);
    // A cap above the pool returns all of it.
    assert_eq!(m.content_limited(100).0.iter().map(|(_, txs)| txs.len()).sum::<usize>(), 20);
}
