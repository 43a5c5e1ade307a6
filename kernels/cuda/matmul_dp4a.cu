/* Exact int8 product C = A.B with int32 accumulation through __dp4a.
 *
 * __dp4a(a, b, c) = c + sum of the four products of the signed bytes of a and b: exact, as
 * |C[i][j]| <= n * 2^14 < 2^31 for n <= 8192. A's rows are already 4-k words (row-major
 * int8); B comes packed by cpc_pack_b (bq[q][j] holds B[4q..4q+3][j]), so
 * C[i][j] = sum_q dp4a(A32[i][q], bq[q][j]).
 *
 * Two kernels, the host picks by n:
 *
 * cpc_matmul_dp4a_tiled (n a multiple of 128): one 128x128 tile of C per block of 256
 *   threads, blockIdx.z = task (the batch dimension, so many small products fill the GPU).
 *   K is walked 8 words (32 k) at a time through shared memory: As[q][row] (A transposed,
 *   padded against bank conflicts) and Bs[q][col]. Each thread owns an 8x8 register tile:
 *   rows {4ty..4ty+3, 64+4ty..64+4ty+3}, columns {4tx..4tx+3, 64+4tx..64+4tx+3}, so its
 *   shared loads are 128-bit and conflict free and its stores to C are coalesced int4s.
 *   The next K slice is fetched into registers while the current one is consumed.
 *   Grid: (n/128, n/128, batch), block 256.
 *
 * cpc_matmul_dp4a_small (n a multiple of 16, used below 128): one thread per C element.
 *   Grid: ceil(batch * n^2 / 256) blocks of 256.
 *
 * ab: batch x 2n^2 bytes (A at byte 0 of each task), bq: batch x n^2/4 words,
 * c: batch x n^2 int32.
 */

#define CPC_MM_TILE 128
#define CPC_MM_KQ 8
#define CPC_MM_APAD 4

extern "C" __global__ void __launch_bounds__(256)
cpc_matmul_dp4a_tiled(const u32 *__restrict__ ab, const u32 *__restrict__ bq,
                      i32 *__restrict__ c, u32 n)
{
    __shared__ __align__(16) u32 As[CPC_MM_KQ][CPC_MM_TILE + CPC_MM_APAD];
    __shared__ __align__(16) u32 Bs[CPC_MM_KQ][CPC_MM_TILE];

    const u32 nq = n >> 2;
    const u32 task = blockIdx.z;
    const u32 *A = ab + (u64)task * ((u64)n * n / 2u);   /* word [i][q] at A[i * nq + q] */
    const u32 *B = bq + (u64)task * ((u64)n * n / 4u);   /* word [q][j] at B[q * n + j] */
    i32 *C = c + (u64)task * ((u64)n * n);

    const u32 row0 = blockIdx.y * CPC_MM_TILE;
    const u32 col0 = blockIdx.x * CPC_MM_TILE;
    const u32 tid = threadIdx.x;
    const u32 tx = tid & 15u;
    const u32 ty = tid >> 4;

    /* Loader coordinates: A slice 128 rows x 8 words = 2 uint4 per row; B slice 8 x 128. */
    const u32 a_row = tid >> 1;
    const u32 a_q = (tid & 1u) * 4u;
    const u32 b_q = tid >> 5;
    const u32 b_col = (tid & 31u) * 4u;
    const uint4 *a_src = (const uint4 *)(A + (u64)(row0 + a_row) * nq + a_q);
    const u32 *b_base = B + col0 + b_col;

    i32 acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0;

    uint4 av = a_src[0];
    uint4 bv = *(const uint4 *)(b_base + (u64)b_q * n);

    for (u32 k0 = 0; k0 < nq; k0 += CPC_MM_KQ) {
        As[a_q + 0][a_row] = av.x;
        As[a_q + 1][a_row] = av.y;
        As[a_q + 2][a_row] = av.z;
        As[a_q + 3][a_row] = av.w;
        *(uint4 *)&Bs[b_q][b_col] = bv;
        __syncthreads();

        const u32 k1 = k0 + CPC_MM_KQ;
        if (k1 < nq) {
            av = a_src[k1 / 4u];
            bv = *(const uint4 *)(b_base + (u64)(k1 + b_q) * n);
        }

#pragma unroll
        for (int q = 0; q < CPC_MM_KQ; ++q) {
            const uint4 a0 = *(const uint4 *)&As[q][4u * ty];
            const uint4 a1 = *(const uint4 *)&As[q][64u + 4u * ty];
            const uint4 b0 = *(const uint4 *)&Bs[q][4u * tx];
            const uint4 b1 = *(const uint4 *)&Bs[q][64u + 4u * tx];
            const i32 ar[8] = {(i32)a0.x, (i32)a0.y, (i32)a0.z, (i32)a0.w,
                               (i32)a1.x, (i32)a1.y, (i32)a1.z, (i32)a1.w};
            const i32 br[8] = {(i32)b0.x, (i32)b0.y, (i32)b0.z, (i32)b0.w,
                               (i32)b1.x, (i32)b1.y, (i32)b1.z, (i32)b1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = __dp4a(ar[i], br[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const u32 r = row0 + (i < 4 ? 4u * ty + (u32)i : 64u + 4u * ty + (u32)(i - 4));
        i32 *dst = C + (u64)r * n + col0;
        *(int4 *)(dst + 4u * tx) = make_int4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        *(int4 *)(dst + 64u + 4u * tx) = make_int4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
    }
}

extern "C" __global__ void __launch_bounds__(256)
cpc_matmul_dp4a_small(const u32 *__restrict__ ab, const u32 *__restrict__ bq,
                      i32 *__restrict__ c, u32 n, u32 batch)
{
    const u64 gid = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 nn = (u64)n * n;
    if (gid >= nn * batch) return;
    const u32 task = (u32)(gid / nn);
    const u32 rem = (u32)(gid - (u64)task * nn);
    const u32 i = rem / n;
    const u32 j = rem - i * n;
    const u32 nq = n >> 2;
    const u32 *A = ab + (u64)task * (nn / 2u) + (u64)i * nq;
    const u32 *B = bq + (u64)task * (nn / 4u) + j;
    i32 acc = 0;
    for (u32 q = 0; q < nq; ++q) acc = __dp4a((i32)A[q], (i32)B[(u64)q * n], acc);
    c[gid] = acc;
}
