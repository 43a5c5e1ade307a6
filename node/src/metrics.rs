//! Prometheus metrics and the operator endpoints of `--metrics ADDR:PORT`
//! (docs/OPERATIONS.md, "Metrics"):
//!
//! - `GET /metrics`: every series below, in the Prometheus text format;
//! - `GET /health`: `200 ok` while the process is up;
//! - `GET /ready`: `200` when the node follows the tip with at least one peer (always under
//!   `--dev`), else `503` and the reason;
//! - anything else: `404`.
//!
//! Counters and histograms are recorded where their events happen (block import and production
//! in `chain.rs` / `node.rs`, admission in `node.rs`, sync in `net.rs`, JSON-RPC calls through
//! [`cpc_rpc::RpcObserver`]). Gauges that mirror state (height, mempool, peers, sync, miner)
//! are refreshed when scraped ([`Metrics::refresh`]), so they are exact and cost nothing
//! between scrapes. GPU sensors come from NVML, loaded at run time (no build-time dependency on
//! the driver), polled by [`spawn_gpu_poller`] only while GPUs mine.

use crate::node::Node;
use cpc_mempool::AdmitError;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use parking_lot::RwLock;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Block import and production times: 1 ms (an empty block from a peer) to 10 s (a block full of
/// transfers and synthetic results on a slow machine).
pub const IMPORT_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Transactions per block: empty blocks up to the default limit of 10 000
/// (`genesis::DEFAULT_MAX_TXS_PER_BLOCK`).
pub const TXS_BUCKETS: &[f64] =
    &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0];
/// Shares per block: 0 up to the default cap M = 16 (and a little above for other genesis files).
pub const SHARES_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0, 64.0];
/// Reorg depth in blocks, up to twice the default `--max-reorg-depth` (64).
pub const REORG_DEPTH_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0, 64.0, 128.0];
/// JSON-RPC call latency: 100 µs (a cached read) to 10 s (a large batch).
pub const RPC_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Synthetic verification: ~100 µs (a cached result at admission) to 10 s (a sync batch of
/// full recomputations).
pub const VERIFY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Distinct JSON-RPC method labels kept when the server's method list is not known; further
/// names count as `other` (method names come from clients: unbounded labels would grow the
/// registry without limit).
pub const MAX_RPC_METHOD_LABELS: usize = 64;
/// How often GPU sensors are read through NVML while GPUs mine.
pub const GPU_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Concurrent connections to the metrics server; more are closed at once (a scraper and a
/// health checker need a handful).
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Every series the node exports, in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Metric names registered (for tests and the dashboard check).
    #[cfg_attr(not(test), allow(dead_code))]
    names: Vec<String>,
    /// JSON-RPC method names used as labels.
    rpc_methods: RwLock<RpcMethods>,
    pub info: IntGaugeVec,
    pub chain_height: IntGauge,
    pub block_import_seconds: HistogramVec,
    pub block_transactions: Histogram,
    pub blocks_produced: IntCounter,
    pub blocks_imported: IntCounterVec,
    pub reorgs: IntCounter,
    pub reorg_depth: Histogram,
    pub mempool_transactions: IntGaugeVec,
    pub peers: IntGauge,
    pub syncing: IntGauge,
    pub peer_best_height: IntGauge,
    pub rpc_requests: IntCounterVec,
    pub rpc_request_seconds: HistogramVec,
    pub poc_results: IntCounterVec,
    pub poc_verify_seconds: HistogramVec,
    pub miner_tasks: IntCounterVec,
    pub miner_tasks_per_second: GaugeVec,
    pub miner_gmac_per_second: GaugeVec,
    pub miner_results: IntCounterVec,
    pub miner_shares: IntCounterVec,
    pub miner_device_results: IntCounterVec,
    pub miner_expected_shares_per_second: GaugeVec,
    pub miner_throttled: IntGaugeVec,
    pub share_difficulty: Gauge,
    pub shares_per_block: Histogram,
    pub forged_results: IntCounter,
    pub gpu_temperature: GaugeVec,
    pub gpu_power: GaugeVec,
    pub gpu_memory_used: GaugeVec,
    pub gpu_memory_total: GaugeVec,
    pub gpu_utilization: GaugeVec,
}

/// JSON-RPC method names that are labels: the server's list once told
/// ([`Metrics::set_rpc_methods`]), else the first [`MAX_RPC_METHOD_LABELS`] names seen.
#[derive(Default)]
struct RpcMethods {
    fixed: bool,
    names: HashSet<String>,
}

/// Registers metrics and remembers their names.
struct Reg {
    registry: Registry,
    names: Vec<String>,
}

impl Reg {
    fn add<C: Collector + Clone + 'static>(&mut self, c: C) -> C {
        for d in c.desc() {
            self.names.push(d.fq_name.clone());
        }
        self.registry.register(Box::new(c.clone())).expect("metric names are distinct");
        c
    }
    fn int_gauge(&mut self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("valid metric"))
    }
    fn int_gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
    fn gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.add(GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
    fn gauge(&mut self, name: &str, help: &str) -> Gauge {
        self.add(Gauge::new(name, help).expect("valid metric"))
    }
    fn counter(&mut self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).expect("valid metric"))
    }
    fn counter_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }
    fn histogram(&mut self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.add(Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid metric"))
    }
    fn histogram_vec(&mut self, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.add(HistogramVec::new(opts, labels).expect("valid metric"))
    }
}

