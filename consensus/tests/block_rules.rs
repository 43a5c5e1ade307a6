//! One test per block rule, in isolation and in context, plus SUBMIT_RESULT rules 4 and 6.
mod common;
use common::{reseal, Chain};
use cpc_consensus::*;
use cpc_primitives::*;

#[test]
fn built_blocks_validate_and_chain() {
    let mut c = Chain::new();
    let b1 = c.advance(&[c.transfer(1, c.addr(2), 5, 0)]);
    assert_eq!(b1.transactions.len(), 1);
    let b2 = c.advance(&[c.transfer(1, c.addr(2), 5, 1), c.transfer(2, c.addr(1), 5, 0)]);
    assert_eq!(b2.header.height, 2);
    assert_eq!(b2.header.gas_used, 42_000);
}

fn built(c: &Chain) -> Block {
    c.build(&[c.transfer(1, c.addr(2), 5, 0), c.transfer(2, c.addr(3), 5, 0)]).block
}

#[test]
fn chain_id_of_header() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.chain_id = "other".into();
    assert!(matches!(c.import(&reseal(b, &c.keys[0])), Err(BlockError::ChainId { .. })));
}

#[test]
fn header_gas_limit_is_the_chains() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.gas_limit = 1;
    assert_eq!(c.import(&reseal(b, &c.keys[0])).unwrap_err(), BlockError::GasLimit { expected: 50_000_000, found: 1 });
}

#[test]
fn too_many_transactions() {
    let mut c = Chain::new();
    let b = built(&c);
    c.params.max_txs_per_block = 1;
    assert_eq!(c.import(&b).unwrap_err(), BlockError::TooManyTxs { max: 1, found: 2 });
}

#[test]
fn proposer_key_must_match_proposer_address() {
    let c = Chain::new();
    let mut b = built(&c);
    b.proposer_pub_key = c.keys[1].public_key();
    let b = reseal(b, &c.keys[1]);
    assert!(matches!(c.import(&b), Err(BlockError::ProposerKey { .. })));
}

#[test]
fn proposer_signature_must_verify() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.timestamp += 1; // not re-signed
    assert_eq!(c.import(&b).unwrap_err(), BlockError::ProposerSignature);
}

#[test]
fn same_transaction_twice_is_refused() {
    let c = Chain::new();
    let mut b = built(&c);
    b.transactions[1] = b.transactions[0].clone();
    let hashes: Vec<H256> = b.transactions.iter().map(|t| t.hash()).collect();
    b.header.tx_root = tx_root(&hashes);
    let b = reseal(b, &c.keys[0]);
    assert_eq!(c.import(&b).unwrap_err(), BlockError::DuplicateTx(hashes[0]));
}

#[test]
fn invalid_transaction_inside_is_refused() {
    let c = Chain::new();
    let mut b = built(&c);
    b.transactions[1].amount += 1; // breaks its signature
    let b = reseal(b, &c.keys[0]);
    assert!(matches!(c.import(&b), Err(BlockError::Tx { index: 1, error: TxCheckError::Signature(_), .. })));
}

#[test]
fn tx_root_must_match() {
    let c = Chain::new();
    let mut b = built(&c);
    b.transactions.swap(0, 1);
    let b = reseal(b, &c.keys[0]);
    assert!(matches!(c.import(&b), Err(BlockError::TxRoot { .. })));
}

#[test]
fn compute_root_must_match() {
    let c = Chain::new();
    let r = c.solve(1, 0, 0);
    let mut b = c.build(&[c.submit(1, &r, 0)]).block;
    assert!(b.header.compute_root.0.is_some());
    b.header.compute_root = ComputeRoot(None);
    let b = reseal(b, &c.keys[0]);
    assert!(matches!(c.import(&b), Err(BlockError::ComputeRoot { .. })));
}

#[test]
fn height_must_follow_parent() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.height = 5;
    assert_eq!(c.import(&reseal(b, &c.keys[0])).unwrap_err(), BlockError::Height { expected: 1, found: 5 });
}

#[test]
fn prev_hash_must_be_parent() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.prev_hash = H256([7; 32]);
    assert!(matches!(c.import(&reseal(b, &c.keys[0])), Err(BlockError::Parent { .. })));
}

#[test]
fn timestamp_must_be_after_parent() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.timestamp = c.head.timestamp;
    assert!(matches!(c.import(&reseal(b, &c.keys[0])), Err(BlockError::TimestampNotAfterParent { .. })));
}

#[test]
fn timestamp_must_not_be_far_in_the_future() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.timestamp = c.head.timestamp + 10_000 + 5_001;
    assert!(matches!(c.import(&reseal(b, &c.keys[0])), Err(BlockError::TimestampInFuture { .. })));
}

#[test]
fn proposer_must_be_scheduled() {
    let mut c = Chain::new();
    c.validators = ValidatorSet::new(vec![c.keys[5].public_key(), c.keys[0].public_key()]);
    // height 1 round 0 belongs to validators[1] = key 0: valid
    let b = built(&c);
    assert!(c.import(&b).is_ok());
    // round 1 belongs to key 5
    let mut b1 = b.clone();
    b1.header.round = 1;
    assert!(matches!(c.import(&reseal(b1, &c.keys[0])), Err(BlockError::WrongProposer { round: 1, .. })));
}

