//! [`GpuSolver`]: one device, owned by a dedicated OS thread, solving batches of synthetic
//! tasks sent over a channel.

use crate::device::{DeviceInfo, device_info, init_driver};
use crate::error::GpuError;
use crate::libs::{driver_present, nvrtc_present};
use crate::nvrtc;
use crate::solution::GpuSolution;
use cpc_kernels::{Kernel, TaskLayout, launch_plan_for};
use cpc_poc::SynthParams;
use cpc_primitives::H256;
use cudarc::driver::sys::{CUctx_flags, CUevent_flags, cudaError_enum};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig,
    PinnedHostSlice, PushKernelArg, result,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Tuning of a [`GpuSolver`].
#[derive(Clone, Debug)]
pub struct SolverOptions {
    /// Largest number of tasks per device batch; `None`: from device memory (see
    /// [`SolverOptions::memory_fraction`]), at most [`SolverOptions::DEFAULT_BATCH_CAP`].
    pub max_batch: Option<usize>,
    /// Share of the device's free memory the batch buffers may take.
    pub memory_fraction: f64,
    /// Record an event after every kernel, so [`BatchTiming::per_kernel_ms`] is filled
    /// (benchmarks; adds a little overhead).
    pub profile: bool,
    /// Use the tensor-core product on devices that have it (compute capability 8.0+); with
    /// false, the `__dp4a` product everywhere (benchmarks compare the two).
    pub tensor_cores: bool,
}

impl SolverOptions {
    /// Default cap on the batch: at n = 1024 about 1.8 GiB of buffers and 16 MiB of trees
    /// copied back per batch, a few milliseconds between cancellation checks, and enough
    /// thread blocks (64 tiles per task) to fill any current GPU many times over.
    pub const DEFAULT_BATCH_CAP: usize = 256;
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions {
            max_batch: None,
            memory_fraction: 0.5,
            profile: false,
            tensor_cores: true,
        }
    }
}

/// Timing of the last device batch.
#[derive(Clone, Debug, Default)]
pub struct BatchTiming {
    /// Tasks in the batch.
    pub tasks: usize,
    /// Matrix size.
    pub n: usize,
    /// Device time from the first kernel to the end of the last (CUDA events).
    pub kernels_ms: f64,
    /// Wall time of the whole batch: seeds, upload, kernels, copy back, solutions.
    pub wall_ms: f64,
    /// With [`SolverOptions::profile`]: each launch's device time, in plan order.
    pub per_kernel_ms: Vec<(Kernel, f64)>,
}

type Reply = Result<Vec<GpuSolution>, GpuError>;

struct Job {
    params: SynthParams,
    tip: H256,
    worker: String,
    nonces: Vec<u64>,
    generation: u64,
    reply: mpsc::Sender<Reply>,
}

/// A batch submitted with [`GpuSolver::submit_batch`]; its solutions arrive on a channel.
pub struct PendingBatch {
    rx: mpsc::Receiver<Reply>,
}

impl PendingBatch {
    /// Blocks until the batch is solved (or cancelled, or failed).
    pub fn wait(self) -> Result<Vec<GpuSolution>, GpuError> {
        self.rx.recv().unwrap_or(Err(GpuError::WorkerGone))
    }

    /// Waits at most `timeout`; `None` if the batch is still running.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<Vec<GpuSolution>, GpuError>> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(GpuError::WorkerGone)),
        }
    }

    /// The result if it is ready, without blocking.
    pub fn try_take(&self) -> Option<Result<Vec<GpuSolution>, GpuError>> {
        self.wait_timeout(Duration::ZERO)
    }
}

