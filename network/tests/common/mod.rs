//! Helpers shared by the integration tests: real swarms on 127.0.0.1, port 0.
#![allow(dead_code)]

use cpc_network::*;
use cpc_primitives::H256;
use libp2p::identity::Keypair;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

pub const CHAIN: &str = "cpc-test";
pub const GENESIS: H256 = H256([7; 32]);
/// How long tests wait for something that should happen (generous: 2 shared cores).
pub const WAIT: Duration = Duration::from_secs(10);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub struct Node {
    pub net: NetworkHandle,
    pub events: Receiver<NetEvent>,
}

pub fn config(genesis: H256, bootnodes: &[&Node], max_peers: usize) -> NetworkConfig {
    NetworkConfig {
        chain_id: CHAIN.into(),
        genesis_hash: genesis,
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes: bootnodes.iter().map(|n| n.addr()).collect(),
        max_peers,
        keypair: Keypair::generate_ed25519(),
    }
}

pub async fn node_with(cfg: NetworkConfig) -> Node {
    let (net, events) = start(cfg).await.expect("network starts");
    Node { net, events }
}

pub async fn node(bootnodes: &[&Node], max_peers: usize) -> Node {
    node_with(config(GENESIS, bootnodes, max_peers)).await
}

impl Node {
    pub fn id(&self) -> PeerId {
        self.net.local_peer_id()
    }

    /// The first listen address, with /p2p/<id>.
    pub fn addr(&self) -> Multiaddr {
        self.net.listen_addrs()[0].clone()
    }

    /// The next event for which `f` returns Some, within `within`; events `f` declines are
    /// dropped (a dropped Request is answered Error by the network).
    pub async fn expect<T>(&mut self, within: Duration, mut f: impl FnMut(NetEvent) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(ev)) => {
                    if let Some(t) = f(ev) {
                        return Some(t);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Whether `peer` is among the announced peers.
    pub async fn has_peer(&self, peer: PeerId) -> bool {
        self.net.peers().await.iter().any(|p| p.peer_id == peer)
    }
}

/// Polls `cond` every 50 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `a` and `b` have announced each other.
pub async fn linked(a: &Node, b: &Node) -> bool {
    eventually(WAIT, || async { a.has_peer(b.id()).await && b.has_peer(a.id()).await }).await
}

/// Answers the node's inbound sync requests with `answer`; `None` means hold the reply
/// forever (never answer). Other events are dropped.
pub fn serve(
    mut events: Receiver<NetEvent>,
    answer: impl Fn(SyncRequest) -> Option<SyncResponse> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(ev) = events.recv().await {
            if let NetEvent::Request { req, reply, .. } = ev {
                match answer(req) {
                    Some(resp) => {
                        let _ = reply.send(resp);
                    }
                    None => held.push(reply),
                }
            }
        }
    })
}

pub fn status(genesis: H256, height: u64) -> Status {
    Status { chain_id: CHAIN.into(), genesis_hash: genesis, head_height: height, head_hash: H256([height as u8; 32]) }
}
