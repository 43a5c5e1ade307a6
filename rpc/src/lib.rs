//! cpc JSON-RPC and WebSocket API: jsonrpsee servers over the [`ChainApi`] trait, which the
//! node implements. This crate decodes and encodes; it holds no chain logic. Every method is
//! listed in docs/RPC.md (a test checks that the list and the server agree).

mod explorer;
pub mod heavy;
mod hosts;
pub mod metrics;
pub mod types;

use cpc_primitives::{Address, Receipt, H256};
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::middleware::rpc::{Batch, MethodResponse, Notification, Request, RpcServiceBuilder, RpcServiceT};
use jsonrpsee::server::{BatchRequestConfig, PendingSubscriptionSink, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{RpcModule, SubscriptionMessage};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;
pub use explorer::{explorer_built, ExplorerConfig};
pub use hosts::HostRules;
pub use metrics::RpcMetrics;
pub use types::*;

/// Largest request body by default: a batch of ~20 000 transfers.
pub const MAX_REQUEST_BODY_BYTES: u32 = 16 << 20;
/// Largest response body: a full block with every transaction object is ~2 MB; leaves room.
pub const MAX_RESPONSE_BODY_BYTES: u32 = 64 << 20;
/// Concurrent connections accepted by default (per server).
pub const MAX_CONNECTIONS: u32 = 512;
/// Calls in one batch request by default.
pub const MAX_BATCH_LEN: u32 = 10_000;
/// Subscriptions one WebSocket connection may hold.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 64;
/// Messages buffered per WebSocket connection; a subscriber that falls this far behind is
/// dropped instead of growing memory.
pub const WS_MESSAGE_BUFFER: u32 = 1024;

/// JSON-RPC error codes used beyond the standard ones (-32700 parse, -32600 invalid request,
/// -32601 method not found, -32602 invalid params, -32603 internal).
pub mod codes {
    /// A transaction was rejected; the message names the rule.
    pub const TX_REJECTED: i32 = -32000;
    /// Internal storage failure.
    pub const INTERNAL: i32 = -32603;
    /// Invalid parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// The node is busy: every heavy-call slot is taken, or a connection is over its call
    /// rate (EIP-1474's -32005, "limit exceeded").
    pub const BUSY: i32 = -32005;
}

/// An error the backend reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Rejected(String),
    /// A transaction the pool refused: `reason` is a short, bounded label of the rule (sent as
    /// the error's `data: {"reason": …}` so that clients never parse the message).
    #[error("{message}")]
    TxRejected { reason: &'static str, message: String },
    #[error("{0}")]
    InvalidParams(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Every heavy-call slot is taken ([`heavy`]): retry later.
    #[error("{0}")]
    Busy(String),
}

impl From<ApiError> for ErrorObjectOwned {
    fn from(e: ApiError) -> Self {
        let code = match &e {
            ApiError::Rejected(_) | ApiError::TxRejected { .. } => codes::TX_REJECTED,
            ApiError::InvalidParams(_) => codes::INVALID_PARAMS,
            ApiError::Internal(_) => codes::INTERNAL,
            ApiError::Busy(_) => codes::BUSY,
        };
        match &e {
            ApiError::TxRejected { reason, message } => {
                ErrorObjectOwned::owned(code, message.clone(), Some(serde_json::json!({ "reason": reason })))
            }
            _ => ErrorObjectOwned::owned(code, e.to_string(), None::<()>),
        }
    }
}

/// Most transactions one `txpool_content` answer carries (the pool holds up to 50 000; a
/// sender's own are all in `txpool_contentFrom`).
pub const TXPOOL_CONTENT_MAX: usize = 4_096;

/// Transactions one `cpc_getAccountTransactions` call returns by default, and at most.
pub const ACCOUNT_TXS_DEFAULT: u64 = 25;
pub const ACCOUNT_TXS_MAX: u64 = 100;

/// The longest task id a ComputeResult may carry (docs/PROTOCOL-NOTES.md).
pub const MAX_TASK_ID_LEN: usize = 128;

/// Most pieces of evidence one `cpc_getEvidence` call returns (page on with `from_height`).
pub const MAX_EVIDENCE_PER_CALL: usize = 100;

/// What the node provides to the API.
pub trait ChainApi: Send + Sync + 'static {
    fn chain_id(&self) -> String;
    fn head_height(&self) -> u64;
    /// The last block that can never be reverted: every committed block is final (it has its
    /// commit certificate), so by default the head.
    fn finalized_height(&self) -> u64 {
        self.head_height()
    }
    fn block_by_height(&self, height: u64, full: bool) -> Result<Option<BlockView>, ApiError>;
    fn block_by_hash(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError>;
    fn account(&self, addr: &Address) -> Result<AccountView, ApiError>;
    /// Parses, checks and admits a transaction; returns its hash.
    fn send_transaction(&self, tx: Value) -> Result<H256, ApiError>;
    /// Gas a transaction would use (its type's intrinsic gas), after checking its shape.
    fn estimate_gas(&self, tx: Value) -> Result<u64, ApiError>;
    /// A gas price that gets a transaction into the next blocks.
    fn gas_price(&self) -> u64;
    fn transaction(&self, hash: &H256) -> Result<Option<TxView>, ApiError>;
    fn receipt(&self, hash: &H256) -> Result<Option<Receipt>, ApiError>;
    fn compute_results(&self, height: u64) -> Result<Option<ComputeResultsView>, ApiError>;
    /// Kept evidence of equivocation from `from_height` on (at most `limit` pieces).
    fn evidence(&self, _from_height: u64, _limit: usize) -> Result<Vec<Value>, ApiError> {
        Ok(vec![])
    }
    /// What consensus is doing: height, round, step, votes seen.
    fn consensus_state(&self) -> impl Future<Output = Result<Value, ApiError>> + Send {
        async { Err(ApiError::InvalidParams("this node runs no consensus".into())) }
    }
    /// Sync progress, `None` when following the tip.
    fn syncing(&self) -> Option<SyncStatus>;
    fn peer_count(&self) -> usize;
    fn peers(&self) -> impl Future<Output = Vec<PeerView>> + Send;
    fn node_info(&self) -> NodeInfo;
    /// Test and operations hook: cut this node off the network (true) or reconnect (false).
    fn set_isolated(&self, isolated: bool) -> Result<(), ApiError>;
    /// Test and operations hook: keep only these peers (`None` lifts the partition).
    fn set_partition(&self, peers: Option<Vec<String>>) -> Result<(), ApiError>;
    fn txpool_status(&self) -> TxpoolStatus;
    /// `{"pending": {address: {nonce: tx}}, "queued": {…}}`: of one sender (`from`), or of at
    /// most [`TXPOOL_CONTENT_MAX`] transactions of the pool, with `"truncated": {"returned",
    /// "total"}` when that is not all of it.
    fn txpool_content(&self, from: Option<&Address>) -> Value;
    fn get_work(&self, worker: &Address) -> Result<WorkView, ApiError>;
    fn network_stats(&self) -> Result<NetworkStatsView, ApiError>;
    fn worker(&self, worker: &Address) -> Result<WorkerView, ApiError>;
    /// The committed transactions of an address (sent, received, or paying it as a worker),
    /// newest first: at most `limit` before `before` (exclusive), and the place to go on from.
    fn account_transactions(&self, addr: &Address, before: Option<TxPlace>, limit: usize) -> Result<AccountTxsView, ApiError>;
    /// Where the result that answered `task_id` was committed, if one was.
    fn result_by_task(&self, task_id: &str) -> Result<Option<TaskResultView>, ApiError>;
    /// Admits a signed SUBMIT_RESULT transaction and says which task it answers.
    fn submit_result(&self, tx: Value) -> Result<SubmitView, ApiError>;
    fn miner_status(&self) -> MinerStatus;
    /// Every validator in the committed state, in creation order (`active`: in the set of
    /// head + 1).
    fn validators(&self) -> Result<Vec<ValidatorView>, ApiError>;
    /// The validator operated by `operator`, if any.
    fn validator(&self, operator: &Address) -> Result<Option<ValidatorView>, ApiError>;
    /// A delegator's delegations, by validator address.
    fn delegations(&self, delegator: &Address) -> Result<Vec<DelegationView>, ApiError>;
    /// Unbonding entries in flight (of one delegator, or of everyone), by completion height.
    fn unbonding(&self, delegator: Option<&Address>) -> Result<Vec<UnbondingView>, ApiError>;
    /// The active set that decides `height` (default: head + 1); `None` without one.
    fn active_set(&self, height: Option<u64>) -> Result<Option<ActiveSetView>, ApiError>;
    /// The supply at the head: total, genesis, minted, burned and where the coins are
    /// (liquid, bonded, unbonding, undistributed rewards).
    fn supply(&self) -> Result<Value, ApiError>;
    /// The chain's staking parameters (genesis `staking`).
    fn staking_params(&self) -> Value;
    /// Chain events for subscriptions (a receiver that lags is dropped).
    fn events(&self) -> broadcast::Receiver<ChainEvent>;

    /// Keeps a market blob (row-major `data`); returns `{"root", "kind", "rows", "cols",
    /// "bytes"}`.
    fn put_blob(&self, _kind: cpc_primitives::blob::BlobKind, _rows: u32, _cols: u32, _data: Vec<u8>) -> Result<Value, ApiError> {
        Err(ApiError::InvalidParams("this node keeps no market blobs".into()))
    }
    /// A blob held here: `{"root", "kind", "rows", "cols", "data" (hex)}`.
    fn blob(&self, _root: &H256) -> Result<Option<Value>, ApiError> {
        Ok(None)
    }
    /// A job as the head's state has it.
    fn job(&self, _id: &H256) -> Result<Option<Value>, ApiError> {
        Ok(None)
    }
    /// Jobs in posting order: open ones (no `worker`), or those `worker` claimed or was paid
    /// for, at most `limit`, after the job `after` (exclusive; a page's last id).
    fn jobs(&self, _worker: Option<&Address>, _after: Option<&H256>, _limit: usize) -> Result<Vec<Value>, ApiError> {
        Ok(vec![])
    }
    /// The chain's market parameters (genesis `market`) and the blob fee of the next block.
    fn market_params(&self) -> Result<Value, ApiError> {
        Ok(Value::Null)
    }
}

/// The address parameter of `getBalance`, `getWork`, … (fuzzed: `fuzz/`, target `rpc_params`).
pub fn parse_address(s: &str) -> RpcResult<Address> {
    s.parse().map_err(|e: cpc_primitives::AddressError| ApiError::InvalidParams(format!("address: {e}")).into())
}

/// A block or transaction hash parameter (fuzzed: target `rpc_params`).
pub fn parse_hash(s: &str) -> RpcResult<H256> {
    H256::from_hex(s).map_err(|e| ApiError::InvalidParams(format!("hash: {e}")).into())
}

/// The `cpc` namespace.
#[rpc(server, namespace = "cpc")]
pub trait Cpc {
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<String>;
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<u64>;
    #[method(name = "getBlockByNumber")]
    fn get_block_by_number(&self, block: BlockId, full: Option<bool>) -> RpcResult<Option<BlockView>>;
    #[method(name = "getBlockByHash")]
    fn get_block_by_hash(&self, hash: String, full: Option<bool>) -> RpcResult<Option<BlockView>>;
    #[method(name = "getBalance")]
    fn get_balance(&self, address: String) -> RpcResult<String>;
    #[method(name = "getAccount")]
    fn get_account(&self, address: String) -> RpcResult<AccountView>;
    #[method(name = "getTransactionCount")]
    fn get_transaction_count(&self, address: String) -> RpcResult<u64>;
    #[method(name = "sendTransaction")]
    fn send_transaction(&self, tx: Value) -> RpcResult<H256>;
    #[method(name = "estimateGas")]
    fn estimate_gas(&self, tx: Value) -> RpcResult<u64>;
    #[method(name = "gasPrice")]
    fn gas_price(&self) -> RpcResult<u64>;
    #[method(name = "getTransactionByHash")]
    fn get_transaction_by_hash(&self, hash: String) -> RpcResult<Option<TxView>>;
    #[method(name = "getTransactionReceipt")]
    fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<Receipt>>;
    #[method(name = "getAccountTransactions")]
    fn get_account_transactions(&self, address: String, limit: Option<u64>, before: Option<TxPlace>) -> RpcResult<AccountTxsView>;
    #[method(name = "getComputeResults")]
    fn get_compute_results(&self, block: BlockId, proofs: Option<bool>) -> RpcResult<Option<ComputeResultsView>>;
    /// Evidence that validators equivocated (double votes, double proposals), from
    /// `from_height` (default 0) on, in height order, at most MAX_EVIDENCE_PER_CALL pieces.
    #[method(name = "getEvidence")]
    fn get_evidence(&self, from_height: Option<u64>) -> RpcResult<Vec<Value>>;
    /// Consensus right now: `{mode, height, round, step, proposer, votes, …}` (docs/RPC.md).
    #[method(name = "consensusState")]
    async fn consensus_state(&self) -> RpcResult<Value>;
    /// `false`, or `{starting_block, current_block, highest_block}` while catching up.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<Value>;
    /// Every validator: `[{operator, consensus_address, consensus_key, moniker, tokens,
    /// shares, voting_power, commission, jailed, jailed_until, tombstoned, missed_in_window,
    /// commission_pending, active}]` (docs/RPC.md).
    #[method(name = "getValidators")]
    fn get_validators(&self) -> RpcResult<Vec<ValidatorView>>;
    /// One validator by operator address, or null.
    #[method(name = "getValidator")]
    fn get_validator(&self, address: String) -> RpcResult<Option<ValidatorView>>;
    /// A delegator's delegations: `[{validator, shares, tokens, pending_rewards,
    /// unbonding_entries}]`.
    #[method(name = "getDelegations")]
    fn get_delegations(&self, delegator: String) -> RpcResult<Vec<DelegationView>>;
    /// Unbonding entries in flight, of `delegator` or (none given) of everyone.
    #[method(name = "getUnbonding")]
    fn get_unbonding(&self, delegator: Option<String>) -> RpcResult<Vec<UnbondingView>>;
    /// A delegator's pending rewards: `{total, by_validator: [{validator, amount}]}`.
    #[method(name = "getRewards")]
    fn get_rewards(&self, delegator: String) -> RpcResult<RewardsView>;
    /// The active set of `height` (default head + 1): `{height, total_power, members}`.
    #[method(name = "getActiveSet")]
    fn get_active_set(&self, height: Option<u64>) -> RpcResult<Option<ActiveSetView>>;
    /// The supply at the head: `{total, genesis, minted, burned, liquid, bonded, unbonding,
    /// rewards}` (decimal strings); `total = genesis + minted − burned = liquid + bonded +
    /// unbonding + rewards`.
    #[method(name = "getSupply")]
    fn get_supply(&self) -> RpcResult<Value>;
    /// The genesis `staking` parameters: `{max_validators, min_self_bond, unbonding_period,
    /// evidence_max_age, set_change_delay, max_unbonding_entries, signed_blocks_window,
    /// min_signed_percent, downtime_jail_blocks, slash_downtime_ppb, slash_double_sign_ppb}`.
    #[method(name = "getStakingParams")]
    fn get_staking_params(&self) -> RpcResult<Value>;
    /// `cpc_subscribe(kind, filter?)`: `newHeads`, `newPendingTransactions`,
    /// `computeResults`, `logs` (`{"address": "cpc1…"}`), `jobEvents` (`{"job_id"?, "address"?}`). Notifications are
    /// `cpc_subscription` messages (WebSocket only).
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = Value)]
    async fn subscribe(&self, kind: String, filter: Option<Value>) -> SubscriptionResult;
}

