//! PoC v2 block rules: the header's share_target, the share rule for synthetic results, the
//! builder's retarget and its synthetic slots (forged results, unpayable senders), and the
//! supply with per-share rewards.
mod common;
use common::{reseal, Chain};
use cpc_consensus::*;
use cpc_primitives::*;

/// `parent · 2^((S − s)/(S·τ))` in floating point: what the integer retarget approximates
/// (PROTOCOL.md, Shares), computed without the code under test.
fn approx_retarget(parent: u64, s: u64, shares_per_block: u64, halflife: u64) -> f64 {
    parent as f64 * 2f64.powf((shares_per_block as f64 - s as f64) / (shares_per_block * halflife) as f64)
}

/// Synthetic results in a block, counted from its transactions' task ids.
fn synthetic_in(b: &Block) -> u64 {
    b.transactions
        .iter()
        .filter(|t| t.tx_type == TxType::SubmitResult)
        .filter(|t| cpc_poc::is_synthetic_task_id(&ComputeResult::from_payload(&t.payload).unwrap().task_id))
        .count() as u64
}

/// The first honest result of worker `i` for the tip at `height` from nonce `from` on that is
/// a share under that tip's target (checked with the share value directly).
fn solve_share(c: &Chain, i: usize, height: u64, from: u64) -> ComputeResult {
    (from..from + 10_000).map(|n| c.solve(i, height, n)).find(|r| c.is_share(r, height)).expect("a share within 10 000 tries")
}

/// A block built on `c`'s head, then given `txs` instead of its own: roots and the share
/// target follow the new transactions (state root and gas do not), so the rules before
/// execution see a consistent block.
fn forced_block(c: &Chain, txs: Vec<Transaction>) -> Block {
    let mut blk = c.build(&[]).block;
    blk.header.tx_root = tx_root(&txs.iter().map(|t| t.hash()).collect::<Vec<_>>());
    blk.header.compute_root = compute_root_of_txs(&txs).unwrap();
    blk.transactions = txs;
    let s = synthetic_in(&blk);
    let p = &c.params.poc;
    blk.header.share_target = next_share_target(c.head.share_target, s, p.shares_per_block, p.share_halflife);
    reseal(blk, &c.keys[0])
}

// --- the header's share_target ---------------------------------------------------------------

#[test]
fn share_target_must_be_the_parents_retargeted() {
    let mut c = Chain::with(|g| g.poc.share_target_start = ShareTarget(1 << 62));
    let (s_per, tau) = (c.params.poc.shares_per_block, c.params.poc.share_halflife);
    let parent = c.head.share_target;

    // An empty block: the target rises by 2^(1/τ).
    let b = c.build(&[]).block;
    let expected = next_share_target(parent, 0, s_per, tau);
    assert_eq!(b.header.share_target, expected);
    let want = approx_retarget(parent.0, 0, s_per, tau);
    assert!((expected.0 as f64 / want - 1.0).abs() < 1e-4, "{expected} vs {want}");
    assert!(expected > parent);
    for found in [parent, ShareTarget(expected.0 + 1), ShareTarget(expected.0 - 1), ShareTarget::MAX] {
        let mut bad = b.clone();
        bad.header.share_target = found;
        assert_eq!(
            c.import(&reseal(bad, &c.keys[0])).unwrap_err(),
            BlockError::ShareTarget { expected, parent, synthetic: 0, found }
        );
    }
    let out = c.import(&b).unwrap();
    c.commit(&b, &out);

    // A block of M shares lowers it; a proposer that claims it held none (to keep the next
    // tip easy) is refused.
    let parent = c.head.share_target;
    let m = c.params.poc.max_synthetic_results_per_block as u64;
    let txs: Vec<Transaction> =
        (0..m as usize).map(|i| c.submit(3 + i, &solve_share(&c, 3 + i, 1, 0), 0)).collect();
    let b = c.build(&txs).block;
    assert_eq!(synthetic_in(&b), m);
    let expected = next_share_target(parent, m, s_per, tau);
    assert_eq!(b.header.share_target, expected);
    assert!(expected < parent);
    assert!((expected.0 as f64 / approx_retarget(parent.0, m, s_per, tau) - 1.0).abs() < 1e-4);
    let mut bad = b.clone();
    bad.header.share_target = next_share_target(parent, 0, s_per, tau);
    assert_eq!(
        c.import(&reseal(bad.clone(), &c.keys[0])).unwrap_err(),
        BlockError::ShareTarget { expected, parent, synthetic: m, found: bad.header.share_target }
    );
    assert!(c.import(&b).is_ok());
}

