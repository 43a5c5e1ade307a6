//! "A peer can never crash us" (docs/CONSENSUS.md, "Bad peers").
//!
//! A real `cpcd --dev` node with its P2P network on is fed invalid blocks by scripted peers
//! running `cpc_network` inside this test process. Each block is wrong in exactly one way
//! (checked here against the real consensus code before it is sent): a bad proposer signature,
//! a proposer outside the schedule, a bad `compute_root`, a bad `state_root` (found only by
//! re-executing the block) — each with a certificate the dev validator signed —, a valid block
//! whose certificate a non-validator signed, and bytes that are not a block at all. For each one the node must
//! refuse it (and say so in its log), never import it, score the sender down until it
//! disconnects and bans it, refuse the banned identity when it comes back, and keep serving
//! RPC. At the end a correct block from a fresh peer is imported: the node still works for
//! everyone else, and the refusals above were about the blocks, not about gossip itself.
//!
//! The dev node runs with `--dev.block-time 1h`: its producer consumes the interval's first
//! tick without producing (node/src/run.rs), so the head stays at genesis and every crafted
//! block is built on it.

use cpc_consensus::{build_block, validate_block, BlockError, BuildContext, Candidate, ChainContext, PocVerifier, ValidatorSet};
use cpc_genesis::Genesis;
use cpc_network::{Multiaddr, NetEvent, NetworkHandle, PeerId, Status, SyncRequest, SyncResponse, MAJOR_PENALTY};
use cpc_primitives::*;
use cpc_state::{ChainParams, Head, MemState};
use cpcd_tests::*;
use jsonrpsee::http_client::HttpClient;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long to wait for something that should happen within a round trip or two on loopback
/// (generous: two shared cores, and a release node doing its own start-up work).
const WAIT: Duration = Duration::from_secs(15);
/// Bad blocks a peer may get in before it must be gone: MAJOR_PENALTY (-50) per invalid block
/// and a ban at BAN_THRESHOLD (-100) make two (network/src/lib.rs). Today the node bans after
/// one, because each refusal is penalised twice (node/src/net.rs penalises and also reports
/// Reject, which the network penalises again); the test accepts either.
const MAX_STRIKES: u64 = 2;
/// Score recovery is +1 per second; allow this much of it between a penalty and our look.
const RECOVERY_SLACK: i64 = 5;

// -------------------------------------------------------------------------------------------
// Polling
// -------------------------------------------------------------------------------------------

/// Polls `cond` every 50 ms until it returns Some, or panics after `within` saying what it
/// waited for (and the node's log tail).
async fn wait_for<T, F, Fut>(node: &NodeProc, what: &str, within: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = cond().await {
            return t;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}\n--- node log (tail) ---\n{}", log_tail(node, 60));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn log_tail(node: &NodeProc, n: usize) -> String {
    let log = node.log.lock().unwrap();
    log[log.len().saturating_sub(n)..].join("\n")
}

/// Node log lines that contain every one of `needles`.
fn log_lines(node: &NodeProc, needles: &[&str]) -> Vec<String> {
    node.log.lock().unwrap().iter().filter(|l| needles.iter().all(|n| l.contains(n))).cloned().collect()
}

/// The node's view of `peer` (`net_peers`): Some(score) while connected.
async fn score_at_node(c: &HttpClient, peer: &PeerId) -> Option<i64> {
    let peers = call(c, "net_peers", vec![]).await.expect("net_peers answers");
    let id = peer.to_string();
    peers.as_array().expect("net_peers is an array").iter().find(|p| p["peer_id"] == id.as_str()).map(|p| p["score"].as_i64().unwrap())
}

async fn peer_count(c: &HttpClient) -> u64 {
    call(c, "net_peerCount", vec![]).await.expect("net_peerCount answers").as_u64().unwrap()
}

// -------------------------------------------------------------------------------------------
// The dev chain, in memory, to craft blocks with the real builder
// -------------------------------------------------------------------------------------------

struct DevChain {
    params: ChainParams,
    validators: ValidatorSet,
    state: MemState,
    head: Head,
    poc: PocVerifier,
    keys: Vec<SecretKey>,
}