/// The `net` namespace.
#[rpc(server, namespace = "net")]
pub trait Net {
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<usize>;
    #[method(name = "peers")]
    async fn peers(&self) -> RpcResult<Vec<PeerView>>;
}

/// The `admin` namespace (off unless `--http.api` names it: it can cut the node off).
#[rpc(server, namespace = "admin")]
pub trait Admin {
    #[method(name = "nodeInfo")]
    fn node_info(&self) -> RpcResult<NodeInfo>;
    #[method(name = "setIsolated")]
    fn set_isolated(&self, isolated: bool) -> RpcResult<bool>;
    /// Keep only the listed peer ids connected (null lifts the partition).
    #[method(name = "setPartition")]
    fn set_partition(&self, peers: Option<Vec<String>>) -> RpcResult<bool>;
}

/// The `txpool` namespace.
#[rpc(server, namespace = "txpool")]
pub trait Txpool {
    #[method(name = "status")]
    fn status(&self) -> RpcResult<TxpoolStatus>;
    #[method(name = "content")]
    fn content(&self) -> RpcResult<Value>;
    /// One sender's pending and queued transactions (geth's `txpool_contentFrom`).
    #[method(name = "contentFrom")]
    fn content_from(&self, address: String) -> RpcResult<Value>;
}

/// The `poc` namespace: work for remote workers.
#[rpc(server, namespace = "poc")]
pub trait Poc {
    #[method(name = "getWork")]
    fn get_work(&self, worker: String) -> RpcResult<WorkView>;
    #[method(name = "networkStats")]
    fn network_stats(&self) -> RpcResult<NetworkStatsView>;
    #[method(name = "getWorker")]
    fn get_worker(&self, worker: String) -> RpcResult<WorkerView>;
    #[method(name = "getResultByTask")]
    fn get_result_by_task(&self, task_id: String) -> RpcResult<Option<TaskResultView>>;
    #[method(name = "submitResult")]
    fn submit_result(&self, tx: Value) -> RpcResult<SubmitView>;
}

