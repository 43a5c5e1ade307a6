//! cpc-poc: synthetic proof-of-compute tasks (PROTOCOL.md "Synthetic tasks v1").
//!
//! A task is a pure function of (tip hash, worker address, nonce, n, k):
//! `seed = H("CPC-SYNTH-V1:" ‖ tip ‖ worker ‖ le64(nonce))`, two int8 matrices A and B from
//! the ChaCha20 keystream of the seed, the exact i32 product `C = A·B`, a Merkle tree over
//! the rows of C (`result_hash` is its root) and a proof made of the sibling paths of `k`
//! rows challenged by the root itself.
//!
//! Two checks: [`check_proof`] recomputes only the `k` challenged rows (B plus `k` rows of A:
//! well under a millisecond at n = 1024) and walks their paths to `result_hash`;
//! [`verify_full`] recomputes all of C and requires the exact `result_hash` and the canonical
//! proof. Both run every cheap structural check (task id form, nonce, hex formats, proof
//! length, task id for this tip and worker) before any heavy work.
//!
//! No chain access: callers hand in the tip (or, with [`find_tip`], the window's tips).

mod freivalds;
mod general;
pub use general::matmul_general;
mod kernel;
mod leaves;
mod stream;
mod tree;

pub use freivalds::{
    FREIVALDS_DOMAIN, FREIVALDS_P, FREIVALDS_ROUNDS, FreivaldsError, MAX_JOB_K, MAX_JOB_MN, freivalds_check,
    freivalds_reference_sides, freivalds_seed, freivalds_sides, freivalds_vectors,
};
pub use kernel::{
    Kernel, kernel_name, matmul, matmul_into, matmul_parallel, matmul_portable, matmul_reference,
    matmul_rows, matmul_rows_with, matmul_with,
};
pub use leaves::{Backend as LeafBackend, row_leaves, row_leaves_with};
pub use stream::{keystream, keystream_into, keystream_into_parallel};
pub use tree::{LEAF_PREFIX, NODE_PREFIX, RowTree, node_hash, root_from_path, row_leaf};

use cpc_primitives::{ComputeResult, H256, sha256_concat};
use kernel::{PreparedB, scratch};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default matrix size `n`.
pub const DEFAULT_N: usize = 1024;
/// Default challenge count `k`.
pub const DEFAULT_K: usize = 8;
/// Default task window `W`: a task's tip must be one of the `W` blocks below the including one.
pub const DEFAULT_WINDOW: u64 = 16;
/// Smallest allowed `n`.
pub const MIN_N: usize = 2;
/// Largest allowed `n`.
pub const MAX_N: usize = 8192;
/// Largest allowed `k`.
pub const MAX_K: usize = 64;

/// Domain prefix of the task seed.
pub const SEED_DOMAIN: &[u8] = b"CPC-SYNTH-V1:";
/// Domain prefix of the challenge hashes.
pub const CHALLENGE_DOMAIN: &[u8] = b"CPC-CHAL-V1:";
/// Domain prefix of the share value (PROTOCOL.md, Shares v2).
pub const SHARE_DOMAIN: &[u8] = b"CPC-SHARE-V1:";

