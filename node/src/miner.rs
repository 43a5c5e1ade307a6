//! The in-process miner (`cpcd --mine [--gpu 0,1|all] [--cpu-threads N]`).
//!
//! On every new tip it cancels work in flight, hands out nonces 0, 1, … of the tip's tasks to
//! its devices (CPU threads and GPUs, each on its own OS thread), signs each result with the
//! miner's key, and submits up to `results_per_tip` SUBMIT_RESULT transactions through a
//! [`ResultSink`]: the node's own admission path in-process, or JSON-RPC for a remote worker
//! (`cpcd worker`). Every GPU result is re-checked by the CPU verifier first.

use crate::node::Node;
use cpc_state::Head;
use tokio::sync::watch;
use anyhow::{bail, Context, Result};
use cpc_gpu::GpuSolver;
use cpc_poc::SynthParams;
use cpc_primitives::{Address, ComputeResult, SecretKey, UnsignedTx, H256};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the miner logs its throughput.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// How often per-device rates (tasks/s, GMAC/s) are recomputed for status and metrics.
const RATE_INTERVAL: Duration = Duration::from_secs(2);
/// Most nonces a GPU claims per launch: enough to fill a launch, few enough that a new tip
/// is picked up quickly.
const GPU_BATCH: u64 = 64;

/// Which devices mine.
#[derive(Clone, Debug)]
pub struct MinerConfig {
    pub cpu_threads: usize,
    pub gpus: Vec<usize>,
    pub results_per_tip: u64,
}

/// Parses `--gpu`: `0`, `0,1`, or `all`.
pub fn parse_gpus(spec: &str) -> Result<Vec<usize>> {
    if spec == "all" {
        let devs = cpc_gpu::list_devices().map_err(|e| anyhow::anyhow!("--gpu all: {e}"))?;
        if devs.is_empty() {
            bail!("--gpu all: no CUDA devices");
        }
        return Ok(devs.iter().map(|d| d.ordinal).collect());
    }
    spec.split(',')
        .map(|s| s.trim().parse::<usize>().with_context(|| format!("--gpu: expected 0, 0,1 or all, found {spec:?}")))
        .collect()
}

/// Per-device counters.
pub struct DeviceStats {
    pub name: String,
    pub tasks: AtomicU64,
    /// Tasks per second over the last report interval.
    pub rate: Mutex<f64>,
}

/// Counters across devices, for logs and `miner_status`.
#[derive(Default)]
pub struct MinerStats {
    pub accepted: AtomicU64,
    pub rejected: Mutex<BTreeMap<String, u64>>,
    pub cancelled: AtomicU64,
}

struct Job {
    generation: u64,
    tip: H256,
    height: u64,
}

/// Where signed results go.
pub trait ResultSink: Send + Sync + 'static {
    /// Wraps the (worker-signed) result in a SUBMIT_RESULT signed by `key` and submits it.
    /// Errors carry a short reason label (for counters) and the full message.
    fn submit(&self, key: &SecretKey, r: &ComputeResult) -> std::result::Result<H256, (String, String)>;
}

/// The SUBMIT_RESULT transaction for `r` from `key`'s account.
pub fn result_tx(key: &SecretKey, r: &ComputeResult, chain_id: &str, nonce: u64, gas_price: u64) -> cpc_primitives::Transaction {
    UnsignedTx::submit_result(chain_id, Address::from_public_key(&key.public_key()), r, nonce, gas_price).sign(key)
}

/// Submits through the local node's admission path.
pub struct LocalSink(pub Arc<Node>);

impl ResultSink for LocalSink {
    fn submit(&self, key: &SecretKey, r: &ComputeResult) -> std::result::Result<H256, (String, String)> {
        let node = &self.0;
        let from = Address::from_public_key(&key.public_key());
        let committed = node.store.account(&from).map(|a| a.nonce).unwrap_or(0);
        let nonce = node.mempool.lock().pending_nonce(&from, committed);
        let tx = result_tx(key, r, &node.params.chain_id, nonce, node.params.min_gas_price);
        node.submit(tx).map_err(|e| (crate::metrics::admit_reason(&e).to_string(), e.to_string()))
    }
}

struct Shared {
    sink: Arc<dyn ResultSink>,
    key: SecretKey,
    worker: String,
    params: SynthParams,
    job: Mutex<Job>,
    changed: Condvar,
    next_nonce: AtomicU64,
    limit: u64,
    submit: Mutex<()>,
    stop: AtomicBool,
    pub stats: MinerStats,
    devices: Mutex<Vec<Arc<DeviceStats>>>,
}

/// A cheap handle for reading the miner's status (RPC, metrics).
#[derive(Clone)]
pub struct MinerHandle(Arc<Shared>);

