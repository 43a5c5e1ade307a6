//! Fairness and convergence of PoC v2 shares, simulated block by block with the real rules:
//! `next_share_target` for the retarget, `check_share_target` on every block's header, and
//! `BlockExecutor::finish` on a `MemState` to pay the shares.
//!
//! Workers are simulated, not run: worker i does `c_i` tasks per block on the parent's target,
//! and the number of shares among T tasks, each a share with probability
//! p = (target + 1) / 2⁶⁴, is sampled exactly through geometric gaps (so the cost is
//! O(shares), not O(tasks)). Found shares wait in a FIFO of (worker, tip height); each block
//! takes up to M of them, oldest first, whose tip lies in its window [h − W, h − 1], and
//! drops older ones. Deterministic: a seeded splitmix64.

use cpc_consensus::{check_share_target, BlockError, CheckedBlock};
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use cpc_state::{BlockExecutor, ChainParams, Head, MemState};
use std::collections::VecDeque;

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for sampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1] (never 0, so its logarithm is finite).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// How many of `tasks` independent tasks are shares, each with probability `p`: the gaps
/// between shares are geometric, `floor(ln U / ln(1 − p))` failures before each success.
fn shares_among(rng: &mut SplitMix64, tasks: u64, p: f64) -> u64 {
    if p >= 1.0 {
        return tasks;
    }
    let ln_q = (-p).ln_1p(); // ln(1 − p) < 0, accurate for small p
    let (mut pos, mut count) = (0u64, 0u64);
    loop {
        let gap = (rng.unit().ln() / ln_q).floor();
        if gap >= (tasks - pos) as f64 {
            return count;
        }
        pos += gap as u64 + 1;
        count += 1;
        if pos >= tasks {
            return count;
        }
    }
}

struct Sim {
    params: ChainParams,
    state: MemState,
    /// The parent of the next block.
    head: Head,
    workers: Vec<Address>,
    proposer: SecretKey,
    fifo: VecDeque<(usize, u64)>,
    rng: SplitMix64,
    /// Shares included, per block (index 0 = block 1).
    included: Vec<u64>,
    /// Shares included per worker.
    shares_of: Vec<u64>,
    genesis_supply: u128,
    /// Minted so far, computed here from the protocol's numbers (not from the executor).
    expected_minted: u128,
    check_supply: bool,
    results_made: u64,
}

impl Sim {
    fn new(t0: ShareTarget, workers: usize, seed: u64) -> Sim {
        let mut g = Genesis::dev();
        g.poc.share_target_start = t0;
        let (block, out) = g.build().unwrap();
        let mut state = MemState::default();
        state.commit(&out.changes);
        let params = g.chain_params();
        assert_eq!(
            (params.poc.shares_per_block, params.poc.share_halflife, params.poc.max_synthetic_results_per_block, params.poc.window),
            (8, 32, 16, 16),
            "the dev chain's S, τ, M, W"
        );
        Sim {
            genesis_supply: state.supply.total,
            state,
            head: Head::of(&block.header, block.hash()),
            workers: (0..workers).map(|i| Address([0x70 + i as u8; 20])).collect(),
            proposer: dev_keys()[0].clone(),
            fifo: VecDeque::new(),
            rng: SplitMix64(seed),
            included: Vec::new(),
            shares_of: vec![0; workers],
            expected_minted: 0,
            check_supply: true,
            results_made: 0,
            params,
        }
    }

    fn s(&self) -> u64 {
        self.params.poc.shares_per_block
    }

    fn tau(&self) -> u64 {
        self.params.poc.share_halflife
    }

    fn m(&self) -> usize {
        self.params.poc.max_synthetic_results_per_block
    }

    /// A synthetic result standing for one share (only its task id's form matters to the
    /// share-target rule, which counts synthetic results).
    fn stand_in(&mut self, worker: usize, tip: u64) -> ComputeResult {
        self.results_made += 1;
        let tip_hash = H256(sha256(&tip.to_le_bytes()).0);
        let w = self.workers[worker].to_string();
        ComputeResult {
            task_id: cpc_poc::task_id(&tip_hash, &w, self.results_made),
            worker_address: w,
            result_hash: "ab".repeat(32),
            proof: None,
            nonce: Some(self.results_made),
            signature: None,
        }
    }

