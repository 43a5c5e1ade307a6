//! Freivalds' check of an int8 matrix product (the task market's verification, issue 17):
//! whether `C = A·B` for `A` (m×k int8), `B` (k×n int8) and a claimed `C` (m×n int32), in
//! O(m·k + k·n + m·n) instead of the O(m·k·n) of recomputing it.
//!
//! Each round draws a vector `r` of n elements of the prime field F_p, p = 2⁶¹ − 1, and accepts
//! iff `A·(B·r) ≡ C·r (mod p)`. The vectors come from [`freivalds_seed`]: SHA-256 of a domain,
//! the job id and the result's root, expanded by ChaCha20 ([`crate::keystream`]), so every
//! validator draws the same ones and a worker learns them only after committing to C.
//!
//! **Soundness.** Let D = A·B − C ≠ 0. Every entry of A·B is at most k·128² ≤ 2²⁶ in magnitude
//! (k ≤ 4096) and, after the range check below, so is every entry of C: a nonzero entry of D
//! is an integer of magnitude at most 2²⁷ < p, so D is nonzero mod p too. Take a row d of D with
//! d ≠ 0 mod p. For r uniform over F_pⁿ, d·r is uniform over F_p, so a round passes with
//! probability exactly 1/p, and two independent rounds with 1/p² < 2⁻¹²¹. The r are a hash
//! of (job id, root of C): a worker who wants a wrong C accepted must try about p² ≈ 2¹²²
//! different Cs (each a different root, each a fresh r) — SHA-256 and ChaCha20 taken as
//! random functions. (The draw of each element is `u64 mod p`, off uniform by at most 2⁻⁶¹.)
//! Before any field work, every entry of C must lie within what an int8 product of depth k
//! can reach (|c| ≤ k·128²): a cheap refusal of garbage.
//!
//! **Cost.** Both rounds are done in one pass over each matrix; each product term is exact in
//! a 128-bit accumulator (int8 × 61 bits over at most 4096 terms needs 81 bits, a checked C entry
//! (≤ 2²⁶) × 61 bits over at most 1024 terms 98), reduced mod p once per row.

use cpc_primitives::{sha256_concat, H256};

/// The field's prime, 2⁶¹ − 1 (a Mersenne prime: reduction is a shift and an add).
pub const FREIVALDS_P: u64 = (1 << 61) - 1;
/// Rounds of the check: a wrong C passes with probability below p⁻² < 2⁻¹²¹.
pub const FREIVALDS_ROUNDS: usize = 2;
/// The market's bounds on a job's dimensions (issue 17): m, n ≤ 1024, k ≤ 4096.
pub const MAX_JOB_MN: usize = 1024;
pub const MAX_JOB_K: usize = 4096;
/// Domain of [`freivalds_seed`].
pub const FREIVALDS_DOMAIN: &[u8] = b"CPC-FREIVALDS-V1:";

/// Why a claimed product was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreivaldsError {
    #[error("job dimensions m×k×n = {m}×{k}×{n}: expected 1 ≤ m, n ≤ {MAX_JOB_MN} and 1 ≤ k ≤ {MAX_JOB_K}")]
    Dimensions { m: usize, k: usize, n: usize },
    #[error("{what} holds {found} entries, expected {expected}")]
    Size { what: &'static str, expected: usize, found: usize },
    #[error("C[{row}][{col}] = {value} is out of reach of an int8 product of depth {k} (|c| ≤ {bound})")]
    OutOfRange { row: usize, col: usize, value: i32, k: usize, bound: i64 },
    #[error("Freivalds round {round}: A·(B·r) ≠ C·r in row {row} (C is not A·B)")]
    Mismatch { round: usize, row: usize },
}

/// The seed of the check's vectors: `SHA-256("CPC-FREIVALDS-V1:" ‖ job id ‖ 0x00 ‖ root of C)`.
pub fn freivalds_seed(job_id: &str, c_root: &H256) -> [u8; 32] {
    sha256_concat(&[FREIVALDS_DOMAIN, job_id.as_bytes(), &[0], &c_root.0]).0
}