#[test]
fn builder_retargets_for_the_synthetic_results_it_included() {
    // t0 = 2^64 − 1: every honest result is a share at first; blocks of 0 … M results.
    let mut c = Chain::new();
    let (s_per, tau) = (c.params.poc.shares_per_block, c.params.poc.share_halflife);
    let external = ComputeResult {
        task_id: "external-task-1".into(),
        worker_address: c.addr(2).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: None,
        signature: None,
    };
    let mut seen_below_max = false;
    for (round, count) in [3usize, 3, 2, 1, 0, 3, 0].into_iter().enumerate() {
        let h = c.head.height;
        let mut txs: Vec<Transaction> =
            (0..count).map(|i| c.submit(3 + i, &solve_share(&c, 3 + i, h, 0), c.nonce(3 + i))).collect();
        if round == 2 {
            // An external result and a result for an unknown tip: neither counts.
            txs.push(c.submit(2, &external, c.nonce(2)));
            let p = c.synth();
            let stray = cpc_poc::solve(&H256([0x42; 32]), &c.addr(8).to_string(), 0, &p);
            txs.push(c.submit(8, &stray, c.nonce(8)));
        }
        let parent = c.head.share_target;
        let b = c.advance(&txs);
        let s = synthetic_in(&b);
        assert_eq!(s, count as u64, "round {round}: every offered share is in");
        assert_eq!(b.header.share_target, next_share_target(parent, s, s_per, tau), "round {round}");
        if parent < ShareTarget::MAX {
            seen_below_max = true;
            let want = approx_retarget(parent.0, s, s_per, tau).min(u64::MAX as f64);
            assert!((b.header.share_target.0 as f64 / want - 1.0).abs() < 1e-4, "round {round}");
        }
    }
    assert!(seen_below_max, "the target moved off 2^64 − 1, so the ratios were checked");
}

// --- the share rule ----------------------------------------------------------------------------

#[test]
fn rule_6_a_result_that_is_not_a_share_is_refused() {
    // t0 = 1: an honest result is a share with probability 2^-63.
    let c = Chain::with(|g| g.poc.share_target_start = ShareTarget(1));
    assert_eq!(c.head.share_target, ShareTarget(1));
    let r = c.solve(3, 0, 0);
    let value = cpc_poc::result_share_value(&r, &c.hashes[0]).unwrap();
    assert!(value > 1, "not a share");
    assert!(!c.is_share(&r, 0));
    assert!(cpc_poc::verify_full(&r, &c.hashes[0], &c.synth()).is_ok(), "honest work, just not a share");

    // Admission refuses it before the proof check.
    let window = c.window(1);
    let e = c.poc.check_cheap(&r, &window, 0, 0).unwrap_err();
    assert_eq!(e, SyntheticError::NotAShare { task_id: r.task_id.clone(), value: format!("{value:016x}"), target: ShareTarget(1) });
    // The builder leaves it out as invalid (no recomputation spent, not forged).
    let tx = c.submit(3, &r, 0);
    let built = c.build(std::slice::from_ref(&tx));
    assert!(built.block.transactions.is_empty());
    assert_eq!(built.skipped.len(), 1);
    assert!(matches!(&built.skipped[0].1, Skip::Invalid(m) if m.contains("not a share")), "{:?}", built.skipped);
    // A block holding it is refused with the share error.
    match c.import(&forced_block(&c, vec![tx])) {
        Err(BlockError::Synthetic { index: 0, error, .. }) => assert!(matches!(error, SyntheticError::NotAShare { .. }), "{error}"),
        other => panic!("expected NotAShare, got {other:?}"),
    }
}

