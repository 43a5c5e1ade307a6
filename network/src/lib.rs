//! cpc-network: the node's libp2p edge.
//!
//! It moves bytes and never decides validity: blocks and transactions travel as opaque
//! `Vec<u8>`; the node validates them and reports a [`Verdict`] (gossip) or calls
//! [`NetworkHandle::penalize`]. What the network itself enforces is framing: message sizes,
//! request bounds, per-peer message rates, the chain/genesis match, `max_peers` and bans.
//!
//! Protocols (TCP + Noise + Yamux):
//! - identify: protocol version `/cpc/id/1/<chain_id>/<genesis hash hex>` (the chain and genesis
//!   ride in it, so a peer on another genesis is found and banned right after connecting),
//!   agent `cpcd/<crate version>`;
//! - ping;
//! - Kademlia on `/cpc/<chain_id>/kad/1` (server mode) for peer discovery;
//! - gossipsub topics `/cpc/<chain_id>/blocks/1` and `/cpc/<chain_id>/txs/1`, strict signing,
//!   content-addressed message ids (SHA-256 of the data), forwarded only after `Accept`;
//! - request-response `/cpc/<chain_id>/sync/1` (CBOR, bounded sizes, see [`codec`]).
//!
//! A peer is announced to the node ([`NetEvent::PeerConnected`]) once identify has confirmed its
//! chain and genesis *and* it has subscribed to the blocks topic, so the node can gossip to it
//! and sync from it at once. [`NetworkHandle::peers`] and [`NetworkHandle::peer_count`] count
//! announced peers.

// NetError carries PeerIds (80 bytes each) and, for WrongChain, both chain ids and genesis
// hashes; it is returned once per failed request or start-up, so its size does not matter.
#![allow(clippy::result_large_err)]

mod book;
pub mod codec;
mod gate;
mod key;
mod peers;
mod service;
pub mod txbatch;

pub use key::{NODE_KEY_FILE, load_or_create_node_key, node_key_path, peer_id_from_key_file};
pub use libp2p::gossipsub::MessageId;
pub use book::PeerBook;
pub use service::message_id_of;
pub use txbatch::{decode_tx_gossip, encode_tx_gossip};
pub use libp2p::{Multiaddr, PeerId};

use cpc_primitives::H256;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------------
// Limits and timeouts
// ---------------------------------------------------------------------------------------------

/// Largest gossiped payload (a block), 10 MiB. Consensus caps a block at
/// `max_txs_per_block` (10 000 by default) transactions; typical transfers encode to a few
/// hundred bytes of canonical JSON, so a full block is a few MB and 10 MiB leaves about 2x
/// headroom. A block above this cannot be gossiped (publish logs and drops it); the producer
/// should stay below it.
pub const MAX_GOSSIP_BYTES: usize = 10 << 20;
/// Largest gossiped transaction, 256 KiB. Consensus caps a transaction at 96 KiB
/// (`cpc_consensus::MAX_TX_BYTES`; this crate does not depend on consensus): 2.5x headroom,
/// while keeping a flooding peer from pushing block-sized junk on the tx topic.
pub const MAX_GOSSIP_TX_BYTES: usize = 256 << 10;
/// Largest evidence payload gossiped: one double vote or double proposal is ~600 bytes of JSON.
pub const MAX_GOSSIP_EVIDENCE_BYTES: usize = 4 << 10;
/// Room for gossipsub's protobuf envelope around a payload (topic, 64-byte signature, public
/// key, sequence number, source, and control messages sharing the frame). The wire limit is
/// payload limit + this, so a payload of exactly the limit is still accepted.
const GOSSIP_FRAME_OVERHEAD: usize = 64 << 10;

/// Heartbeats (1 s each, gossipsub's default) a delivered message stays in gossipsub's cache
/// waiting for the node's verdict, 12 s (gossipsub's default is 5). Accept after this finds
/// nothing to forward. Block validation includes proof checks that can take seconds; 12 s of
/// traffic held in memory is ~30 MB at the load generator's rates.
const GOSSIP_VERDICT_WINDOW_HEARTBEATS: usize = 12;

