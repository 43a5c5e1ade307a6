//! The task market in the state transition (docs/MARKET.md): one test per rule of posting,
//! claiming, paying, expiry, refunds and cancellation, and the escrow invariant over random
//! sequences. The data rule (Freivalds against the blobs) is consensus's and tested there.
mod common;
use common::*;
use cpc_primitives::*;
use cpc_state::*;
use serde_json::json;

const CPC: u128 = UNITS_PER_CPC;
const TREASURY: Address = Address([0xee; 20]);
const PROPOSER: Address = Address([0xaa; 20]);
const PRICE: u128 = 50 * CPC;
const BOND: u128 = 5 * CPC;

struct Chain {
    st: MemState,
    p: ChainParams,
    height: u64,
    nonces: [u64; 8],
}

fn obj(v: serde_json::Value) -> Payload {
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

fn root_of(i: u8) -> String {
    sha256(&[i]).to_hex()
}

impl Chain {
    fn new() -> Chain {
        let mut p = params();
        // No blob fee here (its own test below), so that balances read as price and gas only.
        p.market = MarketParams {
            enabled: true,
            fee_bps: 500,
            max_claim_blocks: 10,
            max_deadline_blocks: 100,
            max_retention_blocks: 50,
            blob_fee_per_byte: 0,
            ..MarketParams::default()
        };
        Chain { st: genesis(6), p, height: 0, nonces: [0; 8] }
    }

    fn tx(&mut self, from: u8, t: TxType, amount: u128, payload: serde_json::Value) -> Transaction {
        let n = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        UnsignedTx::at_intrinsic_gas("cpc-test", t, addr(from), None, amount, n, 1000, obj(payload)).sign(&key(from))
    }

    fn post(&mut self, from: u8, price: u128, claim_blocks: u64, deadline: u64) -> Transaction {
        let p = json!({"m": 4, "k": 8, "n": 2, "a_root": root_of(1), "b_root": root_of(2), "bond": BOND.to_string(),
                       "claim_blocks": claim_blocks, "deadline": deadline, "retention": 5});
        self.tx(from, TxType::PostJob, price, p)
    }

    fn claim(&mut self, from: u8, job: &H256, bond: u128) -> Transaction {
        self.tx(from, TxType::ClaimJob, bond, json!({"job_id": job.to_hex()}))
    }

    /// A job posted by 0 in one block and claimed by 1 in the next; its id.
    fn posted_and_claimed(&mut self, claim_blocks: u64, deadline: u64) -> H256 {
        let post = self.post(0, PRICE, claim_blocks, deadline);
        let job = post.hash();
        self.block(&[post]);
        let claim = self.claim(1, &job, BOND);
        self.block(&[claim]);
        job
    }

    fn cancel(&mut self, from: u8, job: &H256) -> Transaction {
        self.tx(from, TxType::CancelJob, 0, json!({"job_id": job.to_hex()}))
    }

    fn result(&mut self, from: u8, job: &H256, root: &str) -> Transaction {
        let n = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        let r = ComputeResult {
            task_id: job_task_id(job),
            worker_address: addr(from).to_string(),
            result_hash: root.into(),
            proof: None,
            nonce: None,
            signature: None,
        };
        UnsignedTx::submit_result("cpc-test", addr(from), &r, n, 1000).sign(&key(from))
    }

    /// Executes one block; every transaction must be includable.
    fn block(&mut self, txs: &[Transaction]) -> BlockOutcome {
        self.try_block(txs).unwrap()
    }

    fn try_block(&mut self, txs: &[Transaction]) -> Result<BlockOutcome, TxError> {
        let h = self.height + 1;
        let mut ex = BlockExecutor::new(&self.st, &self.p, h).at_time(h * 1000);
        for tx in txs {
            ex.execute(tx, tx.hash())?;
        }
        let out = ex.finish(&BlockInputs::plain(PROPOSER), &[]).unwrap();
        self.st.commit(&out.changes);
        self.height = h;
        Ok(out)
    }

    /// Executes one block with `tx` and expects it refused; nothing is committed.
    fn refused(&self, tx: &Transaction) -> TxError {
        let mut ex = BlockExecutor::new(&self.st, &self.p, self.height + 1);
        ex.execute(tx, tx.hash()).unwrap_err()
    }

    fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(&[]);
        }
    }

    fn job(&self, id: &H256) -> JobRecord {
        match self.st.stake_record(&cpc_state::stake::StakeKey::Job(*id)).unwrap() {
            Some(cpc_state::stake::StakeRecord::Job(j)) => j,
            other => panic!("no job {id}: {other:?}"),
        }
    }

    fn bal(&self, a: &Address) -> u128 {
        self.st.balance(a)
    }
}