impl DevChain {
    fn new() -> DevChain {
        let g = Genesis::dev();
        let (block, out) = g.build().unwrap();
        let mut state = MemState::default();
        state.commit(&out.changes);
        let params = g.chain_params();
        DevChain {
            poc: PocVerifier::new(&params.poc),
            validators: ValidatorSet::new(g.validators.iter().map(|v| v.pub_key).collect()),
            params,
            state,
            head: Head::of(&block.header, block.hash()),
            keys: keys(),
        }
    }

    /// A block on genesis built and signed by `proposer` with the real builder: every root,
    /// gas figure and signature is right. `salt` moves the timestamp so that blocks built
    /// in the same millisecond still differ.
    fn build(&self, proposer: usize, txs: &[Transaction], salt: u64) -> Block {
        let ctx = BuildContext {
            params: &self.params,
            parent: self.head,
            round: 0,
            timestamp: now_millis() + salt,
            proposer: &self.keys[proposer],
            window: vec![(self.head.hash, self.head.share_target)],
            poc: &self.poc,
            consensus: Default::default(),
        };
        let candidates: Vec<Candidate> = txs
            .iter()
            .map(|t| Candidate {
                hash: t.hash(),
                tx: Arc::new(t.clone()),
                result: (t.tx_type == TxType::SubmitResult).then(|| Arc::new(ComputeResult::from_payload(&t.payload).unwrap())),
            })
            .collect();
        let built = build_block(&self.state, &ctx, &candidates).expect("builder");
        assert!(built.skipped.is_empty(), "builder skipped {:?}", built.skipped);
        assert_eq!(built.block.transactions.len(), txs.len());
        built.block
    }

    /// What the node will say about `b` right now: the real consensus checks on genesis.
    #[allow(clippy::result_large_err)] // BlockError is what consensus returns
    fn validate(&self, b: &Block) -> Result<(), BlockError> {
        let ctx = ChainContext {
            params: &self.params,
            validators: &self.validators,
            parent: self.head,
            now_ms: now_millis(),
            window: vec![(self.head.hash, self.head.share_target)],
            poc: &self.poc,
            data_attested: false,
        };
        validate_block(b, &self.state, &ctx).map(|_| ())
    }

    /// An external (not synthetic, never paid) SUBMIT_RESULT from dev account 3, so that the
    /// block has a non-empty compute_root.
    fn external_result_tx(&self) -> Transaction {
        let k = &self.keys[3];
        let r = ComputeResult {
            task_id: "bad-peers-external-job-1".into(),
            worker_address: addr_of(k).to_string(),
            result_hash: "ab".repeat(32),
            proof: None,
            nonce: Some(1),
            signature: None,
        };
        assert!(!cpc_consensus::is_synthetic(&r));
        submit_result(k, r.to_payload(), 0, 80_000)
    }

    /// The block a valid proposer would send: dev key 0, one SUBMIT_RESULT.
    fn good(&self, salt: u64) -> Block {
        let b = self.build(0, &[self.external_result_tx()], salt);
        self.validate(&b).expect("the base block is valid");
        assert!(b.header.compute_root.0.is_some());
        b
    }
}

/// `b` as gossiped, with the certificate the dev chain's lone validator (dev key 0, public)
/// signs for it: so each offence below is refused for its own fault, not for a missing
/// certificate.
fn certified(b: &Block) -> Vec<u8> {
    let cert = cpc_consensus::Certificate::sign_alone(&keys()[0], b.header.height, b.header.round, b.hash());
    Block::encode_certified(&b.to_json_bytes(), &cert.encode())
}

fn reseal(mut b: Block, sk: &SecretKey) -> Block {
    b.signature = sk.sign(&b.header.signing_bytes());
    b
}

// -------------------------------------------------------------------------------------------
// A scripted peer: cpc_network in this process, answering the node's Status honestly
// -------------------------------------------------------------------------------------------

