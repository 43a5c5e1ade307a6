/* A task-market job's product C = A.B (docs/MARKET.md): A m x k, B k x n, both row-major
 * int8 as posted (no packing, any m, k, n up to the market's bounds), C m x n int32,
 * row-major. Exact: |C[i][j]| <= k * 2^14 <= 2^26 for k <= 4096.
 *
 * One 16 x 16 tile of C per block of 16 x 16 threads; K is walked 16 at a time through
 * shared memory (A's and B's slices widened to int32, padded against bank conflicts), the
 * edges of A, B and C masked, so no shape needs padding by the host.
 * Grid: (ceil(n/16), ceil(m/16)), block (16, 16).
 */

#define CPC_JOB_TILE 16

extern "C" __global__ void __launch_bounds__(256)
cpc_matmul_job(const i8 *__restrict__ a, const i8 *__restrict__ b, i32 *__restrict__ c,
               u32 m, u32 k, u32 n)
{
    __shared__ i32 As[CPC_JOB_TILE][CPC_JOB_TILE + 1];
    __shared__ i32 Bs[CPC_JOB_TILE][CPC_JOB_TILE + 1];
    const u32 tx = threadIdx.x;
    const u32 ty = threadIdx.y;
    const u32 row = blockIdx.y * CPC_JOB_TILE + ty;
    const u32 col = blockIdx.x * CPC_JOB_TILE + tx;
    i32 acc = 0;
    for (u32 t0 = 0; t0 < k; t0 += CPC_JOB_TILE) {
        const u32 ta = t0 + tx;
        const u32 tb = t0 + ty;
        As[ty][tx] = (row < m && ta < k) ? (i32)a[(u64)row * k + ta] : 0;
        Bs[ty][tx] = (tb < k && col < n) ? (i32)b[(u64)tb * n + col] : 0;
        __syncthreads();
#pragma unroll
        for (int t = 0; t < CPC_JOB_TILE; ++t) acc += As[ty][t] * Bs[t][tx];
        __syncthreads();
    }
    if (row < m && col < n) c[(u64)row * n + col] = acc;
}