/// Largest encoded sync request, 4 KiB. The biggest request (`BlockByHash`) is ~80 bytes of
/// CBOR; anything near this is not one of ours.
pub const MAX_REQUEST_BYTES: usize = 4 << 10;
/// Largest encoded sync response, 16 MiB: one maximal block (MAX_GOSSIP_BYTES) fits with
/// ample room, and a whole response can cross a slow (1 MB/s) link within
/// SYNC_REQUEST_TIMEOUT. A larger answer is refused by the requester
/// ([`NetError::ResponseTooLarge`]).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Budget for the sum of the block payload sizes in one `Blocks` answer: the node adds blocks
/// in height order while the running total stays within this and returns fewer than `count`
/// when the next one would not fit (the requester continues from the next height). The 64 KiB
/// margin covers CBOR framing (at most 9 bytes per block, a few bytes for the enum).
pub const MAX_RESPONSE_PAYLOAD_BYTES: usize = MAX_RESPONSE_BYTES - (64 << 10);
/// Most blocks one `Blocks` request may ask for. 128 small blocks per round trip keeps initial
/// sync round-trip-bound rather than chatty; large blocks are bounded by the byte budget anyway.
pub const MAX_BLOCKS_PER_REQUEST: u32 = 128;
/// How long one sync exchange may take end to end (request, the remote node's answer, the
/// transfer), 20 s: a full MAX_RESPONSE_BYTES answer over a ~1 MB/s link plus the remote's disk
/// reads. Also how long the remote node has to answer an inbound request before the network
/// answers `Error` for it.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Concurrent sync streams per connection (both directions). A syncing node pipelines a few
/// requests per peer; 32 leaves room for Status probes and bounds the memory a peer can pin.
const SYNC_MAX_CONCURRENT_STREAMS: usize = 32;

/// Score penalty for a minor offence (an undecodable or out-of-bounds request, going over a
/// rate limit). Ten of them without recovery get a peer banned.
pub const MINOR_PENALTY: i32 = -10;
/// Score penalty for a major offence (a rejected gossip message, e.g. an invalid block).
/// Two of them within SCORE_RECOVERY_GRACE of each other get a peer banned.
pub const MAJOR_PENALTY: i32 = -50;
/// A peer whose score falls to this is disconnected and banned. Scores start at 0.
pub const BAN_THRESHOLD: i32 = -100;
/// How long a ban lasts, 10 minutes: long enough to stop a misbehaving peer's reconnect loop
/// (and keep a wrong-genesis peer from being rediscovered every few seconds), short enough that
/// an honest peer on a bad build comes back after it is fixed.
pub const BAN_DURATION: Duration = Duration::from_secs(10 * 60);
/// How the network penalises the forwarder of a gossip message the node `Reject`ed.
pub const GOSSIP_REJECT_SEVERITY: Severity = Severity::Major;
/// Points a negative score recovers per MAINTENANCE_INTERVAL (1 s): a minor offence is
/// forgiven after 10 s, a major one after 50 s; only sustained misbehaviour leads to a ban.
pub const SCORE_RECOVERY_PER_TICK: i32 = 1;
/// A score starts to recover only once its peer has gone this long without a new penalty, so
/// offences close together add up in full: without it, a maintenance tick falling between two
/// major offences 50 ms apart left the peer at -99 instead of banned. 10 s spans a burst of
/// bad gossip; a peer that offends less often than that still recovers (the recovery above).
pub const SCORE_RECOVERY_GRACE: Duration = Duration::from_secs(10);

/// The window for per-peer rate limits.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Gossip messages one peer may deliver per RATE_WINDOW, 5000. The load generator pushes
/// thousands of transactions per second into one node, which relays each to its peers; a lower
/// cap would punish honest relays under benchmark load. Excess messages are dropped unseen by
/// the node and the peer gets one MINOR_PENALTY per window.
pub const MAX_GOSSIP_PER_PEER_PER_SEC: u32 = 5_000;
/// Sync requests one peer may make per RATE_WINDOW, 100: a syncing peer keeps a handful in
/// flight; excess ones are answered `Error` without reaching the node, with one MINOR_PENALTY
/// per window.
pub const MAX_REQUESTS_PER_PEER_PER_SEC: u32 = 100;