    /// One block: the workers mine on the head (`compute[i]` tasks each), the block takes up
    /// to M shares from the FIFO, retargets, passes `check_share_target`, and pays.
    fn step(&mut self, compute: &[u64]) -> u64 {
        let tip = self.head.height;
        let p = self.head.share_target.share_probability();
        for (i, &tasks) in compute.iter().enumerate() {
            let k = shares_among(&mut self.rng, tasks, p);
            self.fifo.extend(std::iter::repeat_n((i, tip), k as usize));
        }
        let h = tip + 1;
        let lo = h.saturating_sub(self.params.poc.window);
        while self.fifo.front().is_some_and(|&(_, t)| t < lo) {
            self.fifo.pop_front();
        }
        let take = self.fifo.len().min(self.m());
        let chosen: Vec<(usize, u64)> = self.fifo.drain(..take).collect();
        let share_workers: Vec<Address> = chosen.iter().map(|&(w, _)| self.workers[w]).collect();
        let s = chosen.len() as u64;

        // The header, retargeted as the builder does, checked as import does.
        let target = next_share_target(self.head.share_target, s, self.s(), self.tau());
        let mut results: Vec<Option<ComputeResult>> = chosen.iter().map(|&(w, t)| Some(self.stand_in(w, t))).collect();
        results.push(None); // a transfer, say
        let checked = CheckedBlock { tx_hashes: vec![H256::ZERO; results.len()], results };
        let header = Header {
            height: h,
            prev_hash: self.head.hash,
            timestamp: self.head.timestamp + 1000,
            chain_id: self.params.chain_id.clone(),
            proposer_address: ValconsAddress::from_public_key(&self.proposer.public_key()),
            round: 0,
            tx_root: H256::ZERO,
            state_root: H256::ZERO,
            compute_root: ComputeRoot(None),
            gas_used: 0,
            gas_limit: self.params.block_gas_limit,
            share_target: target,
        };
        let mut block =
            Block { header, transactions: vec![], proposer_pub_key: self.proposer.public_key(), signature: Signature([0; 64]), consensus: Default::default() };
        check_share_target(&block, &checked, &self.head, &self.params).expect("the retargeted header passes");
        if h.is_multiple_of(53) {
            // Now and then, a proposer that picks another target is refused.
            for found in [ShareTarget(target.0.wrapping_add(1)), ShareTarget(target.0.wrapping_sub(1))] {
                if found == target || found.0 == 0 {
                    continue;
                }
                block.header.share_target = found;
                let e = check_share_target(&block, &checked, &self.head, &self.params).unwrap_err();
                assert_eq!(e, BlockError::ShareTarget { expected: target, parent: self.head.share_target, synthetic: s, found });
            }
            block.header.share_target = target;
        }

        // Pay, with the real executor.
        let proposer = Address::from_public_key(&self.proposer.public_key());
        let out = BlockExecutor::new(&self.state, &self.params, h).finish(&cpc_state::BlockInputs::plain(proposer), &share_workers).unwrap();
        self.state.commit(&out.changes);
        block.header.state_root = out.state_root;
        self.head = Head::of(&block.header, block.header.hash());
        for &(w, _) in &chosen {
            self.shares_of[w] += 1;
        }
        self.included.push(s);

        if self.check_supply {
            let r = 10 * UNITS_PER_CPC; // R(h) for h ≤ 1 000 000
            self.expected_minted += r * 70 / 100 + s as u128 * ((r * 30 / 100) / self.s() as u128);
            let sup = self.state.supply;
            assert_eq!(sup.minted, self.expected_minted, "block {h}");
            assert_eq!(sup.burned, 0, "block {h}");
            assert_eq!(sup.total, self.genesis_supply + sup.minted - sup.burned, "block {h}");
            // Balances, the genesis self-bond and the validators' undistributed rewards.
            assert_eq!(self.state.sum_of_balances() + sup.bonded + sup.rewards, sup.total, "block {h}");
        }
        s
    }

