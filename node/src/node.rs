//! The engine: chain state, mempool and block production wired together.

use anyhow::{bail, Context, Result};
use cpc_consensus::{build_block, window_heights, BuildContext, PocVerifier, Skip, ValidatorSet};
use cpc_genesis::Genesis;
use cpc_mempool::{prevalidate, AdmissionWindow, AdmitError, Mempool, MempoolConfig};
use cpc_primitives::{now_millis, Address, SecretKey, Transaction, H256};
use cpc_state::{ChainParams, Head, Store};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// Candidates handed to the builder per block beyond what fits: leaves room for the ones it
/// skips (nonce gaps, failed synthetic checks) without scanning the whole pool.
const CANDIDATE_SLACK: usize = 256;

/// Counters for logs and metrics.
#[derive(Default)]
pub struct Stats {
    pub blocks_produced: AtomicU64,
    pub txs_committed: AtomicU64,
    pub txs_rejected: AtomicU64,
}

pub struct Node {
    pub store: Store,
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
    commit_lock: Mutex<()>,
    pub stats: Stats,
}

impl Node {
    /// Opens the chain in `datadir`, creating it from `genesis` when the database is empty,
    /// and refusing a database that holds another chain.
    pub fn open(datadir: &Path, genesis: Option<Genesis>, signer: Option<SecretKey>) -> Result<Arc<Node>> {
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
        Ok(Arc::new(Node {
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
            stats: Stats::default(),
        }))
    }

    pub fn head(&self) -> Head {
        self.store.head().expect("opened with a head")
    }

    /// Subscribe to new heads.
    pub fn subscribe_heads(&self) -> watch::Receiver<Head> {
        self.head_tx.subscribe()
    }

    /// Canonical hashes a block at `height` may take as synthetic tips.
    pub fn window_for(&self, height: u64) -> Result<(Vec<H256>, u64, u64)> {
        let range = window_heights(height, self.params.poc.window);
        let (lo, hi) = (*range.start(), *range.end());
        let mut hashes = Vec::with_capacity((hi - lo + 1) as usize);
        for h in range {
            if let Some(x) = self.store.hash_at(h)? {
                hashes.push(x);
            }
        }
        Ok((hashes, lo, hi))
    }

    /// Full admission of one transaction (in-isolation checks without the pool lock).
    pub fn submit(&self, tx: Transaction) -> std::result::Result<H256, AdmitError> {
        let head = self.head();
        let (hashes, lo, hi) = self
            .window_for(head.height + 1)
            .map_err(|e| AdmitError::Storage(cpc_state::StorageError(e.to_string())))?;
        let w = AdmissionWindow { poc: &self.poc, hashes: &hashes, lo, hi };
        let v = prevalidate(tx, &self.params, &w)?;
        let res = self.mempool.lock().admit(v, &self.store);
        match &res {
            Ok(_) => self.tx_arrived.notify_one(),
            Err(_) => {
                self.stats.txs_rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
        res
    }

    /// Builds, commits and announces one block on the head. Blocking: call from a blocking
    /// thread. Returns the new head.
    pub fn produce_block(&self) -> Result<Head> {
        let Some(signer) = &self.signer else { bail!("this node has no validator key") };
        let _guard = self.commit_lock.lock();
        let started = Instant::now();
        let parent = self.head();
        let height = parent.height + 1;
        let (window_hashes, _, _) = self.window_for(height)?;
        let candidates = self.mempool.lock().best(self.params.max_txs_per_block + CANDIDATE_SLACK);
        let ctx = BuildContext {
            params: &self.params,
            parent,
            round: 0,
            timestamp: now_millis(),
            proposer: signer,
            window_hashes,
            poc: &self.poc,
        };
        let built = build_block(&self.store, &ctx, &candidates)?;
        let built_at = started.elapsed();
        self.store.commit_block(&built.block, &built.tx_hashes, &built.outcome)?;
        let included: Vec<(H256, Address)> =
            built.block.transactions.iter().zip(&built.tx_hashes).map(|(t, h)| (*h, t.from_address)).collect();
        {
            let mut pool = self.mempool.lock();
            for (h, skip) in &built.skipped {
                if let Skip::Invalid(why) = skip {
                    tracing::debug!(tx = %h, %why, "dropping invalid transaction from the pool");
                    pool.remove(h);
                }
            }
            pool.on_block(&included, &self.store)?;
        }
        let head = self.head();
        self.stats.blocks_produced.fetch_add(1, Ordering::Relaxed);
        self.stats.txs_committed.fetch_add(included.len() as u64, Ordering::Relaxed);
        tracing::info!(
            height = head.height,
            hash = %head.hash,
            txs = included.len(),
            gas_used = built.block.header.gas_used,
            build_ms = built_at.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "produced block"
        );
        self.head_tx.send_replace(head);
        Ok(head)
    }

    pub fn pool_is_empty(&self) -> bool {
        self.mempool.lock().best(1).is_empty()
    }
}
