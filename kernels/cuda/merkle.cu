/* Merkle levels over the row leaves: node = SHA-256(0x01 || left || right).
 *
 * One block per task walks the tree level by level (__syncthreads between levels); level
 * l+1 is written right after level l, so a task's tree holds its n leaves, then n/2 nodes,
 * ..., and the root last (node 2n-2). Each thread hashes nodes p, p + blockDim.x, ... of a
 * level. The 65-byte message is two blocks: word w of the first is 0x01 (w = 0) or the low
 * byte of digest word w-1, followed by the top three bytes of digest word w; the second
 * holds the last byte, the 0x80 pad and the bit length 520.
 *
 * tree: batch x (2n-1) x 32 bytes, leaves already written by cpc_row_leaves.
 * Grid: batch blocks of blockDim.x (256) threads.
 */
extern "C" __global__ void __launch_bounds__(256)
cpc_merkle_tree(u32 *__restrict__ tree, u32 n)
{
    u32 *t = tree + (u64)blockIdx.x * (2u * n - 1u) * 8u;
    u32 in_off = 0u; /* first node of the level being read */
    for (u32 m = n >> 1; m >= 1u; m >>= 1) {
        const u32 out_off = in_off + 2u * m;
        for (u32 p = threadIdx.x; p < m; p += blockDim.x) {
            const u32 *lr = t + (u64)(in_off + 2u * p) * 8u; /* left then right: 16 words */
            u32 x[16];
#pragma unroll
            for (int i = 0; i < 16; ++i) x[i] = cpc_bswap32(lr[i]);
            u32 w[16];
            w[0] = 0x01000000u | (x[0] >> 8);
#pragma unroll
            for (int i = 1; i < 16; ++i) w[i] = (x[i - 1] << 24) | (x[i] >> 8);
            u32 st[8];
            cpc_sha256_init(st);
            cpc_sha256_compress(st, w);
#pragma unroll
            for (int i = 0; i < 16; ++i) w[i] = 0u;
            w[0] = (x[15] << 24) | 0x00800000u;
            w[15] = 65u * 8u;
            cpc_sha256_compress(st, w);
            cpc_sha256_store(st, t + (u64)(out_off + p) * 8u);
        }
        in_off = out_off;
        __syncthreads();
    }
}
