//! Glue between the peer-to-peer network and the engine: gossip verdicts, serving sync
//! requests, peer heads, and the sync loop (docs/CONSENSUS.md, "Sync").
//!
//! The network crate only moves bytes; every decision (is this block valid, is this peer
//! lying) is made here and reported back as a verdict or a penalty.

use cpc_engine::{ImportError, Imported};
use crate::node::{Node, SyncProgress};
use cpc_mempool::AdmitError;
use cpc_network::{NetEvent, NetworkHandle, PeerId, Severity, Status, SyncRequest, SyncResponse, Verdict};
use cpc_primitives::{Block, ComputeResult, Transaction, TxType, H256};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Most blocks served or requested per sync request: ~2 MB each when full of transfers,
/// so a response stays well under the network's response size limit.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 64;
/// Most bytes of blocks in one sync response (the network refuses larger responses).
pub const MAX_SYNC_RESPONSE_BYTES: usize = cpc_network::MAX_RESPONSE_PAYLOAD_BYTES;
/// Most hashes served per `Hashes` request (covers the deepest reorg we apply).
pub const MAX_HASHES_PER_REQUEST: u32 = 1024;
/// How often the sync loop looks at peer heads.
const SYNC_TICK: Duration = Duration::from_millis(250);
/// How often peer heads are refreshed by asking for their status (gossip keeps them fresh
/// in between).
const STATUS_REFRESH: Duration = Duration::from_secs(2);
/// Range requests in flight per sync step, spread over the peers ahead of us (several to one
/// peer when few are ahead): 4 × 64 blocks keeps a fast link busy without hoarding memory.
const SYNC_PARALLEL_REQUESTS: usize = 4;
/// A node this many blocks behind its best peer counts as syncing (and does not propose);
/// one block behind is ordinary gossip latency.
pub const SYNC_LAG: u64 = 2;
/// Log sync progress at most this often.
const PROGRESS_LOG: Duration = Duration::from_secs(5);

/// The heads peers told us about.
#[derive(Default)]
pub struct PeerBook {
    heads: Mutex<HashMap<PeerId, Status>>,
}

impl PeerBook {
    pub fn set(&self, p: PeerId, s: Status) {
        self.heads.lock().insert(p, s);
    }
    pub fn raise(&self, p: &PeerId, height: u64, hash: H256) {
        if let Some(s) = self.heads.lock().get_mut(p) {
            if height > s.head_height {
                s.head_height = height;
                s.head_hash = hash;
            }
        }
    }
    pub fn remove(&self, p: &PeerId) {
        self.heads.lock().remove(p);
    }
    /// Peers whose head is above `height`, highest first.
    pub fn ahead_of(&self, height: u64) -> Vec<(PeerId, u64)> {
        let mut v: Vec<(PeerId, u64)> =
            self.heads.lock().iter().filter(|(_, s)| s.head_height > height).map(|(p, s)| (*p, s.head_height)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1));
        v
    }
    pub fn best_height(&self) -> Option<u64> {
        self.heads.lock().values().map(|s| s.head_height).max()
    }
}

fn status_of(node: &Node) -> Status {
    let head = node.head();
    Status {
        chain_id: node.engine.params().chain_id.clone(),
        genesis_hash: node.engine.genesis_hash(),
        head_height: head.height,
        head_hash: head.hash,
    }
}

/// Answers one sync request from the store.
fn serve(node: &Node, req: SyncRequest) -> SyncResponse {
    let res = (|| -> anyhow::Result<SyncResponse> {
        Ok(match req {
            SyncRequest::Status => SyncResponse::Status(status_of(node)),
            SyncRequest::Blocks { from, count } => {
                let head = node.head().height;
                let mut out = Vec::new();
                let mut bytes = 0usize;
                let end = from.saturating_add(count.min(MAX_BLOCKS_PER_REQUEST) as u64);
                for h in from..end.min(head + 1) {
                    let Some(hash) = node.engine.store().hash_at(h)? else { break };
                    let Some(b) = node.engine.store().block(&hash)? else { break };
                    let enc = b.to_json_bytes();
                    if !out.is_empty() && bytes + enc.len() > MAX_SYNC_RESPONSE_BYTES {
                        break;
                    }
                    bytes += enc.len();
                    out.push(enc);
                }
                SyncResponse::Blocks(out)
            }
            SyncRequest::Hashes { from, count } => {
                let mut out = Vec::new();
                for h in from..from.saturating_add(count.min(MAX_HASHES_PER_REQUEST) as u64) {
                    match node.engine.store().hash_at(h)? {
                        Some(x) => out.push(x),
                        None => break,
                    }
                }
                SyncResponse::Hashes(out)
            }
            SyncRequest::BlockByHash(h) => SyncResponse::Block(node.engine.store().block(&h)?.map(|b| b.to_json_bytes())),
        })
    })();
    res.unwrap_or_else(|e| SyncResponse::Error(e.to_string()))
}

