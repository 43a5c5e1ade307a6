//! Shared by the integration tests: pseudo-random tasks, the protocol vectors, skip logic.
#![allow(dead_code)]

use cpc_gpu::{GpuError, driver_present, list_devices, nvrtc_present};
use cpc_primitives::{H256, sha256_concat};
use std::time::{SystemTime, UNIX_EPOCH};

/// A seed for this run's "random" tips: CPC_TEST_SEED if set (to replay a failure), else the
/// clock. Printed so a failing run can be replayed.
pub fn run_seed() -> u64 {
    let seed = std::env::var("CPC_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("CPC_TEST_SEED={seed}");
    seed
}

/// The i-th pseudo-random tip of a run.
pub fn tip(seed: u64, i: u64) -> H256 {
    sha256_concat(&[b"cpc-gpu-test-tip", &seed.to_le_bytes(), &i.to_le_bytes()])
}

/// A worker address-like string (the protocol hashes whatever UTF-8 it is given).
pub fn worker(seed: u64, i: u64) -> String {
    let h = sha256_concat(&[
        b"cpc-gpu-test-worker",
        &seed.to_le_bytes(),
        &i.to_le_bytes(),
    ]);
    format!("cpc1{}", &h.to_hex()[..38])
}

/// One synthetic vector of ../shared/vectors/protocol-v2.json.
pub struct Vector {
    pub n: usize,
    pub k: usize,
    pub tip: H256,
    pub worker: String,
    pub nonce: u64,
    pub seed: String,
    pub c00: i32,
    pub result: serde_json::Value,
}

/// The synthetic vectors (the copy kept in primitives/tests/data).
pub fn vectors() -> Vec<Vector> {
    // Built in, so that a test binary copied to a GPU machine without the sources still runs.
    let text = include_str!("../../../primitives/tests/data/protocol-v2.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("vectors JSON");
    v["synthetic"]
        .as_array()
        .expect("synthetic vectors")
        .iter()
        .map(|s| Vector {
            n: s["n"].as_u64().unwrap() as usize,
            k: s["k"].as_u64().unwrap() as usize,
            tip: H256::from_hex(s["tip_hash"].as_str().unwrap()).unwrap(),
            worker: s["worker_address"].as_str().unwrap().to_string(),
            nonce: s["nonce"].as_u64().unwrap(),
            seed: s["seed"].as_str().unwrap().to_string(),
            c00: s["c00"].as_i64().unwrap() as i32,
            result: s["result"].clone(),
        })
        .collect()
}

/// The ComputeResult as the vectors write it.
pub fn result_json(r: &cpc_primitives::ComputeResult) -> serde_json::Value {
    serde_json::json!({
        "task_id": r.task_id,
        "worker_address": r.worker_address,
        "result_hash": r.result_hash,
        "proof": r.proof,
        "nonce": r.nonce,
        "signature": r.signature,
    })
}

/// Whether a usable GPU is here; prints why not.
pub fn gpu_or_skip() -> bool {
    if !driver_present() {
        println!("skipped: no CUDA driver");
        return false;
    }
    match list_devices() {
        Err(e) => {
            println!("skipped: CUDA driver present but unusable: {e}");
            return false;
        }
        Ok(d) if d.is_empty() => {
            println!("skipped: no CUDA device");
            return false;
        }
        Ok(d) => {
            for dev in &d {
                println!("device {dev}");
            }
            if !d[0].supported() {
                println!("skipped: device 0 is below compute capability 6.1");
                return false;
            }
        }
    }
    if !nvrtc_present() {
        println!("skipped: {}", GpuError::NoNvrtc);
        return false;
    }
    true
}
