//! `cpcd worker --jobs` and `cpcd --mine --jobs`: the task market from a worker's side
//! (docs/MARKET.md). Beside the synthetic miner, one loop looks for an open job it can bond,
//! claims it, fetches A and B (checking their roots), computes C on the CPU
//! ([`cpc_poc::matmul_general`]), hands C to the node and submits the result before its claim
//! runs out; then the next job. Without a job the synthetic miner is all that runs. The node is
//! a [`JobNode`]: over WebSocket for `cpcd worker` ([`WsJobNode`]), the node's own store and
//! pool for the in-process miner (cpcd's `LocalJobs`).

use anyhow::{anyhow, bail, Context, Result};
use cpc_primitives::blob::{Blob, BlobKind};
use cpc_primitives::{Address, ComputeResult, Payload, SecretKey, TxType, UnsignedTx, H256};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClient;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Open jobs one `job_getOpenJobs` page holds (the most a call returns), and the pages one
/// look for a job reads at most.
pub const OPEN_JOBS_PAGE: usize = 100;
const OPEN_JOBS_PAGES: usize = 10;

/// How often the loop looks for open jobs.
const POLL: Duration = Duration::from_millis(500);

/// Signs and sends market transactions with the nonce the synthetic miner also draws from.
pub trait TxSender: Send + Sync {
    /// Signs `tx_type` with `amount` and `payload` at the next nonce and sends it; returns its hash.
    fn send(&self, key: &SecretKey, tx_type: TxType, amount: u128, payload: Payload) -> Result<H256>;
}

/// A boxed future of the node's answer (the trait is used as a trait object).
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What the job loop asks of its node; jobs are `job_getJob`'s JSON (docs/RPC.md).
pub trait JobNode: Send + Sync {
    /// A page of open jobs in posting order ([`OPEN_JOBS_PAGE`] at most), after the job
    /// `after` when given.
    fn open_jobs(&self, after: Option<H256>) -> Answer<'_, Vec<Value>>;
    /// A job, or Null.
    fn job(&self, id: H256) -> Answer<'_, Value>;
    fn balance(&self, addr: Address) -> Answer<'_, u128>;
    /// The data of the blob under `root`, or None if the node does not hold it.
    fn blob_data(&self, root: H256) -> Answer<'_, Option<Vec<u8>>>;
    /// Hands a blob to the node; returns the root the node computed.
    fn put_blob(&self, blob: Blob) -> Answer<'_, H256>;
}

/// A node over WebSocket JSON-RPC (`cpcd worker`): the connection the synthetic miner uses.
pub struct WsJobNode(pub Arc<Mutex<Option<Arc<WsClient>>>>);

impl WsJobNode {
    async fn call<T: jsonrpsee::core::DeserializeOwned>(&self, method: &str, params: jsonrpsee::core::params::ArrayParams) -> Result<T> {
        client(&self.0)?.request(method, params).await.with_context(|| method.to_string())
    }
}

impl JobNode for WsJobNode {
    fn open_jobs(&self, after: Option<H256>) -> Answer<'_, Vec<Value>> {
        Box::pin(self.call("job_getOpenJobs", rpc_params![OPEN_JOBS_PAGE, after.map(|a| a.to_hex())]))
    }
    fn job(&self, id: H256) -> Answer<'_, Value> {
        Box::pin(self.call("job_getJob", rpc_params![id.to_hex()]))
    }
    fn balance(&self, addr: Address) -> Answer<'_, u128> {
        Box::pin(async move {
            let b: String = self.call("cpc_getBalance", rpc_params![addr.to_string()]).await?;
            b.parse().map_err(|e| anyhow!("cpc_getBalance: {b:?}: {e}"))
        })
    }
    fn blob_data(&self, root: H256) -> Answer<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            let v: Value = self.call("job_getBlob", rpc_params![root.to_hex()]).await?;
            v["data"].as_str().map(|d| hex::decode(d).map_err(|e| anyhow!("job_getBlob: data: {e}"))).transpose()
        })
    }
    fn put_blob(&self, blob: Blob) -> Answer<'_, H256> {
        Box::pin(async move {
            let kind = match blob.kind {
                BlobKind::Int8 => "int8",
                BlobKind::Int32 => "int32",
            };
            let put: Value = self.call("job_putBlob", rpc_params![kind, blob.rows, blob.cols, hex::encode(&blob.data)]).await?;
            root(&put, "root")
        })
    }
}

/// The worker's side of one job.
pub struct JobWorker {
    pub node: Arc<dyn JobNode>,
    pub sender: Arc<dyn TxSender>,
    pub key: SecretKey,
    pub addr: Address,
}

fn client(slot: &Mutex<Option<Arc<WsClient>>>) -> Result<Arc<WsClient>> {
    slot.lock().clone().ok_or_else(|| anyhow!("not connected to the node"))
}

fn amount(v: &Value, k: &str) -> Result<u128> {
    v[k].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("job: {k} is not an amount: {}", v[k]))
}

fn root(v: &Value, k: &str) -> Result<H256> {
    H256::from_hex(v[k].as_str().ok_or_else(|| anyhow!("job: no {k}"))?).map_err(|e| anyhow!("job {k}: {e}"))
}

fn payload(v: Value) -> Payload {
    Payload::from_map(v.as_object().expect("an object").clone()).expect("no floats")
}

