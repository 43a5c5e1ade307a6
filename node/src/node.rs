//! The engine: chain state, mempool and block production wired together.

use anyhow::{bail, Context, Result};
use cpc_consensus::{build_block, window_heights, BuildContext, PocVerifier, Skip, ValidatorSet, WindowTip};
use cpc_genesis::Genesis;
use cpc_mempool::{prevalidate, AdmissionWindow, AdmitError, Mempool, MempoolConfig};
use cpc_primitives::{now_millis, Address, ComputeResult, SecretKey, Transaction, H256};
use std::sync::Arc;
use cpc_state::{ChainParams, Head, Store};
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// Candidates handed to the builder per block beyond what fits: leaves room for the ones it
/// skips (nonce gaps, failed synthetic checks) without scanning the whole pool.
const CANDIDATE_SLACK: usize = 256;

pub struct Node {
    pub store: Store,
    pub genesis_hash: H256,
    pub genesis: Genesis,
    pub params: ChainParams,
    pub validators: ValidatorSet,
    pub poc: PocVerifier,
    pub mempool: Mutex<Mempool>,
    /// The key this node proposes with (the dev validator under `--dev`).
    pub signer: Option<SecretKey>,
    /// Woken when a transaction enters the pool (instant block production).
    pub tx_arrived: Notify,
    head_tx: watch::Sender<Head>,
    pub(crate) commit_lock: Mutex<()>,
    /// Prometheus series (node/src/metrics.rs), recorded whether or not `--metrics` serves them.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Blocks known to be invalid (FIFO-bounded).
    pub(crate) invalid: Mutex<(HashSet<H256>, VecDeque<H256>)>,
    pub max_reorg_depth: u64,
    /// The peer-to-peer network, once started (absent under `--dev` without `--p2p.port`).
    pub net: OnceLock<cpc_network::NetworkHandle>,
    /// Sync progress while behind the best peer.
    pub sync: Mutex<Option<SyncProgress>>,
    /// Chain events for WebSocket subscribers.
    pub events: tokio::sync::broadcast::Sender<cpc_rpc::ChainEvent>,
    /// The in-process miner, when mining.
    pub miner: OnceLock<crate::miner::MinerHandle>,
    /// Gossiped results whose tip this node does not know yet: re-checked on new heads.
    pub parked: Mutex<VecDeque<(Instant, Transaction)>>,
}

/// A transaction the pool took, with what its synthetic result still needs: full
/// recomputation against `tip` before this node relays it.
pub struct Admitted {
    pub hash: H256,
    pub synthetic: Option<(Arc<ComputeResult>, H256)>,
}

/// Results parked for an unknown tip, at most (oldest dropped first): a few blocks' worth of
/// every miner's shares.
pub const MAX_PARKED_RESULTS: usize = 1024;
/// How long a parked result waits for its tip: several block times on any sane network; a tip
/// that has not arrived by then is on a branch we will not follow.
pub const PARKED_RESULT_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Chain events buffered for subscribers; one that falls further behind is dropped.
pub const EVENT_BUFFER: usize = 4096;

/// `cpc_syncing` while catching up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncProgress {
    pub starting_block: u64,
    pub current_block: u64,
    pub highest_block: u64,
}

