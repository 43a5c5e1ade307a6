//! cpc-miner: the miner of `cpcd --mine [--gpu 0,1|all] [--cpu-threads N]` and `cpcd worker`.
//!
//! On every new tip it cancels work in flight and solves that tip's tasks, nonces 0, 1, 2, …,
//! continuously on its devices (CPU threads and GPUs, each on its own OS thread) until the next
//! tip. Each solved task costs one more hash to check against the tip's `share_target`; only
//! shares are signed and submitted (up to M per tip, the chain's synthetic cap) through a
//! [`ResultSink`]: the node's own admission path in-process, or JSON-RPC for a remote worker
//! (`cpcd worker`). A GPU share is recomputed by the CPU before it leaves (a faulty card must
//! not cost the worker its reputation); the other GPU tasks are not re-checked, so the GPU runs
//! at full batch throughput.

pub mod jobs;
pub mod metrics;
pub mod remote;
pub mod sensor;

pub use metrics::MinerMetrics;

use anyhow::{bail, Context, Result};
use cpc_gpu::GpuSolver;
use cpc_poc::SynthParams;
use cpc_primitives::{Address, ComputeResult, SecretKey, ShareTarget, UnsignedTx, H256};
use cpc_state::Head;
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the miner logs its throughput.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// How often per-device rates (tasks/s, GMAC/s) are recomputed for status and metrics.
const RATE_INTERVAL: Duration = Duration::from_secs(2);
/// How often a GPU's temperature is read under `--gpu.temp-limit`: NVML reads take ~1 ms and
/// a card heats by well under a degree per second.
const TEMP_POLL: Duration = Duration::from_secs(2);
/// A throttled GPU resumes once it is this many °C below the limit (hysteresis: no flapping
/// around the limit at every poll).
pub const TEMP_HYSTERESIS_C: u32 = 5;

/// Which devices mine.
#[derive(Clone, Debug)]
pub struct MinerConfig {
    pub cpu_threads: usize,
    pub gpus: Vec<usize>,
    /// Most shares submitted per tip (the chain's M: a block holds no more).
    pub max_shares_per_tip: u64,
    /// Pause a GPU at this temperature (°C) until it cools by [`TEMP_HYSTERESIS_C`].
    pub gpu_temp_limit: Option<u32>,
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
    pub shares: AtomicU64,
    /// Shares the node took / refused (by reason).
    pub accepted: AtomicU64,
    pub rejected: Mutex<BTreeMap<String, u64>>,
    /// Tasks per second over the last rate interval.
    pub rate: Mutex<f64>,
    /// The temperature at which the device was paused, while it is.
    pub throttled: Mutex<Option<u32>>,
}

impl DeviceStats {
    fn new(name: String) -> DeviceStats {
        DeviceStats {
            name,
            tasks: AtomicU64::new(0),
            shares: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            rate: Mutex::new(0.0),
            throttled: Mutex::new(None),
        }
    }
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
    target: ShareTarget,
    /// Shares submitted for this tip so far.
    submitted: u64,
}

/// Called with (thread name, panic message) when a miner thread panics: the node's supervisor
/// stops the node, `cpcd worker` stops the worker.
pub type OnPanic = Arc<dyn Fn(&str, String) + Send + Sync>;

/// Runs `body` on a named OS thread; a panic in it is reported through `on_panic`.
fn spawn_thread<F>(on_panic: &OnPanic, name: String, body: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let on_panic = on_panic.clone();
    std::thread::Builder::new().name(name.clone()).spawn(move || {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            on_panic(&name, msg);
        }
    })
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

