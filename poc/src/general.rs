//! The product of a task-market job: C (m × n int32) = A (m × k int8) · B (k × n int8), any
//! shape within the market's bounds, exact (|C| ≤ k·128² ≤ 2²⁶). What `cpcd worker --jobs`
//! computes on the CPU; validators never run it (they check C with Freivalds).

use rayon::prelude::*;

/// Rows of C one rayon task computes.
const ROWS_PER_TASK: usize = 8;

/// `C = A · B` over all cores. Each row of C is accumulated as `Σₜ A[i][t] · B[t][·]`, a
/// widening multiply-add over a contiguous row of B that the compiler vectorizes.
///
/// # Panics
/// If `a` does not hold `m·k` entries or `b` does not hold `k·n`.
pub fn matmul_general(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    assert_eq!(a.len(), m * k, "A must hold {m}x{k} entries");
    assert_eq!(b.len(), k * n, "B must hold {k}x{n} entries");
    let mut c = vec![0i32; m * n];
    if n == 0 {
        return c;
    }
    c.par_chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(|(chunk, rows)| {
        for (r, out) in rows.chunks_exact_mut(n).enumerate() {
            let i = chunk * ROWS_PER_TASK + r;
            for (t, &x) in a[i * k..(i + 1) * k].iter().enumerate() {
                let x = x as i32;
                for (o, &y) in out.iter_mut().zip(&b[t * n..(t + 1) * n]) {
                    *o += x * y as i32;
                }
            }
        }
    });
    c
}