#[test]
fn transactions_must_apply() {
    let c = Chain::new();
    let mut b = built(&c);
    b.transactions[0] = c.transfer(1, c.addr(2), 5, 3); // wrong nonce
    let hashes: Vec<H256> = b.transactions.iter().map(|t| t.hash()).collect();
    b.header.tx_root = tx_root(&hashes);
    let b = reseal(b, &c.keys[0]);
    assert!(matches!(c.import(&b), Err(BlockError::Exec { index: 0, .. })));
}

#[test]
fn gas_used_must_match() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.gas_used += 1;
    assert_eq!(c.import(&reseal(b, &c.keys[0])).unwrap_err(), BlockError::GasUsed { expected: 42_000, found: 42_001 });
}

#[test]
fn state_root_must_match() {
    let c = Chain::new();
    let mut b = built(&c);
    b.header.state_root = H256([1; 32]);
    assert!(matches!(c.import(&reseal(b, &c.keys[0])), Err(BlockError::StateRoot { .. })));
}

#[test]
fn rule_4_duplicate_task_in_block_is_refused() {
    let c = Chain::new();
    let r = ComputeResult {
        task_id: "ext-1".into(),
        worker_address: c.addr(1).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: None,
        signature: None,
    };
    let a = c.submit(1, &r, 0);
    let b = c.submit(1, &r, 1);
    // The builder skips the second; a hand-made block with both is refused.
    let built = c.build(&[a.clone(), b.clone()]);
    assert_eq!(built.block.transactions.len(), 1);
    assert!(matches!(&built.skipped[0].1, Skip::Invalid(m) if m.contains("duplicate task_id")));
    let mut blk = built.block;
    blk.transactions.push(b);
    let hashes: Vec<H256> = blk.transactions.iter().map(|t| t.hash()).collect();
    blk.header.tx_root = tx_root(&hashes);
    assert_eq!(c.import(&reseal(blk, &c.keys[0])).unwrap_err(), BlockError::DuplicateTaskId("ext-1".into()));
}

#[test]
fn rule_4_duplicate_task_already_on_chain_is_refused() {
    let mut c = Chain::new();
    let r = c.solve(1, 0, 0);
    c.advance(&[c.submit(1, &r, 0)]);
    let again = c.submit(1, &r, 1);
    let built = c.build(&[again.clone()]);
    assert!(built.block.transactions.is_empty());
    // forced in:
    let mut blk = built.block;
    blk.transactions.push(again.clone());
    blk.header.tx_root = tx_root(&[again.hash()]);
    blk.header.compute_root = compute_root_of_txs(&blk.transactions).unwrap();
    let e = c.import(&reseal(blk, &c.keys[0])).unwrap_err();
    assert!(matches!(e, BlockError::Exec { error: cpc_state::TxError::TaskOnChain(_), .. }), "{e}");
}

// --- rule 6: synthetic results -------------------------------------------------------------

fn forced_block(c: &Chain, tx: Transaction) -> Block {
    let mut blk = c.build(&[]).block;
    blk.transactions = vec![tx.clone()];
    blk.header.tx_root = tx_root(&[tx.hash()]);
    blk.header.compute_root = compute_root_of_txs(&blk.transactions).unwrap();
    reseal(blk, &c.keys[0])
}

#[test]
fn verified_synthetic_result_is_included_and_paid() {
    let mut c = Chain::new();
    c.advance(&[]);
    let r = c.solve(3, 1, 0);
    let before = c.state.balance(&c.addr(3));
    let b = c.advance(&[c.submit(3, &r, 0)]);
    assert_eq!(b.transactions.len(), 1);
    let share_reward = 3 * UNITS_PER_CPC; // (30 % of the 10 CPC reward) / S, S = 1 in this chain
    assert_eq!(c.state.balance(&c.addr(3)), before - 80_000 * 1000 + share_reward);
}

#[test]
fn external_results_are_included_but_never_paid() {
    let mut c = Chain::new();
    let r = ComputeResult {
        task_id: "550e8400-e29b-41d4-a716-446655440000".into(),
        worker_address: c.addr(3).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: Some(1),
        signature: None,
    };
    let before = c.state.balance(&c.addr(3));
    let b = c.advance(&[c.submit(3, &r, 0)]);
    assert_eq!(b.transactions.len(), 1);
    assert_eq!(c.state.balance(&c.addr(3)), before - 80_000 * 1000);
    assert_eq!(b.header.share_target, ShareTarget::MAX, "no synthetic result: the target would rise, but it is at 2^64 − 1");
    assert_eq!(c.state.supply.burned, 0, "v2 burns nothing");
    assert_eq!(c.state.supply.minted, 7 * UNITS_PER_CPC, "only the proposer's 70 % of R: no share");
}