fn fee(tx: &Transaction) -> u128 {
    tx.tx_type.intrinsic_gas() as u128 * tx.gas_price as u128
}

fn failed(out: &BlockOutcome, i: usize) -> String {
    assert_eq!(out.outcomes[i].status, TxStatus::Failed, "{:?}", out.outcomes[i]);
    out.outcomes[i].error.clone().unwrap()
}

#[test]
fn posting_escrows_the_price_and_records_the_job() {
    let mut c = Chain::new();
    let before = c.bal(&addr(0));
    let supply = c.st.supply;
    let tx = c.post(0, PRICE, 5, 20);
    let out = c.block(std::slice::from_ref(&tx));
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
    assert_eq!(c.bal(&addr(0)), before - PRICE - fee(&tx));
    assert_eq!(c.bal(&escrow_address()), PRICE);
    let j = c.job(&tx.hash());
    assert_eq!((j.status, j.poster, j.price, j.bond, j.deadline, j.posted_height), (JobStatus::Open, addr(0), PRICE, BOND, 20, 1));
    assert_eq!((j.m, j.k, j.n), (4, 8, 2));
    // Nothing minted or burned by the market: the escrow is liquid.
    assert_eq!(c.st.supply.total - c.st.supply.minted, supply.total - supply.minted);
    assert_eq!(c.st.supply.liquid + c.st.supply.bonded, c.st.supply.total);
}

#[test]
fn a_post_the_poster_cannot_pay_fails_and_escrows_nothing() {
    let mut c = Chain::new();
    let tx = c.post(0, 2000 * CPC, 5, 20);
    let out = c.block(&[tx]);
    assert!(failed(&out, 0).contains("insufficient balance for the price"));
    assert_eq!(c.bal(&escrow_address()), 0);
}

#[test]
fn a_deadline_in_the_past_or_too_far_fails() {
    let mut c = Chain::new();
    c.empty_blocks(3);
    let past = c.post(0, PRICE, 5, 4); // this block is 4: the deadline must be after it
    let far = c.post(0, PRICE, 5, 4 + 101);
    let long_claim = c.post(0, PRICE, 11, 20);
    let out = c.block(&[past, far, long_claim]);
    assert!(failed(&out, 0).contains("deadline: expected a height in 5..=104"), "{}", failed(&out, 0));
    assert!(failed(&out, 1).contains("found 105"));
    assert!(failed(&out, 2).contains("claim_blocks: expected 1..=10"));
    assert_eq!(c.bal(&escrow_address()), 0);
}

#[test]
fn a_claim_locks_the_bond_and_is_exclusive() {
    let mut c = Chain::new();
    let post = c.post(0, PRICE, 5, 20);
    let job = post.hash();
    c.block(&[post]);
    let w1 = c.bal(&addr(1));
    let claim = c.claim(1, &job, BOND);
    let second = c.claim(2, &job, BOND);
    let w2 = c.bal(&addr(2));
    let out = c.block(&[claim.clone(), second.clone()]);
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
    assert_eq!(c.bal(&addr(1)), w1 - BOND - fee(&claim));
    assert!(failed(&out, 1).contains("is claimed, expected open"));
    assert_eq!(c.bal(&addr(2)), w2 - fee(&second), "a failed claim pays its fee and locks nothing");
    assert_eq!(c.bal(&escrow_address()), PRICE + BOND);
    let j = c.job(&job);
    assert_eq!((j.status, j.claimant, j.claim_until, j.claims), (JobStatus::Claimed, Some(addr(1)), Some(2 + 5), 1));
}