struct Scripted {
    net: NetworkHandle,
    /// PeerConnected (true) / PeerDisconnected (false) as this side sees them.
    links: mpsc::UnboundedReceiver<(bool, PeerId)>,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Scripted {
    /// Starts a peer whose identity is the node key in `key_dir` (created when missing, so
    /// the same directory gives the same peer id again) and dials the node.
    async fn start(key_dir: &Path, node_addr: &Multiaddr, genesis_hash: H256) -> Scripted {
        let (net, mut events) = scripted_network(key_dir, node_addr, CHAIN_ID, genesis_hash).await;
        let (tx, links) = mpsc::unbounded_channel();
        let pump = tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    NetEvent::PeerConnected(p) => {
                        let _ = tx.send((true, p));
                    }
                    NetEvent::PeerDisconnected(p) => {
                        let _ = tx.send((false, p));
                    }
                    // An honest status (we are at genesis too), so the node neither syncs from
                    // us nor penalises us for a wrong answer: the only offences are the blocks.
                    NetEvent::Request { req: SyncRequest::Status, reply, .. } => {
                        let _ = reply.send(SyncResponse::Status(Status {
                            chain_id: CHAIN_ID.into(),
                            genesis_hash,
                            head_height: 0,
                            head_hash: genesis_hash,
                        }));
                    }
                    // Anything else (gossip from the node, other requests): drop it.
                    _ => {}
                }
            }
        });
        Scripted { net, links, pump }
    }

    fn id(&self) -> PeerId {
        self.net.local_peer_id()
    }

    /// Waits for `want` (connected or disconnected) about `peer` on this side.
    async fn wait_link(&mut self, node: &NodeProc, want: bool, peer: PeerId) {
        let what = format!("the scripted peer {} to see the node {}", self.id(), if want { "connect" } else { "disconnect" });
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.links.recv()).await {
                Ok(Some((up, p))) if up == want && p == peer => return,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("timed out after {WAIT:?} waiting for {what}\n--- node log (tail) ---\n{}", log_tail(node, 60)),
            }
        }
    }
}

/// A scripted peer with the identity in `key_dir`, connected: both sides have announced each
/// other, and the node lists it at score 0.
async fn join(node: &NodeProc, c: &HttpClient, node_id: PeerId, node_addr: &Multiaddr, genesis_hash: H256, key_dir: &Path) -> Scripted {
    let mut peer = Scripted::start(key_dir, node_addr, genesis_hash).await;
    let pid = peer.id();
    peer.wait_link(node, true, node_id).await;
    let score = wait_for(node, &format!("the node to list peer {pid}"), WAIT, || async { score_at_node(c, &pid).await }).await;
    assert_eq!(score, 0, "a new peer starts at score 0");
    peer
}

// -------------------------------------------------------------------------------------------
// The tests
// -------------------------------------------------------------------------------------------

/// The k-th payload of an offence, and its block hash if it decodes as a block.
type MakePayload = dyn Fn(u64) -> (Vec<u8>, Option<H256>);

/// One way of being wrong.
struct Offence {
    name: &'static str,
    /// The k-th payload of this kind (distinct bytes for each k), and its block hash if it
    /// decodes as a block.
    make: Box<MakePayload>,
    /// What the node's log says when it refuses one: a line with the peer id and all the
    /// words of one of these.
    refusal: &'static [&'static [&'static str]],
}

/// The node under attack and what the scripted peers need to reach it.
struct Target {
    node: NodeProc,
    c: HttpClient,
    node_id: PeerId,
    node_addr: Multiaddr,
    genesis_hash: H256,
}

/// `cpcd --dev` with P2P on loopback, its head parked at genesis (`--dev.block-time 1h`).
async fn start_target() -> Target {
    let node = NodeProc::start_dev(
        None,
        &[
            "--dev.block-time",
            "1h",
            "--p2p.port",
            "0",
            "--p2p.addr",
            "127.0.0.1",
            "--http.api",
            "cpc,net,admin",
            // Penalties and refused connections are logged by the network at debug level.
            "--log.filter",
            "info,cpc_network=debug",
        ],
    )
    .unwrap();
    let c = node.client();
    let genesis_hash = Genesis::dev().hash().unwrap();
    let info = call(&c, "admin_nodeInfo", vec![]).await.unwrap();
    assert_eq!(info["genesis_hash"], genesis_hash.to_hex(), "the node runs the dev genesis");
    assert_eq!(info["head_height"], 0, "the node is still at genesis: {info}");
    let node_id: PeerId = info["peer_id"].as_str().expect("P2P is on").parse().unwrap();
    let node_addr = loopback_p2p_addr(&info);
    let latest = call(&c, "cpc_getBlockByNumber", vec!["latest".into(), false.into()]).await.unwrap();
    assert_eq!(latest["hash"], genesis_hash.to_hex());
    Target { node, c, node_id, node_addr, genesis_hash }
}

/// Polls the node's RPC in the background for as long as it runs: every call must answer,
/// and the head must stay at genesis.
struct Watcher {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, Vec<String>)>,
}