/// A new connection must complete identify (chain check) and subscribe to the blocks topic
/// within this, 10 s, or it is closed: a cpcd peer does both within a round trip or two.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the network redials bootnodes it is not connected to (while below max_peers and
/// not isolated), 10 s: quick recovery after a restart without hammering a down bootnode.
pub const BOOTNODE_REDIAL_INTERVAL: Duration = Duration::from_secs(10);
/// Longest pause between two Kademlia bootstraps (a walk towards our own id that discovers
/// peers), 30 s, reached in a quiet network.
pub const KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(30);
/// Shortest pause between two bootstraps, 1 s. The pause starts here at start-up and again
/// whenever a new peer is announced, then doubles up to KAD_BOOTSTRAP_INTERVAL: while the
/// network is forming, peers that joined the same bootnode at the same moment (before it knew
/// either's address) find each other within seconds; in a steady network a bootstrap (a few
/// FIND_NODE round trips) runs twice a minute.
pub const KAD_BOOTSTRAP_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Period of the maintenance tick: ban expiry, score recovery, handshake timeouts, due
/// bootstraps.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);
/// Connections stay open while idle for this long, i.e. effectively until the peer goes away
/// (ping notices), is banned, or the node is isolated: gossipsub only keeps mesh peers alive,
/// but a chain node wants every peer it has room for.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Events buffered in the channel to the node. Gossip is a trickle except under load tests;
/// 1024 absorbs bursts while the node imports a block.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// Further events held inside the network task when the channel is full. Beyond this, gossip
/// messages are dropped (reported `Ignore`) and requests answered `Error`; connect/disconnect
/// events are always kept (their number is bounded by max_peers).
const MAX_QUEUED_EVENTS: usize = 8192;
/// How long `start` waits for the listener to report its address, 10 s.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Addresses remembered for redialing after `set_isolated(false)`, per peer and in all; the
/// oldest peer is forgotten first.
const MAX_KNOWN_PEERS: usize = 1024;
const MAX_ADDRS_PER_PEER: usize = 8;

/// Protocol version advertised in identify, before `/<chain_id>/<genesis hex>`.
pub const IDENTIFY_PROTOCOL: &str = "/cpc/id/1";
/// Agent string advertised in identify.
pub const AGENT_VERSION: &str = concat!("cpcd/", env!("CARGO_PKG_VERSION"));

const _: () = assert!(MAX_RESPONSE_PAYLOAD_BYTES >= MAX_GOSSIP_BYTES, "a gossipable block must be syncable");

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub chain_id: String,
    /// Peers on another genesis are disconnected and banned (checked via identify's protocol
    /// version right after connecting, and in every `Status` answer).
    pub genesis_hash: H256,
    /// e.g. `/ip4/0.0.0.0/tcp/30333`; tcp port 0 = any free port.
    pub listen: Multiaddr,
    /// With a `/p2p/<peer id>` suffix (without one the address is dialed but the peer's identity
    /// is not checked in advance and it is not redialed by id).
    pub bootnodes: Vec<Multiaddr>,
    pub max_peers: usize,
    pub keypair: libp2p::identity::Keypair,
}

/// The node's verdict on a gossiped message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it to our mesh.
    Accept,
    /// Invalid: drop it and penalise the peer that sent it (GOSSIP_REJECT_SEVERITY).
    Reject,
    /// Not useful (duplicate, too old, can't tell yet): drop it without penalty.
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// MINOR_PENALTY (-10), e.g. an undecodable message.
    Minor,
    /// MAJOR_PENALTY (-50), e.g. an invalid block.
    Major,
    /// Ban at once.
    Fatal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// The remote address of the (first) connection.
    pub addr: Option<Multiaddr>,
    pub score: i32,
    /// Whether the peer dialed us.
    pub inbound: bool,
}