    fn mean(v: &[u64]) -> f64 {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

/// The target at which `tasks` per block give S shares per block on average.
fn equilibrium(tasks: u64, shares_per_block: u64) -> ShareTarget {
    let p = shares_per_block as f64 / tasks as f64;
    ShareTarget((p * 18_446_744_073_709_551_616.0) as u64 - 1)
}

#[test]
fn sampler_matches_the_binomial_mean() {
    let mut rng = SplitMix64(7);
    let (tasks, p) = (1_000_000_000u64, 2e-8); // mean 20
    let n = 4000;
    let total: u64 = (0..n).map(|_| shares_among(&mut rng, tasks, p)).sum();
    let mean = total as f64 / n as f64;
    assert!((mean - 20.0).abs() < 0.5, "{mean}"); // σ of the mean ≈ 0.07
    assert_eq!(shares_among(&mut rng, 12, 1.0), 12);
    assert_eq!(shares_among(&mut rng, 0, 0.5), 0);
}

#[test]
fn rewards_follow_compute_and_blocks_hold_s_shares_on_average() {
    let compute = [8_000_000u64, 32_000_000]; // 1 : 4
    let mut sim = Sim::new(equilibrium(compute.iter().sum(), 8), 2, 0x5eed_0001);
    let blocks = 2400;
    for _ in 0..blocks {
        sim.step(&compute);
    }
    let per_share = (10 * UNITS_PER_CPC * 30 / 100) / 8;
    let paid: Vec<u128> = sim.workers.iter().map(|w| sim.state.balance(w)).collect();
    for (i, &b) in paid.iter().enumerate() {
        assert_eq!(b, sim.shares_of[i] as u128 * per_share, "worker {i} is paid per share");
    }
    let ratio = paid[1] as f64 / paid[0] as f64;
    eprintln!("fairness: shares {:?}, reward ratio {ratio:.3}, mean shares/block {:.3}", sim.shares_of, Sim::mean(&sim.included));
    assert!((ratio - 4.0).abs() <= 1.0, "reward ratio {ratio:.3} (shares {:?}), expected 4 ± 25 %", sim.shares_of);
    let mean = Sim::mean(&sim.included);
    assert!((mean - 8.0).abs() <= 1.0, "mean shares per block {mean:.3}, expected S = 8 ± 1");
    assert!(sim.shares_of[0] > 1000, "enough shares to mean something: {:?}", sim.shares_of);
}

#[test]
fn the_target_recovers_after_a_1000x_compute_jump() {
    let compute = [8_000_000u64, 32_000_000];
    let mut sim = Sim::new(equilibrium(compute.iter().sum(), 8), 2, 0x5eed_0002);
    for _ in 0..200 {
        sim.step(&compute);
    }
    let before = sim.head.share_target;
    let jumped: Vec<u64> = compute.iter().map(|c| c * 1000).collect();
    let tau = sim.tau() as usize;
    let start = sim.included.len();
    for _ in 0..40 * tau {
        sim.step(&jumped);
    }
    let after = &sim.included[start..];
    let m = sim.m() as u64;
    assert!(after[..tau].iter().all(|&s| s == m), "right after the jump blocks are full: {:?}", &after[..tau]);
    // The first block whose trailing 2τ blocks (all after the jump) average S ± 1.
    let window = 2 * tau;
    let settled = (window..=after.len())
        .find(|&j| (Sim::mean(&after[j - window..j]) - 8.0).abs() <= 1.0)
        .expect("shares per block settle");
    eprintln!(
        "jump: settled {settled} blocks after (≤ {}), last 10τ mean {:.3}, target drop 2^{:.2}",
        20 * tau,
        Sim::mean(&after[after.len() - 10 * tau..]),
        (before.0 as f64 / sim.head.share_target.0 as f64).log2()
    );
    assert!(settled <= 20 * tau, "settled {settled} blocks after the jump, expected ≤ 20·τ = {}", 20 * tau);
    // And it stays there.
    let tail = &after[after.len() - 10 * tau..];
    assert!((Sim::mean(tail) - 8.0).abs() <= 1.0, "last 10τ blocks: {}", Sim::mean(tail));
    // The target followed the compute: about 1000× (≈ 2^10) harder.
    let drop = (before.0 as f64 / sim.head.share_target.0 as f64).log2();
    assert!((drop - 1000f64.log2()).abs() < 1.0, "log2 of the target's drop: {drop:.2}");
}

#[test]
fn an_empty_network_doubles_the_target_every_halflife_up_to_the_maximum() {
    let t0 = 1u64 << 20;
    let mut sim = Sim::new(ShareTarget(t0), 0, 0x5eed_0003);
    let tau = sim.tau();
    let mut j = 0i32;
    let (mut prev, mut last) = (t0, t0);
    let mut reached = None;
    for h in 1..=70 * tau {
        assert_eq!(sim.step(&[]), 0);
        let t = sim.head.share_target.0;
        assert!(t > last || t == u64::MAX, "block {h}: rises without shares until the maximum");
        last = t;
        if t == u64::MAX {
            reached.get_or_insert(h);
        } else if h.is_multiple_of(tau) {
            j += 1;
            let ratio = t as f64 / prev as f64;
            assert!((ratio / 2.0 - 1.0).abs() <= 0.005, "step {j}: ×{ratio:.5} in τ blocks, expected ×2 ± 0.5 %");
            let expected = 2f64.powi(j) * t0 as f64;
            let off = t as f64 / expected;
            assert!(
                off <= 1.005f64.powi(j) && off >= 0.995f64.powi(j),
                "step {j}: {t} vs 2^{j}·t0 = {expected:.0} (×{off:.5}): more than 0.5 % per step"
            );
            prev = t;
        }
    }
    let reached = reached.expect("the target reaches 2^64 − 1");
    eprintln!("empty network: {j} doublings checked, 2^64 − 1 reached at block {reached} (44τ = {})", 44 * tau);
    assert!(j >= 40, "{j} doublings observed before the maximum");
    // 2^20 → 2^64 is 44 doublings: reached within 44τ blocks (give or take one τ).
    assert!(reached <= 45 * tau && reached >= 43 * tau, "reached at {reached}");
    assert_eq!(sim.head.share_target, ShareTarget::MAX, "and it stays there");
}
