//! Mining for a node in another process (`cpcd worker`), possibly on another machine, over
//! WebSocket. It follows `newHeads`, asks `poc_getWork` for the task parameters, solves with
//! the same CPU/GPU backends as `cpcd --mine`, signs locally and submits with
//! `poc_submitResult`; the key never leaves the process. Several nodes may be given: the first
//! that answers is used, the next on loss, and an earlier one again once it is back.

use crate::{result_tx, Miner, MinerConfig, ResultSink};
use anyhow::{bail, Context, Result};
use cpc_poc::SynthParams;
use cpc_primitives::{Address, ComputeResult, Header, SecretKey, H256};
use cpc_rpc::{SubmitView, WorkView};
use cpc_state::Head;
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pause before reconnecting to a node that went away.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// A JSON-RPC call to the node that takes longer than this is an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The devices and limits of a remote worker.
#[derive(Clone, Debug)]
pub struct RemoteSpec {
    pub cpu_threads: usize,
    pub gpus: Vec<usize>,
    /// Most shares per tip (default: the chain's max_synthetic_results_per_block).
    pub results_per_tip: Option<u64>,
    pub gpu_temp_limit: Option<u32>,
    /// Also work on the task market's jobs (`--jobs`; crate::jobs).
    pub jobs: bool,
}

/// Submits over JSON-RPC, keeping the account's next nonce locally.
struct RemoteSink {
    client: Arc<Mutex<Option<Arc<WsClient>>>>,
    rt: tokio::runtime::Handle,
    chain_id: String,
    gas_price: u64,
    next_nonce: Mutex<Option<u64>>,
}

/// The reason label of a refused call: the node's typed `data.reason` (the same labels as the
/// in-process miner's), never parsed from the message text.
fn reason_of(e: &jsonrpsee::core::client::Error) -> String {
    match e {
        jsonrpsee::core::client::Error::Call(obj) => obj
            .data()
            .and_then(|d| serde_json::from_str::<Value>(d.get()).ok())
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_else(|| "rejected".into()),
        _ => "rpc".into(),
    }
}

impl ResultSink for RemoteSink {
    fn submit(&self, key: &SecretKey, r: &ComputeResult) -> std::result::Result<H256, (String, String)> {
        let Some(client) = self.client.lock().clone() else {
            return Err(("disconnected".into(), "not connected to the node".into()));
        };
        let from = Address::from_public_key(&key.public_key());
        let mut next = self.next_nonce.lock();
        let nonce = match *next {
            Some(n) => n,
            None => {
                let n = self
                    .rt
                    .block_on(client.request::<u64, _>("cpc_getTransactionCount", rpc_params![from.to_string()]))
                    .map_err(|e| ("rpc".to_string(), e.to_string()))?;
                *next = Some(n);
                n
            }
        };
        let tx = result_tx(key, r, &self.chain_id, nonce, self.gas_price);
        let body: Value = serde_json::from_slice(&tx.canonical_json()).expect("canonical JSON parses");
        match self.rt.block_on(client.request::<SubmitView, _>("poc_submitResult", rpc_params![body])) {
            Ok(v) => {
                *next = Some(nonce + 1);
                Ok(v.tx_hash)
            }
            Err(e) => {
                let msg = e.to_string();
                let reason = reason_of(&e);
                if reason == "nonce" {
                    *next = None; // refetch: another process may use this account
                }
                Err((reason, msg))
            }
        }
    }
}

impl crate::jobs::TxSender for RemoteSink {
    fn send(&self, key: &SecretKey, tx_type: cpc_primitives::TxType, amount: u128, p: cpc_primitives::Payload) -> Result<H256> {
        let client = self.client.lock().clone().ok_or_else(|| anyhow::anyhow!("not connected to the node"))?;
        let from = Address::from_public_key(&key.public_key());
        let mut next = self.next_nonce.lock();
        let nonce = match *next {
            Some(n) => n,
            None => self.rt.block_on(client.request::<u64, _>("cpc_getTransactionCount", rpc_params![from.to_string()]))?,
        };
        let tx = crate::jobs::sign(key, &self.chain_id, tx_type, amount, nonce, self.gas_price, p);
        let body: Value = serde_json::from_slice(&tx.canonical_json()).expect("canonical JSON parses");
        match self.rt.block_on(client.request::<H256, _>("cpc_sendTransaction", rpc_params![body])) {
            Ok(h) => {
                *next = Some(nonce + 1);
                Ok(h)
            }
            Err(e) => {
                *next = None;
                Err(anyhow::anyhow!("{tx_type}: {e}"))
            }
        }
    }
}

fn head_of(v: &Value) -> Option<Head> {
    let header: Header = serde_json::from_value(v.get("header")?.clone()).ok()?;
    Some(Head::of(&header, header.hash()))
}

/// Stops a spawned task when dropped (the job loop ends with the worker).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often a worker that failed over to a later `--node` tries the earlier ones again.
pub const FAILBACK_INTERVAL: Duration = Duration::from_secs(10);

async fn connect(url: &str) -> Result<WsClient> {
    // Market blobs travel as hex: a 1024 x 4096 input is 8 MiB of it.
    WsClientBuilder::default()
        .request_timeout(REQUEST_TIMEOUT)
        .max_request_size(32 << 20)
        .max_response_size(32 << 20)
        .build(url).await.with_context(|| format!("connecting to {url}"))
}

