//! cpc-kernels: the CUDA C sources of the synthetic-task pipeline (PROTOCOL.md "Synthetic
//! tasks v1") and the launch geometry every host (the CUDA backend in `cpc-gpu`, the CPU
//! emulation used by its tests) shares.
//!
//! The sources are plain CUDA C for NVRTC (no host headers, `extern "C"` kernels), compiled at
//! run time for the device's compute capability (at least 6.1, for `__dp4a`). One batch of
//! tasks (same n, one seed each) runs through five launches:
//!
//! 1. [`Kernel::Chacha20Keystream`]: seeds → the 2n² keystream bytes of each task (A then B);
//! 2. [`Kernel::PackB`]: B → `bq`, four consecutive k of a column per 32-bit word;
//! 3. C = A·B, exact int32: [`Kernel::MatmulMma`] on the tensor cores (compute capability
//!    8.0+, n a multiple of 128), else [`Kernel::MatmulTiled`] (n a multiple of 128) or
//!    [`Kernel::MatmulSmall`] with `__dp4a`;
//! 4. [`Kernel::RowLeaves`]: `L_i = H(0x00 ‖ le32 C[i][0..n])`, one thread per row;
//! 5. [`Kernel::MerkleTree`]: the inner levels `H(0x01 ‖ l ‖ r)` up to the root.
//!
//! Buffers (all task-major, see [`TaskLayout`]): `seeds` (32 B/task), `ab` (2n² B), `bq`
//! (n² B), `c` (4n² B), `tree` ((2n−1)·32 B: leaves, then each level, root last).
//!
//! This crate has no dependencies and does no I/O; [`launch_plan`] is pure arithmetic.

use std::fmt;

/// Shared typedefs (`u8 u32 i32 u64`, no `<stdint.h>`) and rotations.
/// Prepended to every other source.
pub const COMMON: &str = include_str!("../cuda/common.cuh");

/// SHA-256 compression and byte swap on the device (round constants in `__constant__`
/// memory), used by [`ROW_LEAVES`] and [`MERKLE`]. Needs [`COMMON`].
pub const SHA256: &str = include_str!("../cuda/sha256.cuh");

/// Kernel `cpc_chacha20_keystream(const u32 *seeds, uint4 *ab, u32 blocks_per_task, u32 batch)`:
/// RFC 8439 ChaCha20 (key = seed, nonce 0, counter from 0), one thread per 64-byte block,
/// every task of the batch in one 1-D grid; task t's 2n² bytes (A, then B, as int8) land at
/// `ab + t·2n²`. Needs [`COMMON`].
pub const CHACHA20: &str = include_str!("../cuda/chacha20.cu");

/// Kernel `cpc_pack_b(const u32 *ab, uint4 *bq, u32 n, u32 batch)`: packs each task's B so
/// that `bq[q][j] = B[4q][j] | B[4q+1][j]<<8 | B[4q+2][j]<<16 | B[4q+3][j]<<24` (the four
/// consecutive k of column j in one word, as `__dp4a` wants them). One thread per 4×4 byte
/// transpose. Needs [`COMMON`].
pub const PACK_B: &str = include_str!("../cuda/pack_b.cu");

/// Kernels `cpc_matmul_dp4a_tiled(const u32 *ab, const u32 *bq, i32 *c, u32 n)` and
/// `cpc_matmul_dp4a_small(const u32 *ab, const u32 *bq, i32 *c, u32 n, u32 batch)`: the exact
/// int8 product C = A·B with int32 accumulation through `__dp4a`. The tiled kernel computes a
/// 128×128 tile of C per 256-thread block (8×8 per thread) through shared memory, with the
/// task index as grid z so that many small products fill the GPU; the small one (one thread
/// per element) serves n < 128. Needs [`COMMON`].
pub const MATMUL_DP4A: &str = include_str!("../cuda/matmul_dp4a.cu");

/// Kernel `cpc_matmul_mma_tiled(const u32 *ab, const u32 *bq, i32 *c, u32 n)`: the same
/// product on the tensor cores (`mma.sync` m16n8k32 s8·s8 → s32, exact: integer MMA does not
/// saturate), same arguments and grid as `cpc_matmul_dp4a_tiled`. Compiled to nothing below
/// compute capability 8.0 (see [`MMA_COMPUTE_CAPABILITY`]). Needs [`COMMON`].
pub const MATMUL_MMA: &str = include_str!("../cuda/matmul_mma.cu");

