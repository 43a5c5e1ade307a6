//! What the node's services share around the engine: the network handle once started, sync
//! progress, the RPC event fan-out, the miner's handle and results parked for an unknown tip.
//! The chain itself (store, pool, import, production) is the engine's (`cpc-engine`).

use cpc_engine::{Admitted, Engine, EngineEvent};
use cpc_mempool::AdmitError;
use cpc_primitives::{Transaction, H256};
use cpc_state::Head;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Results parked for an unknown tip, at most (oldest dropped first): a few blocks' worth of
/// every miner's shares.
pub const MAX_PARKED_RESULTS: usize = 1024;
/// How long a parked result waits for its tip: several block times on any sane network; a tip
/// that has not arrived by then is on a branch we will not follow.
pub const PARKED_RESULT_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Chain events buffered for WebSocket subscribers; one that falls further behind is dropped.
pub const EVENT_BUFFER: usize = 4096;

/// `cpc_syncing` while catching up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncProgress {
    pub starting_block: u64,
    pub current_block: u64,
    pub highest_block: u64,
}

pub struct Node {
    pub engine: Arc<Engine>,
    /// Prometheus series of the node's services (the engine's are in the same registry).
    pub metrics: Arc<crate::services::metrics::Metrics>,
    /// The peer-to-peer network, once started (absent under `--dev` without `--p2p.port`).
    pub net: OnceLock<cpc_network::NetworkHandle>,
    /// Sync progress while behind the best peer.
    pub sync: Mutex<Option<SyncProgress>>,
    /// Chain events for WebSocket subscribers (RPC shapes, made from the engine's events).
    pub events: tokio::sync::broadcast::Sender<cpc_rpc::ChainEvent>,
    /// The in-process miner, when mining.
    pub miner: OnceLock<cpc_miner::MinerHandle>,
    /// Gossiped results whose tip this node does not know yet: re-checked on new heads.
    pub parked: Mutex<VecDeque<(Instant, Transaction)>>,
    /// This node is a validator deciding blocks by BFT consensus: it takes its blocks from
    /// consensus, not from block gossip or this node's sync (full nodes use those).
    pub bft: std::sync::atomic::AtomicBool,
    /// What BFT consensus is doing, once it runs (`cpc_consensusState`).
    pub consensus: OnceLock<cpc_bft::service::ConsensusProbe>,
}

impl Node {
    pub fn new(engine: Arc<Engine>, metrics: Arc<crate::services::metrics::Metrics>) -> Node {
        Node {
            engine,
            metrics,
            net: OnceLock::new(),
            sync: Mutex::new(None),
            events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
            miner: OnceLock::new(),
            parked: Mutex::new(VecDeque::new()),
            bft: std::sync::atomic::AtomicBool::new(false),
            consensus: OnceLock::new(),
        }
    }

