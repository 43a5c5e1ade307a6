/* ChaCha20 keystream expansion (RFC 8439): S = keystream(key = seed, nonce = 0, counter from 0).
 *
 * One thread per 64-byte keystream block, all tasks of the batch in one 1-D grid:
 * thread g computes block (g mod blocks_per_task) of task (g / blocks_per_task) and writes it
 * to ab + 64 g bytes. With blocks_per_task = 2n^2/64 the task's 2n^2 bytes land at
 * ab + task * 2n^2: A (row-major, int8) first, then B.
 *
 * seeds: batch x 32 bytes (read as 8 little-endian words, as RFC 8439 reads the key).
 * ab:    batch x blocks_per_task x 64 bytes, 16-byte aligned.
 * Grid:  ceil(batch * blocks_per_task / blockDim.x) blocks of blockDim.x (256) threads.
 */

#define CPC_CHACHA_QR(a, b, c, d)                 \
    a += b; d ^= a; d = CPC_ROTL32(d, 16);        \
    c += d; b ^= c; b = CPC_ROTL32(b, 12);        \
    a += b; d ^= a; d = CPC_ROTL32(d, 8);         \
    c += d; b ^= c; b = CPC_ROTL32(b, 7);

extern "C" __global__ void __launch_bounds__(256)
cpc_chacha20_keystream(const u32 *__restrict__ seeds, uint4 *__restrict__ ab,
                       u32 blocks_per_task, u32 batch)
{
    const u64 gid = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 total = (u64)blocks_per_task * batch;
    if (gid >= total) return;
    const u32 task = (u32)(gid / blocks_per_task);
    const u32 counter = (u32)(gid - (u64)task * blocks_per_task);
    const u32 *key = seeds + 8u * task;

    const u32 s0 = 0x61707865u, s1 = 0x3320646eu, s2 = 0x79622d32u, s3 = 0x6b206574u;
    const u32 s4 = key[0], s5 = key[1], s6 = key[2], s7 = key[3];
    const u32 s8 = key[4], s9 = key[5], s10 = key[6], s11 = key[7];
    const u32 s12 = counter, s13 = 0u, s14 = 0u, s15 = 0u;

    u32 x0 = s0, x1 = s1, x2 = s2, x3 = s3, x4 = s4, x5 = s5, x6 = s6, x7 = s7;
    u32 x8 = s8, x9 = s9, x10 = s10, x11 = s11, x12 = s12, x13 = s13, x14 = s14, x15 = s15;
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        /* column round */
        CPC_CHACHA_QR(x0, x4, x8, x12)
        CPC_CHACHA_QR(x1, x5, x9, x13)
        CPC_CHACHA_QR(x2, x6, x10, x14)
        CPC_CHACHA_QR(x3, x7, x11, x15)
        /* diagonal round */
        CPC_CHACHA_QR(x0, x5, x10, x15)
        CPC_CHACHA_QR(x1, x6, x11, x12)
        CPC_CHACHA_QR(x2, x7, x8, x13)
        CPC_CHACHA_QR(x3, x4, x9, x14)
    }
    /* Keystream words are serialised little-endian, which is the GPU's byte order. */
    uint4 *out = ab + gid * 4u;
    out[0] = make_uint4(x0 + s0, x1 + s1, x2 + s2, x3 + s3);
    out[1] = make_uint4(x4 + s4, x5 + s5, x6 + s6, x7 + s7);
    out[2] = make_uint4(x8 + s8, x9 + s9, x10 + s10, x11 + s11);
    out[3] = make_uint4(x12 + s12, x13 + s13, x14 + s14, x15 + s15);
}
