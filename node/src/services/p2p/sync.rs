//! The sync loop (docs/CONSENSUS.md, "Sync"): peers' heads from `Status`, ranges fetched from
//! those ahead in parallel, their synthetic results pre-verified on all cores, then imported in
//! order; a range that does not attach means a fork, resolved from the common ancestor.

use super::{ask_status, MAX_BLOCKS_PER_REQUEST, PROGRESS_LOG, STATUS_REFRESH, SYNC_LAG, SYNC_PARALLEL_REQUESTS, SYNC_TICK};
use crate::node::{Node, SyncProgress};
use cpc_engine::{ImportError, Imported};
use cpc_network::{NetworkHandle, PeerBook, PeerId, Severity, SyncRequest, SyncResponse};
use cpc_primitives::Block;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub async fn sync_loop(node: Arc<Node>, net: NetworkHandle, book: Arc<PeerBook>, mut stop: watch::Receiver<bool>) {
    if node.bft_mode() {
        // Under BFT consensus blocks arrive only with their certificates (Malachite's value
        // sync): never by this longest-chain sync.
        let _ = stop.changed().await;
        return;
    }
    let mut last_status = Instant::now() - STATUS_REFRESH;
    let mut last_log = Instant::now();
    let mut started: Option<(Instant, u64)> = None;
    let mut behind = false;
    loop {
        // While behind, go straight to the next step; otherwise look again after a tick.
        let pause = if behind { Duration::ZERO } else { SYNC_TICK };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        behind = false;
        if last_status.elapsed() >= STATUS_REFRESH {
            last_status = Instant::now();
            for p in net.peers().await.into_iter().map(|i| i.peer_id) {
                let (node, net, book) = (node.clone(), net.clone(), book.clone());
                tokio::spawn(async move { ask_status(&node, &net, &book, p).await });
            }
        }
        let head = node.head();
        let best = book.best_height().unwrap_or(0);
        node.metrics.peer_best_height.set(best as i64);
        if best <= head.height {
            finish_sync(&node, &mut started);
            continue;
        }
        if best >= head.height + SYNC_LAG {
            let mut s = node.sync.lock();
            let p = s.get_or_insert(SyncProgress { starting_block: head.height, current_block: head.height, highest_block: best });
            p.current_block = head.height;
            p.highest_block = best;
            started.get_or_insert((Instant::now(), head.height));
        }
        let before = node.head().height;
        sync_step(&node, &net, &book).await;
        let now = node.head().height;
        if now >= book.best_height().unwrap_or(0) {
            finish_sync(&node, &mut started);
        } else {
            // Progress made: keep going without a pause (no progress: back off one tick).
            behind = now > before;
        }
        if last_log.elapsed() >= PROGRESS_LOG {
            last_log = Instant::now();
            if let Some((t, h0)) = started {
                let h = node.head().height;
                let rate = (h - h0) as f64 / t.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(height = h, target = book.best_height().unwrap_or(0), blocks_per_s = format!("{rate:.0}"), "syncing");
            }
        }
    }
}

/// Leaves the syncing state (if in it) and logs the catch-up.
fn finish_sync(node: &Node, started: &mut Option<(Instant, u64)>) {
    if node.sync.lock().take().is_some()
        && let Some((t, h0)) = started.take() {
            let h = node.head().height;
            let secs = t.elapsed().as_secs_f64();
            tracing::info!(height = h, blocks = h - h0, secs, "synced: following the tip");
        }
}

