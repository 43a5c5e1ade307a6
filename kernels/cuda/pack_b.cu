/* Packs B for __dp4a: bq[q][j] = B[4q][j] | B[4q+1][j] << 8 | B[4q+2][j] << 16 | B[4q+3][j] << 24,
 * i.e. the four consecutive k of column j in one 32-bit word ((n/4) x n words per task).
 *
 * One thread per (task, q, group of 4 columns): it reads one 32-bit word from each of the
 * four rows 4q..4q+3 (columns 4c..4c+3), transposes the 4x4 bytes in registers and writes
 * one uint4. n must be a multiple of 16.
 *
 * ab:   batch x 2n^2 bytes (B at byte n^2 of each task).
 * bq:   batch x n^2/4 words.
 * Grid: ceil(batch * (n/4) * (n/4) / blockDim.x) blocks of blockDim.x (256) threads.
 */
extern "C" __global__ void __launch_bounds__(256)
cpc_pack_b(const u32 *__restrict__ ab, uint4 *__restrict__ bq, u32 n, u32 batch)
{
    const u64 gid = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u32 nq = n >> 2;                 /* quads of k, and groups of 4 columns */
    const u64 per_task = (u64)nq * nq;
    if (gid >= per_task * batch) return;
    const u32 task = (u32)(gid / per_task);
    const u32 rem = (u32)(gid - (u64)task * per_task);
    const u32 q = rem / nq;
    const u32 cg = rem - q * nq;

    /* B of this task, as words: row r, columns 4cg..4cg+3 at B[r * nq + cg]. */
    const u32 *B = ab + (u64)task * ((u64)n * n / 2u) + (u64)n * n / 4u;
    const u32 r0 = B[(u64)(4u * q + 0u) * nq + cg];
    const u32 r1 = B[(u64)(4u * q + 1u) * nq + cg];
    const u32 r2 = B[(u64)(4u * q + 2u) * nq + cg];
    const u32 r3 = B[(u64)(4u * q + 3u) * nq + cg];

    /* Output word for column 4cg+e takes byte e of r0, r1, r2, r3 (k = 4q .. 4q+3). */
    const u32 o0 = (r0 & 0xffu) | ((r1 & 0xffu) << 8) | ((r2 & 0xffu) << 16) | (r3 << 24);
    const u32 o1 = ((r0 >> 8) & 0xffu) | (r1 & 0xff00u) | ((r2 & 0xff00u) << 8) | ((r3 & 0xff00u) << 16);
    const u32 o2 = ((r0 >> 16) & 0xffu) | ((r1 >> 8) & 0xff00u) | (r2 & 0xff0000u) | ((r3 & 0xff0000u) << 8);
    const u32 o3 = (r0 >> 24) | ((r1 >> 16) & 0xff00u) | ((r2 >> 8) & 0xff0000u) | (r3 & 0xff000000u);

    /* bq of this task: word [q][4cg + e]; as uint4: index q * nq + cg. */
    bq[(u64)task * ((u64)n * n / 16u) + (u64)q * nq + cg] = make_uint4(o0, o1, o2, o3);
}
