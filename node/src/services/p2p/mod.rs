//! Glue between the peer-to-peer network and the engine: gossip verdicts, serving sync
//! requests, peer heads, and the sync loop (docs/CONSENSUS.md, "Sync").
//!
//! The network crate only moves bytes; every decision (is this block valid, is this peer
//! lying) is made here and reported back as a verdict or a penalty.

mod blobs;
mod sync;

use crate::node::Node;
use cpc_engine::{ImportError, Imported};
use cpc_mempool::AdmitError;
use cpc_network::{NetEvent, NetworkHandle, PeerBook, PeerId, Severity, Status, SyncRequest, SyncResponse, Verdict};
use cpc_primitives::{Block, Transaction};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Most blocks served or requested per sync request: ~2 MB each when full of transfers,
/// so a response stays well under the network's response size limit.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 64;
/// Most bytes of blocks in one sync response (the network refuses larger responses).
pub const MAX_SYNC_RESPONSE_BYTES: usize = cpc_network::MAX_RESPONSE_PAYLOAD_BYTES;
/// How often the sync loop looks at peer heads.
pub(crate) const SYNC_TICK: Duration = Duration::from_millis(250);
/// How often peer heads are refreshed by asking for their status (gossip keeps them fresh
/// in between).
pub(crate) const STATUS_REFRESH: Duration = Duration::from_secs(2);
/// Range requests in flight per sync step, spread over the peers ahead of us (several to one
/// peer when few are ahead): 4 × 64 blocks keeps a fast link busy without hoarding memory.
pub(crate) const SYNC_PARALLEL_REQUESTS: usize = 4;
/// How long the sync loop waits for one peer's range before it benches the peer and goes on
/// with the others: a full answer (16 MiB) over a ~2 MB/s link. An honest peer on any sane link
/// answers far sooner; a peer that claims a head and sits on the request costs this once.
pub(crate) const SYNC_ANSWER_TIMEOUT: Duration = Duration::from_secs(8);
/// A node this many blocks behind its best peer counts as syncing (and does not propose);
/// one block behind is ordinary gossip latency.
pub const SYNC_LAG: u64 = 2;
/// Log sync progress at most this often.
pub(crate) const PROGRESS_LOG: Duration = Duration::from_secs(5);

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
            SyncRequest::Blocks { from, count } => SyncResponse::Blocks(node.engine.encoded_blocks(
                from,
                count.min(MAX_BLOCKS_PER_REQUEST) as u64,
                MAX_SYNC_RESPONSE_BYTES,
            )?),
            SyncRequest::BlockByHash(h) => SyncResponse::Block(node.engine.store().block(&h)?.map(|b| b.to_json_bytes())),
            SyncRequest::BlobManifest(root) => {
                use cpc_state::StateView;
                SyncResponse::BlobManifest(node.engine.store().blob(&root)?.map(|b| cpc_primitives::blob::BlobManifest::of(&b).encode()))
            }
            SyncRequest::BlobChunk { root, index } => {
                use cpc_state::StateView;
                SyncResponse::BlobChunk(node.engine.store().blob(&root)?.and_then(|b| b.chunk(index).map(<[u8]>::to_vec)))
            }
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
    let mut sync_task = tokio::spawn(sync::sync_loop(node.clone(), net.clone(), book.clone(), stop.clone()));
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
                    let verdict = on_gossip_txs(&node, &net, from, data).await;
                    net.report_gossip(id, from, verdict);
                });
            }
            NetEvent::GossipEvidence { id, from, data } => {
                let node = node.clone();
                let verdict = tokio::task::spawn_blocking(move || on_gossip_evidence(&node, &data)).await.unwrap_or(Verdict::Ignore);
                net.report_gossip(id, from, verdict);
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

pub(crate) async fn ask_status(node: &Node, net: &NetworkHandle, book: &PeerBook, p: PeerId) {
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

/// The verdict on one tx-topic message (one transaction or a batch, cpc_network::txbatch):
/// Reject when it is malformed or any transaction in it is one the relaying peer should not
/// have relayed, otherwise Accept (relay it) when this node admitted at least one.
async fn on_gossip_txs(node: &Arc<Node>, net: &NetworkHandle, from: PeerId, data: Vec<u8>) -> Verdict {
    let Ok(txs) = cpc_network::decode_tx_gossip(&data) else { return Verdict::Reject };
    let txs: Vec<Arc<Vec<u8>>> = txs.into_iter().map(|t| Arc::new(t.to_vec())).collect();
    // Admission of the whole message on one blocking thread; market transactions whose data
    // this node does not hold yet come back to be fetched and admitted again.
    let (mut verdicts, waiting) = tokio::task::spawn_blocking({
        let node = node.clone();
        move || {
            let mut verdicts = Vec::with_capacity(txs.len());
            let mut waiting = Vec::new();
            for tx in txs {
                match on_gossip_tx(&node, &tx) {
                    (_, Some(want)) => waiting.push((tx, want)),
                    (v, None) => verdicts.push(v),
                }
            }
            (verdicts, waiting)
        }
    })
    .await
    .unwrap_or_default();
    for (tx, mut want) in waiting {
        // Fetch from the relaying peer and admit again. Three blobs at most: A, B and a
        // result's C.
        let mut fetched = 0;
        let verdict = loop {
            if fetched == 3 || !blobs::fetch(node, net, from, want).await {
                break Verdict::Ignore;
            }
            fetched += 1;
            let (verdict, missing) = tokio::task::spawn_blocking({
                let (node, tx) = (node.clone(), tx.clone());
                move || on_gossip_tx(&node, &tx)
            })
            .await
            .unwrap_or((Verdict::Ignore, None));
            match missing {
                Some(w) => want = w,
                None => break verdict,
            }
        };
        verdicts.push(verdict);
    }
    if verdicts.contains(&Verdict::Reject) {
        Verdict::Reject
    } else if verdicts.contains(&Verdict::Accept) {
        Verdict::Accept
    } else {
        Verdict::Ignore
    }
}

/// The verdict on a gossiped transaction. A synthetic result is relayed (Accept) only after
/// this node recomputed it fully; one for a tip this node does not know yet (the block is
/// still on its way, or the result's tip just left the window) is ignored — never a penalty,
/// that is the network's timing — and parked to be tried again on the next heads.
/// The verdict on a gossiped transaction, and the root of a market blob it needs and this
/// node does not hold (the caller fetches it and asks again).
fn on_gossip_tx(node: &Arc<Node>, data: &[u8]) -> (Verdict, Option<blobs::Want>) {
    let Ok(tx) = Transaction::from_json_slice(data) else { return (Verdict::Reject, None) };
    // Only a result can wait for its tip: keep a copy of those alone (transfers are the hot path).
    let parked = (tx.tx_type == cpc_primitives::TxType::SubmitResult).then(|| tx.clone());
    match node.engine.admit(tx) {
        Err(AdmitError::Market(cpc_consensus::MarketDataError::BlobMissing { root, kind, rows, cols, .. })) => {
            (Verdict::Ignore, Some(blobs::Want { root, kind, rows, cols }))
        }
        res => (gossip_verdict(node, parked, res), None),
    }
}

fn gossip_verdict(node: &Arc<Node>, parked: Option<Transaction>, res: Result<cpc_engine::Admitted, AdmitError>) -> Verdict {
    match res {
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
        // Valid but not for us now (known, nonce race, pool full, our forger cooldown, market
        // data this node does not hold yet…): drop quietly.
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
                if ok
                    && let Some(net) = node.net.get() {
                        net.publish_tx(bytes);
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

/// The verdict on gossiped evidence: kept and relayed when it proves an equivocation by a
/// validator and is new; a forgery is the sender's fault.
fn on_gossip_evidence(node: &Node, data: &[u8]) -> Verdict {
    let e = match cpc_consensus::Evidence::from_json_slice(data) {
        Ok(e) => e,
        Err(_) => return Verdict::Reject,
    };
    match node.engine.record_evidence(&e) {
        Ok(true) => Verdict::Accept,
        Ok(false) => Verdict::Ignore,
        Err(cpc_engine::EvidenceRecordError::Invalid(err)) => {
            tracing::warn!("invalid evidence from a peer: {err}");
            Verdict::Reject
        }
        Err(err) => {
            tracing::warn!("evidence not kept: {err}");
            Verdict::Ignore
        }
    }
}

/// The verdict on a gossiped block with its certificate (full nodes; a validator has its
/// blocks from consensus). Reject is the gossip penalty: an undecodable message, a certificate
/// that does not verify, a certified block that does not execute — an honest node checks all
/// of that before relaying. A block beyond our head is the network's timing: ignored, and sync
/// fetches the gap.
async fn on_gossip_block(node: &Arc<Node>, book: &PeerBook, from: PeerId, data: Vec<u8>) -> Verdict {
    if node.bft_mode() {
        return Verdict::Ignore;
    }
    // Decoding a gossiped block (up to 10 MiB of JSON) and hashing it run off the runtime,
    // with the import.
    let n = node.clone();
    let res = tokio::task::spawn_blocking(move || {
        let (block, cert) = Block::decode_certified(&data).map_err(|e| (data.len(), e))?;
        let meta = (block.header.height, block.hash(), block.header.timestamp);
        let cert = cert.to_vec();
        Ok::<_, (usize, _)>((meta, n.engine.import_block(block, &cert)))
    })
    .await;
    let ((height, hash, ts), res) = match res {
        Ok(Ok((meta, imported))) => (meta, imported),
        Ok(Err((bytes, e))) => {
            tracing::warn!(peer = %from, bytes, "undecodable block from peer: {e}");
            return Verdict::Reject;
        }
        Err(_) => return Verdict::Ignore,
    };
    match res {
        Ok(Imported::Extended(_)) => {
            let latency_ms = cpc_primitives::now_millis().saturating_sub(ts);
            tracing::debug!(peer = %from, height, %hash, latency_ms, "imported gossiped block");
            book.raise(&from, height, hash);
            Verdict::Accept
        }
        Ok(Imported::Known) => Verdict::Ignore,
        Ok(Imported::Ahead { .. }) => {
            // Certified, but we are behind: the sync loop fetches the gap.
            book.raise(&from, height, hash);
            Verdict::Ignore
        }
        Err(e @ (ImportError::Invalid(_) | ImportError::KnownInvalid(_) | ImportError::Certificate(_))) => {
            tracing::warn!(peer = %from, height, "invalid block from peer: {e}");
            Verdict::Reject
        }
        Err(e) => {
            tracing::warn!(peer = %from, height, "block import failed: {e}");
            Verdict::Ignore
        }
    }
}