#[test]
fn rule_6_the_share_rule_uses_the_tips_target() {
    // S = 1, τ = 32: every empty block raises the target by 2^(1/32).
    let mut c = Chain::with(|g| g.poc.share_target_start = ShareTarget(1 << 62));
    for _ in 0..12 {
        c.advance(&[]);
    }
    let (t0, t_head) = (c.targets[0], c.head.share_target);
    assert!(t_head.0 as f64 > t0.0 as f64 * 1.25);
    // A result for tip 0 whose value is above tip 0's target but within the head's: no share.
    let r = (0..10_000u64)
        .map(|n| c.solve(3, 0, n))
        .find(|r| {
            let v = cpc_poc::result_share_value(r, &c.hashes[0]).unwrap();
            v > t0.0 && v <= t_head.0
        })
        .expect("a value between the two targets");
    let tx = c.submit(3, &r, 0);
    let built = c.build(std::slice::from_ref(&tx));
    assert!(built.block.transactions.is_empty());
    assert!(matches!(&built.skipped[0].1, Skip::Invalid(m) if m.contains("not a share")));
    match c.import(&forced_block(&c, vec![tx])) {
        Err(BlockError::Synthetic { error: SyntheticError::NotAShare { target, .. }, .. }) => assert_eq!(target, t0),
        other => panic!("expected NotAShare against tip 0's target, got {other:?}"),
    }
    // A share of the head's tip is fine.
    let h = c.head.height;
    let ok = solve_share(&c, 4, h, 0);
    let b = c.advance(&[c.submit(4, &ok, 0)]);
    assert_eq!(synthetic_in(&b), 1);
}

// --- forged results ----------------------------------------------------------------------------

/// A forged result of worker `i` for the tip at `height`: the honest product with one entry
/// changed in a row that the NEW root does not challenge, so the k-row proof check passes
/// while full recomputation fails.
fn forge(c: &Chain, i: usize, height: u64, nonce: u64) -> ComputeResult {
    let p = c.synth();
    let n = p.n;
    let tip = c.hashes[height as usize];
    let worker = c.addr(i).to_string();
    let (a, b) = cpc_poc::generate_matrices(&cpc_poc::seed(&tip, &worker, nonce), n);
    let honest = cpc_poc::matmul(&a, &b, n);
    assert_eq!(cpc_poc::result_from_product(&tip, &worker, nonce, &honest, &p), c.solve(i, height, nonce));
    for attempt in 0..10 * n {
        let (row, col) = ((attempt * 7 + nonce as usize) % n, attempt / n);
        let mut forged = honest.clone();
        forged[row * n + col] = forged[row * n + col].wrapping_add(1 + attempt as i32);
        let root = cpc_poc::RowTree::from_product(&forged, n).root();
        if !cpc_poc::challenged_rows(&root, n, p.k).contains(&row) {
            let r = cpc_poc::result_from_product(&tip, &worker, nonce, &forged, &p);
            assert_eq!(r.result_hash, root.to_hex());
            return r;
        }
    }
    unreachable!("some altered row escapes the k challenges");
}

#[test]
fn a_forged_result_passes_the_proof_check_but_not_recomputation() {
    let c = Chain::new();
    let p = c.synth();
    for nonce in 0..4 {
        let r = forge(&c, 1, 0, nonce);
        assert_ne!(r, c.solve(1, 0, nonce));
        assert_eq!(cpc_poc::check_proof(&r, &c.hashes[0], &p), Ok(()), "k rows and their paths are honest");
        assert!(
            matches!(cpc_poc::verify_full(&r, &c.hashes[0], &p), Err(cpc_poc::PocError::ResultHashMismatch { .. })),
            "the full product gives another root"
        );
        // So it gets through admission (tip, share, proof) …
        assert!(c.poc.check_cheap(&r, &c.window(1), 0, 0).is_ok());
        // … and only recomputation stops it.
        assert!(c.poc.verify_full(&r, &c.hashes[0]).is_err());
    }
}

fn candidates(txs: &[Transaction]) -> Vec<Candidate> {
    Chain::candidates(txs)
}

