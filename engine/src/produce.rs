//! Block production: the builder over the pool's best candidates, then one commit.

use crate::Engine;
use anyhow::{bail, Result};
use cpc_consensus::block::MAX_EVIDENCE_PER_BLOCK;
use cpc_consensus::{build_block, check_block_in_isolation, BlockError, BuildContext, Built, Certificate, Skip};
use cpc_primitives::{now_millis, Block, ComputeResult, ConsensusData, SecretKey};
use cpc_state::stake::{StakeKey, StakeRecord};
use cpc_state::{Head, StateView};
use std::collections::HashSet;
use std::time::Instant;

/// Candidates handed to the builder per block beyond what fits: leaves room for the ones it
/// skips (nonce gaps, failed synthetic checks) without scanning the whole pool.
const CANDIDATE_SLACK: usize = 256;

impl Engine {
    /// Builds a block on the head in round `round` with this engine's validator key, without
    /// committing it: the pool's invalid candidates are dropped and forgers punished on the way.
    /// The caller holds the commit lock.
    fn build_on_head(&self, signer: &SecretKey, round: u32) -> Result<Built> {
        self.room_for_a_block()?;
        let parent = self.head();
        let height = parent.height + 1;
        let (window, _, _) = self.window_for(height)?;
        let candidates = self.mempool.lock().best(self.params.max_txs_per_block + CANDIDATE_SLACK);
        let consensus = self.consensus_data_for(&parent)?;
        let ctx = BuildContext {
            params: &self.params,
            parent,
            round,
            timestamp: now_millis(),
            proposer: signer,
            window,
            poc: &self.poc,
            consensus,
        };
        let build_started = Instant::now();
        let built = build_block(&self.store, &ctx, &candidates)?;
        if candidates.iter().any(|c| c.result.is_some()) {
            // Building verifies the candidates' synthetic results (those not verified before).
            self.metrics.observe_verify("block_build", build_started.elapsed().as_secs_f64());
        }
        let mut forgers = Vec::new();
        {
            let mut pool = self.mempool.lock();
            for (h, skip) in &built.skipped {
                match skip {
                    Skip::Invalid(why) => {
                        tracing::debug!(tx = %h, %why, "dropping invalid transaction from the pool");
                        pool.remove(h);
                    }
                    Skip::Forged { worker, why } => {
                        tracing::warn!(tx = %h, %worker, "result failed full recomputation in the builder: {why}");
                        pool.remove(h);
                        forgers.push(*worker);
                    }
                    Skip::Later(_) => {}
                }
            }
        }
        for w in forgers {
            self.punish_forger(&w);
        }
        self.recheck_built(&built)?;
        Ok(built)
    }

    /// The in-isolation checks of a block this node built (release builds too; cheap beside
    /// building: roots, sizes, counts, signatures), before it is proposed or committed: every
    /// peer would refuse a block that fails them. A transaction the failure names leaves the
    /// pool, so that the next build goes without it.
    fn recheck_built(&self, built: &Built) -> Result<()> {
        let b = &built.block;
        let Err(e) = check_block_in_isolation(b, &self.params) else { return Ok(()) };
        let offending = match &e {
            BlockError::Tx { hash, .. } | BlockError::DuplicateTx(hash) => Some(*hash),
            BlockError::DuplicateTaskId(task) => b
                .transactions
                .iter()
                .zip(&built.tx_hashes)
                .filter(|(t, _)| ComputeResult::from_payload(&t.payload).is_ok_and(|r| r.task_id == *task))
                .map(|(_, h)| *h)
                .last(),
            _ => None,
        };
        tracing::error!(
            height = b.header.height,
            txs = b.transactions.len(),
            evicted = ?offending,
            "the block just built fails its in-isolation checks ({e}): neither proposed nor committed"
        );
        if let Some(h) = offending {
            self.mempool.lock().remove(&h);
        }
        bail!("the block built at height {} fails its in-isolation checks: {e}", b.header.height)
    }

    /// Builds a block on the head for consensus to propose in `round`; nothing is committed
    /// (BFT: the block is committed only once decided, by [`Engine::commit_decided`]).
    /// Blocking: call from a blocking thread.
    /// Refuses to build while the datadir's disk is below its floor (logged once per pause),
    /// and says when building resumes.
    fn room_for_a_block(&self) -> Result<(), crate::LowDisk> {
        if let Err(low) = self.disk.check() {
            if self.disk.pause(&low) {
                tracing::error!("{low}");
                self.metrics.production_paused.set(1);
            }
            return Err(low);
        }
        if self.disk.resume() {
            let free = self.disk.free_bytes().map(|b| b >> 20).unwrap_or(0);
            tracing::info!(free_mib = free, "block production resumed: the datadir's disk has room again");
            self.metrics.production_paused.set(0);
        }
        Ok(())
    }

    pub fn build_proposal(&self, round: u32) -> Result<Block> {
        let Some(signer) = &self.signer else { bail!("this node has no validator key") };
        let _guard = self.commit_lock.lock();
        Ok(self.build_on_head(signer, round)?.block)
    }

