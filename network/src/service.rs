//! The swarm and the task that drives it.

use crate::codec::{CodecError, SyncCodec};
use crate::gate::Gate;
use crate::peers::{PeerBook, PenaltyOutcome, Rate};
use crate::*;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{StreamProtocol, Swarm, allow_block_list, identify, kad, noise, ping, tcp, yamux};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(NetworkBehaviour)]
struct Behaviour {
    // The gates come first: a refused connection never reaches the protocol behaviours.
    gate: Gate,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

/// The gossipsub message id: SHA-256 of the payload, so the same block or transaction
/// published or forwarded by different peers is one message.
pub fn message_id_of(data: &[u8]) -> MessageId {
    MessageId::new(&cpc_primitives::sha256(data).0)
}

/// One connected peer, from its first connection to its last.
struct PeerState {
    addr: Multiaddr,
    inbound: bool,
    since: Instant,
    /// identify confirmed chain and genesis.
    identified: bool,
    /// Subscribed to the blocks topic.
    subscribed: bool,
    /// PeerConnected was emitted.
    announced: bool,
}

struct PendingRequest {
    is_status: bool,
    reply: oneshot::Sender<Result<SyncResponse, NetError>>,
}

type Responder = (request_response::ResponseChannel<SyncResponse>, SyncResponse);

/// Gossip message ids received lately, so that the node does not publish what a peer already
/// sent it (gossipsub would refuse it as a duplicate, with a warning): several validators
/// gossip the same certified block.
const RECENT_GOSSIP_IDS: usize = 8192;

struct Service {
    /// Transactions published and not sent yet, with their batch's size (txbatch.rs): sent as
    /// one message when the next would not fit or TX_BATCH_DELAY after the first.
    tx_batch: (Vec<Vec<u8>>, usize),
    /// Ids of the gossip received lately (FIFO-bounded by RECENT_GOSSIP_IDS).
    recent: (std::collections::HashSet<MessageId>, std::collections::VecDeque<MessageId>),
    swarm: Swarm<Behaviour>,
    local_peer_id: PeerId,
    chain_id: String,
    genesis_hash: H256,
    identify_version: String,
    kad_protocol: StreamProtocol,
    blocks_topic: IdentTopic,
    txs_topic: IdentTopic,
    evidence_topic: IdentTopic,
    bootnodes: Vec<(Option<PeerId>, Multiaddr)>,
    peers: HashMap<PeerId, PeerState>,
    book: PeerBook,
    /// Dialable addresses of peers seen before, for redials; `known_order` is oldest first.
    known: HashMap<PeerId, Vec<Multiaddr>>,
    known_order: VecDeque<PeerId>,
    pending: HashMap<OutboundRequestId, PendingRequest>,
    events: mpsc::Sender<NetEvent>,
    queue: VecDeque<NetEvent>,
    node_gone: bool,
    respond_tx: mpsc::UnboundedSender<Responder>,
    listen_addrs: Arc<std::sync::RwLock<Vec<Multiaddr>>>,
    peer_count: Arc<AtomicUsize>,
    /// When the next kad bootstrap is due, and the pause after it (see KAD_BOOTSTRAP_MIN_INTERVAL).
    next_bootstrap: Instant,
    bootstrap_pause: Duration,
}

fn protocol(s: String, chain_id: &str) -> Result<StreamProtocol, NetError> {
    StreamProtocol::try_from_owned(s)
        .map_err(|e| NetError::InvalidChainId { chain_id: chain_id.to_string(), reason: e.to_string() })
}

/// Splits a trailing `/p2p/<id>` off an address.
fn split_peer_id(addr: &Multiaddr) -> (Option<PeerId>, Multiaddr) {
    let mut a = addr.clone();
    match a.pop() {
        Some(Protocol::P2p(id)) => (Some(id), a),
        _ => (None, addr.clone()),
    }
}

/// Whether an address a peer reports for itself is worth dialing, given the address we see it
/// at: never an unspecified address, and a loopback address only for a peer on this host.
fn is_dialable(addr: &Multiaddr, seen_at: &Multiaddr) -> bool {
    let loopback = |a: &Multiaddr| match a.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    };
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) if ip.is_unspecified() => false,
        Some(Protocol::Ip6(ip)) if ip.is_unspecified() => false,
        _ if loopback(addr) => loopback(seen_at),
        _ => true,
    }
}