/// The `miner` namespace.
#[rpc(server, namespace = "miner")]
pub trait Miner {
    #[method(name = "status")]
    fn status(&self) -> RpcResult<MinerStatus>;
}

/// Jobs one `job_getOpenJobs` / `job_getWorkerJobs` call returns by default, and at most.
pub const JOBS_PER_CALL: (usize, usize) = (25, 100);
/// The largest blob: a 1024 x 4096 int8 input or a 1024 x 1024 int32 result, 4 MiB.
pub const MAX_BLOB_BYTES: usize = 4 << 20;

/// The `job` namespace: the task market (docs/MARKET.md).
#[rpc(server, namespace = "job")]
pub trait Job {
    /// Keeps a matrix the node will check jobs against: `kind` "int8" (A, B) or "int32" (C),
    /// `data` the row-major entries as hex (little-endian for int32). Returns its root.
    #[method(name = "putBlob")]
    fn put_blob(&self, kind: String, rows: u32, cols: u32, data: String) -> RpcResult<Value>;
    #[method(name = "getBlob")]
    fn get_blob(&self, root: String) -> RpcResult<Option<Value>>;
    #[method(name = "getJob")]
    fn get_job(&self, id: String) -> RpcResult<Option<Value>>;
    /// `after`: the last job id of the previous page.
    #[method(name = "getOpenJobs")]
    fn get_open_jobs(&self, limit: Option<usize>, after: Option<String>) -> RpcResult<Vec<Value>>;
    #[method(name = "getWorkerJobs")]
    fn get_worker_jobs(&self, worker: String, limit: Option<usize>, after: Option<String>) -> RpcResult<Vec<Value>>;
    #[method(name = "getParams")]
    fn get_params(&self) -> RpcResult<Value>;
}

fn jobs_limit(limit: Option<usize>) -> RpcResult<usize> {
    let (default, max) = JOBS_PER_CALL;
    match limit.unwrap_or(default) {
        l if (1..=max).contains(&l) => Ok(l),
        l => Err(ApiError::InvalidParams(format!("limit: expected 1 to {max}, found {l}")).into()),
    }
}