#[test]
fn a_claim_must_offer_exactly_the_bond() {
    let mut c = Chain::new();
    let post = c.post(0, PRICE, 5, 20);
    let job = post.hash();
    c.block(&[post]);
    let low = c.claim(1, &job, BOND - 1);
    let out = c.block(&[low]);
    assert!(failed(&out, 0).contains(&format!("expected the job's bond {BOND}")));
    assert_eq!(c.job(&job).status, JobStatus::Open);
}

#[test]
fn the_claimants_result_pays_price_minus_fee_and_returns_the_bond() {
    let mut c = Chain::new();
    let job = c.posted_and_claimed(5, 20);
    let (w, t) = (c.bal(&addr(1)), c.bal(&TREASURY));
    let res = c.result(1, &job, &root_of(9));
    let out = c.block(std::slice::from_ref(&res));
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
    let market_fee = PRICE * 500 / 10_000;
    assert_eq!(c.bal(&addr(1)), w + PRICE - market_fee + BOND - fee(&res));
    // The treasury gets the market fee and its usual 10 % of the block's fees.
    let tx_fees_to_treasury = fee(&res) - fee(&res) * 90 / 100;
    assert_eq!(c.bal(&TREASURY), t + market_fee + tx_fees_to_treasury);
    assert_eq!(c.bal(&escrow_address()), 0);
    let j = c.job(&job);
    assert_eq!((j.status, j.result_root, j.closed_height), (JobStatus::Done, Some(H256::from_hex(&root_of(9)).unwrap()), Some(3)));
    assert!(out.rewards.worker_payments.is_empty(), "a job result is never a share");
    // Done: a second result is a duplicate task (rule 4), and the job takes no claim.
    let again = c.result(1, &job, &root_of(8));
    assert!(matches!(c.refused(&again), TxError::TaskOnChain(_)));
    c.nonces[1] -= 1;
    let claim = c.claim(2, &job, BOND);
    let out = c.block(&[claim]);
    assert!(failed(&out, 0).contains("is done, expected open"));
}

#[test]
fn only_the_claimant_may_submit() {
    let mut c = Chain::new();
    let job = c.posted_and_claimed(5, 20);
    let thief = c.result(2, &job, &root_of(9));
    assert_eq!(
        c.refused(&thief),
        TxError::JobResult(JobResultError::NotClaimant { job, claimant: addr(1), found: addr(2) })
    );
    c.nonces[2] -= 1;
    let unclaimed = c.post(0, PRICE, 5, 20);
    let j2 = unclaimed.hash();
    c.block(&[unclaimed]);
    let early = c.result(2, &j2, &root_of(9));
    assert!(matches!(c.refused(&early), TxError::JobResult(JobResultError::NotClaimed { .. })));
    c.nonces[2] -= 1;
    let nothing = c.result(2, &sha256(b"no job"), &root_of(9));
    assert!(matches!(c.refused(&nothing), TxError::JobResult(JobResultError::NoSuchJob(_))));
}

#[test]
fn an_expired_claim_forfeits_its_bond_and_reopens_the_job() {
    let mut c = Chain::new();
    let job = c.posted_and_claimed(3, 20); // height 2: the claim runs to 5
    c.empty_blocks(2); // 3, 4
    let late = c.result(1, &job, &root_of(9));
    // At 5 the result is still in time…
    {
        let mut ex = BlockExecutor::new(&c.st, &c.p, 5);
        ex.execute(&late, late.hash()).unwrap();
    }
    let t = c.bal(&TREASURY);
    let out = c.block(&[]); // 5: the claim ends with it
    assert_eq!(out.rewards.market.forfeited, vec![(job, addr(1), BOND.to_string())]);
    assert_eq!(c.bal(&TREASURY), t + BOND);
    assert_eq!(c.bal(&escrow_address()), PRICE);
    let j = c.job(&job);
    assert_eq!((j.status, j.claimant, j.claim_until, j.claims), (JobStatus::Open, None, None, 1));
    // …at 6 it is not, and someone else may claim.
    assert!(matches!(c.refused(&late), TxError::JobResult(JobResultError::NotClaimed { .. })));
    let other = c.claim(2, &job, BOND);
    let out = c.block(&[other]);
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
    assert_eq!(c.job(&job).claimant, Some(addr(2)));
}