/// A rule of synthetic verification that a result breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PocError {
    #[error(
        "task id {0:?} is not a synthetic task id (expected a lowercase 8-4-4-4-12 UUID with \
         version nibble 8 and variant bits 10)"
    )]
    NotSynthetic(String),
    #[error("bad synthetic parameters n = {n}, k = {k}: expected {expected}")]
    BadParams {
        n: usize,
        k: usize,
        expected: &'static str,
    },
    #[error("synthetic result has no nonce: expected the u64 nonce of its task, found null")]
    NonceMissing,
    #[error("task id mismatch: this tip, worker and nonce give {expected}, found {found}")]
    TaskIdMismatch { expected: String, found: String },
    #[error("result_hash: expected 64 lowercase hex digits, found {0}")]
    ResultHashFormat(String),
    #[error("synthetic result has no proof: expected k·log2(n) sibling hashes in hex, found null")]
    ProofMissing,
    #[error("proof: expected lowercase hex digits, found {0}")]
    ProofFormat(String),
    #[error("proof length: expected {expected} hex digits (k·log2(n)·64), found {found}")]
    ProofLength { expected: usize, found: usize },
    #[error(
        "proof: the path of challenge {challenge} (row {row}) does not reach result_hash \
         (expected the recomputed row's leaf to hash up to it)"
    )]
    ProofMismatch { challenge: usize, row: usize },
    #[error("result_hash mismatch: recomputing C gives {expected}, found {found}")]
    ResultHashMismatch { expected: String, found: String },
    #[error(
        "proof is not canonical: expected exactly the challenged rows' sibling paths of the \
         recomputed tree, found different bytes"
    )]
    ProofNotCanonical,
}

/// The chain's synthetic-task parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthParams {
    /// Matrix size (power of two, 2 ..= 8192).
    pub n: usize,
    /// Challenge count (1 ..= 64).
    pub k: usize,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            n: DEFAULT_N,
            k: DEFAULT_K,
        }
    }
}

impl SynthParams {
    /// `n` a power of two in `2 ..= 8192`, `k` in `1 ..= 64`.
    pub fn validate(&self) -> Result<(), PocError> {
        let bad = |expected| {
            Err(PocError::BadParams {
                n: self.n,
                k: self.k,
                expected,
            })
        };
        if !self.n.is_power_of_two() || self.n < MIN_N || self.n > MAX_N {
            return bad("n a power of two in 2..=8192");
        }
        if self.k < 1 || self.k > MAX_K {
            return bad("k in 1..=64");
        }
        Ok(())
    }

    /// `log2(n)`: the number of sibling hashes per challenged row.
    pub fn log2n(&self) -> usize {
        self.n.trailing_zeros() as usize
    }

    /// Length of a proof in bytes: `k·log2(n)·32`.
    pub fn proof_bytes(&self) -> usize {
        self.k * self.log2n() * 32
    }

    fn assert_valid(&self) {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
    }
}

/// `H("CPC-SYNTH-V1:" ‖ tip ‖ utf8(worker) ‖ le64(nonce))`.
pub fn seed(tip: &H256, worker: &str, nonce: u64) -> [u8; 32] {
    sha256_concat(&[SEED_DOMAIN, &tip.0, worker.as_bytes(), &nonce.to_le_bytes()]).0
}

