//! Fetching task-market blobs from peers (docs/MARKET.md, Between nodes): a gossiped POST_JOB
//! or job result whose data this node does not hold is admitted only once the data is here, so
//! the node asks the relaying peer for the blob by its content root over the sync protocol, in
//! verifiable pieces: first the manifest (shape and row leaves), checked against the root and
//! the rows the transaction needs (their count and length; the kind is a reading of them), then chunks of whole rows (at most 256 KiB), each checked
//! against its leaves as it arrives. A peer that sends wrong data is caught at its first wrong
//! chunk and nothing unchecked is kept.
//!
//! Only the relaying peer is asked: it admitted the transaction, which an honest node does only
//! once it holds the data, so it can always serve it; asking others too would let anyone make
//! this node send requests all over the network with transactions that cost nothing (never
//! admitted, they pay no fee). A relayer that answers with other bytes (a manifest that is not
//! the root's or not the rows needed, a chunk whose rows are not its leaves) is penalised as
//! major, one that holds nothing as minor: a root is a hash and its own admission needed the
//! data, so neither is a matter of timing. A slow answer is never penalised. At most
//! [`MAX_CONCURRENT_FETCHES`] fetches run at once; past that the transaction is dropped
//! quietly (it comes again by gossip, or with its block).

use crate::node::Node;
use cpc_network::{NetworkHandle, PeerId, Severity, SyncRequest, SyncResponse};
use cpc_primitives::blob::{BlobAssembly, BlobKind, BlobManifest};
use cpc_primitives::H256;
use std::time::Duration;

/// How long one peer has to send one manifest (≤ 128 KiB) or one chunk (≤ 256 KiB).
const PIECE_TIMEOUT: Duration = Duration::from_secs(5);
/// Blob fetches in flight at once (each up to 4 MiB).
pub const MAX_CONCURRENT_FETCHES: usize = 8;

static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_FETCHES);

/// The blob a transaction needs: its root and the shape it must have there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Want {
    pub root: H256,
    pub kind: BlobKind,
    pub rows: u32,
    pub cols: u32,
}

/// Asks the relaying peer for the blob `want` names and keeps it; returns whether it is now held.
pub(crate) async fn fetch(node: &Node, net: &NetworkHandle, relayer: PeerId, want: Want) -> bool {
    let Ok(_permit) = IN_FLIGHT.try_acquire() else {
        tracing::debug!(root = %want.root, "blob fetches at their limit: the transaction is dropped");
        return false;
    };
    let root = want.root;
    let peer = relayer;
    let bad = |why: String| net.penalize(peer, Severity::Major, format!("sent data that is not blob {root}: {why}"));
    let manifest = match net.request_with_timeout(peer, SyncRequest::BlobManifest(root), PIECE_TIMEOUT).await {
        Ok(SyncResponse::BlobManifest(Some(b))) => b,
        Ok(SyncResponse::BlobManifest(None)) => {
            net.penalize(peer, Severity::Minor, format!("relayed a market transaction without serving its blob {root}"));
            return false;
        }
        Ok(_) => return false,
        Err(e) => {
            tracing::debug!(%peer, %root, "blob manifest request: {e}");
            return false;
        }
    };
    let needed_row_bytes = want.cols as usize * want.kind.bytes_per_entry();
    let manifest = match BlobManifest::decode_for(&manifest, &root) {
        // The same rows under another reading (int8 of 4c columns for int32 of c) are the same
        // data: the relayer may hold that reading; it is kept as the one needed.
        Ok(m) if m.rows == want.rows && m.row_bytes() == needed_row_bytes => BlobManifest { kind: want.kind, cols: want.cols, ..m },
        Ok(m) => {
            bad(format!("a {} x {} {:?} matrix, the transaction needs {} x {} {:?}", m.rows, m.cols, m.kind, want.rows, want.cols, want.kind));
            return false;
        }
        Err(e) => {
            bad(e);
            return false;
        }
    };
    let chunks = manifest.chunks();
    let mut asm = BlobAssembly::new(manifest);
    while let Some(index) = asm.next_chunk() {
        let bytes = match net.request_with_timeout(peer, SyncRequest::BlobChunk { root, index }, PIECE_TIMEOUT).await {
            Ok(SyncResponse::BlobChunk(Some(b))) => b,
            Ok(SyncResponse::BlobChunk(None)) => {
                net.penalize(peer, Severity::Minor, format!("served the manifest of blob {root} but not its chunk {index} of {chunks}"));
                return false;
            }
            Ok(_) => return false,
            Err(e) => {
                tracing::debug!(%peer, %root, index, "blob chunk request: {e}");
                return false;
            }
        };
        if let Err(e) = asm.add(&bytes) {
            bad(e);
            return false;
        }
    }
    let blob = match asm.finish() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(%root, "assembling a fetched blob: {e}");
            return false;
        }
    };
    let store = node.engine.store();
    match tokio::task::block_in_place(|| store.put_blob(&blob)) {
        Ok(_) => {
            tracing::debug!(%peer, %root, bytes = blob.data.len(), chunks, "blob fetched");
            true
        }
        Err(e) => {
            tracing::warn!(%root, "keeping a fetched blob: {e}");
            false
        }
    }
}