/// Raises a Prometheus counter to a cumulative count kept elsewhere (the miner's atomics).
fn raise_to(c: &IntCounter, total: u64) {
    let cur = c.get();
    if total > cur {
        c.inc_by(total - cur);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Reg { registry: Registry::new(), names: Vec::new() };
        let m = Metrics {
            info: r.int_gauge_vec(
                "cpcd_info",
                "Always 1; labels: the node's version and chain id.",
                &["version", "chain_id"],
            ),
            chain_height: r.int_gauge("cpcd_chain_height", "Height of the canonical head (blocks)."),
            block_import_seconds: r.histogram_vec(
                "cpcd_block_import_seconds",
                "Time to make a block canonical, in seconds: source=\"peer\" validates and commits a block from the \
                 network (reorgs included); source=\"own\" builds, signs and commits a block this validator produced.",
                IMPORT_BUCKETS,
                &["source"],
            ),
            block_transactions: r.histogram(
                "cpcd_block_transactions",
                "Transactions per block made canonical (count), own and peers' blocks.",
                TXS_BUCKETS,
            ),
            blocks_produced: r.counter("cpcd_blocks_produced_total", "Blocks this validator produced (count)."),
            blocks_imported: r.counter_vec(
                "cpcd_blocks_imported_total",
                "Blocks received from peers (gossip and sync) by outcome: extended, reorg, side, known, orphan, \
                 invalid, too_deep, error (count).",
                &["result"],
            ),
            reorgs: r.counter("cpcd_reorgs_total", "Reorgs applied: switches to a better branch (count)."),
            reorg_depth: r.histogram(
                "cpcd_reorg_depth",
                "Depth of applied reorgs: canonical blocks reverted (blocks).",
                REORG_DEPTH_BUCKETS,
            ),
            mempool_transactions: r.int_gauge_vec(
                "cpcd_mempool_transactions",
                "Transactions in the pool (count): state=\"pending\" can go into the next block, state=\"queued\" \
                 waits for a nonce gap to close.",
                &["state"],
            ),
            peers: r.int_gauge("cpcd_peers", "Connected P2P peers (count)."),
            syncing: r.int_gauge("cpcd_syncing", "1 while catching up with a peer at least 2 blocks ahead, else 0."),
            peer_best_height: r.int_gauge(
                "cpcd_peer_best_height",
                "Highest head height reported by a connected peer (blocks; 0 without peers).",
            ),
            rpc_requests: r.counter_vec(
                "cpcd_rpc_requests_total",
                "JSON-RPC calls by method and result (ok or error) over HTTP and WebSocket (count); methods the \
                 server does not serve count as method=\"other\".",
                &["method", "result"],
            ),
            rpc_request_seconds: r.histogram_vec(
                "cpcd_rpc_request_seconds",
                "JSON-RPC call latency by method, in seconds (a batch's time is shared evenly among its calls).",
                RPC_BUCKETS,
                &["method"],
            ),
            poc_results: r.counter_vec(
                "cpcd_poc_results_total",
                "SUBMIT_RESULT transactions offered to the pool (RPC, own miner, gossip, re-admission after a \
                 reorg) by result (accepted or rejected) and reason (none when accepted; the failed rule such as \
                 \"rule 6\", or nonce, balance, pool full, known, ...) (count).",
                &["result", "reason"],
            ),
            poc_verify_seconds: r.histogram_vec(
                "cpcd_poc_verify_seconds",
                "Synthetic verification time, in seconds, by stage: admission (locate the tip, the share rule and \
                 the k-row proof of one result), relay (full recomputation of one admitted result before this node \
                 relays it), sync (full recomputation of a fetched range's results on all cores), \
                 block_build and block_import (building / in-context validation of a block with SUBMIT_RESULT \
                 transactions, which fully recomputes the results not verified before).",
                VERIFY_BUCKETS,
                &["stage"],
            ),
            miner_tasks: r.counter_vec(
                "cpcd_miner_tasks_total",
                "Synthetic tasks solved by the in-process miner, per device (count).",
                &["device"],
            ),
            miner_tasks_per_second: r.gauge_vec(
                "cpcd_miner_tasks_per_second",
                "Miner throughput per device over its last 10 s report interval (tasks per second).",
                &["device"],
            ),
            miner_gmac_per_second: r.gauge_vec(
                "cpcd_miner_gmac_per_second",
                "Miner throughput per device over its last 10 s report interval (10^9 int8 multiply-accumulates \
                 per second).",
                &["device"],
            ),
            miner_results: r.counter_vec(
                "cpcd_miner_results_total",
                "Results of the in-process miner by result (accepted, rejected, cancelled: solved for a tip that \
                 was replaced) and reason (count).",
                &["result", "reason"],
            ),
            miner_shares: r.counter_vec(
                "cpcd_miner_shares_total",
                "Tasks of the in-process miner whose share value met their tip's share_target, per device (count).",
                &["device"],
            ),
            miner_device_results: r.counter_vec(
                "cpcd_miner_device_shares_total",
                "Shares a device submitted, by result (accepted by the node, or rejected) and reason (none when \
                 accepted), per device (count).",
                &["device", "result", "reason"],
            ),
            miner_expected_shares_per_second: r.gauge_vec(
                "cpcd_miner_expected_shares_per_second",
                "Shares per second a device should find at its measured tasks/s and the current share_target \
                 (tasks/s ÷ difficulty), per device.",
                &["device"],
            ),
            miner_throttled: r.int_gauge_vec(
                "cpcd_miner_throttled",
                "1 while a GPU is paused because it reached --gpu.temp-limit, else 0, per device.",
                &["device"],
            ),
            share_difficulty: r.gauge(
                "cpcd_share_difficulty",
                "Expected tasks per share at the head's share_target: 2^64 / (share_target + 1).",
            ),
            shares_per_block: r.histogram(
                "cpcd_block_shares",
                "Shares (synthetic results) per block made canonical (count).",
                SHARES_BUCKETS,
            ),
            forged_results: r.counter(
                "cpcd_poc_forged_results_total",
                "Results that passed the k-row check but failed full recomputation; their workers' pending \
                 results were dropped (count).",
            ),
            gpu_temperature: r.gauge_vec(
                "cpcd_gpu_temperature_celsius",
                "GPU core temperature from NVML (degrees Celsius), per mining device.",
                &["device"],
            ),
            gpu_power: r.gauge_vec(
                "cpcd_gpu_power_watts",
                "GPU board power draw from NVML (watts), per mining device.",
                &["device"],
            ),
            gpu_memory_used: r.gauge_vec(
                "cpcd_gpu_memory_used_bytes",
                "GPU memory in use from NVML (bytes), per mining device.",
                &["device"],
            ),
            gpu_memory_total: r.gauge_vec(
                "cpcd_gpu_memory_total_bytes",
                "GPU memory installed from NVML (bytes), per mining device.",
                &["device"],
            ),
            gpu_utilization: r.gauge_vec(
                "cpcd_gpu_utilization_ratio",
                "Fraction of the last sample period in which a kernel ran on the GPU, from NVML (0 to 1), per \
                 mining device.",
                &["device"],
            ),
            registry: r.registry,
            names: r.names,
            rpc_methods: RwLock::new(RpcMethods::default()),
        };
        // Series that exist from the start (a vec without children is not exported).
        for s in ["own", "peer"] {
            let _ = m.block_import_seconds.with_label_values(&[s]);
        }
        for s in ["pending", "queued"] {
            m.mempool_transactions.with_label_values(&[s]).set(0);
        }
        m
    }

    /// Names of every registered metric family.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The JSON-RPC server's method names: from now on only these are labels, other names
    /// count as `other`.
    pub fn set_rpc_methods<S: AsRef<str>>(&self, methods: impl IntoIterator<Item = S>) {
        let mut m = self.rpc_methods.write();
        if !m.fixed {
            m.fixed = true;
            m.names.clear();
        }
        m.names.extend(methods.into_iter().map(|x| x.as_ref().to_string()));
    }

    /// The label for a called method name (bounded: see [`MAX_RPC_METHOD_LABELS`]).
    fn rpc_method_label(&self, method: &str) -> String {
        {
            let m = self.rpc_methods.read();
            if m.names.contains(method) {
                return method.to_string();
            }
            if m.fixed {
                return "other".into();
            }
        }
        // Without the server's list: keep the first few well-formed names.
        let well_formed =
            !method.is_empty() && method.len() <= 64 && method.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let mut m = self.rpc_methods.write();
        if well_formed && m.names.len() < MAX_RPC_METHOD_LABELS {
            m.names.insert(method.to_string());
            method.to_string()
        } else {
            "other".into()
        }
    }

    /// Records one admission attempt of a SUBMIT_RESULT transaction.
    pub fn record_poc_admission<T>(&self, res: &Result<T, AdmitError>) {
        match res {
            Ok(_) => self.poc_results.with_label_values(&["accepted", "none"]).inc(),
            Err(e) => self.poc_results.with_label_values(&["rejected", admit_reason(e)]).inc(),
        }
    }

    /// Records a block import from a peer: its outcome, and for blocks that became canonical
    /// the time it took; reorgs and their depth.
    pub fn record_import(&self, res: &Result<crate::chain::Imported, crate::chain::ImportError>, seconds: f64) {
        use crate::chain::{ImportError, Imported};
        let result = match res {
            Ok(Imported::Extended(_)) => "extended",
            Ok(Imported::Reorg { .. }) => "reorg",
            Ok(Imported::Side) => "side",
            Ok(Imported::Known) => "known",
            Ok(Imported::Orphan { .. }) => "orphan",
            Err(ImportError::Invalid(_)) | Err(ImportError::KnownInvalid(_)) => "invalid",
            Err(ImportError::TooDeep { .. }) => "too_deep",
            Err(ImportError::Storage(_)) => "error",
        };
        self.blocks_imported.with_label_values(&[result]).inc();
        match res {
            Ok(Imported::Extended(_)) => self.block_import_seconds.with_label_values(&["peer"]).observe(seconds),
            Ok(Imported::Reorg { depth, .. }) => {
                self.block_import_seconds.with_label_values(&["peer"]).observe(seconds);
                self.reorgs.inc();
                self.reorg_depth.observe(*depth as f64);
            }
            _ => {}
        }
    }

    /// Synthetic verification time of one stage (see `cpcd_poc_verify_seconds`).
    pub fn observe_verify(&self, stage: &str, seconds: f64) {
        self.poc_verify_seconds.with_label_values(&[stage]).observe(seconds);
    }

    /// Refreshes the gauges that mirror the node's state (called on every scrape).
    pub fn refresh(&self, node: &Node) {
        self.info.with_label_values(&[env!("CARGO_PKG_VERSION"), node.params.chain_id.as_str()]).set(1);
        self.chain_height.set(node.head().height as i64);
        let st = node.mempool.lock().status();
        self.mempool_transactions.with_label_values(&["pending"]).set(st.pending as i64);
        self.mempool_transactions.with_label_values(&["queued"]).set(st.queued as i64);
        self.peers.set(node.net.get().map_or(0, |n| n.peer_count()) as i64);
        self.syncing.set(node.is_syncing() as i64);
        self.share_difficulty.set(node.head().share_target.difficulty());
        if let Some(m) = node.miner.get() {
            self.export_miner(&m.status());
        }
    }

    /// Exports the miner's counters and rates.
    pub fn export_miner(&self, s: &cpc_rpc::MinerStatus) {
        for d in &s.devices {
            raise_to(&self.miner_tasks.with_label_values(&[d.name.as_str()]), d.tasks);
            self.miner_tasks_per_second.with_label_values(&[d.name.as_str()]).set(d.tasks_per_sec);
            self.miner_gmac_per_second.with_label_values(&[d.name.as_str()]).set(d.gmac_per_sec);
            raise_to(&self.miner_shares.with_label_values(&[d.name.as_str()]), d.shares_found);
            raise_to(&self.miner_device_results.with_label_values(&[d.name.as_str(), "accepted", "none"]), d.shares_accepted);
            for (reason, n) in &d.shares_rejected {
                let r = bounded_reason(reason);
                raise_to(&self.miner_device_results.with_label_values(&[d.name.as_str(), "rejected", r]), *n);
            }
            self.miner_expected_shares_per_second.with_label_values(&[d.name.as_str()]).set(d.expected_shares_per_sec);
            self.miner_throttled.with_label_values(&[d.name.as_str()]).set(d.throttled_at_celsius.is_some() as i64);
        }
        raise_to(&self.miner_results.with_label_values(&["accepted", "none"]), s.results_accepted);
        raise_to(&self.miner_results.with_label_values(&["cancelled", "none"]), s.cancelled);
        // The miner's reasons are short names ("nonce", "SUBMIT_RESULT rule 6", "gpu error"); anything
        // longer or odd (a message with a hash in it) is summed under "other" to keep labels bounded.
        let mut rejected: std::collections::BTreeMap<&str, u64> = Default::default();
        for (reason, n) in &s.results_rejected {
            *rejected.entry(bounded_reason(reason)).or_default() += n;
        }
        for (reason, n) in rejected {
            raise_to(&self.miner_results.with_label_values(&["rejected", reason]), n);
        }
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("encoding to memory");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl cpc_rpc::RpcObserver for Metrics {
    fn on_call(&self, method: &str, seconds: f64, ok: bool) {
        let m = self.rpc_method_label(method);
        self.rpc_requests.with_label_values(&[m.as_str(), if ok { "ok" } else { "error" }]).inc();
        self.rpc_request_seconds.with_label_values(&[m.as_str()]).observe(seconds);
    }
}

/// A miner's rejection reason as a label: short names stay, anything longer or odd (a message
/// with a hash in it) becomes "other", so labels stay bounded.
fn bounded_reason(reason: &str) -> &str {
    let short = reason.len() <= 32 && reason.bytes().all(|b| b.is_ascii_alphanumeric() || b" _-".contains(&b));
    if short { reason } else { "other" }
}

/// A short, bounded reason for a refused admission (a label value: never a hash or a number).
pub fn admit_reason(e: &AdmitError) -> &'static str {
    fn rule(msg: &str) -> Option<&'static str> {
        let rest = msg.strip_prefix("SUBMIT_RESULT rule ")?;
        Some(match rest.as_bytes().first()? {
            b'1' => "rule 1",
            b'2' => "rule 2",
            b'3' => "rule 3",
            b'4' => "rule 4",
            b'5' => "rule 5",
            b'6' => "rule 6",
            b'7' => "rule 7",
            b'8' => "rule 8",
            b'9' => "rule 9",
            _ => return None,
        })
    }
    match e {
        AdmitError::Invalid(inner) => rule(&inner.to_string()).unwrap_or("invalid"),
        AdmitError::Synthetic(cpc_consensus::SyntheticError::NotAShare { .. }) => "not a share",
        AdmitError::Synthetic(cpc_consensus::SyntheticError::UnknownTip { .. }) => "unknown tip",
        AdmitError::Synthetic(_) => "rule 6",
        AdmitError::ForgerCooldown { .. } => "forger",
        AdmitError::TaskOnChain(_) | AdmitError::TaskPending { .. } => "rule 4",
        AdmitError::AlreadyKnown(_) => "known",
        AdmitError::NonceTooLow { .. } | AdmitError::NonceTooHigh { .. } => "nonce",
        AdmitError::InsufficientBalance { .. } => "balance",
        AdmitError::ReplacementUnderpriced { .. } => "underpriced",
        AdmitError::SenderFull(_) | AdmitError::PoolFull { .. } | AdmitError::PoolBytesFull { .. } => "pool full",
        AdmitError::Storage(_) => "storage",
    }
}

