//! The task market's data rules in block building and import (docs/MARKET.md): a POST_JOB
//! needs its inputs held, a job result needs its C held and must pass Freivalds' check; the
//! market's transactions exist only where genesis enables it. The products here come from a
//! plain triple loop, not from the code under test.
mod common;
use common::*;
use cpc_consensus::*;
use cpc_primitives::*;
use cpc_state::*;
use serde_json::json;

const CPC: u128 = UNITS_PER_CPC;
const PRICE: u128 = 40 * CPC;
const BOND: u128 = 4 * CPC;

/// Deterministic int8 entries.
fn matrix(rows: usize, cols: usize, salt: u32) -> Vec<i8> {
    (0..rows * cols)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(salt.wrapping_mul(40_503)) >> 13) as u8 as i8)
        .collect()
}

fn product(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|t| a[i * k + t] as i32 * b[t * n + j] as i32).sum();
        }
    }
    c
}

fn obj(v: serde_json::Value) -> Payload {
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

struct Job {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<i8>,
    b: Vec<i8>,
    a_root: H256,
    b_root: H256,
}

fn job(m: usize, k: usize, n: usize) -> Job {
    let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
    let a_root = Blob::from_i8(m as u32, k as u32, &a).unwrap().root();
    let b_root = Blob::from_i8(k as u32, n as u32, &b).unwrap().root();
    Job { m, k, n, a, b, a_root, b_root }
}

impl Job {
    fn put_inputs(&self, st: &mut MemState) {
        st.put_blob(Blob::from_i8(self.m as u32, self.k as u32, &self.a).unwrap());
        st.put_blob(Blob::from_i8(self.k as u32, self.n as u32, &self.b).unwrap());
    }
    fn c(&self) -> Vec<i32> {
        product(&self.a, &self.b, self.m, self.k, self.n)
    }
}

fn post(c: &Chain, from: usize, j: &Job, nonce: u64) -> Transaction {
    let p = json!({"m": j.m, "k": j.k, "n": j.n, "a_root": j.a_root.to_hex(), "b_root": j.b_root.to_hex(),
                   "bond": BOND.to_string(), "claim_blocks": 5, "deadline": c.head.height + 50, "retention": 10});
    UnsignedTx::at_intrinsic_gas(&c.params.chain_id, TxType::PostJob, c.addr(from), None, PRICE, nonce, 1000, obj(p))
        .sign(&c.keys[from])
}

fn claim(c: &Chain, from: usize, id: &H256, nonce: u64) -> Transaction {
    UnsignedTx::at_intrinsic_gas(&c.params.chain_id, TxType::ClaimJob, c.addr(from), None, BOND, nonce, 1000, obj(json!({"job_id": id.to_hex()})))
        .sign(&c.keys[from])
}

fn result_tx(c: &Chain, from: usize, id: &H256, root: &H256, nonce: u64) -> Transaction {
    let r = ComputeResult {
        task_id: job_task_id(id),
        worker_address: c.addr(from).to_string(),
        result_hash: root.to_hex(),
        proof: None,
        nonce: None,
        signature: None,
    };
    c.submit(from, &r, nonce)
}

fn included(b: &Built, tx: &Transaction) -> bool {
    b.tx_hashes.contains(&tx.hash())
}

/// A chain where job `j` is posted by 1 and claimed by 2; returns the job id.
fn claimed(c: &mut Chain, j: &Job) -> H256 {
    j.put_inputs(&mut c.state);
    let p = post(c, 1, j, c.nonce(1));
    let id = p.hash();
    c.advance(std::slice::from_ref(&p));
    let cl = claim(c, 2, &id, c.nonce(2));
    c.advance(&[cl]);
    id
}

/// A block holding `txs` as they are, built on a copy of the parameters with the market off
/// (a proposer that skips the data rules): import checks the data rule of each transaction
/// before executing it, so that is the rule that refuses the block.
fn build_without_data_rules(c: &Chain, txs: &[Transaction]) -> Block {
    let mut p = c.params.clone();
    p.market.enabled = false;
    c.build_on(&c.state, &p, &Chain::candidates(txs)).block
}

#[test]
fn a_correct_product_is_paid_through_build_and_import() {
    let mut c = Chain::new();
    let j = job(5, 24, 3); // m not a power of two
    let id = claimed(&mut c, &j);
    let cblob = Blob::from_i32(j.m as u32, j.n as u32, &j.c()).unwrap();
    let root = c.state.put_blob(cblob);
    let before = c.state.balance(&c.addr(2));
    let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
    let built = c.build(std::slice::from_ref(&tx));
    assert!(included(&built, &tx), "skipped: {:?}", built.skipped);
    let out = c.import(&built.block).expect("validates");
    c.commit(&built.block, &out);
    let fee = 80_000u128 * 1000;
    let cut = PRICE * c.params.market.fee_bps as u128 / 10_000;
    assert_eq!(c.state.balance(&c.addr(2)), before + PRICE - cut + BOND - fee);
    assert_eq!(c.state.balance(&escrow_address()), 0);
}

#[test]
fn a_product_with_one_wrong_entry_is_refused_by_builder_and_import() {
    let mut c = Chain::new();
    let j = job(6, 40, 7);
    let id = claimed(&mut c, &j);
    for (i, delta) in [(0usize, 1i32), (6 * 7 - 1, -1), (19, 65_536)] {
        let mut wrong = j.c();
        wrong[i] = wrong[i].wrapping_add(delta);
        let root = c.state.put_blob(Blob::from_i32(6, 7, &wrong).unwrap());
        let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
        let built = c.build(std::slice::from_ref(&tx));
        assert!(!included(&built, &tx));
        let (_, why) = &built.skipped[0];
        assert!(matches!(why, Skip::Invalid(s) if s.contains("Freivalds")), "{why:?}");
        let forged = build_without_data_rules(&c, std::slice::from_ref(&tx));
        match c.import(&forged) {
            Err(BlockError::Market { error: MarketDataError::Freivalds { job, .. }, .. }) => assert_eq!(job, id),
            other => panic!("entry {i}: expected Freivalds' refusal, found {other:?}"),
        }
    }
    // The claimant loses nothing but time: its bond is still escrowed and the claim still runs.
    let rec = match c.state.stake_record(&cpc_state::stake::StakeKey::Job(id)).unwrap() {
        Some(cpc_state::stake::StakeRecord::Job(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!((rec.status, rec.claimant), (JobStatus::Claimed, Some(c.addr(2))));
}

#[test]
fn a_result_whose_data_is_not_held_waits_and_a_block_with_it_is_not_remembered_as_invalid() {
    let mut c = Chain::new();
    let j = job(4, 8, 4);
    let id = claimed(&mut c, &j);
    let root = Blob::from_i32(4, 4, &j.c()).unwrap().root(); // not put
    let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
    let built = c.build(std::slice::from_ref(&tx));
    assert!(matches!(&built.skipped[0].1, Skip::Later(s) if s.contains("not held")), "{:?}", built.skipped);
    let forged = build_without_data_rules(&c, std::slice::from_ref(&tx));
    match c.import(&forged) {
        Err(BlockError::Market { error, .. }) => {
            assert!(matches!(error, MarketDataError::BlobMissing { what: "result C", .. }), "{error}");
            assert!(error.is_missing_data(), "missing data says nothing about the block");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_c_of_the_wrong_shape_is_refused() {
    let mut c = Chain::new();
    let j = job(4, 8, 4);
    let id = claimed(&mut c, &j);
    // The same 16 numbers as a 2 x 8 matrix: another root, and not the job's m x n.
    let root = c.state.put_blob(Blob::from_i32(2, 8, &j.c()).unwrap());
    let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
    let built = c.build(std::slice::from_ref(&tx));
    assert!(matches!(&built.skipped[0].1, Skip::Invalid(s) if s.contains("expected a 4 x 4 Int32 matrix")), "{:?}", built.skipped);
}

#[test]
fn a_post_needs_its_inputs_held() {
    let mut c = Chain::new();
    let j = job(3, 5, 2);
    let p = post(&c, 1, &j, c.nonce(1));
    let built = c.build(std::slice::from_ref(&p));
    assert!(matches!(&built.skipped[0].1, Skip::Later(s) if s.contains("input A")), "{:?}", built.skipped);
    // B alone is not enough either.
    c.state.put_blob(Blob::from_i8(5, 2, &j.b).unwrap());
    let forged = build_without_data_rules(&c, std::slice::from_ref(&p));
    assert!(matches!(c.import(&forged), Err(BlockError::Market { error: MarketDataError::BlobMissing { what: "input A", .. }, .. })));
    j.put_inputs(&mut c.state);
    let built = c.build(std::slice::from_ref(&p));
    assert!(included(&built, &p), "{:?}", built.skipped);
}

#[test]
fn the_market_transactions_are_refused_in_isolation_where_it_is_off() {
    let c = Chain::with(|g| g.market.enabled = false);
    let j = job(3, 5, 2);
    let p = post(&c, 1, &j, 0);
    let e = check_tx_in_isolation(&p, &c.params).unwrap_err();
    assert!(e.to_string().contains("not enabled"), "{e}");
    // A `job:` result is an external result there: rules 1-5 only.
    let r = result_tx(&c, 2, &p.hash(), &H256([7; 32]), 0);
    check_tx_in_isolation(&r, &c.params).unwrap();
}

#[test]
fn a_job_result_with_proof_or_nonce_or_a_bad_id_is_refused_in_isolation() {
    let c = Chain::new();
    let mk = |task: String, proof: Option<String>, nonce: Option<u64>| {
        let r = ComputeResult { task_id: task, worker_address: c.addr(2).to_string(), result_hash: "ab".repeat(32), proof, nonce, signature: None };
        c.submit(2, &r, 0)
    };
    let id = job_task_id(&H256([3; 32]));
    check_tx_in_isolation(&mk(id.clone(), None, None), &c.params).unwrap();
    let e = check_tx_in_isolation(&mk(id.clone(), Some("00".into()), None), &c.params).unwrap_err();
    assert!(e.to_string().contains("proof and nonce must be null"), "{e}");
    let e = check_tx_in_isolation(&mk(id, None, Some(1)), &c.params).unwrap_err();
    assert!(e.to_string().contains("found nonce"), "{e}");
    let e = check_tx_in_isolation(&mk(format!("job:{}", "AB".repeat(32)), None, None), &c.params).unwrap_err();
    assert!(e.to_string().contains("64 lowercase hex digits"), "{e}");
}

#[test]
fn a_post_job_payload_is_parsed_strictly() {
    let c = Chain::new();
    let base = json!({"m": 4, "k": 4, "n": 4, "a_root": "00".repeat(32), "b_root": "11".repeat(32),
                      "bond": "1", "claim_blocks": 5, "deadline": 100, "retention": 10});
    let mk = |f: &dyn Fn(&mut serde_json::Value), amount: u128| {
        let mut v = base.clone();
        f(&mut v);
        UnsignedTx::at_intrinsic_gas(&c.params.chain_id, TxType::PostJob, c.addr(1), None, amount, 0, 1000, obj(v)).sign(&c.keys[1])
    };
    check_tx_in_isolation(&mk(&|_| {}, 1), &c.params).unwrap();
    // The one optional field: the most the poster pays per byte of data.
    check_tx_in_isolation(&mk(&|v| v["max_blob_fee_per_byte"] = json!("2000"), 1), &c.params).unwrap();
    let cases: Vec<(Box<dyn Fn(&mut serde_json::Value)>, u128, &str)> = vec![
        (Box::new(|v| v["max_blob_fee_per_byte"] = json!(2000)), 1, "max_blob_fee_per_byte: expected a decimal string"),
        (Box::new(|v| v["max_blob_fee_per_byte"] = json!("+2000")), 1, "max_blob_fee_per_byte: expected a canonical decimal string"),
        (Box::new(|_| {}), 0, "expected more than \"0\""),
        (Box::new(|v| v["m"] = json!(1025)), 1, "m: expected an integer in 1..=1024"),
        (Box::new(|v| v["k"] = json!(4097)), 1, "k: expected an integer in 1..=4096"),
        (Box::new(|v| v["n"] = json!(0)), 1, "n: expected an integer in 1..=1024"),
        (Box::new(|v| v["a_root"] = json!("AB".repeat(32))), 1, "a_root: expected 64 lowercase hex digits"),
        (Box::new(|v| v["bond"] = json!(5)), 1, "bond: expected a decimal string"),
        (Box::new(|v| v["bond"] = json!("05")), 1, "bond: expected a canonical decimal string"),
        (Box::new(|v| v["extra"] = json!(1)), 1, "unknown field \"extra\""),
        (Box::new(|v| drop(v.as_object_mut().unwrap().remove("retention"))), 1, "\"retention\" is missing"),
    ];
    for (f, amount, want) in cases {
        let e = check_tx_in_isolation(&mk(&*f, amount), &c.params).unwrap_err();
        assert!(e.to_string().contains(want), "expected {want:?}, found {e}");
    }
}

#[test]
fn the_root_of_c_is_the_synthetic_row_root_and_odd_rows_are_promoted() {
    let c: Vec<i32> = (0..8 * 3).map(|i| i * 7919 - 50_000).collect();
    let tree = cpc_poc::RowTree::from_leaves(
        c.chunks(3).map(|row| sha256_concat(&[&[0u8], &row.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()])).collect(),
    );
    assert_eq!(Blob::from_i32(8, 3, &c).unwrap().root(), tree.root());
    // Five rows: ((l0 l1) (l2 l3)) l4, the fifth promoted unchanged.
    let leaves: Vec<H256> = c[..15].chunks(3).map(|row| sha256_concat(&[&[0u8], &row.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()])).collect();
    let node = |a: &H256, b: &H256| sha256_concat(&[&[1u8], &a.0, &b.0]);
    let want = node(&node(&node(&leaves[0], &leaves[1]), &node(&leaves[2], &leaves[3])), &leaves[4]);
    assert_eq!(Blob::from_i32(5, 3, &c[..15]).unwrap().root(), want);
}

#[test]
fn a_certified_block_is_taken_without_data_not_held_here_but_held_data_is_still_checked() {
    // A node syncing a decided block (more than 2/3 checked its data before voting) may no
    // longer find the data anywhere: it takes the certificate's word for what it lacks.
    let mut c = Chain::new();
    let j = job(4, 8, 4);
    let id = claimed(&mut c, &j);
    let right = Blob::from_i32(4, 4, &j.c()).unwrap();
    let root = right.root();
    let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
    let mut with_data = c.state.clone();
    with_data.put_blob(right);
    let block = c.build_on(&with_data, &c.params, &Chain::candidates(std::slice::from_ref(&tx))).block;
    assert!(matches!(c.import(&block), Err(BlockError::Market { error: MarketDataError::BlobMissing { .. }, .. })), "a proposal needs its data");
    let mut ctx = c.ctx();
    ctx.data_attested = true;
    let out = validate_block(&block, &c.state, &ctx).expect("a certified block without the data here");
    assert_eq!(out.1.state_root, block.header.state_root);
    // A certified block with a wrong product whose C this node holds (a certificate from a
    // dishonest majority) is still refused: held data is always checked.
    let mut wrong = j.c();
    wrong[3] += 1;
    drop(ctx);
    let wrong_root = c.state.put_blob(Blob::from_i32(4, 4, &wrong).unwrap());
    let forged = build_without_data_rules(&c, &[result_tx(&c, 2, &id, &wrong_root, c.nonce(2))]);
    let mut ctx = c.ctx();
    ctx.data_attested = true;
    assert!(matches!(
        validate_block(&forged, &c.state, &ctx).map(|_| ()),
        Err(BlockError::Market { error: MarketDataError::Freivalds { .. }, .. })
    ));
}

#[test]
fn a_post_job_capped_below_the_blob_fee_waits_and_a_block_holding_it_is_invalid() {
    // A target of 1 byte and a fast fee: one job's data raises the next block's fee well
    // above the floor (the dev genesis's blob_fee_per_byte).
    let mut c = Chain::with(|g| {
        g.market.target_blob_bytes_per_block = 1;
        g.market.blob_fee_update_fraction = 10;
    });
    let floor = c.params.market.blob_fee_per_byte;
    let first = job(3, 5, 2);
    first.put_inputs(&mut c.state);
    let p = post(&c, 1, &first, c.nonce(1));
    c.advance(std::slice::from_ref(&p));
    let excess = (3 * 5 + 5 * 2) - 1;
    let fee_now = c.params.market.blob_fee_at(excess);
    assert!(fee_now > floor, "the fee rose: {fee_now} vs {floor}");
    // A poster that pays at most the floor waits: the builder keeps it for later.
    let second = job(2, 4, 2);
    second.put_inputs(&mut c.state);
    let capped = {
        let v = json!({"m": 2, "k": 4, "n": 2, "a_root": second.a_root.to_hex(), "b_root": second.b_root.to_hex(),
                       "bond": BOND.to_string(), "claim_blocks": 5, "deadline": c.head.height + 50, "retention": 10,
                       "max_blob_fee_per_byte": floor.to_string()});
        UnsignedTx::at_intrinsic_gas(&c.params.chain_id, TxType::PostJob, c.addr(1), None, PRICE, c.nonce(1), 1000, obj(v)).sign(&c.keys[1])
    };
    let built = c.build(std::slice::from_ref(&capped));
    assert!(!included(&built, &capped));
    assert!(matches!(&built.skipped[0].1, Skip::Later(s) if s.contains("blob fee")), "{:?}", built.skipped);
    // A proposer that computes the fee from a slower rule (here: a huge update fraction, so
    // the fee stays at the floor) includes it; every honest validator refuses that block.
    let mut lying = c.params.clone();
    lying.market.blob_fee_update_fraction = u64::MAX;
    let forged = c.build_on(&c.state, &lying, &Chain::candidates(std::slice::from_ref(&capped)));
    assert!(included(&forged, &capped), "{:?}", forged.skipped);
    let e = c.import(&forged.block).unwrap_err();
    assert!(e.to_string().contains(&format!("this block's is {fee_now} per byte, the POST_JOB pays at most {floor}")), "{e}");
    // The fee falls back once blocks bring nothing; then the same transaction goes in.
    while c.params.market.blob_fee_at(cpc_state::market::blob_fee_state(&c.state).unwrap().excess_blob_bytes) > floor {
        c.advance(&[]);
    }
    let built = c.build(std::slice::from_ref(&capped));
    assert!(included(&built, &capped), "{:?}", built.skipped);
}

#[test]
fn a_job_is_valid_whichever_reading_of_its_rows_a_node_holds() {
    // The root commits to rows: A (6 x 40 int8) has the root of the 6 x 10 int32 matrix with
    // the same bytes. Anyone may hand that reading to a node first (job_putBlob, a relayer);
    // if it made the job invalid there, a griefer could split the validators on an honest job.
    let mut c = Chain::new();
    let j = job(6, 40, 4);
    let as_i32 = Blob::new(BlobKind::Int32, 6, 10, Blob::from_i8(6, 40, &j.a).unwrap().data).unwrap();
    assert_eq!(as_i32.root(), j.a_root);
    c.state.put_blob(as_i32);
    c.state.put_blob(Blob::from_i8(40, 4, &j.b).unwrap());
    let p = post(&c, 1, &j, c.nonce(1));
    let id = p.hash();
    let built = c.build(std::slice::from_ref(&p));
    assert!(included(&built, &p), "{:?}", built.skipped);
    let out = c.import(&built.block).expect("validates");
    c.commit(&built.block, &out);
    let cl = claim(&c, 2, &id, c.nonce(2));
    c.advance(&[cl]);
    // C (6 x 4 int32) held as the 6 x 16 int8 reading of its bytes: still checked, and paid.
    let right = Blob::from_i32(6, 4, &j.c()).unwrap();
    let root = right.root();
    c.state.put_blob(Blob::new(BlobKind::Int8, 6, 16, right.data.clone()).unwrap());
    let tx = result_tx(&c, 2, &id, &root, c.nonce(2));
    let built = c.build(std::slice::from_ref(&tx));
    assert!(included(&built, &tx), "{:?}", built.skipped);
    c.import(&built.block).expect("validates");
    // A reading with other rows is another matrix: a wrong C of the same bytes count but
    // different rows does not pass (3 x 8 int32 is 96 bytes too, but its root differs anyway).
    let wrong = Blob::new(BlobKind::Int32, 3, 8, right.data.clone()).unwrap();
    assert_ne!(wrong.root(), root);
    assert!(wrong.read_as(BlobKind::Int32, 6, 4).is_none());
}
