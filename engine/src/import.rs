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
use cpc_state::{BlockOutcome, Durability, Head, StoreError};

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

/// What an intrinsic failure depends on, so what the invalid-block cache may key it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binding {
    /// The header and what it commits to (the transactions, by `tx_root`): no version of a
    /// block with this hash can pass.
    Header,
    /// Also the block's consensus data (the parent's certificate, evidence), which the hash
    /// does not cover: a peer that alters it must not poison the genuine block.
    HeaderAndConsensus,
}

/// Whether a failure of a block that passed its in-isolation checks is the block's own, and
/// on what. `None`: contextual or transient (storage, not on the head, no validator set yet,
/// a timestamp ahead of our clock), never remembered. Every rule is listed, so that a new one
/// must be placed here.
fn intrinsic(e: &ImportError) -> Option<Binding> {
    use Binding::*;
    let ImportError::Invalid(b) = e else {
        // Storage, a certificate (a peer can pair a real block with a bad one), not on the
        // head, a conflict, already known: nothing about the block itself.
        return None;
    };
    match b {
        // Time cures a timestamp ahead of our clock; the head moves; sets become known; a
        // storage failure (as text, from the state) is ours.
        BlockError::TimestampInFuture { .. }
        | BlockError::Height { .. }
        | BlockError::Parent { .. }
        | BlockError::NoSet(_)
        | BlockError::State(_) => None,
        BlockError::Exec { error: cpc_state::TxError::Storage(_), .. } => None,
        // Data not held here yet (or unreadable): it may arrive.
        BlockError::Market { error, .. } if error.is_missing_data() => None,
        BlockError::Market { .. } => Some(Header),
        // Fixed by the header, its parent (named by the header) and its transactions.
        BlockError::TimestampNotAfterParent { .. }
        | BlockError::WrongProposer { .. }
        | BlockError::ShareTarget { .. }
        | BlockError::Synthetic { .. }
        | BlockError::Exec { .. }
        | BlockError::GasUsed { .. } => Some(Header),
        // The consensus data is checked, then applied at the end of the block (liveness,
        // slashes): these depend on it.
        BlockError::StateRoot { .. }
        | BlockError::LastCommit(_)
        | BlockError::LastCommitOfGenesis
        | BlockError::TooMuchEvidence { .. }
        | BlockError::Evidence { .. }
        | BlockError::EvidenceTooOld { .. }
        | BlockError::EvidenceFromTheFuture { .. }
        | BlockError::DuplicateEvidence { .. } => Some(HeaderAndConsensus),
        // In-isolation rules: a body or signature that does not match its header says nothing
        // about the header's hash (another body or signature may match it), so these are
        // never remembered by hash.
        BlockError::ChainId { .. }
        | BlockError::GasLimit { .. }
        | BlockError::TooManyTxs { .. }
        | BlockError::TooLarge { .. }
        | BlockError::DuplicateTx(_)
        | BlockError::DuplicateTaskId(_)
        | BlockError::TooManySynthetic { .. }
        | BlockError::Tx { .. }
        | BlockError::TxRoot { .. }
        | BlockError::ComputeRoot { .. }
        | BlockError::ProposerKey { .. }
        | BlockError::ProposerSignature => None,
    }
}

