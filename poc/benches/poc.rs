//! Timing of the synthetic-task pieces at the default size (n = 1024, k = 8).
//!
//! `cargo bench -p cpc-poc --bench poc` (a plain harness: warm-ups, then the median and the
//! minimum of the timed runs). Extra arguments filter the cases by substring.

use cpc_poc::*;
use cpc_primitives::sha256;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `f`: three warm-up calls, then `runs` timed calls; prints and returns the median
/// and the minimum in milliseconds (`None` when the case is filtered out).
fn bench<R>(name: &str, runs: usize, mut f: impl FnMut() -> R) -> Option<(f64, f64)> {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        return None;
    }
    for _ in 0..3 {
        black_box(f());
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (median, min) = (ms(times[runs / 2]), ms(times[0]));
    println!("{name:<36} median {median:>8.3} ms  min {min:>8.3} ms  ({runs} runs)");
    Some((median, min))
}

fn main() {
    let p = SynthParams::default();
    let n = p.n;
    let tip = sha256(b"bench tip");
    let worker = "cpc16ncl0w4za9dvrqpk49pgmwhwwye83qju0jk35a";
    let s = seed(&tip, worker, 1);
    let (a, b) = generate_matrices(&s, n);
    println!(
        "cpc-poc benches: n = {n}, k = {}, kernel {}, rayon threads {}",
        p.k,
        kernel_name(),
        rayon::current_num_threads()
    );

    let mut buf = vec![0u8; 2 * n * n];
    bench("poc/keystream_2MiB_n1024", 20, || {
        keystream_into(&s, 0, &mut buf)
    });
    bench("poc/keystream_2MiB_n1024_parallel", 20, || {
        keystream_into_parallel(&s, 0, &mut buf)
    });
    let fast = bench("poc/matmul_n1024_1thread", 20, || matmul(&a, &b, n));
    let mut c_buf = vec![0i32; n * n];
    bench("poc/matmul_into_n1024_1thread", 20, || {
        matmul_into(&a, &b, n, &mut c_buf)
    });
    // Up to 16 rows B is read unpacked; from 17 on it is packed first (kernel.rs FEW_ROWS).
    for m in [8usize, 16, 17] {
        bench(&format!("poc/matmul_rows_{m}_of_n1024"), 20, || {
            matmul_rows(&a[..m * n], m, &b, n)
        });
    }
    for kernel in Kernel::available_kernels() {
        bench(
            &format!("poc/matmul_rows_with_{}_8_of_n1024", kernel.name()),
            20,
            || matmul_rows_with(kernel, &a[..8 * n], 8, &b, n),
        );
    }
    bench("poc/matmul_portable_n1024_1thread", 10, || {
        matmul_portable(&a, &b, n)
    });
    // Every SIMD kernel this CPU has, in the same run (the ratios are what to compare).
    for kernel in Kernel::available_kernels() {
        if kernel != Kernel::Portable {
            bench(
                &format!("poc/matmul_with_{}_n1024_1thread", kernel.name()),
                20,
                || matmul_with(kernel, &a, &b, n),
            );
        }
    }
    let reference = bench("poc/matmul_reference_n1024_1thread", 5, || {
        matmul_reference(&a, &b, n)
    });
    if let (Some(fast), Some(reference)) = (fast, reference) {
        println!(
            "{:<36} {:.1}x faster than the reference (medians)",
            format!("poc/matmul_{}_vs_reference", kernel_name()),
            reference.0 / fast.0
        );
    }
    bench("poc/matmul_parallel_n1024", 20, || {
        matmul_parallel(&a, &b, n)
    });
    let c = matmul(&a, &b, n);
    bench("poc/row_tree_n1024", 20, || RowTree::from_product(&c, n));
    // The task market's check (issue 17: <= 10 ms at n = 1024 on one core): Freivalds, two
    // rounds over F_(2^61-1), against recomputing the product (matmul_n1024_1thread above).
    let fs = freivalds_seed("job:bench", &sha256(b"root"));
    bench("poc/freivalds_1024x1024x1024", 20, || {
        freivalds_check(&a, &b, &c, n, n, n, &fs).expect("the product passes")
    });
    // The market's largest job: m = n = 1024, k = 4096 (A and B of 4 MiB each).
    let (ak, bk) = (keystream(&s, 0, n * 4096), keystream(&s, 1 << 30, 4096 * n));
    let (ak, bk): (Vec<i8>, Vec<i8>) = (ak.into_iter().map(|x| x as i8).collect(), bk.into_iter().map(|x| x as i8).collect());
    let ck = {
        let mut ck = vec![0i32; n * n];
        for i in 0..n {
            for l in 0..4096 {
                let x = ak[i * 4096 + l] as i32;
                for (cj, &bj) in ck[i * n..(i + 1) * n].iter_mut().zip(&bk[l * n..(l + 1) * n]) {
                    *cj += x * bj as i32;
                }
            }
        }
        ck
    };
    bench("poc/freivalds_1024x4096x1024", 10, || {
        freivalds_check(&ak, &bk, &ck, n, 4096, n, &fs).expect("the product passes")
    });
    // What `cpcd worker --jobs` computes on the CPU for the 512 x 1024 x 512 job (all
    // cores), against Freivalds' check of its result (what validators run).
    let (m5, k5, n5) = (512, 1024, 512);
    let (a5, b5) = (&ak[..m5 * k5], &bk[..k5 * n5]);
    let c5 = cpc_poc::matmul_general(a5, b5, m5, k5, n5);
    bench("poc/job_product_512x1024x512", 10, || cpc_poc::matmul_general(a5, b5, m5, k5, n5));
    bench("poc/freivalds_512x1024x512", 20, || {
        freivalds_check(a5, b5, &c5, m5, k5, n5, &fs).expect("the product passes")
    });
    // The 1 024 row leaves alone, with each leaf backend this CPU has.
    let mut leaves = vec![cpc_primitives::H256::ZERO; n];
    for backend in LeafBackend::ALL.into_iter().filter(|b| b.available()) {
        bench(&format!("poc/row_leaves_{}_n1024", backend.name()), 20, || {
            row_leaves_with(backend, &c, n, &mut leaves)
        });
    }
    let one = bench("poc/solve_n1024_1thread", 20, || solve(&tip, worker, 1, &p));
    // The CPU miner's shape (`--cpu-threads N`): one task per thread, every core busy.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let all = bench(&format!("poc/solve_n1024_{threads}_threads"), 10, || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|i| {
                    let (tip, p) = (&tip, &p);
                    scope.spawn(move || solve(tip, worker, 100 + i, p))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("solver thread"))
                .collect::<Vec<_>>()
        })
    });
    if let (Some(one), Some(all)) = (one, all) {
        println!(
            "{:<36} 1 thread {:.0} tasks/s, {threads} threads {:.0} tasks/s (medians)",
            "poc/solve_throughput",
            1e3 / one.0,
            threads as f64 * 1e3 / all.0
        );
    }
    mine_at_fixed_target(&tip, worker, &p, threads);
    let r = solve(&tip, worker, 1, &p);
    // One share check is well under a microsecond: time 1 000 of them.
    bench("poc/share_value_x1000", 20, || {
        (0..1000u64).map(|i| share_value(&s, &cpc_primitives::H256([i as u8; 32]))).fold(0u64, |a, v| a ^ v)
    });
    bench("poc/check_proof_n1024_k8", 50, || {
        check_proof(&r, &tip, &p).unwrap()
    });
    bench("poc/verify_full_n1024", 20, || {
        verify_full(&r, &tip, &p).unwrap()
    });
    bench("poc/verify_full_parallel_n1024", 20, || {
        verify_full_parallel(&r, &tip, &p).unwrap()
    });
}