#[test]
fn a_result_after_the_claim_ran_out_is_refused_even_before_it_is_processed() {
    // The claim ends at 5; a block at 6 that still sees it claimed (impossible on a real chain,
    // where the end of 5 reopened it) must refuse the result: the height rule itself.
    let mut c = Chain::new();
    let job = c.posted_and_claimed(3, 20);
    let ex = BlockExecutor::new(&c.st, &c.p, 6);
    let e = ex.check_job_result(&addr(1), &job_task_id(&job), &root_of(9)).unwrap_err();
    assert_eq!(e, JobResultError::ClaimOver { job, until: 5, height: 6 });
    // At 5 it is in time.
    let ex = BlockExecutor::new(&c.st, &c.p, 5);
    ex.check_job_result(&addr(1), &job_task_id(&job), &root_of(9)).unwrap();
}

#[test]
fn a_passed_deadline_refunds_the_poster() {
    let mut c = Chain::new();
    let post = c.post(0, PRICE, 3, 4);
    let job = post.hash();
    c.block(&[post]); // 1
    let poster = c.bal(&addr(0));
    c.empty_blocks(2); // 2, 3
    let out = c.block(&[]); // 4: the deadline
    assert_eq!(out.rewards.market.refunded, vec![(job, addr(0), PRICE.to_string())]);
    assert_eq!(c.bal(&addr(0)), poster + PRICE);
    assert_eq!(c.bal(&escrow_address()), 0);
    assert_eq!(c.job(&job).status, JobStatus::Expired);
    let claim = c.claim(1, &job, BOND);
    let out = c.block(&[claim]);
    assert!(failed(&out, 0).contains("is expired, expected open"));
}

#[test]
fn a_claim_never_outlives_the_deadline_and_both_settle_at_it() {
    let mut c = Chain::new();
    let job = c.posted_and_claimed(10, 4); // 2: until min(12, 4) = 4
    assert_eq!(c.job(&job).claim_until, Some(4));
    let claim_late = c.claim(2, &job, BOND);
    c.block(&[]); // 3
    let (poster, t) = (c.bal(&addr(0)), c.bal(&TREASURY));
    let out = c.block(&[]); // 4
    assert_eq!(out.rewards.market.forfeited.len(), 1);
    assert_eq!(out.rewards.market.refunded.len(), 1);
    assert_eq!((c.bal(&addr(0)), c.bal(&TREASURY)), (poster + PRICE, t + BOND));
    assert_eq!(c.bal(&escrow_address()), 0);
    // A claim at or after the deadline fails.
    let out = c.block(&[claim_late]);
    assert!(failed(&out, 0).contains("expired"));
}

#[test]
fn a_job_can_be_cancelled_by_its_poster_before_any_claim_only() {
    let mut c = Chain::new();
    let a = c.post(0, PRICE, 2, 30);
    let b = c.post(0, PRICE, 2, 30);
    let (ja, jb) = (a.hash(), b.hash());
    c.block(&[a, b]);
    let stranger = c.cancel(1, &ja);
    let out = c.block(&[stranger]);
    assert!(failed(&out, 0).contains("only the poster"));
    let poster = c.bal(&addr(0));
    let ok = c.cancel(0, &ja);
    c.block(std::slice::from_ref(&ok));
    assert_eq!(c.bal(&addr(0)), poster + PRICE - fee(&ok));
    assert_eq!(c.job(&ja).status, JobStatus::Cancelled);
    // b is claimed, the claim lapses (the job is open again), and still it cannot be cancelled:
    // a worker who claimed it may be computing it for a second try.
    let claim = c.claim(1, &jb, BOND);
    c.block(&[claim]);
    c.empty_blocks(3);
    assert_eq!(c.job(&jb).status, JobStatus::Open);
    let late = c.cancel(0, &jb);
    let out = c.block(&[late]);
    assert!(failed(&out, 0).contains("claimed 1 time(s)"));
    assert_eq!(c.bal(&escrow_address()), PRICE, "b's price stays escrowed");
    // The cancelled job's deadline passes without a second refund.
    let before = c.bal(&addr(0));
    c.empty_blocks(30);
    assert_eq!(c.bal(&addr(0)), before + PRICE, "only b is refunded at the deadline");
}