impl Watcher {
    fn start(c: HttpClient) -> Watcher {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let (mut calls, mut problems) = (0u64, Vec::new());
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                match block_number(&c).await {
                    Ok(0) => {}
                    Ok(h) => problems.push(format!("head at {h}")),
                    Err(e) => problems.push(format!("cpc_blockNumber failed: {e}")),
                }
                calls += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (calls, problems)
        });
        Watcher { stop, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (calls, problems) = self.task.await.unwrap();
        assert!(problems.is_empty(), "while under attack: {problems:?}");
        calls
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_blocks_get_the_peer_banned_and_are_never_imported() {
    let started = Instant::now();
    let Target { mut node, c, node_id, node_addr, genesis_hash } = start_target().await;
    let chain = Arc::new(DevChain::new());
    assert_eq!(chain.head.hash, genesis_hash);
    let watcher = Watcher::start(node.client());

    // The offences, each checked here against the real rules so that it fails at the intended
    // check and nowhere earlier.
    let ch = chain.clone();
    let bad_signature = move |k: u64| {
        let mut b = ch.good(10 * k);
        b.header.gas_used += 1; // changed after signing
        assert_eq!(ch.validate(&b), Err(BlockError::ProposerSignature));
        (certified(&b), Some(b.hash()))
    };
    let ch = chain.clone();
    let wrong_proposer = move |k: u64| {
        let b = ch.build(1, &[ch.external_result_tx()], 10 * k);
        assert_eq!(b.header.proposer_address, addr_of(&ch.keys[1]).to_valcons());
        assert!(matches!(ch.validate(&b), Err(BlockError::WrongProposer { height: 1, round: 0, .. })), "{:?}", ch.validate(&b));
        (certified(&b), Some(b.hash()))
    };
    let ch = chain.clone();
    let bad_compute_root = move |k: u64| {
        let mut b = ch.good(10 * k);
        b.header.compute_root = ComputeRoot(Some(sha256(format!("not the compute root {k}").as_bytes())));
        let b = reseal(b, &ch.keys[0]);
        assert!(matches!(ch.validate(&b), Err(BlockError::ComputeRoot { .. })), "{:?}", ch.validate(&b));
        (certified(&b), Some(b.hash()))
    };
    let ch = chain.clone();
    let bad_state_root = move |k: u64| {
        let mut b = ch.good(10 * k);
        b.header.state_root = sha256(format!("not the state root {k}").as_bytes());
        let b = reseal(b, &ch.keys[0]);
        assert!(matches!(ch.validate(&b), Err(BlockError::StateRoot { .. })), "{:?}", ch.validate(&b));
        (certified(&b), Some(b.hash()))
    };
    let ch = chain.clone();
    let bad_certificate = move |k: u64| {
        // A valid block whose certificate is signed by a key outside the validator set.
        let b = ch.good(10 * k);
        let cert = cpc_consensus::Certificate::sign_alone(&ch.keys[1], 1, 0, b.hash());
        (Block::encode_certified(&b.to_json_bytes(), &cert.encode()), Some(b.hash()))
    };
    let garbage = |k: u64| {
        let bytes = format!("\u{0}\u{1}this is not a block, not even JSON {k} \u{7f}").into_bytes();
        assert!(Block::from_json_slice(&bytes).is_err());
        (bytes, None)
    };
    let offences = vec![
        Offence {
            name: "bad proposer signature",
            make: Box::new(bad_signature),
            refusal: &[&["invalid block from peer", "proposer signature does not verify"]],
        },
        Offence {
            name: "proposer not in the schedule",
            make: Box::new(wrong_proposer),
            refusal: &[&["invalid block from peer", "wrong proposer for height 1 round 0"]],
        },
        Offence {
            name: "bad compute_root",
            make: Box::new(bad_compute_root),
            refusal: &[&["invalid block from peer", "compute_root: expected"]],
        },
        Offence {
            name: "bad state_root",
            make: Box::new(bad_state_root),
            refusal: &[&["invalid block from peer", "state_root: expected"]],
        },
        Offence {
            name: "certificate by a non-validator",
            make: Box::new(bad_certificate),
            refusal: &[&["invalid block from peer", "is not in the validator set"]],
        },
        // The node logs no line of its own for these; the network logs the penalty (debug):
        // the node's own ("undecodable block"), or the one for its Reject verdict if the node
        // ever leaves penalising gossip to the network.
        Offence {
            name: "garbage bytes",
            make: Box::new(garbage),
            refusal: &[&["peer penalised", "undecodable block"], &["peer penalised", "gossip message rejected by the node"]],
        },
    ];

    let mut report = Vec::new();
    for off in &offences {
        let case_started = Instant::now();
        let key_dir = tempfile::tempdir().unwrap();
        let mut peer = join(&node, &c, node_id, &node_addr, genesis_hash, key_dir.path()).await;
        let pid = peer.id();
        let id = pid.to_string();

        let mut sent_hashes = Vec::new();
        let mut scores = Vec::new();
        let mut strikes = 0;
        while strikes < MAX_STRIKES {
            let (bytes, hash) = (off.make)(strikes);
            let refusals = || off.refusal.iter().map(|words| log_lines(&node, &[*words, &[id.as_str()]].concat()).len()).sum::<usize>();
            let before = refusals();
            peer.net.publish_block(bytes);
            strikes += 1;
            sent_hashes.extend(hash);
            let what = format!("[{}] strike {strikes}: the node's refusal of peer {id} in its log (one of {:?})", off.name, off.refusal);
            wait_for(&node, &what, WAIT, || async {
                let head = block_number(&c).await.expect("cpc_blockNumber answers");
                assert_eq!(head, 0, "[{}] strike {strikes}: the node imported the bad block", off.name);
                (refusals() > before).then_some(())
            })
            .await;
            // The penalty lands right after the refusal is logged: the peer is scored down by
            // at least MAJOR_PENALTY per bad block, or already gone.
            let want = (MAJOR_PENALTY as i64) * strikes as i64 + RECOVERY_SLACK;
            let what = format!("[{}] strike {strikes}: peer {id}'s score at the node to drop to {want} or below, or the peer to be gone", off.name);
            let score = wait_for(&node, &what, WAIT, || async {
                match score_at_node(&c, &pid).await {
                    None => Some(None),
                    Some(s) if s <= want => Some(Some(s)),
                    Some(_) => None,
                }
            })
            .await;
            scores.push(score);
            if score.is_none() {
                break;
            }
        }

        // Disconnected and banned: both sides see it, the node logs the ban.
        peer.wait_link(&node, false, node_id).await;
        wait_for(&node, &format!("[{}] the node to log the ban of {id}", off.name), WAIT, || async {
            (!log_lines(&node, &["banning peer", &id]).is_empty()).then_some(())
        })
        .await;
        wait_for(&node, &format!("[{}] net_peerCount back to 0", off.name), WAIT, || async {
            (peer_count(&c).await == 0).then_some(())
        })
        .await;
        assert_eq!(score_at_node(&c, &pid).await, None, "[{}] a banned peer is not listed", off.name);

        // Nothing was imported; the node answers as before.
        assert_eq!(block_number(&c).await.unwrap(), 0, "[{}] the node's head moved", off.name);
        for h in &sent_hashes {
            let b = call(&c, "cpc_getBlockByHash", vec![h.to_hex().into(), false.into()]).await.unwrap();
            assert!(b.is_null(), "[{}] the node stored the bad block {h}: {b}", off.name);
        }
        assert_eq!(
            call(&c, "cpc_getBlockByNumber", vec!["latest".into(), false.into()]).await.unwrap()["hash"],
            genesis_hash.to_hex(),
            "[{}]",
            off.name
        );
        assert!(node.child.try_wait().unwrap().is_none(), "[{}] the node exited", off.name);

        // The same identity coming back is refused: the node denies the connection (logged by
        // the network) and never announces it, while it stays open to others (the next case's
        // fresh peer, and the control at the end).
        drop(peer);
        let denied_before = log_lines(&node, &["inbound connection failed"]).len();
        let mut again = Scripted::start(key_dir.path(), &node_addr, genesis_hash).await;
        assert_eq!(again.id(), pid, "same key, same peer id");
        wait_for(&node, &format!("[{}] the node to refuse the banned peer's new connection", off.name), WAIT, || async {
            (log_lines(&node, &["inbound connection failed"]).len() > denied_before).then_some(())
        })
        .await;
        let quiet = tokio::time::timeout(Duration::from_millis(500), again.links.recv()).await;
        assert!(
            !matches!(quiet, Ok(Some((true, _)))),
            "[{}] the banned peer got connected again: {quiet:?}",
            off.name
        );
        assert_eq!(score_at_node(&c, &pid).await, None, "[{}] the banned peer is listed again", off.name);
        drop(again);

        report.push(format!(
            "{:<28} strikes {strikes}, scores at the node after each: {scores:?} (None = gone), {:?}",
            off.name,
            case_started.elapsed()
        ));
    }

    let rpc_calls = watcher.finish().await;

    // Control: a correct block from a fresh peer is imported. Without this, every refusal above
    // could come from gossip not reaching the node at all.
    let key_dir = tempfile::tempdir().unwrap();
    let honest = join(&node, &c, node_id, &node_addr, genesis_hash, key_dir.path()).await;
    let hid = honest.id();
    let good = chain.good(0);
    honest.net.publish_block(certified(&good));
    wait_for(&node, "the node to import the honest peer's correct block", WAIT, || async {
        (block_number(&c).await.unwrap() == 1).then_some(())
    })
    .await;
    let b = call(&c, "cpc_getBlockByNumber", vec![1.into(), true.into()]).await.unwrap();
    assert_eq!(b["hash"], good.hash().to_hex(), "height 1 is the honest peer's block");
    assert_eq!(b["header"]["state_root"], good.header.state_root.to_hex());
    assert_eq!(score_at_node(&c, &hid).await, Some(0), "an honest peer is not penalised");
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited");

    for line in &report {
        eprintln!("{line}");
    }
    eprintln!("bad_peers: total {:?}, {rpc_calls} RPC calls answered while under attack", started.elapsed());
    let (code, _) = node.stop().unwrap();
    assert_eq!(code, 0, "clean shutdown after the abuse");
}

/// The invalid-block cache is keyed by the block hash, which covers only the header, while a
/// block can also be invalid because of its body or signature. Anyone who sees a valid block
/// first could poison it by re-sending its header with other transactions (or a broken
/// signature) if such failures were remembered; node/src/chain.rs remembers only failures
/// that belong to the header (in-context failures of a block whose body passed in isolation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mangled_copy_does_not_poison_the_valid_block() {
    let Target { node, c, node_id, node_addr, genesis_hash } = start_target().await;
    let chain = DevChain::new();
    let good = chain.good(0);

    // The attacker's copy: the same header (so the same hash), no transactions: tx_root fails.
    let mut mangled = good.clone();
    mangled.transactions.clear();
    assert_eq!(mangled.hash(), good.hash());
    assert!(matches!(chain.validate(&mangled), Err(BlockError::TxRoot { .. })), "{:?}", chain.validate(&mangled));

    let key_dir = tempfile::tempdir().unwrap();
    let attacker = join(&node, &c, node_id, &node_addr, genesis_hash, key_dir.path()).await;
    let aid = attacker.id().to_string();
    attacker.net.publish_block(certified(&mangled));
    wait_for(&node, "the node to refuse the mangled copy", WAIT, || async {
        (!log_lines(&node, &["invalid block from peer", "tx_root", &aid]).is_empty()).then_some(())
    })
    .await;
    drop(attacker);

    let key_dir = tempfile::tempdir().unwrap();
    let honest = join(&node, &c, node_id, &node_addr, genesis_hash, key_dir.path()).await;
    let hid = honest.id();
    honest.net.publish_block(certified(&good));
    wait_for(&node, "the node to import the valid block after refusing its mangled copy", WAIT, || async {
        (block_number(&c).await.unwrap() == 1).then_some(())
    })
    .await;
    assert_eq!(hash_at(&c, 1).await.unwrap(), Some(good.hash().to_hex()));
    assert_eq!(score_at_node(&c, &hid).await, Some(0), "the honest relay was penalised");
}

