//! The engine's Prometheus series, beside the code they measure. They register into the
//! registry the node serves (`--metrics`), under the same names as before the engine had a
//! crate of its own.

use crate::import::{ImportError, Imported};
use cpc_mempool::AdmitError;
use prometheus::{Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Block import and production times: 1 ms (an empty block from a peer) to 10 s (a block full of
/// transfers and synthetic results on a slow machine).
pub const IMPORT_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Transactions per block: empty blocks up to the default limit of 10 000
/// (`genesis::DEFAULT_MAX_TXS_PER_BLOCK`).
pub const TXS_BUCKETS: &[f64] =
    &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0];
/// Synthetic verification: ~100 µs (a cached result at admission) to 10 s (a sync batch of
/// full recomputations).
pub const VERIFY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Shares per block: 0 up to the default cap M = 16 (and a little above for other genesis files).
pub const SHARES_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0, 64.0];

/// What the engine measures.
pub struct EngineMetrics {
    pub chain_height: IntGauge,
    pub block_import_seconds: HistogramVec,
    pub block_transactions: Histogram,
    pub blocks_produced: IntCounter,
    pub evidence: IntCounter,
    pub blocks_imported: IntCounterVec,
    pub mempool_transactions: IntGaugeVec,
    pub poc_results: IntCounterVec,
    pub poc_verify_seconds: HistogramVec,
    pub share_difficulty: Gauge,
    pub shares_per_block: Histogram,
    pub forged_results: IntCounter,
    pub production_paused: IntGauge,
    /// Market job events of committed blocks, by event.
    pub market_jobs: IntCounterVec,
    /// Bytes of market blobs this node holds, and blobs pruned after their retention.
    pub market_blob_bytes: IntGauge,
    pub market_blobs_pruned: IntCounter,
    /// Every registered name, recorded as it is registered.
    names: Vec<String>,
}