#[test]
fn post_claim_and_result_in_one_block() {
    let mut c = Chain::new();
    let post = c.post(0, PRICE, 3, 20);
    let job = post.hash();
    let claim = c.claim(1, &job, BOND);
    let res = c.result(1, &job, &root_of(9));
    let out = c.block(&[post, claim, res]);
    assert!(out.outcomes.iter().all(|o| o.status == TxStatus::Success), "{:?}", out.outcomes);
    assert_eq!(c.job(&job).status, JobStatus::Done);
    assert_eq!(c.bal(&escrow_address()), 0);
}

#[test]
fn without_the_market_job_transactions_fail_and_job_results_are_external() {
    let mut c = Chain::new();
    c.p.market.enabled = false;
    let post = c.post(0, PRICE, 3, 20);
    let out = c.block(std::slice::from_ref(&post));
    assert!(failed(&out, 0).contains("not enabled"));
    assert_eq!(c.bal(&escrow_address()), 0);
    // A `job:` result is an external result (PROTOCOL.md rules 1-5): included, pays nothing.
    let res = c.result(1, &post.hash(), &root_of(9));
    let out = c.block(&[res]);
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
}

#[test]
fn the_poster_pays_for_the_data_and_a_block_brings_a_bounded_amount_of_it() {
    let mut c = Chain::new();
    c.p.market.blob_fee_per_byte = 1000;
    c.p.market.max_blob_bytes_per_block = 100; // a job here brings 4*8 + 8*2 = 48 bytes of inputs
    let (poster, treasury) = (c.bal(&addr(0)), c.bal(&TREASURY));
    let a = c.post(0, PRICE, 5, 20);
    let b = c.post(0, PRICE, 5, 20);
    let third = c.post(0, PRICE, 5, 20);
    // Two fit (96 bytes); the third would bring 144 of 100: not in this block.
    let mut ex = BlockExecutor::new(&c.st, &c.p, 1);
    ex.execute(&a, a.hash()).unwrap();
    ex.execute(&b, b.hash()).unwrap();
    assert_eq!(ex.execute(&third, third.hash()).unwrap_err(), TxError::BlobBytes { used: 96, limit: 100, needed: 48 });
    let out = c.block(&[a.clone(), b]);
    assert!(out.outcomes.iter().all(|o| o.status == TxStatus::Success));
    // Each paid for A, B and the C to come: 48 + 4*4*2 = 80 bytes at 1000.
    let blob_fee = 80 * 1000u128;
    assert_eq!(c.job(&a.hash()).blob_fee, blob_fee);
    let gas = 2 * fee(&a);
    assert_eq!(c.bal(&addr(0)), poster - 2 * PRICE - 2 * blob_fee - gas);
    assert_eq!(c.bal(&TREASURY), treasury + 2 * blob_fee + (gas - gas * 90 / 100));
    assert_eq!(c.bal(&escrow_address()), 2 * PRICE, "the blob fee is not escrowed");
    // The third fits the next block.
    let out = c.block(&[third]);
    assert_eq!(out.outcomes[0].status, TxStatus::Success);
    // A result's C counts too (4 x 2 int32: 32 bytes): after two new jobs (96 bytes) it does
    // not fit; after one it does.
    let cl = c.claim(1, &a.hash(), BOND);
    c.block(&[cl]);
    let r1 = c.result(1, &a.hash(), &root_of(9));
    let (p1, p2) = (c.post(0, PRICE, 5, 30), c.post(0, PRICE, 5, 30));
    let mut ex = BlockExecutor::new(&c.st, &c.p, c.height + 1);
    ex.execute(&p1, p1.hash()).unwrap();
    ex.execute(&p2, p2.hash()).unwrap();
    assert_eq!(ex.execute(&r1, r1.hash()).unwrap_err(), TxError::BlobBytes { used: 96, limit: 100, needed: 32 });
    let mut ex = BlockExecutor::new(&c.st, &c.p, c.height + 1);
    ex.execute(&p1, p1.hash()).unwrap();
    ex.execute(&r1, r1.hash()).unwrap();
}