/// Results by gossip (PoC v2): a peer that relays forged work — a result that passes the k-row
/// check but not recomputation — is rejected and scored down, because this node recomputes a
/// result before it accepts (and relays) it; a peer that relays a result for a tip this node
/// does not know is only ignored (timing is no offence), and one that relays an honest share
/// loses nothing and gets it into the pool.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_relaying_forged_results_is_penalised_and_unknown_tips_are_not() {
    let Target { node, c, node_id, node_addr, genesis_hash } = start_target().await;
    let p = cpc_poc::SynthParams { n: 1024, k: 8 };
    let k = keys();
    let result_tx = |sk: &SecretKey, r: &ComputeResult| {
        UnsignedTx::submit_result(CHAIN_ID, addr_of(sk), r, 0, 1000).sign(sk).canonical_json()
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let forger = join(&node, &c, node_id, &node_addr, genesis_hash, dirs[0].path()).await;
    let timing = join(&node, &c, node_id, &node_addr, genesis_hash, dirs[1].path()).await;
    let honest = join(&node, &c, node_id, &node_addr, genesis_hash, dirs[2].path()).await;
    let (fid, tid, hid) = (forger.id(), timing.id(), honest.id());

    // Results for a tip the node has never seen, from three workers: ignored, no penalty.
    for sk in &k[4..7] {
        let r = cpc_poc::solve(&H256([0x42; 32]), &addr_of(sk).to_string(), 0, &p);
        timing.net.publish_tx(result_tx(sk, &r));
    }
    // An honest share on the node's tip (genesis): accepted.
    let good = cpc_poc::solve(&genesis_hash, &addr_of(&k[7]).to_string(), 0, &p);
    let good_hash = UnsignedTx::submit_result(CHAIN_ID, addr_of(&k[7]), &good, 0, 1000).sign(&k[7]).hash();
    honest.net.publish_tx(result_tx(&k[7], &good));
    // Forged results from two workers (a forger's own later results are refused anyway).
    for sk in &k[1..3] {
        let r = forge_result(&genesis_hash, &addr_of(sk).to_string(), 0, &p);
        assert!(cpc_poc::check_proof(&r, &genesis_hash, &p).is_ok() && cpc_poc::verify_full(&r, &genesis_hash, &p).is_err());
        forger.net.publish_tx(result_tx(sk, &r));
    }
    let score = wait_for(&node, "the forger to be scored down or dropped", WAIT, || async {
        match score_at_node(&c, &fid).await {
            Some(s) if s < 0 => Some(Some(s)),
            None => Some(None),
            _ => None,
        }
    })
    .await;
    assert!(score.is_none_or(|s| s <= MAJOR_PENALTY as i64), "a Reject per forged result: {score:?}");
    wait_for(&node, "the honest share in the pool", WAIT, || async {
        let tx = call(&c, "cpc_getTransactionByHash", vec![good_hash.to_hex().into()]).await.unwrap();
        (!tx.is_null()).then_some(())
    })
    .await;
    assert!(!log_lines(&node, &["failed full recomputation"]).is_empty(), "the node recomputed and refused:\n{}", log_tail(&node, 40));
    assert_eq!(score_at_node(&c, &tid).await, Some(0), "results for an unknown tip are timing, not an offence");
    assert_eq!(score_at_node(&c, &hid).await, Some(0), "the honest relay was penalised");
}