    /// Builds, commits and announces one block on the head in round `round` with this engine's
    /// validator key, on a chain of one validator: its own precommit is the whole quorum, so the
    /// block is final with the certificate it signs alone. A chain of several validators decides
    /// its blocks by consensus ([`Engine::build_proposal`], [`Engine::commit_decided`]) and is
    /// refused here. Blocking: call from a blocking thread. Returns the new head.
    pub fn produce_block(&self, round: u32) -> Result<Head> {
        let Some(signer) = &self.signer else { bail!("this node has no validator key") };
        let set = self.next_validators();
        if set.len() != 1 {
            bail!(
                "producing alone needs a chain of one validator, found {}: their blocks are decided by BFT consensus",
                set.len()
            );
        }
        let _guard = self.commit_lock.lock();
        let started = Instant::now();
        let built = self.build_on_head(signer, round)?;
        let built_at = started.elapsed();
        let b = &built.block;
        // Again just before the write: the disk may have filled while the block was built.
        self.room_for_a_block()?;
        let certificate = Certificate::sign_alone(signer, b.header.height, round, b.hash()).encode();
        self.commit_and_announce(b, &built.tx_hashes, &built.outcome, &certificate)?;
        self.decided(b, &certificate);
        let head = self.head();
        let n = built.block.transactions.len();
        self.metrics.blocks_produced.inc();
        self.metrics.block_import_seconds.with_label_values(&["own"]).observe(started.elapsed().as_secs_f64());
        tracing::info!(
            height = head.height,
            hash = %head.hash,
            round,
            txs = n,
            gas_used = built.block.header.gas_used,
            build_ms = built_at.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "produced block"
        );
        Ok(head)
    }
}

impl Engine {
    /// What a block on `parent` carries for consensus: the parent's certificate as this node
    /// stored it (liveness), and kept evidence against validators not yet tombstoned, younger
    /// than the max age, one piece per validator, at most [`MAX_EVIDENCE_PER_BLOCK`].
    fn consensus_data_for(&self, parent: &Head) -> Result<ConsensusData> {
        let height = parent.height + 1;
        let mut last_commit = if parent.height >= 1 { self.store.certificate(parent.height)? } else { None };
        // A certificate that would not check (it never should) is left out rather than making
        // every block this node builds invalid: the block then counts nobody's liveness.
        if let Some(bytes) = &last_commit {
            let ok = self.validator_set(parent.height).is_ok_and(|set| {
                cpc_consensus::finality::verify_certificate_bytes(bytes, parent.height, &parent.hash, &set).is_ok()
            });
            if !ok {
                tracing::warn!(height = parent.height, "the stored certificate of the parent does not verify: building without it");
                last_commit = None;
            }
        }
        let from = height.saturating_sub(self.params.staking.evidence_max_age);
        let mut evidence = Vec::new();
        let mut seen = HashSet::new();
        for e in self.evidence(from, 4 * MAX_EVIDENCE_PER_BLOCK)? {
            if evidence.len() >= MAX_EVIDENCE_PER_BLOCK || e.height() >= height || !seen.insert(e.validator()) {
                continue;
            }
            let Some(set) = self.store.active_set_at(e.height())? else { continue };
            let Some(member) = set.by_consensus_address(&e.validator()) else { continue };
            let tombstoned = match self.store.stake_record(&StakeKey::Validator(member.operator))? {
                Some(StakeRecord::Validator(v)) => v.tombstoned,
                _ => true,
            };
            // Kept evidence was verified when kept; checked again so that no stored piece can
            // make this node's blocks invalid.
            let verifies = self.validator_set(e.height()).is_ok_and(|set| e.verify(&set).is_ok());
            if !tombstoned && verifies {
                evidence.push(e.to_json_bytes());
            }
        }
        Ok(ConsensusData { last_commit, evidence })
    }

    /// Measures, on this machine, the worst-case time to check a block: one synthetic result
    /// recomputed (matrices generated and multiplied) times the results a block may carry per
    /// core, plus a full block of transfer signatures per core. The BFT propose timeout must
    /// cover it (docs/CONSENSUS.md, "Timeouts"). Takes about one recomputation.
    pub fn worst_case_validation(&self) -> std::time::Duration {
        let p = &self.params.poc;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let started = Instant::now();
        let seed = cpc_poc::seed(&self.genesis_hash, "cpc-timeout-probe", 0);
        let (a, b) = cpc_poc::generate_matrices(&seed, p.matrix_size);
        std::hint::black_box(cpc_poc::matmul(&a, &b, p.matrix_size));
        let one_result = started.elapsed();
        let key = SecretKey::from_bytes(&[7; 32]);
        let sig = key.sign(b"cpc-timeout-probe");
        const SIGS: u32 = 64;
        let started = Instant::now();
        for _ in 0..SIGS {
            let _ = std::hint::black_box(key.public_key().verify_strict(b"cpc-timeout-probe", &sig));
        }
        let one_sig = started.elapsed() / SIGS;
        one_result * (p.max_synthetic_results_per_block as u32).div_ceil(cores)
            + one_sig * (self.params.max_txs_per_block as u32).div_ceil(cores)
    }
}
