//! `cpcd job post|claim|cancel|status|list|fetch`: the task market from the command line
//! (docs/MARKET.md). `post` reads A and B from `.npy` int8 files, hands them to the node
//! (`job_putBlob`, checking the roots it answers against its own) and signs a POST_JOB;
//! `fetch` downloads a job's input or result, recomputes its root and writes a `.npy` file.

use crate::amount::parse_amount_arg;
use crate::client::{runtime, NodeArgs, Rpc};
use crate::key::KeystoreArgs;
use crate::npy::{self, Dtype, Matrix};
use crate::tx::{report, Sender, WaitArgs, DEFAULT_GAS_PRICE};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use cpc_primitives::{format_cpc, Address, Payload, TxType, H256};
use cpc_primitives::blob::{Blob, BlobKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `cpcd job …`.
#[derive(Args, Debug)]
pub struct JobArgs {
    #[command(subcommand)]
    pub cmd: JobCmd,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub store: KeystoreArgs,
}

/// What `cpcd job fetch` downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    A,
    B,
    C,
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Post a job: C = A · B for A (m × k) and B (k × n) int8 `.npy` files; the price is
    /// escrowed until a worker is paid, the deadline passes or the job is cancelled.
    Post {
        /// Poster; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// A: m × k int8 (m ≤ 1024, k ≤ 4096).
        #[arg(long, value_name = "FILE")]
        a: PathBuf,
        /// B: k × n int8 (n ≤ 1024).
        #[arg(long, value_name = "FILE")]
        b: PathBuf,
        /// What the worker is paid (less the protocol fee): `10cpc`, …
        #[arg(long, value_parser = parse_amount_arg)]
        price: u128,
        /// What a claim locks (forfeited if the claimant does not deliver in time).
        #[arg(long, value_parser = parse_amount_arg, default_value = "1cpc")]
        bond: u128,
        /// Blocks a claim lasts.
        #[arg(long = "claim-blocks", default_value_t = 60)]
        claim_blocks: u64,
        /// Blocks from now until the deadline (the price comes back after it).
        #[arg(long = "deadline-blocks", default_value_t = 600)]
        deadline_blocks: u64,
        /// Blocks the node keeps A, B and C after the job closes.
        #[arg(long, default_value_t = 3600)]
        retention: u64,
        /// The most to pay per byte of data (A, B and C): while the chain's blob fee is above
        /// it the job waits in the pool. Default: twice the next block's fee (job_getParams).
        #[arg(long = "max-blob-fee", value_name = "BASE_UNITS_PER_BYTE")]
        max_blob_fee: Option<u128>,
        /// Base units per gas; fee = 60 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Claim an open job for its claim period, locking its bond.
    Claim {
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        id: H256,
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Cancel a job never claimed; the price comes back.
    Cancel {
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        id: H256,
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// A job's state (job_getJob).
    Status { id: H256 },
    /// Open jobs, or the jobs a worker claimed (job_getOpenJobs / job_getWorkerJobs).
    List {
        #[arg(long, value_name = "ADDRESS")]
        worker: Option<Address>,
        /// At most this many (1-100).
        #[arg(long, default_value_t = 25)]
        limit: usize,
        /// The page after this job (the last id of the previous page).
        #[arg(long, value_name = "JOB_ID")]
        after: Option<H256>,
    },
    /// Download a job's input (a, b) or result (c), check it against its root, write `.npy`
    /// (`cpcd job result ID --out C.npy` is the same with the result).
    #[command(visible_alias = "result")]
    Fetch {
        id: H256,
        #[arg(long, value_enum, default_value = "c")]
        part: Part,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Runs `cpcd job …`.
pub fn run(args: JobArgs) -> Result<()> {
    runtime()?.block_on(job(args))
}

fn read_npy(path: &Path, what: &str) -> Result<Matrix> {
    let bytes = std::fs::read(path).with_context(|| format!("--{what} {}", path.display()))?;
    let m = npy::parse(&bytes).with_context(|| format!("--{what} {}", path.display()))?;
    if m.dtype != Dtype::I8 {
        bail!("--{what} {}: expected an int8 matrix, found int32", path.display());
    }
    Ok(m)
}

/// Hands a matrix to the node and checks the root it answers against the one computed here.
async fn put(rpc: &Rpc, blob: &Blob) -> Result<H256> {
    let kind = match blob.kind {
        BlobKind::Int8 => "int8",
        BlobKind::Int32 => "int32",
    };
    let v: Value = rpc
        .call("job_putBlob", vec![kind.into(), blob.rows.into(), blob.cols.into(), hex::encode(&blob.data).into()])
        .await?;
    let root = blob.root();
    if v["root"] != Value::String(root.to_hex()) {
        bail!("job_putBlob answered root {}, expected {root}", v["root"]);
    }
    Ok(root)
}

/// Downloads the blob under `root` and checks it is a `rows × cols` matrix of `kind` with that
/// root.
pub async fn fetch_blob(rpc: &Rpc, root: &H256, kind: BlobKind, rows: u32, cols: u32) -> Result<Blob> {
    let v: Value = rpc.call("job_getBlob", vec![root.to_hex().into()]).await?;
    if v.is_null() {
        bail!("the node holds no blob {root}");
    }
    let data = hex::decode(v["data"].as_str().ok_or_else(|| anyhow!("job_getBlob: no data"))?)?;
    let blob = Blob::new(kind, rows, cols, data).map_err(|e| anyhow!("blob {root}: {e}"))?;
    blob.with_root(root).map_err(|e| anyhow!("the node sent {e}"))
}

fn print_job(v: &Value) {
    let s = |k: &str| v[k].as_str().map(str::to_string).unwrap_or_else(|| v[k].to_string());
    let amount = |k: &str| v[k].as_str().and_then(|x| x.parse::<u128>().ok()).map(format_cpc).unwrap_or_default();
    println!("job       {}", s("id"));
    println!("status    {}", s("status"));
    println!("shape     {} x {} x {}", v["m"], v["k"], v["n"]);
    println!("price     {}   bond {}", amount("price"), amount("bond"));
    println!("poster    {}", s("poster"));
    println!("deadline  {} (posted at {})", v["deadline"], v["posted_height"]);
    if !v["claimant"].is_null() {
        println!("claimant  {} until {}", s("claimant"), v["claim_until"]);
    }
    if !v["result_root"].is_null() {
        println!("result    {} (closed at {})", s("result_root"), v["closed_height"]);
    }
}

/// The blob fee per byte of the next block, as the node computes it.
async fn next_blob_fee(rpc: &Rpc) -> Result<u128> {
    let p: Value = rpc.call("job_getParams", vec![]).await?;
    p["next_blob_fee_per_byte"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("job_getParams: expected next_blob_fee_per_byte as a decimal string, found {}", p["next_blob_fee_per_byte"]))
}

async fn get_job(rpc: &Rpc, id: &H256) -> Result<Value> {
    let v: Value = rpc.call("job_getJob", vec![id.to_hex().into()]).await?;
    if v.is_null() {
        bail!("job {id} not found");
    }
    Ok(v)
}

async fn job(args: JobArgs) -> Result<()> {
    let rpc = Rpc::new(&args.node.node)?;
    let sender = |from| Sender { rpc: &rpc, store: &args.store, from };
    let id_payload = |id: &H256| Payload::from_map(json!({"job_id": id.to_hex()}).as_object().expect("object").clone()).expect("no floats");
    match args.cmd {
        JobCmd::Post { from, a, b, price, bond, claim_blocks, deadline_blocks, retention, max_blob_fee, gas_price, wait } => {
            let (ma, mb) = (read_npy(&a, "a")?, read_npy(&b, "b")?);
            if ma.cols != mb.rows {
                bail!("A is {} x {} and B is {} x {}: A's columns must equal B's rows (k)", ma.rows, ma.cols, mb.rows, mb.cols);
            }
            let blob = |m: &Matrix| Blob::new(BlobKind::Int8, m.rows as u32, m.cols as u32, m.data.clone()).map_err(|e| anyhow!(e));
            let a_root = put(&rpc, &blob(&ma)?).await?;
            let b_root = put(&rpc, &blob(&mb)?).await?;
            let head: u64 = rpc.call("cpc_blockNumber", vec![]).await?;
            let max_fee = match max_blob_fee {
                Some(f) => f,
                None => next_blob_fee(&rpc).await?.saturating_mul(2),
            };
            let bytes = (ma.rows * ma.cols + mb.rows * mb.cols + 4 * ma.rows * mb.cols) as u128;
            eprintln!("data {bytes} bytes, blob fee at most {} ({max_fee} per byte)", format_cpc(bytes.saturating_mul(max_fee)));
            let payload = json!({
                "m": ma.rows, "k": ma.cols, "n": mb.cols, "a_root": a_root.to_hex(), "b_root": b_root.to_hex(),
                "bond": bond.to_string(), "claim_blocks": claim_blocks, "deadline": head + deadline_blocks, "retention": retention,
                "max_blob_fee_per_byte": max_fee.to_string(),
            });
            let payload = Payload::from_map(payload.as_object().expect("object").clone()).expect("no floats");
            let tx = sender(from).sign_and_send(TxType::PostJob, None, price, gas_price, |_| Ok(payload)).await?;
            eprintln!("job id {} (task id job:{})", tx.hash(), tx.hash());
            report(&rpc, &tx, &wait, args.node.json).await
        }
        JobCmd::Claim { from, id, gas_price, wait } => {
            let j = get_job(&rpc, &id).await?;
            let bond: u128 = j["bond"].as_str().and_then(|b| b.parse().ok()).ok_or_else(|| anyhow!("job {id}: no bond"))?;
            let tx = sender(from).sign_and_send(TxType::ClaimJob, None, bond, gas_price, |_| Ok(id_payload(&id))).await?;
            report(&rpc, &tx, &wait, args.node.json).await
        }
        JobCmd::Cancel { from, id, gas_price, wait } => {
            let tx = sender(from).sign_and_send(TxType::CancelJob, None, 0, gas_price, |_| Ok(id_payload(&id))).await?;
            report(&rpc, &tx, &wait, args.node.json).await
        }
        JobCmd::Status { id } => {
            let v = get_job(&rpc, &id).await?;
            if args.node.json {
                println!("{v}");
            } else {
                print_job(&v);
            }
            Ok(())
        }
        JobCmd::List { worker, limit, after } => {
            let after = after.map(|a| Value::String(a.to_hex())).unwrap_or(Value::Null);
            let v: Vec<Value> = match worker {
                Some(w) => rpc.call("job_getWorkerJobs", vec![w.to_string().into(), limit.into(), after]).await?,
                None => rpc.call("job_getOpenJobs", vec![limit.into(), after]).await?,
            };
            if args.node.json {
                println!("{}", Value::Array(v));
            } else {
                println!("{:<64}  {:<9}  {:>14}  {:>16}  deadline", "job", "status", "shape", "price");
                for j in &v {
                    let price = j["price"].as_str().and_then(|x| x.parse::<u128>().ok()).map(format_cpc).unwrap_or_default();
                    let shape = format!("{}x{}x{}", j["m"], j["k"], j["n"]);
                    println!(
                        "{:<64}  {:<9}  {:>14}  {:>16}  {}",
                        j["id"].as_str().unwrap_or(""),
                        j["status"].as_str().unwrap_or(""),
                        shape,
                        price,
                        j["deadline"]
                    );
                }
            }
            Ok(())
        }
        JobCmd::Fetch { id, part, out } => {
            let j = get_job(&rpc, &id).await?;
            let dim = |k: &str| j[k].as_u64().map(|x| x as u32).ok_or_else(|| anyhow!("job {id}: no {k}"));
            let (m, k, n) = (dim("m")?, dim("k")?, dim("n")?);
            let root_of = |f: &str| -> Result<H256> {
                let s = j[f].as_str().ok_or_else(|| anyhow!("job {id} has no {f} (status {})", j["status"]))?;
                H256::from_hex(s).map_err(|e| anyhow!("{f}: {e}"))
            };
            let (root, kind, rows, cols, dtype) = match part {
                Part::A => (root_of("a_root")?, BlobKind::Int8, m, k, Dtype::I8),
                Part::B => (root_of("b_root")?, BlobKind::Int8, k, n, Dtype::I8),
                Part::C => (root_of("result_root")?, BlobKind::Int32, m, n, Dtype::I32),
            };
            let blob = fetch_blob(&rpc, &root, kind, rows, cols).await?;
            let file = npy::write(&Matrix { dtype, rows: rows as usize, cols: cols as usize, data: blob.data });
            std::fs::write(&out, file).with_context(|| format!("--out {}", out.display()))?;
            eprintln!("{} x {} matrix with root {root} written to {}", rows, cols, out.display());
            Ok(())
        }
    }
}
