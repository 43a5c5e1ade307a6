//! GPU against CPU, on a real device. Each test prints "skipped: no CUDA driver" (or why the
//! device is unusable) and returns on machines without one.
//!
//! Tests run one at a time on the device (a lock), each with its own solver.

mod common;

use common::{gpu_or_skip, result_json, run_seed, tip, vectors, worker};
use cpc_gpu::{GpuError, GpuSolver, SolverOptions, list_devices};
use cpc_poc::SynthParams;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static DEVICE: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    DEVICE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn devices_are_listed_with_sane_attributes() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    for d in list_devices().unwrap() {
        println!(
            "{d}: int8 peak {:?} TOPS, dp4a peak ≈ {:?} TOPS",
            d.int8_peak_tops(),
            d.dp4a_peak_tops()
        );
        assert!(!d.name.is_empty());
        assert!(d.sm_count > 0);
        assert!(d.total_memory > (1 << 28));
        assert!(d.compute_capability.0 >= 3);
    }
}

#[test]
fn self_test_passes() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let t = Instant::now();
    let solver = GpuSolver::start(0, SynthParams::default()).expect("start");
    println!("{solver:?} started in {:?}", t.elapsed());
    solver.self_test().expect("self-test");
    println!("self-test passed in {:?}", t.elapsed());
}

#[test]
fn gpu_reproduces_the_protocol_vectors() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let solver = GpuSolver::start(0, SynthParams { n: 64, k: 8 }).expect("start");
    for v in vectors() {
        let params = SynthParams { n: v.n, k: v.k };
        let sols = solver
            .solve_with(params, v.tip, v.worker.clone(), vec![v.nonce])
            .expect("solve");
        assert_eq!(
            result_json(&sols[0].compute_result()),
            v.result,
            "n = {}",
            v.n
        );
        println!("n = {}: vector reproduced on the GPU", v.n);
    }
}

#[test]
fn gpu_matches_cpu_bit_for_bit_on_random_tips() {
    // The tensor-core product from n = 128 on devices of compute capability 8.0+.
    matches_cpu_on_random_tips(true);
}

#[test]
fn dp4a_product_matches_cpu_bit_for_bit_on_random_tips() {
    matches_cpu_on_random_tips(false);
}

fn matches_cpu_on_random_tips(tensor_cores: bool) {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let seed = run_seed();
    let options = SolverOptions {
        tensor_cores,
        ..Default::default()
    };
    let solver = GpuSolver::start_with(0, SynthParams { n: 256, k: 8 }, options).expect("start");
    println!("{solver:?}, tensor_cores: {tensor_cores}");
    let cases = [
        (16usize, 5usize),
        (32, 5),
        (64, 7),
        (128, 6),
        (256, 9),
        (512, 4),
        (1024, 3),
        (2048, 1),
    ];
    for (i, (n, batch)) in cases.into_iter().enumerate() {
        for round in 0..2u64 {
            let params = SynthParams { n, k: 8 };
            let t = tip(seed, (i as u64) << 8 | round);
            let w = worker(seed, i as u64);
            let nonces: Vec<u64> = (0..batch as u64)
                .map(|j| seed.rotate_left(j as u32 * 7) ^ j)
                .collect();
            let start = Instant::now();
            let sols = solver
                .solve_with(params, t, w.clone(), nonces.clone())
                .expect("solve");
            let gpu_time = start.elapsed();
            assert_eq!(sols.len(), batch);
            for (sol, &nonce) in sols.iter().zip(&nonces) {
                assert_eq!(sol.nonce, nonce, "solutions come back in nonce order");
                let cpu = cpc_poc::solve(&t, &w, nonce, &params);
                let gpu = sol.compute_result();
                assert_eq!(
                    gpu, cpu,
                    "n = {n}, nonce {nonce}: GPU and CPU differ (CPC_TEST_SEED={seed})"
                );
            }
            println!("n = {n:4}: {batch} tasks in {gpu_time:?}, bit-identical to the CPU");
        }
    }
}