#[test]
fn forged_results_ahead_do_not_keep_an_honest_share_out() {
    let mut c = Chain::new();
    let (fa, fb, honest) = (1usize, 2usize, 3usize);
    // Ten forged results from two senders at 5× the gas price, in the pool's order (price,
    // then per-sender nonce), ahead of one honest result.
    let mut txs = Vec::new();
    for n in 0..5u64 {
        txs.push(c.submit_at(fa, &forge(&c, fa, 0, n), n, 5000));
        txs.push(c.submit_at(fb, &forge(&c, fb, 0, n), n, 5000));
    }
    let forged: Vec<H256> = txs.iter().map(|t| t.hash()).collect();
    let good = c.submit(honest, &c.solve(honest, 0, 0), 0);
    txs.push(good.clone());
    let built = c.build_from(&candidates(&txs));

    assert_eq!(built.block.transactions, vec![good.clone()], "the honest share takes a slot, nothing forged does");
    assert_eq!(synthetic_in(&built.block), 1);
    let skipped: std::collections::HashMap<H256, Skip> = built.skipped.iter().cloned().collect();
    assert_eq!(skipped.len(), forged.len(), "every forged result is left out");
    // The first of each sender fails recomputation; the sender's others are not recomputed.
    for (j, h) in forged.iter().enumerate() {
        let sender = if j % 2 == 0 { c.addr(fa) } else { c.addr(fb) };
        match &skipped[h] {
            Skip::Forged { worker, why } if j < 2 => {
                assert_eq!(*worker, sender);
                assert!(why.contains("result_hash"), "{why}");
            }
            Skip::Later(why) if j >= 2 => assert!(why.contains("failed recomputation"), "{why}"),
            other => panic!("forged #{j}: {other:?}"),
        }
    }
    let forgeries = built.skipped.iter().filter(|(_, s)| matches!(s, Skip::Forged { .. })).count();
    assert_eq!(forgeries, 2, "one failed recomputation per sender");

    // The block is valid, and the honest worker is paid.
    let before = c.state.balance(&c.addr(honest));
    let out = c.import(&built.block).unwrap();
    assert_eq!(out.rewards.worker_payments.len(), 1);
    c.commit(&built.block, &out);
    let share_reward = c.params.economics.share_reward(1, c.params.poc.shares_per_block);
    assert_eq!(c.state.balance(&c.addr(honest)), before - 80_000 * 1000 + share_reward);
}

#[test]
fn forged_results_do_not_crowd_out_a_full_block_of_shares() {
    let c = Chain::new();
    let m = c.params.poc.max_synthetic_results_per_block;
    let mut txs = Vec::new();
    for n in 0..4u64 {
        txs.push(c.submit_at(1, &forge(&c, 1, 0, n), n, 9000));
    }
    let honest: Vec<Transaction> = (0..m + 1).map(|i| c.submit(3 + i, &c.solve(3 + i, 0, 0), 0)).collect();
    txs.extend(honest.iter().cloned());
    let built = c.build_from(&candidates(&txs));
    assert_eq!(built.block.transactions, honest[..m].to_vec(), "the first M honest shares fill the slots");
    assert!(built.skipped.iter().any(|(h, s)| *h == honest[m].hash() && matches!(s, Skip::Later(why) if why.contains("cap"))));
    assert!(c.import(&built.block).is_ok());
}

#[test]
fn failed_recomputations_per_build_are_bounded() {
    // MAX + 1 forgers, one forged result each, ahead of one honest result.
    let extra: Vec<SecretKey> =
        (0..MAX_FAILED_VERIFICATIONS_PER_BUILD + 1).map(|i| SecretKey::from_bytes(&sha256(format!("forger-{i}").as_bytes()).0)).collect();
    let funded = extra.clone();
    let mut c = Chain::with(move |g| {
        for k in &funded {
            g.accounts.push(cpc_genesis::GenesisAccount { address: Address::from_public_key(&k.public_key()), balance: UNITS_PER_CPC });
        }
    });
    let first = c.keys.len();
    c.keys.extend(extra);
    let mut txs: Vec<Transaction> =
        (first..c.keys.len()).map(|i| c.submit_at(i, &forge(&c, i, 0, 0), 0, 5000)).collect();
    let good = c.submit(3, &c.solve(3, 0, 0), 0);
    txs.push(good.clone());
    let built = c.build_from(&candidates(&txs));
    let forgeries = built.skipped.iter().filter(|(_, s)| matches!(s, Skip::Forged { .. })).count();
    assert_eq!(forgeries, MAX_FAILED_VERIFICATIONS_PER_BUILD, "recomputation stops at the budget");
    let budget = |h: &H256| built.skipped.iter().any(|(x, s)| x == h && matches!(s, Skip::Later(why) if why.contains("budget")));
    assert!(budget(&txs[MAX_FAILED_VERIFICATIONS_PER_BUILD].hash()), "the last forger is not recomputed");
    assert!(budget(&good.hash()), "nor anything after it in this build");
    assert!(built.block.transactions.is_empty());
    // The pool drops what was forged; the next build includes the honest share.
    let rest: Vec<Transaction> = txs[MAX_FAILED_VERIFICATIONS_PER_BUILD..].to_vec();
    let built = c.build_from(&candidates(&rest));
    assert!(built.block.transactions.contains(&good));
}