/// The invalid-block cache's key for a failure that depends on the consensus data:
/// `H("CPC-INVALID-CONSENSUS:" ‖ hash ‖ last_commit ‖ evidence…)`, each part length-prefixed.
fn consensus_bound_key(hash: &H256, b: &Block) -> H256 {
    let c = &b.consensus;
    let mut buf = Vec::with_capacity(64 + c.last_commit.as_ref().map_or(0, Vec::len));
    buf.extend_from_slice(b"CPC-INVALID-CONSENSUS:");
    buf.extend_from_slice(&hash.0);
    match &c.last_commit {
        Some(lc) => {
            buf.push(1);
            buf.extend_from_slice(&(lc.len() as u64).to_le_bytes());
            buf.extend_from_slice(lc);
        }
        None => buf.push(0),
    }
    buf.extend_from_slice(&(c.evidence.len() as u64).to_le_bytes());
    for e in &c.evidence {
        buf.extend_from_slice(&(e.len() as u64).to_le_bytes());
        buf.extend_from_slice(e);
    }
    cpc_primitives::sha256(&buf)
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

    /// Remembers a block that failed in context after passing in isolation, where the failure
    /// is its own ([`intrinsic`]): by its header hash, or, for a failure its consensus data may
    /// cause, under [`consensus_bound_key`], so that the same header with other consensus data
    /// (the genuine block, from an honest peer) stays importable.
    pub(crate) fn mark_block_if_intrinsic(&self, b: &Block, hash: H256, e: &ImportError) {
        match intrinsic(e) {
            Some(Binding::Header) => self.mark_invalid(hash),
            Some(Binding::HeaderAndConsensus) => self.mark_invalid(consensus_bound_key(&hash, b)),
            None => {}
        }
    }

    /// Whether a block with this header hash is known to be invalid whatever it carries.
    pub fn is_known_invalid(&self, hash: &H256) -> bool {
        self.invalid.lock().0.contains(hash)
    }

    /// Whether this block is known to be invalid: by its header hash, or with exactly this
    /// consensus data.
    pub fn is_known_invalid_block(&self, b: &Block) -> bool {
        let hash = b.hash();
        let inv = self.invalid.lock();
        inv.0.contains(&hash) || inv.0.contains(&consensus_bound_key(&hash, b))
    }

    /// Context checks of `b` on the current head (the caller holds the commit lock).
    /// `certified`: the block comes with its commit certificate (see
    /// `ChainContext::data_attested`); false for a proposal.
    pub(crate) fn validate_on_head(&self, b: &Block, checked: &CheckedBlock, certified: bool) -> Result<BlockOutcome, ImportError> {
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
            data_attested: certified,
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
        self.import_block_with(block, certificate, None, Durability::Synced)
    }

    /// [`Engine::import_block`] with the block's in-isolation checks already run (`pre`, for
    /// a range checked in parallel: its result, success or failure, stands in for running
    /// them again here, at the same point of the order of checks) and a chosen durability of
    /// the commit.
    pub(crate) fn import_block_with(
        &self,
        block: Block,
        certificate: &[u8],
        pre: Option<Result<CheckedBlock, BlockError>>,
        durability: Durability,
    ) -> Result<Imported, ImportError> {
        let started = std::time::Instant::now();
        let res = (|| {
            let hash = block.hash();
            let height = block.header.height;
            if self.is_known_invalid_block(&block) {
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
            let checked = pre
                .unwrap_or_else(|| check_block_in_isolation(&block, &self.params))
                .and_then(|c| check_proposer_turn(&block, &validators).map(|_| c))?;
            let _guard = self.commit_lock.lock();
            // Again under the lock: another import may have moved the head meanwhile.
            if let Some(done) = self.place_on_head(&block, hash)? {
                return Ok(done);
            }
            let out = self.validate_on_head(&block, &checked, true).inspect_err(|e| self.mark_block_if_intrinsic(&block, hash, e))?;
            self.commit_and_announce_with(&block, &checked.tx_hashes, &out, certificate, durability).map_err(storage)?;
            Ok(Imported::Extended(self.head()))
        })();
        self.metrics.record_import(&res, started.elapsed().as_secs_f64());
        res
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
}

/// Due blob entries one committed block works off at most ([`cpc_state::Store::prune_blobs`]).
const PRUNE_PER_BLOCK: usize = 1024;

impl Engine {
    /// Commits a validated block on the head with its commit certificate (one synced write),
    /// updates the pool, and announces the new head. The caller holds the commit lock.
    pub(crate) fn commit_and_announce(
        &self,
        b: &Block,
        tx_hashes: &[H256],
        out: &BlockOutcome,
        certificate: &[u8],
    ) -> Result<(), StoreError> {
        self.commit_and_announce_with(b, tx_hashes, out, certificate, Durability::Synced)
    }

    /// [`Engine::commit_and_announce`] with a chosen durability of the write.
    fn commit_and_announce_with(
        &self,
        b: &Block,
        tx_hashes: &[H256],
        out: &BlockOutcome,
        certificate: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.store.commit_certified_block_with(b, tx_hashes, out, certificate, durability)?;
        let jobs = cpc_state::job_events(b.header.height, &b.transactions, &out.outcomes, &out.rewards.market, self.params.market.enabled);
        for e in &jobs {
            self.metrics.market_jobs.with_label_values(&[e.event.as_str()]).inc();
        }
        // Blobs whose retention ended go before the head is announced, so that the next block
        // is built and checked against what this node still holds. Node-local and bounded per
        // block (a backlog, e.g. after a long sync, is worked off over the next blocks).
        match self.store.prune_blobs(b.header.height, PRUNE_PER_BLOCK) {
            Ok(p) if p.pruned > 0 => {
                self.metrics.market_blobs_pruned.inc_by(p.pruned);
                tracing::info!(height = b.header.height, blobs = p.pruned, bytes = p.bytes, "pruned market blobs past their retention");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(height = b.header.height, "pruning market blobs: {e}"),
        }
        self.publish_block_event(b, tx_hashes, out, jobs);
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
    fn publish_block_event(&self, b: &Block, tx_hashes: &[H256], out: &BlockOutcome, jobs: Vec<cpc_state::JobEvent>) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let ev = CommittedBlock {
            block: b.clone(),
            hash: b.hash(),
            tx_hashes: tx_hashes.to_vec(),
            rewards: out.rewards.clone(),
            jobs,
        };
        let _ = self.events.send(EngineEvent::Committed(std::sync::Arc::new(ev)));
    }
}