/// Kernel `cpc_row_leaves(const uint4 *c, u32 *tree, u32 n, u32 batch)`: one thread per row
/// of C hashes `0x00 ‖ le32(C[i][0]) ‖ … ‖ le32(C[i][n-1])` with SHA-256 and stores the leaf
/// as node i of its task's tree. Needs [`COMMON`] and [`SHA256`].
pub const ROW_LEAVES: &str = include_str!("../cuda/row_leaves.cu");

/// Kernel `cpc_merkle_tree(u32 *tree, u32 n)`: one block per task hashes the Merkle levels
/// `H(0x01 ‖ left ‖ right)` from the leaves up to the root (node 2n−2), level after level.
/// Needs [`COMMON`] and [`SHA256`].
pub const MERKLE: &str = include_str!("../cuda/merkle.cu");

/// Kernel `cpc_matmul_job(const i8 *a, const i8 *b, i32 *c, u32 m, u32 k, u32 n)`: a market
/// job's exact product C = A·B for any m × k × n, A and B row-major int8 as posted, C
/// row-major int32; one 16×16 tile of C per 16×16-thread block through shared memory, edges
/// masked. Grid `(ceil(n/16), ceil(m/16))`, block `(16, 16)` ([`job_launch`]). Needs [`COMMON`].
pub const MATMUL_JOB: &str = include_str!("../cuda/matmul_job.cu");

/// The tile side of `cpc_matmul_job`.
pub const JOB_TILE: u32 = 16;

/// The grid and block (each `(x, y, z)`) of `cpc_matmul_job` for an m × k × n job.
pub fn job_launch(m: u32, n: u32) -> ((u32, u32, u32), (u32, u32, u32)) {
    ((n.div_ceil(JOB_TILE), m.div_ceil(JOB_TILE), 1), (JOB_TILE, JOB_TILE, 1))
}

/// Smallest compute capability the kernels run on (`__dp4a` needs 6.1).
pub const MIN_COMPUTE_CAPABILITY: (u32, u32) = (6, 1);

/// Smallest compute capability of the tensor-core product (`mma.sync` m16n8k32 with s8).
pub const MMA_COMPUTE_CAPABILITY: (u32, u32) = (8, 0);

/// Smallest n the kernels take (the leaf kernel hashes whole 16-word blocks of a row).
pub const MIN_N: u32 = 16;
/// Largest n the kernels take (the protocol's maximum).
pub const MAX_N: u32 = 8192;
/// Largest batch of one launch sequence (grid z of the tiled product).
pub const MAX_BATCH: u32 = 65_535;
/// Side of the tiled product's C tile; n a multiple of it uses the tiled kernel.
pub const MATMUL_TILE: u32 = 128;

/// The kernels of the pipeline, in launch order (one of the two products is used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Chacha20Keystream,
    PackB,
    MatmulTiled,
    MatmulSmall,
    MatmulMma,
    RowLeaves,
    MerkleTree,
    MatmulJob,
}

impl Kernel {
    /// Every kernel of the program.
    pub const ALL: [Kernel; 8] = [
        Kernel::Chacha20Keystream,
        Kernel::PackB,
        Kernel::MatmulTiled,
        Kernel::MatmulSmall,
        Kernel::MatmulMma,
        Kernel::RowLeaves,
        Kernel::MerkleTree,
        Kernel::MatmulJob,
    ];

