//! cpc-engine: the owner of the chain state. It opens the store, admits transactions into the
//! pool, commits blocks decided by consensus (BFT), imports certified blocks from peers,
//! produces the blocks of a single-validator chain behind a [`MiningMode`] driver, and tells the world through a head watch and an event stream.
//!
//! It knows nothing of RPC, gossip, GPUs or the command line: the node binary builds those
//! services around an `Arc<Engine>` and talks to it only through the methods below and
//! [`EngineEvent`]s. Tests drive it in process (`tests/harness.rs`).

// ImportError carries consensus's BlockError (expected and found values, one variant per
// rule): large, but import errors are rare and never on a hot path.
#![allow(clippy::result_large_err)]

mod admission;
mod decide;
mod disk;
mod driver;
mod import;
mod metrics;
mod produce;
mod sync;

pub use admission::Admitted;
pub use decide::EvidenceRecordError;
pub use disk::{LowDisk, DEFAULT_MIN_FREE_MIB};
pub use driver::{produce_one, run_producer, MiningMode};
pub use import::{ImportError, Imported, INVALID_CACHE_CAPACITY};
pub use metrics::EngineMetrics;
pub use sync::SyncedBlock;

use anyhow::{bail, Context, Result};
use cpc_consensus::{window_heights, PocVerifier, ValidatorSet, WindowTip};
use cpc_genesis::Genesis;
use cpc_mempool::{Mempool, MempoolConfig};
use cpc_primitives::{Block, SecretKey, H256};
use cpc_state::{ChainParams, Head, RewardSummary, Store, StoreError};
use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::sync::{broadcast, watch, Notify};

/// Engine events buffered for subscribers; one that falls further behind misses events (and
/// is told so by the broadcast channel).
pub const EVENT_BUFFER: usize = 4096;

/// How the engine is set up (from the command line, in the node).
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    /// The key this node proposes with (the dev validator under `--dev`).
    pub signer: Option<SecretKey>,
    pub pool: MempoolConfig,
    /// No block is built while the datadir's disk has less free space than this, in MiB
    /// (0: no floor). The node's default is [`DEFAULT_MIN_FREE_MIB`].
    pub min_free_disk_mib: u64,
}

/// A block that just became canonical, with what executing it produced.
#[derive(Debug)]
pub struct CommittedBlock {
    pub block: Block,
    pub hash: H256,
    pub tx_hashes: Vec<H256>,
    pub rewards: RewardSummary,
    /// What happened to market jobs in it (empty where the market is off).
    pub jobs: Vec<cpc_state::JobEvent>,
}

/// What happened in the engine.
#[derive(Clone, Debug)]
pub enum EngineEvent {
    /// A block was committed (final: decided, produced alone, or imported with its certificate).
    Committed(Arc<CommittedBlock>),
    /// A transaction entered the pool.
    Pending(H256),
}

type DecidedHook = Box<dyn Fn(&Block, &[u8]) + Send + Sync>;
type EvidenceHook = Box<dyn Fn(&cpc_consensus::Evidence) + Send + Sync>;

/// The chain owner.
pub struct Engine {
    store: Store,
    genesis_hash: H256,
    genesis: Genesis,
    params: ChainParams,
    poc: PocVerifier,
    mempool: Mutex<Mempool>,
    signer: Option<SecretKey>,
    /// Woken when a transaction enters the pool (instant block production).
    tx_arrived: Notify,
    head_tx: watch::Sender<Head>,
    commit_lock: Mutex<()>,
    metrics: EngineMetrics,
    /// Blocks known to be invalid (FIFO-bounded).
    invalid: Mutex<(HashSet<H256>, VecDeque<H256>)>,
    events: broadcast::Sender<EngineEvent>,
    /// Called with every block this node decided (produced alone or decided by consensus) and
    /// its certificate: the node gossips them to full nodes.
    on_decided: OnceLock<DecidedHook>,
    /// Called with evidence this node's consensus found (the node gossips it).
    on_evidence: OnceLock<EvidenceHook>,
    /// The free-space floor of the datadir's disk.
    disk: disk::DiskGuard,
}

