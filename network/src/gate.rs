//! A connection gate: refuses connections while the node is isolated (the partition test
//! hook) and beyond `max_peers` distinct peers. It handles no protocol (dummy handler); it only
//! answers the swarm's "may this connection exist?" callbacks and counts connected peers.

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::task::{Context, Poll};

/// Why the gate refused a connection (shown in dial / listen errors).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the node is isolated (set_isolated / set_partition): no connections until it is lifted")]
    Isolated,
    #[error("partitioned: peer {0} is outside this node's side of the partition")]
    OutsidePartition(PeerId),
    #[error("peer limit reached: {connected} peers connected, max_peers is {max}")]
    PeerLimit { connected: usize, max: usize },
}

pub struct Gate {
    max_peers: usize,
    /// `None`: open. `Some(set)`: only these peers may be connected (empty: isolated).
    allowed: Option<HashSet<PeerId>>,
    /// Established connections per peer.
    connections: HashMap<PeerId, usize>,
}

impl Gate {
    pub fn new(max_peers: usize) -> Self {
        Gate { max_peers, allowed: None, connections: HashMap::new() }
    }

    /// Restricts connections to `allowed` (`Some(empty)` isolates), or lifts it (`None`).
    pub fn set_partition(&mut self, allowed: Option<HashSet<PeerId>>) {
        self.allowed = allowed;
    }

    /// No connection at all is allowed.
    pub fn is_isolated(&self) -> bool {
        self.allowed.as_ref().is_some_and(|a| a.is_empty())
    }

    /// Some restriction is in force.
    pub fn is_partitioned(&self) -> bool {
        self.allowed.is_some()
    }

    /// Whether a connection to `peer` is allowed by the partition.
    pub fn permits(&self, peer: &PeerId) -> bool {
        self.allowed.as_ref().is_none_or(|a| a.contains(peer))
    }

    /// Whether one more distinct peer would fit under `max_peers`.
    pub fn has_room(&self) -> bool {
        self.connections.len() < self.max_peers
    }

    fn check(&self, peer: Option<PeerId>) -> Result<(), ConnectionDenied> {
        if self.is_isolated() {
            return Err(ConnectionDenied::new(Refused::Isolated));
        }
        if let Some(allowed) = &self.allowed {
            match peer {
                Some(p) if allowed.contains(&p) => {}
                Some(p) => return Err(ConnectionDenied::new(Refused::OutsidePartition(p))),
                None => return Err(ConnectionDenied::new(Refused::Isolated)),
            }
        }
        // A further connection to a peer we already count does not add a peer.
        if let Some(p) = peer
            && self.connections.contains_key(&p)
        {
            return Ok(());
        }
        if self.connections.len() >= self.max_peers {
            return Err(ConnectionDenied::new(Refused::PeerLimit {
                connected: self.connections.len(),
                max: self.max_peers,
            }));
        }
        Ok(())
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        // Refuse before the Noise handshake when isolated; the peer limit needs the PeerId and
        // is checked once the connection is established.
        if self.is_isolated() {
            return Err(ConnectionDenied::new(Refused::Isolated));
        }
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(Some(peer))?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.check(peer)?;
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(Some(peer))?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                *self.connections.entry(e.peer_id).or_default() += 1;
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(n) = self.connections.get_mut(&e.peer_id) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.connections.remove(&e.peer_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