#[test]
fn an_unpayable_result_does_not_take_a_slot_from_a_payable_one() {
    let c = Chain::new();
    let m = c.params.poc.max_synthetic_results_per_block;
    assert_eq!(m, 3, "the test chain's M");
    // Sender 1 spends all but 1 000 units in a transfer first, so its result, next in the
    // block, cannot pay its 80 000 × 1 000 fee.
    let balance = c.state.balance(&c.addr(1));
    let spend = c.transfer_at(1, c.addr(9), balance - 21_000 * 5000 - 1000, 0, 5000);
    let broke = c.submit_at(1, &c.solve(1, 0, 1), 1, 5000);
    let payable: Vec<Transaction> = (0..m).map(|i| c.submit(3 + i, &c.solve(3 + i, 0, 0), 0)).collect();
    let mut txs = vec![spend.clone(), broke.clone()];
    txs.extend(payable.iter().cloned());
    let built = c.build_from(&candidates(&txs));
    let mut want = vec![spend];
    want.extend(payable);
    assert_eq!(built.block.transactions, want, "M payable shares after the transfer");
    assert_eq!(synthetic_in(&built.block), m as u64);
    let why = built.skipped.iter().find(|(h, _)| *h == broke.hash()).map(|(_, s)| s.clone());
    assert!(matches!(&why, Some(Skip::Later(w)) if w.contains("insufficient balance")), "{why:?}");
    let out = c.import(&built.block).unwrap();
    assert_eq!(out.rewards.shares, m as u64);
}

// --- supply ---------------------------------------------------------------------------------------

#[test]
fn supply_invariant_over_blocks_with_shares() {
    // S = 7 (so a share's reward has dust: 3 CPC / 7 is not whole), M = 14.
    let genesis = |g: &mut cpc_genesis::Genesis| {
        g.poc.shares_per_block = 7;
        g.poc.max_synthetic_results_per_block = 14;
    };
    let mut c = Chain::with(genesis);
    let mut peer = Chain::with(genesis); // imports every block with its own cold verifier
    let genesis_supply = c.state.supply.total;
    let bonded = c.state.supply.bonded;
    assert_eq!(c.state.sum_of_balances() + bonded, genesis_supply, "balances plus the genesis self-bond");
    let r = 10 * UNITS_PER_CPC;
    let per_share = (r * 30 / 100) / 7;
    let mut expected_minted = 0u128;
    let mut nonces = vec![0u64; c.keys.len()];
    for (round, count) in [0usize, 14, 7, 3, 14, 1, 0, 9].into_iter().enumerate() {
        let h = c.head.height;
        let mut txs = Vec::new();
        for j in 0..count {
            let w = 1 + j % 9; // nine workers, some with two results
            let r = solve_share(&c, w, h, 1000 * round as u64 + j as u64 * 50);
            txs.push(c.submit(w, &r, nonces[w]));
            nonces[w] += 1;
        }
        txs.push(c.transfer(0, c.addr(9), 12345, nonces[0]));
        nonces[0] += 1;
        let b = c.advance(&txs);
        assert_eq!(synthetic_in(&b), count as u64, "round {round}");
        let out = peer.import(&b).expect("a peer accepts the block");
        peer.commit(&b, &out);
        assert_eq!(peer.state.supply, c.state.supply);

        expected_minted += r * 70 / 100 + count as u128 * per_share;
        let s = c.state.supply;
        assert_eq!(s.minted, expected_minted, "round {round}: 70 % of R plus one share reward per share");
        assert_eq!(s.burned, 0, "round {round}");
        assert_eq!(s.genesis, genesis_supply);
        assert_eq!(s.total, genesis_supply + s.minted - s.burned, "round {round}");
        // Every coin is somewhere: balances, the untouched self-bond, and the validators'
        // undistributed rewards (the 70 % and the fees' 90 %, not yet withdrawn).
        assert_eq!(c.state.sum_of_balances() + bonded + s.rewards, s.total, "round {round}");
        assert_eq!(peer.state.sum_of_balances() + bonded + s.rewards, s.total, "round {round}");
    }
}