/// Fetches the next ranges from the peers ahead of us and imports them in order.
async fn sync_step(node: &Arc<Node>, net: &NetworkHandle, book: &PeerBook) {
    let head = node.head();
    let peers = book.ahead_of(head.height);
    if peers.is_empty() {
        return;
    }
    let mut from = head.height + 1;
    let mut reqs = Vec::new();
    for (peer, top) in peers.iter().cycle().take(SYNC_PARALLEL_REQUESTS) {
        if from > *top {
            continue;
        }
        let count = (MAX_BLOCKS_PER_REQUEST as u64).min(top - from + 1) as u32;
        let net = net.clone();
        let peer = *peer;
        let start = from;
        reqs.push(tokio::spawn(async move { (peer, net.request(peer, SyncRequest::Blocks { from: start, count }).await) }));
        from += count as u64;
    }
    let mut batches = Vec::new();
    for r in reqs {
        let Ok((peer, res)) = r.await else { continue };
        match res {
            Ok(SyncResponse::Blocks(raw)) => {
                let mut blocks = Vec::with_capacity(raw.len());
                for b in raw {
                    match Block::from_json_slice(&b) {
                        Ok(b) => blocks.push(b),
                        Err(_) => {
                            net.penalize(peer, Severity::Major, "undecodable block in sync response".into());
                            blocks.clear();
                            break;
                        }
                    }
                }
                batches.push((peer, blocks));
            }
            Ok(other) => net.penalize(peer, Severity::Minor, format!("answered Blocks with {other:?}")),
            Err(e) => tracing::debug!(peer = %peer, "block request failed: {e}"),
        }
    }
    // Full synthetic verification of the whole range runs ahead on all cores; the ordered
    // import below then finds the results in the verified cache.
    let batches = {
        let n = node.clone();
        let work = tokio::task::spawn_blocking(move || {
            let all: Vec<&Block> = batches.iter().flat_map(|(_, b)| b.iter()).collect();
            n.engine.preverify_synthetic(&all);
            batches
        });
        match work.await {
            Ok(b) => b,
            Err(_) => return,
        }
    };
    for (peer, blocks) in batches {
        let n = node.clone();
        let res = tokio::task::spawn_blocking(move || {
            for b in blocks {
                let height = b.header.height;
                match n.engine.import_block(b) {
                    Ok(Imported::Orphan { .. }) => return Err((height, None)),
                    Ok(_) => {}
                    Err(e) => return Err((height, Some(e))),
                }
            }
            Ok(())
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err((_, None))) => {
                // Their range does not attach to our head: find where the chains forked.
                resolve_fork(node, net, peer).await;
                return;
            }
            Ok(Err((height, Some(e)))) => {
                tracing::warn!(peer = %peer, height, "sync: bad block from peer: {e}");
                if matches!(e, ImportError::Invalid(_) | ImportError::KnownInvalid(_)) {
                    net.penalize(peer, Severity::Major, format!("invalid block at {height}: {e}"));
                }
                return;
            }
            Err(_) => return,
        }
    }
    if let Some(p) = node.sync.lock().as_mut() {
        p.current_block = node.head().height;
    }
}

/// Our canonical chain and the peer's disagree near our head: find the highest common
/// height, then import the peer's branch from there (fork choice decides whether to switch).
async fn resolve_fork(node: &Arc<Node>, net: &NetworkHandle, peer: PeerId) {
    let head = node.head();
    let from = head.height.saturating_sub(node.engine.max_reorg_depth());
    let count = (head.height - from + 1) as u32;
    let theirs = match net.request(peer, SyncRequest::Hashes { from, count }).await {
        Ok(SyncResponse::Hashes(h)) => h,
        _ => return,
    };
    let mut common = None;
    for (i, h) in theirs.iter().enumerate() {
        if node.engine.store().hash_at(from + i as u64).ok().flatten() == Some(*h) {
            common = Some(from + i as u64);
        } else {
            break;
        }
    }
    let Some(common) = common else {
        tracing::warn!(peer = %peer, depth = node.engine.max_reorg_depth(), "no common block within the reorg limit");
        return;
    };
    tracing::info!(peer = %peer, common, our_head = head.height, "fork found; fetching the peer's branch");
    let mut next = common + 1;
    loop {
        let res = net.request(peer, SyncRequest::Blocks { from: next, count: MAX_BLOCKS_PER_REQUEST }).await;
        let Ok(SyncResponse::Blocks(raw)) = res else { return };
        if raw.is_empty() {
            return;
        }
        let blocks: Vec<Block> = raw.iter().filter_map(|b| Block::from_json_slice(b).ok()).collect();
        let n = blocks.len() as u64;
        let node2 = node.clone();
        let ok = tokio::task::spawn_blocking(move || {
            for b in blocks {
                if let Err(e) = node2.engine.import_block(b) {
                    tracing::warn!("fork branch block refused: {e}");
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false);
        if !ok {
            net.penalize(peer, Severity::Major, "invalid fork branch".into());
            return;
        }
        next += n;
        if n < MAX_BLOCKS_PER_REQUEST as u64 {
            return;
        }
    }
}
