//! The sync loop of a full node (docs/CONSENSUS.md, "Following the chain"): peers' heads from
//! `Status`, ranges of certified blocks fetched from those ahead in parallel, each block's
//! certificate checked before anything else, their synthetic results pre-verified on all cores,
//! then imported in order. No fork choice: a block is final with its certificate.
//!
//! No single peer can stall it: a peer that claims a head and then serves nothing, answers
//! with something else, too late, or with blocks whose certificate does not verify is
//! penalised and leaves the book (its next `Status` brings it back, with its score lowered);
//! the other peers ahead keep serving. Repeated penalties ban it.

use super::{ask_status, MAX_BLOCKS_PER_REQUEST, PROGRESS_LOG, STATUS_REFRESH, SYNC_ANSWER_TIMEOUT, SYNC_LAG, SYNC_PARALLEL_REQUESTS, SYNC_TICK};
use crate::node::{Node, SyncProgress};
use cpc_engine::{ImportError, SyncedBlock};
use cpc_network::{NetworkHandle, PeerBook, PeerId, Severity, SyncRequest, SyncResponse};
use cpc_primitives::Block;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub async fn sync_loop(node: Arc<Node>, net: NetworkHandle, book: Arc<PeerBook>, mut stop: watch::Receiver<bool>) {
    if node.bft_mode() {
        // A validator has its blocks from consensus (Malachite's value sync when behind).
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

/// What one peer's answer to a range request shows, before import.
fn check_range(from: u64, claimed: u64, raw: Vec<Vec<u8>>) -> Result<Vec<(Block, Vec<u8>)>, (Severity, String)> {
    if raw.is_empty() {
        // Committed blocks are never reverted: a peer that claimed this head has these blocks.
        return Err((Severity::Fatal, format!("claimed head {claimed} but served no block from {from}")));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, b) in raw.iter().enumerate() {
        let (block, cert) = Block::decode_certified(b).map_err(|e| (Severity::Major, format!("sync response: {e}")))?;
        let want = from + i as u64;
        if block.header.height != want {
            return Err((Severity::Major, format!("sync response: expected block {want}, found {}", block.header.height)));
        }
        out.push((block, cert.to_vec()));
    }
    Ok(out)
}

/// Decodes a peer's answer ([`check_range`]), checks its certificates where the committed
/// chain already fixes the block's validator set (cheap, one signature per validator: a range
/// with a bad one is the peer's lie and is dropped before anything costly; import checks
/// every certificate again in order anyway), then checks its blocks in isolation.
fn check_answer(node: &Node, start: u64, top: u64, raw: Vec<Vec<u8>>) -> Result<Vec<SyncedBlock>, (Severity, String)> {
    let blocks = check_range(start, top, raw)?;
    let bad = blocks.iter().filter(|(b, _)| node.engine.set_is_known(b.header.height)).find_map(|(b, c)| {
        let set = match node.engine.validator_set(b.header.height) {
            Ok(s) => s,
            Err(e) => return Some(format!("block {}: {e}", b.header.height)),
        };
        cpc_consensus::finality::verify_certificate_bytes(c, b.header.height, &b.hash(), &set)
            .err()
            .map(|e| format!("block {}: {e}", b.header.height))
    });
    if let Some(why) = bad {
        return Err((Severity::Fatal, why));
    }
    Ok(node.engine.check_range_in_isolation(blocks))
}

/// Fetches the next ranges from the peers ahead of us and imports them in height order as
/// they arrive: the first range is asked of two peers when two are ahead, so one that never
/// answers cannot hold the head back; one that fails is benched (see the module doc).
async fn sync_step(node: &Arc<Node>, net: &NetworkHandle, book: &PeerBook) {
    let head = node.head();
    let mut peers = book.ahead_of(head.height);
    if peers.is_empty() {
        return;
    }
    // A different order each step: no peer is always asked first.
    let shift = (cpc_primitives::now_millis() as usize) % peers.len();
    peers.rotate_left(shift);
    let mut from = head.height + 1;
    let mut asks: Vec<(PeerId, u64, u64, u32)> = Vec::new();
    for (peer, top) in peers.iter().cycle().take(SYNC_PARALLEL_REQUESTS) {
        if from > *top {
            continue;
        }
        let count = (MAX_BLOCKS_PER_REQUEST as u64).min(top - from + 1) as u32;
        asks.push((*peer, *top, from, count));
        from += count as u64;
    }
    if let (Some(&(first, _, start, count)), Some((second, top2))) = (asks.first(), peers.get(1))
        && *second != first
        && *top2 >= start
    {
        asks.push((*second, *top2, start, count.min((*top2 - start + 1) as u32)));
    }
    // Each answer is decoded, its certificates checked, then its blocks checked in isolation
    // (every signature) in its own task as it arrives, so ranges are checked while an
    // earlier one is imported; the loop below imports them in height order and asks for the
    // next range as each one lands, so the pipe stays full until the peers' heads.
    let mut inflight = tokio::task::JoinSet::new();
    let ask = |inflight: &mut tokio::task::JoinSet<_>, peer: PeerId, top: u64, start: u64, count: u32| {
        let (net, node) = (net.clone(), node.clone());
        inflight.spawn(async move {
            let res = match tokio::time::timeout(SYNC_ANSWER_TIMEOUT, net.request(peer, SyncRequest::Blocks { from: start, count })).await {
                // Up to a range of 10 MiB blocks to parse and check: off the runtime.
                Ok(Ok(SyncResponse::Blocks(raw))) => match tokio::task::spawn_blocking(move || check_answer(&node, start, top, raw)).await {
                    Ok(r) => r.map_err(Some),
                    Err(_) => Err(None), // our check panicked or was cancelled: not the peer's fault
                },
                Ok(Ok(other)) => Err(Some((Severity::Minor, format!("answered Blocks with {other:?}")))),
                // No answer in time, or the connection broke: not proof of a lie (a minor
                // penalty), but sync does not wait for this peer again soon.
                Ok(Err(e)) => Err(Some((Severity::Minor, format!("block request from {start} failed: {e}")))),
                Err(_) => Err(Some((Severity::Minor, format!("no answer for blocks from {start} within {SYNC_ANSWER_TIMEOUT:?}")))),
            };
            (peer, start, res)
        });
    };
    for (peer, top, start, count) in asks {
        ask(&mut inflight, peer, top, start, count);
    }
    // A peer that fails us is out of the book for a while; the ranges it held wait for the
    // next step, served by the others.
    let drop_peer = |peer: PeerId, severity: Severity, why: String| {
        let d = book.bench(&peer);
        tracing::warn!(peer = %peer, bench_s = d.as_secs(), "sync: dropping a peer: {why}");
        net.penalize(peer, severity, why);
    };
    let mut ready: std::collections::BTreeMap<u64, (PeerId, Vec<SyncedBlock>)> = Default::default();
    // After a failed range the ranges beyond it cannot be imported this step: ask no more.
    let mut failed = false;
    let mut turn = 0usize;
    while let Some(done) = inflight.join_next().await {
        let Ok((peer, start, res)) = done else {
            failed = true;
            continue;
        };
        match res {
            Ok(blocks) => {
                ready.entry(start).or_insert((peer, blocks));
            }
            Err(Some((sev, why))) => {
                drop_peer(peer, sev, why);
                failed = true;
                continue;
            }
            Err(None) => {
                failed = true;
                continue;
            }
        }
        // Import every range that now continues the head.
        loop {
            let next = node.head().height + 1;
            let Some(start) = ready.range(..=next).next_back().map(|(s, _)| *s) else { break };
            let (peer, blocks) = ready.remove(&start).expect("listed above");
            let blocks: Vec<SyncedBlock> = blocks.into_iter().filter(|b| b.block.header.height >= next).collect();
            if blocks.is_empty() {
                continue;
            }
            if !import_range(node, &drop_peer, peer, blocks).await {
                return;
            }
        }
        // Keep SYNC_PARALLEL_REQUESTS ranges asked for, and no more than as many again
        // fetched and waiting for the ones before them (each range is at most 16 MiB).
        while !failed && inflight.len() < SYNC_PARALLEL_REQUESTS && inflight.len() + ready.len() < 2 * SYNC_PARALLEL_REQUESTS {
            let peers = book.ahead_of(from - 1);
            let Some(&(peer, top)) = peers.get(turn % peers.len().max(1)) else { break };
            turn += 1;
            let count = (MAX_BLOCKS_PER_REQUEST as u64).min(top - from + 1) as u32;
            ask(&mut inflight, peer, top, from, count);
            from += count as u64;
        }
    }
    if let Some(p) = node.sync.lock().as_mut() {
        p.current_block = node.head().height;
    }
}

/// Imports a certified range ([`cpc_engine::Engine::import_range`]: its synthetic results and
/// signatures checked on all cores, then the blocks in order, synced once at the end). False
/// when the range failed.
async fn import_range(
    node: &Arc<Node>,
    drop_peer: &impl Fn(PeerId, Severity, String),
    peer: PeerId,
    blocks: Vec<SyncedBlock>,
) -> bool {
    let n = node.clone();
    let res = tokio::task::spawn_blocking(move || n.engine.import_range(blocks).map(|_| ())).await;
    match res {
        Ok(Ok(())) => true,
        Ok(Err((_, None))) => false,
        Ok(Err((height, Some(e)))) => {
            if matches!(e, ImportError::Invalid(_) | ImportError::KnownInvalid(_) | ImportError::Certificate(_)) {
                drop_peer(peer, Severity::Major, format!("invalid block at {height}: {e}"));
            } else {
                tracing::warn!(peer = %peer, height, "sync: block not imported: {e}");
            }
            false
        }
        Err(_) => false,
    }
}
