//! Block import by commit certificate (docs/CONSENSUS.md, "Following the chain"): a block
//! from a peer is committed only with a certificate of more than ⅔ of the validators, checked
//! first and cheaply; then its proposer signature and body; only then the expensive checks in
//! context (PoC recomputation, execution). Committed blocks are final: there is no fork
//! choice and nothing is ever reverted.

use crate::{CommittedBlock, Engine, EngineEvent};
use cpc_consensus::block::check_proposer_turn;
use cpc_consensus::finality::verify_certificate_bytes;
use cpc_consensus::{check_block_in_context, check_block_in_isolation, BlockError, CertificateError, ChainContext, CheckedBlock};
use cpc_primitives::{now_millis, Address, Block, H256};
use cpc_state::{BlockOutcome, Head, StoreError};

/// Invalid block hashes remembered, so a peer re-sending one costs a lookup.
pub const INVALID_CACHE_CAPACITY: usize = 4096;

/// What importing a certified block did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    /// Already committed.
    Known,
    /// It extended the head.
    Extended(Head),
    /// Its certificate verified but it is beyond the next height: the blocks from
    /// `head + 1` are needed first.
    Ahead { next: u64 },
}

/// Why a block was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid block: {0}")]
    Invalid(#[from] BlockError),
    #[error("block {0} is known to be invalid")]
    KnownInvalid(H256),
    #[error("{0}")]
    Certificate(#[from] CertificateError),
    #[error("block at height {found} on {parent} is not the next block: expected height {expected} on the head {head}")]
    NotOnHead { expected: u64, head: H256, found: u64, parent: H256 },
    /// A verifying certificate for another block at a committed height: more than ⅓ of the
    /// validators signed two blocks. Never imported (finality is not undone), logged loudly.
    #[error("a certified block {theirs} at height {height} conflicts with the committed block {ours}: more than 1/3 of the validators equivocated")]
    Conflict { height: u64, ours: H256, theirs: H256 },
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
        let validators = self.validator_set(b.header.height)?;
        let ctx = ChainContext {
            params: &self.params,
            validators: &validators,
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

    /// Imports a block with its commit certificate from a peer (or a sync batch). Blocking:
    /// call off the async runtime.
    pub fn import_block(&self, block: Block, certificate: &[u8]) -> Result<Imported, ImportError> {
        let started = std::time::Instant::now();
        let res = self.import_block_timed(block, certificate);
        self.metrics.record_import(&res, started.elapsed().as_secs_f64());
        res
    }

    fn import_block_timed(&self, block: Block, certificate: &[u8]) -> Result<Imported, ImportError> {
        let hash = block.hash();
        let height = block.header.height;
        if self.is_known_invalid(&hash) {
            return Err(ImportError::KnownInvalid(hash));
        }
        if height == 0 {
            return Err(BlockError::Height { expected: self.head().height + 1, found: 0 }.into());
        }
        // A block beyond the next one waits: the set that certified it may not be known yet.
        let next = self.head().height + 1;
        if height > next {
            return Ok(Imported::Ahead { next });
        }
        // First and cheap: more than ⅔ of the validators' power precommitted this hash at
        // this height. A failure is not remembered: a peer can pair a real block with a bad
        // certificate, and remembering would let it poison the block.
        let validators = self.validator_set(height)?;
        verify_certificate_bytes(certificate, height, &hash, &validators)?;
        if let Some(done) = self.place_on_head(&block, hash)? {
            return Ok(done);
        }
        // The proposer's signature and the body against the header, before anything costly.
        let checked = check_block_in_isolation(&block, &self.params)
            .and_then(|c| check_proposer_turn(&block, &validators).map(|_| c))?;
        let _guard = self.commit_lock.lock();
        // Again under the lock: another import may have moved the head meanwhile.
        if let Some(done) = self.place_on_head(&block, hash)? {
            return Ok(done);
        }
        let out = self.validate_on_head(&block, &checked).inspect_err(|e| self.mark_if_intrinsic(hash, e))?;
        self.commit_and_announce(&block, &checked.tx_hashes, &out, certificate).map_err(storage)?;
        Ok(Imported::Extended(self.head()))
    }

    /// Where a certified block stands against the head: `None` when it is the next block on
    /// it (to be checked and committed); otherwise already committed, ahead of the head, or a
    /// conflict with a committed block (at its height, or as the parent it names).
    fn place_on_head(&self, block: &Block, hash: H256) -> Result<Option<Imported>, ImportError> {
        let height = block.header.height;
        let head = self.head();
        if height <= head.height {
            let ours = self.store.hash_at(height).map_err(storage)?.ok_or_else(|| missing(format!("canonical block {height} missing")))?;
            if ours == hash {
                return Ok(Some(Imported::Known));
            }
            tracing::error!(height, %ours, theirs = %hash, "certified conflicting block: more than 1/3 of the validators equivocated");
            return Err(ImportError::Conflict { height, ours, theirs: hash });
        }
        if height > head.height + 1 {
            return Ok(Some(Imported::Ahead { next: head.height + 1 }));
        }
        if block.header.prev_hash != head.hash {
            tracing::error!(height, parent = %block.header.prev_hash, head = %head.hash, "certified block on another parent: more than 1/3 of the validators equivocated");
            return Err(ImportError::Conflict { height: head.height, ours: head.hash, theirs: block.header.prev_hash });
        }
        Ok(None)
    }

    /// Commits a validated block on the head with its commit certificate (one synced write),
    /// updates the pool, and announces the new head. The caller holds the commit lock.
    pub(crate) fn commit_and_announce(
        &self,
        b: &Block,
        tx_hashes: &[H256],
        out: &BlockOutcome,
        certificate: &[u8],
    ) -> Result<(), StoreError> {
        self.store.commit_certified_block(b, tx_hashes, out, certificate)?;
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