/// The UUID text of `seed[0..16]` with version nibble 8 and variant bits `10`.
pub fn task_id_from_seed(seed: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&seed[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Share value: the first 8 bytes, big-endian, of `H("CPC-SHARE-V1:" ‖ seed ‖ root)`.
/// A result is a share if this is at most its tip's `share_target`.
pub fn share_value(seed: &[u8; 32], root: &H256) -> u64 {
    let h = sha256_concat(&[SHARE_DOMAIN, seed, &root.0]);
    u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"))
}

/// The share value a result claims for `tip`: one seed hash and one share hash, no matrix
/// work (the cheapest rule, checked before the k-row proof). Errors on a missing nonce or a
/// malformed `result_hash`.
pub fn result_share_value(result: &ComputeResult, tip: &H256) -> Result<u64, PocError> {
    let nonce = result.nonce.ok_or(PocError::NonceMissing)?;
    let root = H256::from_hex(&result.result_hash)
        .map_err(|e| PocError::ResultHashFormat(format!("{} ({e})", shorten(&result.result_hash))))?;
    Ok(share_value(&seed(tip, &result.worker_address, nonce), &root))
}

/// The task id of (tip, worker, nonce).
pub fn task_id(tip: &H256, worker: &str, nonce: u64) -> String {
    task_id_from_seed(&seed(tip, worker, nonce))
}

/// Whether `task_id` claims to be synthetic: exactly the lowercase 8-4-4-4-12 UUID form with
/// version nibble `8` and variant bits `10` (so the 17th hex digit is one of `8 9 a b`).
pub fn is_synthetic_task_id(task_id: &str) -> bool {
    let b = task_id.as_bytes();
    if b.len() != 36 {
        return false;
    }
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
    });
    shape_ok && b[14] == b'8' && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Among `candidates` (tip hashes of the window), the one whose task for (worker, nonce) has
/// this task id; `None` if there is none (stale or unknown tip, or someone else's task).
pub fn find_tip(task_id: &str, worker: &str, nonce: u64, candidates: &[H256]) -> Option<H256> {
    if !is_synthetic_task_id(task_id) {
        return None;
    }
    candidates
        .iter()
        .copied()
        .find(|tip| self::task_id(tip, worker, nonce) == task_id)
}

/// The matrices A and B (row-major `n × n`) of a task seed.
pub fn generate_matrices(seed: &[u8; 32], n: usize) -> (Vec<i8>, Vec<i8>) {
    let s = keystream(seed, 0, 2 * n * n);
    let (a, b) = s.split_at(n * n);
    (
        a.iter().map(|&x| x as i8).collect(),
        b.iter().map(|&x| x as i8).collect(),
    )
}

/// Row `row` of A alone, by seeking the keystream to byte `row·n`.
///
/// # Panics
/// If `row >= n`.
pub fn generate_a_row(seed: &[u8; 32], n: usize, row: usize) -> Vec<i8> {
    assert!(row < n, "row {row} out of range (n = {n})");
    keystream(seed, (row * n) as u64, n)
        .into_iter()
        .map(|x| x as i8)
        .collect()
}

/// `r_j = le64(H("CPC-CHAL-V1:" ‖ root ‖ le32(j))[0..8]) mod n` for `j = 0 … k-1`.
pub fn challenged_rows(root: &H256, n: usize, k: usize) -> Vec<usize> {
    (0..k)
        .map(|j| {
            let h = sha256_concat(&[CHALLENGE_DOMAIN, &root.0, &(j as u32).to_le_bytes()]);
            let mut first = [0u8; 8];
            first.copy_from_slice(&h.0[..8]);
            (u64::from_le_bytes(first) % n as u64) as usize
        })
        .collect()
}

/// The proof (hex): for each challenged row in order, its `log2(n)` sibling hashes.
///
/// # Panics
/// If `params` is invalid or does not match the tree's size.
pub fn build_proof(tree: &RowTree, params: &SynthParams) -> String {
    params.assert_valid();
    assert_eq!(
        tree.leaf_count(),
        params.n,
        "tree size differs from params.n"
    );
    hex::encode(proof_bytes(tree, params))
}

/// The raw proof bytes of [`build_proof`] (`k·log2(n)·32` bytes).
fn proof_bytes(tree: &RowTree, params: &SynthParams) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(params.proof_bytes());
    for row in challenged_rows(&tree.root(), params.n, params.k) {
        for sib in tree.path(row) {
            bytes.extend_from_slice(&sib.0);
        }
    }
    bytes
}

/// The result from an already computed product `c` (row-major `n × n`): task id, root and
/// proof. `signature` is `None`.
///
/// # Panics
/// If `params` is invalid or `c` does not hold `n·n` values.
pub fn result_from_product(
    tip: &H256,
    worker: &str,
    nonce: u64,
    c: &[i32],
    params: &SynthParams,
) -> ComputeResult {
    params.assert_valid();
    let tree = RowTree::from_product(c, params.n);
    assemble(tip, worker, nonce, &tree, params)
}

fn assemble(
    tip: &H256,
    worker: &str,
    nonce: u64,
    tree: &RowTree,
    params: &SynthParams,
) -> ComputeResult {
    ComputeResult {
        task_id: task_id(tip, worker, nonce),
        worker_address: worker.to_string(),
        result_hash: tree.root().to_hex(),
        proof: Some(build_proof(tree, params)),
        nonce: Some(nonce),
        signature: None,
    }
}

