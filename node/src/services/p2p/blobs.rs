//! Fetching task-market blobs from peers (docs/MARKET.md, Data): a gossiped POST_JOB or job
//! result whose data this node does not hold is admitted only once the data is here, so the
//! node asks the relaying peer (which admitted it, so holds it), then the others, for the blob
//! by its content root over the sync protocol, and keeps it only if its root is the one asked
//! for. A peer that answers with other bytes is penalised: the root is a hash, so that is no
//! matter of timing.

use crate::node::Node;
use cpc_network::{NetworkHandle, PeerId, Severity, SyncRequest, SyncResponse};
use cpc_primitives::blob::Blob;
use cpc_primitives::H256;
use std::time::Duration;

/// How long one peer has to send one blob (4 MiB at most).
const BLOB_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Peers asked for one blob, the relaying peer first.
const MAX_PEERS_ASKED: usize = 4;

/// Asks peers for the blob under `root` and keeps it; returns whether it is now held.
pub(crate) async fn fetch(node: &Node, net: &NetworkHandle, first: PeerId, root: H256) -> bool {
    let mut peers = vec![first];
    for p in net.connected_peer_ids().await {
        if p != first && peers.len() < MAX_PEERS_ASKED {
            peers.push(p);
        }
    }
    for peer in peers {
        let bytes = match net.request_with_timeout(peer, SyncRequest::Blob(root), BLOB_REQUEST_TIMEOUT).await {
            Ok(SyncResponse::Blob(Some(b))) => b,
            Ok(_) => continue, // not held there
            Err(e) => {
                tracing::debug!(%peer, %root, "blob request: {e}");
                continue;
            }
        };
        let blob = match Blob::decode(&bytes) {
            Ok(b) if b.root() == root => b,
            Ok(b) => {
                net.penalize(peer, Severity::Major, format!("sent blob {} for {root}", b.root()));
                continue;
            }
            Err(e) => {
                net.penalize(peer, Severity::Major, format!("sent an undecodable blob for {root}: {e}"));
                continue;
            }
        };
        let store = node.engine.store();
        match tokio::task::block_in_place(|| store.put_blob(&blob)) {
            Ok(_) => {
                tracing::debug!(%peer, %root, bytes = blob.data.len(), "blob fetched");
                return true;
            }
            Err(e) => {
                tracing::warn!(%root, "keeping a fetched blob: {e}");
                return false;
            }
        }
    }
    false
}
