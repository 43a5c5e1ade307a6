//! `cpcd poc solve|verify`.

use cpc_poc::SynthParams;
use cpc_primitives::{ComputeResult, Payload, ShareTarget, H256};
use std::io::Read;
use std::process::ExitCode;
use clap::Subcommand;


pub fn run(cmd: PocCmd) -> ExitCode {
    match cmd {
        PocCmd::Solve { tip, worker, nonce, size, k } => {
            let (tip, params) = match parse(&tip, size, k) {
                Ok(x) => x,
                Err(e) => return fail(&e),
            };
            if let Err(e) = worker.parse::<cpc_primitives::Address>() {
                return fail(&format!("--worker: {e}"));
            }
            let r = cpc_poc::solve(&tip, &worker, nonce, &params);
            let v = serde_json::Value::Object(r.to_payload().as_map().clone());
            println!("{}", String::from_utf8(cpc_primitives::cjson::to_canonical_bytes(&v).unwrap()).unwrap());
            ExitCode::SUCCESS
        }
        PocCmd::Verify { tip, target, size, k } => {
            let (tip, params) = match parse(&tip, size, k) {
                Ok(x) => x,
                Err(e) => return fail(&e),
            };
            let target = match target.as_deref().map(ShareTarget::from_hex).transpose() {
                Ok(t) => t,
                Err(e) => return fail(&format!("--target: {e}")),
            };
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                return fail(&format!("reading stdin: {e}"));
            }
            let r = match parse_result(&input) {
                Ok(r) => r,
                Err(e) => {
                    println!("invalid: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // The share rule first: one hash, before the full recomputation.
            if let Some(t) = target {
                match cpc_poc::result_share_value(&r, &tip) {
                    Ok(v) if v > t.0 => {
                        println!(
                            "invalid: SUBMIT_RESULT rule 6 (share): share value {v:016x} is above the share_target {t} \
                             (expected at most the target: not a share)"
                        );
                        return ExitCode::FAILURE;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        println!("invalid: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            match cpc_poc::verify_full_parallel(&r, &tip, &params) {
                Ok(()) => {
                    let share = match (target, cpc_poc::result_share_value(&r, &tip)) {
                        (Some(t), Ok(v)) => format!(", a share: value {v:016x} <= target {t}"),
                        (None, Ok(v)) => format!(", share value {v:016x}"),
                        _ => String::new(),
                    };
                    println!("valid: task {} by {} (result_hash {}){share}", r.task_id, r.worker_address, r.result_hash);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("invalid: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn parse(tip: &str, n: usize, k: usize) -> Result<(H256, SynthParams), String> {
    let tip = H256::from_hex(tip).map_err(|e| format!("--tip: {e}"))?;
    let params = SynthParams { n, k };
    params.validate().map_err(|e| e.to_string())?;
    Ok((tip, params))
}

fn parse_result(input: &str) -> Result<ComputeResult, String> {
    let v: serde_json::Value = serde_json::from_str(input.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let map = v.as_object().ok_or("expected a JSON object")?.clone();
    let p = Payload::from_map(map)?;
    ComputeResult::from_payload(&p).map_err(|e| e.to_string())
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

#[derive(Subcommand, Debug)]
pub enum PocCmd {
    /// Solve one task and print its ComputeResult as one line of JSON.
    Solve {
        /// Tip block hash (64 hex digits).
        #[arg(long)]
        tip: String,
        /// Worker address (cpc1…).
        #[arg(long)]
        worker: String,
        #[arg(long)]
        nonce: u64,
        /// Matrix size n (power of two).
        #[arg(long, default_value_t = cpc_poc::DEFAULT_N)]
        size: usize,
        /// Challenged rows k.
        #[arg(long, default_value_t = cpc_poc::DEFAULT_K)]
        k: usize,
    },
    /// Read one ComputeResult (JSON) from stdin and verify it fully against the tip; with
    /// --target also the share rule (exit 0 only for a valid share, 1 naming the rule).
    Verify {
        #[arg(long)]
        tip: String,
        /// The tip block's share_target (16 hex digits): the result must be a share.
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = cpc_poc::DEFAULT_N)]
        size: usize,
        #[arg(long, default_value_t = cpc_poc::DEFAULT_K)]
        k: usize,
    },
}