impl JobWorker {
    /// A blob from the node, checked against its root and read as the job needs it.
    async fn blob(&self, root: &H256, kind: BlobKind, rows: u32, cols: u32) -> Result<Blob> {
        let data = self.node.blob_data(*root).await?.ok_or_else(|| anyhow!("the node holds no blob {root}"))?;
        let b = Blob::new(kind, rows, cols, data).map_err(|e| anyhow!("blob {root}: {e}"))?;
        b.with_root(root).map_err(|e| anyhow!("the node sent {e}"))
    }

    async fn send(&self, tx_type: TxType, amount: u128, p: Payload) -> Result<H256> {
        let (sender, key) = (self.sender.clone(), self.key.clone());
        tokio::task::spawn_blocking(move || sender.send(&key, tx_type, amount, p)).await?
    }

    /// The first open job whose bond this account can lock (keeping room for the fees).
    /// Looks at most [`OPEN_JOBS_PAGES`] pages deep, so that jobs with bonds out of reach at
    /// the front of the queue do not hide the rest, without reading every open job each poll.
    async fn pick(&self) -> Result<Option<Value>> {
        let balance = self.node.balance(self.addr).await?;
        let fees = 200_000u128 * 1_000_000; // a claim and a result at up to 10^6 base units per gas
        let mut after = None;
        for _ in 0..OPEN_JOBS_PAGES {
            let page = self.node.open_jobs(after).await?;
            if let Some(j) = page.iter().find(|j| amount(j, "bond").is_ok_and(|b| b.saturating_add(fees) <= balance)) {
                return Ok(Some(j.clone()));
            }
            match page.last() {
                Some(last) if page.len() == OPEN_JOBS_PAGE => after = Some(root(last, "id")?),
                _ => break,
            }
        }
        Ok(None)
    }

    /// Claims, computes and submits one job; returns once the job is paid or lost.
    async fn work_on(&self, job: Value) -> Result<()> {
        let id = root(&job, "id")?;
        let bond = amount(&job, "bond")?;
        self.send(TxType::ClaimJob, bond, payload(json!({"job_id": id.to_hex()}))).await?;
        // Wait for the claim to land: ours, or someone else's first.
        let started = Instant::now();
        let claimed = loop {
            let j = self.node.job(id).await?;
            match j["status"].as_str() {
                Some("claimed") if j["claimant"] == Value::String(self.addr.to_string()) => break j,
                Some("claimed") | Some("done") | Some("cancelled") | Some("expired") => {
                    tracing::info!(job = %id, status = %j["status"], "job taken by another worker or closed");
                    return Ok(());
                }
                _ if started.elapsed() > Duration::from_secs(60) => bail!("job {id}: the claim did not land within 60 s"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let dim = |k: &str| claimed[k].as_u64().map(|x| x as u32).ok_or_else(|| anyhow!("job: no {k}"));
        let (m, k, n) = (dim("m")?, dim("k")?, dim("n")?);
        let a = self.blob(&root(&claimed, "a_root")?, BlobKind::Int8, m, k).await?;
        let b = self.blob(&root(&claimed, "b_root")?, BlobKind::Int8, k, n).await?;
        let t = Instant::now();
        let product = tokio::task::spawn_blocking(move || {
            cpc_poc::matmul_general(&a.as_i8(), &b.as_i8(), m as usize, k as usize, n as usize)
        })
        .await?;
        let cblob = Blob::from_i32(m, n, &product).map_err(|e| anyhow!(e))?;
        let c_root = cblob.root();
        tracing::info!(job = %id, m, k, n, ms = t.elapsed().as_millis() as u64, root = %c_root, "job computed");
        let put = self.node.put_blob(cblob).await.context("handing C to the node")?;
        if put != c_root {
            bail!("the node computed root {put} for C, expected {c_root}");
        }
        let r = ComputeResult {
            task_id: format!("job:{}", id.to_hex()),
            worker_address: self.addr.to_string(),
            result_hash: c_root.to_hex(),
            proof: None,
            nonce: None,
            signature: None,
        };
        self.send(TxType::SubmitResult, 0, r.to_payload()).await?;
        let until = claimed["claim_until"].as_u64().unwrap_or(0);
        loop {
            let j = self.node.job(id).await?;
            match j["status"].as_str() {
                Some("done") => {
                    tracing::info!(job = %id, price = %j["price"], "job paid");
                    return Ok(());
                }
                Some("claimed") => {}
                other => bail!("job {id} is {other:?} after our result: the claim ran out at {until}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Works on jobs until the task is dropped.
    pub async fn run(self) {
        loop {
            match self.pick().await {
                Ok(Some(job)) => {
                    if let Err(e) = self.work_on(job).await {
                        tracing::warn!("job: {e:#}");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("looking for jobs: {e:#}"),
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A market transaction of `tx_type` signed by `key` at its intrinsic gas.
pub fn sign(key: &SecretKey, chain_id: &str, tx_type: TxType, amount: u128, nonce: u64, gas_price: u64, p: Payload) -> cpc_primitives::Transaction {
    UnsignedTx::at_intrinsic_gas(chain_id, tx_type, Address::from_public_key(&key.public_key()), None, amount, nonce, gas_price, p).sign(key)
}
