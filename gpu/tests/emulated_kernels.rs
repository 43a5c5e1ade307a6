//! Runs the real CUDA C sources on the CPU (cpc_kernels::emu: built-ins mapped onto threads
//! and a barrier, compiled with the system C++ compiler) through the same launch plan the GPU
//! backend uses, and compares the trees bit for bit with cpc-poc and the protocol vectors.
//! This checks the kernels' arithmetic, indexing, tiling, packing and hashing without a GPU;
//! not timing, and not what only hardware can show (memory-model or compiler differences).
//! Skips with a message when no C++20 compiler is found.

mod common;

use common::{result_json, run_seed, tip, vectors, worker};
use cpc_gpu::GpuSolution;
use cpc_kernels::{emu, launch_plan, program_source};
use cpc_poc::SynthParams;
use cpc_primitives::H256;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn compiler() -> Option<String> {
    let mut cands: Vec<String> = std::env::var("CXX").ok().into_iter().collect();
    cands.extend(["c++", "g++", "clang++"].map(String::from));
    cands.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Builds the emulator once per test binary; `None` (with a message) when it cannot be built.
fn emulator() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let Some(cxx) = compiler() else {
            println!(
                "skipped: no C++ compiler (c++, g++, clang++ or $CXX) for the kernel emulation"
            );
            return None;
        };
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cpc-kernel-emu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("program.cu"), program_source()).unwrap();
        std::fs::write(dir.join("emu.h"), emu::HEADER).unwrap();
        std::fs::write(dir.join("emu_main.cpp"), emu::MAIN).unwrap();
        let bin = dir.join("emu");
        let out = Command::new(&cxx)
            .current_dir(&dir)
            .args([
                "-std=c++20",
                "-O2",
                "-pthread",
                "-fno-strict-aliasing",
                "-Wno-unknown-pragmas",
            ])
            .arg("-DCPC_PROGRAM=\"program.cu\"")
            .args(["emu_main.cpp", "-o"])
            .arg(&bin)
            .output()
            .expect("running the C++ compiler");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if stderr.contains("barrier") && stderr.contains("No such file") {
                println!("skipped: {cxx} has no C++20 <barrier>");
                return None;
            }
            panic!("the kernel sources do not build under the CPU emulation ({cxx}):\n{stderr}");
        }
        Some(bin)
    })
    .as_ref()
}

/// Solves `nonces` for (tip, worker) through the emulated kernels.
fn emulate(
    params: SynthParams,
    tip: H256,
    worker: &str,
    nonces: &[u64],
) -> (Vec<GpuSolution>, Vec<i32>) {
    let bin = emulator().expect("emulator built");
    let n = params.n as u32;
    let plan = launch_plan(n, nonces.len() as u32).unwrap();
    let seeds: Vec<[u8; 32]> = nonces
        .iter()
        .map(|&x| cpc_poc::seed(&tip, worker, x))
        .collect();
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(emu::driver_input(n, &plan, &seeds).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "emulator failed: {:?}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut sols = Vec::new();
    let mut c00 = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        match (
            parts.next(),
            parts.next().and_then(|t| t.parse::<usize>().ok()),
            parts.next(),
        ) {
            (Some("c00"), Some(_), Some(v)) => c00.push(v.parse().unwrap()),
            (Some("tree"), Some(t), Some(hex)) => sols.push(GpuSolution::from_tree_bytes(
                tip,
                worker,
                nonces[t],
                seeds[t],
                params,
                &hex::decode(hex).unwrap(),
            )),
            _ => panic!("unexpected emulator output {line:?}"),
        }
    }
    assert_eq!(sols.len(), nonces.len());
    (sols, c00)
}

#[test]
fn emulated_kernels_reproduce_the_protocol_vectors() {
    if emulator().is_none() {
        return;
    }
    for v in vectors() {
        let params = SynthParams { n: v.n, k: v.k };
        assert_eq!(
            hex::encode(cpc_poc::seed(&v.tip, &v.worker, v.nonce)),
            v.seed
        );
        let (sols, c00) = emulate(params, v.tip, &v.worker, &[v.nonce]);
        assert_eq!(c00[0], v.c00, "n = {}: C[0][0]", v.n);
        let got = result_json(&sols[0].compute_result());
        assert_eq!(
            got, v.result,
            "n = {}: ComputeResult differs from the vector",
            v.n
        );
        println!(
            "n = {:4} (plan {:?}): vector reproduced",
            v.n,
            launch_plan(v.n as u32, 1).unwrap()[2].kernel
        );
    }
}

