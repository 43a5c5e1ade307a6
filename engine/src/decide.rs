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
        if self.is_known_invalid(&hash) {
            return Err(ImportError::KnownInvalid(hash));
        }
        let checked = check_block_in_isolation(block, &self.params)?;
        let _guard = self.commit_lock.lock();
        self.require_next(block)?;
        self.validate_on_head(block, &checked)
            .inspect_err(|e| self.mark_if_intrinsic(hash, e))?;
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
        let out = self.validate_on_head(block, &checked)?;
        self.commit_and_announce(block, &checked.tx_hashes, &out, Some(certificate))?;
        self.metrics
            .block_import_seconds
            .with_label_values(&["decided"])
            .observe(started.elapsed().as_secs_f64());
        Ok(self.head())
    }

    /// The commit certificate stored with the canonical block at `height` (BFT only).
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.certificate(height)
    }
}