/// The builder leaves `r` out — as Skip::Invalid when a cheap rule (tip, share) breaks, as
/// Skip::Forged when only the full recomputation fails (`forged`) — and a block forced to hold
/// it is refused with `want`.
fn expect_synthetic_refusal(c: &Chain, r: &ComputeResult, forged: bool, want: impl Fn(&SyntheticError) -> bool) {
    let tx = c.submit(3, r, c.nonce(3));
    let built = c.build(&[tx.clone()]);
    assert!(built.block.transactions.is_empty(), "builder must leave it out");
    match &built.skipped[0].1 {
        Skip::Invalid(_) if !forged => {}
        Skip::Forged { worker, .. } if forged => assert_eq!(*worker, c.addr(3)),
        other => panic!("expected {}, got {other:?}", if forged { "Forged" } else { "Invalid" }),
    }
    match c.import(&forced_block(c, tx)) {
        Err(BlockError::Synthetic { error, .. }) => assert!(want(&error), "{error}"),
        other => panic!("expected a synthetic refusal, got {other:?}"),
    }
}

#[test]
fn rule_6_garbage_result_hash_is_refused() {
    let c = Chain::new();
    let mut r = c.solve(3, 0, 0);
    r.result_hash = "11".repeat(32);
    expect_synthetic_refusal(&c, &r, true, |e| matches!(e, SyntheticError::Poc(cpc_poc::PocError::ResultHashMismatch { .. })));
}

#[test]
fn rule_6_tampered_proof_is_refused() {
    let c = Chain::new();
    let mut r = c.solve(3, 0, 0);
    let mut p = r.proof.clone().unwrap().into_bytes();
    p[10] = if p[10] == b'0' { b'1' } else { b'0' };
    r.proof = Some(String::from_utf8(p).unwrap());
    expect_synthetic_refusal(&c, &r, true, |e| matches!(e, SyntheticError::Poc(cpc_poc::PocError::ProofNotCanonical)));
}

#[test]
fn rule_6_stale_tip_is_refused() {
    let mut c = Chain::new();
    let r = c.solve(3, 0, 0); // tip = genesis
    for _ in 0..c.params.poc.window {
        c.advance(&[]);
    }
    // height W+1 may use tips W+1-16 = 1 ..= W: genesis fell out.
    expect_synthetic_refusal(&c, &r, false, |e| matches!(e, SyntheticError::UnknownTip { lo: 1, .. }));
}

#[test]
fn rule_6_unknown_tip_is_refused() {
    let c = Chain::new();
    let p = cpc_poc::SynthParams { n: 64, k: 8 };
    let r = cpc_poc::solve(&H256([0x42; 32]), &c.addr(3).to_string(), 0, &p);
    expect_synthetic_refusal(&c, &r, false, |e| matches!(e, SyntheticError::UnknownTip { .. }));
}

#[test]
fn rule_6_someone_elses_task_is_refused() {
    let c = Chain::new();
    // Worker 4's correct result, resubmitted by worker 3 under its own address.
    let mut r = c.solve(4, 0, 0);
    r.worker_address = c.addr(3).to_string();
    expect_synthetic_refusal(&c, &r, false, |e| matches!(e, SyntheticError::UnknownTip { .. }));
}

#[test]
fn rule_6_cap_on_synthetic_results_per_block() {
    let mut c = Chain::new();
    c.advance(&[]);
    let txs: Vec<Transaction> = (0..4).map(|n| c.submit(3, &c.solve(3, 1, n), n)).collect();
    let built = c.build(&txs);
    assert_eq!(built.block.transactions.len(), 3, "cap is 3 in this chain");
    assert!(matches!(built.skipped[0].1, Skip::Later(_)));
    let mut blk = built.block;
    blk.transactions = txs;
    let hashes: Vec<H256> = blk.transactions.iter().map(|t| t.hash()).collect();
    blk.header.tx_root = tx_root(&hashes);
    blk.header.compute_root = compute_root_of_txs(&blk.transactions).unwrap();
    assert_eq!(c.import(&reseal(blk, &c.keys[0])).unwrap_err(), BlockError::TooManySynthetic { max: 3, found: 4 });
}

#[test]
fn builder_respects_the_gas_limit() {
    let mut c = Chain::new();
    c.params.block_gas_limit = 50_000;
    let txs: Vec<Transaction> = (0..3).map(|n| c.transfer(1, c.addr(2), 1, n)).collect();
    let built = c.build(&txs);
    assert_eq!(built.block.transactions.len(), 2);
    assert_eq!(built.block.header.gas_used, 42_000);
}

#[test]
fn blocks_above_the_size_limit_are_refused() {
    let mut c = Chain::new();
    c.params.max_txs_per_block = 1_000_000; // let the size rule, not the count rule, decide
    let mut b = built(&c);
    let n = cpc_consensus::block::MAX_BLOCK_BYTES / 400 + 10;
    b.transactions = (0..n as u64).map(|i| c.transfer(1, c.addr(2), 1, i)).collect();
    let found = b.to_json_bytes().len();
    assert!(found > cpc_consensus::block::MAX_BLOCK_BYTES);
    let e = c.import(&reseal(b, &c.keys[0])).unwrap_err();
    assert_eq!(e, BlockError::TooLarge { max: cpc_consensus::block::MAX_BLOCK_BYTES, found });
}