impl Engine {
    /// Opens the chain in `datadir`, creating it from `genesis` when the database is empty,
    /// and refusing a database that holds another chain. Metrics register in `registry`.
    pub fn open(datadir: &Path, genesis: Option<Genesis>, cfg: EngineConfig, registry: &prometheus::Registry) -> Result<Engine> {
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
                if let Some(w) = wanted
                    && w.hash()? != g.hash()?
                {
                    bail!(
                        "{} holds chain {:?} (genesis {}), not the requested chain {:?} (genesis {})",
                        datadir.display(),
                        g.chain_id,
                        g.hash()?,
                        w.chain_id,
                        w.hash()?
                    );
                }
                g
            }
        };
        let head = store.head().context("initialized database without a head")?;
        let params = genesis.chain_params();
        let (head_tx, _) = watch::channel(head);
        let genesis_hash = store.genesis_hash()?.context("initialized database without a genesis hash")?;
        let metrics = EngineMetrics::register(registry);
        metrics.chain_height.set(head.height as i64);
        Ok(Engine {
            genesis_hash,
            poc: PocVerifier::new(&params.poc),
            store,
            params,
            genesis,
            mempool: Mutex::new(Mempool::new(cfg.pool)),
            signer: cfg.signer,
            tx_arrived: Notify::new(),
            head_tx,
            commit_lock: Mutex::new(()),
            metrics,
            invalid: Mutex::new((HashSet::new(), VecDeque::new())),
            events: broadcast::channel(EVENT_BUFFER).0,
            on_decided: OnceLock::new(),
            on_evidence: OnceLock::new(),
            disk: disk::DiskGuard::new(datadir, cfg.min_free_disk_mib),
        })
    }

    /// Why this engine builds no blocks now, while it does not (too little free disk).
    pub fn production_paused(&self) -> Option<String> {
        self.disk.paused()
    }

    pub fn head(&self) -> Head {
        self.store.head().expect("opened with a head")
    }

    /// New heads, as they are committed (miner, RPC, producer).
    pub fn subscribe_heads(&self) -> watch::Receiver<Head> {
        self.head_tx.subscribe()
    }

    /// The event stream.
    pub fn events(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Registers what to do with each block this node decided, with its commit certificate
    /// (gossip it). Once.
    pub fn on_decided(&self, hook: impl Fn(&Block, &[u8]) + Send + Sync + 'static) {
        let _ = self.on_decided.set(Box::new(hook));
    }

    /// Registers what to do with evidence this node's consensus found (gossip it). Once.
    pub fn on_evidence(&self, hook: impl Fn(&cpc_consensus::Evidence) + Send + Sync + 'static) {
        let _ = self.on_evidence.set(Box::new(hook));
    }

    /// Keeps evidence that this node's consensus found and, when new, hands it to the
    /// evidence hook. Returns whether it was new.
    pub fn report_evidence(&self, e: &cpc_consensus::Evidence) -> Result<bool, EvidenceRecordError> {
        let new = self.record_evidence(e)?;
        if new && let Some(hook) = self.on_evidence.get() {
            hook(e);
        }
        Ok(new)
    }

    fn decided(&self, b: &Block, certificate: &[u8]) {
        if let Some(hook) = self.on_decided.get() {
            hook(b, certificate);
        }
    }

    /// Read access to the chain database (blocks, receipts, accounts, indexes).
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// The validator set that decides `height`, from the state's active sets (a set computed
    /// at the end of block h decides from h + `set_change_delay`). Exact for heights up to the
    /// head's + that delay; above, the latest set known so far.
    pub fn validator_set(&self, height: u64) -> Result<ValidatorSet, cpc_consensus::BlockError> {
        cpc_consensus::block::set_at(&self.store, height)
    }

    /// Whether the set of `height` is already fixed by the committed chain.
    pub fn set_is_known(&self, height: u64) -> bool {
        height <= self.head().height.saturating_add(self.params.staking.set_change_delay)
    }

    /// The set that decides the next height.
    pub fn next_validators(&self) -> ValidatorSet {
        self.validator_set(self.head().height + 1).expect("a chain from genesis always has an active set")
    }

    /// Synthetic verification with this node's cache (sync pre-verification fills it).
    pub fn poc(&self) -> &PocVerifier {
        &self.poc
    }

    pub fn signer(&self) -> Option<&SecretKey> {
        self.signer.as_ref()
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// The transaction pool (held briefly: every admission and every block takes it).
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock()
    }

    pub fn pool_is_empty(&self) -> bool {
        self.mempool.lock().best(1).is_empty()
    }

    /// Woken when a transaction enters the pool.
    pub fn tx_arrived(&self) -> &Notify {
        &self.tx_arrived
    }

    /// Canonical tips (hash, share target) a block at `height` may take synthetic tasks from.
    pub fn window_for(&self, height: u64) -> Result<(Vec<WindowTip>, u64, u64), StoreError> {
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

    /// Publishes a new head to subscribers.
    fn announce_head(&self, head: Head) {
        self.metrics.chain_height.set(head.height as i64);
        self.metrics.share_difficulty.set(head.share_target.difficulty());
        self.head_tx.send_replace(head);
    }

    /// Waits for a commit in flight, then flushes memtables (committed blocks are already
    /// durable through the synced WAL). For shutdown.
/// True once the database failed a write on its files: flush and close it no more (the node
    /// stops and forgets it; every committed block is already synced).
    pub fn database_failed(&self) -> bool {
        self.store.write_failed()
    }

        pub fn flush(&self) -> Result<(), StoreError> {
        let _g = self.commit_lock.lock();
        self.store.flush()
    }

    /// Refreshes the gauges that mirror the pool and the blob store (called on every scrape).
    pub fn refresh_metrics(&self) {
        self.metrics.market_blob_bytes.set(self.store.blob_bytes() as i64);
        let st = self.mempool.lock().status();
        self.metrics.mempool_transactions.with_label_values(&["pending"]).set(st.pending as i64);
        self.metrics.mempool_transactions.with_label_values(&["queued"]).set(st.queued as i64);
        self.metrics.share_difficulty.set(self.head().share_target.difficulty());
    }
}