impl<A: ChainApi> JobServer for CpcRpc<A> {
    fn put_blob(&self, kind: String, rows: u32, cols: u32, data: String) -> RpcResult<Value> {
        use cpc_primitives::blob::BlobKind;
        let kind = match kind.as_str() {
            "int8" => BlobKind::Int8,
            "int32" => BlobKind::Int32,
            _ => return Err(ApiError::InvalidParams(format!("kind: expected \"int8\" or \"int32\", found {kind:?}")).into()),
        };
        if data.len() > 2 * MAX_BLOB_BYTES {
            return Err(ApiError::InvalidParams(format!("data: at most {MAX_BLOB_BYTES} bytes, found {}", data.len() / 2)).into());
        }
        let bytes = hex::decode(&data).map_err(|e| ApiError::InvalidParams(format!("data: expected hex, {e}")))?;
        Ok(self.api.put_blob(kind, rows, cols, bytes)?)
    }
    fn get_blob(&self, root: String) -> RpcResult<Option<Value>> {
        Ok(self.api.blob(&parse_hash(&root)?)?)
    }
    fn get_job(&self, id: String) -> RpcResult<Option<Value>> {
        Ok(self.api.job(&parse_hash(&id)?)?)
    }
    fn get_open_jobs(&self, limit: Option<usize>, after: Option<String>) -> RpcResult<Vec<Value>> {
        let after = after.as_deref().map(parse_hash).transpose()?;
        Ok(self.api.jobs(None, after.as_ref(), jobs_limit(limit)?)?)
    }
    fn get_worker_jobs(&self, worker: String, limit: Option<usize>, after: Option<String>) -> RpcResult<Vec<Value>> {
        let w = parse_address(&worker)?;
        let after = after.as_deref().map(parse_hash).transpose()?;
        Ok(self.api.jobs(Some(&w), after.as_ref(), jobs_limit(limit)?)?)
    }
    fn get_params(&self) -> RpcResult<Value> {
        Ok(self.api.market_params()?)
    }
}

/// Serves the namespaces over a [`ChainApi`].
pub struct CpcRpc<A: ChainApi> {
    api: Arc<A>,
}

impl<A: ChainApi> Clone for CpcRpc<A> {
    fn clone(&self) -> Self {
        CpcRpc { api: self.api.clone() }
    }
}

impl<A: ChainApi> CpcRpc<A> {
    pub fn new(api: Arc<A>) -> Self {
        CpcRpc { api }
    }

    fn height_of(&self, b: BlockId) -> Result<u64, ApiError> {
        Ok(match b {
            BlockId::Number(n) => n,
            BlockId::Latest => self.api.head_height(),
            BlockId::Earliest => 0,
            BlockId::Finalized => self.api.finalized_height(),
        })
    }
}

/// The subscription kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubKind {
    NewHeads,
    PendingTxs,
    ComputeResults,
    Logs(Address),
    /// Job events, all or those of one job or of one address (`by`).
    JobEvents { job: Option<H256>, by: Option<Address> },
}

/// The `cpc_subscribe` parameters (fuzzed: target `rpc_params`).
pub fn sub_kind(kind: &str, filter: Option<&Value>) -> Result<SubKind, String> {
    Ok(match kind {
        "newHeads" => SubKind::NewHeads,
        "newPendingTransactions" => SubKind::PendingTxs,
        "computeResults" => SubKind::ComputeResults,
        "logs" => {
            let a = filter
                .and_then(|f| f.get("address"))
                .and_then(|a| a.as_str())
                .ok_or("logs: expected a filter {\"address\": \"cpc1…\"}")?;
            SubKind::Logs(a.parse().map_err(|e| format!("logs: address: {e}"))?)
        }
        "jobEvents" => {
            let f = match filter {
                None | Some(Value::Null) => &serde_json::Map::new(),
                Some(Value::Object(m)) => m,
                Some(other) => return Err(format!("jobEvents: expected a filter {{\"job_id\"?, \"address\"?}}, found {other}")),
            };
            if let Some(k) = f.keys().find(|k| !["job_id", "address"].contains(&k.as_str())) {
                return Err(format!("jobEvents: unknown filter field {k:?} (allowed: job_id, address)"));
            }
            let job = match f.get("job_id") {
                None => None,
                Some(Value::String(s)) => Some(
                    H256::from_hex(s).map_err(|_| format!("jobEvents: job_id: expected 64 lowercase hex digits, found {s:?}"))?,
                ),
                Some(other) => return Err(format!("jobEvents: job_id: expected 64 lowercase hex digits, found {other}")),
            };
            let by = match f.get("address") {
                None => None,
                Some(Value::String(s)) => Some(s.parse().map_err(|e| format!("jobEvents: address: {e}"))?),
                Some(other) => return Err(format!("jobEvents: address: expected a cpc1… address, found {other}")),
            };
            SubKind::JobEvents { job, by }
        }
        other => {
            return Err(format!(
                "unknown subscription {other:?}: expected newHeads, newPendingTransactions, computeResults, logs or jobEvents"
            ))
        }
    })
}

/// The notification payloads a subscription sends for one event.
fn payloads(kind: &SubKind, ev: &ChainEvent) -> Vec<Value> {
    match (kind, ev) {
        (SubKind::NewHeads, ChainEvent::Block(b)) => {
            vec![serde_json::json!({"hash": b.hash, "header": b.header, "tx_count": b.txs.len()})]
        }
        (SubKind::PendingTxs, ChainEvent::PendingTx(h)) => vec![serde_json::json!(h)],
        (SubKind::ComputeResults, ChainEvent::Block(b)) => {
            b.compute.iter().map(|c| serde_json::to_value(c).expect("serializes")).collect()
        }
        (SubKind::Logs(a), ChainEvent::Block(b)) => b
            .txs
            .iter()
            .filter(|t| t.from_address == *a || t.to_address == Some(*a))
            .map(|t| serde_json::to_value(t).expect("serializes"))
            .collect(),
        (SubKind::JobEvents { job, by }, ChainEvent::Block(b)) => b
            .jobs
            .iter()
            .filter(|e| job.is_none_or(|j| e.job_id == j) && by.is_none_or(|a| e.by == a))
            .map(|e| serde_json::to_value(e).expect("serializes"))
            .collect(),
        _ => vec![],
    }
}