/// Registers `c` in `r` and records its names.
fn reg<C: prometheus::core::Collector + Clone + 'static>(
    (r, names): (&Registry, &std::cell::RefCell<Vec<String>>),
    c: C,
) -> C {
    names.borrow_mut().extend(c.desc().iter().map(|d| d.fq_name.clone()));
    r.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl EngineMetrics {
    /// Creates the series and registers them in `registry`.
    pub fn register(registry: &Registry) -> EngineMetrics {
        let names = std::cell::RefCell::new(Vec::new());
        let r = (registry, &names);
        let hist = |name: &str, help: &str, b: &[f64]| {
            reg(r, Histogram::with_opts(HistogramOpts::new(name, help).buckets(b.to_vec())).expect("valid metric"))
        };
        let hist_vec = |name: &str, help: &str, b: &[f64], l: &[&str]| {
            reg(r, HistogramVec::new(HistogramOpts::new(name, help).buckets(b.to_vec()), l).expect("valid metric"))
        };
        let counter = |name: &str, help: &str| reg(r, IntCounter::new(name, help).expect("valid metric"));
        let counter_vec = |name: &str, help: &str, l: &[&str]| reg(r, IntCounterVec::new(Opts::new(name, help), l).expect("valid metric"));
        let mut m = EngineMetrics {
            chain_height: reg(r, IntGauge::new("cpcd_chain_height", "Height of the canonical head (blocks).").expect("valid metric")),
            block_import_seconds: hist_vec(
                "cpcd_block_import_seconds",
                "Time to make a block canonical, in seconds: source=\"peer\" validates and commits a block from the \
                 network with its certificate; source=\"own\" builds, signs and commits a block this validator produced \
                 alone; source=\"decided\" commits a block BFT consensus decided.",
                IMPORT_BUCKETS,
                &["source"],
            ),
            block_transactions: hist(
                "cpcd_block_transactions",
                "Transactions per block made canonical (count), own and peers' blocks.",
                TXS_BUCKETS,
            ),
            blocks_produced: counter("cpcd_blocks_produced_total", "Blocks this validator produced (count)."),
            evidence: counter(
                "cpcd_evidence_total",
                "Pieces of equivocation evidence kept: double votes and double proposals, from consensus or peers (count).",
            ),
            blocks_imported: counter_vec(
                "cpcd_blocks_imported_total",
                "Blocks received from peers (gossip and sync) with their certificates by outcome: extended, known, \
                 ahead, invalid, bad_certificate, conflict, not_on_head, error (count).",
                &["result"],
            ),
            mempool_transactions: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "cpcd_mempool_transactions",
                        "Transactions in the pool (count): state=\"pending\" can go into the next block, state=\"queued\" \
                         waits for a nonce gap to close.",
                    ),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            poc_results: counter_vec(
                "cpcd_poc_results_total",
                "SUBMIT_RESULT transactions offered to the pool (RPC, own miner, gossip) by result (accepted or rejected) and reason (none when accepted; the failed rule such as \
                 \"rule 6\", \"not a share\", \"unknown tip\", or nonce, balance, pool full, known, ...) (count).",
                &["result", "reason"],
            ),
            poc_verify_seconds: hist_vec(
                "cpcd_poc_verify_seconds",
                "Synthetic verification time, in seconds, by stage: admission (locate the tip, the share rule and \
                 the k-row proof of one result), relay (full recomputation of one admitted result before this node \
                 relays it), sync (full recomputation of a fetched range's results on all cores), block_build and \
                 block_import (building / in-context validation of a block with SUBMIT_RESULT transactions, which \
                 fully recomputes the results not verified before).",
                VERIFY_BUCKETS,
                &["stage"],
            ),
            share_difficulty: reg(
                r,
                Gauge::new("cpcd_share_difficulty", "Expected tasks per share at the head's share_target: 2^64 / (share_target + 1).")
                    .expect("valid metric"),
            ),
            shares_per_block: hist(
                "cpcd_block_shares",
                "Shares (synthetic results) per block made canonical (count).",
                SHARES_BUCKETS,
            ),
            names: Vec::new(),
            forged_results: counter(
                "cpcd_poc_forged_results_total",
                "Results that passed the k-row check but failed full recomputation; their workers' pending \
                 results were dropped (count).",
            ),
            production_paused: reg(
                r,
                IntGauge::new(
                    "cpcd_block_production_paused",
                    "1 while this node builds no blocks because its datadir's disk is below the free-space floor \
                     (--datadir.min-free-mb), else 0.",
                )
                .expect("valid metric"),
            ),
            market_jobs: counter_vec(
                "cpcd_market_jobs_total",
                "Task-market job events in committed blocks, by event: posted, claimed, cancelled, done (result \
                 included, claimant paid), claim_lapsed (bond forfeited, job reopened), expired (deadline passed, \
                 price refunded) (count).",
                &["event"],
            ),
            market_blob_bytes: reg(
                r,
                IntGauge::new(
                    "cpcd_market_blob_bytes",
                    "Bytes of task-market blobs (job inputs and results) this node holds (at most 2 GiB).",
                )
                .expect("valid metric"),
            ),
            market_blobs_pruned: counter(
                "cpcd_market_blobs_pruned_total",
                "Task-market blobs deleted after their retention, or unused by any job an hour of blocks after they were put (count).",
            ),
        };
        // Series that exist from the start (a vec without children is not exported).
        for e in cpc_state::JobEventKind::ALL {
            let _ = m.market_jobs.with_label_values(&[e.as_str()]);
        }
        for s in ["own", "peer"] {
            let _ = m.block_import_seconds.with_label_values(&[s]);
        }
        for s in ["pending", "queued"] {
            m.mempool_transactions.with_label_values(&[s]).set(0);
        }
        m.names = names.into_inner();
        m
    }

    /// Records one admission attempt of a SUBMIT_RESULT transaction.
    pub fn record_poc_admission<T>(&self, res: &Result<T, AdmitError>) {
        match res {
            Ok(_) => self.poc_results.with_label_values(&["accepted", "none"]).inc(),
            Err(e) => self.poc_results.with_label_values(&["rejected", e.reason()]).inc(),
        }
    }

    /// Records a block import from a peer: its outcome, and for blocks that became canonical
    /// the time it took.
    pub fn record_import(&self, res: &Result<Imported, ImportError>, seconds: f64) {
        let result = match res {
            Ok(Imported::Extended(_)) => "extended",
            Ok(Imported::Known) => "known",
            Ok(Imported::Ahead { .. }) => "ahead",
            Err(ImportError::Invalid(_)) | Err(ImportError::KnownInvalid(_)) => "invalid",
            Err(ImportError::Certificate(_)) => "bad_certificate",
            Err(ImportError::Conflict { .. }) => "conflict",
            Err(ImportError::NotOnHead { .. }) => "not_on_head",
            Err(ImportError::Storage(_)) => "error",
        };
        self.blocks_imported.with_label_values(&[result]).inc();
        if let Ok(Imported::Extended(_)) = res {
            self.block_import_seconds.with_label_values(&["peer"]).observe(seconds);
        }
    }

    /// The names of every series (for a node's checks that its dashboard shows them all).
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    pub fn observe_verify(&self, stage: &str, seconds: f64) {
        self.poc_verify_seconds.with_label_values(&[stage]).observe(seconds);
    }
}
