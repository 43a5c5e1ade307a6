//! cpc JSON-RPC: a jsonrpsee server over the [`ChainApi`] trait, which the node implements.
//! This crate decodes and encodes; it holds no chain logic.

pub mod types;

use cpc_primitives::{Address, Receipt, H256};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
pub use types::*;

/// Largest request body: a batch of ~20 000 transfers.
pub const MAX_REQUEST_BODY_BYTES: u32 = 16 << 20;
/// Largest response body: a full block with every transaction object is ~2 MB; leaves room.
pub const MAX_RESPONSE_BODY_BYTES: u32 = 64 << 20;
/// Concurrent connections accepted.
pub const MAX_CONNECTIONS: u32 = 512;
/// Calls in one batch request.
pub const MAX_BATCH_LEN: u32 = 10_000;

/// JSON-RPC error codes used beyond the standard ones (-32700 parse, -32600 invalid request,
/// -32601 method not found, -32602 invalid params, -32603 internal).
pub mod codes {
    /// A transaction was rejected; the message names the rule.
    pub const TX_REJECTED: i32 = -32000;
    /// Internal storage failure.
    pub const INTERNAL: i32 = -32603;
    /// Invalid parameters.
    pub const INVALID_PARAMS: i32 = -32602;
}

/// An error the backend reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    InvalidParams(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ApiError> for ErrorObjectOwned {
    fn from(e: ApiError) -> Self {
        let code = match &e {
            ApiError::Rejected(_) => codes::TX_REJECTED,
            ApiError::InvalidParams(_) => codes::INVALID_PARAMS,
            ApiError::Internal(_) => codes::INTERNAL,
        };
        ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
    }
}

/// What the node provides to the API.
pub trait ChainApi: Send + Sync + 'static {
    fn chain_id(&self) -> String;
    fn head_height(&self) -> u64;
    fn block_by_height(&self, height: u64, full: bool) -> Result<Option<BlockView>, ApiError>;
    fn block_by_hash(&self, hash: &H256, full: bool) -> Result<Option<BlockView>, ApiError>;
    fn account(&self, addr: &Address) -> Result<AccountView, ApiError>;
    /// Parses, checks and admits a transaction; returns its hash.
    fn send_transaction(&self, tx: Value) -> Result<H256, ApiError>;
    fn transaction(&self, hash: &H256) -> Result<Option<TxView>, ApiError>;
    fn receipt(&self, hash: &H256) -> Result<Option<Receipt>, ApiError>;
    fn compute_results(&self, height: u64) -> Result<Option<ComputeResultsView>, ApiError>;
    /// Sync progress, `None` when following the tip.
    fn syncing(&self) -> Option<SyncStatus>;
    fn peer_count(&self) -> usize;
    fn peers(&self) -> impl std::future::Future<Output = Vec<PeerView>> + Send;
    fn node_info(&self) -> NodeInfo;
    /// Test and operations hook: cut this node off the network (true) or reconnect (false).
    fn set_isolated(&self, isolated: bool) -> Result<(), ApiError>;
    /// Test and operations hook: keep only these peers (`None` lifts the partition).
    fn set_partition(&self, peers: Option<Vec<String>>) -> Result<(), ApiError>;
}

fn parse_address(s: &str) -> RpcResult<Address> {
    s.parse().map_err(|e: cpc_primitives::AddressError| ApiError::InvalidParams(format!("address: {e}")).into())
}

fn parse_hash(s: &str) -> RpcResult<H256> {
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
    #[method(name = "getTransactionByHash")]
    fn get_transaction_by_hash(&self, hash: String) -> RpcResult<Option<TxView>>;
    #[method(name = "getTransactionReceipt")]
    fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<Receipt>>;
    #[method(name = "getComputeResults")]
    fn get_compute_results(&self, block: BlockId) -> RpcResult<Option<ComputeResultsView>>;
    /// `false`, or `{starting_block, current_block, highest_block}` while catching up.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<serde_json::Value>;
}

/// The `net` namespace.
#[rpc(server, namespace = "net")]
pub trait Net {
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<usize>;
    #[method(name = "peers")]
    async fn peers(&self) -> RpcResult<Vec<PeerView>>;
}

/// The `admin` namespace (bind JSON-RPC to localhost: it can cut the node off the network).
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

/// Serves [`CpcServer`] over a [`ChainApi`].
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

    fn height_of(&self, b: BlockId) -> u64 {
        match b {
            BlockId::Number(n) => n,
            BlockId::Latest => self.api.head_height(),
            BlockId::Earliest => 0,
        }
    }
}

impl<A: ChainApi> CpcServer for CpcRpc<A> {
    fn chain_id(&self) -> RpcResult<String> {
        Ok(self.api.chain_id())
    }
    fn block_number(&self) -> RpcResult<u64> {
        Ok(self.api.head_height())
    }
    fn get_block_by_number(&self, block: BlockId, full: Option<bool>) -> RpcResult<Option<BlockView>> {
        Ok(self.api.block_by_height(self.height_of(block), full.unwrap_or(false))?)
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
    fn get_transaction_by_hash(&self, hash: String) -> RpcResult<Option<TxView>> {
        Ok(self.api.transaction(&parse_hash(&hash)?)?)
    }
    fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<Receipt>> {
        Ok(self.api.receipt(&parse_hash(&hash)?)?)
    }
    fn get_compute_results(&self, block: BlockId) -> RpcResult<Option<ComputeResultsView>> {
        Ok(self.api.compute_results(self.height_of(block))?)
    }
    fn syncing(&self) -> RpcResult<serde_json::Value> {
        Ok(match self.api.syncing() {
            Some(s) => serde_json::to_value(s).expect("serializes"),
            None => serde_json::Value::Bool(false),
        })
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

/// Starts the HTTP (and WebSocket, same port) JSON-RPC server; returns its bound address.
pub async fn start_http<A: ChainApi>(addr: SocketAddr, api: Arc<A>) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let cfg = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BODY_BYTES)
        .max_response_body_size(MAX_RESPONSE_BODY_BYTES)
        .max_connections(MAX_CONNECTIONS)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH_LEN))
        .build();
    let server = Server::builder().set_config(cfg).build(addr).await?;
    let local = server.local_addr()?;
    let rpc = CpcRpc::new(api);
    let mut module = CpcServer::into_rpc(rpc.clone());
    module.merge(NetServer::into_rpc(rpc.clone())).expect("distinct method names");
    module.merge(AdminServer::into_rpc(rpc)).expect("distinct method names");
    let handle = server.start(module);
    Ok((local, handle))
}
