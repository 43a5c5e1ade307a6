//! cpc-gpu: the CUDA backend of the synthetic-task miner (PROTOCOL.md "Synthetic tasks v1").
//!
//! The kernels of `cpc-kernels` are compiled at run time with NVRTC for the device's compute
//! capability and loaded through the CUDA driver (cudarc, `dynamic-loading`): nothing CUDA is
//! needed to build, and on a machine without CUDA every entry point returns
//! [`GpuError::NoDriver`] / [`GpuError::NoNvrtc`] instead of panicking.
//!
//! ```no_run
//! use cpc_gpu::{GpuSolver, driver_present, list_devices};
//! use cpc_poc::SynthParams;
//! # fn main() -> Result<(), cpc_gpu::GpuError> {
//! if driver_present() {
//!     for d in list_devices()? {
//!         println!("{d}");
//!     }
//!     let solver = GpuSolver::start(0, SynthParams::default())?;
//!     solver.self_test()?;
//!     let tip = cpc_primitives::H256([7; 32]);
//!     for sol in solver.solve_batch(tip, "cpc1...".into(), (0..64).collect())? {
//!         let result = sol.compute_result(); // re-check with cpc_poc::verify_full, sign, submit
//!         # let _ = result;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Per task the device computes the seed's ChaCha20 keystream (A and B), packs B, multiplies
//! with `__dp4a` (exact int32), hashes the rows into leaves and builds the Merkle tree; the
//! host copies the tree back and derives the ComputeResult ([`GpuSolution::compute_result`]).

mod device;
mod error;
mod libs;
pub mod nvrtc;
mod selftest;
mod solution;
mod solver;

pub use device::{DeviceInfo, device_info, int8_peak_tops, list_devices};
pub use error::GpuError;
pub use libs::{NVRTC_PATH_ENV, driver_present, nvrtc_library_path, nvrtc_present};
pub use solution::GpuSolution;
pub use solver::{BatchTiming, GpuSolver, PendingBatch, SolverOptions};

#[cfg(test)]
mod tests {
    #[test]
    fn solver_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::GpuSolver>();
        assert_send_sync::<crate::GpuSolution>();
        assert_send_sync::<crate::GpuError>();
        fn assert_send<T: Send>() {}
        assert_send::<crate::PendingBatch>();
    }
}