#[test]
fn batches_larger_than_one_device_batch_are_split_and_ordered() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let seed = run_seed();
    let params = SynthParams { n: 128, k: 4 };
    let opts = SolverOptions {
        max_batch: Some(3),
        ..Default::default()
    };
    let solver = GpuSolver::start_with(0, params, opts).expect("start");
    assert_eq!(solver.max_batch(), 3);
    let (t, w) = (tip(seed, 1), worker(seed, 1));
    let nonces: Vec<u64> = (100..111).collect();
    let sols = solver
        .solve_batch(t, w.clone(), nonces.clone())
        .expect("solve");
    assert_eq!(sols.iter().map(|s| s.nonce).collect::<Vec<_>>(), nonces);
    for sol in &sols {
        assert_eq!(
            sol.compute_result(),
            cpc_poc::solve(&t, &w, sol.nonce, &params)
        );
    }
    let timing = solver.last_timing().expect("timing");
    println!("last batch: {timing:?}");
    assert_eq!(timing.tasks, 2); // 11 = 3 + 3 + 3 + 2
}

#[test]
fn a_new_generation_cancels_work_in_flight() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let seed = run_seed();
    let params = SynthParams { n: 1024, k: 8 };
    let opts = SolverOptions {
        max_batch: Some(2),
        ..Default::default()
    };
    let solver = GpuSolver::start_with(0, params, opts).expect("start");
    let g0 = solver.generation();
    let (t, w) = (tip(seed, 2), worker(seed, 2));
    // Far more work than can finish before the cancel below.
    let pending = solver
        .submit_batch(t, w.clone(), (0..10_000).collect(), g0)
        .expect("submit");
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    let g1 = solver.cancel_all();
    assert_eq!(g1, g0 + 1);
    match pending.wait() {
        Err(GpuError::Cancelled { requested, current }) => {
            assert_eq!((requested, current), (g0, g1));
            println!("cancelled {:?} after the bump", started.elapsed());
        }
        other => panic!("expected Cancelled, got {:?}", other.map(|v| v.len())),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancellation took {:?}",
        started.elapsed()
    );
    // A request for a stale generation is refused before any work.
    let stale = solver
        .submit_batch(t, w.clone(), vec![1], g0)
        .expect("submit")
        .wait();
    assert!(matches!(stale, Err(GpuError::Cancelled { .. })));
    // Work for the new generation runs and is exact.
    let sols = solver
        .solve_batch(t, w.clone(), vec![42])
        .expect("solve after cancel");
    assert_eq!(
        sols[0].compute_result(),
        cpc_poc::solve(&t, &w, 42, &params)
    );
}

#[test]
fn solver_shuts_down_cleanly_and_refuses_bad_requests() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let solver = GpuSolver::start(0, SynthParams { n: 64, k: 8 }).expect("start");
    let bad = solver.solve_with(SynthParams { n: 8, k: 8 }, tip(0, 0), "w".into(), vec![0]);
    assert!(matches!(bad, Err(GpuError::Params(_))), "{bad:?}");
    let empty = solver
        .solve_batch(tip(0, 0), "w".into(), vec![])
        .expect("empty batch");
    assert!(empty.is_empty());
    let t = Instant::now();
    drop(solver);
    println!("dropped in {:?}", t.elapsed());
    // A second solver on the same device starts after the first is gone.
    let again = GpuSolver::start(0, SynthParams { n: 64, k: 8 }).expect("restart");
    assert_eq!(
        again
            .solve_batch(tip(0, 1), "w".into(), vec![5])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn start_on_a_missing_ordinal_is_an_error() {
    let _g = lock();
    if !gpu_or_skip() {
        return;
    }
    let count = list_devices().unwrap().len();
    match GpuSolver::start(count + 3, SynthParams::default()) {
        Err(GpuError::NoDevice { ordinal, count: c }) => {
            assert_eq!((ordinal, c), (count + 3, count))
        }
        other => panic!("expected NoDevice, got {other:?}"),
    }
}
