//! Block import: validation, fork choice and reorgs (docs/CONSENSUS.md).

use crate::{CommittedBlock, Engine, EngineEvent};
use cpc_consensus::block::check_proposer_turn;
use cpc_consensus::{check_block_in_context, check_block_in_isolation, compare_chains, BlockError, ChainContext, CheckedBlock};
use cpc_primitives::{now_millis, Address, Block, Header, H256};
use cpc_state::{BlockOutcome, Head, StoreError};
use std::cmp::Ordering;

/// Deepest reorg applied by default; deeper ones are refused and logged (a longer-range fork
/// needs an operator: it means a partition longer than ~a minute at 1 s blocks).
pub const DEFAULT_MAX_REORG_DEPTH: u64 = 64;
/// Invalid block hashes remembered, so a peer re-sending one costs a lookup.
pub const INVALID_CACHE_CAPACITY: usize = 4096;

/// What importing a block did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    /// Already stored.
    Known,
    /// It extended the canonical head.
    Extended(Head),
    /// It made a better branch canonical.
    Reorg { from: Head, to: Head, depth: u64 },
    /// Stored on a branch that is not (yet) better than the canonical chain.
    Side,
    /// Its parent is unknown: fetch it first.
    Orphan { missing: H256 },
}

/// Why a block was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid block: {0}")]
    Invalid(#[from] BlockError),
    #[error("block {0} is known to be invalid")]
    KnownInvalid(H256),
    #[error("reorg of depth {depth} refused (at most {max})")]
    TooDeep { depth: u64, max: u64 },
    #[error("block at height {found} on {parent} is not the next block: expected height {expected} on the head {head}")]
    NotOnHead { expected: u64, head: H256, found: u64, parent: H256 },
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

fn storage(e: StoreError) -> ImportError {
    ImportError::Storage(e)
}

fn missing(what: String) -> ImportError {
    ImportError::Storage(StoreError::Inconsistent(what))
}

impl Engine {
    fn mark_invalid(&self, hash: H256) {
        let mut inv = self.invalid.lock();
        if inv.0.insert(hash) {
            inv.1.push_back(hash);
            if inv.1.len() > INVALID_CACHE_CAPACITY
                && let Some(old) = inv.1.pop_front()
            {
                inv.0.remove(&old);
            }
        }
    }

    /// Remembers a block that failed in context after passing in isolation: its body is then
    /// exactly what its header commits to, so the failure belongs to the header's hash —
    /// except a timestamp ahead of our clock, which time cures.
    pub(crate) fn mark_if_intrinsic(&self, hash: H256, e: &ImportError) {
        if !matches!(e, ImportError::Invalid(BlockError::TimestampInFuture { .. })) {
            self.mark_invalid(hash);
        }
    }

    pub fn is_known_invalid(&self, hash: &H256) -> bool {
        self.invalid.lock().0.contains(hash)
    }

    /// Context checks of `b` on the current head (the caller holds the commit lock).
    pub(crate) fn validate_on_head(&self, b: &Block, checked: &CheckedBlock) -> Result<BlockOutcome, ImportError> {
        let parent = self.head();
        let (window, _, _) = self.window_for(b.header.height).map_err(storage)?;
        let ctx = ChainContext {
            params: &self.params,
            validators: &self.validators,
            parent,
            now_ms: now_millis(),
            window,
            poc: &self.poc,
        };
        let started = std::time::Instant::now();
        let res = check_block_in_context(b, checked, &self.store, &ctx);
        if b.transactions.iter().any(|t| t.tx_type == cpc_primitives::TxType::SubmitResult) {
            // In-context validation fully recomputes the synthetic results not verified before.
            self.metrics.observe_verify("block_import", started.elapsed().as_secs_f64());
        }
        Ok(res?)
    }

    /// Imports a block from a peer (or a sync batch). Blocking: call off the async runtime.
    pub fn import_block(&self, block: Block) -> Result<Imported, ImportError> {
        let started = std::time::Instant::now();
        let res = self.import_block_timed(block);
        self.metrics.record_import(&res, started.elapsed().as_secs_f64());
        res
    }

    fn import_block_timed(&self, block: Block) -> Result<Imported, ImportError> {
        let hash = block.hash();
        if self.is_known_invalid(&hash) {
            return Err(ImportError::KnownInvalid(hash));
        }
        if self.store.has_block(&hash).map_err(storage)? {
            return Ok(Imported::Known);
        }
        // Everything that needs only the block, before taking the lock. A failure here is not
        // remembered: the hash covers only the header, and a peer can pair a valid header with
        // a mangled body (or signature) — remembering would let it poison the real block.
        let checked = check_block_in_isolation(&block, &self.params)
            .and_then(|c| check_proposer_turn(&block, &self.validators).map(|_| c))?;

        let _guard = self.commit_lock.lock();
        if self.store.has_block(&hash).map_err(storage)? {
            return Ok(Imported::Known);
        }
        let Some(parent) = self.store.header(&block.header.prev_hash).map_err(storage)? else {
            return Ok(Imported::Orphan { missing: block.header.prev_hash });
        };
        if block.header.height != parent.height + 1 {
            self.mark_invalid(hash);
            return Err(BlockError::Height { expected: parent.height + 1, found: block.header.height }.into());
        }
        if self.is_known_invalid(&block.header.prev_hash) {
            self.mark_invalid(hash);
            return Err(ImportError::KnownInvalid(block.header.prev_hash));
        }
        let head = self.head();
        if block.header.prev_hash == head.hash {
            let out = self.validate_on_head(&block, &checked).inspect_err(|e| self.mark_if_intrinsic(hash, e))?;
            self.commit_and_announce(&block, &checked.tx_hashes, &out, None).map_err(storage)?;
            return Ok(Imported::Extended(self.head()));
        }
        self.store.put_block_body(&block, &checked.tx_hashes).map_err(storage)?;
        let head_header = self.store.header(&head.hash).map_err(storage)?.ok_or_else(|| missing("head header missing".into()))?;
        let better = compare_chains(&block.header, &head_header, |h| self.store.header(h).ok().flatten());
        if better == Some(Ordering::Greater) {
            self.reorg_to(&block.header)
        } else {
            Ok(Imported::Side)
        }
    }

    /// Makes the stored branch ending at `target` canonical (the caller holds the commit lock).
    fn reorg_to(&self, target: &Header) -> Result<Imported, ImportError> {
        let mut branch = Vec::new();
        let mut h = target.clone();
        while self.store.hash_at(h.height).map_err(storage)? != Some(h.hash()) {
            branch.push(h.hash());
            h = match self.store.header(&h.prev_hash).map_err(storage)? {
                Some(p) => p,
                None => return Ok(Imported::Orphan { missing: h.prev_hash }),
            };
        }
        branch.reverse();
        let ancestor = h;
        let from = self.head();
        let depth = from.height - ancestor.height;
        if depth > self.max_reorg_depth {
            tracing::warn!(depth, max = self.max_reorg_depth, from = %from.hash, to = %target.hash(), "refusing a deep reorg");
            return Err(ImportError::TooDeep { depth, max: self.max_reorg_depth });
        }
        let mut reverted = Vec::new();
        while self.head().height > ancestor.height {
            let b = self.store.block(&self.head().hash).map_err(storage)?.ok_or_else(|| missing("head block missing".into()))?;
            self.store.revert_head().map_err(storage)?;
            reverted.push(b);
        }
        let mut applied = 0usize;
        for hash in &branch {
            let b = self.store.block(hash).map_err(storage)?.ok_or_else(|| missing(format!("branch block {hash} missing")))?;
            let res = check_block_in_isolation(&b, &self.params)
                .map_err(ImportError::from)
                .and_then(|c| self.validate_on_head(&b, &c).map(|o| (c, o)));
            match res {
                Ok((c, out)) => {
                    self.store.commit_block(&b, &c.tx_hashes, &out).map_err(storage)?;
                    self.publish_block_event(&b, &c.tx_hashes, &out);
                    self.metrics.block_transactions.observe(b.transactions.len() as f64);
                    applied += 1;
                }
                Err(e) => {
                    // The branch is bad from here on: roll back to the chain we had.
                    tracing::warn!(block = %hash, "reorg aborted, branch invalid: {e}");
                    for bad in &branch[applied..] {
                        self.mark_invalid(*bad);
                    }
                    for _ in 0..applied {
                        self.store.revert_head().map_err(storage)?;
                    }
                    for b in reverted.iter().rev() {
                        let c = check_block_in_isolation(b, &self.params)?;
                        let out = self.validate_on_head(b, &c)?;
                        self.store.commit_block(b, &c.tx_hashes, &out).map_err(storage)?;
                    }
                    return Err(e);
                }
            }
        }
        let to = self.head();
        tracing::info!(depth, from_height = from.height, from = %from.hash, to_height = to.height, to = %to.hash, "reorg");
        self.recheck_pool_after_reorg(reverted);
        self.announce_head(to);
        Ok(Imported::Reorg { from, to, depth })
    }

    /// After a reorg: transactions of the abandoned blocks that the new chain does not hold
    /// go back to the pool, and every pooled transaction is re-checked against the new state.
    fn recheck_pool_after_reorg(&self, reverted: Vec<Block>) {
        let pooled = self.mempool.lock().take_all();
        let mut readmitted = 0usize;
        for b in reverted.into_iter().rev() {
            for tx in b.transactions {
                let h = tx.hash();
                if self.store.receipt(&h).ok().flatten().is_none() && self.admit_quietly(tx).is_ok() {
                    readmitted += 1;
                }
            }
        }
        let mut dropped = 0usize;
        for v in pooled {
            if self.mempool.lock().admit(v, &self.store).is_err() {
                dropped += 1;
            }
        }
        tracing::info!(readmitted, dropped, "mempool re-checked after reorg");
    }

    /// Commits a validated block on the head (with its commit certificate when consensus
    /// decided it), updates the pool, and announces the new head. The caller holds the commit
    /// lock.
    pub(crate) fn commit_and_announce(
        &self,
        b: &Block,
        tx_hashes: &[H256],
        out: &BlockOutcome,
        certificate: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        match certificate {
            Some(c) => self.store.commit_certified_block(b, tx_hashes, out, c)?,
            None => self.store.commit_block(b, tx_hashes, out)?,
        }
        self.publish_block_event(b, tx_hashes, out);
        self.metrics.block_transactions.observe(b.transactions.len() as f64);
        self.metrics.shares_per_block.observe(out.rewards.shares as f64);
        let included: Vec<(H256, Address)> =
            b.transactions.iter().zip(tx_hashes).map(|(t, h)| (*h, t.from_address)).collect();
        if let Err(e) = self.mempool.lock().on_block(&included, &self.store) {
            tracing::warn!("mempool update after block {}: {e}", b.header.height);
        }
        self.announce_head(self.head());
        Ok(())
    }

    /// Tells subscribers about a block that just became canonical.
    fn publish_block_event(&self, b: &Block, tx_hashes: &[H256], out: &BlockOutcome) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let ev = CommittedBlock {
            block: b.clone(),
            hash: b.hash(),
            tx_hashes: tx_hashes.to_vec(),
            rewards: out.rewards.clone(),
        };
        let _ = self.events.send(EngineEvent::Committed(std::sync::Arc::new(ev)));
    }
}
