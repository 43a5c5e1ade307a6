//! The JSON-RPC client of `cpcd tx` and `cpcd query`, and the flags naming the node.
//!
//! Errors name the method and the node: a call the node refuses shows its message and
//! JSON-RPC code (for `cpc_sendTransaction`: "the node rejected the transaction: …"), an
//! unreachable node says so, a slow one says how long it was given.

use anyhow::{anyhow, Context, Result};
use clap::Args;
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// Default JSON-RPC endpoint (the node's default `--http.addr`/`--http.port`).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8545";
/// How long one JSON-RPC request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The node to talk to and the output form (shared by `cpcd tx` and `cpcd query`).
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// JSON-RPC endpoint of the node.
    #[arg(long, global = true, env = "CPCD_NODE", value_name = "URL", default_value = DEFAULT_NODE)]
    pub node: String,
    /// Print the node's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// An HTTP JSON-RPC client of one node.
pub struct Rpc {
    client: HttpClient,
    url: String,
}

impl Rpc {
    /// A client of `url` (no request is made yet).
    pub fn new(url: &str) -> Result<Rpc> {
        let client = HttpClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .build(url)
            .map_err(|e| anyhow!("--node {url}: {e}"))?;
        Ok(Rpc { client, url: url.to_string() })
    }

    /// Calls `method` with positional `params` and decodes the result as `T`.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
        let mut p = ArrayParams::new();
        for v in params {
            p.insert(v).expect("a JSON value serializes");
        }
        self.client.request::<T, _>(method, p).await.map_err(|e| match e {
            ClientError::Call(e) if method == "cpc_sendTransaction" => {
                anyhow!("the node rejected the transaction: {} (JSON-RPC error {})", e.message(), e.code())
            }
            ClientError::Call(e) => anyhow!("{method}: {} (JSON-RPC error {})", e.message(), e.code()),
            ClientError::Transport(e) => anyhow!("cannot reach the node at {}: {e}", self.url),
            ClientError::RequestTimeout => {
                anyhow!("{method}: no answer from {} within {} s", self.url, REQUEST_TIMEOUT.as_secs())
            }
            e => anyhow!("{method} at {}: {e}", self.url),
        })
    }
}

/// The single-threaded runtime a wallet command runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}
