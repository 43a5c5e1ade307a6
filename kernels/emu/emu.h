// CPU stand-ins for the CUDA built-ins used by the cpc kernel sources (tests only).
//
// A launch runs the blocks of its grid one after the other; the threads of a block are real
// OS threads (std::thread) so that __syncthreads() is a real barrier, and __shared__ arrays
// are function-local statics shared by the threads of the block being run. Compile with
// -std=c++20 -pthread -fno-strict-aliasing.
#pragma once
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
inline std::barrier<> *emu_barrier = nullptr;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __constant__
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))

static inline void __syncthreads() { emu_barrier->arrive_and_wait(); }

// Signed 4-way byte dot product with accumulate (PTX dp4a.s32.s32).
static inline int __dp4a(int a, int b, int c)
{
    int s = c;
    for (int i = 0; i < 4; ++i) {
        int x = (signed char)((unsigned)a >> (8 * i));
        int y = (signed char)((unsigned)b >> (8 * i));
        s = (int)((unsigned)s + (unsigned)(x * y));
    }
    return s;
}

// Runs kernel `body` over `grid` x `block`: blocks in order, the block's threads concurrently.
static inline void emu_launch(dim3 grid, dim3 block, const std::function<void()> &body)
{
    gridDim = grid;
    blockDim = block;
    const unsigned threads = block.x * block.y * block.z;
    std::barrier<> bar((std::ptrdiff_t)threads);
    emu_barrier = &bar;
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            threadIdx.x = t % block.x;
            threadIdx.y = (t / block.x) % block.y;
            threadIdx.z = t / (block.x * block.y);
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        blockIdx.x = bx;
                        blockIdx.y = by;
                        blockIdx.z = bz;
                        body();
                        // Block boundary: no thread may start the next block (and reuse the
                        // __shared__ statics) while another still runs this one.
                        bar.arrive_and_wait();
                    }
        });
    }
    for (auto &th : pool) th.join();
    emu_barrier = nullptr;
}