/// libp2p-tcp binds listeners with SO_REUSEPORT, so a second node on the same fixed port would
/// start "successfully" and the kernel would split inbound connections between the two. Binding
/// a plain socket first (no SO_REUSEPORT) fails with "address in use" in that case.
fn probe_port(addr: &Multiaddr) -> Result<(), NetError> {
    let mut it = addr.iter();
    let ip: std::net::IpAddr = match it.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()), // libp2p reports unsupported addresses itself
    };
    let Some(Protocol::Tcp(port)) = it.next() else { return Ok(()) };
    if port == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind((ip, port))
        .map(drop)
        .map_err(|e| NetError::Listen { addr: addr.clone(), reason: e.to_string() })
}

pub(crate) async fn start(cfg: NetworkConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
    let local_peer_id = cfg.keypair.public().to_peer_id();
    let chain = &cfg.chain_id;
    let kad_protocol = protocol(format!("/cpc/{chain}/kad/1"), chain)?;
    let sync_protocol = protocol(format!("/cpc/{chain}/sync/1"), chain)?;
    let blocks_topic = IdentTopic::new(format!("/cpc/{chain}/blocks/1"));
    let txs_topic = IdentTopic::new(format!("/cpc/{chain}/txs/1"));
    let evidence_topic = IdentTopic::new(format!("/cpc/{chain}/evidence/1"));
    let identify_version = format!("{IDENTIFY_PROTOCOL}/{chain}/{}", cfg.genesis_hash.to_hex());

    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .history_length(GOSSIP_VERDICT_WINDOW_HEARTBEATS)
        .message_id_fn(|m: &gossipsub::Message| message_id_of(&m.data))
        .max_transmit_size(MAX_GOSSIP_BYTES + GOSSIP_FRAME_OVERHEAD)
        .max_transmit_size_for_topic(MAX_GOSSIP_TX_BYTES + GOSSIP_FRAME_OVERHEAD, txs_topic.hash())
        .max_transmit_size_for_topic(MAX_GOSSIP_EVIDENCE_BYTES + GOSSIP_FRAME_OVERHEAD, evidence_topic.hash())
        .build()
        .map_err(|e| NetError::Setup(format!("gossipsub config: {e}")))?;
    let mut gossip =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(cfg.keypair.clone()), gossip_config)
            .map_err(|e| NetError::Setup(format!("gossipsub: {e}")))?;
    for t in [&blocks_topic, &txs_topic, &evidence_topic] {
        gossip.subscribe(t).map_err(|e| NetError::Setup(format!("subscribing to {t}: {e}")))?;
    }

    let mut kad_config = kad::Config::new(kad_protocol.clone());
    // Our own tick drives periodic bootstraps so that none runs while isolated.
    kad_config.set_periodic_bootstrap_interval(None);
    // Kademlia serves only for peer discovery: remote PUT_VALUE / ADD_PROVIDER are not stored
    // (they would be free storage for anyone).
    kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
    let mut kad = kad::Behaviour::with_config(local_peer_id, kad::store::MemoryStore::new(local_peer_id), kad_config);
    // Server mode from the start: without a confirmed external address kad would stay a client
    // and peers would not put us in their routing tables.
    kad.set_mode(Some(kad::Mode::Server));

    let behaviour = Behaviour {
        gate: Gate::new(cfg.max_peers),
        blocked: allow_block_list::Behaviour::default(),
        identify: identify::Behaviour::new(
            identify::Config::new(identify_version.clone(), cfg.keypair.public())
                .with_agent_version(AGENT_VERSION.to_string())
                .with_push_listen_addr_updates(true),
        ),
        ping: ping::Behaviour::new(ping::Config::new()),
        kad,
        gossipsub: gossip,
        sync: request_response::Behaviour::with_codec(
            SyncCodec::default(),
            [(sync_protocol, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(SYNC_MAX_CONCURRENT_STREAMS),
        ),
    };

    let swarm = libp2p::SwarmBuilder::with_existing_identity(cfg.keypair.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| NetError::Setup(format!("tcp/noise/yamux transport: {e}")))?
        .with_behaviour(move |_| behaviour)
        .map_err(|e| NetError::Setup(format!("behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();

    let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (respond_tx, respond_rx) = mpsc::unbounded_channel();
    let listen_addrs = Arc::new(std::sync::RwLock::new(Vec::new()));
    let peer_count = Arc::new(AtomicUsize::new(0));

    let mut bootnodes = Vec::new();
    for b in &cfg.bootnodes {
        let (id, addr) = split_peer_id(b);
        if id == Some(local_peer_id) {
            continue; // our own address in a shared bootnode list
        }
        if id.is_none() {
            tracing::warn!(%b, "bootnode address has no /p2p/<peer id> suffix; dialing it unverified");
        }
        bootnodes.push((id, addr));
    }

    let mut svc = Service {
        swarm,
        local_peer_id,
        chain_id: cfg.chain_id.clone(),
        genesis_hash: cfg.genesis_hash,
        identify_version,
        kad_protocol,
        blocks_topic,
        txs_topic,
        evidence_topic,
        bootnodes,
        peers: HashMap::new(),
        book: PeerBook::default(),
        recent: Default::default(),
        tx_batch: (Vec::new(), crate::txbatch::BATCH_HEADER),
        known: HashMap::new(),
        known_order: VecDeque::new(),
        pending: HashMap::new(),
        events: events_tx,
        queue: VecDeque::new(),
        node_gone: false,
        respond_tx,
        listen_addrs: listen_addrs.clone(),
        peer_count: peer_count.clone(),
        next_bootstrap: Instant::now(),
        bootstrap_pause: KAD_BOOTSTRAP_MIN_INTERVAL,
    };

    svc.listen(&cfg.listen).await?;
    tracing::info!(peer_id = %local_peer_id, addrs = ?svc.listen_addrs.read().unwrap().clone(), "p2p listening");
    for (id, addr) in svc.bootnodes.clone() {
        if let Some(id) = id {
            svc.swarm.behaviour_mut().kad.add_address(&id, addr.clone());
        }
        svc.dial(id, vec![addr]);
    }
    svc.bootstrap();

    tokio::spawn(svc.run(cmd_rx, respond_rx));
    let handle = NetworkHandle { cmd: cmd_tx, local_peer_id, listen_addrs, peer_count };
    Ok((handle, events_rx))
}

impl Service {
    /// Starts the listener and waits for its first bound address.
    async fn listen(&mut self, addr: &Multiaddr) -> Result<(), NetError> {
        probe_port(addr)?;
        let id = self.swarm.listen_on(addr.clone()).map_err(|e| match e {
            libp2p::TransportError::MultiaddrNotSupported(a) => NetError::InvalidListenAddr {
                addr: a,
                reason: "expected /ip4/<ip>/tcp/<port> or /ip6/<ip>/tcp/<port>".into(),
            },
            libp2p::TransportError::Other(e) => NetError::Listen { addr: addr.clone(), reason: e.to_string() },
        })?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .map_err(|_| NetError::ListenTimeout { addr: addr.clone(), waited: START_TIMEOUT })?;
            match ev {
                SwarmEvent::ListenerClosed { listener_id, reason, .. } if listener_id == id => {
                    let reason = match reason {
                        Ok(()) => "listener closed".to_string(),
                        Err(e) => e.to_string(),
                    };
                    return Err(NetError::Listen { addr: addr.clone(), reason });
                }
                SwarmEvent::ListenerError { listener_id, error } if listener_id == id => {
                    return Err(NetError::Listen { addr: addr.clone(), reason: error.to_string() });
                }
                ev @ SwarmEvent::NewListenAddr { .. } => {
                    self.on_swarm_event(ev);
                    return Ok(());
                }
                ev => self.on_swarm_event(ev),
            }
        }
    }

    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut responses: mpsc::UnboundedReceiver<Responder>,
    ) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        let start = tokio::time::Instant::now();
        let mut redial = tokio::time::interval_at(start + BOOTNODE_REDIAL_INTERVAL, BOOTNODE_REDIAL_INTERVAL);
        for t in [&mut maintenance, &mut redial] {
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let events = self.events.clone();
        let tx_flush = tokio::time::sleep(crate::txbatch::TX_BATCH_DELAY);
        tokio::pin!(tx_flush);
        let mut flush_armed = false;
        loop {
            if !flush_armed && !self.tx_batch.0.is_empty() {
                tx_flush.as_mut().reset(tokio::time::Instant::now() + crate::txbatch::TX_BATCH_DELAY);
                flush_armed = true;
            }
            tokio::select! {
                () = &mut tx_flush, if flush_armed => {
                    flush_armed = false;
                    self.flush_txs();
                }
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                cmd = cmds.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    None => break, // every handle dropped: shut down
                },
                Some((channel, resp)) = responses.recv() => {
                    if self.swarm.behaviour_mut().sync.send_response(channel, resp).is_err() {
                        tracing::debug!("sync response not sent: the request timed out or its connection closed");
                    }
                }
                _ = maintenance.tick() => self.maintenance(),
                _ = redial.tick() => self.redial_bootnodes(),
                permit = events.reserve(), if !self.queue.is_empty() && !self.node_gone => match permit {
                    Ok(p) => p.send(self.queue.pop_front().expect("queue is not empty")),
                    Err(_) => self.node_gone(),
                },
            }
        }
        tracing::info!("network task stopped");
    }

    // -----------------------------------------------------------------------------------------
    // Events to the node
    // -----------------------------------------------------------------------------------------

    fn emit(&mut self, ev: NetEvent) {
        if self.node_gone {
            return self.drop_event(ev);
        }
        if self.queue.is_empty() {
            match self.events.try_send(ev) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(ev)) => self.queue.push_back(ev),
                Err(mpsc::error::TrySendError::Closed(ev)) => {
                    self.node_gone();
                    self.drop_event(ev);
                }
            }
            return;
        }
        let droppable = matches!(
            ev,
            NetEvent::GossipBlock { .. } | NetEvent::GossipTx { .. } | NetEvent::GossipEvidence { .. } | NetEvent::Request { .. }
        );
        if droppable && self.queue.len() >= MAX_QUEUED_EVENTS {
            tracing::warn!(queued = self.queue.len(), "node is not keeping up with network events; dropping one");
            return self.drop_event(ev);
        }
        self.queue.push_back(ev);
    }

    /// Disposes of an event the node will never see: gossip is reported Ignore (no penalty,
    /// not forwarded); a request's reply sender is dropped, which answers Error.
    fn drop_event(&mut self, ev: NetEvent) {
        if let NetEvent::GossipBlock { id, from, .. } | NetEvent::GossipTx { id, from, .. } | NetEvent::GossipEvidence { id, from, .. } = ev {
            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &from, MessageAcceptance::Ignore);
        }
    }

    fn node_gone(&mut self) {
        if !self.node_gone {
            tracing::info!("the node dropped its network event receiver; events are discarded from now on");
        }
        self.node_gone = true;
        while let Some(ev) = self.queue.pop_front() {
            self.drop_event(ev);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Swarm events
    // -----------------------------------------------------------------------------------------

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.on_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(e) })) => {
                tracing::debug!(%peer, error = %e, "ping failed; closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gate(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Blocked(never)) => match never {},
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.with(Protocol::P2p(self.local_peer_id));
                let mut addrs = self.listen_addrs.write().unwrap_or_else(|e| e.into_inner());
                if !addrs.contains(&full) {
                    addrs.push(full);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address.with(Protocol::P2p(self.local_peer_id));
                self.listen_addrs.write().unwrap_or_else(|e| e.into_inner()).retain(|a| *a != full);
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connection established");
                if !endpoint.is_listener() {
                    let (_, addr) = split_peer_id(endpoint.get_remote_address());
                    self.remember(peer_id, vec![addr]);
                }
                if num_established.get() == 1 {
                    self.peers.insert(
                        peer_id,
                        PeerState {
                            addr: endpoint.get_remote_address().clone(),
                            inbound: endpoint.is_listener(),
                            since: Instant::now(),
                            identified: false,
                            subscribed: false,
                            announced: false,
                        },
                    );
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                tracing::debug!(peer = %peer_id, ?cause, "connection closed");
                if num_established == 0 {
                    self.book.forget_rates(&peer_id);
                    if let Some(state) = self.peers.remove(&peer_id)
                        && state.announced
                    {
                        self.peer_count.fetch_sub(1, Ordering::Relaxed);
                        tracing::info!(peer = %peer_id, "peer disconnected");
                        self.emit(NetEvent::PeerDisconnected(peer_id));
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                tracing::debug!(from = %send_back_addr, %error, "inbound connection failed");
            }
            _ => {}
        }
    }

    fn on_identify(&mut self, e: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = e else { return };
        if info.protocol_version != self.identify_version {
            let reason = format!(
                "identify protocol version: expected {:?} (chain {:?}, genesis {}), found {:?}",
                self.identify_version, self.chain_id, self.genesis_hash, info.protocol_version
            );
            return self.ban(peer_id, &reason);
        }
        let Some(state) = self.peers.get_mut(&peer_id) else { return };
        state.identified = true;
        let seen_at = state.addr.clone();
        let addrs: Vec<Multiaddr> = info
            .listen_addrs
            .iter()
            .map(|a| split_peer_id(a).1)
            .filter(|a| is_dialable(a, &seen_at))
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        if info.protocols.contains(&self.kad_protocol) {
            for a in &addrs {
                self.swarm.behaviour_mut().kad.add_address(&peer_id, a.clone());
            }
        }
        self.remember(peer_id, addrs);
        self.maybe_announce(peer_id);
    }

    fn maybe_announce(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.identified && state.subscribed && !state.announced {
            state.announced = true;
            self.peer_count.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%peer, addr = %state.addr, inbound = state.inbound, "peer connected");
            self.emit(NetEvent::PeerConnected(peer));
            // The network changed: look around again soon.
            self.bootstrap_pause = KAD_BOOTSTRAP_MIN_INTERVAL;
            self.next_bootstrap = self.next_bootstrap.min(Instant::now() + KAD_BOOTSTRAP_MIN_INTERVAL);
        }
    }

    fn on_gossip(&mut self, e: gossipsub::Event) {
        match e {
            gossipsub::Event::Subscribed { peer_id, topic } if topic == self.blocks_topic.hash() => {
                if let Some(s) = self.peers.get_mut(&peer_id) {
                    s.subscribed = true;
                }
                self.maybe_announce(peer_id);
            }
            gossipsub::Event::Message { propagation_source: from, message_id: id, message } => {
                self.on_gossip_message(from, id, message.topic, message.data)
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::debug!(peer = %peer_id, "peer does not support gossipsub");
            }
            _ => {}
        }
    }

    fn on_gossip_message(&mut self, from: PeerId, id: MessageId, topic: TopicHash, data: Vec<u8>) {
        if self.recent.0.insert(id.clone()) {
            self.recent.1.push_back(id.clone());
            if self.recent.1.len() > RECENT_GOSSIP_IDS
                && let Some(old) = self.recent.1.pop_front()
            {
                self.recent.0.remove(&old);
            }
        }
        let (topic, limit) = if topic == self.blocks_topic.hash() {
            (Topic::Blocks, MAX_GOSSIP_BYTES)
        } else if topic == self.txs_topic.hash() {
            (Topic::Txs, MAX_GOSSIP_TX_BYTES)
        } else if topic == self.evidence_topic.hash() {
            (Topic::Evidence, MAX_GOSSIP_EVIDENCE_BYTES)
        } else {
            self.report(id, from, MessageAcceptance::Ignore);
            return;
        };
        if data.len() > limit {
            self.report(id, from, MessageAcceptance::Reject);
            let reason = format!("{topic:?} gossip of {} bytes: expected at most {limit}", data.len());
            return self.penalize(from, GOSSIP_REJECT_SEVERITY, &reason);
        }
        if let Rate::Exceeded { first } = self.book.count_gossip(from, Instant::now()) {
            self.report(id, from, MessageAcceptance::Ignore);
            if first {
                let reason = format!("more than {MAX_GOSSIP_PER_PEER_PER_SEC} gossip messages per second");
                self.penalize(from, Severity::Minor, &reason);
            }
            return;
        }
        self.emit(match topic {
            Topic::Blocks => NetEvent::GossipBlock { id, from, data },
            Topic::Txs => NetEvent::GossipTx { id, from, data },
            Topic::Evidence => NetEvent::GossipEvidence { id, from, data },
        });
    }

    fn report(&mut self, id: MessageId, from: PeerId, acceptance: MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &from, acceptance);
    }

    fn on_sync(&mut self, e: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match e {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                self.on_inbound_request(peer, request, channel)
            }
            Event::Message { peer, message: Message::Response { request_id, response }, .. } => {
                let Some(p) = self.pending.remove(&request_id) else { return };
                let result = match (&response, p.is_status) {
                    (SyncResponse::Status(s), true) => self.check_status(peer, s).map(|()| response),
                    _ => Ok(response),
                };
                let _ = p.reply.send(result);
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                let Some(p) = self.pending.remove(&request_id) else { return };
                let err = match error {
                    OutboundFailure::Timeout => NetError::Timeout { peer, after: SYNC_REQUEST_TIMEOUT },
                    OutboundFailure::ConnectionClosed => NetError::ConnectionClosed(peer),
                    OutboundFailure::DialFailure => NetError::NotConnected(peer),
                    OutboundFailure::UnsupportedProtocols => NetError::UnsupportedProtocol {
                        peer,
                        protocol: format!("/cpc/{}/sync/1", self.chain_id),
                    },
                    OutboundFailure::Io(e) => match CodecError::from_io(&e).cloned() {
                        Some(CodecError::TooLarge { limit, .. }) => {
                            self.penalize(peer, Severity::Minor, &format!("sync response over {limit} bytes"));
                            NetError::ResponseTooLarge { peer, limit }
                        }
                        Some(CodecError::Undecodable { reason, .. }) => {
                            self.penalize(peer, Severity::Minor, &format!("undecodable sync response: {reason}"));
                            NetError::UndecodableResponse { peer, reason }
                        }
                        None => NetError::RequestFailed { peer, reason: e.to_string() },
                    },
                };
                let _ = p.reply.send(Err(err));
            }
            Event::InboundFailure { peer, error, .. } => {
                if let request_response::InboundFailure::Io(e) = &error
                    && let Some(ce) = CodecError::from_io(e)
                {
                    let reason = ce.to_string();
                    self.penalize(peer, Severity::Minor, &reason);
                } else {
                    tracing::debug!(%peer, %error, "inbound sync request failed");
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_inbound_request(
        &mut self,
        peer: PeerId,
        req: SyncRequest,
        channel: request_response::ResponseChannel<SyncResponse>,
    ) {
        let refuse = |svc: &mut Self, channel, msg: String| {
            let _ = svc.swarm.behaviour_mut().sync.send_response(channel, SyncResponse::Error(msg));
        };
        if let Rate::Exceeded { first } = self.book.count_request(peer, Instant::now()) {
            let msg = format!("rate limit: more than {MAX_REQUESTS_PER_PEER_PER_SEC} sync requests per second");
            if first {
                self.penalize(peer, Severity::Minor, &msg);
            }
            return refuse(self, channel, msg);
        }
        if let Err(msg) = req.check_bounds() {
            self.penalize(peer, Severity::Minor, &format!("out-of-bounds sync request: {msg}"));
            return refuse(self, channel, msg);
        }
        let (tx, rx) = oneshot::channel();
        let responses = self.respond_tx.clone();
        tokio::spawn(async move {
            let resp = match tokio::time::timeout(SYNC_REQUEST_TIMEOUT, rx).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(_)) => SyncResponse::Error("the node dropped the request without answering".into()),
                Err(_) => SyncResponse::Error(format!("the node did not answer within {SYNC_REQUEST_TIMEOUT:?}")),
            };
            let _ = responses.send((channel, resp));
        });
        self.emit(NetEvent::Request { peer, req, reply: tx });
    }

    /// A `Status` answer must be on our chain and genesis; otherwise the peer is banned.
    fn check_status(&mut self, peer: PeerId, s: &Status) -> Result<(), NetError> {
        if s.chain_id == self.chain_id && s.genesis_hash == self.genesis_hash {
            return Ok(());
        }
        let err = NetError::WrongChain {
            peer,
            expected_chain_id: self.chain_id.clone(),
            expected_genesis: self.genesis_hash,
            found_chain_id: s.chain_id.clone(),
            found_genesis: s.genesis_hash,
        };
        self.ban(peer, &err.to_string());
        Err(err)
    }

    fn on_kad(&mut self, e: kad::Event) {
        match e {
            kad::Event::RoutingUpdated { peer, addresses, .. } if self.should_dial(&peer) => {
                self.dial(Some(peer), addresses.into_vec());
            }
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(ok)), ..
            } => {
                for p in ok.peers {
                    if self.should_dial(&p.peer_id) {
                        self.dial(Some(p.peer_id), p.addrs);
                    }
                }
            }
            _ => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commands from the handle
    // -----------------------------------------------------------------------------------------

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Publish { topic, data } => self.publish(topic, data),
            Command::Report { id, from, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                self.report(id, from, acceptance);
                if verdict == Verdict::Reject {
                    self.penalize(from, GOSSIP_REJECT_SEVERITY, "gossip message rejected by the node");
                }
            }
            Command::Request { peer, req, reply } => {
                if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(NetError::NotConnected(peer)));
                    return;
                }
                let is_status = req == SyncRequest::Status;
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
                self.pending.insert(id, PendingRequest { is_status, reply });
            }
            Command::Penalize { peer, severity, reason } => self.penalize(peer, severity, &reason),
            Command::Peers(reply) => {
                let list = self
                    .peers
                    .iter()
                    .filter(|(_, s)| s.announced)
                    .map(|(id, s)| PeerInfo {
                        peer_id: *id,
                        addr: Some(s.addr.clone()),
                        score: self.book.score(id),
                        inbound: s.inbound,
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::Connected(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::SetPartition(allowed) => self.set_partition(allowed),
        }
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) {
        let (t, limit) = match topic {
            Topic::Blocks => (self.blocks_topic.clone(), MAX_GOSSIP_BYTES),
            Topic::Txs => (self.txs_topic.clone(), MAX_GOSSIP_TX_BYTES),
            Topic::Evidence => (self.evidence_topic.clone(), MAX_GOSSIP_EVIDENCE_BYTES),
        };
        if data.len() > limit {
            tracing::warn!(?topic, bytes = data.len(), limit, "not publishing: payload over the gossip limit");
            return;
        }
        if self.recent.0.contains(&message_id_of(&data)) {
            tracing::debug!(?topic, "not publishing: a peer already sent it");
            return;
        }
        if topic == Topic::Txs {
            let add = crate::txbatch::framed_len(data.len());
            if self.tx_batch.1 + add > MAX_GOSSIP_TX_BYTES {
                self.flush_txs();
            }
            self.tx_batch.0.push(data);
            self.tx_batch.1 += add;
            return;
        }
        self.publish_now(topic, t, data);
    }

    /// Sends the transactions gathered since the last flush as one message.
    fn flush_txs(&mut self) {
        if self.tx_batch.0.is_empty() {
            return;
        }
        let txs = std::mem::take(&mut self.tx_batch.0);
        self.tx_batch.1 = crate::txbatch::BATCH_HEADER;
        let data = crate::txbatch::encode_tx_gossip(&txs);
        self.publish_now(Topic::Txs, self.txs_topic.clone(), data);
    }

    fn publish_now(&mut self, topic: Topic, t: IdentTopic, data: Vec<u8>) {
        match self.swarm.behaviour_mut().gossipsub.publish(t, data) {
            Ok(id) => tracing::debug!(?topic, %id, "published"),
            Err(gossipsub::PublishError::Duplicate) => tracing::debug!(?topic, "already published"),
            Err(e @ gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                tracing::debug!(?topic, error = %e, "not published")
            }
            Err(e) => tracing::warn!(?topic, error = %e, "publish failed"),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Peers: penalties, bans, dialing, isolation
    // -----------------------------------------------------------------------------------------

    fn penalize(&mut self, peer: PeerId, severity: Severity, reason: &str) {
        if peer == self.local_peer_id {
            return;
        }
        match self.book.penalize(peer, severity, Instant::now()) {
            PenaltyOutcome::Lowered { score } => {
                tracing::debug!(%peer, ?severity, score, reason, "peer penalised")
            }
            PenaltyOutcome::Ban { score } => {
                tracing::debug!(%peer, ?severity, score, reason, "peer penalised to the ban threshold");
                self.ban(peer, reason);
            }
            PenaltyOutcome::AlreadyBanned => {}
        }
    }

    /// Disconnects `peer` and refuses it for BAN_DURATION.
    fn ban(&mut self, peer: PeerId, reason: &str) {
        if peer == self.local_peer_id || self.book.is_banned(&peer) {
            return;
        }
        tracing::warn!(%peer, reason, ban = ?BAN_DURATION, "banning peer");
        self.book.ban(peer, Instant::now());
        // block_peer closes its connections; ConnectionClosed then reports the disconnect.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        self.known.remove(&peer);
    }

    fn should_dial(&self, peer: &PeerId) -> bool {
        let gate = &self.swarm.behaviour().gate;
        *peer != self.local_peer_id
            && gate.permits(peer)
            && gate.has_room()
            && !self.book.is_banned(peer)
            && !self.swarm.is_connected(peer)
    }

    fn dial(&mut self, peer: Option<PeerId>, addrs: Vec<Multiaddr>) {
        let opts = match peer {
            Some(p) => DialOpts::peer_id(p)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build(),
            None => match addrs.into_iter().next() {
                Some(a) => DialOpts::unknown_peer_id().address(a).build(),
                None => return,
            },
        };
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(?peer, error = %e, "not dialing");
        }
    }

    /// Remembers dialable addresses of a peer for redials (bounded, oldest peer first out).
    fn remember(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if addrs.is_empty() || peer == self.local_peer_id {
            return;
        }
        let entry = self.known.entry(peer).or_insert_with(|| {
            self.known_order.push_back(peer);
            Vec::new()
        });
        for a in addrs {
            if !entry.contains(&a) {
                if entry.len() >= MAX_ADDRS_PER_PEER {
                    entry.remove(0);
                }
                entry.push(a);
            }
        }
        while self.known_order.len() > MAX_KNOWN_PEERS {
            if let Some(old) = self.known_order.pop_front() {
                self.known.remove(&old);
            }
        }
    }

    fn set_partition(&mut self, allowed: Option<Vec<PeerId>>) {
        let allowed: Option<std::collections::HashSet<PeerId>> = allowed.map(|v| v.into_iter().collect());
        let was = self.swarm.behaviour().gate.is_partitioned();
        let on = allowed.is_some();
        self.swarm.behaviour_mut().gate.set_partition(allowed);
        if on {
            let gate = &self.swarm.behaviour().gate;
            let cut: Vec<PeerId> = self.swarm.connected_peers().filter(|p| !gate.permits(p)).copied().collect();
            tracing::warn!(peers = cut.len(), "partitioned: disconnecting peers outside the allowed set and refusing them");
            for p in cut {
                let _ = self.swarm.disconnect_peer_id(p);
            }
        } else if was {
            tracing::warn!("isolation lifted: redialing bootnodes and known peers");
            // Dial failures while isolated may have pruned kad's addresses; put them back.
            let known: Vec<(PeerId, Vec<Multiaddr>)> = self.known.iter().map(|(p, a)| (*p, a.clone())).collect();
            for (p, addrs) in &known {
                for a in addrs {
                    self.swarm.behaviour_mut().kad.add_address(p, a.clone());
                }
            }
            self.redial_bootnodes();
            for (p, addrs) in known {
                if self.should_dial(&p) {
                    self.dial(Some(p), addrs);
                }
            }
            self.bootstrap();
        }
    }

    fn redial_bootnodes(&mut self) {
        for (id, addr) in self.bootnodes.clone() {
            match id {
                Some(p) if self.should_dial(&p) => {
                    self.swarm.behaviour_mut().kad.add_address(&p, addr.clone());
                    self.dial(Some(p), vec![addr]);
                }
                Some(_) => {}
                None => {
                    let gate = &self.swarm.behaviour().gate;
                    if !gate.is_partitioned() && self.peers.is_empty() {
                        self.dial(None, vec![addr]);
                    }
                }
            }
        }
    }

    /// Runs a kad bootstrap now (unless isolated) and schedules the next one.
    fn bootstrap(&mut self) {
        self.next_bootstrap = Instant::now() + self.bootstrap_pause;
        self.bootstrap_pause = (self.bootstrap_pause * 2).min(KAD_BOOTSTRAP_INTERVAL);
        if self.swarm.behaviour().gate.is_isolated() {
            return;
        }
        if let Err(e) = self.swarm.behaviour_mut().kad.bootstrap() {
            tracing::debug!(error = %e, "kad bootstrap skipped");
        }
    }

    fn maintenance(&mut self) {
        let now = Instant::now();
        for p in self.book.expire_bans(now) {
            tracing::info!(peer = %p, "ban expired");
            self.swarm.behaviour_mut().blocked.unblock_peer(p);
        }
        self.book.recover_scores(now);
        if now >= self.next_bootstrap {
            self.bootstrap();
        }
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.announced && now.duration_since(s.since) > HANDSHAKE_TIMEOUT)
            .map(|(p, _)| *p)
            .collect();
        for p in stale {
            let s = &self.peers[&p];
            tracing::debug!(
                peer = %p,
                identified = s.identified,
                subscribed = s.subscribed,
                "handshake incomplete after {HANDSHAKE_TIMEOUT:?}; disconnecting"
            );
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_peer_id_takes_only_a_trailing_p2p() {
        let id = PeerId::random();
        let a: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{id}").parse().unwrap();
        assert_eq!(split_peer_id(&a), (Some(id), "/ip4/127.0.0.1/tcp/1".parse().unwrap()));
        let b: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(split_peer_id(&b), (None, b.clone()));
    }

    #[test]
    fn loopback_addresses_are_dialable_only_for_local_peers() {
        let lo: Multiaddr = "/ip4/127.0.0.1/tcp/5".parse().unwrap();
        let lan: Multiaddr = "/ip4/10.1.2.3/tcp/5".parse().unwrap();
        let any: Multiaddr = "/ip4/0.0.0.0/tcp/5".parse().unwrap();
        assert!(is_dialable(&lo, &lo));
        assert!(!is_dialable(&lo, &lan));
        assert!(is_dialable(&lan, &lan));
        assert!(is_dialable(&lan, &lo));
        assert!(!is_dialable(&any, &lo));
    }

    #[test]
    fn message_id_is_the_payload_hash() {
        assert_eq!(message_id_of(b"abc"), message_id_of(b"abc"));
        assert_ne!(message_id_of(b"abc"), message_id_of(b"abd"));
        assert_eq!(message_id_of(b"abc").0, cpc_primitives::sha256(b"abc").0.to_vec());
    }
}