impl MinerHandle {
    pub fn status(&self) -> cpc_rpc::MinerStatus {
        let sh = &self.0;
        let macs_per_task = (sh.params.n as f64).powi(3);
        let devices = sh
            .devices
            .lock()
            .iter()
            .map(|d| {
                let rate = *d.rate.lock();
                cpc_rpc::DeviceStatus {
                    name: d.name.clone(),
                    tasks: d.tasks.load(Ordering::Relaxed),
                    tasks_per_sec: rate,
                    gmac_per_sec: rate * macs_per_task / 1e9,
                }
            })
            .collect();
        cpc_rpc::MinerStatus {
            mining: !sh.stop.load(Ordering::Relaxed),
            worker: sh.worker.parse().ok(),
            devices,
            results_accepted: sh.stats.accepted.load(Ordering::Relaxed),
            results_rejected: sh.stats.rejected.lock().clone(),
            cancelled: sh.stats.cancelled.load(Ordering::Relaxed),
        }
    }
}

/// A running miner; stops its threads on drop.
pub struct Miner {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Shared {
    /// Waits for a job with a nonce left to claim; returns (generation, tip, first nonce, count).
    fn claim(&self, want: u64) -> Option<(u64, H256, u64, u64)> {
        let mut job = self.job.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if job.generation != 0 {
                let first = self.next_nonce.fetch_add(want, Ordering::Relaxed);
                if first < self.limit {
                    return Some((job.generation, job.tip, first, want.min(self.limit - first)));
                }
            }
            self.changed.wait(&mut job);
        }
    }

    fn current_generation(&self) -> u64 {
        self.job.lock().generation
    }

    /// Signs and submits a result (serialised: the miner's nonces must be consecutive).
    fn submit(&self, mut r: ComputeResult) {
        r.sign(&self.key);
        let _g = self.submit.lock();
        match self.sink.submit(&self.key, &r) {
            Ok(h) => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(tx = %h, task = %r.task_id, "submitted result");
            }
            Err((reason, msg)) => {
                tracing::warn!(task = %r.task_id, "result rejected: {msg}");
                *self.stats.rejected.lock().entry(reason).or_default() += 1;
            }
        }
    }

    fn add_device(&self, name: String) -> Arc<DeviceStats> {
        let d = Arc::new(DeviceStats { name, tasks: AtomicU64::new(0), rate: Mutex::new(0.0) });
        self.devices.lock().push(d.clone());
        d
    }
}