#[jsonrpsee::core::async_trait]
impl<A: ChainApi> CpcServer for CpcRpc<A> {
    fn chain_id(&self) -> RpcResult<String> {
        Ok(self.api.chain_id())
    }
    fn block_number(&self) -> RpcResult<u64> {
        Ok(self.api.head_height())
    }
    fn get_block_by_number(&self, block: BlockId, full: Option<bool>) -> RpcResult<Option<BlockView>> {
        Ok(self.api.block_by_height(self.height_of(block)?, full.unwrap_or(false))?)
    }
    fn get_block_by_hash(&self, hash: String, full: Option<bool>) -> RpcResult<Option<BlockView>> {
        Ok(self.api.block_by_hash(&parse_hash(&hash)?, full.unwrap_or(false))?)
    }
    fn get_balance(&self, address: String) -> RpcResult<String> {
        Ok(self.api.account(&parse_address(&address)?)?.balance.to_string())
    }
    fn get_account(&self, address: String) -> RpcResult<AccountView> {
        Ok(self.api.account(&parse_address(&address)?)?)
    }
    fn get_transaction_count(&self, address: String) -> RpcResult<u64> {
        Ok(self.api.account(&parse_address(&address)?)?.pending_nonce)
    }
    fn send_transaction(&self, tx: Value) -> RpcResult<H256> {
        Ok(self.api.send_transaction(tx)?)
    }
    fn estimate_gas(&self, tx: Value) -> RpcResult<u64> {
        Ok(self.api.estimate_gas(tx)?)
    }
    fn gas_price(&self) -> RpcResult<u64> {
        Ok(self.api.gas_price())
    }
    fn get_transaction_by_hash(&self, hash: String) -> RpcResult<Option<TxView>> {
        Ok(self.api.transaction(&parse_hash(&hash)?)?)
    }
    fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<Receipt>> {
        Ok(self.api.receipt(&parse_hash(&hash)?)?)
    }
    fn get_account_transactions(&self, address: String, limit: Option<u64>, before: Option<TxPlace>) -> RpcResult<AccountTxsView> {
        let addr = parse_address(&address)?;
        let limit = limit.unwrap_or(ACCOUNT_TXS_DEFAULT);
        if !(1..=ACCOUNT_TXS_MAX).contains(&limit) {
            return Err(ApiError::InvalidParams(format!("limit: expected 1 to {ACCOUNT_TXS_MAX}, found {limit}")).into());
        }
        Ok(self.api.account_transactions(&addr, before, limit as usize)?)
    }
    fn get_compute_results(&self, block: BlockId, proofs: Option<bool>) -> RpcResult<Option<ComputeResultsView>> {
        let mut view = self.api.compute_results(self.height_of(block)?)?;
        // Proofs are most of the bytes (k rows of n values each); a dashboard wants the rest.
        if proofs == Some(false) {
            for r in view.iter_mut().flat_map(|v| v.results.iter_mut()) {
                r.result.proof = None;
            }
        }
        Ok(view)
    }
    fn get_evidence(&self, from_height: Option<u64>) -> RpcResult<Vec<Value>> {
        Ok(self.api.evidence(from_height.unwrap_or(0), MAX_EVIDENCE_PER_CALL)?)
    }
    async fn consensus_state(&self) -> RpcResult<Value> {
        Ok(self.api.consensus_state().await?)
    }
    fn get_validators(&self) -> RpcResult<Vec<ValidatorView>> {
        Ok(self.api.validators()?)
    }
    fn get_validator(&self, address: String) -> RpcResult<Option<ValidatorView>> {
        Ok(self.api.validator(&parse_address(&address)?)?)
    }
    fn get_delegations(&self, delegator: String) -> RpcResult<Vec<DelegationView>> {
        Ok(self.api.delegations(&parse_address(&delegator)?)?)
    }
    fn get_unbonding(&self, delegator: Option<String>) -> RpcResult<Vec<UnbondingView>> {
        let d = delegator.as_deref().map(parse_address).transpose()?;
        Ok(self.api.unbonding(d.as_ref())?)
    }
    fn get_rewards(&self, delegator: String) -> RpcResult<RewardsView> {
        Ok(RewardsView::of(&self.api.delegations(&parse_address(&delegator)?)?))
    }
    fn get_active_set(&self, height: Option<u64>) -> RpcResult<Option<ActiveSetView>> {
        Ok(self.api.active_set(height)?)
    }
    fn get_supply(&self) -> RpcResult<Value> {
        Ok(self.api.supply()?)
    }
    fn get_staking_params(&self) -> RpcResult<Value> {
        Ok(self.api.staking_params())
    }
    fn syncing(&self) -> RpcResult<Value> {
        Ok(match self.api.syncing() {
            Some(s) => serde_json::to_value(s).expect("serializes"),
            None => Value::Bool(false),
        })
    }
    async fn subscribe(&self, pending: PendingSubscriptionSink, kind: String, filter: Option<Value>) -> SubscriptionResult {
        let kind = match sub_kind(&kind, filter.as_ref()) {
            Ok(k) => k,
            Err(msg) => {
                pending.reject(ApiError::InvalidParams(msg)).await;
                return Ok(());
            }
        };
        let mut events = self.api.events();
        let mut sink = pending.accept().await?;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        for p in payloads(&kind, &ev) {
                            let msg: SubscriptionMessage = serde_json::value::to_raw_value(&p)?.into();
                            // A full buffer means a slow subscriber: drop it, do not buffer more.
                            if sink.try_send(msg).is_err() {
                                tracing::debug!("dropping a slow or closed subscriber");
                                return Ok(());
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "dropping a subscriber that fell behind");
                        return Ok(());
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = sink.closed() => return Ok(()),
            }
        }
    }
}

#[jsonrpsee::core::async_trait]
impl<A: ChainApi> NetServer for CpcRpc<A> {
    fn peer_count(&self) -> RpcResult<usize> {
        Ok(self.api.peer_count())
    }
    async fn peers(&self) -> RpcResult<Vec<PeerView>> {
        Ok(self.api.peers().await)
    }
}

impl<A: ChainApi> AdminServer for CpcRpc<A> {
    fn node_info(&self) -> RpcResult<NodeInfo> {
        Ok(self.api.node_info())
    }
    fn set_isolated(&self, isolated: bool) -> RpcResult<bool> {
        self.api.set_isolated(isolated)?;
        Ok(isolated)
    }
    fn set_partition(&self, peers: Option<Vec<String>>) -> RpcResult<bool> {
        let on = peers.is_some();
        self.api.set_partition(peers)?;
        Ok(on)
    }
}

impl<A: ChainApi> TxpoolServer for CpcRpc<A> {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        Ok(self.api.txpool_status())
    }
    fn content(&self) -> RpcResult<Value> {
        Ok(self.api.txpool_content(None))
    }
    fn content_from(&self, address: String) -> RpcResult<Value> {
        Ok(self.api.txpool_content(Some(&parse_address(&address)?)))
    }
}