#[test]
fn emulated_kernels_match_the_cpu_on_random_tasks() {
    if emulator().is_none() {
        return;
    }
    let seed = run_seed();
    for (i, (n, batch)) in [
        (16usize, 3usize),
        (32, 3),
        (64, 2),
        (128, 3),
        (256, 2),
        (512, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let params = SynthParams { n, k: 8 };
        let t = tip(seed, i as u64);
        let w = worker(seed, i as u64);
        let nonces: Vec<u64> = (0..batch as u64)
            .map(|j| seed.wrapping_mul(31).wrapping_add(j * 0x1_0000_0001))
            .collect();
        let (sols, _) = emulate(params, t, &w, &nonces);
        for sol in &sols {
            // The CPU reference: keystream, product and tree in cpc-poc.
            let (a, b) = cpc_poc::generate_matrices(&sol.seed, n);
            let c = cpc_poc::matmul(&a, &b, n);
            let leaves: Vec<H256> = c.chunks_exact(n).map(cpc_poc::row_leaf).collect();
            assert_eq!(
                sol.leaves(),
                &leaves[..],
                "n = {n}, nonce {}: leaves differ",
                sol.nonce
            );
            let cpu = cpc_poc::result_from_product(&t, &w, sol.nonce, &c, &params);
            assert_eq!(sol.compute_result(), cpu, "n = {n}, nonce {}", sol.nonce);
            cpc_poc::verify_full(&sol.compute_result(), &t, &params).expect("verifies on the CPU");
        }
        println!("n = {n}: {batch} tasks bit-identical to the CPU");
    }
}

/// C = A·B by the textbook loop (not the code under test).
fn textbook(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for t in 0..k {
            for j in 0..n {
                c[i * n + j] += a[i * k + t] as i32 * b[t * n + j] as i32;
            }
        }
    }
    c
}

/// A market job's product through the emulated `cpc_matmul_job`, launched as the host would.
fn emulate_job(a: &[i8], b: &[i8], m: u32, k: u32, n: u32) -> Vec<i32> {
    let bin = emulator().expect("emulator built");
    let ((gx, gy, _), (bx, by, _)) = cpc_kernels::job_launch(m, n);
    let mut input = format!("job {m} {k} {n} {gx} {gy} {bx} {by}\n");
    for v in a.iter().chain(b) {
        input.push_str(&v.to_string());
        input.push(' ');
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "emulator failed: {:?}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let rest = text.strip_prefix("c").expect("the job mode's output");
    rest.split_whitespace().map(|v| v.parse().unwrap()).collect()
}

#[test]
fn the_job_kernel_computes_exact_products_of_any_shape_edges_and_extremes_included() {
    if emulator().is_none() {
        return;
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |len: usize| -> Vec<i8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8 as i8
            })
            .collect()
    };
    // Shapes off the 16 tile in each dimension, one tile exactly, a single entry, a long k.
    for (m, k, n) in [(1, 1, 1), (16, 16, 16), (37, 45, 29), (17, 3, 33), (5, 300, 2)] {
        let (a, b) = (rnd(m * k), rnd(k * n));
        let got = emulate_job(&a, &b, m as u32, k as u32, n as u32);
        assert_eq!(got.len(), m * n, "{m} x {k} x {n}: C has m·n entries");
        assert!(
            got == textbook(&a, &b, m, k, n),
            "{m} x {k} x {n}: C differs from A·B"
        );
    }
    // The extremes: every entry -128 (the largest products, 2^14 each) over a long k.
    let (m, k, n) = (3, 1000, 18);
    let (a, b) = (vec![-128i8; m * k], vec![-128i8; k * n]);
    assert!(emulate_job(&a, &b, m as u32, k as u32, n as u32).iter().all(|&v| v == 16384 * k as i32));
}