    pub fn bft_mode(&self) -> bool {
        self.bft.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn head(&self) -> Head {
        self.engine.head()
    }

    /// Whether a peer is known to be ahead of us.
    pub fn is_syncing(&self) -> bool {
        self.sync.lock().is_some()
    }

    /// Full admission of one transaction; an admitted transaction is gossiped to peers — a
    /// synthetic result only once fully recomputed, on a pool thread, so that this node never
    /// relays forged work (its peers would rightly penalise it).
    pub fn submit(self: &Arc<Self>, tx: Transaction) -> Result<H256, AdmitError> {
        let bytes = self.net.get().map(|_| tx.canonical_json());
        let Admitted { hash, synthetic } = self.engine.admit(tx)?;
        match synthetic {
            None => {
                if let (Some(net), Some(b)) = (self.net.get(), bytes) {
                    net.publish_tx(b);
                }
            }
            Some((r, tip)) => {
                let node = self.clone();
                rayon::spawn(move || {
                    if node.engine.verify_admitted(&r, &tip)
                        && let (Some(net), Some(b)) = (node.net.get(), bytes)
                    {
                        net.publish_tx(b);
                    }
                });
            }
        }
        Ok(hash)
    }

    /// Turns the engine's events into the RPC's until the engine's channel closes or `stop`.
    pub async fn forward_events(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut rx = self.engine.events();
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = stop.changed() => return Ok(()),
            };
            match ev {
                Ok(EngineEvent::Pending(h)) => {
                    let _ = self.events.send(cpc_rpc::ChainEvent::PendingTx(h));
                }
                Ok(EngineEvent::Committed(c)) => {
                    if self.events.receiver_count() > 0 {
                        let _ = self.events.send(cpc_rpc::ChainEvent::Block(Arc::new(crate::services::rpc::block_event(&c, || {
                            self.engine.window_for(c.block.header.height).map(|w| w.0).unwrap_or_default()
                        }))));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "RPC event fan-out fell behind the engine; subscribers missed events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => anyhow::bail!("the engine's event stream closed"),
            }
        }
    }
}

impl cpc_miner::jobs::TxSender for LocalSink {
    fn send(&self, key: &cpc_primitives::SecretKey, tx_type: cpc_primitives::TxType, amount: u128, p: cpc_primitives::Payload) -> anyhow::Result<H256> {
        let node = self.node.upgrade().ok_or_else(|| anyhow::anyhow!("the node is shutting down"))?;
        let _one_at_a_time = self.nonce_lock.lock();
        let nonce = LocalSink::next_nonce(&node, key);
        let params = node.engine.params();
        let tx = cpc_miner::jobs::sign(key, &params.chain_id, tx_type, amount, nonce, params.min_gas_price, p);
        node.submit(tx).map_err(|e| anyhow::anyhow!("{tx_type}: {e}"))
    }
}

/// The in-process miner's market jobs (`--mine --jobs`): the same answers as JSON-RPC's
/// `job_*` methods, from this node's store, without a socket. Weak, like [`LocalSink`].
pub struct LocalJobs(pub std::sync::Weak<Node>);

impl LocalJobs {
    /// Runs `f` on the node's JSON-RPC implementation on a blocking thread (store reads).
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::services::rpc::Api) -> Result<T, cpc_rpc::ApiError> + Send + 'static,
    ) -> anyhow::Result<T> {
        let node = self.0.upgrade().ok_or_else(|| anyhow::anyhow!("the node is shutting down"))?;
        let api = crate::services::rpc::Api(node);
        tokio::task::spawn_blocking(move || f(&api)).await?.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

impl cpc_miner::jobs::JobNode for LocalJobs {
    fn open_jobs(&self, after: Option<H256>) -> cpc_miner::jobs::Answer<'_, Vec<serde_json::Value>> {
        use cpc_rpc::ChainApi;
        Box::pin(self.with(move |api| api.jobs(None, after.as_ref(), cpc_miner::jobs::OPEN_JOBS_PAGE)))
    }
    fn job(&self, id: H256) -> cpc_miner::jobs::Answer<'_, serde_json::Value> {
        use cpc_rpc::ChainApi;
        Box::pin(self.with(move |api| Ok(api.job(&id)?.unwrap_or(serde_json::Value::Null))))
    }
    fn balance(&self, addr: cpc_primitives::Address) -> cpc_miner::jobs::Answer<'_, u128> {
        Box::pin(self.with(move |api| {
            api.0.engine.store().account(&addr).map(|a| a.balance).map_err(|e| cpc_rpc::ApiError::Internal(e.to_string()))
        }))
    }
    fn blob_data(&self, root: H256) -> cpc_miner::jobs::Answer<'_, Option<Vec<u8>>> {
        use cpc_state::StateView;
        Box::pin(self.with(move |api| {
            let b = api.0.engine.store().blob(&root).map_err(|e| cpc_rpc::ApiError::Internal(e.to_string()))?;
            Ok(b.map(|b| b.data.clone()))
        }))
    }
    fn put_blob(&self, blob: cpc_primitives::blob::Blob) -> cpc_miner::jobs::Answer<'_, H256> {
        use cpc_rpc::ChainApi;
        Box::pin(async move {
            let put = self.with(move |api| api.put_blob(blob.kind, blob.rows, blob.cols, blob.data)).await?;
            Ok(serde_json::from_value(put["root"].clone())?)
        })
    }
}

/// The in-process miner's way into this node: its results enter the pool like any other
/// transaction. Holds the node weakly (the node holds the miner's handle: a strong reference
/// here would be a cycle that keeps the database open at exit).
/// One sink serves the synthetic miner's threads and the market job loop, which sign with the
/// same account: `nonce_lock` makes each "next nonce, sign, admit" one step, so two senders
/// never draw the same nonce (the second would be refused as a replacement at the same price).
pub struct LocalSink {
    node: std::sync::Weak<Node>,
    nonce_lock: Mutex<()>,
}

impl LocalSink {
    pub fn new(node: &Arc<Node>) -> LocalSink {
        LocalSink { node: Arc::downgrade(node), nonce_lock: Mutex::new(()) }
    }

    /// The account's next nonce: its committed nonce past what it has in the pool.
    fn next_nonce(node: &Node, key: &cpc_primitives::SecretKey) -> u64 {
        let from = cpc_primitives::Address::from_public_key(&key.public_key());
        let committed = node.engine.store().account(&from).map(|a| a.nonce).unwrap_or(0);
        node.engine.mempool().pending_nonce(&from, committed)
    }
}

impl cpc_miner::ResultSink for LocalSink {
    fn submit(&self, key: &cpc_primitives::SecretKey, r: &cpc_primitives::ComputeResult) -> Result<H256, (String, String)> {
        let Some(node) = self.node.upgrade() else {
            return Err(("stopped".into(), "the node is shutting down".into()));
        };
        let _one_at_a_time = self.nonce_lock.lock();
        let nonce = LocalSink::next_nonce(&node, key);
        let tx = cpc_miner::result_tx(key, r, &node.engine.params().chain_id, nonce, node.engine.params().min_gas_price);
        node.submit(tx).map_err(|e| (e.reason().to_string(), e.to_string()))
    }
}