#[derive(Debug)]
pub enum NetEvent {
    /// A peer passed the chain/genesis check and subscribed to blocks.
    PeerConnected(PeerId),
    /// A peer announced with PeerConnected has gone (last connection closed).
    PeerDisconnected(PeerId),
    GossipBlock { id: MessageId, from: PeerId, data: Vec<u8> },
    GossipTx { id: MessageId, from: PeerId, data: Vec<u8> },
    /// Evidence that a validator equivocated (the node checks it against the validator set).
    GossipEvidence { id: MessageId, from: PeerId, data: Vec<u8> },
    /// An inbound sync request: the node answers through `reply` within SYNC_REQUEST_TIMEOUT
    /// (dropping it, or not answering in time, sends an `Error` response). Request bounds are
    /// already checked: `count` is 1..=MAX_BLOCKS_PER_REQUEST (Blocks).
    Request { peer: PeerId, req: SyncRequest, reply: oneshot::Sender<SyncResponse> },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SyncRequest {
    Status,
    /// Committed blocks with heights from..from+count (1 ≤ count ≤ MAX_BLOCKS_PER_REQUEST), each
    /// with its commit certificate.
    Blocks { from: u64, count: u32 },
    BlockByHash(H256),
    /// A task-market blob's manifest (shape and row leaves) by its content root
    /// (docs/MARKET.md, Between nodes).
    BlobManifest(H256),
    /// Chunk `index` of a task-market blob (whole rows, at most 256 KiB), each checked against
    /// the manifest's leaves as it arrives.
    BlobChunk { root: H256, index: u32 },
}

impl SyncRequest {
    /// Checks the request bounds; the error says what was expected and found.
    pub fn check_bounds(&self) -> Result<(), String> {
        let (what, count, max) = match self {
            SyncRequest::Blocks { count, .. } => ("Blocks", *count, MAX_BLOCKS_PER_REQUEST),
            SyncRequest::Status | SyncRequest::BlockByHash(_) | SyncRequest::BlobManifest(_) | SyncRequest::BlobChunk { .. } => {
                return Ok(())
            }
        };
        if count == 0 || count > max {
            return Err(format!("{what} count: expected 1..={max}, found {count}"));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Status {
    pub chain_id: String,
    pub genesis_hash: H256,
    pub head_height: u64,
    pub head_hash: H256,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum SyncResponse {
    Status(Status),
    /// Block payloads travel as CBOR byte strings (the node's: a block with its certificate).
    Blocks(#[serde(with = "codec::bytes_serde::vec_of_bytes")] Vec<Vec<u8>>),
    Block(#[serde(with = "codec::bytes_serde::opt_bytes")] Option<Vec<u8>>),
    Error(String),
    /// A blob's manifest (kind ‖ le32 rows ‖ le32 cols ‖ 32-byte row leaves), or none held.
    BlobManifest(#[serde(with = "codec::bytes_serde::opt_bytes")] Option<Vec<u8>>),
    /// The rows of one chunk, or none (not held, or past its end).
    BlobChunk(#[serde(with = "codec::bytes_serde::opt_bytes")] Option<Vec<u8>>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("invalid listen address {addr}: {reason}")]
    InvalidListenAddr { addr: Multiaddr, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("listening on {addr}: no bound address reported within {waited:?}")]
    ListenTimeout { addr: Multiaddr, waited: Duration },
    #[error("building the libp2p swarm failed: {0}")]
    Setup(String),
    #[error("invalid chain id {chain_id:?} for protocol names: {reason}")]
    InvalidChainId { chain_id: String, reason: String },
    #[error("the network task has stopped")]
    Shutdown,
    #[error("not connected to peer {0}")]
    NotConnected(PeerId),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("peer {peer} did not answer within {after:?}")]
    Timeout { peer: PeerId, after: Duration },
    #[error("connection to peer {0} closed before it answered")]
    ConnectionClosed(PeerId),
    #[error("peer {peer}'s response exceeds the {limit}-byte limit")]
    ResponseTooLarge { peer: PeerId, limit: usize },
    #[error("peer {peer} sent an undecodable response: {reason}")]
    UndecodableResponse { peer: PeerId, reason: String },
    #[error("peer {peer} does not speak the sync protocol {protocol}")]
    UnsupportedProtocol { peer: PeerId, protocol: String },
    #[error("request to peer {peer} failed: {reason}")]
    RequestFailed { peer: PeerId, reason: String },
    #[error(
        "peer {peer} is on another chain: expected chain {expected_chain_id:?} genesis {expected_genesis}, \
         found chain {found_chain_id:?} genesis {found_genesis} (disconnected and banned)"
    )]
    WrongChain {
        peer: PeerId,
        expected_chain_id: String,
        expected_genesis: H256,
        found_chain_id: String,
        found_genesis: H256,
    },
}

// ---------------------------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------------------------

/// Which gossip topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Blocks,
    Txs,
    Evidence,
}

/// What the handle asks of the network task.
pub(crate) enum Command {
    Publish { topic: Topic, data: Vec<u8> },
    Report { id: MessageId, from: PeerId, verdict: Verdict },
    Request { peer: PeerId, req: SyncRequest, reply: oneshot::Sender<Result<SyncResponse, NetError>> },
    Penalize { peer: PeerId, severity: Severity, reason: String },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Connected(oneshot::Sender<Vec<PeerId>>),
    SetPartition(Option<Vec<PeerId>>),
}

/// A cheap, cloneable handle to the running network task. Commands go through an unbounded
/// channel: they come from the node's own calls (one per published block/tx, verdict or
/// request), and the network task drains them at every turn without ever blocking, so the
/// queue stays as short as the node's own rate of calls.
#[derive(Clone)]
pub struct NetworkHandle {
    cmd: mpsc::UnboundedSender<Command>,
    local_peer_id: PeerId,
    listen_addrs: Arc<std::sync::RwLock<Vec<Multiaddr>>>,
    peer_count: Arc<AtomicUsize>,
}

impl NetworkHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The actual bound addresses (port resolved), each with `/p2p/<local peer id>`.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Gossips a block on `/cpc/<chain_id>/blocks/1` (dropped with a warning above
    /// MAX_GOSSIP_BYTES or when no peer is subscribed).
    pub fn publish_block(&self, data: Vec<u8>) {
        self.send(Command::Publish { topic: Topic::Blocks, data });
    }

    /// Gossips a transaction on `/cpc/<chain_id>/txs/1` (dropped above MAX_GOSSIP_TX_BYTES),
    /// in one message with the others published within TX_BATCH_DELAY (txbatch.rs).
    pub fn publish_tx(&self, data: Vec<u8>) {
        self.send(Command::Publish { topic: Topic::Txs, data });
    }

    /// Gossips a piece of equivocation evidence.
    pub fn publish_evidence(&self, data: Vec<u8>) {
        self.send(Command::Publish { topic: Topic::Evidence, data });
    }

    /// Verdict on a gossiped message previously delivered as `NetEvent::Gossip*`: Accept
    /// forwards it, Reject penalises the sender (GOSSIP_REJECT_SEVERITY), Ignore drops it.
    pub fn report_gossip(&self, id: MessageId, from: PeerId, verdict: Verdict) {
        self.send(Command::Report { id, from, verdict });
    }

    /// One request-response exchange with SYNC_REQUEST_TIMEOUT.
    pub async fn request(&self, peer: PeerId, req: SyncRequest) -> Result<SyncResponse, NetError> {
        self.request_with_timeout(peer, req, SYNC_REQUEST_TIMEOUT).await
    }

    /// [`request`](Self::request) with a shorter deadline of the caller's choice (the network's
    /// own SYNC_REQUEST_TIMEOUT still applies on top). A `Status` answer on another chain or
    /// genesis bans the peer and returns [`NetError::WrongChain`].
    pub async fn request_with_timeout(
        &self,
        peer: PeerId,
        req: SyncRequest,
        timeout: Duration,
    ) -> Result<SyncResponse, NetError> {
        req.check_bounds().map_err(NetError::InvalidRequest)?;
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Command::Request { peer, req, reply: tx }).map_err(|_| NetError::Shutdown)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Shutdown),
            Err(_) => Err(NetError::Timeout { peer, after: timeout }),
        }
    }

    /// Lowers a peer's score (MINOR_PENALTY / MAJOR_PENALTY; Fatal bans at once). At
    /// BAN_THRESHOLD the peer is disconnected and banned for BAN_DURATION.
    pub fn penalize(&self, peer: PeerId, severity: Severity, reason: String) {
        self.send(Command::Penalize { peer, severity, reason });
    }

    /// Announced (connected and verified) peers: id, remote address, score, direction.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Peers(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Every peer with an open connection, including ones still in the handshake (not yet
    /// announced) — for diagnostics and tests; the node wants [`peers`](Self::peers).
    pub async fn connected_peer_ids(&self) -> Vec<PeerId> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Connected(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Number of announced peers (an atomic read).
    pub fn peer_count(&self) -> usize {
        self.peer_count.load(Ordering::Relaxed)
    }

    /// Test/admin hook to simulate a partition: `true` disconnects everyone and refuses all
    /// connections, inbound and outbound (bootnode redials and discovery included); `false`
    /// lifts that and redials the bootnodes and the peers known before.
    pub fn set_isolated(&self, isolated: bool) {
        self.send(Command::SetPartition(isolated.then(Vec::new)));
    }

    /// Test/admin hook to simulate a partition with groups: only peers in `allowed` may stay
    /// connected or connect (`Some(vec![])` isolates); `None` lifts it and redials.
    pub fn set_partition(&self, allowed: Option<Vec<PeerId>>) {
        self.send(Command::SetPartition(allowed));
    }

    fn send(&self, c: Command) {
        if self.cmd.send(c).is_err() {
            tracing::debug!("network task has stopped; command dropped");
        }
    }
}

/// Starts the swarm on its own tokio task. Returns once listening (so `listen_addrs()` is
/// known). The task runs until every `NetworkHandle` clone is dropped.
pub async fn start(cfg: NetworkConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
    service::start(cfg).await
}
