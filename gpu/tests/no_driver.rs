//! On a machine without the CUDA driver every entry point must return NoDriver, never panic.
//! Runs only when libcuda is absent (skips with a message otherwise).

use cpc_gpu::{GpuError, GpuSolver, device_info, driver_present, list_devices};
use cpc_poc::SynthParams;

#[test]
fn without_a_driver_everything_reports_no_driver() {
    if driver_present() {
        println!("skipped: a CUDA driver is present (this test covers machines without one)");
        return;
    }
    let err = list_devices().expect_err("no devices without a driver");
    assert_eq!(err, GpuError::NoDriver);
    assert_eq!(
        err.to_string(),
        "no CUDA driver found (libcuda.so not loadable)"
    );
    assert_eq!(device_info(0).unwrap_err(), GpuError::NoDriver);
    assert_eq!(
        GpuSolver::start(0, SynthParams::default()).unwrap_err(),
        GpuError::NoDriver
    );
    // Asking twice (cached probe) gives the same answer.
    assert!(!driver_present());
    assert_eq!(list_devices().unwrap_err(), GpuError::NoDriver);
}

#[test]
fn unsupported_parameters_are_refused_before_touching_cuda() {
    // n below the kernels' minimum, or invalid for the protocol: an error, on any machine.
    for params in [
        SynthParams { n: 8, k: 8 },
        SynthParams { n: 100, k: 8 },
        SynthParams { n: 64, k: 0 },
    ] {
        match GpuSolver::start(0, params) {
            Err(GpuError::Params(msg)) => println!("n = {}, k = {}: {msg}", params.n, params.k),
            other => panic!("expected Params error, got {other:?}"),
        }
    }
}