impl<A: ChainApi> PocServer for CpcRpc<A> {
    fn get_work(&self, worker: String) -> RpcResult<WorkView> {
        Ok(self.api.get_work(&parse_address(&worker)?)?)
    }
    fn network_stats(&self) -> RpcResult<NetworkStatsView> {
        Ok(self.api.network_stats()?)
    }
    fn get_worker(&self, worker: String) -> RpcResult<WorkerView> {
        Ok(self.api.worker(&parse_address(&worker)?)?)
    }
    fn get_result_by_task(&self, task_id: String) -> RpcResult<Option<TaskResultView>> {
        if task_id.is_empty() || task_id.len() > MAX_TASK_ID_LEN {
            return Err(ApiError::InvalidParams(format!("task id: expected 1 to {MAX_TASK_ID_LEN} bytes, found {}", task_id.len())).into());
        }
        Ok(self.api.result_by_task(&task_id)?)
    }
    fn submit_result(&self, tx: Value) -> RpcResult<SubmitView> {
        Ok(self.api.submit_result(tx)?)
    }
}

impl<A: ChainApi> MinerServer for CpcRpc<A> {
    fn status(&self) -> RpcResult<MinerStatus> {
        Ok(self.api.miner_status())
    }
}

/// The API namespaces, selectable with `--http.api` / `--ws.api`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    Cpc,
    Net,
    Txpool,
    Poc,
    Miner,
    Admin,
    /// The task market (docs/MARKET.md).
    Job,
}

impl Namespace {
    pub const ALL: [Namespace; 7] =
        [Namespace::Cpc, Namespace::Net, Namespace::Txpool, Namespace::Poc, Namespace::Miner, Namespace::Admin, Namespace::Job];
    /// Served unless `--http.api` says otherwise (admin is opt-in).
    pub const DEFAULT: [Namespace; 6] =
        [Namespace::Cpc, Namespace::Net, Namespace::Txpool, Namespace::Poc, Namespace::Miner, Namespace::Job];

    pub fn name(&self) -> &'static str {
        match self {
            Namespace::Cpc => "cpc",
            Namespace::Net => "net",
            Namespace::Txpool => "txpool",
            Namespace::Poc => "poc",
            Namespace::Miner => "miner",
            Namespace::Admin => "admin",
            Namespace::Job => "job",
        }
    }

    /// Parses `cpc,net,admin`.
    pub fn parse_list(s: &str) -> Result<Vec<Namespace>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Namespace::ALL
                    .iter()
                    .find(|n| n.name() == x)
                    .copied()
                    .ok_or_else(|| format!("unknown API namespace {x:?}: expected cpc, net, txpool, poc, miner, job or admin"))
            })
            .collect()
    }
}

/// The methods of the chosen namespaces, as one module.
pub fn module<A: ChainApi>(api: Arc<A>, apis: &[Namespace]) -> RpcModule<()> {
    let rpc = CpcRpc::new(api);
    let mut m = RpcModule::new(());
    for ns in apis {
        let r = match ns {
            Namespace::Cpc => m.merge(CpcServer::into_rpc(rpc.clone())),
            Namespace::Net => m.merge(NetServer::into_rpc(rpc.clone())),
            Namespace::Txpool => m.merge(TxpoolServer::into_rpc(rpc.clone())),
            Namespace::Poc => m.merge(PocServer::into_rpc(rpc.clone())),
            Namespace::Miner => m.merge(MinerServer::into_rpc(rpc.clone())),
            Namespace::Admin => m.merge(AdminServer::into_rpc(rpc.clone())),
            Namespace::Job => m.merge(JobServer::into_rpc(rpc.clone())),
        };
        r.expect("namespaces have distinct method names");
    }
    m
}

/// Observes every call (for metrics): method name, duration, success.
pub trait RpcObserver: Send + Sync + 'static {
    fn on_call(&self, method: &str, seconds: f64, ok: bool);
}

/// Server settings; every limit has a named default above.
#[derive(Clone)]
pub struct RpcConfig {
    pub apis: Vec<Namespace>,
    /// Allowed CORS origins (`*` for any); empty: no CORS headers.
    pub cors: Vec<String>,
    pub max_request_bytes: u32,
    pub max_batch: u32,
    pub max_connections: u32,
    /// Calls one connection may make per second, sustained ([`CALLS_PER_SEC`]); 0: no limit.
    pub calls_per_sec: u32,
    pub observer: Option<Arc<dyn RpcObserver>>,
    /// Serve the built-in explorer on GET (HTTP server only; JSON-RPC stays POST).
    pub explorer: Option<Arc<ExplorerConfig>>,
    /// Host names (besides IP literals) a request's `Host` may carry (`--http.vhosts`; `*`: any).
    pub vhosts: Vec<String>,
    /// Hosts a browser page's `Origin` may have to open a WebSocket, besides localhost,
    /// loopback and `own_addrs` (`--ws.origins`; `*`: any).
    pub ws_origins: Vec<String>,
    /// The addresses the node's servers listen on (pages it serves come from there).
    pub own_addrs: Vec<std::net::IpAddr>,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            apis: Namespace::DEFAULT.to_vec(),
            cors: vec![],
            max_request_bytes: MAX_REQUEST_BODY_BYTES,
            max_batch: MAX_BATCH_LEN,
            max_connections: MAX_CONNECTIONS,
            calls_per_sec: CALLS_PER_SEC,
            observer: None,
            explorer: None,
            vhosts: vec!["localhost".into()],
            ws_origins: vec![],
            own_addrs: vec![],
        }
    }
}

/// Middleware timing every call for the observer.
#[derive(Clone)]
struct Observe<S> {
    service: S,
    observer: Option<Arc<dyn RpcObserver>>,
}