/// `x mod p` for any `x < 2¹²⁶` (two folds of the Mersenne prime).
#[inline]
fn reduce(x: u128) -> u64 {
    let p = FREIVALDS_P as u128;
    let x = (x & p) + (x >> 61); // < 2⁶⁶
    let x = (x & p) + (x >> 61); // < 2⁶¹ + 32
    let x = x as u64;
    if x >= FREIVALDS_P { x - FREIVALDS_P } else { x }
}

/// A signed 128-bit sum taken mod p, in [0, p).
#[inline]
fn reduce_signed(x: i128) -> u64 {
    if x >= 0 {
        reduce(x as u128)
    } else {
        let m = reduce(x.unsigned_abs());
        if m == 0 { 0 } else { FREIVALDS_P - m }
    }
}

/// The round vectors: `rounds × n` elements of F_p from the seed's keystream (8 bytes each).
pub fn freivalds_vectors(seed: &[u8; 32], n: usize, rounds: usize) -> Vec<Vec<u64>> {
    let bytes = crate::keystream(seed, 0, rounds * n * 8);
    bytes
        .chunks_exact(n * 8)
        .map(|round| round.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) % FREIVALDS_P).collect())
        .collect()
}

/// `M·x mod p` for the `rows × cols` matrix `M` (row-major, entries as i64) and vectors `xs`
/// (elements < p), all vectors in one pass over M; `out[v][row]`.
fn mat_vecs<T: Copy + Into<i64>, const V: usize>(m: &[T], rows: usize, cols: usize, xs: &[&[u64]; V]) -> [Vec<u64>; V] {
    let mut out: [Vec<u64>; V] = std::array::from_fn(|_| vec![0u64; rows]);
    for (row, line) in m.chunks_exact(cols).enumerate().take(rows) {
        let mut acc = [0i128; V];
        for (j, &a) in line.iter().enumerate() {
            let a: i64 = a.into();
            for v in 0..V {
                acc[v] += a as i128 * xs[v][j] as i128;
            }
        }
        for v in 0..V {
            out[v][row] = reduce_signed(acc[v]);
        }
    }
    out
}

/// Freivalds' check that `c = a·b` (row-major `m×k`, `k×n`, `m×n`), with the two round vectors
/// drawn from `seed` ([`freivalds_seed`]). Ok only if every entry is in reach and both rounds
/// pass.
pub fn freivalds_check(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, seed: &[u8; 32]) -> Result<(), FreivaldsError> {
    if !(1..=MAX_JOB_MN).contains(&m) || !(1..=MAX_JOB_MN).contains(&n) || !(1..=MAX_JOB_K).contains(&k) {
        return Err(FreivaldsError::Dimensions { m, k, n });
    }
    for (what, expected, found) in [("A", m * k, a.len()), ("B", k * n, b.len()), ("C", m * n, c.len())] {
        if expected != found {
            return Err(FreivaldsError::Size { what, expected, found });
        }
    }
    let bound = k as i64 * 128 * 128;
    if let Some(i) = c.iter().position(|&v| (v as i64).abs() > bound) {
        return Err(FreivaldsError::OutOfRange { row: i / n, col: i % n, value: c[i], k, bound });
    }
    let r = freivalds_vectors(seed, n, FREIVALDS_ROUNDS);
    let [br0, br1] = mat_vecs(b, k, n, &[&r[0], &r[1]]);
    let [abr0, abr1] = mat_vecs(a, m, k, &[&br0, &br1]);
    let [cr0, cr1] = mat_vecs(c, m, n, &[&r[0], &r[1]]);
    for (round, (lhs, rhs)) in [(abr0, cr0), (abr1, cr1)].into_iter().enumerate() {
        if let Some(row) = lhs.iter().zip(&rhs).position(|(x, y)| x != y) {
            return Err(FreivaldsError::Mismatch { round, row });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_is_mod_p() {
        let p = FREIVALDS_P as u128;
        for x in [0u128, 1, p - 1, p, p + 1, 2 * p, u64::MAX as u128, (1u128 << 125) + 12345, (1u128 << 126) - 1] {
            assert_eq!(reduce(x) as u128, x % p, "{x}");
        }
        for x in [-1i128, -(p as i128), -(p as i128) - 5, -(1i128 << 100)] {
            assert_eq!(reduce_signed(x) as i128, x.rem_euclid(p as i128), "{x}");
        }
    }
}