/// The blob fee record (`0x08`) as the state holds it: `None` while the excess is 0.
fn excess_record(c: &Chain) -> Option<u64> {
    match c.st.stake_record(&cpc_state::stake::StakeKey::BlobFee).unwrap() {
        Some(cpc_state::stake::StakeRecord::BlobFee(f)) => Some(f.excess_blob_bytes),
        None => None,
        other => panic!("not a blob fee record: {other:?}"),
    }
}

#[test]
fn the_blob_fee_rises_while_blocks_bring_more_than_the_target_and_falls_back_to_the_floor() {
    let mut c = Chain::new();
    c.p.market.blob_fee_per_byte = 1000;
    c.p.market.target_blob_bytes_per_block = 48; // one job's inputs (4*8 + 8*2)
    c.p.market.max_blob_bytes_per_block = 150; // three jobs' inputs
    c.p.market.blob_fee_update_fraction = 100;
    // The fee per byte at each excess, computed with Python's unbounded integers from
    // EIP-4844's definition of fake_exponential(1000, excess, 100) (not by the code here).
    let python = |excess: u64| match excess {
        0 => 1000u128,
        48 => 1616,
        96 => 2611,
        144 => 4220,
        192 => 6820,
        e => panic!("no reference value for excess {e}"),
    };
    // Each job pays for its 80 bytes (48 of inputs, 32 of C) at the fee of its block.
    let paid = |c: &Chain, tx: &Transaction| c.job(&tx.hash()).blob_fee;
    let mut excess = 0u64;
    for round in 0..2 {
        let txs: Vec<Transaction> = (0..3).map(|_| c.post(0, PRICE, 5, 50)).collect();
        let treasury = c.bal(&TREASURY);
        let out = c.block(&txs);
        assert!(out.outcomes.iter().all(|o| o.status == TxStatus::Success), "round {round}: {:?}", out.outcomes);
        for tx in &txs {
            assert_eq!(paid(&c, tx), 80 * python(excess), "round {round}: the fee of the block's parent excess {excess}");
        }
        let gas: u128 = txs.iter().map(fee).sum();
        assert_eq!(c.bal(&TREASURY), treasury + 3 * 80 * python(excess) + (gas - gas * 90 / 100));
        // 144 bytes against a target of 48: 96 more excess per block.
        excess = excess + 144 - 48;
        assert_eq!(excess_record(&c), Some(excess), "round {round}");
    }
    assert_eq!(excess, 192);
    // A POST_JOB that pays at most 2000 per byte waits while the fee is above it: it is not
    // includable (a block holding it is invalid), it is not included as failed either, so
    // the poster loses nothing, not even gas, while it waits.
    let capped = {
        let p = json!({"m": 4, "k": 8, "n": 2, "a_root": root_of(1), "b_root": root_of(2), "bond": BOND.to_string(),
                       "claim_blocks": 5, "deadline": 60, "retention": 5, "max_blob_fee_per_byte": "2000"});
        c.tx(0, TxType::PostJob, PRICE, p)
    };
    assert_eq!(c.refused(&capped), TxError::BlobFee { max: 2000, current: python(192) });
    // Empty blocks lower the excess by the target each: 144, then 96: still above 2000.
    c.block(&[]);
    assert_eq!(excess_record(&c), Some(144));
    c.block(&[]);
    assert_eq!(excess_record(&c), Some(96));
    assert_eq!(c.refused(&capped), TxError::BlobFee { max: 2000, current: python(96) });
    c.block(&[]);
    assert_eq!(excess_record(&c), Some(48));
    // 1616 ≤ 2000: now it goes in, and pays the block's fee, not its maximum.
    let out = c.block(std::slice::from_ref(&capped));
    assert_eq!(out.outcomes[0].status, TxStatus::Success, "{:?}", out.outcomes[0]);
    assert_eq!(paid(&c, &capped), 80 * python(48));
    // Its 48 bytes are the target: the excess stays; then one empty block brings it to 0 and
    // the record goes (an absent record is excess 0), and the fee is back at the floor.
    assert_eq!(excess_record(&c), Some(48));
    c.block(&[]);
    assert_eq!(excess_record(&c), None);
    c.block(&[]);
    let floor = c.post(0, PRICE, 5, c.height + 20);
    c.block(std::slice::from_ref(&floor));
    assert_eq!(paid(&c, &floor), 80 * python(0));
    // A block under the target never takes the excess below 0.
    assert_eq!(excess_record(&c), None);
}

