//! GpuSolution's host side (paths, proof, ComputeResult) against cpc-poc, from trees built on
//! the CPU: no GPU or compiler needed.

mod common;

use common::{result_json, run_seed, tip, vectors, worker};
use cpc_gpu::GpuSolution;
use cpc_poc::{SynthParams, node_hash, row_leaf};
use cpc_primitives::H256;

/// The tree bytes in the device layout: leaves, then each level, root last.
fn tree_bytes(c: &[i32], n: usize) -> Vec<u8> {
    let mut level: Vec<H256> = c.chunks_exact(n).map(row_leaf).collect();
    let mut out: Vec<u8> = level.iter().flat_map(|h| h.0).collect();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
        out.extend(level.iter().flat_map(|h| h.0));
    }
    out
}

#[test]
fn compute_result_matches_poc_and_the_vectors() {
    for v in vectors() {
        let params = SynthParams { n: v.n, k: v.k };
        let seed = cpc_poc::seed(&v.tip, &v.worker, v.nonce);
        let (a, b) = cpc_poc::generate_matrices(&seed, v.n);
        let c = cpc_poc::matmul(&a, &b, v.n);
        let sol = GpuSolution::from_tree_bytes(
            v.tip,
            &v.worker,
            v.nonce,
            seed,
            params,
            &tree_bytes(&c, v.n),
        );
        assert_eq!(result_json(&sol.compute_result()), v.result, "n = {}", v.n);
        assert_eq!(
            sol.compute_result(),
            cpc_poc::result_from_product(&v.tip, &v.worker, v.nonce, &c, &params)
        );
        let tree = cpc_poc::RowTree::from_product(&c, v.n);
        assert_eq!(sol.root(), tree.root());
        assert_eq!(sol.leaves(), tree.leaves());
        for row in [0, 1, v.n / 2, v.n - 1] {
            assert_eq!(sol.path(row), tree.path(row), "n = {}, row {row}", v.n);
        }
    }
}

#[test]
fn compute_result_matches_poc_on_random_tasks() {
    let seed = run_seed();
    for (i, n) in [16usize, 32, 64, 128].into_iter().enumerate() {
        for k in [1usize, 8, 64] {
            let params = SynthParams { n, k };
            let (t, w, nonce) = (
                tip(seed, i as u64),
                worker(seed, i as u64),
                seed ^ (k as u64),
            );
            let s = cpc_poc::seed(&t, &w, nonce);
            let (a, b) = cpc_poc::generate_matrices(&s, n);
            let c = cpc_poc::matmul_reference(&a, &b, n);
            let sol = GpuSolution::from_tree_bytes(t, &w, nonce, s, params, &tree_bytes(&c, n));
            let r = sol.compute_result();
            assert_eq!(
                r,
                cpc_poc::result_from_product(&t, &w, nonce, &c, &params),
                "n = {n}, k = {k}"
            );
            cpc_poc::verify_full(&r, &t, &params).expect("verifies");
        }
    }
}
