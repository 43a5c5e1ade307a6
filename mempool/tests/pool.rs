//! Admission rules (one test each), ordering, replacement, limits and eviction.
use cpc_consensus::{PocVerifier, TxCheckError};
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
}

impl T {
    fn new() -> T {
        let mut g = Genesis::dev();
        g.poc.matrix_size = 64;
        let (b, out) = g.build().unwrap();
        let mut st = MemState::default();
        st.commit(&out.changes);
        let p = g.chain_params();
        T { st, poc: PocVerifier::new(&p.poc), p, keys: dev_keys(), tip: b.hash() }
    }
    fn addr(&self, i: usize) -> Address {
        Address::from_public_key(&self.keys[i].public_key())
    }
    fn tx(&self, from: usize, amount: u128, nonce: u64, price: u64) -> Transaction {
        UnsignedTx::transfer(&self.p.chain_id, self.addr(from), self.addr(9), amount, nonce, price).sign(&self.keys[from])
    }
    fn result_tx(&self, from: usize, r: &ComputeResult, nonce: u64) -> Transaction {
        UnsignedTx::submit_result(&self.p.chain_id, self.addr(from), r, nonce, 1000).sign(&self.keys[from])
    }
    fn add(&self, pool: &mut Mempool, tx: Transaction) -> Result<H256, AdmitError> {
        let w = AdmissionWindow { poc: &self.poc, hashes: std::slice::from_ref(&self.tip), lo: 0, hi: 0 };
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

#[test]
fn take_all_empties_the_pool_in_arrival_order() {
    let t = T::new();
    let mut m = pool();
    let a = t.add(&mut m, t.tx(2, 1, 0, 1000)).unwrap();
    let b = t.add(&mut m, t.tx(1, 1, 0, 5000)).unwrap();
    let all: Vec<H256> = m.take_all().into_iter().map(|v| v.hash).collect();
    assert_eq!(all, vec![a, b]);
    assert!(m.is_empty() && m.best(10).is_empty());
    assert_eq!(m.status(), PoolStatus::default());
}