/// The row leaves of a task's product C, computed block by block: B's keystream is packed
/// once, then each block of rows of A is generated (seeking the keystream), multiplied and
/// hashed while its rows of C are still in cache. C is never held whole.
fn task_leaves(seed: &[u8; 32], n: usize, parallel: bool) -> Vec<H256> {
    let nn = n * n;
    let mut b = scratch::take(&scratch::BYTES, nn);
    if parallel {
        keystream_into_parallel(seed, nn as u64, &mut b);
    } else {
        keystream_into(seed, nn as u64, &mut b);
    }
    let prepared = PreparedB::new(&b[..], n, parallel);
    let block = |first_row: usize, out: &mut [H256]| {
        let m = out.len();
        let mut a = scratch::take(&scratch::BYTES_2, m * n);
        keystream_into(seed, (first_row * n) as u64, &mut a);
        let mut c = scratch::take(&scratch::I32, m * n);
        prepared.rows_into(&a, &mut c);
        row_leaves(&c, n, out);
        scratch::give(&scratch::I32, c);
        scratch::give(&scratch::BYTES_2, a);
    };
    let mut leaves = vec![H256::ZERO; n];
    if parallel {
        let rows = kernel::parallel_block_rows(n);
        leaves
            .par_chunks_mut(rows)
            .enumerate()
            .for_each(|(i, out)| block(i * rows, out));
    } else {
        let rows = kernel::BLOCK_ROWS;
        leaves
            .chunks_mut(rows)
            .enumerate()
            .for_each(|(i, out)| block(i * rows, out));
    }
    drop(prepared);
    scratch::give(&scratch::BYTES, b);
    leaves
}

/// The Merkle tree over the rows of a task's product.
fn task_tree(seed: &[u8; 32], n: usize, parallel: bool) -> RowTree {
    RowTree::from_leaves(task_leaves(seed, n, parallel))
}

/// Solves a task completely on the calling thread: the ComputeResult with `signature` None.
///
/// # Panics
/// If `params` is invalid.
pub fn solve(tip: &H256, worker: &str, nonce: u64, params: &SynthParams) -> ComputeResult {
    params.assert_valid();
    let tree = task_tree(&seed(tip, worker, nonce), params.n, false);
    assemble(tip, worker, nonce, &tree, params)
}

/// What the structural checks extract from a result.
struct Claimed {
    seed: [u8; 32],
    root: H256,
    proof: Vec<u8>,
}

/// Every check that needs no matrix work, in this order: parameters, task id form, nonce,
/// result_hash format, proof presence, length and format, task id for this tip/worker/nonce.
fn check_structure(
    result: &ComputeResult,
    tip: &H256,
    params: &SynthParams,
) -> Result<Claimed, PocError> {
    params.validate()?;
    if !is_synthetic_task_id(&result.task_id) {
        return Err(PocError::NotSynthetic(result.task_id.clone()));
    }
    let nonce = result.nonce.ok_or(PocError::NonceMissing)?;
    let root = H256::from_hex(&result.result_hash).map_err(|e| {
        PocError::ResultHashFormat(format!("{} ({e})", shorten(&result.result_hash)))
    })?;
    let proof_hex = result.proof.as_deref().ok_or(PocError::ProofMissing)?;
    let expected = params.proof_bytes() * 2;
    if proof_hex.len() != expected {
        return Err(PocError::ProofLength {
            expected,
            found: proof_hex.len(),
        });
    }
    if let Some((pos, c)) = proof_hex
        .char_indices()
        .find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
    {
        return Err(PocError::ProofFormat(format!("{c:?} at offset {pos}")));
    }
    let proof = hex::decode(proof_hex).map_err(|e| PocError::ProofFormat(e.to_string()))?;
    let seed = seed(tip, &result.worker_address, nonce);
    let expected_id = task_id_from_seed(&seed);
    if expected_id != result.task_id {
        return Err(PocError::TaskIdMismatch {
            expected: expected_id,
            found: result.task_id.clone(),
        });
    }
    Ok(Claimed { seed, root, proof })
}

