// Runs a cpc launch plan on the CPU (see emu.h). Built by the tests with
//   c++ -std=c++20 -O2 -pthread -fno-strict-aliasing -include emu.h emu_main.cpp
// with CPC_PROGRAM pointing at the concatenated kernel sources (cpc_kernels::program_source).
//
// stdin:  "n batch", the number of launches, one "name gx gy gz bx by bz" per launch,
//         then one seed (64 hex digits) per task.
// stdout: per task one line "tree <t> <hex of all (2n-1) nodes>", and "c00 <t> <C[0][0]>".
//
// Job mode (cpc_matmul_job): stdin "job m k n gx gy bx by" (the host's launch), then A (m*k) and B (k*n) as signed decimal
// int8 entries, row-major; stdout "c" and the m*n entries of C, row-major.
#include "emu.h"
#include <cstdio>
#include <cstdlib>
#include <string>

#include CPC_PROGRAM

static void *alloc(size_t bytes)
{
    void *p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        std::fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        std::exit(2);
    }
    // Poison: every byte the kernels read must have been written by an earlier kernel.
    std::memset(p, 0xa5, bytes);
    return p;
}

static int job_main()
{
    unsigned m = 0, k = 0, n = 0;
    dim3 grid{1, 1, 1}, block{1, 1, 1};
    if (std::scanf("%u %u %u %u %u %u %u", &m, &k, &n, &grid.x, &grid.y, &block.x, &block.y) != 7) return 2;
    int8_t *a = (int8_t *)alloc((size_t)m * k);
    int8_t *b = (int8_t *)alloc((size_t)k * n);
    int32_t *c = (int32_t *)alloc(4ull * m * n);
    for (uint64_t i = 0; i < (uint64_t)m * k + (uint64_t)k * n; ++i) {
        int v;
        if (std::scanf("%d", &v) != 1) return 2;
        if (i < (uint64_t)m * k) a[i] = (int8_t)v; else b[i - (uint64_t)m * k] = (int8_t)v;
    }
    emu_launch(grid, block, [&] { cpc_matmul_job((const i8 *)a, (const i8 *)b, c, m, k, n); });
    std::printf("c");
    for (uint64_t i = 0; i < (uint64_t)m * n; ++i) std::printf(" %d", c[i]);
    std::printf("\n");
    return 0;
}

int main()
{
    char first[16];
    if (std::scanf("%15s", first) != 1) return 2;
    if (std::string(first) == "job") return job_main();
    unsigned n = (unsigned)std::strtoul(first, nullptr, 10), batch = 0, nlaunch = 0;
    if (std::scanf("%u %u", &batch, &nlaunch) != 2) return 2;
    struct L {
        char name[64];
        dim3 g, b;
    };
    std::vector<L> plan(nlaunch);
    for (auto &l : plan) {
        if (std::scanf("%63s %u %u %u %u %u %u", l.name, &l.g.x, &l.g.y, &l.g.z, &l.b.x, &l.b.y, &l.b.z) != 7)
            return 2;
    }
    const uint64_t nn = (uint64_t)n * n;
    uint8_t *seeds = (uint8_t *)alloc(32ull * batch);
    for (unsigned t = 0; t < batch; ++t) {
        char hex[65];
        if (std::scanf("%64s", hex) != 1) return 2;
        for (int i = 0; i < 32; ++i) {
            unsigned v;
            std::sscanf(hex + 2 * i, "%2x", &v);
            seeds[32 * t + i] = (uint8_t)v;
        }
    }
    uint8_t *ab = (uint8_t *)alloc(2 * nn * batch);
    uint8_t *bq = (uint8_t *)alloc(nn * batch);
    int32_t *c = (int32_t *)alloc(4 * nn * batch);
    const uint64_t nodes = 2ull * n - 1;
    uint32_t *tree = (uint32_t *)alloc(nodes * 32 * batch);
    const u32 bpt = (u32)(2 * nn / 64);

    for (auto &l : plan) {
        std::string k = l.name;
        if (k == "cpc_chacha20_keystream")
            emu_launch(l.g, l.b, [&] { cpc_chacha20_keystream((const u32 *)seeds, (uint4 *)ab, bpt, batch); });
        else if (k == "cpc_pack_b")
            emu_launch(l.g, l.b, [&] { cpc_pack_b((const u32 *)ab, (uint4 *)bq, n, batch); });
        else if (k == "cpc_matmul_dp4a_tiled")
            emu_launch(l.g, l.b, [&] { cpc_matmul_dp4a_tiled((const u32 *)ab, (const u32 *)bq, c, n); });
        else if (k == "cpc_matmul_dp4a_small")
            emu_launch(l.g, l.b, [&] { cpc_matmul_dp4a_small((const u32 *)ab, (const u32 *)bq, c, n, batch); });
        else if (k == "cpc_row_leaves")
            emu_launch(l.g, l.b, [&] { cpc_row_leaves((const uint4 *)c, tree, n, batch); });
        else if (k == "cpc_merkle_tree")
            emu_launch(l.g, l.b, [&] { cpc_merkle_tree(tree, n); });
        else {
            std::fprintf(stderr, "unknown kernel %s\n", l.name);
            return 2;
        }
    }

    for (unsigned t = 0; t < batch; ++t) {
        std::printf("c00 %u %d\n", t, c[(uint64_t)t * nn]);
        std::printf("tree %u ", t);
        const uint8_t *p = (const uint8_t *)(tree + (uint64_t)t * nodes * 8);
        for (uint64_t i = 0; i < nodes * 32; ++i) std::printf("%02x", p[i]);
        std::printf("\n");
    }
    return 0;
}
