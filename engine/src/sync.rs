//! What sync needs from the chain: ranges of committed blocks with their certificates for
//! peers; for a fetched range, its in-isolation checks and the pre-verification of its
//! synthetic results on all cores, then its ordered import, synced once at the end.

use crate::{Engine, ImportError, Imported};
use cpc_consensus::{check_block_in_isolation, is_synthetic, window_heights, BlockError, CheckedBlock, WindowTip};
use cpc_primitives::{Block, ComputeResult, TxType, H256};
use cpc_state::{Durability, StoreError};
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::Instant;

/// A fetched certified block with the result of its in-isolation checks.
pub struct SyncedBlock {
    pub block: Block,
    /// Its commit certificate, in the wire encoding.
    pub certificate: Vec<u8>,
    pub checked: Result<CheckedBlock, BlockError>,
}

impl Engine {
    /// Committed blocks `from`, `from + 1`, … (at most `count`, and at most `max_bytes` of
    /// them after the first), each with its commit certificate in the wire encoding
    /// ([`Block::encode_certified`]). Genesis has no certificate: a range starts at 1 or later.
    pub fn encoded_blocks(&self, from: u64, count: u64, max_bytes: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let head = self.head().height;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for h in from.max(1)..from.saturating_add(count).min(head + 1) {
            let Some(hash) = self.store.hash_at(h)? else { break };
            let Some(b) = self.store.block(&hash)? else { break };
            let Some(cert) = self.store.certificate(h)? else {
                return Err(StoreError::Inconsistent(format!("committed block {h} has no certificate")));
            };
            let enc = Block::encode_certified(&b.to_json_bytes(), &cert);
            if !out.is_empty() && bytes + enc.len() > max_bytes {
                break;
            }
            bytes += enc.len();
            out.push(enc);
        }
        Ok(out)
    }

    /// Runs the in-isolation checks (every signature, the roots) of a fetched range of
    /// certified blocks on all cores. Sync calls it as each range arrives, so a range is
    /// checked while the one before it is imported; [`Engine::import_range`] then uses the
    /// results in order, at the point where [`Engine::import_block`] would run the checks.
    pub fn check_range_in_isolation(&self, blocks: Vec<(Block, Vec<u8>)>) -> Vec<SyncedBlock> {
        blocks
            .into_par_iter()
            .map(|(block, certificate)| {
                let checked = check_block_in_isolation(&block, &self.params);
                SyncedBlock { block, certificate, checked }
            })
            .collect()
    }

    /// Imports a fetched range of certified blocks (in height order, checked in isolation by
    /// [`Engine::check_range_in_isolation`]) as sync does when behind: the synthetic results
    /// are recomputed for the whole range in parallel, then the blocks are imported in order,
    /// each exactly as [`Engine::import_block`] would (certificate first, then the checks,
    /// then the context), each its own atomic write, and the writes are synced once, at the
    /// end of the range ([`Durability::Deferred`], then [`cpc_state::Store::persist`]). A
    /// killed process loses none of them; a power loss mid-range leaves the store at the last
    /// whole block the disk got, never half a block, and the node fetches the rest again.
    ///
    /// Returns how many blocks extended the head, or the height where the import stopped:
    /// with the error, or with `None` when that block is beyond the next height.
    pub fn import_range(&self, blocks: Vec<SyncedBlock>) -> Result<usize, (u64, Option<ImportError>)> {
        let refs: Vec<&Block> = blocks.iter().map(|b| &b.block).collect();
        self.preverify_synthetic(&refs);
        let mut extended = 0;
        let mut stopped = None;
        for SyncedBlock { block, certificate, checked } in blocks {
            let height = block.header.height;
            match self.import_block_with(block, &certificate, Some(checked), Durability::Deferred) {
                Ok(Imported::Extended(_)) => extended += 1,
                Ok(Imported::Known) => {}
                Ok(Imported::Ahead { .. }) => {
                    stopped = Some((height, None));
                    break;
                }
                Err(e) => {
                    stopped = Some((height, Some(e)));
                    break;
                }
            }
        }
        if extended > 0 {
            let last = self.head().height;
            self.store.persist().map_err(|e| (last, Some(ImportError::Storage(e))))?;
        }
        match stopped {
            Some(s) => Err(s),
            None => Ok(extended),
        }
    }

    /// Recomputes every synthetic result of `blocks` (a fetched range, in order) in parallel,
    /// filling the verified cache: the ordered import then finds them verified.
    pub fn preverify_synthetic(&self, blocks: &[&Block]) {
        let by_height: HashMap<u64, WindowTip> =
            blocks.iter().map(|b| (b.header.height, (b.hash(), b.header.share_target))).collect();
        let mut items: Vec<(ComputeResult, H256)> = Vec::new();
        for b in blocks {
            let range = window_heights(b.header.height, self.params.poc.window);
            let (lo, hi) = (*range.start(), *range.end());
            let window: Vec<WindowTip> = range
                .filter_map(|h| {
                    by_height.get(&h).copied().or_else(|| self.store.canon_at(h).ok().flatten().map(|e| (e.hash, e.share_target)))
                })
                .collect();
            for tx in b.transactions.iter().filter(|t| t.tx_type == TxType::SubmitResult) {
                let Ok(r) = ComputeResult::from_payload(&tx.payload) else { continue };
                if !is_synthetic(&r) {
                    continue;
                }
                if let Ok(tip) = self.poc.locate_tip(&r, &window, lo, hi) {
                    items.push((r, tip.0));
                }
            }
        }
        if items.len() > 1 {
            let refs: Vec<(&ComputeResult, H256)> = items.iter().map(|(r, t)| (r, *t)).collect();
            let started = Instant::now();
            let _ = self.poc.verify_many(&refs);
            self.metrics.observe_verify("sync", started.elapsed().as_secs_f64());
        }
    }
}
