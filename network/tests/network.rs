//! Behaviour of the network with real swarms on 127.0.0.1.

mod common;

use common::*;
use cpc_network::*;
use cpc_primitives::H256;
use std::time::{Duration, Instant};

/// Long enough for a message to cross a loopback hop several times over.
const QUIET: Duration = Duration::from_millis(1500);

fn gossip_block(ev: NetEvent) -> Option<(MessageId, PeerId, Vec<u8>)> {
    match ev {
        NetEvent::GossipBlock { id, from, data } => Some((id, from, data)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_forwarded_only_after_accept_and_reject_penalises_the_sender() {
    init_tracing();
    // A line A - B - C: max_peers keeps A and C from meeting through discovery.
    let a = node(&[], 1).await;
    let mut b = node(&[&a], 2).await;
    let mut c = node(&[&b], 1).await;
    assert!(linked(&a, &b).await && linked(&b, &c).await, "line A-B-C did not form");
    assert!(!a.has_peer(c.id()).await);

    // Accept: B gets it from A; C gets it only after B accepts.
    a.net.publish_block(b"block-1".to_vec());
    let (id, from, data) = b.expect(WAIT, gossip_block).await.expect("B receives A's block");
    assert_eq!((from, data.as_slice()), (a.id(), &b"block-1"[..]));
    assert_eq!(id, message_id_of(b"block-1"));
    assert!(c.expect(QUIET, gossip_block).await.is_none(), "C got the block before B accepted it");
    b.net.report_gossip(id, from, Verdict::Accept);
    let (_, from_c, data_c) = c.expect(WAIT, gossip_block).await.expect("C receives the block after Accept");
    assert_eq!((from_c, data_c.as_slice()), (b.id(), &b"block-1"[..]));

    // Reject: C never gets it and A's score at B drops by the reject penalty.
    a.net.publish_block(b"block-2".to_vec());
    let (id, from, _) = b.expect(WAIT, gossip_block).await.expect("B receives the second block");
    b.net.report_gossip(id, from, Verdict::Reject);
    assert!(c.expect(QUIET + QUIET, gossip_block).await.is_none(), "C got a rejected block");
    let score = b.net.peers().await.into_iter().find(|p| p.peer_id == a.id()).expect("A still a peer").score;
    // MAJOR_PENALTY, give or take the recovery (1 point a second) during the wait.
    assert!((MAJOR_PENALTY..=MAJOR_PENALTY + 10).contains(&score), "A's score at B: {score}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_payload_from_two_publishers_is_one_message() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    let mut c = node(&[&a], 10).await;
    assert!(eventually(WAIT, || async { a.net.peer_count() == 2 && b.net.peer_count() == 2 && c.net.peer_count() == 2 }).await);
    a.net.publish_tx(b"tx-1".to_vec());
    b.net.publish_tx(b"tx-1".to_vec());
    let first = c.expect(WAIT, |ev| matches!(ev, NetEvent::GossipTx { .. }).then_some(())).await;
    assert!(first.is_some(), "C receives the tx");
    let second = c.expect(QUIET, |ev| matches!(ev, NetEvent::GossipTx { .. }).then_some(())).await;
    assert!(second.is_none(), "the same tx was delivered twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_round_trip() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let Node { net: b_net, events } = b;
    serve(events, |req| {
        Some(match req {
            SyncRequest::Status => SyncResponse::Status(status(GENESIS, 5)),
            SyncRequest::Blocks { from, count } => {
                SyncResponse::Blocks((from..from + count as u64).map(|h| format!("{{\"h\":{h}}}").into_bytes()).collect())
            }
            SyncRequest::BlockByHash(h) => SyncResponse::Block((h == H256([1; 32])).then(|| b"one".to_vec())),
            SyncRequest::BlobManifest(root) => SyncResponse::BlobManifest((root == H256([3; 32])).then(|| vec![7u8; 9 + 4096 * 32])),
            SyncRequest::BlobChunk { root, index } => SyncResponse::BlobChunk((root == H256([3; 32]) && index < 16).then(|| vec![index as u8; 256 << 10])),
        })
    });
    let b = b_net.local_peer_id();

    assert_eq!(a.net.request(b, SyncRequest::Status).await.unwrap(), SyncResponse::Status(status(GENESIS, 5)));
    assert_eq!(
        a.net.request(b, SyncRequest::Blocks { from: 3, count: 2 }).await.unwrap(),
        SyncResponse::Blocks(vec![b"{\"h\":3}".to_vec(), b"{\"h\":4}".to_vec()])
    );
    assert_eq!(
        a.net.request(b, SyncRequest::BlockByHash(H256([1; 32]))).await.unwrap(),
        SyncResponse::Block(Some(b"one".to_vec()))
    );
    assert_eq!(a.net.request(b, SyncRequest::BlockByHash(H256([2; 32]))).await.unwrap(), SyncResponse::Block(None));
    // A market blob's largest manifest (4096 leaves) and a full chunk each cross in one answer.
    assert_eq!(
        a.net.request(b, SyncRequest::BlobManifest(H256([3; 32]))).await.unwrap(),
        SyncResponse::BlobManifest(Some(vec![7u8; 9 + 4096 * 32]))
    );
    assert_eq!(
        a.net.request(b, SyncRequest::BlobChunk { root: H256([3; 32]), index: 15 }).await.unwrap(),
        SyncResponse::BlobChunk(Some(vec![15u8; 256 << 10]))
    );
    assert_eq!(a.net.request(b, SyncRequest::BlobManifest(H256([4; 32]))).await.unwrap(), SyncResponse::BlobManifest(None));

    // Out-of-bounds requests fail locally, before anything is sent.
    let err = a.net.request(b, SyncRequest::Blocks { from: 0, count: MAX_BLOCKS_PER_REQUEST + 1 }).await.unwrap_err();
    assert!(matches!(err, NetError::InvalidRequest(_)), "{err}");
    // A peer we are not connected to.
    let err = a.net.request(PeerId::random(), SyncRequest::Status).await.unwrap_err();
    assert!(matches!(err, NetError::NotConnected(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_reply_is_an_error_response() {
    init_tracing();
    let a = node(&[], 10).await;
    let mut b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let b_id = b.id();
    let req = tokio::spawn({
        let net = a.net.clone();
        async move { net.request(b_id, SyncRequest::Status).await }
    });
    // B receives the request and drops the reply sender.
    b.expect(WAIT, |ev| matches!(ev, NetEvent::Request { .. }).then_some(())).await.expect("B gets the request");
    let resp = req.await.unwrap().unwrap();
    assert!(matches!(resp, SyncResponse::Error(_)), "{resp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_when_the_peer_never_answers() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let b_id = b.id();
    let _server = serve(b.events, |_| None); // holds every reply
    let t0 = Instant::now();
    let err = a.net.request_with_timeout(b_id, SyncRequest::Status, Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, NetError::Timeout { .. }), "{err}");
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_response_is_rejected() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let b_id = b.id();
    let _server = serve(b.events, |_| Some(SyncResponse::Blocks(vec![vec![b'x'; MAX_RESPONSE_BYTES]])));
    let err = a.net.request(b_id, SyncRequest::Blocks { from: 1, count: 1 }).await.unwrap_err();
    assert!(matches!(err, NetError::ResponseTooLarge { limit: MAX_RESPONSE_BYTES, .. }), "{err}");
    // The sender of an oversize answer is penalised.
    let score = a.net.peers().await.into_iter().find(|p| p.peer_id == b_id).map(|p| p.score);
    assert!(score.is_some_and(|s| s < 0), "B's score at A: {score:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_from_another_genesis_bans_the_peer() {
    init_tracing();
    let a = node(&[], 10).await;
    let mut b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let b_id = b.id();
    let req = tokio::spawn({
        let net = a.net.clone();
        async move { net.request(b_id, SyncRequest::Status).await }
    });
    let reply = b
        .expect(WAIT, |ev| match ev {
            NetEvent::Request { reply, .. } => Some(reply),
            _ => None,
        })
        .await
        .unwrap();
    let _ = reply.send(SyncResponse::Status(status(H256([8; 32]), 1)));
    let err = req.await.unwrap().unwrap_err();
    assert!(matches!(err, NetError::WrongChain { found_genesis: H256([8, ..]), .. }), "{err}");
    assert!(b.expect(WAIT, |ev| matches!(ev, NetEvent::PeerDisconnected(p) if p == a.id()).then_some(())).await.is_some());
    assert!(eventually(WAIT, || async { a.net.peer_count() == 0 }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_floods_are_refused_and_penalised() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let (a_id, b_id) = (a.id(), b.id());
    let b_net = b.net.clone();
    let _server = serve(b.events, |_| Some(SyncResponse::Status(status(GENESIS, 1))));
    // 150 requests in waves of 30 (below the per-connection stream limit), well within a second.
    let mut refused = 0;
    for _ in 0..5 {
        let wave: Vec<_> = (0..30)
            .map(|_| {
                let net = a.net.clone();
                tokio::spawn(async move { net.request(b_id, SyncRequest::Status).await })
            })
            .collect();
        for r in wave {
            if let Ok(SyncResponse::Error(msg)) = r.await.unwrap() {
                assert!(msg.contains("rate limit"), "{msg}");
                refused += 1;
            }
        }
    }
    assert!(refused >= 150 - MAX_REQUESTS_PER_PEER_PER_SEC as usize - 30, "only {refused} of 150 refused");
    let score = b_net.peers().await.into_iter().find(|p| p.peer_id == a_id).map(|p| p.score);
    assert!(score.is_some_and(|s| s < 0), "A's score at B: {score:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_that_know_only_node_0_find_each_other() {
    init_tracing();
    let n0 = node(&[], 10).await;
    let n1 = node(&[&n0], 10).await;
    let n2 = node(&[&n0], 10).await;
    let n3 = node(&[&n0], 10).await;
    let all = [&n0, &n1, &n2, &n3];
    let t0 = Instant::now();
    let full = eventually(Duration::from_secs(10), || async { all.iter().all(|n| n.net.peer_count() == 3) }).await;
    let counts: Vec<usize> = all.iter().map(|n| n.net.peer_count()).collect();
    assert!(full, "peer counts after {:?}: {counts:?}", t0.elapsed());
    for n in all {
        let ids: Vec<PeerId> = n.net.peers().await.iter().map(|p| p.peer_id).collect();
        for m in all {
            assert_eq!(ids.contains(&m.id()), m.id() != n.id());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_peers_is_enforced() {
    init_tracing();
    let hub = node(&[], 2).await;
    let n1 = node(&[&hub], 10).await;
    let n2 = node(&[&hub], 10).await;
    assert!(linked(&hub, &n1).await && linked(&hub, &n2).await);
    let n3 = node(&[&hub], 10).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(hub.net.peer_count(), 2);
    assert!(!hub.net.connected_peer_ids().await.contains(&n3.id()), "hub accepted a third peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_on_another_genesis_is_disconnected() {
    init_tracing();
    let mut a = node(&[], 10).await;
    let mut other = node_with(config(H256([9; 32]), &[&a], 10)).await;
    // Control: a same-genesis peer started at the same time is announced.
    let same = node(&[&a], 10).await;
    assert!(linked(&a, &same).await);
    let other_id = other.id();
    assert!(
        eventually(WAIT, || async {
            !a.net.connected_peer_ids().await.contains(&other_id) && other.net.connected_peer_ids().await.is_empty()
        })
        .await,
        "wrong-genesis peer still connected"
    );
    assert!(!a.has_peer(other_id).await);
    assert!(a.expect(Duration::ZERO, |ev| matches!(ev, NetEvent::PeerConnected(p) if p == other_id).then_some(())).await.is_none());
    assert!(other.expect(Duration::ZERO, |ev| matches!(ev, NetEvent::PeerConnected(_)).then_some(())).await.is_none());
    // And it stays out: its redials are refused (banned).
    other.net.set_isolated(true);
    other.net.set_isolated(false);
    tokio::time::sleep(QUIET).await;
    assert!(!a.net.connected_peer_ids().await.contains(&other_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_penalty_disconnects_and_bans() {
    init_tracing();
    let a = node(&[], 10).await;
    let mut b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let (a_id, b_id) = (a.id(), b.id());
    a.net.penalize(b_id, Severity::Fatal, "test".into());
    assert!(b.expect(WAIT, |ev| matches!(ev, NetEvent::PeerDisconnected(p) if p == a_id).then_some(())).await.is_some());
    assert!(eventually(WAIT, || async { a.net.peer_count() == 0 }).await);
    // B redials its bootnode A at once (lifting isolation redials bootnodes): refused.
    b.net.set_isolated(true);
    b.net.set_isolated(false);
    tokio::time::sleep(QUIET).await;
    assert!(!a.net.connected_peer_ids().await.contains(&b_id), "banned peer reconnected");
    assert!(b.net.connected_peer_ids().await.is_empty());
    assert!(b.expect(Duration::ZERO, |ev| matches!(ev, NetEvent::PeerConnected(_)).then_some(())).await.is_none());
    // Minor penalties alone do not disconnect.
    let c = node(&[&a], 10).await;
    assert!(linked(&a, &c).await);
    a.net.penalize(c.id(), Severity::Minor, "test".into());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let score = a.net.peers().await.into_iter().find(|p| p.peer_id == c.id()).map(|p| p.score);
    assert!(score.is_some_and(|s| (MINOR_PENALTY..0).contains(&s)), "C's score: {score:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_disconnects_refuses_and_reconnects() {
    init_tracing();
    let a = node(&[], 10).await;
    let mut b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    let (a_id, b_id) = (a.id(), b.id());

    b.net.set_isolated(true);
    assert!(b.expect(WAIT, |ev| matches!(ev, NetEvent::PeerDisconnected(p) if p == a_id).then_some(())).await.is_some());
    assert!(eventually(WAIT, || async { a.net.peer_count() == 0 }).await);
    // While isolated, B refuses inbound connections...
    let c = node(&[&b], 10).await;
    tokio::time::sleep(QUIET).await;
    assert!(b.net.connected_peer_ids().await.is_empty(), "isolated node accepted a connection");
    assert!(c.net.connected_peer_ids().await.is_empty());
    // ...and does not redial its bootnode (a redial is due every BOOTNODE_REDIAL_INTERVAL;
    // isolation also stops kad, so nothing reaches A).
    assert!(!a.net.connected_peer_ids().await.contains(&b_id));

    b.net.set_isolated(false);
    assert!(linked(&a, &b).await, "B did not reconnect after isolation was lifted");
    assert!(b.expect(WAIT, |ev| matches!(ev, NetEvent::PeerConnected(p) if p == a_id).then_some(())).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_keeps_only_the_allowed_side() {
    init_tracing();
    let a = node(&[], 10).await;
    let b = node(&[&a], 10).await;
    let c = node(&[&a, &b], 10).await;
    assert!(linked(&a, &b).await && linked(&a, &c).await && linked(&b, &c).await);
    // A keeps B, drops C; C's attempts to reach A are refused while the partition lasts.
    a.net.set_partition(Some(vec![b.id()]));
    assert!(eventually(WAIT, || async { !a.net.connected_peer_ids().await.contains(&c.id()) }).await);
    tokio::time::sleep(QUIET).await;
    let a_peers = a.net.connected_peer_ids().await;
    assert!(a_peers.contains(&b.id()), "the allowed peer stays connected");
    assert!(!a_peers.contains(&c.id()), "a peer outside the partition got back in");
    assert!(b.has_peer(c.id()).await, "the partition is A's alone");
    a.net.set_partition(None);
    assert!(linked(&a, &c).await, "A and C reconnect once the partition is lifted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_reports_bound_addresses_and_listen_errors() {
    init_tracing();
    let a = node(&[], 10).await;
    let addrs = a.net.listen_addrs();
    assert!(!addrs.is_empty());
    for addr in &addrs {
        let s = addr.to_string();
        assert!(s.starts_with("/ip4/127.0.0.1/tcp/"), "{s}");
        assert!(!s.contains("/tcp/0/"), "port not resolved: {s}");
        assert!(s.ends_with(&format!("/p2p/{}", a.id())), "{s}");
    }

    // The same port again: in use.
    let mut cfg = config(GENESIS, &[], 10);
    let (_, plain) = {
        let mut m = addrs[0].clone();
        let id = m.pop();
        (id, m)
    };
    cfg.listen = plain;
    let err = start(cfg).await.err().expect("second bind fails");
    assert!(matches!(err, NetError::Listen { .. }), "{err}");

    // Not a TCP address.
    let mut cfg = config(GENESIS, &[], 10);
    cfg.listen = "/ip4/127.0.0.1/udp/0".parse().unwrap();
    let err = start(cfg).await.err().expect("udp is not supported");
    assert!(matches!(err, NetError::InvalidListenAddr { .. }), "{err}");
}

/// A peer that speaks the sync protocol but sends bytes that are not a SyncRequest.
mod raw {
    use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::{StreamProtocol, Swarm, noise, tcp, yamux};
    use std::io;

    #[derive(Clone, Default)]
    pub struct RawCodec;

    impl request_response::Codec for RawCodec {
        type Protocol = StreamProtocol;
        type Request = Vec<u8>;
        type Response = Vec<u8>;
        async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
            let mut v = Vec::new();
            io.read_to_end(&mut v).await?;
            Ok(v)
        }
        async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
            let mut v = Vec::new();
            io.read_to_end(&mut v).await?;
            Ok(v)
        }
        async fn write_request<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, r: Vec<u8>) -> io::Result<()> {
            io.write_all(&r).await
        }
        async fn write_response<T: AsyncWrite + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T, r: Vec<u8>) -> io::Result<()> {
            io.write_all(&r).await
        }
    }

    pub type RawSwarm = Swarm<request_response::Behaviour<RawCodec>>;

    pub fn swarm(chain: &str) -> RawSwarm {
        let proto = StreamProtocol::try_from_owned(format!("/cpc/{chain}/sync/1")).unwrap();
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| {
                request_response::Behaviour::with_codec(
                    RawCodec,
                    [(proto, ProtocolSupport::Outbound)],
                    request_response::Config::default(),
                )
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(60)))
            .build()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_penalised_until_the_sender_is_banned() {
    use libp2p::futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    init_tracing();
    let a = node(&[], 10).await;
    let mut raw = raw::swarm(CHAIN);
    let raw_id = *raw.local_peer_id();
    raw.dial(a.addr()).unwrap();
    let connected = tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { .. } = raw.select_next_some().await {
                break;
            }
        }
    })
    .await;
    assert!(connected.is_ok(), "raw peer could not connect");
    // -BAN_THRESHOLD / -MINOR_PENALTY garbage requests reach the ban threshold.
    let needed = (BAN_THRESHOLD / MINOR_PENALTY) as usize;
    for _ in 0..needed {
        raw.behaviour_mut().send_request(&a.id(), b"\xff\xfenot cbor".to_vec());
    }
    // Well before HANDSHAKE_TIMEOUT would close the (never identified) connection anyway.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let SwarmEvent::ConnectionClosed { num_established: 0, .. } = raw.select_next_some().await {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "A did not disconnect a peer sending garbage");
    // Banned: a redial is refused.
    raw.dial(a.addr()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drain = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            raw.select_next_some().await;
        }
    });
    let _ = drain.await;
    assert!(!a.net.connected_peer_ids().await.contains(&raw_id), "banned peer reconnected");
}

/// A burst of transactions reaches a peer whole: they travel in batches, where one message
/// per transaction overflowed gossipsub's send queue (5 000 messages a peer) and dropped the
/// rest for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_twenty_thousand_transactions_arrives_whole_in_batches() {
    init_tracing();
    let a = node(&[], 10).await;
    let mut b = node(&[&a], 10).await;
    assert!(linked(&a, &b).await);
    const N: usize = 20_000;
    let tx = |i: usize| format!("{{\"tx\":{i},\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes();
    for i in 0..N {
        a.net.publish_tx(tx(i));
    }
    let mut got = std::collections::HashSet::new();
    let mut messages = 0;
    while got.len() < N {
        let Some(data) = b.expect(WAIT, |ev| match ev {
            NetEvent::GossipTx { data, .. } => Some(data),
            _ => None,
        })
        .await
        else {
            break;
        };
        messages += 1;
        assert!(data.len() <= MAX_GOSSIP_TX_BYTES, "a message of {} bytes", data.len());
        for t in decode_tx_gossip(&data).expect("a well-formed batch") {
            assert!(got.insert(t.to_vec()), "a transaction delivered twice");
        }
    }
    assert_eq!(got.len(), N, "{} of {N} transactions arrived in {messages} messages", got.len());
    assert!(got.contains(&tx(0)) && got.contains(&tx(N - 1)));
    // ~225 bytes each, 256 KiB a message: about 20 messages, not 20 000.
    assert!(messages <= N / 500, "{N} transactions took {messages} messages");
}
