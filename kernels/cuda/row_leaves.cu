/* Row leaves: L_i = SHA-256(0x00 || le32(C[i][0]) || ... || le32(C[i][n-1])).
 *
 * One thread per row of C (all tasks of the batch in one 1-D grid). The 0x00 prefix shifts
 * the row by one byte, so message word w (big-endian bytes 4w..4w+3) is the top byte of
 * C[i][w-1] (the prefix for w = 0) followed by the low three bytes of C[i][w]. n is a
 * multiple of 16, so the row fills n/16 blocks exactly and one final block carries the last
 * byte, the 0x80 pad and the bit length 8(4n+1).
 *
 * c:    batch x n^2 int32 (row-major).
 * tree: batch x (2n-1) x 32 bytes; the leaf of row i of task t goes to node i of tree t.
 * Grid: ceil(batch * n / blockDim.x) blocks of blockDim.x (128) threads.
 */
extern "C" __global__ void __launch_bounds__(128)
cpc_row_leaves(const uint4 *__restrict__ c, u32 *__restrict__ tree, u32 n, u32 batch)
{
    const u64 gid = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (gid >= (u64)n * batch) return;
    const u32 task = (u32)(gid / n);
    const u32 row = (u32)(gid - (u64)task * n);
    /* Row gid of the batch's C (task-major), as uint4 of 4 int32 each. */
    const uint4 *src = c + gid * (u64)(n / 4u);

    u32 st[8];
    cpc_sha256_init(st);
    u32 prev = 0u; /* byte carried into the next word: the 0x00 prefix, then C[i][w-1] >> 24 */
    for (u32 blk = 0; blk < n / 16u; ++blk) {
        u32 w[16];
#pragma unroll
        for (int v = 0; v < 4; ++v) {
            const uint4 x = src[blk * 4u + (u32)v];
            const u32 cw[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                w[4 * v + e] = (prev << 24) | ((cw[e] & 0xffu) << 16) | (cw[e] & 0xff00u) |
                               ((cw[e] >> 16) & 0xffu);
                prev = cw[e] >> 24;
            }
        }
        cpc_sha256_compress(st, w);
    }
    u32 w[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) w[i] = 0u;
    w[0] = (prev << 24) | 0x00800000u;
    w[15] = (4u * n + 1u) * 8u;
    cpc_sha256_compress(st, w);

    cpc_sha256_store(st, tree + ((u64)task * (2u * n - 1u) + row) * 8u);
}