/// Connects to `url` and checks it serves `chain_id`; returns the client and its current work.
async fn open_node(url: &str, chain_id: &str, worker: &Address) -> Result<(WsClient, WorkView)> {
    let c = connect(url).await?;
    let id: String = c.request("cpc_chainId", rpc_params![]).await?;
    if id != chain_id {
        bail!("{url} serves chain {id:?}, not {chain_id:?}: skipped");
    }
    let work: WorkView = c.request("poc_getWork", rpc_params![worker.to_string()]).await?;
    Ok((c, work))
}

fn head_of_work(w: &WorkView) -> Head {
    Head { height: w.height, hash: w.tip, state_root: H256::ZERO, timestamp: 0, share_target: w.share_target }
}

/// Mines for the nodes at `urls` with `key` until `stop` resolves (or a miner thread panics).
pub async fn mine_remote(
    urls: Vec<String>,
    addr: Address,
    key: SecretKey,
    spec: RemoteSpec,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(stop);
    // The first node that answers sets the chain; the others must serve the same one.
    let mut first = None;
    for (i, url) in urls.iter().enumerate() {
        match connect(url).await {
            Ok(c) => {
                first = Some((i, c));
                break;
            }
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
    let Some((mut index, c)) = first else { bail!("no --node answered: {}", urls.join(", ")) };
    let chain_id: String = c.request("cpc_chainId", rpc_params![]).await?;
    let gas_price: u64 = c.request("cpc_gasPrice", rpc_params![]).await?;
    let work: WorkView = c.request("poc_getWork", rpc_params![addr.to_string()]).await?;
    let params = SynthParams { n: work.n, k: work.k };
    let (head_tx, head_rx) = watch::channel(head_of_work(&work));
    let mut client = Arc::new(c);
    let slot = Arc::new(Mutex::new(Some(client.clone())));
    let sink = Arc::new(RemoteSink {
        client: slot.clone(),
        rt: tokio::runtime::Handle::current(),
        chain_id: chain_id.clone(),
        gas_price,
        next_nonce: Mutex::new(None),
    });
    let cfg = MinerConfig {
        cpu_threads: spec.cpu_threads,
        gpus: spec.gpus,
        max_shares_per_tip: spec.results_per_tip.unwrap_or(work.max_synthetic_results_per_block as u64),
        gpu_temp_limit: spec.gpu_temp_limit,
    };
    // The miner's threads report a panic here; the worker then stops with an error.
    let failed = Arc::new(tokio::sync::Notify::new());
    let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let on_panic: crate::OnPanic = {
        let (failed, failure) = (failed.clone(), failure.clone());
        Arc::new(move |task: &str, msg: String| {
            tracing::error!(task, "miner thread panicked: {msg}");
            failure.lock().get_or_insert(format!("miner thread {task:?} panicked: {msg}"));
            failed.notify_one();
        })
    };
    let job_key = key.clone();
    let miner = tokio::task::block_in_place(|| Miner::start(sink.clone(), key, cfg, params, head_rx, on_panic))?;
    tracing::info!(node = %urls[index], %chain_id, worker = %addr, n = params.n, "worker connected");
    let _jobs = spec.jobs.then(|| {
        let w = crate::jobs::JobWorker { node: Arc::new(crate::jobs::WsJobNode(slot.clone())), sender: sink.clone(), key: job_key.clone(), addr };
        AbortOnDrop(tokio::spawn(w.run()))
    });

    loop {
        let sub: Result<Subscription<Value>, _> =
            client.subscribe("cpc_subscribe", rpc_params!["newHeads"], "cpc_unsubscribe").await;
        let mut failback = tokio::time::interval(FAILBACK_INTERVAL);
        failback.tick().await; // the first tick fires at once
        let mut switch_to = None;
        if let Ok(mut sub) = sub {
            loop {
                tokio::select! {
                    n = sub.next() => match n {
                        Some(Ok(v)) => {
                            if let Some(h) = head_of(&v) {
                                head_tx.send_replace(h);
                            }
                        }
                        _ => break,
                    },
                    _ = failback.tick(), if index > 0 => {
                        // Back to an earlier (preferred) node as soon as one answers again.
                        for (i, url) in urls[..index].iter().enumerate() {
                            if let Ok(found) = open_node(url, &chain_id, &addr).await {
                                switch_to = Some((i, found));
                                break;
                            }
                        }
                        if switch_to.is_some() {
                            break;
                        }
                    }
                    _ = &mut stop => {
                        tracing::info!("worker stopping");
                        drop(miner);
                        return Ok(());
                    }
                    _ = failed.notified() => {
                        drop(miner);
                        let why = failure.lock().clone().unwrap_or_default();
                        bail!("{why}: the worker stopped");
                    }
                }
            }
        }
        if switch_to.is_none() {
            tracing::warn!(node = %urls[index], "lost the node; failing over");
            *slot.lock() = None;
        }
        // Otherwise the next node in the list (wrapping), one round after another.
        while switch_to.is_none() {
            for step in 1..=urls.len() {
                let i = (index + step) % urls.len();
                match open_node(&urls[i], &chain_id, &addr).await {
                    Ok(found) => {
                        switch_to = Some((i, found));
                        break;
                    }
                    Err(e) => tracing::warn!("{e:#}"),
                }
            }
            if switch_to.is_none() {
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
        let (i, (c, work)) = switch_to.expect("set above");
        index = i;
        client = Arc::new(c);
        *slot.lock() = Some(client.clone());
        *sink.next_nonce.lock() = None; // the new node's pool may know other nonces
        head_tx.send_replace(head_of_work(&work));
        tracing::info!(node = %urls[index], height = work.height, "worker switched node");
    }
}
