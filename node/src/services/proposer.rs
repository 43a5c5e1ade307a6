//! Multi-validator block production (round-robin PoA with rounds; docs/CONSENSUS.md,
//! "Rounds") until BFT replaces it: propose in our rounds when no block for the height came.

use crate::node::Node;
use anyhow::Result;
use cpc_primitives::now_millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The shortest round timeout: covers gossip latency between validators on different
/// machines even when the block time is short.
pub const MIN_ROUND_TIMEOUT_MS: u64 = 1000;

/// Length of round `r`'s window after its start: `base × (r + 1)` with
/// `base = max(2 × block time, MIN_ROUND_TIMEOUT_MS)` (docs/CONSENSUS.md).
pub fn round_timeout_ms(block_time_ms: u64, r: u64) -> u64 {
    (2 * block_time_ms).max(MIN_ROUND_TIMEOUT_MS).saturating_mul(r + 1)
}

/// When round `r` of the height after a parent with `parent_ts` starts: one block time after
/// the parent, plus the timeouts of the rounds before it.
pub fn round_start_ms(parent_ts: u64, block_time_ms: u64, r: u64) -> u64 {
    let base = round_timeout_ms(block_time_ms, 0);
    // Σ_{i<r} base·(i+1) = base·r(r+1)/2
    parent_ts.saturating_add(block_time_ms).saturating_add(base.saturating_mul(r * (r + 1) / 2))
}

/// Multi-validator block production: propose in our rounds when no block for the height
/// has arrived (docs/CONSENSUS.md, "Rounds").
pub async fn propose_in_rounds(node: Arc<Node>, me: cpc_primitives::PublicKey, mut stop: watch::Receiver<bool>) -> Result<()> {
    let bt = node.engine.params().block_time_ms;
    let mut heads = node.engine.subscribe_heads();
    loop {
        let head = *heads.borrow_and_update();
        let h = head.height + 1;
        let now = now_millis();
        // Our next round whose window has not closed yet (our turn recurs every N rounds).
        let mut r = 0u64;
        let (round, start) = loop {
            let end = round_start_ms(head.timestamp, bt, r + 1);
            if node.engine.validators().proposer(h, r as u32) == &me && now < end {
                break (r as u32, round_start_ms(head.timestamp, bt, r));
            }
            r += 1;
        };
        let wait = Duration::from_millis(start.saturating_sub(now));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = heads.changed() => continue,
            _ = stop.changed() => return Ok(()),
        }
        if node.head().hash != head.hash {
            continue;
        }
        let lonely = node.engine.validators().len() > 1 && node.net.get().is_none_or(|n| n.peer_count() == 0);
        if node.is_syncing() || lonely {
            // Behind a peer, or alone in a multi-validator network: proposing would only fork.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return Ok(()),
            }
            continue;
        }
        cpc_engine::produce_one(node.engine.clone(), round).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_start_after_the_block_time_and_grow() {
        // block time 1 s: base timeout 2 s; rounds start at +1 s, +3 s, +7 s, +13 s
        assert_eq!(round_start_ms(0, 1000, 0), 1000);
        assert_eq!(round_start_ms(0, 1000, 1), 3000);
        assert_eq!(round_start_ms(0, 1000, 2), 7000);
        assert_eq!(round_start_ms(0, 1000, 3), 13_000);
        // a short block time still gets the minimum timeout
        assert_eq!(round_timeout_ms(100, 0), MIN_ROUND_TIMEOUT_MS);
        assert_eq!(round_start_ms(0, 100, 1), 1100);
    }
}
