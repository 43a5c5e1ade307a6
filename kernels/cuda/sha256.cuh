/* SHA-256 (FIPS 180-4) on big-endian message words, and the byte swap between those and memory.
 * Needs common.cuh. Used by the row-leaf and Merkle kernels. */

__constant__ u32 CPC_SHA256_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};

/* Byte swap: SHA-256 works on big-endian words, the GPU stores little-endian. */
static __device__ __forceinline__ u32 cpc_bswap32(u32 x)
{
    return (x >> 24) | ((x >> 8) & 0x0000ff00u) | ((x << 8) & 0x00ff0000u) | (x << 24);
}

/* Initial hash value H(0). */
static __device__ __forceinline__ void cpc_sha256_init(u32 st[8])
{
    st[0] = 0x6a09e667u; st[1] = 0xbb67ae85u; st[2] = 0x3c6ef372u; st[3] = 0xa54ff53au;
    st[4] = 0x510e527fu; st[5] = 0x9b05688cu; st[6] = 0x1f83d9abu; st[7] = 0x5be0cd19u;
}

/* st = compress(st, w): w holds the 16 big-endian words of one 64-byte block (clobbered). */
static __device__ __forceinline__ void cpc_sha256_compress(u32 st[8], u32 w[16])
{
    u32 a = st[0], b = st[1], c = st[2], d = st[3];
    u32 e = st[4], f = st[5], g = st[6], h = st[7];
#pragma unroll
    for (int i = 0; i < 64; ++i) {
        u32 wi;
        if (i < 16) {
            wi = w[i];
        } else {
            u32 w15 = w[(i - 15) & 15];
            u32 w2 = w[(i - 2) & 15];
            u32 s0 = CPC_ROTR32(w15, 7) ^ CPC_ROTR32(w15, 18) ^ (w15 >> 3);
            u32 s1 = CPC_ROTR32(w2, 17) ^ CPC_ROTR32(w2, 19) ^ (w2 >> 10);
            wi = w[i & 15] + s0 + w[(i - 7) & 15] + s1;
            w[i & 15] = wi;
        }
        u32 S1 = CPC_ROTR32(e, 6) ^ CPC_ROTR32(e, 11) ^ CPC_ROTR32(e, 25);
        u32 ch = (e & f) ^ (~e & g);
        u32 t1 = h + S1 + ch + CPC_SHA256_K[i] + wi;
        u32 S0 = CPC_ROTR32(a, 2) ^ CPC_ROTR32(a, 13) ^ CPC_ROTR32(a, 22);
        u32 mj = (a & b) ^ (a & c) ^ (b & c);
        u32 t2 = S0 + mj;
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

/* Stores a digest as its 32 bytes (big-endian words) at out[0..8). */
static __device__ __forceinline__ void cpc_sha256_store(const u32 st[8], u32 *out)
{
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = cpc_bswap32(st[i]);
}