impl<S> RpcServiceT for Observe<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let observer = self.observer.clone();
        async move {
            let method = req.method_name().to_string();
            let t = Instant::now();
            let rp = service.call(req).await;
            if let Some(o) = observer {
                o.on_call(&method, t.elapsed().as_secs_f64(), rp.is_success());
            }
            rp
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let service = self.service.clone();
        let observer = self.observer.clone();
        let methods: Vec<String> = batch
            .iter()
            .filter_map(|e| e.as_ref().ok().map(|e| e.method_name().to_string()))
            .collect();
        async move {
            let t = Instant::now();
            let rp = service.batch(batch).await;
            if let Some(o) = observer {
                // The batch's time, shared evenly among its calls.
                let each = t.elapsed().as_secs_f64() / methods.len().max(1) as f64;
                for m in &methods {
                    o.on_call(m, each, true);
                }
            }
            rp
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

/// The methods that verify, read whole blocks or walk the pool: they run off the async
/// runtime on the heavy-call pool ([`heavy`]).
pub const HEAVY_METHODS: &[&str] = &[
    "cpc_sendTransaction",
    "poc_submitResult",
    "cpc_getBlockByNumber",
    "cpc_getBlockByHash",
    "cpc_getComputeResults",
    "cpc_getAccountTransactions",
    "txpool_content",
    "txpool_contentFrom",
    "job_putBlob",
    "job_getBlob",
    "job_getOpenJobs",
    "job_getWorkerJobs",
];

fn is_heavy(method: &str) -> bool {
    HEAVY_METHODS.contains(&method)
}

/// Middleware moving heavy calls off the runtime: a heavy call, or a batch with one in it,
/// takes a slot of the heavy-call pool and runs on its thread taken out of the runtime
/// (`block_in_place`: one hop per batch, not per call); no slot in time is -32005 busy.
#[derive(Clone)]
struct Offload<S> {
    service: S,
}

impl<S> RpcServiceT for Offload<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse> + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        async move {
            if !is_heavy(req.method_name()) {
                return service.call(req).await;
            }
            let id = req.id().into_owned();
            heavy::HEAVY.run_in_place(|| service.call(req)).await.unwrap_or_else(|busy| MethodResponse::error(id, ErrorObjectOwned::from(busy)))
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let heavy = batch.iter().any(|e| e.as_ref().is_ok_and(|e| is_heavy(e.method_name())));
        let service = self.service.clone();
        async move {
            if !heavy {
                return service.batch(batch).await;
            }
            heavy::HEAVY
                .run_in_place(|| service.batch(batch))
                .await
                .unwrap_or_else(|busy| MethodResponse::error(jsonrpsee::types::Id::Null, ErrorObjectOwned::from(busy)))
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

/// Calls one connection (an HTTP keep-alive connection or a WebSocket) may make per second,
/// sustained, by default (a batch counts each of its calls; `admin_` calls are not counted).
pub const CALLS_PER_SEC: u32 = 2_000;

/// The burst a connection may make at once above its sustained rate: two full batches (and
/// never less than one second's worth).
pub fn call_burst(calls_per_sec: u32, max_batch: u32) -> f64 {
    (2.0 * max_batch as f64).max(calls_per_sec as f64)
}

/// A token bucket: `rate` calls a second, at most `burst` saved up.
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        Bucket { tokens: burst, last: Instant::now(), rate, burst }
    }

    /// Takes `n` tokens if there are that many.
    fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

/// One connection's call allowance, carried in the extensions of every request on it.
#[derive(Clone)]
struct ConnectionBucket(Arc<parking_lot::Mutex<Bucket>>);

/// HTTP middleware giving each TCP connection its own [`Bucket`]: jsonrpsee applies the HTTP
/// layers once per accepted connection (and a WebSocket's messages inherit the extensions of
/// its upgrade request), so every request on one connection, HTTP keep-alive or WebSocket,
/// draws from one bucket, and a new connection starts with a full one. Opening connections is
/// bounded by the connection cap.
#[derive(Clone, Copy)]
struct PerConnectionLimit {
    rate: f64,
    burst: f64,
}

impl<S> tower::Layer<S> for PerConnectionLimit {
    type Service = WithBucket<S>;

    fn layer(&self, inner: S) -> WithBucket<S> {
        WithBucket { inner, bucket: ConnectionBucket(Arc::new(parking_lot::Mutex::new(Bucket::new(self.rate, self.burst)))) }
    }
}

#[derive(Clone)]
struct WithBucket<S> {
    inner: S,
    bucket: ConnectionBucket,
}

impl<S, B> tower::Service<http::Request<B>> for WithBucket<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        req.extensions_mut().insert(self.bucket.clone());
        self.inner.call(req)
    }
}

/// Middleware refusing the calls of a connection over its rate (the bucket its request
/// carries, see [`PerConnectionLimit`]): answered at once with -32005, a batch refused whole.
#[derive(Clone)]
struct RateLimit<S> {
    service: S,
    rate: u32,
    burst: f64,
}

impl<S> RateLimit<S> {
    fn refusal(&self) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(
            codes::BUSY,
            format!(
                "rate limit: one connection may make {} calls a second ({} at once); slow down and retry",
                self.rate, self.burst
            ),
            None::<()>,
        )
    }
}

fn allows(ext: &http::Extensions, calls: usize) -> bool {
    ext.get::<ConnectionBucket>().is_none_or(|b| b.0.lock().take(calls))
}

fn counted(method: &str) -> bool {
    !method.starts_with("admin_")
}

impl<S> RpcServiceT for RateLimit<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse> + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let refused = (counted(req.method_name()) && !allows(req.extensions(), 1)).then(|| MethodResponse::error(req.id(), self.refusal()));
        let service = self.service.clone();
        async move {
            match refused {
                Some(r) => r,
                None => service.call(req).await,
            }
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let calls = batch.iter().filter(|e| e.as_ref().is_ok_and(|e| counted(e.method_name()))).count();
        let refused = (!allows(batch.extensions(), calls)).then(|| MethodResponse::error(jsonrpsee::types::Id::Null, self.refusal()));
        let service = self.service.clone();
        async move {
            match refused {
                Some(r) => r,
                None => service.batch(batch).await,
            }
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

async fn start<A: ChainApi>(addr: SocketAddr, api: Arc<A>, cfg: &RpcConfig, ws: bool) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let mut sc = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_bytes)
        .max_response_body_size(MAX_RESPONSE_BODY_BYTES)
        .max_connections(cfg.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch))
        .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .set_message_buffer_capacity(WS_MESSAGE_BUFFER);
    sc = if ws { sc.ws_only() } else { sc.http_only() };
    let cors = if cfg.cors.is_empty() {
        None
    } else {
        let origins = if cfg.cors.iter().any(|o| o == "*") {
            tower_http::cors::AllowOrigin::any()
        } else {
            let mut list = Vec::new();
            for o in &cfg.cors {
                list.push(http::HeaderValue::from_str(o).map_err(|_| {
                    std::io::Error::other(format!("--http.corsdomain: {o:?} is not a valid origin"))
                })?);
            }
            tower_http::cors::AllowOrigin::list(list)
        };
        Some(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([http::Method::POST, http::Method::OPTIONS])
                .allow_headers([http::header::CONTENT_TYPE]),
        )
    };
    let observer = cfg.observer.clone();
    let (rate, burst) = (cfg.calls_per_sec, call_burst(cfg.calls_per_sec, cfg.max_batch));
    let rpc_mw = RpcServiceBuilder::new()
        .layer_fn(move |service| Observe { service, observer: observer.clone() })
        .layer_fn(move |service| RateLimit { service, rate, burst })
        .layer_fn(|service| Offload { service });
    let limit = (rate > 0).then_some(PerConnectionLimit { rate: rate as f64, burst });
    let explorer = if ws { None } else { cfg.explorer.clone().map(explorer::ExplorerLayer) };
    // WebSocket: browsers may open one to anywhere anyway, so Origin is the rule there, and a
    // remote worker may name the node by any name (`--node ws://node.example:8546`).
    let vhosts = if ws { vec!["*".to_string()] } else { cfg.vhosts.clone() };
    let rules = HostRules { vhosts, origins: ws.then(|| cfg.ws_origins.clone()), own: cfg.own_addrs.clone() };
    let http_mw = tower::ServiceBuilder::new()
        .layer(hosts::HostLayer(Arc::new(rules)))
        .option_layer(explorer)
        .option_layer(limit)
        .option_layer(cors);
    let server = Server::builder()
        .set_config(sc.build())
        .set_rpc_middleware(rpc_mw)
        .set_http_middleware(http_mw)
        .build(addr)
        .await?;
    let local = server.local_addr()?;
    let handle = server.start(module(api, &cfg.apis));
    Ok((local, handle))
}