    /// The `extern "C"` name (the PTX entry point).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Chacha20Keystream => "cpc_chacha20_keystream",
            Kernel::PackB => "cpc_pack_b",
            Kernel::MatmulTiled => "cpc_matmul_dp4a_tiled",
            Kernel::MatmulSmall => "cpc_matmul_dp4a_small",
            Kernel::MatmulMma => "cpc_matmul_mma_tiled",
            Kernel::RowLeaves => "cpc_row_leaves",
            Kernel::MerkleTree => "cpc_merkle_tree",
            Kernel::MatmulJob => "cpc_matmul_job",
        }
    }

    /// The source file that defines it (without its prerequisites).
    pub fn source(self) -> &'static str {
        match self {
            Kernel::Chacha20Keystream => CHACHA20,
            Kernel::PackB => PACK_B,
            Kernel::MatmulTiled | Kernel::MatmulSmall => MATMUL_DP4A,
            Kernel::MatmulMma => MATMUL_MMA,
            Kernel::RowLeaves => ROW_LEAVES,
            Kernel::MerkleTree => MERKLE,
            Kernel::MatmulJob => MATMUL_JOB,
        }
    }

    /// A complete translation unit for this kernel alone: its prerequisites then its file.
    pub fn standalone_source(self) -> String {
        let mut s = String::from(COMMON);
        if matches!(self, Kernel::RowLeaves | Kernel::MerkleTree) {
            s.push_str(SHA256);
        }
        s.push_str(self.source());
        s
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every source file, in the order of the whole program (prerequisites first).
pub const SOURCES: [&str; 9] = [
    COMMON,
    SHA256,
    CHACHA20,
    PACK_B,
    MATMUL_DP4A,
    MATMUL_MMA,
    ROW_LEAVES,
    MERKLE,
    MATMUL_JOB,
];

/// The whole program (every kernel) as one translation unit, as the backend compiles it.
pub fn program_source() -> String {
    SOURCES.concat()
}

/// Program name given to NVRTC (shows in its log).
pub const PROGRAM_NAME: &str = "cpc_synth_v1.cu";

/// NVRTC options for a virtual architecture `compute_XY` (PTX, JIT-compiled by the driver)
/// or, with `real = true`, a real one `sm_XY` (CUBIN, no driver JIT).
pub fn nvrtc_options(major: u32, minor: u32, real: bool) -> Vec<String> {
    let arch = if real { "sm" } else { "compute" };
    vec![
        format!("--gpu-architecture={arch}_{major}{minor}"),
        "--std=c++14".to_string(),
    ]
}

/// The n the kernels take: a power of two in `MIN_N ..= MAX_N`.
pub fn check_n(n: u32) -> Result<(), PlanError> {
    if !n.is_power_of_two() || !(MIN_N..=MAX_N).contains(&n) {
        return Err(PlanError::UnsupportedN(n));
    }
    Ok(())
}

/// Why no launch plan exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    UnsupportedN(u32),
    BadBatch(u32),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::UnsupportedN(n) => {
                write!(
                    f,
                    "n = {n} is not supported by the GPU kernels (expected a power of two in {MIN_N}..={MAX_N})"
                )
            }
            PlanError::BadBatch(b) => {
                write!(
                    f,
                    "batch of {b} tasks is not supported (expected 1..={MAX_BATCH})"
                )
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Bytes of each buffer for one task of size n (the buffers hold `batch` of these, task-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskLayout {
    pub n: u32,
    /// The seed (ChaCha20 key): 32.
    pub seed_bytes: u64,
    /// The keystream, A then B: 2n².
    pub ab_bytes: u64,
    /// Packed B: n².
    pub bq_bytes: u64,
    /// C as int32: 4n².
    pub c_bytes: u64,
    /// Tree nodes (2n−1) × 32.
    pub tree_bytes: u64,
}

impl TaskLayout {
    pub fn new(n: u32) -> TaskLayout {
        let nn = u64::from(n) * u64::from(n);
        TaskLayout {
            n,
            seed_bytes: 32,
            ab_bytes: 2 * nn,
            bq_bytes: nn,
            c_bytes: 4 * nn,
            tree_bytes: (2 * u64::from(n) - 1) * 32,
        }
    }

    /// Device bytes one task needs across all buffers.
    pub fn total_bytes(&self) -> u64 {
        self.seed_bytes + self.ab_bytes + self.bq_bytes + self.c_bytes + self.tree_bytes
    }

    /// Number of tree nodes per task (2n−1).
    pub fn tree_nodes(&self) -> u64 {
        2 * u64::from(self.n) - 1
    }

    /// Index of the first node of tree level `level` (0 = leaves) within a task's tree.
    pub fn level_offset(&self, level: u32) -> u64 {
        let n = u64::from(self.n);
        // n + n/2 + … (level terms) = 2n − n/2^(level−1) … written as a sum for clarity.
        (0..level).map(|l| n >> l).sum()
    }
}

/// One kernel launch: grid and block dimensions. Arguments are fixed per kernel (see the
/// kernel docs): `(seeds, ab, 2n²/64, batch)`, `(ab, bq, n, batch)`, `(ab, bq, c, n)`,
/// `(ab, bq, c, n, batch)`, `(c, tree, n, batch)`, `(tree, n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub kernel: Kernel,
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
}

/// Threads per block of the 1-D kernels.
const THREADS_1D: u32 = 256;
/// Threads per block of the row-leaf kernel (long-running threads, low register pressure).
const THREADS_LEAVES: u32 = 128;

fn blocks_for(total: u64, threads: u32) -> Result<u32, PlanError> {
    u32::try_from(total.div_ceil(u64::from(threads))).map_err(|_| PlanError::BadBatch(0))
}

/// The launches that take `batch` seeds of size-n tasks to their full trees, in order, with
/// the `__dp4a` products only (any device of compute capability 6.1+, and the CPU emulation).
pub fn launch_plan(n: u32, batch: u32) -> Result<Vec<Launch>, PlanError> {
    launch_plan_with(n, batch, false)
}

/// [`launch_plan`] for a device of compute capability `cc`: the tensor-core product where the
/// device has it (8.0+) and n is a multiple of 128, unless `tensor_cores` is false.
pub fn launch_plan_for(
    n: u32,
    batch: u32,
    cc: (u32, u32),
    tensor_cores: bool,
) -> Result<Vec<Launch>, PlanError> {
    launch_plan_with(n, batch, tensor_cores && cc >= MMA_COMPUTE_CAPABILITY)
}

fn launch_plan_with(n: u32, batch: u32, mma: bool) -> Result<Vec<Launch>, PlanError> {
    check_n(n)?;
    if batch == 0 || batch > MAX_BATCH {
        return Err(PlanError::BadBatch(batch));
    }
    let nn = u64::from(n) * u64::from(n);
    let b = u64::from(batch);
    let one_d = |kernel, total: u64, threads: u32| -> Result<Launch, PlanError> {
        let blocks = blocks_for(total, threads).map_err(|_| PlanError::BadBatch(batch))?;
        Ok(Launch {
            kernel,
            grid: (blocks, 1, 1),
            block: (threads, 1, 1),
        })
    };
    let mut plan = Vec::with_capacity(5);
    plan.push(one_d(
        Kernel::Chacha20Keystream,
        b * blocks_per_task(n),
        THREADS_1D,
    )?);
    plan.push(one_d(Kernel::PackB, b * (nn / 16), THREADS_1D)?);
    if n.is_multiple_of(MATMUL_TILE) {
        let t = n / MATMUL_TILE;
        let kernel = if mma {
            Kernel::MatmulMma
        } else {
            Kernel::MatmulTiled
        };
        plan.push(Launch {
            kernel,
            grid: (t, t, batch),
            block: (256, 1, 1),
        });
    } else {
        plan.push(one_d(Kernel::MatmulSmall, b * nn, THREADS_1D)?);
    }
    plan.push(one_d(Kernel::RowLeaves, b * u64::from(n), THREADS_LEAVES)?);
    plan.push(Launch {
        kernel: Kernel::MerkleTree,
        grid: (batch, 1, 1),
        block: (256, 1, 1),
    });
    Ok(plan)
}

/// ChaCha20 blocks per task: 2n²/64 (the kernel's `blocks_per_task` argument).
pub fn blocks_per_task(n: u32) -> u64 {
    2 * u64::from(n) * u64::from(n) / 64
}

/// Integer operations of one product (2n³: a multiply and an add per term).
pub fn ops_per_task(n: u32) -> f64 {
    2.0 * f64::from(n).powi(3)
}

/// CPU emulation of the kernels, for tests on machines without a GPU: a C++ header that maps
/// the CUDA built-ins the sources use (`threadIdx`, `__syncthreads`, `__dp4a`, `uint4`, …) onto
/// threads and a barrier, and a driver that runs a [`launch_plan`] over the real sources. The
/// sources are compiled unchanged (`#include`d after the header), so the emulation checks
/// their indexing, tiling, packing and hashing bit for bit; it says nothing about timing.
pub mod emu {
    /// The header that stands in for the CUDA built-ins.
    pub const HEADER: &str = include_str!("../emu/emu.h");
    /// The driver (`main`): reads a plan and seeds on stdin, prints every task's tree.
    pub const MAIN: &str = include_str!("../emu/emu_main.cpp");

    /// The driver's stdin for `n`, the plan and the seeds (hex), one item per line:
    /// `n batch`, the number of launches, one `name gx gy gz bx by bz` per launch, the seeds.
    pub fn driver_input(n: u32, plan: &[super::Launch], seeds: &[[u8; 32]]) -> String {
        let mut s = format!("{n} {}\n{}\n", seeds.len(), plan.len());
        for l in plan {
            s.push_str(&format!(
                "{} {} {} {} {} {} {}\n",
                l.kernel.name(),
                l.grid.0,
                l.grid.1,
                l.grid.2,
                l.block.0,
                l.block.1,
                l.block.2
            ));
        }
        for seed in seeds {
            for b in seed {
                s.push_str(&format!("{b:02x}"));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_is_defined_in_its_source() {
        for k in Kernel::ALL {
            let decl = format!("{}(", k.name());
            assert!(k.source().contains(&decl), "{k} not found in its source");
            assert!(
                k.source().contains("extern \"C\" __global__"),
                "{k}: not extern C"
            );
            assert!(program_source().contains(&decl));
        }
    }

    #[test]
    fn sources_use_no_host_headers() {
        for src in SOURCES {
            assert!(
                !src.contains("#include"),
                "kernel sources must be self-contained for NVRTC"
            );
            for t in ["uint8_t", "uint32_t", "int32_t", "uint64_t", "size_t"] {
                assert!(
                    !src.contains(t),
                    "{t}: no <stdint.h>/<stddef.h> types under NVRTC"
                );
            }
        }
    }

    #[test]
    fn plan_covers_every_thread() {
        for n in [16u32, 32, 64, 128, 256, 1024, 8192] {
            for batch in [1u32, 3, 64] {
                let plan = launch_plan(n, batch).unwrap();
                assert_eq!(plan.len(), 5);
                let threads = |l: &Launch| {
                    u64::from(l.grid.0)
                        * u64::from(l.grid.1)
                        * u64::from(l.grid.2)
                        * u64::from(l.block.0)
                };
                let nn = u64::from(n) * u64::from(n);
                let b = u64::from(batch);
                assert!(threads(&plan[0]) >= b * nn * 2 / 64);
                assert!(threads(&plan[1]) >= b * nn / 16);
                match plan[2].kernel {
                    Kernel::MatmulTiled => {
                        assert_eq!(n % 128, 0);
                        assert_eq!(threads(&plan[2]) * 64, b * nn);
                    }
                    Kernel::MatmulSmall => {
                        assert!(n < 128);
                        assert!(threads(&plan[2]) >= b * nn);
                    }
                    k => panic!("unexpected {k}"),
                }
                assert!(threads(&plan[3]) >= b * u64::from(n));
                assert_eq!(plan[4].grid, (batch, 1, 1));
            }
        }
    }

    #[test]
    fn tensor_cores_only_from_8_0_and_tiles_of_128() {
        let matmul = |n, cc, tc| launch_plan_for(n, 4, cc, tc).unwrap()[2];
        for cc in [(8, 0), (8, 6), (9, 0), (12, 0)] {
            let l = matmul(1024, cc, true);
            assert_eq!(l.kernel, Kernel::MatmulMma, "{cc:?}");
            assert_eq!(
                l,
                Launch {
                    kernel: Kernel::MatmulMma,
                    ..launch_plan(1024, 4).unwrap()[2]
                }
            );
            assert_eq!(
                matmul(1024, cc, false).kernel,
                Kernel::MatmulTiled,
                "opted out"
            );
            assert_eq!(
                matmul(64, cc, true).kernel,
                Kernel::MatmulSmall,
                "n below the tile"
            );
        }
        for cc in [(6, 1), (7, 0), (7, 5)] {
            assert_eq!(matmul(1024, cc, true).kernel, Kernel::MatmulTiled, "{cc:?}");
        }
        // The CPU emulation's plan never names the tensor-core kernel.
        assert!(
            launch_plan(1024, 4)
                .unwrap()
                .iter()
                .all(|l| l.kernel != Kernel::MatmulMma)
        );
    }

    #[test]
    fn unsupported_sizes_are_refused() {
        assert_eq!(launch_plan(8, 1), Err(PlanError::UnsupportedN(8)));
        assert_eq!(launch_plan(96, 1), Err(PlanError::UnsupportedN(96)));
        assert_eq!(launch_plan(16384, 1), Err(PlanError::UnsupportedN(16384)));
        assert_eq!(launch_plan(64, 0), Err(PlanError::BadBatch(0)));
        assert_eq!(
            launch_plan(64, MAX_BATCH + 1),
            Err(PlanError::BadBatch(MAX_BATCH + 1))
        );
    }

    #[test]
    fn layout_and_level_offsets() {
        let l = TaskLayout::new(1024);
        assert_eq!(l.ab_bytes, 2 << 20);
        assert_eq!(l.c_bytes, 4 << 20);
        assert_eq!(l.tree_nodes(), 2047);
        assert_eq!(l.level_offset(0), 0);
        assert_eq!(l.level_offset(1), 1024);
        assert_eq!(l.level_offset(10), 2046); // the root
        assert_eq!(
            nvrtc_options(8, 0, false)[0],
            "--gpu-architecture=compute_80"
        );
        assert_eq!(nvrtc_options(9, 0, true)[0], "--gpu-architecture=sm_90");
    }
}