/// A string for an error message, cut after 80 characters.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
        None => format!("{s:?}"),
    }
}

/// Cheap check: structure, the task id for this tip, then only the `k` challenged rows of C
/// (B plus those rows of A) and each row's path up to `result_hash`.
///
/// The challenged rows follow from the claimed `result_hash`, as the worker derived them.
pub fn check_proof(
    result: &ComputeResult,
    tip: &H256,
    params: &SynthParams,
) -> Result<(), PocError> {
    let claimed = check_structure(result, tip, params)?;
    let n = params.n;
    let depth = params.log2n();
    let rows = challenged_rows(&claimed.root, n, params.k);
    let mut unique = rows.clone();
    unique.sort_unstable();
    unique.dedup();

    // The challenged rows of A (seek: row r is S[r·n .. r·n + n]) and B (S[n² .. 2n²]).
    let mut a_rows = vec![0u8; unique.len() * n];
    for (&r, dst) in unique.iter().zip(a_rows.chunks_exact_mut(n)) {
        keystream_into(&claimed.seed, (r * n) as u64, dst);
    }
    let mut b = scratch::take(&scratch::BYTES, n * n);
    keystream_into(&claimed.seed, (n * n) as u64, &mut b);
    // k rows: B is read as it is (packing it would cost more than these rows' product).
    let mut c_rows = vec![0i32; unique.len() * n];
    kernel::rows_into(&a_rows, &b, n, &mut c_rows);
    scratch::give(&scratch::BYTES, b);

    let mut leaves = vec![H256::ZERO; unique.len()];
    row_leaves(&c_rows, n, &mut leaves);
    for (j, &r) in rows.iter().enumerate() {
        let u = unique
            .binary_search(&r)
            .expect("every challenged row is in the unique list");
        let leaf = leaves[u];
        let siblings: Vec<H256> = claimed.proof[j * depth * 32..][..depth * 32]
            .chunks_exact(32)
            .map(|s| H256(s.try_into().expect("32-byte chunk")))
            .collect();
        if root_from_path(leaf, r, &siblings) != claimed.root {
            return Err(PocError::ProofMismatch {
                challenge: j,
                row: r,
            });
        }
    }
    Ok(())
}

fn verify_full_impl(
    result: &ComputeResult,
    tip: &H256,
    params: &SynthParams,
    parallel: bool,
) -> Result<(), PocError> {
    let claimed = check_structure(result, tip, params)?;
    let n = params.n;
    let tree = task_tree(&claimed.seed, n, parallel);
    if tree.root() != claimed.root {
        return Err(PocError::ResultHashMismatch {
            expected: tree.root().to_hex(),
            found: result.result_hash.clone(),
        });
    }
    // The root matches, so the canonical proof challenges the same rows as the claimed one.
    if proof_bytes(&tree, params) != claimed.proof {
        return Err(PocError::ProofNotCanonical);
    }
    Ok(())
}

/// Full check: structure, the task id for this tip, then all of C recomputed on the calling
/// thread: `result_hash` must be its root and `proof` exactly [`build_proof`]'s.
pub fn verify_full(
    result: &ComputeResult,
    tip: &H256,
    params: &SynthParams,
) -> Result<(), PocError> {
    verify_full_impl(result, tip, params, false)
}

/// [`verify_full`] with the keystream, the product and the row hashes over rayon's pool.
pub fn verify_full_parallel(
    result: &ComputeResult,
    tip: &H256,
    params: &SynthParams,
) -> Result<(), PocError> {
    verify_full_impl(result, tip, params, true)
}