#[test]
fn fake_exponential_follows_eip_4844() {
    use cpc_state::market::fake_exponential;
    // Reference values: the Geas/EIP-7002 test's fake_expo(1, 100, 17) = 357, and the others
    // computed with Python's integers from the EIP's definition.
    assert_eq!(fake_exponential(1, 100, 17), 357);
    assert_eq!(fake_exponential(1000, 0, 100), 1000);
    assert_eq!(fake_exponential(0, 1234, 2345), 0);
    let (floor, target) = (1_000_000_000u128, 8u128 << 20);
    let fraction = target * 17 / 2;
    assert_eq!(fake_exponential(floor, target, fraction), 1_124_847_036, "one full block above the target");
    assert_eq!(fake_exponential(floor, 100 * target, fraction), 128_631_355_417_490, "100 full blocks");
    // Within 0.1 % of floor · e^(x/fraction) where the integer series is exact enough.
    for blocks in [1u128, 10, 50, 100] {
        let got = fake_exponential(floor, blocks * target, fraction) as f64;
        let want = floor as f64 * (blocks as f64 * 2.0 / 17.0).exp();
        assert!((got - want).abs() / want < 1e-3, "{blocks} blocks: {got} vs {want}");
    }
    // Past u128 it saturates (deterministically) instead of wrapping.
    assert_eq!(fake_exponential(floor, 2000 * target, fraction), u128::MAX);
    assert_eq!(fake_exponential(u128::MAX, 1, 2), u128::MAX);
}

#[test]
fn escrow_always_holds_exactly_what_open_jobs_and_live_claims_owe() {
    // Random sequences of posts, claims, results, cancels and empty blocks; after every block
    // the escrow's balance equals the sum, computed here from the job records, of the price of
    // every job not closed and the bond of every claimed one, and the supply's parts add up.
    for seed in 0..12u64 {
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut c = Chain::new();
        let mut jobs: Vec<H256> = Vec::new();
        for _ in 0..40 {
            let mut txs = Vec::new();
            for _ in 0..next(4) {
                let who = next(5) as u8;
                match next(5) {
                    0 => {
                        let h = c.height + 1;
                        let tx = c.post(who, (1 + next(100)) as u128 * CPC, 1 + next(4), h + 1 + next(8));
                        jobs.push(tx.hash());
                        txs.push(tx);
                    }
                    1 | 2 if !jobs.is_empty() => {
                        let j = jobs[next(jobs.len() as u64) as usize];
                        txs.push(c.claim(who, &j, BOND));
                    }
                    3 if !jobs.is_empty() => {
                        let j = jobs[next(jobs.len() as u64) as usize];
                        txs.push(c.cancel(who, &j));
                    }
                    _ if !jobs.is_empty() => {
                        let j = jobs[next(jobs.len() as u64) as usize];
                        let tx = c.result(who, &j, &root_of(7));
                        // Only includable when `who` holds a live claim: try it alone first.
                        let mut ex = BlockExecutor::new(&c.st, &c.p, c.height + 1);
                        for t in &txs {
                            ex.execute(t, t.hash()).unwrap();
                        }
                        if ex.execute(&tx, tx.hash()).is_ok() {
                            txs.push(tx);
                        } else {
                            c.nonces[who as usize] -= 1;
                        }
                    }
                    _ => {}
                }
            }
            c.block(&txs);
            let mut owed = 0u128;
            for j in &jobs {
                let Some(cpc_state::stake::StakeRecord::Job(r)) = c.st.stake_record(&cpc_state::stake::StakeKey::Job(*j)).unwrap() else {
                    continue; // its POST_JOB failed
                };
                if !r.status.is_closed() {
                    owed += r.price;
                }
                if r.status == JobStatus::Claimed {
                    owed += r.bond;
                }
            }
            assert_eq!(c.bal(&escrow_address()), owed, "seed {seed}, height {}", c.height);
            let s = c.st.supply;
            assert_eq!(s.liquid, c.st.sum_of_balances(), "seed {seed}");
            assert_eq!(s.total, s.genesis + s.minted - s.burned, "seed {seed}");
        }
    }
}