/// One CUDA device solving synthetic tasks on its own OS thread.
///
/// [`GpuSolver::start`] compiles the kernels with NVRTC for the device's compute capability,
/// loads them, and sizes the batch buffers from device memory. Requests go over a channel to
/// the thread, which owns the CUDA context and waits on the GPU with blocking
/// synchronisation (no spinning). A generation counter cancels work: every request carries
/// the generation it was made for, and the thread checks it before each device batch; bump
/// it ([`GpuSolver::cancel_all`], or the shared [`GpuSolver::generation_handle`]) when a new
/// tip makes queued work moot.
///
/// Results are bit-exact by construction and by test, but callers must still re-check every
/// result on the CPU (`cpc_poc::verify_full`) before submitting it.
pub struct GpuSolver {
    device: DeviceInfo,
    params: SynthParams,
    max_batch: usize,
    target: String,
    generation: Arc<AtomicU64>,
    timing: Arc<Mutex<Option<BatchTiming>>>,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GpuSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSolver")
            .field("device", &self.device)
            .field("params", &self.params)
            .field("max_batch", &self.max_batch)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// What the worker thread reports once it is ready.
struct Ready {
    max_batch: usize,
    target: String,
}

fn check_params(params: &SynthParams) -> Result<(), GpuError> {
    params
        .validate()
        .map_err(|e| GpuError::Params(e.to_string()))?;
    let n = u32::try_from(params.n)
        .map_err(|_| GpuError::Params(format!("n = {} too large", params.n)))?;
    cpc_kernels::check_n(n).map_err(|e| GpuError::Params(e.to_string()))
}

impl GpuSolver {
    /// Starts a solver on device `ordinal` for `params`, with default options.
    pub fn start(ordinal: usize, params: SynthParams) -> Result<GpuSolver, GpuError> {
        Self::start_with(ordinal, params, SolverOptions::default())
    }