/// Starts the HTTP JSON-RPC server; returns its bound address.
pub async fn start_http<A: ChainApi>(addr: SocketAddr, api: Arc<A>, cfg: &RpcConfig) -> std::io::Result<(SocketAddr, ServerHandle)> {
    start(addr, api, cfg, false).await
}

/// Starts the WebSocket server (same methods, plus subscriptions); returns its bound address.
pub async fn start_ws<A: ChainApi>(addr: SocketAddr, api: Arc<A>, cfg: &RpcConfig) -> std::io::Result<(SocketAddr, ServerHandle)> {
    start(addr, api, cfg, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let mut b = Bucket::new(1_000.0, 50.0);
        assert!(b.take(50), "the burst at once");
        assert!(!b.take(5), "then nothing saved up");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(b.take(10), "about 20 tokens refilled in 20 ms");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!b.take(51), "never more than the burst, however long it waited");
        assert!(b.take(50));
    }

    #[test]
    fn namespaces_parse() {
        assert_eq!(Namespace::parse_list("cpc, admin").unwrap(), vec![Namespace::Cpc, Namespace::Admin]);
        assert!(Namespace::parse_list("cpc,eth").unwrap_err().contains("\"eth\""));
    }

    #[test]
    fn subscription_kinds() {
        assert_eq!(sub_kind("newHeads", None), Ok(SubKind::NewHeads));
        assert!(sub_kind("logs", None).is_err());
        assert!(sub_kind("blocks", None).unwrap_err().contains("unknown subscription"));
        let a = Address([1; 20]);
        assert_eq!(sub_kind("logs", Some(&serde_json::json!({"address": a.to_string()}))), Ok(SubKind::Logs(a)));
        let j = H256([7; 32]);
        assert_eq!(sub_kind("jobEvents", None), Ok(SubKind::JobEvents { job: None, by: None }));
        assert_eq!(
            sub_kind("jobEvents", Some(&serde_json::json!({"job_id": j.to_hex(), "address": a.to_string()}))),
            Ok(SubKind::JobEvents { job: Some(j), by: Some(a) })
        );
        for bad in [serde_json::json!({"job_id": "AB"}), serde_json::json!({"jobs": 1}), serde_json::json!([1]), serde_json::json!({"address": 5})] {
            assert!(sub_kind("jobEvents", Some(&bad)).unwrap_err().starts_with("jobEvents:"), "{bad}");
        }
    }

    /// The jobEvents filter passes an event only where every field it names matches.
    #[test]
    fn job_event_filters_match_job_and_address() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        let (j, k) = (H256([7; 32]), H256([8; 32]));
        let ev = |job_id, by| JobEventView {
            job_id,
            event: "claimed".into(),
            by,
            tx_hash: None,
            block_height: 3,
            block_hash: H256([9; 32]),
        };
        let block = ChainEvent::Block(std::sync::Arc::new(BlockEvent {
            hash: H256([9; 32]),
            header: cpc_primitives::Header {
                height: 3,
                prev_hash: H256::ZERO,
                timestamp: 1,
                chain_id: "c".into(),
                proposer_address: cpc_primitives::ValconsAddress::from_public_key(
                    &cpc_primitives::SecretKey::from_bytes(&[1; 32]).public_key(),
                ),
                round: 0,
                tx_root: H256::ZERO,
                state_root: H256::ZERO,
                compute_root: cpc_primitives::ComputeRoot(None),
                gas_used: 0,
                gas_limit: 1,
                share_target: cpc_primitives::ShareTarget::MAX,
            },
            txs: vec![],
            compute: None,
            jobs: vec![ev(j, a), ev(k, a), ev(j, b)],
        }));
        let count = |job, by| payloads(&SubKind::JobEvents { job, by }, &block).len();
        assert_eq!(count(None, None), 3);
        assert_eq!(count(Some(j), None), 2);
        assert_eq!(count(None, Some(a)), 2);
        assert_eq!(count(Some(j), Some(b)), 1);
        assert_eq!(count(Some(k), Some(b)), 0);
        // Other subscriptions never carry job events.
        assert_eq!(payloads(&SubKind::PendingTxs, &block).len(), 0);
    }

    #[test]
    fn rewards_sum_the_delegations_pending_rewards() {
        let d = |v: u8, pending: u128| DelegationView {
            validator: Address([v; 20]),
            shares: 5,
            tokens: 5,
            pending_rewards: pending,
            unbonding_entries: 0,
        };
        let r = RewardsView::of(&[d(1, 7), d(2, 0), d(3, u128::MAX)]);
        assert_eq!(r.total, u128::MAX, "saturates instead of overflowing");
        assert_eq!(r.by_validator.len(), 3);
        assert_eq!(r.by_validator[0], RewardView { validator: Address([1; 20]), amount: 7 });
        let v = serde_json::to_value(RewardsView::of(&[d(1, 7), d(2, 10)])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"total": "17", "by_validator": [
                {"validator": Address([1; 20]).to_string(), "amount": "7"},
                {"validator": Address([2; 20]).to_string(), "amount": "10"},
            ]})
        );
        assert_eq!(RewardsView::of(&[]), RewardsView { total: 0, by_validator: vec![] });
    }
}
