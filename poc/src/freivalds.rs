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
//! **Cost.** O(m·k + k·n + m·n). Each vector is split into limbs small enough that every dot
//! product is exact in i64 (int8 rows: limbs of 31 and 30 bits; rows of C, |c| ≤ 2²⁶: 21, 21
//! and 19 bits), which the compiler turns into packed 32×32→64 multiplies (AVX-512 or AVX2,
//! picked at run time); the limbs are recombined and reduced mod p once per row.

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

/// Limb widths for vectors multiplied by int8 rows (B·r, A·(B·r)): two limbs of 31 and 30 bits,
/// so that `|x|·limb < 2³⁸` and a row of up to 4096 terms sums below 2⁵⁰ in i64.
const INT8_LIMBS: [u32; 2] = [31, 30];
/// Limb widths for vectors multiplied by rows of C (|c| ≤ 2²⁶ after the range check): three
/// limbs of 21, 21 and 19 bits, so that `|c|·limb < 2⁴⁷` and 1024 terms sum below 2⁵⁷.
const C_LIMBS: [u32; 3] = [21, 21, 19];

/// The limbs of every element of `v` (elements < 2⁶¹), `limbs[q][j]`, each below 2³¹.
fn split(v: &[u64], widths: &[u32]) -> Vec<Vec<i32>> {
    let mut shift = 0;
    widths
        .iter()
        .map(|&w| {
            let part = v.iter().map(|&x| ((x >> shift) & ((1 << w) - 1)) as i32).collect();
            shift += w;
            part
        })
        .collect()
}

/// Σⱼ x[j]·l[j] in i64: exact under the limb bounds above. Plain enough for the compiler to
/// turn into packed 32×32→64 multiplies (vpmuldq) under AVX2 or AVX-512.
#[inline(always)]
fn dot<T: Copy + Into<i64>>(x: &[T], l: &[i32]) -> i64 {
    x.iter().zip(l).map(|(&a, &b)| a.into() * b as i64).sum()
}

/// `M·v mod p` for each vector of `vs` (given as limbs of `widths`), for the `rows × cols`
/// matrix `M` (row-major); `out[v][row]`.
#[inline(always)]
fn mat_vecs<T: Copy + Into<i64>>(m: &[T], rows: usize, cols: usize, vs: &[Vec<Vec<i32>>], widths: &[u32]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![0u64; rows]; vs.len()];
    for (row, line) in m.chunks_exact(cols).enumerate().take(rows) {
        for (v, limbs) in vs.iter().enumerate() {
            let mut total = 0i128;
            let mut shift = 0;
            for (limb, &w) in limbs.iter().zip(widths) {
                total += (dot(line, limb) as i128) << shift;
                shift += w;
            }
            out[v][row] = reduce_signed(total);
        }
    }
    out
}

/// Both rounds: `A·(B·r) mod p` and `C·r mod p` for each r of `rs`.
#[inline(always)]
fn rounds(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, rs: &[Vec<u64>]) -> Vec<(Vec<u64>, Vec<u64>)> {
    let r8: Vec<_> = rs.iter().map(|r| split(r, &INT8_LIMBS)).collect();
    let rc: Vec<_> = rs.iter().map(|r| split(r, &C_LIMBS)).collect();
    let br = mat_vecs(b, k, n, &r8, &INT8_LIMBS);
    let br8: Vec<_> = br.iter().map(|x| split(x, &INT8_LIMBS)).collect();
    let abr = mat_vecs(a, m, k, &br8, &INT8_LIMBS);
    let cr = mat_vecs(c, m, n, &rc, &C_LIMBS);
    abr.into_iter().zip(cr).collect()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn rounds_avx512(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, rs: &[Vec<u64>]) -> Vec<(Vec<u64>, Vec<u64>)> {
    rounds(a, b, c, m, k, n, rs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rounds_avx2(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, rs: &[Vec<u64>]) -> Vec<(Vec<u64>, Vec<u64>)> {
    rounds(a, b, c, m, k, n, rs)
}

/// The same arithmetic compiled for the widest vectors this CPU has (checked at run time).
fn rounds_best(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, rs: &[Vec<u64>]) -> Vec<(Vec<u64>, Vec<u64>)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature the function is compiled for.
            return unsafe { rounds_avx512(a, b, c, m, k, n, rs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { rounds_avx2(a, b, c, m, k, n, rs) };
        }
    }
    rounds(a, b, c, m, k, n, rs)
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
    for (round, (lhs, rhs)) in rounds_best(a, b, c, m, k, n, &r).into_iter().enumerate() {
        if let Some(row) = lhs.iter().zip(&rhs).position(|(x, y)| x != y) {
            return Err(FreivaldsError::Mismatch { round, row });
        }
    }
    Ok(())
}

/// The field arithmetic without limbs (one 128-bit product per term): the reference the
/// limb arithmetic is tested against.
pub fn freivalds_reference_sides(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, r: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let mv = |mat: &dyn Fn(usize, usize) -> i64, rows: usize, cols: usize, x: &[u64]| -> Vec<u64> {
        (0..rows).map(|i| reduce_signed((0..cols).map(|j| mat(i, j) as i128 * x[j] as i128).sum())).collect()
    };
    let br = mv(&|i, j| b[i * n + j] as i64, k, n, r);
    let abr = mv(&|i, j| a[i * k + j] as i64, m, k, &br);
    let cr = mv(&|i, j| c[i * n + j] as i64, m, n, r);
    (abr, cr)
}

/// The two sides the check compares for one vector `r`, with the limb arithmetic it uses
/// (exact only for a range-checked C: |c| ≤ 2²⁶).
pub fn freivalds_sides(a: &[i8], b: &[i8], c: &[i32], m: usize, k: usize, n: usize, r: &[u64]) -> (Vec<u64>, Vec<u64>) {
    rounds_best(a, b, c, m, k, n, &[r.to_vec()]).remove(0)
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