impl Miner {
    /// Starts the devices and the tip follower on `heads`. Fails (before mining anything)
    /// when a requested GPU cannot be used.
    pub fn start(
        sink: Arc<dyn ResultSink>,
        key: SecretKey,
        cfg: MinerConfig,
        params: SynthParams,
        mut heads: watch::Receiver<Head>,
    ) -> Result<Miner> {
        let worker = Address::from_public_key(&key.public_key()).to_string();
        let shared = Arc::new(Shared {
            sink,
            key,
            worker: worker.clone(),
            params,
            job: Mutex::new(Job { generation: 0, tip: H256::ZERO, height: 0 }),
            changed: Condvar::new(),
            next_nonce: AtomicU64::new(0),
            limit: cfg.results_per_tip,
            submit: Mutex::new(()),
            stop: AtomicBool::new(false),
            stats: MinerStats::default(),
            devices: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        let mut solvers = Vec::new();
        for &ordinal in &cfg.gpus {
            let solver = GpuSolver::start(ordinal, params).map_err(|e| anyhow::anyhow!("--gpu {ordinal}: {e}"))?;
            solver.self_test().map_err(|e| anyhow::anyhow!("--gpu {ordinal}: self-test against the CPU failed: {e}"))?;
            tracing::info!(device = %solver.device(), batch = solver.max_batch(), "GPU miner ready");
            let solver = Arc::new(solver);
            solvers.push(solver.clone());
            let dev = shared.add_device(format!("gpu{ordinal}"));
            let sh = shared.clone();
            threads.push(std::thread::Builder::new().name(format!("miner-gpu{ordinal}")).spawn(move || gpu_loop(sh, solver, dev))?);
        }
        for i in 0..cfg.cpu_threads {
            let dev = shared.add_device(format!("cpu{i}"));
            let sh = shared.clone();
            threads.push(std::thread::Builder::new().name(format!("miner-cpu{i}")).spawn(move || cpu_loop(sh, dev))?);
        }
        // Tip follower: a new head cancels work in flight and opens the next tip's nonces.
        let sh = shared.clone();
        threads.push(std::thread::Builder::new().name("miner-tips".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let mut last_report = Instant::now();
            let mut last_rate = Instant::now();
            let mut last_tasks: Vec<u64> = Vec::new();
            let announce = |head: Head| {
                for s in &solvers {
                    s.cancel_all();
                }
                let mut job = sh.job.lock();
                job.generation += 1;
                job.tip = head.hash;
                job.height = head.height;
                sh.next_nonce.store(0, Ordering::Relaxed);
                sh.changed.notify_all();
            };
            announce(*heads.borrow_and_update());
            loop {
                let changed = rt.block_on(async { tokio::time::timeout(Duration::from_millis(500), heads.changed()).await });
                if sh.stop.load(Ordering::Relaxed) {
                    break;
                }
                match changed {
                    Ok(Ok(())) => announce(*heads.borrow_and_update()),
                    Ok(Err(_)) => break, // the head source is gone
                    Err(_) => {}
                }
                if last_rate.elapsed() >= RATE_INTERVAL {
                    update_rates(&sh, last_rate.elapsed(), &mut last_tasks);
                    last_rate = Instant::now();
                }
                if last_report.elapsed() >= REPORT_INTERVAL {
                    report(&sh);
                    last_report = Instant::now();
                }
            }
        })?);
        tracing::info!(%worker, cpu_threads = cfg.cpu_threads, gpus = ?cfg.gpus, results_per_tip = cfg.results_per_tip, n = params.n, "miner started");
        Ok(Miner { shared, threads })
    }

    pub fn handle(&self) -> MinerHandle {
        MinerHandle(self.shared.clone())
    }
}

/// Recomputes each device's tasks/s over the last `elapsed`.
fn update_rates(sh: &Shared, elapsed: Duration, last: &mut Vec<u64>) {
    let devs = sh.devices.lock();
    last.resize(devs.len(), 0);
    for (i, d) in devs.iter().enumerate() {
        let now = d.tasks.load(Ordering::Relaxed);
        *d.rate.lock() = (now - last[i]) as f64 / elapsed.as_secs_f64();
        last[i] = now;
    }
}

fn report(sh: &Shared) {
    let macs_per_task = (sh.params.n as f64).powi(3);
    let devs = sh.devices.lock();
    let mut parts = Vec::new();
    for d in devs.iter() {
        let rate = *d.rate.lock();
        parts.push(format!("{} {:.1} tasks/s {:.1} GMAC/s", d.name, rate, rate * macs_per_task / 1e9));
    }
    let rejected = sh.stats.rejected.lock().clone();
    tracing::info!(
        accepted = sh.stats.accepted.load(Ordering::Relaxed),
        ?rejected,
        cancelled = sh.stats.cancelled.load(Ordering::Relaxed),
        "miner: {}",
        parts.join(", ")
    );
}

fn cpu_loop(sh: Arc<Shared>, dev: Arc<DeviceStats>) {
    while let Some((g, tip, nonce, _)) = sh.claim(1) {
        let r = cpc_poc::solve(&tip, &sh.worker, nonce, &sh.params);
        dev.tasks.fetch_add(1, Ordering::Relaxed);
        if sh.current_generation() != g {
            sh.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        sh.submit(r);
    }
}

fn gpu_loop(sh: Arc<Shared>, solver: Arc<GpuSolver>, dev: Arc<DeviceStats>) {
    let batch = GPU_BATCH.min(solver.max_batch() as u64).max(1);
    while let Some((g, tip, first, count)) = sh.claim(batch) {
        let nonces: Vec<u64> = (first..first + count).collect();
        let solver_gen = solver.generation();
        let res = solver.submit_batch(tip, sh.worker.clone(), nonces, solver_gen).and_then(|p| p.wait());
        let solutions = match res {
            Ok(s) => s,
            Err(cpc_gpu::GpuError::Cancelled { .. }) => {
                sh.stats.cancelled.fetch_add(count, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                tracing::error!(device = %dev.name, "GPU batch failed: {e}");
                *sh.stats.rejected.lock().entry("gpu error".into()).or_default() += count;
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        dev.tasks.fetch_add(solutions.len() as u64, Ordering::Relaxed);
        for s in solutions {
            if sh.current_generation() != g {
                sh.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let r = s.compute_result();
            // Catch faulty cards: nothing leaves the miner that the CPU has not recomputed.
            if let Err(e) = cpc_poc::verify_full(&r, &tip, &sh.params) {
                tracing::error!(device = %dev.name, nonce = r.nonce, "GPU result failed the CPU re-check: {e}");
                *sh.stats.rejected.lock().entry("gpu result wrong".into()).or_default() += 1;
                continue;
            }
            sh.submit(r);
        }
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let _j = self.shared.job.lock();
            self.shared.changed.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
