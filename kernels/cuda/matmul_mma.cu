/* Exact int8 product C = A.B on the tensor cores: mma.sync m16n8k32 .s8 x .s8 -> .s32
 * (compute capability 8.0 and newer). Integer MMA adds the products into int32 without
 * saturation (no .satfinite) and |C[i][j]| <= n * 2^14 < 2^31, so the result is exact and
 * the same as the __dp4a kernels', bit for bit. Same arguments, buffers and grid as
 * cpc_matmul_dp4a_tiled: A's rows are 4-k words, B comes packed by cpc_pack_b
 * (bq[q][j] holds B[4q..4q+3][j], the lowest k in the lowest byte, as the MMA wants).
 *
 * One 128x128 tile of C per block of 256 threads; the eight warps are 2 (rows) x 4
 * (columns), each computing 64x32 of C as 4x4 MMA tiles of 16x8 in 64 registers. K is walked
 * 16 words (64 k, two MMA k-steps) at a time through shared memory, As[q][row] and
 * Bs[q][col], rows padded to 136 words so that a warp's fragment loads (8 rows or columns x
 * 4 words) fall in 32 distinct banks. The next K slice is fetched into registers while the
 * current one is consumed.
 *
 * Fragments (PTX ISA, mma.m16n8k32 with .s8; g = lane / 4, t = lane % 4; word w = k 4w..4w+3):
 *   A: {row g, word t}, {row g+8, word t}, {row g, word t+4}, {row g+8, word t+4}
 *   B: {column g, word t}, {column g, word t+4}
 *   C: {row g, columns 2t, 2t+1}, {row g+8, columns 2t, 2t+1}
 *
 * Grid: (n/128, n/128, batch), block 256. The host launches it only on devices of compute
 * capability 8.0+; for older targets (and the CPU emulation) the body compiles to nothing.
 */

#define CPC_MMA_KQ 16
#define CPC_MMA_LD 136

extern "C" __global__ void __launch_bounds__(256)
cpc_matmul_mma_tiled(const u32 *__restrict__ ab, const u32 *__restrict__ bq,
                     i32 *__restrict__ c, u32 n)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    __shared__ __align__(16) u32 As[CPC_MMA_KQ][CPC_MMA_LD];
    __shared__ __align__(16) u32 Bs[CPC_MMA_KQ][CPC_MMA_LD];

    const u32 nq = n >> 2;
    const u32 task = blockIdx.z;
    const u32 *A = ab + (u64)task * ((u64)n * n / 2u);   /* word [i][q] at A[i * nq + q] */
    const u32 *B = bq + (u64)task * ((u64)n * n / 4u);   /* word [q][j] at B[q * n + j] */
    i32 *C = c + (u64)task * ((u64)n * n);

    const u32 row0 = blockIdx.y * 128u;
    const u32 col0 = blockIdx.x * 128u;
    const u32 tid = threadIdx.x;
    const u32 lane = tid & 31u;
    const u32 warp = tid >> 5;
    const u32 g = lane >> 2;
    const u32 t = lane & 3u;
    const u32 wm = (warp >> 2) * 64u;   /* the warp's first row in the tile */
    const u32 wn = (warp & 3u) * 32u;   /* the warp's first column in the tile */

    /* Loaders: the A slice is 128 rows x 16 words (two uint4 per thread: row tid/2, words
     * 8(tid%2)..+7); the B slice is 16 q x 128 columns (two uint4: q = tid/16, columns
     * 8(tid%16)..+7). */
    const u32 a_row = tid >> 1;
    const u32 a_q = (tid & 1u) * 8u;
    const u32 b_q = tid >> 4;
    const u32 b_col = (tid & 15u) * 8u;
    const uint4 *a_src = (const uint4 *)(A + (u64)(row0 + a_row) * nq + a_q);
    const u32 *b_src = B + (u64)b_q * n + col0 + b_col;

    i32 acc[4][4][4];
#pragma unroll
    for (int mf = 0; mf < 4; ++mf)
#pragma unroll
        for (int nf = 0; nf < 4; ++nf)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[mf][nf][r] = 0;

    uint4 av0 = a_src[0];
    uint4 av1 = a_src[1];
    uint4 bv0 = *(const uint4 *)b_src;
    uint4 bv1 = *(const uint4 *)(b_src + 4);

    for (u32 k0 = 0; k0 < nq; k0 += CPC_MMA_KQ) {
        As[a_q + 0][a_row] = av0.x;
        As[a_q + 1][a_row] = av0.y;
        As[a_q + 2][a_row] = av0.z;
        As[a_q + 3][a_row] = av0.w;
        As[a_q + 4][a_row] = av1.x;
        As[a_q + 5][a_row] = av1.y;
        As[a_q + 6][a_row] = av1.z;
        As[a_q + 7][a_row] = av1.w;
        *(uint4 *)&Bs[b_q][b_col] = bv0;
        *(uint4 *)&Bs[b_q][b_col + 4] = bv1;
        __syncthreads();

        const u32 k1 = k0 + CPC_MMA_KQ;
        if (k1 < nq) {
            av0 = a_src[k1 / 4u];
            av1 = a_src[k1 / 4u + 1u];
            bv0 = *(const uint4 *)(b_src + (u64)k1 * n);
            bv1 = *(const uint4 *)(b_src + (u64)k1 * n + 4u);
        }

#pragma unroll
        for (u32 ks = 0; ks < CPC_MMA_KQ; ks += 8u) {
            u32 af[4][4];
            u32 bf[4][2];
#pragma unroll
            for (int mf = 0; mf < 4; ++mf) {
                const u32 r = wm + (u32)mf * 16u + g;
                af[mf][0] = As[ks + t][r];
                af[mf][1] = As[ks + t][r + 8u];
                af[mf][2] = As[ks + t + 4u][r];
                af[mf][3] = As[ks + t + 4u][r + 8u];
            }
#pragma unroll
            for (int nf = 0; nf < 4; ++nf) {
                const u32 col = wn + (u32)nf * 8u + g;
                bf[nf][0] = Bs[ks + t][col];
                bf[nf][1] = Bs[ks + t + 4u][col];
            }
#pragma unroll
            for (int mf = 0; mf < 4; ++mf)
#pragma unroll
                for (int nf = 0; nf < 4; ++nf)
                    asm volatile(
                        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                        : "+r"(acc[mf][nf][0]), "+r"(acc[mf][nf][1]), "+r"(acc[mf][nf][2]),
                          "+r"(acc[mf][nf][3])
                        : "r"(af[mf][0]), "r"(af[mf][1]), "r"(af[mf][2]), "r"(af[mf][3]),
                          "r"(bf[nf][0]), "r"(bf[nf][1]));
        }
        __syncthreads();
    }

#pragma unroll
    for (int mf = 0; mf < 4; ++mf) {
#pragma unroll
        for (int nf = 0; nf < 4; ++nf) {
            const u32 r = row0 + wm + (u32)mf * 16u + g;
            const u32 col = col0 + wn + (u32)nf * 8u + 2u * t;
            *(int2 *)(C + (u64)r * n + col) = make_int2(acc[mf][nf][0], acc[mf][nf][1]);
            *(int2 *)(C + (u64)(r + 8u) * n + col) = make_int2(acc[mf][nf][2], acc[mf][nf][3]);
        }
    }
#endif
}
