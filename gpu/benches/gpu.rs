//! GPU benchmark: synthetic tasks per second at n = 1024 for batches of 1, 8, 64 (and the
//! solver's largest batch), achieved int8 TOPS (2·n³ operations per task) against the card's
//! dense int8 peak, shares per second at a fixed share target (difficulty 16: the miner's
//! one extra hash per task included), and where the device time goes, kernel by kernel.
//!
//! `cargo bench -p cpc-gpu --bench gpu`. Env: CPC_GPU_ORDINAL (default 0), CPC_BENCH_SECONDS
//! (time per batch size, default 2), CPC_BENCH_N (default 1024).
//! Without a GPU it prints "no CUDA driver found: nothing to measure" and exits 0.

use cpc_gpu::{BatchTiming, GpuSolver, SolverOptions, driver_present, list_devices, nvrtc_present};
use cpc_kernels::{Kernel, ops_per_task};
use cpc_poc::SynthParams;
use cpc_primitives::sha256;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes other flags: ignore them all.
    if !driver_present() {
        println!("no CUDA driver found: nothing to measure");
        return;
    }
    let devices = match list_devices() {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => {
            println!("no CUDA device found: nothing to measure");
            return;
        }
        Err(e) => {
            println!("CUDA driver unusable ({e}): nothing to measure");
            return;
        }
    };
    if !nvrtc_present() {
        println!("{}: nothing to measure", cpc_gpu::GpuError::NoNvrtc);
        return;
    }
    let ordinal: usize = env_or("CPC_GPU_ORDINAL", 0);
    let seconds: f64 = env_or("CPC_BENCH_SECONDS", 2.0);
    let n: usize = env_or("CPC_BENCH_N", 1024);
    let Some(dev) = devices.get(ordinal) else {
        println!(
            "no device #{ordinal} ({} present): nothing to measure",
            devices.len()
        );
        return;
    };
    let peak = dev.int8_peak_tops();
    println!("device: {dev}");
    println!(
        "int8 dense tensor peak: {}; __dp4a peak (SMs x clock x 64 x 8 ops): {}",
        peak.map(|p| format!("{p:.0} TOPS"))
            .unwrap_or_else(|| "unknown".into()),
        dev.dp4a_peak_tops()
            .map(|p| format!("~{p:.0} TOPS"))
            .unwrap_or_else(|| "unknown".into())
    );

    let params = SynthParams { n, k: 8 };
    let t = Instant::now();
    let solver = match GpuSolver::start_with(
        ordinal,
        params,
        SolverOptions {
            profile: true,
            ..Default::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            println!("cannot start the solver: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "solver: {} , max batch {} at n = {n}, started in {:.2?}",
        solver.target(),
        solver.max_batch(),
        t.elapsed()
    );
    let t = Instant::now();
    match solver.self_test() {
        Ok(()) => println!(
            "self-test (vectors n = 64 and 1024 + CPU comparison): ok in {:.2?}",
            t.elapsed()
        ),
        Err(e) => {
            println!("self-test FAILED: {e}");
            std::process::exit(1);
        }
    }

    let tip = sha256(b"cpc-gpu-bench");
    let worker = "cpc1benchbenchbenchbenchbenchbenchbenchbe".to_string();
    let ops = ops_per_task(n as u32);
    let mut batches = vec![1usize, 8, 64];
    if solver.max_batch() > 64 {
        batches.push(solver.max_batch());
    }
    println!();
    println!(
        "{:>6} {:>7} {:>11} {:>9} {:>13} {:>9} {:>9} {:>8} {:>10}",
        "batch", "iters", "tasks/s", "TOPS", "kernel t/s", "k. TOPS", "% peak", "ms/batch", "shares/s"
    );
    // Difficulty 16 (target 2^60 − 1): one task in 16 is a share on average.
    let share_target = (1u64 << 60) - 1;
    let mut nonce = 0u64;
    let mut breakdown: Option<BatchTiming> = None;
    for &batch in &batches {
        // Warm-up (allocations, JIT caches, clocks).
        let _ = solver
            .solve_batch(tip, worker.clone(), (nonce..nonce + batch as u64).collect())
            .expect("solve");
        nonce += batch as u64;
        let mut iters = 0u64;
        let mut kernel_s = 0.0;
        let mut shares = 0u64;
        let start = Instant::now();
        while iters < 3 || start.elapsed() < Duration::from_secs_f64(seconds) {
            let sols = solver
                .solve_batch(tip, worker.clone(), (nonce..nonce + batch as u64).collect())
                .expect("solve");
            assert_eq!(sols.len(), batch);
            // The miner's share check: one hash of (seed, root) per task.
            shares += sols.iter().filter(|s| cpc_poc::share_value(&s.seed, &s.root()) <= share_target).count() as u64;
            nonce += batch as u64;
            let timing = solver.last_timing().expect("timing");
            kernel_s += timing.kernels_ms / 1e3;
            iters += 1;
            if batch == 64 {
                breakdown = Some(timing);
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let tasks = (iters * batch as u64) as f64;
        let tps = tasks / wall;
        let ktps = tasks / kernel_s;
        let tops = tps * ops / 1e12;
        let ktops = ktps * ops / 1e12;
        println!(
            "{batch:>6} {iters:>7} {tps:>11.1} {tops:>9.2} {ktps:>13.1} {ktops:>9.2} {:>9} {:>8.2} {:>10.1}",
            peak.map(|p| format!("{:.2}%", 100.0 * ktops / p))
                .unwrap_or_else(|| "n/a".into()),
            1e3 * wall / iters as f64,
            shares as f64 / wall
        );
    }
    println!("(tasks/s and TOPS: wall clock incl. seeds, upload, copy-back of the trees and");
    println!(" ComputeResult-ready solutions; 'kernel': device time of the kernels only;");
    println!(" shares/s: tasks whose share value is at most 2^60 - 1, expected tasks/s / 16)");
    if let Some(b) = breakdown {
        println!();
        println!("device time per kernel, batch of {} at n = {n}:", b.tasks);
        let total: f64 = b.per_kernel_ms.iter().map(|(_, ms)| ms).sum();
        for (k, ms) in &b.per_kernel_ms {
            let extra = if matches!(
                k,
                Kernel::MatmulTiled | Kernel::MatmulSmall | Kernel::MatmulMma
            ) {
                format!("  ({:.2} TOPS)", b.tasks as f64 * ops / (ms / 1e3) / 1e12)
            } else {
                String::new()
            };
            println!(
                "  {:<24} {ms:>9.3} ms {:>6.1}%{extra}",
                k.name(),
                100.0 * ms / total.max(1e-9)
            );
        }
    }

    // The same batch of 64 with the __dp4a product instead of the tensor cores, in this run.
    if dev.compute_capability >= cpc_kernels::MMA_COMPUTE_CAPABILITY && n.is_multiple_of(128) {
        drop(solver);
        let options = SolverOptions {
            profile: true,
            tensor_cores: false,
            ..Default::default()
        };
        let dp4a = GpuSolver::start_with(ordinal, params, options).expect("dp4a solver");
        let batch = 64usize;
        let (mut iters, mut kernel_s, mut matmul_ms) = (0u64, 0.0, f64::MAX);
        let _ = dp4a
            .solve_batch(tip, worker.clone(), (nonce..nonce + batch as u64).collect())
            .expect("solve");
        nonce += batch as u64;
        let start = Instant::now();
        while iters < 3 || start.elapsed() < Duration::from_secs_f64(seconds) {
            dp4a.solve_batch(tip, worker.clone(), (nonce..nonce + batch as u64).collect())
                .expect("solve");
            nonce += batch as u64;
            let t = dp4a.last_timing().expect("timing");
            kernel_s += t.kernels_ms / 1e3;
            if let Some((_, ms)) = t
                .per_kernel_ms
                .iter()
                .find(|(k, _)| *k == Kernel::MatmulTiled)
            {
                matmul_ms = matmul_ms.min(*ms);
            }
            iters += 1;
        }
        let tasks = (iters * batch as u64) as f64;
        println!();
        println!(
            "same run, __dp4a product instead (tensor_cores: false), batch of 64: {:.1} tasks/s wall, \
             {:.1} tasks/s kernels, product {matmul_ms:.3} ms ({:.2} TOPS)",
            tasks / start.elapsed().as_secs_f64(),
            tasks / kernel_s,
            batch as f64 * ops / (matmul_ms / 1e3) / 1e12
        );
    }
}