/// Runs the network side of the node until `stop`.
pub async fn run(
    node: Arc<Node>,
    net: NetworkHandle,
    mut events: mpsc::Receiver<NetEvent>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let book = Arc::new(PeerBook::default());
    let mut sync_task = tokio::spawn(sync_loop(node.clone(), net.clone(), book.clone(), stop.clone()));
    let mut heads = node.engine.subscribe_heads();
    loop {
        let ev = tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => ev,
                None => anyhow::bail!("the network task closed its event channel"),
            },
            // The sync loop ends only at shutdown: anything else (a panic) is this service's failure.
            res = &mut sync_task => match res {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ if *stop.borrow() => break,
                _ => anyhow::bail!("the sync loop ended"),
            },
            _ = heads.changed() => {
                if !node.parked.lock().is_empty() {
                    let node = node.clone();
                    tokio::task::spawn_blocking(move || retry_parked(&node));
                }
                continue;
            }
            _ = stop.changed() => break,
        };
        match ev {
            NetEvent::PeerConnected(p) => {
                let (node, net, book) = (node.clone(), net.clone(), book.clone());
                tokio::spawn(async move { ask_status(&node, &net, &book, p).await });
            }
            NetEvent::PeerDisconnected(p) => book.remove(&p),
            NetEvent::GossipBlock { id, from, data } => {
                let (node, net, book) = (node.clone(), net.clone(), book.clone());
                tokio::spawn(async move {
                    let verdict = on_gossip_block(&node, &book, from, data).await;
                    net.report_gossip(id, from, verdict);
                });
            }
            NetEvent::GossipTx { id, from, data } => {
                let (node, net) = (node.clone(), net.clone());
                tokio::spawn(async move {
                    let verdict = tokio::task::spawn_blocking({
                        let node = node.clone();
                        move || on_gossip_tx(&node, &data)
                    })
                    .await
                    .unwrap_or(Verdict::Ignore);
                    net.report_gossip(id, from, verdict);
                });
            }
            NetEvent::Request { peer: _, req, reply } => {
                let node = node.clone();
                tokio::spawn(async move {
                    if let Ok(resp) = tokio::task::spawn_blocking(move || serve(&node, req)).await {
                        let _ = reply.send(resp);
                    }
                });
            }
        }
    }
    sync_task.abort();
    Ok(())
}

async fn ask_status(node: &Node, net: &NetworkHandle, book: &PeerBook, p: PeerId) {
    match net.request(p, SyncRequest::Status).await {
        Ok(SyncResponse::Status(s)) => {
            if s.chain_id != node.engine.params().chain_id || s.genesis_hash != node.engine.genesis_hash() {
                net.penalize(p, Severity::Fatal, format!("another chain: {} / genesis {}", s.chain_id, s.genesis_hash));
                return;
            }
            book.set(p, s);
        }
        Ok(other) => net.penalize(p, Severity::Major, format!("answered Status with {other:?}")),
        Err(e) => tracing::debug!(peer = %p, "status request failed: {e}"),
    }
}

/// The verdict on a gossiped transaction. A synthetic result is relayed (Accept) only after
/// this node recomputed it fully; one for a tip this node does not know yet (the block is
/// still on its way, or the result's tip just left the window) is ignored — never a penalty,
/// that is the network's timing — and parked to be tried again on the next heads.
fn on_gossip_tx(node: &Arc<Node>, data: &[u8]) -> Verdict {
    let Ok(tx) = Transaction::from_json_slice(data) else { return Verdict::Reject };
    admit_gossiped(node, tx, true)
}

fn admit_gossiped(node: &Arc<Node>, tx: Transaction, park: bool) -> Verdict {
    let parked = park.then(|| tx.clone());
    match node.engine.admit(tx) {
        Ok(a) => {
            if let Some((r, tip)) = &a.synthetic
                && !node.engine.verify_admitted(r, tip)
            {
                // Forged work: the relaying peer should have recomputed it before relaying.
                return Verdict::Reject;
            }
            Verdict::Accept
        }
        Err(AdmitError::Synthetic(e)) if e.is_unknown_tip() => {
            if let Some(tx) = parked {
                let mut q = node.parked.lock();
                if q.len() >= crate::node::MAX_PARKED_RESULTS {
                    q.pop_front();
                }
                q.push_back((Instant::now(), tx));
            }
            Verdict::Ignore
        }
        // Invalid on its own, or forged / not a share for a tip we know: the sender relayed garbage.
        Err(AdmitError::Invalid(_)) | Err(AdmitError::Synthetic(_)) => Verdict::Reject,
        // Valid but not for us now (known, nonce race, pool full, our forger cooldown…): drop quietly.
        Err(_) => Verdict::Ignore,
    }
}

