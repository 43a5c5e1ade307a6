//! Errors of the CUDA backend.

use thiserror::Error;

/// Everything that can go wrong between this crate and the GPU. Never a panic: a machine
/// without CUDA gets [`GpuError::NoDriver`] / [`GpuError::NoNvrtc`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GpuError {
    #[error("no CUDA driver found (libcuda.so not loadable)")]
    NoDriver,
    #[error(
        "NVRTC not found (libnvrtc.so.12 not loadable): install a CUDA 12 toolkit or \
         `pip install nvidia-cuda-nvrtc-cu12`, and point CPC_NVRTC_PATH at the library or its \
         folder (or add the folder to LD_LIBRARY_PATH); with only CUDA 13, link its \
         libnvrtc.so.13 as libnvrtc.so.12 in a folder on LD_LIBRARY_PATH (docs/OPERATIONS.md)"
    )]
    NoNvrtc,
    #[error("no CUDA device with ordinal {ordinal} ({count} present)")]
    NoDevice { ordinal: usize, count: usize },
    #[error(
        "device {ordinal} ({name}) has compute capability {major}.{minor}; the kernels need \
         6.1 or newer (__dp4a)"
    )]
    ComputeCapability {
        ordinal: usize,
        name: String,
        major: u32,
        minor: u32,
    },
    #[error("CUDA driver call failed while {context}: {detail}")]
    Driver { context: String, detail: String },
    #[error("NVRTC failed while {context}: {detail}")]
    Nvrtc { context: String, detail: String },
    #[error("NVRTC could not compile the kernels with {options:?}:\n{log}")]
    Compile { options: Vec<String>, log: String },
    #[error("parameters not supported by the GPU backend: {0}")]
    Params(String),
    #[error(
        "batch cancelled: the solver's generation moved from {requested} to {current} \
         (a newer tip replaced this work)"
    )]
    Cancelled { requested: u64, current: u64 },
    #[error("the GPU worker thread has stopped")]
    WorkerGone,
    #[error("GPU self-test failed: {0}")]
    SelfTest(String),
}

impl GpuError {
    pub(crate) fn driver(context: impl Into<String>, e: impl std::fmt::Debug) -> GpuError {
        GpuError::Driver {
            context: context.into(),
            detail: format!("{e:?}"),
        }
    }

    pub(crate) fn nvrtc(context: impl Into<String>, e: impl std::fmt::Debug) -> GpuError {
        GpuError::Nvrtc {
            context: context.into(),
            detail: format!("{e:?}"),
        }
    }
}