/// The CPU miner's loop at a fixed share target: every thread solves consecutive nonces and
/// checks each result's share value (one hash), for a fixed time. Prints tasks/s (in all and
/// per core), shares/s found, and shares/s expected from the difficulty.
fn mine_at_fixed_target(tip: &cpc_primitives::H256, worker: &str, p: &SynthParams, threads: usize) {
    let name = "poc/mine_at_target_difficulty_16";
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        return;
    }
    // Difficulty 16: target 2^60 − 1, one task in 16 is a share on average.
    let target = (1u64 << 60) - 1;
    let run = Duration::from_secs(6);
    let next = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let (tasks, shares) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let (mut tasks, mut shares) = (0u64, 0u64);
                    while started.elapsed() < run {
                        let nonce = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let r = solve(tip, worker, nonce, p);
                        tasks += 1;
                        if result_share_value(&r, tip).unwrap() <= target {
                            shares += 1;
                        }
                    }
                    (tasks, shares)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("miner thread")).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = started.elapsed().as_secs_f64();
    let tps = tasks as f64 / secs;
    println!(
        "{name:<36} {threads} threads, {secs:.1} s: {tps:.1} tasks/s ({:.1} per core), {shares} shares = {:.2} shares/s \
         (expected {:.2} at difficulty 16)",
        tps / threads as f64,
        shares as f64 / secs,
        tps / 16.0
    );
}