    /// Starts a solver on device `ordinal` for `params`.
    ///
    /// Errors: [`GpuError::NoDriver`] / [`GpuError::NoNvrtc`] when the libraries are missing,
    /// [`GpuError::NoDevice`], [`GpuError::ComputeCapability`] below 6.1,
    /// [`GpuError::Params`] for an n the kernels do not take (a power of two in 16..=8192),
    /// [`GpuError::Compile`] / [`GpuError::Driver`] when compiling or loading fails.
    pub fn start_with(
        ordinal: usize,
        params: SynthParams,
        options: SolverOptions,
    ) -> Result<GpuSolver, GpuError> {
        check_params(&params)?;
        if !driver_present() {
            return Err(GpuError::NoDriver);
        }
        if !nvrtc_present() {
            return Err(GpuError::NoNvrtc);
        }
        let device = device_info(ordinal)?;
        if !device.supported() {
            return Err(GpuError::ComputeCapability {
                ordinal,
                name: device.name.clone(),
                major: device.compute_capability.0,
                minor: device.compute_capability.1,
            });
        }
        let generation = Arc::new(AtomicU64::new(0));
        let timing = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<Ready, GpuError>>(1);
        let thread = {
            let generation = generation.clone();
            let timing = timing.clone();
            let device = device.clone();
            std::thread::Builder::new()
                .name(format!("cpc-gpu-{ordinal}"))
                .spawn(move || {
                    worker_main(device, params, options, generation, timing, rx, ready_tx)
                })
                .map_err(|e| GpuError::driver("spawning the GPU thread", e))?
        };
        let ready = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(GpuError::WorkerGone);
            }
        };
        tracing::info!(
            device = %device, target = %ready.target, max_batch = ready.max_batch, n = params.n,
            "GPU solver ready"
        );
        Ok(GpuSolver {
            device,
            params,
            max_batch: ready.max_batch,
            target: ready.target,
            generation,
            timing,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// The device this solver owns.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The parameters [`GpuSolver::solve_batch`] uses.
    pub fn params(&self) -> SynthParams {
        self.params
    }

    /// Most tasks per device batch at the solver's n (longer requests are split).
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// What the kernels were compiled to, e.g. `"compute_90 PTX (NVRTC 12.9)"`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The shared generation counter: bumping it cancels every request made for an older
    /// generation, at its next device batch.
    pub fn generation_handle(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    /// Cancels all queued and running requests (at their next device batch); returns the new
    /// generation, which later requests carry.
    pub fn cancel_all(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Timing of the last device batch.
    pub fn last_timing(&self) -> Option<BatchTiming> {
        self.timing.lock().ok().and_then(|t| t.clone())
    }

    /// Queues a request: the tasks `(tip, worker, nonce)` for every nonce, at the solver's
    /// parameters, cancelled if the generation moves away from `generation`.
    pub fn submit_batch(
        &self,
        tip: H256,
        worker: String,
        nonces: Vec<u64>,
        generation: u64,
    ) -> Result<PendingBatch, GpuError> {
        self.submit_with(self.params, tip, worker, nonces, generation)
    }

    /// [`GpuSolver::submit_batch`] with other parameters (any n the kernels take; buffers
    /// grow as needed).
    pub fn submit_with(
        &self,
        params: SynthParams,
        tip: H256,
        worker: String,
        nonces: Vec<u64>,
        generation: u64,
    ) -> Result<PendingBatch, GpuError> {
        check_params(&params)?;
        let (reply, rx) = mpsc::channel();
        let tx = self.tx.as_ref().ok_or(GpuError::WorkerGone)?;
        tx.send(Job {
            params,
            tip,
            worker,
            nonces,
            generation,
            reply,
        })
        .map_err(|_| GpuError::WorkerGone)?;
        Ok(PendingBatch { rx })
    }

    /// Solves every nonce for (tip, worker) and blocks until done: one [`GpuSolution`] per
    /// nonce, in order. Call from a blocking context (e.g. `tokio::task::spawn_blocking`).
    /// Fails with [`GpuError::Cancelled`] if the generation moves on before it finishes.
    pub fn solve_batch(
        &self,
        tip: H256,
        worker: String,
        nonces: Vec<u64>,
    ) -> Result<Vec<GpuSolution>, GpuError> {
        self.submit_batch(tip, worker, nonces, self.generation())?
            .wait()
    }

    /// [`GpuSolver::solve_batch`] with other parameters.
    pub fn solve_with(
        &self,
        params: SynthParams,
        tip: H256,
        worker: String,
        nonces: Vec<u64>,
    ) -> Result<Vec<GpuSolution>, GpuError> {
        self.submit_with(params, tip, worker, nonces, self.generation())?
            .wait()
    }

    /// Solves the protocol's conformance vectors (n = 64 and n = 1024) and a few more nonces
    /// at both sizes, and compares roots and ComputeResults with the CPU reference of
    /// `cpc-poc` (`cpc_poc::solve`). Takes about a second of CPU time for the n = 1024 check.
    pub fn self_test(&self) -> Result<(), GpuError> {
        for case in crate::selftest::CASES {
            let tip = H256::from_hex(case.tip).expect("valid vector tip");
            let params = SynthParams {
                n: case.n,
                k: case.k,
            };
            let nonces: Vec<u64> = (0..case.extra_nonces as u64)
                .map(|i| case.nonce + i)
                .collect();
            let sols = self.solve_with(params, tip, case.worker.to_string(), nonces)?;
            let first = &sols[0];
            if first.result_hash() != case.result_hash {
                return Err(GpuError::SelfTest(format!(
                    "n = {}, nonce {}: GPU result_hash {} differs from the protocol vector {}",
                    case.n,
                    case.nonce,
                    first.result_hash(),
                    case.result_hash
                )));
            }
            for sol in &sols {
                let cpu = cpc_poc::solve(&tip, case.worker, sol.nonce, &params);
                let gpu = sol.compute_result();
                if gpu != cpu {
                    return Err(GpuError::SelfTest(format!(
                        "n = {}, nonce {}: GPU result (result_hash {}) differs from the CPU \
                         reference (result_hash {})",
                        case.n, sol.nonce, gpu.result_hash, cpu.result_hash
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Drop for GpuSolver {
    fn drop(&mut self) {
        // Closing the channel ends the worker loop once the current batch is done.
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The worker thread.

/// Device buffers, grown on demand (never shrunk); `None` until first needed.
#[derive(Default)]
struct Buffers {
    seeds: Option<CudaSlice<u8>>,
    ab: Option<CudaSlice<u8>>,
    bq: Option<CudaSlice<u8>>,
    c: Option<CudaSlice<u8>>,
    tree: Option<CudaSlice<u8>>,
}

fn grow(
    stream: &Arc<CudaStream>,
    buf: &mut Option<CudaSlice<u8>>,
    bytes: u64,
    what: &str,
) -> Result<(), GpuError> {
    if buf.as_ref().is_some_and(|b| b.len() as u64 >= bytes) {
        return Ok(());
    }
    let len =
        usize::try_from(bytes).map_err(|_| GpuError::Params(format!("{what} of {bytes} bytes")))?;
    // Free the old one first so both never coexist.
    *buf = None;
    // SAFETY: every byte a kernel reads is written by an earlier kernel of the same batch (or
    // uploaded), so uninitialised memory is never observed.
    let slice = unsafe { stream.alloc::<u8>(len.max(1)) }
        .map_err(|e| GpuError::driver(format!("allocating {len} bytes for {what}"), e))?;
    *buf = Some(slice);
    Ok(())
}

impl Buffers {
    fn ensure(
        &mut self,
        stream: &Arc<CudaStream>,
        layout: &TaskLayout,
        batch: usize,
    ) -> Result<(), GpuError> {
        let b = batch as u64;
        grow(stream, &mut self.seeds, layout.seed_bytes * b, "seeds")?;
        grow(stream, &mut self.ab, layout.ab_bytes * b, "A and B")?;
        grow(stream, &mut self.bq, layout.bq_bytes * b, "packed B")?;
        grow(stream, &mut self.c, layout.c_bytes * b, "C")?;
        grow(stream, &mut self.tree, layout.tree_bytes * b, "the trees")?;
        Ok(())
    }
}

/// The buffers of a batch, once [`Buffers::ensure`] made them.
fn get(b: &Option<CudaSlice<u8>>) -> &CudaSlice<u8> {
    b.as_ref()
        .expect("Buffers::ensure allocates every buffer before a launch")
}

fn get_mut(b: &mut Option<CudaSlice<u8>>) -> &mut CudaSlice<u8> {
    b.as_mut()
        .expect("Buffers::ensure allocates every buffer before a launch")
}

struct Worker {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    functions: HashMap<Kernel, CudaFunction>,
    bufs: Buffers,
    /// Page-locked host memory the trees are copied back into (pageable memory would make
    /// the driver stage the copy through its own pinned buffer: about twice the time).
    trees_host: Option<PinnedHostSlice<u8>>,
    start_ev: CudaEvent,
    end_ev: CudaEvent,
    options: SolverOptions,
    /// Device bytes the buffers may use (memory_fraction of the free memory at start).
    budget: u64,
    /// The device's compute capability (which product kernel the plan uses).
    cc: (u32, u32),
    cap: usize,
    timing: Arc<Mutex<Option<BatchTiming>>>,
}

fn worker_main(
    device: DeviceInfo,
    params: SynthParams,
    options: SolverOptions,
    generation: Arc<AtomicU64>,
    timing: Arc<Mutex<Option<BatchTiming>>>,
    rx: mpsc::Receiver<Job>,
    ready: mpsc::SyncSender<Result<Ready, GpuError>>,
) {
    let mut worker = match Worker::init(&device, params, options, timing) {
        Ok((w, r)) => {
            let _ = ready.send(Ok(r));
            w
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Ok(job) = rx.recv() {
        let reply = worker.run_job(&job, &generation);
        let _ = job.reply.send(reply);
    }
    // Dropping the worker frees buffers, module and context on this thread.
}

impl Worker {
    fn init(
        device: &DeviceInfo,
        params: SynthParams,
        options: SolverOptions,
        timing: Arc<Mutex<Option<BatchTiming>>>,
    ) -> Result<(Worker, Ready), GpuError> {
        init_driver()?;
        let ordinal = device.ordinal;
        // Blocking synchronisation: the thread sleeps in the driver instead of spinning.
        let dev = result::device::get(ordinal as i32)
            .map_err(|e| GpuError::driver("opening the device", e))?;
        // SAFETY: valid device handle; the flag only changes how host threads wait.
        let r = unsafe {
            cudarc::driver::sys::cuDevicePrimaryCtxSetFlags_v2(
                dev,
                CUctx_flags::CU_CTX_SCHED_BLOCKING_SYNC as u32,
            )
        };
        if r != cudaError_enum::CUDA_SUCCESS {
            tracing::warn!(
                ?r,
                "could not set CU_CTX_SCHED_BLOCKING_SYNC; waits use blocking-sync events only"
            );
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| GpuError::driver("creating the CUDA context", e))?;
        let stream = ctx
            .new_stream()
            .map_err(|e| GpuError::driver("creating a stream", e))?;

        let (module, target) = compile_and_load(&ctx, device)?;
        let mut functions = HashMap::new();
        for k in Kernel::ALL {
            let f = module
                .load_function(k.name())
                .map_err(|e| GpuError::driver(format!("loading kernel {k}"), e))?;
            functions.insert(k, f);
        }

        let (free, _total) = ctx
            .mem_get_info()
            .map_err(|e| GpuError::driver("reading free memory", e))?;
        let budget = (free as f64 * options.memory_fraction.clamp(0.01, 0.95)) as u64;
        let cap = options
            .max_batch
            .unwrap_or(SolverOptions::DEFAULT_BATCH_CAP)
            .clamp(1, cpc_kernels::MAX_BATCH as usize);
        let ev = || {
            ctx.new_event(Some(CUevent_flags::CU_EVENT_BLOCKING_SYNC))
                .map_err(|e| GpuError::driver("creating an event", e))
        };
        let mut worker = Worker {
            bufs: Buffers::default(),
            trees_host: None,
            start_ev: ev()?,
            end_ev: ev()?,
            ctx: ctx.clone(),
            stream,
            _module: module,
            functions,
            options,
            budget,
            cc: device.compute_capability,
            cap,
            timing,
        };
        let max_batch = worker.batch_for(params.n);
        let layout = TaskLayout::new(params.n as u32);
        worker.bufs.ensure(&worker.stream, &layout, max_batch)?;
        Ok((worker, Ready { max_batch, target }))
    }

    /// Tasks per device batch at size n: what the memory budget holds, at most the cap.
    fn batch_for(&self, n: usize) -> usize {
        let per_task = TaskLayout::new(n as u32).total_bytes().max(1);
        ((self.budget / per_task) as usize).clamp(1, self.cap)
    }

    fn run_job(&mut self, job: &Job, generation: &AtomicU64) -> Reply {
        let chunk = self.batch_for(job.params.n);
        let mut out = Vec::with_capacity(job.nonces.len());
        for nonces in job.nonces.chunks(chunk) {
            let current = generation.load(Ordering::SeqCst);
            if current != job.generation {
                return Err(GpuError::Cancelled {
                    requested: job.generation,
                    current,
                });
            }
            out.extend(self.run_batch(job.params, &job.tip, &job.worker, nonces)?);
        }
        Ok(out)
    }

    fn launch(
        &mut self,
        kernel: Kernel,
        cfg: LaunchConfig,
        n: u32,
        batch: u32,
    ) -> Result<(), GpuError> {
        let f = &self.functions[&kernel];
        let mut b = self.stream.launch_builder(f);
        let bufs = &mut self.bufs;
        let bpt = cpc_kernels::blocks_per_task(n) as u32;
        match kernel {
            Kernel::Chacha20Keystream => {
                b.arg(get(&bufs.seeds))
                    .arg(get_mut(&mut bufs.ab))
                    .arg(&bpt)
                    .arg(&batch);
            }
            Kernel::PackB => {
                b.arg(get(&bufs.ab))
                    .arg(get_mut(&mut bufs.bq))
                    .arg(&n)
                    .arg(&batch);
            }
            Kernel::MatmulTiled | Kernel::MatmulMma => {
                b.arg(get(&bufs.ab))
                    .arg(get(&bufs.bq))
                    .arg(get_mut(&mut bufs.c))
                    .arg(&n);
            }
            Kernel::MatmulSmall => {
                b.arg(get(&bufs.ab))
                    .arg(get(&bufs.bq))
                    .arg(get_mut(&mut bufs.c))
                    .arg(&n)
                    .arg(&batch);
            }
            Kernel::RowLeaves => {
                b.arg(get(&bufs.c))
                    .arg(get_mut(&mut bufs.tree))
                    .arg(&n)
                    .arg(&batch);
            }
            Kernel::MerkleTree => {
                b.arg(get_mut(&mut bufs.tree)).arg(&n);
            }
            // A market job's product has its own buffers (A, B, C of the job), not a batch's.
            Kernel::MatmulJob => {
                return Err(GpuError::Params(
                    "cpc_matmul_job is not part of a synthetic batch's launch plan".into(),
                ));
            }
        }
        // SAFETY: the arguments match the kernel's signature (cpc_kernels docs) and the
        // buffers hold `batch` tasks of size n (Buffers::ensure).
        unsafe { b.launch(cfg) }.map_err(|e| GpuError::driver(format!("launching {kernel}"), e))?;
        Ok(())
    }

    fn run_batch(
        &mut self,
        params: SynthParams,
        tip: &H256,
        worker: &str,
        nonces: &[u64],
    ) -> Reply {
        let t0 = Instant::now();
        let n = params.n as u32;
        let batch = nonces.len();
        let layout = TaskLayout::new(n);
        let plan = launch_plan_for(n, batch as u32, self.cc, self.options.tensor_cores)
            .map_err(|e| GpuError::Params(e.to_string()))?;
        self.bufs.ensure(&self.stream, &layout, batch)?;

        let seeds: Vec<[u8; 32]> = nonces
            .iter()
            .map(|&nonce| cpc_poc::seed(tip, worker, nonce))
            .collect();
        let seed_bytes: Vec<u8> = seeds.concat();
        self.stream
            .memcpy_htod(&seed_bytes, get_mut(&mut self.bufs.seeds))
            .map_err(|e| GpuError::driver("uploading the seeds", e))?;

        let profile = self.options.profile;
        let mut marks: Vec<CudaEvent> = Vec::new();
        self.start_ev
            .record(&self.stream)
            .map_err(|e| GpuError::driver("recording an event", e))?;
        for l in &plan {
            let cfg = LaunchConfig {
                grid_dim: l.grid,
                block_dim: l.block,
                shared_mem_bytes: 0,
            };
            self.launch(l.kernel, cfg, n, batch as u32)?;
            if profile {
                let ev = self
                    .ctx
                    .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                    .map_err(|e| GpuError::driver("creating an event", e))?;
                ev.record(&self.stream)
                    .map_err(|e| GpuError::driver("recording an event", e))?;
                marks.push(ev);
            }
        }
        self.end_ev
            .record(&self.stream)
            .map_err(|e| GpuError::driver("recording an event", e))?;
        // Blocking wait (CU_EVENT_BLOCKING_SYNC): kernel faults surface here.
        self.end_ev
            .synchronize()
            .map_err(|e| GpuError::driver("running the kernels", e))?;
        let kernels_ms = f64::from(
            self.start_ev
                .elapsed_ms(&self.end_ev)
                .map_err(|e| GpuError::driver("reading kernel time", e))?,
        );
        let mut per_kernel_ms = Vec::new();
        let mut prev = &self.start_ev;
        for (l, ev) in plan.iter().zip(&marks) {
            let ms = prev
                .elapsed_ms(ev)
                .map_err(|e| GpuError::driver("reading kernel time", e))?;
            per_kernel_ms.push((l.kernel, f64::from(ms)));
            prev = ev;
        }

        let tree_len = (layout.tree_bytes * batch as u64) as usize;
        if self.trees_host.as_ref().is_none_or(|h| h.len() < tree_len) {
            self.trees_host = None;
            // Flags 0: cached, not write-combined (the CPU reads every byte of it).
            // SAFETY: only the bytes the copy below writes are read.
            let host =
                unsafe { self.ctx.alloc_pinned_with_flags::<u8>(tree_len, 0) }.map_err(|e| {
                    GpuError::driver(
                        format!("allocating {tree_len} bytes of pinned host memory"),
                        e,
                    )
                })?;
            self.trees_host = Some(host);
        }
        let host = self.trees_host.as_mut().expect("allocated just above");
        self.stream
            .memcpy_dtoh(&get(&self.bufs.tree).slice(..tree_len), host)
            .map_err(|e| GpuError::driver("copying the trees back", e))?;
        // Waits on the copy's event (CU_EVENT_BLOCKING_SYNC: the thread sleeps, no spinning).
        let trees = &host
            .as_slice()
            .map_err(|e| GpuError::driver("copying the trees back", e))?[..tree_len];

        let per = layout.tree_bytes as usize;
        let sols: Vec<GpuSolution> = nonces
            .iter()
            .zip(&seeds)
            .zip(trees.chunks_exact(per))
            .map(|((&nonce, seed), t)| {
                GpuSolution::from_tree_bytes(*tip, worker, nonce, *seed, params, t)
            })
            .collect();
        if let Ok(mut slot) = self.timing.lock() {
            *slot = Some(BatchTiming {
                tasks: batch,
                n: params.n,
                kernels_ms,
                wall_ms: t0.elapsed().as_secs_f64() * 1e3,
                per_kernel_ms,
            });
        }
        Ok(sols)
    }
}

/// Compiles the program for the device and loads it: PTX for `compute_XY` first (JIT by the
/// driver); if the driver refuses that PTX (older than NVRTC), a CUBIN for `sm_XY`.
fn compile_and_load(
    ctx: &Arc<CudaContext>,
    device: &DeviceInfo,
) -> Result<(Arc<CudaModule>, String), GpuError> {
    let (cc_major, cc_minor) = device.compute_capability;
    let supported = nvrtc::supported_archs()?;
    let (major, minor) = nvrtc::arch_for(cc_major, cc_minor, &supported).ok_or_else(|| GpuError::Compile {
        options: vec![],
        log: format!(
            "this NVRTC supports architectures {supported:?}, none at or below the device's {cc_major}.{cc_minor}"
        ),
    })?;
    let (vmaj, vmin) = nvrtc::version()?;
    let ptx = nvrtc::compile_program(major, minor, false)?;
    if !ptx.log.is_empty() {
        tracing::debug!(log = %ptx.log, "NVRTC log");
    }
    let text = ptx.ptx.expect("virtual architecture yields PTX");
    match ctx.load_module(cudarc::nvrtc::Ptx::from_src(text)) {
        Ok(m) => Ok((
            m,
            format!("compute_{major}{minor} PTX (NVRTC {vmaj}.{vmin})"),
        )),
        Err(e) => {
            tracing::warn!(error = ?e, "driver refused the PTX; trying a CUBIN for sm_{major}{minor}");
            let bin = nvrtc::compile_program(major, minor, true)?;
            let cubin = bin.cubin.expect("real architecture yields a CUBIN");
            let m = ctx
                .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
                .map_err(|e2| {
                    GpuError::driver(format!("loading the kernels (PTX: {e:?}; CUBIN)"), e2)
                })?;
            Ok((m, format!("sm_{major}{minor} CUBIN (NVRTC {vmaj}.{vmin})")))
        }
    }
}