struct Shared {
    sink: Arc<dyn ResultSink>,
    key: SecretKey,
    worker: String,
    params: SynthParams,
    job: Mutex<Job>,
    changed: Condvar,
    next_nonce: AtomicU64,
    max_shares_per_tip: u64,
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
        let (generation, target) = {
            let j = sh.job.lock();
            (j.generation, j.target)
        };
        let p_share = target.share_probability();
        let mut shares_found = 0;
        let devices = sh
            .devices
            .lock()
            .iter()
            .map(|d| {
                let rate = *d.rate.lock();
                let shares = d.shares.load(Ordering::Relaxed);
                shares_found += shares;
                cpc_rpc::DeviceStatus {
                    name: d.name.clone(),
                    tasks: d.tasks.load(Ordering::Relaxed),
                    tasks_per_sec: rate,
                    gmac_per_sec: rate * macs_per_task / 1e9,
                    shares_found: shares,
                    shares_accepted: d.accepted.load(Ordering::Relaxed),
                    shares_rejected: d.rejected.lock().clone(),
                    expected_shares_per_sec: rate * p_share,
                    throttled_at_celsius: *d.throttled.lock(),
                }
            })
            .collect();
        cpc_rpc::MinerStatus {
            mining: !sh.stop.load(Ordering::Relaxed),
            worker: sh.worker.parse().ok(),
            devices,
            share_target: (generation != 0).then_some(target),
            difficulty: (generation != 0).then(|| target.difficulty()),
            shares_found,
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

/// What a device works on: the tip's generation, hash and target, and its first nonce.
struct Claim {
    generation: u64,
    tip: H256,
    target: ShareTarget,
    first: u64,
    count: u64,
}

impl Shared {
    /// Waits for a tip that still wants shares; claims the next `want` nonces of it.
    fn claim(&self, want: u64) -> Option<Claim> {
        let mut job = self.job.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if job.generation != 0 && job.submitted < self.max_shares_per_tip {
                let first = self.next_nonce.fetch_add(want, Ordering::Relaxed);
                return Some(Claim { generation: job.generation, tip: job.tip, target: job.target, first, count: want });
            }
            // No tip yet, or this tip's cap is reached (more shares could not be paid): idle.
            self.changed.wait(&mut job);
        }
    }

    fn current_generation(&self) -> u64 {
        self.job.lock().generation
    }

    /// Signs and submits a share of tip `generation` (serialised: the miner's nonces must be
    /// consecutive). Returns false when it was not sent (tip replaced, or its cap reached).
    fn submit_share(&self, dev: &DeviceStats, generation: u64, mut r: ComputeResult) -> bool {
        {
            let mut job = self.job.lock();
            if job.generation != generation {
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            if job.submitted >= self.max_shares_per_tip {
                return false;
            }
            job.submitted += 1;
        }
        r.sign(&self.key);
        let _g = self.submit.lock();
        match self.sink.submit(&self.key, &r) {
            Ok(h) => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                dev.accepted.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(tx = %h, task = %r.task_id, device = %dev.name, "submitted share");
            }
            Err((reason, msg)) => {
                tracing::warn!(task = %r.task_id, device = %dev.name, "share rejected: {msg}");
                *dev.rejected.lock().entry(reason.clone()).or_default() += 1;
                *self.stats.rejected.lock().entry(reason).or_default() += 1;
                // A refused share holds no slot of the tip: the devices may find another.
                let mut job = self.job.lock();
                if job.generation == generation {
                    job.submitted = job.submitted.saturating_sub(1);
                    self.changed.notify_all();
                }
            }
        }
        true
    }

    fn add_device(&self, name: String) -> Arc<DeviceStats> {
        let d = Arc::new(DeviceStats::new(name));
        self.devices.lock().push(d.clone());
        d
    }
}

/// Whether `r` (solved for `tip`) is a share at `target`: one hash.
fn is_share(r: &ComputeResult, tip: &H256, target: ShareTarget) -> bool {
    cpc_poc::result_share_value(r, tip).is_ok_and(|v| v <= target.0)
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
        on_panic: OnPanic,
    ) -> Result<Miner> {
        let worker = Address::from_public_key(&key.public_key()).to_string();
        let shared = Arc::new(Shared {
            sink,
            key,
            worker: worker.clone(),
            params,
            job: Mutex::new(Job { generation: 0, tip: H256::ZERO, height: 0, target: ShareTarget::MAX, submitted: 0 }),
            changed: Condvar::new(),
            next_nonce: AtomicU64::new(0),
            max_shares_per_tip: cfg.max_shares_per_tip.max(1),
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
            let guard = cfg.gpu_temp_limit.map(|limit| TempGuard::new(limit, crate::sensor::NvmlSensor::open(ordinal)));
            threads.push(spawn_thread(&on_panic, format!("miner-gpu{ordinal}"), move || gpu_loop(sh, solver, dev, guard))?);
        }
        for i in 0..cfg.cpu_threads {
            let dev = shared.add_device(format!("cpu{i}"));
            let sh = shared.clone();
            threads.push(spawn_thread(&on_panic, format!("miner-cpu{i}"), move || cpu_loop(sh, dev))?);
        }
        // Tip follower: a new head cancels work in flight and opens the next tip's nonces.
        let sh = shared.clone();
        threads.push(spawn_thread(&on_panic, "miner-tips".into(), move || {
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
                job.target = head.share_target;
                job.submitted = 0;
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
        tracing::info!(
            %worker,
            cpu_threads = cfg.cpu_threads,
            gpus = ?cfg.gpus,
            max_shares_per_tip = shared.max_shares_per_tip,
            n = params.n,
            "miner started"
        );
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
    let (target, height) = {
        let j = sh.job.lock();
        (j.target, j.height)
    };
    let p = target.share_probability();
    let devs = sh.devices.lock();
    let mut parts = Vec::new();
    let mut total = 0.0;
    for d in devs.iter() {
        let rate = *d.rate.lock();
        total += rate;
        let throttled = match *d.throttled.lock() {
            Some(c) => format!(" (throttled at {c} °C)"),
            None => String::new(),
        };
        let rejected: u64 = d.rejected.lock().values().sum();
        parts.push(format!(
            "{} {:.1} tasks/s {:.1} GMAC/s, {} shares found ({} accepted, {rejected} rejected), {:.3} shares/s expected{throttled}",
            d.name,
            rate,
            rate * macs_per_task / 1e9,
            d.shares.load(Ordering::Relaxed),
            d.accepted.load(Ordering::Relaxed),
            rate * p
        ));
    }
    let rejected = sh.stats.rejected.lock().clone();
    tracing::info!(
        height,
        difficulty = format!("{:.2}", target.difficulty()),
        expected_shares_per_s = format!("{:.3}", total * p),
        accepted = sh.stats.accepted.load(Ordering::Relaxed),
        ?rejected,
        cancelled = sh.stats.cancelled.load(Ordering::Relaxed),
        "miner: {}",
        parts.join(", ")
    );
}

fn cpu_loop(sh: Arc<Shared>, dev: Arc<DeviceStats>) {
    while let Some(c) = sh.claim(1) {
        let r = cpc_poc::solve(&c.tip, &sh.worker, c.first, &sh.params);
        dev.tasks.fetch_add(1, Ordering::Relaxed);
        // The CPU computed it with the verifier's own kernels: no second computation needed.
        if is_share(&r, &c.tip, c.target) {
            dev.shares.fetch_add(1, Ordering::Relaxed);
            sh.submit_share(&dev, c.generation, r);
        } else if sh.current_generation() != c.generation {
            sh.stats.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn gpu_loop(sh: Arc<Shared>, solver: Arc<GpuSolver>, dev: Arc<DeviceStats>, mut guard: Option<TempGuard>) {
    // Whole launches: the GPU's throughput comes from its full batch.
    let batch = (solver.max_batch() as u64).max(1);
    loop {
        if let Some(g) = guard.as_mut() {
            g.wait_while_hot(&dev, &sh.stop);
        }
        let Some(c) = sh.claim(batch) else { return };
        let nonces: Vec<u64> = (c.first..c.first + c.count).collect();
        let solver_gen = solver.generation();
        let res = solver.submit_batch(c.tip, sh.worker.clone(), nonces, solver_gen).and_then(|p| p.wait());
        let solutions = match res {
            Ok(s) => s,
            Err(cpc_gpu::GpuError::Cancelled { .. }) => {
                sh.stats.cancelled.fetch_add(c.count, Ordering::Relaxed);
                continue;
            }
            Err(e) => {
                tracing::error!(device = %dev.name, "GPU batch failed: {e}");
                *sh.stats.rejected.lock().entry("gpu error".into()).or_default() += c.count;
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        dev.tasks.fetch_add(solutions.len() as u64, Ordering::Relaxed);
        for s in solutions {
            let r = s.compute_result();
            if !is_share(&r, &c.tip, c.target) {
                continue;
            }
            dev.shares.fetch_add(1, Ordering::Relaxed);
            if sh.current_generation() != c.generation {
                sh.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Catch faulty cards: no share leaves the miner that the CPU has not recomputed.
            if let Err(e) = cpc_poc::verify_full(&r, &c.tip, &sh.params) {
                tracing::error!(device = %dev.name, nonce = r.nonce, "GPU share failed the CPU re-check: {e}");
                *sh.stats.rejected.lock().entry("gpu result wrong".into()).or_default() += 1;
                continue;
            }
            sh.submit_share(&dev, c.generation, r);
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

/// A temperature reading source (NVML on a real card; a script in tests).
pub trait TempSensor: Send {
    /// Degrees Celsius, `None` when unreadable.
    fn celsius(&mut self) -> Option<u32>;
}

/// `--gpu.temp-limit`: pauses a device at the limit until it is [`TEMP_HYSTERESIS_C`] below.
pub struct TempGuard {
    limit: u32,
    sensor: Box<dyn TempSensor>,
    last_poll: Option<Instant>,
    poll: Duration,
}

impl TempGuard {
    pub fn new(limit: u32, sensor: Box<dyn TempSensor>) -> TempGuard {
        TempGuard { limit, sensor, last_poll: None, poll: TEMP_POLL }
    }

    /// Whether the device may run at `celsius` given whether it is paused now.
    pub fn may_run(limit: u32, paused: bool, celsius: u32) -> bool {
        if paused { celsius + TEMP_HYSTERESIS_C <= limit } else { celsius < limit }
    }

    /// Reads the sensor (at most every poll interval) and, while the card is at or above the
    /// limit, sleeps and says so; returns once it has cooled down or the miner stops.
    pub fn wait_while_hot(&mut self, dev: &DeviceStats, stop: &AtomicBool) {
        if self.last_poll.is_some_and(|t| t.elapsed() < self.poll) {
            return;
        }
        self.last_poll = Some(Instant::now());
        let Some(c) = self.sensor.celsius() else { return };
        if Self::may_run(self.limit, false, c) {
            return;
        }
        tracing::warn!(
            device = %dev.name,
            "{} reached {c} °C (--gpu.temp-limit {} °C): throttling until it cools to {} °C",
            dev.name,
            self.limit,
            self.limit.saturating_sub(TEMP_HYSTERESIS_C)
        );
        *dev.throttled.lock() = Some(c);
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(self.poll);
            match self.sensor.celsius() {
                Some(now) if Self::may_run(self.limit, true, now) => {
                    tracing::info!(device = %dev.name, "{} cooled to {now} °C: mining again", dev.name);
                    break;
                }
                Some(now) => *dev.throttled.lock() = Some(now),
                None => break,
            }
        }
        *dev.throttled.lock() = None;
        self.last_poll = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Script(std::collections::VecDeque<u32>);
    impl TempSensor for Script {
        fn celsius(&mut self) -> Option<u32> {
            self.0.pop_front()
        }
    }

    #[test]
    fn a_panic_on_a_miner_thread_is_reported_by_name() {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let s2 = seen.clone();
        let on_panic: OnPanic = Arc::new(move |t: &str, m: String| s2.lock().push((t.to_string(), m)));
        spawn_thread(&on_panic, "miner-cpu0".into(), || panic!("bad card")).unwrap().join().unwrap();
        assert_eq!(*seen.lock(), vec![("miner-cpu0".to_string(), "bad card".to_string())]);
    }

    #[test]
    fn temperature_limit_has_hysteresis() {
        assert!(TempGuard::may_run(80, false, 79));
        assert!(!TempGuard::may_run(80, false, 80), "at the limit: pause");
        assert!(!TempGuard::may_run(80, true, 76), "paused: not yet 5 °C below");
        assert!(TempGuard::may_run(80, true, 75), "paused: resumes at limit − 5");
    }

    #[test]
    fn a_hot_card_is_paused_until_it_cools() {
        let temps = [85, 84, 78, 75].into_iter().collect();
        let mut g = TempGuard::new(80, Box::new(Script(temps)));
        g.poll = Duration::from_millis(1);
        let dev = DeviceStats::new("gpu0".into());
        let stop = AtomicBool::new(false);
        g.wait_while_hot(&dev, &stop);
        // 85 paused it; 84 and 78 kept it paused; 75 let it go: every reading was consumed.
        assert!(g.sensor.celsius().is_none(), "it waited for the reading at limit − 5");
        assert_eq!(*dev.throttled.lock(), None, "no longer marked throttled");
    }

    #[test]
    fn shares_are_judged_against_the_tip_target() {
        let tip = H256([3; 32]);
        let worker = Address([9; 20]).to_string();
        let p = SynthParams { n: 8, k: 2 };
        let r = cpc_poc::solve(&tip, &worker, 1, &p);
        let v = cpc_poc::result_share_value(&r, &tip).unwrap();
        assert!(is_share(&r, &tip, ShareTarget(v)), "value == target is a share");
        assert!(v == 0 || !is_share(&r, &tip, ShareTarget(v - 1)), "value > target is not");
    }
}
