//! Fetching task-market blobs from peers (docs/MARKET.md, Data): a gossiped POST_JOB or job
//! result whose data this node does not hold is admitted only once the data is here, so the
//! node asks the relaying peer for the blob by its content root over the sync protocol and
//! keeps it only if its root is the one asked for. Only the relaying peer: it admitted the
//! transaction, which an honest node does only once it holds the data, so it can always serve
//! it; asking others too would let anyone make this node send requests all over the network
//! with transactions that cost nothing (never admitted, they pay no fee). A relayer that
//! answers with other bytes, or holds nothing, is penalised: a root is a hash, and its own
//! admission needed the data, so neither is a matter of timing. At most
//! [`MAX_CONCURRENT_FETCHES`] fetches run at once; past that the transaction is dropped
//! quietly (it comes again by gossip, or with its block).

use crate::node::Node;
use cpc_network::{NetworkHandle, PeerId, Severity, SyncRequest, SyncResponse};
use cpc_primitives::blob::Blob;
use cpc_primitives::H256;
use std::time::Duration;

/// How long one peer has to send one blob (4 MiB at most).
const BLOB_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Blob fetches in flight at once (each up to 4 MiB).
pub const MAX_CONCURRENT_FETCHES: usize = 8;

static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_FETCHES);

/// Asks the relaying peer for the blob under `root` and keeps it; returns whether it is now held.
pub(crate) async fn fetch(node: &Node, net: &NetworkHandle, relayer: PeerId, root: H256) -> bool {
    let Ok(_permit) = IN_FLIGHT.try_acquire() else {
        tracing::debug!(%root, "blob fetches at their limit: the transaction is dropped");
        return false;
    };
    {
        let peer = relayer;
        let bytes = match net.request_with_timeout(peer, SyncRequest::Blob(root), BLOB_REQUEST_TIMEOUT).await {
            Ok(SyncResponse::Blob(Some(b))) => b,
            Ok(SyncResponse::Blob(None)) => {
                net.penalize(peer, Severity::Minor, format!("relayed a market transaction without serving its blob {root}"));
                return false;
            }
            Ok(_) => return false,
            Err(e) => {
                tracing::debug!(%peer, %root, "blob request: {e}");
                return false;
            }
        };
        let blob = match Blob::decode(&bytes).and_then(|b| b.with_root(&root)) {
            Ok(b) => b,
            Err(e) => {
                net.penalize(peer, Severity::Major, format!("sent a blob that is not {root}: {e}"));
                return false;
            }
        };
        let store = node.engine.store();
        match tokio::task::block_in_place(|| store.put_blob(&blob)) {
            Ok(_) => {
                tracing::debug!(%peer, %root, bytes = blob.data.len(), "blob fetched");
                true
            }
            Err(e) => {
                tracing::warn!(%root, "keeping a fetched blob: {e}");
                false
            }
        }
    }
}