impl Node {
    /// Opens the chain in `datadir`, creating it from `genesis` when the database is empty,
    /// and refusing a database that holds another chain.
    pub fn open(datadir: &Path, genesis: Option<Genesis>, signer: Option<SecretKey>) -> Result<Node> {
        let db_path = datadir.join("chaindata");
        std::fs::create_dir_all(&db_path).with_context(|| format!("creating {}", db_path.display()))?;
        let store = Store::open(&db_path).with_context(|| format!("opening the database in {}", db_path.display()))?;
        let stored = store.genesis_doc()?;
        let genesis = match (stored, genesis) {
            (None, None) => bail!(
                "{} holds no chain: run `cpcd init --genesis FILE --datadir {}` first, or use --dev",
                datadir.display(),
                datadir.display()
            ),
            (None, Some(g)) => {
                let (block, outcome) = g.build()?;
                store.commit_genesis(&block, &outcome, &g.to_canonical_json())?;
                tracing::info!(hash = %block.hash(), chain_id = %g.chain_id, "initialized chain from genesis");
                g
            }
            (Some(doc), wanted) => {
                let g = Genesis::from_json(&doc).context("the stored genesis document")?;
                if let Some(w) = wanted {
                    if w.hash()? != g.hash()? {
                        bail!(
                            "{} holds chain {:?} (genesis {}), not the requested chain {:?} (genesis {})",
                            datadir.display(),
                            g.chain_id,
                            g.hash()?,
                            w.chain_id,
                            w.hash()?
                        );
                    }
                }
                g
            }
        };
        let head = store.head().context("initialized database without a head")?;
        let params = genesis.chain_params();
        let validators = ValidatorSet::new(genesis.validators.iter().map(|v| v.pub_key).collect());
        let (head_tx, _) = watch::channel(head);
        let genesis_hash = store.genesis_hash()?.context("initialized database without a genesis hash")?;
        Ok(Node {
            genesis_hash,
            poc: PocVerifier::new(&params.poc),
            store,
            validators,
            params,
            genesis,
            mempool: Mutex::new(Mempool::new(MempoolConfig::default())),
            signer,
            tx_arrived: Notify::new(),
            head_tx,
            commit_lock: Mutex::new(()),
            metrics: std::sync::Arc::new(crate::metrics::Metrics::new()),
            invalid: Mutex::new((HashSet::new(), VecDeque::new())),
            max_reorg_depth: crate::chain::DEFAULT_MAX_REORG_DEPTH,
            net: OnceLock::new(),
            sync: Mutex::new(None),
            events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
            miner: OnceLock::new(),
            parked: Mutex::new(VecDeque::new()),
        })
    }

    pub fn head(&self) -> Head {
        self.store.head().expect("opened with a head")
    }

    /// Subscribe to new heads.
    pub fn subscribe_heads(&self) -> watch::Receiver<Head> {
        self.head_tx.subscribe()
    }

    /// Canonical tips (hash, share target) a block at `height` may take synthetic tasks from.
    pub fn window_for(&self, height: u64) -> Result<(Vec<WindowTip>, u64, u64)> {
        let range = window_heights(height, self.params.poc.window);
        let (lo, hi) = (*range.start(), *range.end());
        let mut tips = Vec::with_capacity((hi - lo + 1) as usize);
        for h in range {
            if let Some(e) = self.store.canon_at(h)? {
                tips.push((e.hash, e.share_target));
            }
        }
        Ok((tips, lo, hi))
    }

    /// Admission without side effects (no wake-up, no gossip): the in-isolation checks, for a
    /// synthetic result the tip, share and k-row checks, then the pool.
    pub fn admit_checked(&self, tx: Transaction) -> std::result::Result<Admitted, AdmitError> {
        let is_result = tx.tx_type == cpc_primitives::TxType::SubmitResult;
        // Only a SUBMIT_RESULT may need the task window (16 index reads): skip it otherwise.
        let (tips, lo, hi) = if is_result {
            let head = self.head();
            self.window_for(head.height + 1).map_err(|e| AdmitError::Storage(cpc_state::StorageError(e.to_string())))?
        } else {
            (Vec::new(), 0, 0)
        };
        let w = AdmissionWindow { poc: &self.poc, tips: &tips, lo, hi };
        let checked_at = Instant::now();
        let v = prevalidate(tx, &self.params, &w);
        if is_result {
            self.metrics.observe_verify("admission", checked_at.elapsed().as_secs_f64());
        }
        let synthetic = v.as_ref().ok().and_then(|v| Some((v.result.clone()?, v.tip?)));
        let res = v.and_then(|v| self.mempool.lock().admit(v, &self.store));
        if is_result {
            self.metrics.record_poc_admission(&res);
        }
        res.map(|hash| Admitted { hash, synthetic })
    }

    /// [`Node::admit_checked`] for callers that only need the hash (re-admission after a reorg).
    pub fn admit_quietly(&self, tx: Transaction) -> std::result::Result<H256, AdmitError> {
        self.admit_checked(tx).map(|a| a.hash)
    }

    /// Full admission of one transaction (in-isolation checks without the pool lock); an
    /// admitted transaction wakes the block producer and is gossiped to peers — a synthetic
    /// result only once fully recomputed, on a pool thread, so that this node never relays
    /// forged work (its peers would rightly penalise it).
    pub fn submit(self: &Arc<Self>, tx: Transaction) -> std::result::Result<H256, AdmitError> {
        let bytes = self.net.get().map(|_| tx.canonical_json());
        let admitted = self.admit_checked(tx)?;
        let h = admitted.hash;
        self.tx_arrived.notify_one();
        let _ = self.events.send(cpc_rpc::ChainEvent::PendingTx(h));
        match admitted.synthetic {
            None => {
                if let (Some(net), Some(b)) = (self.net.get(), bytes) {
                    net.publish_tx(b);
                }
            }
            Some((r, tip)) => {
                let node = self.clone();
                rayon::spawn(move || {
                    if node.verify_admitted(&r, &tip) {
                        if let (Some(net), Some(b)) = (node.net.get(), bytes) {
                            net.publish_tx(b);
                        }
                    }
                });
            }
        }
        Ok(h)
    }