/// `/ready`: whether this node should receive traffic. `Err` says why not.
pub fn readiness(dev: bool, syncing: bool, peers: usize) -> Result<(), &'static str> {
    if dev {
        return Ok(());
    }
    if syncing {
        return Err("syncing");
    }
    if peers == 0 {
        return Err("no peers");
    }
    Ok(())
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// Answers one request of the metrics server.
fn respond(node: &Node, dev: bool, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    match path {
        "/metrics" => {
            node.metrics.refresh(node);
            let mut r = text(StatusCode::OK, node.metrics.encode());
            r.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(prometheus::TEXT_FORMAT));
            r
        }
        "/health" => text(StatusCode::OK, "ok\n"),
        "/ready" => {
            let peers = node.net.get().map_or(0, |n| n.peer_count());
            match readiness(dev, node.is_syncing(), peers) {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Binds the metrics server's address (port 0 picks a free port); returns the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::net::TcpListener)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    Ok((l.local_addr()?, l))
}

/// Serves `/metrics`, `/health` and `/ready` on `listener` until `stop`.
pub async fn serve(listener: tokio::net::TcpListener, node: Arc<Node>, dev: bool, mut stop: watch::Receiver<bool>) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!("metrics server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let node = node.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let res = respond(&node, dev, req.method(), req.uri().path());
                async move { Ok::<_, std::convert::Infallible>(res) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The NVML index of CUDA device `ordinal`. CUDA numbers devices fastest first and NVML by
/// PCI bus; devices of one model keep their PCI order in both, so the n-th CUDA device of a
/// model is the n-th NVML device of that model. (With `CUDA_VISIBLE_DEVICES` the CUDA list is
/// a subset and this guess can be wrong: the sensors are then those of another card of the
/// same model.)
pub fn nvml_index_for(ordinal: usize, cuda_names: &[(usize, String)], nvml_names: &[String]) -> Option<u32> {
    let name = &cuda_names.iter().find(|(o, _)| *o == ordinal)?.1;
    let rank = cuda_names.iter().filter(|(o, n)| n == name && *o < ordinal).count();
    nvml_names.iter().enumerate().filter(|(_, n)| *n == name).nth(rank).map(|(i, _)| i as u32)
}

/// Reads GPU sensors through NVML every [`GPU_POLL_INTERVAL`] for the CUDA devices the miner
/// uses (labels `device="gpuN"`, as the miner's), until `stop`. Without NVML (no NVIDIA driver)
/// it logs once and exports nothing.
pub fn spawn_gpu_poller(metrics: Arc<Metrics>, ordinals: Vec<usize>, stop: watch::Receiver<bool>) {
    if ordinals.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new().name("gpu-sensors".into()).spawn(move || {
        use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
        let nvml = match nvml_wrapper::Nvml::init() {
            Ok(n) => n,
            Err(e) => {
                tracing::info!("GPU sensors unavailable (NVML: {e}); no cpcd_gpu_* metrics");
                return;
            }
        };
        let nvml_names: Vec<String> = (0..nvml.device_count().unwrap_or(0))
            .map(|i| nvml.device_by_index(i).and_then(|d| d.name()).unwrap_or_default())
            .collect();
        let cuda_names: Vec<(usize, String)> =
            cpc_gpu::list_devices().unwrap_or_default().into_iter().map(|d| (d.ordinal, d.name)).collect();
        let mut devices = Vec::new();
        for &o in &ordinals {
            match nvml_index_for(o, &cuda_names, &nvml_names).map(|i| nvml.device_by_index(i)) {
                Some(Ok(d)) => devices.push((format!("gpu{o}"), d)),
                _ => tracing::info!("GPU sensors: no NVML device matches CUDA device {o}"),
            }
        }
        if devices.is_empty() {
            return;
        }
        tracing::info!(devices = devices.len(), "GPU sensors: reading NVML every {}s", GPU_POLL_INTERVAL.as_secs());
        loop {
            for (label, d) in &devices {
                let l = [label.as_str()];
                if let Ok(t) = d.temperature(TemperatureSensor::Gpu) {
                    metrics.gpu_temperature.with_label_values(&l).set(t as f64);
                }
                if let Ok(mw) = d.power_usage() {
                    metrics.gpu_power.with_label_values(&l).set(mw as f64 / 1000.0);
                }
                if let Ok(m) = d.memory_info() {
                    metrics.gpu_memory_used.with_label_values(&l).set(m.used as f64);
                    metrics.gpu_memory_total.with_label_values(&l).set(m.total as f64);
                }
                if let Ok(u) = d.utilization_rates() {
                    metrics.gpu_utilization.with_label_values(&l).set(u.gpu as f64 / 100.0);
                }
            }
            // Sleep in short steps so that shutdown is not held up.
            let until = std::time::Instant::now() + GPU_POLL_INTERVAL;
            while std::time::Instant::now() < until {
                if *stop.borrow() || stop.has_changed().is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("GPU sensors: cannot start the polling thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_has_the_prefix_and_a_help_text() {
        let m = Metrics::new();
        assert!(m.names().len() >= 25, "{:?}", m.names());
        for f in m.registry().gather() {
            assert!(f.name().starts_with("cpcd_"), "{}", f.name());
            assert!(f.help().len() > 20, "{} needs a help text", f.name());
        }
        for c in m.names() {
            assert!(c.starts_with("cpcd_"), "{c}");
        }
        let text = m.encode();
        assert!(text.contains("# TYPE cpcd_chain_height gauge"), "{text}");
        assert!(text.contains("cpcd_mempool_transactions{state=\"queued\"} 0"), "{text}");
        assert!(text.contains("cpcd_block_import_seconds_bucket{source=\"own\",le=\"0.001\"} 0"), "{text}");
    }

    #[test]
    fn readiness_needs_sync_and_a_peer_except_under_dev() {
        assert_eq!(readiness(false, false, 3), Ok(()));
        assert_eq!(readiness(false, true, 3), Err("syncing"));
        assert_eq!(readiness(false, false, 0), Err("no peers"));
        assert_eq!(readiness(false, true, 0), Err("syncing"));
        assert_eq!(readiness(true, true, 0), Ok(()));
    }

    #[test]
    fn rpc_observer_counts_by_method_and_bounds_the_labels() {
        use cpc_rpc::RpcObserver;
        let m = Metrics::new();
        m.on_call("cpc_blockNumber", 0.001, true);
        m.on_call("cpc_blockNumber", 0.002, true);
        m.on_call("cpc_sendTransaction", 0.01, false);
        assert_eq!(m.rpc_requests.with_label_values(&["cpc_blockNumber", "ok"]).get(), 2);
        assert_eq!(m.rpc_requests.with_label_values(&["cpc_sendTransaction", "error"]).get(), 1);
        assert_eq!(m.rpc_request_seconds.with_label_values(&["cpc_blockNumber"]).get_sample_count(), 2);
        // Garbage names from clients never become labels.
        m.on_call("x\"} 1\n", 0.0, false);
        assert_eq!(m.rpc_requests.with_label_values(&["other", "error"]).get(), 1);
        for i in 0..2 * MAX_RPC_METHOD_LABELS {
            m.on_call(&format!("junk_{i}"), 0.0, false);
        }
        let distinct = m.rpc_request_seconds.collect()[0].get_metric().len();
        assert!(distinct <= MAX_RPC_METHOD_LABELS + 1, "{distinct}");
        assert_eq!(m.rpc_requests.with_label_values(&["cpc_blockNumber", "ok"]).get(), 2);
        m.on_call("cpc_blockNumber", 0.001, true);
        assert_eq!(
            m.rpc_requests.with_label_values(&["cpc_blockNumber", "ok"]).get(),
            3,
            "a known name keeps its label"
        );

        // With the server's method list, only those names are labels.
        let m = Metrics::new();
        m.set_rpc_methods(["cpc_blockNumber", "cpc_chainId"]);
        m.on_call("cpc_chainId", 0.0, true);
        m.on_call("cpc_nope", 0.0, false);
        assert_eq!(m.rpc_requests.with_label_values(&["cpc_chainId", "ok"]).get(), 1);
        assert_eq!(m.rpc_requests.with_label_values(&["other", "error"]).get(), 1);
    }

    #[test]
    fn admission_reasons_are_short_and_bounded() {
        let m = Metrics::new();
        m.record_poc_admission::<()>(&Ok(()));
        m.record_poc_admission::<()>(&Err(AdmitError::NonceTooLow { expected: 5, found: 1 }));
        m.record_poc_admission::<()>(&Err(AdmitError::TaskOnChain("t".into())));
        m.record_poc_admission::<()>(&Err(AdmitError::AlreadyKnown(cpc_primitives::H256([1; 32]))));
        assert_eq!(m.poc_results.with_label_values(&["accepted", "none"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "nonce"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "rule 4"]).get(), 1);
        assert_eq!(m.poc_results.with_label_values(&["rejected", "known"]).get(), 1);
    }

    #[test]
    fn miner_status_is_exported_as_counters_and_gauges() {
        let m = Metrics::new();
        let mut s = cpc_rpc::MinerStatus {
            mining: true,
            worker: None,
            devices: vec![cpc_rpc::DeviceStatus {
                name: "cpu0".into(),
                tasks: 10,
                tasks_per_sec: 2.5,
                gmac_per_sec: 2.68,
                shares_found: 6,
                shares_accepted: 5,
                shares_rejected: [("not a share".to_string(), 1)].into_iter().collect(),
                expected_shares_per_sec: 1.25,
                throttled_at_celsius: Some(84),
            }],
            share_target: Some(cpc_primitives::ShareTarget(u64::MAX / 2)),
            difficulty: Some(2.0),
            shares_found: 6,
            results_accepted: 7,
            results_rejected: [
                ("nonce".to_string(), 2),
                (format!("transaction {} is already known", "ab".repeat(32)), 1),
                ("transaction x is already known: long enough to be cut".to_string(), 3),
            ]
            .into_iter()
            .collect(),
            cancelled: 1,
        };
        m.export_miner(&s);
        s.devices[0].tasks = 15;
        s.results_accepted = 9;
        m.export_miner(&s);
        assert_eq!(m.miner_tasks.with_label_values(&["cpu0"]).get(), 15);
        assert_eq!(m.miner_tasks_per_second.with_label_values(&["cpu0"]).get(), 2.5);
        assert_eq!(m.miner_results.with_label_values(&["accepted", "none"]).get(), 9);
        assert_eq!(m.miner_results.with_label_values(&["rejected", "nonce"]).get(), 2);
        assert_eq!(m.miner_results.with_label_values(&["rejected", "other"]).get(), 4, "long reasons are summed");
        assert_eq!(m.miner_results.with_label_values(&["cancelled", "none"]).get(), 1);
        assert_eq!(m.miner_shares.with_label_values(&["cpu0"]).get(), 6);
        assert_eq!(m.miner_device_results.with_label_values(&["cpu0", "accepted", "none"]).get(), 5);
        assert_eq!(m.miner_device_results.with_label_values(&["cpu0", "rejected", "not a share"]).get(), 1);
        assert_eq!(m.miner_expected_shares_per_second.with_label_values(&["cpu0"]).get(), 1.25);
        assert_eq!(m.miner_throttled.with_label_values(&["cpu0"]).get(), 1);
    }

    #[test]
    fn nvml_devices_are_matched_by_model_and_order() {
        let h = "NVIDIA H100 80GB HBM3".to_string();
        let a = "NVIDIA A100-SXM4-40GB".to_string();
        // CUDA lists the faster H100 first; NVML lists by PCI bus.
        let cuda = vec![(0, h.clone()), (1, h.clone()), (2, a.clone())];
        let nvml = vec![a.clone(), h.clone(), h.clone()];
        assert_eq!(nvml_index_for(0, &cuda, &nvml), Some(1));
        assert_eq!(nvml_index_for(1, &cuda, &nvml), Some(2));
        assert_eq!(nvml_index_for(2, &cuda, &nvml), Some(0));
        assert_eq!(nvml_index_for(3, &cuda, &nvml), None);
        assert_eq!(nvml_index_for(0, &cuda, &[]), None);
    }

    #[test]
    fn nvml_init_without_a_driver_is_an_error_not_a_panic() {
        // This machine may or may not have an NVIDIA driver: either way, no panic.
        match nvml_wrapper::Nvml::init() {
            Ok(n) => assert!(n.device_count().is_ok()),
            Err(e) => {
                eprintln!("NVML absent, as expected without a driver: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Every `cpcd_…` name in `$expr` of the Grafana dashboard.
    fn dashboard_metric_names(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::String(s) => {
                let b = s.as_bytes();
                let mut i = 0;
                while let Some(j) = s[i..].find("cpcd_").map(|j| i + j) {
                    let boundary = j == 0 || !(b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_');
                    let end = j + s[j..].bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
                    if boundary {
                        out.insert(s[j..end].to_string());
                    }
                    i = end;
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_metric_names(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| dashboard_metric_names(x, out)),
            _ => {}
        }
    }

    #[test]
    fn grafana_dashboard_queries_only_registered_series() {
        let json: serde_json::Value = serde_json::from_str(include_str!("../../contrib/grafana/cpcd.json"))
            .expect("contrib/grafana/cpcd.json parses");
        assert_eq!(json["__inputs"][0]["name"], "DS_PROMETHEUS");
        let panels = json["panels"].as_array().expect("panels");
        assert!(panels.len() >= 12);
        let mut used = std::collections::BTreeSet::new();
        dashboard_metric_names(&json, &mut used);
        let m = Metrics::new();
        let registered: HashSet<&str> = m.names().iter().map(String::as_str).collect();
        for name in &used {
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            assert!(
                registered.contains(name.as_str()) || registered.contains(base),
                "the dashboard queries {name}, which metrics.rs does not register"
            );
        }
        // And every series is on the dashboard.
        for name in &registered {
            let on = used.iter().any(|u| {
                u == name || u.strip_prefix(*name).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
            });
            assert!(on, "{name} is not on the dashboard");
        }
    }
}
