//! The engine's side of BFT consensus: a proposed block is checked in full on the head without
//! being committed, and a decided block is committed together with its commit certificate.
//! Who may propose at which `(height, round)` is consensus's rule (cpc-bft), not checked here.

use crate::Engine;
use crate::import::ImportError;
use cpc_consensus::check_block_in_isolation;
use cpc_primitives::{Block, H256};
use cpc_state::{Head, StoreError};

impl Engine {
    fn require_next(&self, block: &Block) -> Result<(), ImportError> {
        let head = self.head();
        if block.header.prev_hash != head.hash || block.header.height != head.height + 1 {
            return Err(ImportError::NotOnHead {
                expected: head.height + 1,
                head: head.hash,
                found: block.header.height,
                parent: block.header.prev_hash,
            });
        }
        Ok(())
    }

    /// Checks `block` as the next block on the head, in isolation and in context (signatures,
    /// share rule and PoC recomputation, execution, state root), and returns its hash. Nothing
    /// is committed. Blocking: call off the async runtime.
    pub fn check_proposal(&self, block: &Block) -> Result<H256, ImportError> {
        let hash = block.hash();
        if self.is_known_invalid_block(block) {
            return Err(ImportError::KnownInvalid(hash));
        }
        let checked = check_block_in_isolation(block, &self.params)?;
        let _guard = self.commit_lock.lock();
        self.require_next(block)?;
        self.validate_on_head(block, &checked, false)
            .inspect_err(|e| self.mark_block_if_intrinsic(block, hash, e))?;
        Ok(hash)
    }

    /// Commits the decided `block` on the head with its commit `certificate` in the same synced
    /// write, and announces it. The block is checked again on the head (cheap: the synthetic
    /// results verified when it was proposed are cached), so a caller cannot commit what does
    /// not execute. Blocking: call off the async runtime.
    pub fn commit_decided(&self, block: &Block, certificate: &[u8]) -> Result<Head, ImportError> {
        let started = std::time::Instant::now();
        let checked = check_block_in_isolation(block, &self.params)?;
        let _guard = self.commit_lock.lock();
        self.require_next(block)?;
        let out = self.validate_on_head(block, &checked, true)?;
        self.commit_and_announce(block, &checked.tx_hashes, &out, certificate)?;
        self.decided(block, certificate);
        self.metrics
            .block_import_seconds
            .with_label_values(&["decided"])
            .observe(started.elapsed().as_secs_f64());
        Ok(self.head())
    }

    /// The commit certificate stored with the committed block at `height` (none for genesis).
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.certificate(height)
    }
}

impl Engine {
    /// Keeps evidence of an equivocation after checking it against the validator set (from
    /// consensus or from a peer). Ok(true) when it is new: the caller gossips it.
    pub fn record_evidence(&self, e: &cpc_consensus::Evidence) -> Result<bool, EvidenceRecordError> {
        let set = self.validator_set(e.height()).map_err(|_| cpc_consensus::EvidenceError::UnknownValidator(e.validator()))?;
        e.verify(&set)?;
        let new = self.store.put_evidence(e.height(), &e.id(), &e.to_json_bytes())?;
        if new {
            self.metrics.evidence.inc();
            tracing::warn!(validator = %e.validator(), height = e.height(), id = %e.id(), "evidence of equivocation kept");
        }
        Ok(new)
    }

    /// Kept evidence from `from_height` on, in height order, at most `limit` pieces.
    pub fn evidence(&self, from_height: u64, limit: usize) -> Result<Vec<cpc_consensus::Evidence>, StoreError> {
        self.store
            .evidence(from_height, limit)?
            .into_iter()
            .map(|(h, b)| {
                cpc_consensus::Evidence::from_json_slice(&b)
                    .map_err(|e| StoreError::Inconsistent(format!("stored evidence at height {h}: {e}")))
            })
            .collect()
    }
}

/// Why evidence was not kept.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceRecordError {
    #[error("{0}")]
    Invalid(#[from] cpc_consensus::EvidenceError),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

/// The blobs that travel with a proposal: the data its market transactions name, so that a
/// validator that missed a transaction's gossip (and the fetch that goes with it) can still
/// check the proposal before voting (docs/MARKET.md, "With the proposal").
impl Engine {
    /// The blobs `block`'s transactions name that this node holds, in block order, until
    /// `budget` bytes of their encoding (a proposal stream has a size bound; a blob past it is
    /// left out and the validators that hold it by gossip still check it).
    pub fn proposal_blobs(&self, block: &Block, budget: usize) -> Vec<std::sync::Arc<cpc_state::Blob>> {
        use cpc_state::StateView;
        let mut used = 0usize;
        let mut out = Vec::new();
        for root in cpc_consensus::block_named_blobs(block, self.params.market.enabled) {
            match self.store.blob(&root) {
                Ok(Some(b)) => {
                    let size = b.data.len() + 16;
                    if used + size > budget {
                        tracing::warn!(%root, used, budget, "a blob left out of the proposal: the stream would pass its bound");
                        continue;
                    }
                    used += size;
                    out.push(b);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(%root, "reading a blob for the proposal: {e}"),
            }
        }
        out
    }

    /// Keeps the blobs that came with a proposal of `block` before it is checked: each must be
    /// one the block's transactions name (its root is computed here from its rows), and none
    /// may come twice, otherwise the proposal is refused with the reason (the proposer chose
    /// its stream). Blobs already held are skipped; a full blob store keeps the rest out (the
    /// check then finds the data missing, and this node votes nil). Returns how many were new.
    pub fn take_proposal_blobs(&self, block: &Block, blobs: &[cpc_state::Blob]) -> Result<usize, String> {
        if blobs.is_empty() {
            return Ok(0);
        }
        let named: std::collections::HashSet<H256> = cpc_consensus::block_named_blobs(block, self.params.market.enabled).into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let mut roots = Vec::with_capacity(blobs.len());
        for b in blobs {
            let root = b.root();
            if !named.contains(&root) {
                return Err(format!("the proposal carries blob {root}, which none of its {} transactions names", block.transactions.len()));
            }
            if !seen.insert(root) {
                return Err(format!("the proposal carries blob {root} twice"));
            }
            roots.push(root);
        }
        let mut new = 0;
        for (b, root) in blobs.iter().zip(&roots) {
            use cpc_state::StateView;
            if matches!(self.store.blob(root), Ok(Some(_))) {
                continue;
            }
            match self.store.put_blob(b) {
                Ok(_) => new += 1,
                Err(e) => tracing::warn!(%root, "a blob that came with a proposal not kept: {e}"),
            }
        }
        if new > 0 {
            tracing::debug!(height = block.header.height, new, "kept blobs that came with a proposal");
        }
        Ok(new)
    }
}