    /// Full recomputation of an admitted result (cached: the block builder and import find it
    /// verified). A failure is forged work: the worker's pending results leave the pool and
    /// its new ones are refused for a while. Returns whether the result verified.
    pub fn verify_admitted(&self, r: &ComputeResult, tip: &H256) -> bool {
        let started = Instant::now();
        let res = self.poc.verify_full(r, tip);
        self.metrics.observe_verify("relay", started.elapsed().as_secs_f64());
        match res {
            Ok(()) => true,
            Err(e) => {
                let worker = r.worker_address.parse::<Address>().ok();
                tracing::warn!(task = %r.task_id, worker = %r.worker_address, "result failed full recomputation: {e}");
                if let Some(w) = worker {
                    self.punish_forger(&w);
                }
                false
            }
        }
    }

    /// Forged work by `worker`: drop its pending results, refuse new ones for a while.
    pub fn punish_forger(&self, worker: &Address) {
        let dropped = self.mempool.lock().punish_forger(worker);
        self.metrics.forged_results.inc();
        tracing::warn!(%worker, dropped = dropped.len(), "forged result: the worker's pending results were dropped");
    }

    /// Publishes a new head to subscribers (miner, RPC, producer).
    pub(crate) fn announce_head(&self, head: Head) {
        self.metrics.chain_height.set(head.height as i64);
        self.head_tx.send_replace(head);
    }

    /// Whether a peer is known to be ahead of us.
    pub fn is_syncing(&self) -> bool {
        self.sync.lock().is_some()
    }

    /// Builds, commits and announces one block on the head in round `round`. Blocking: call
    /// from a blocking thread. Returns the new head.
    pub fn produce_block(&self, round: u32) -> Result<Head> {
        let Some(signer) = &self.signer else { bail!("this node has no validator key") };
        let _guard = self.commit_lock.lock();
        let started = Instant::now();
        let parent = self.head();
        let height = parent.height + 1;
        let (window, _, _) = self.window_for(height)?;
        let candidates = self.mempool.lock().best(self.params.max_txs_per_block + CANDIDATE_SLACK);
        let ctx = BuildContext {
            params: &self.params,
            parent,
            round,
            timestamp: now_millis(),
            proposer: signer,
            window,
            poc: &self.poc,
        };
        let build_started = Instant::now();
        let built = build_block(&self.store, &ctx, &candidates)?;
        let built_at = started.elapsed();
        if candidates.iter().any(|c| c.result.is_some()) {
            // Building verifies the candidates' synthetic results (those not verified before).
            self.metrics.observe_verify("block_build", build_started.elapsed().as_secs_f64());
        }
        let mut forgers = Vec::new();
        {
            let mut pool = self.mempool.lock();
            for (h, skip) in &built.skipped {
                match skip {
                    Skip::Invalid(why) => {
                        tracing::debug!(tx = %h, %why, "dropping invalid transaction from the pool");
                        pool.remove(h);
                    }
                    Skip::Forged { worker, why } => {
                        tracing::warn!(tx = %h, %worker, "result failed full recomputation in the builder: {why}");
                        pool.remove(h);
                        forgers.push(*worker);
                    }
                    Skip::Later(_) => {}
                }
            }
        }
        for w in forgers {
            self.punish_forger(&w);
        }
        self.commit_and_announce(&built.block, &built.tx_hashes, &built.outcome)?;
        if let Some(net) = self.net.get() {
            net.publish_block(built.block.to_json_bytes());
        }
        let head = self.head();
        let n = built.block.transactions.len();
        self.metrics.blocks_produced.inc();
        self.metrics.block_import_seconds.with_label_values(&["own"]).observe(started.elapsed().as_secs_f64());
        tracing::info!(
            height = head.height,
            hash = %head.hash,
            round,
            txs = n,
            gas_used = built.block.header.gas_used,
            build_ms = built_at.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "produced block"
        );
        Ok(head)
    }

    pub fn pool_is_empty(&self) -> bool {
        self.mempool.lock().best(1).is_empty()
    }
}
