//! What sync needs from the chain: ranges of committed blocks with their certificates for peers, and the parallel
//! pre-verification of a fetched range's synthetic results before its ordered import.

use crate::Engine;
use cpc_consensus::{is_synthetic, window_heights, WindowTip};
use cpc_primitives::{Block, ComputeResult, TxType, H256};
use cpc_state::StoreError;
use std::collections::HashMap;
use std::time::Instant;

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