/// Re-offers parked results after a new head: those whose tip arrived are admitted (and
/// relayed by us, since gossip already dropped them); the rest wait until they expire.
fn retry_parked(node: &Arc<Node>) {
    let now = Instant::now();
    let waiting: Vec<(Instant, Transaction)> = node.parked.lock().drain(..).collect();
    let mut still = Vec::new();
    for (at, tx) in waiting {
        if now.duration_since(at) > crate::node::PARKED_RESULT_TTL {
            continue;
        }
        let bytes = tx.canonical_json();
        match node.engine.admit(tx.clone()) {
            Ok(a) => {
                let ok = a.synthetic.as_ref().is_none_or(|(r, tip)| node.engine.verify_admitted(r, tip));
                if ok {
                    if let Some(net) = node.net.get() {
                        net.publish_tx(bytes);
                    }
                }
            }
            Err(AdmitError::Synthetic(e)) if e.is_unknown_tip() => still.push((at, tx)),
            Err(_) => {}
        }
    }
    let mut q = node.parked.lock();
    for item in still {
        if q.len() < crate::node::MAX_PARKED_RESULTS {
            q.push_back(item);
        }
    }
}

async fn on_gossip_block(node: &Arc<Node>, book: &PeerBook, from: PeerId, data: Vec<u8>) -> Verdict {
    // A Reject verdict is the penalty for gossip (the network lowers the sender's score).
    let Ok(block) = Block::from_json_slice(&data) else {
        tracing::warn!(peer = %from, bytes = data.len(), "undecodable block from peer");
        return Verdict::Reject;
    };
    let (height, hash, ts) = (block.header.height, block.hash(), block.header.timestamp);
    let n = node.clone();
    let res = tokio::task::spawn_blocking(move || n.engine.import_block(block)).await;
    match res {
        Ok(Ok(imported @ (Imported::Extended(_) | Imported::Reorg { .. } | Imported::Side))) => {
            let latency_ms = cpc_primitives::now_millis().saturating_sub(ts);
            tracing::debug!(peer = %from, height, %hash, latency_ms, ?imported, "imported gossiped block");
            book.raise(&from, height, hash);
            Verdict::Accept
        }
        Ok(Ok(Imported::Known)) => Verdict::Ignore,
        Ok(Ok(Imported::Orphan { .. })) => {
            // We are behind: the sync loop fetches the gap from this peer.
            book.raise(&from, height, hash);
            Verdict::Ignore
        }
        Ok(Err(ImportError::Invalid(e))) => {
            tracing::warn!(peer = %from, height, "invalid block from peer: {e}");
            Verdict::Reject
        }
        Ok(Err(ImportError::KnownInvalid(_))) => {
            tracing::warn!(peer = %from, height, "known invalid block from peer");
            Verdict::Reject
        }
        Ok(Err(e)) => {
            tracing::warn!(height, "block import failed: {e}");
            Verdict::Ignore
        }
        Err(_) => Verdict::Ignore,
    }
}

async fn sync_loop(node: Arc<Node>, net: NetworkHandle, book: Arc<PeerBook>, mut stop: watch::Receiver<bool>) {
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
    if node.sync.lock().take().is_some() {
        if let Some((t, h0)) = started.take() {
            let h = node.head().height;
            let secs = t.elapsed().as_secs_f64();
            tracing::info!(height = h, blocks = h - h0, secs, "synced: following the tip");
        }
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
            preverify_synthetic(&n, &all);
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

/// Verifies every synthetic result of `blocks` in parallel, filling the node's cache.
fn preverify_synthetic(node: &Node, blocks: &[&Block]) {
    let by_height: HashMap<u64, cpc_consensus::WindowTip> =
        blocks.iter().map(|b| (b.header.height, (b.hash(), b.header.share_target))).collect();
    let mut items: Vec<(ComputeResult, H256)> = Vec::new();
    for b in blocks {
        let range = cpc_consensus::window_heights(b.header.height, node.engine.params().poc.window);
        let (lo, hi) = (*range.start(), *range.end());
        let window: Vec<cpc_consensus::WindowTip> = range
            .filter_map(|h| {
                by_height.get(&h).copied().or_else(|| node.engine.store().canon_at(h).ok().flatten().map(|e| (e.hash, e.share_target)))
            })
            .collect();
        for tx in b.transactions.iter().filter(|t| t.tx_type == TxType::SubmitResult) {
            let Ok(r) = ComputeResult::from_payload(&tx.payload) else { continue };
            if !cpc_consensus::is_synthetic(&r) {
                continue;
            }
            if let Ok(tip) = node.engine.poc().locate_tip(&r, &window, lo, hi) {
                items.push((r, tip.0));
            }
        }
    }
    if items.len() > 1 {
        let refs: Vec<(&ComputeResult, H256)> = items.iter().map(|(r, t)| (r, *t)).collect();
        let started = Instant::now();
        let _ = node.engine.poc().verify_many(&refs);
        node.engine.metrics().observe_verify("sync", started.elapsed().as_secs_f64());
    }
}