/// The events a block's job changes make (the `jobEvents` subscription and the market's
/// metrics): each successful market transaction, then the end of the block's lapses and
/// refunds, with who acted; a failed one makes none, and none without the market.
#[test]
fn job_events_follow_each_jobs_life_in_block_order() {
    let mut c = Chain::new();
    let events = |c: &Chain, txs: &[Transaction], out: &BlockOutcome| -> Vec<(H256, JobEventKind, Address, Option<H256>)> {
        job_events(c.height, txs, &out.outcomes, &out.rewards.market, c.p.market.enabled)
            .into_iter()
            .inspect(|e| assert_eq!(e.block_height, c.height))
            .map(|e| (e.job, e.event, e.by, e.tx_hash))
            .collect()
    };
    // Block 1: two posts.
    let (p1, p2) = (c.post(0, PRICE, 3, 40), c.post(0, PRICE, 3, 4));
    let (j1, j2) = (p1.hash(), p2.hash());
    let txs = [p1, p2];
    let out = c.block(&txs);
    assert_eq!(
        events(&c, &txs, &out),
        vec![(j1, JobEventKind::Posted, addr(0), Some(j1)), (j2, JobEventKind::Posted, addr(0), Some(j2))]
    );
    // Block 2: a claim of job 1, and a claim with the wrong bond (failed: no event).
    let (good, bad) = (c.claim(1, &j1, BOND), c.claim(2, &j2, BOND + 1));
    let txs = [good.clone(), bad];
    let out = c.block(&txs);
    assert_eq!(out.outcomes[1].status, TxStatus::Failed);
    assert_eq!(events(&c, &txs, &out), vec![(j1, JobEventKind::Claimed, addr(1), Some(good.hash()))]);
    // Blocks 3 and 4: nothing, then job 2's deadline (refund) at the end of 4.
    c.block(&[]);
    let out = c.block(&[]);
    assert_eq!(events(&c, &[], &out), vec![(j2, JobEventKind::Expired, addr(0), None)]);
    // Block 5: job 1's claim (2 + 3) ends — a lapse at the end of the block.
    let out = c.block(&[]);
    assert_eq!(events(&c, &[], &out), vec![(j1, JobEventKind::ClaimLapsed, addr(1), None)]);
    // Block 6: claimed again by 2, block 7: its result is paid.
    let again = c.claim(2, &j1, BOND);
    let out = c.block(std::slice::from_ref(&again));
    assert_eq!(events(&c, std::slice::from_ref(&again), &out), vec![(j1, JobEventKind::Claimed, addr(2), Some(again.hash()))]);
    let res = c.result(2, &j1, &root_of(9));
    let out = c.block(std::slice::from_ref(&res));
    assert_eq!(events(&c, std::slice::from_ref(&res), &out), vec![(j1, JobEventKind::Done, addr(2), Some(res.hash()))]);
    // A cancel of a fresh job.
    let p3 = c.post(0, PRICE, 3, 40);
    let j3 = p3.hash();
    c.block(std::slice::from_ref(&p3));
    let cancel = c.cancel(0, &j3);
    let out = c.block(std::slice::from_ref(&cancel));
    assert_eq!(events(&c, std::slice::from_ref(&cancel), &out), vec![(j3, JobEventKind::Cancelled, addr(0), Some(cancel.hash()))]);
    // Without the market, nothing.
    assert!(job_events(c.height, std::slice::from_ref(&cancel), &out.outcomes, &out.rewards.market, false).is_empty());
}
