//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use cpc_wallet::parse_duration_ms;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "cpcd", version, about = "cpc full node with embedded Proof-of-Compute validation and mining")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a chain database from a genesis file.
    Init {
        #[arg(long)]
        genesis: PathBuf,
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Genesis helpers.
    #[command(subcommand)]
    Genesis(GenesisCmd),
    /// Solve or verify synthetic Proof-of-Compute tasks (for workers and auditors).
    #[command(subcommand)]
    Poc(PocCmd),
    /// CUDA devices.
    #[command(subcommand)]
    Gpu(GpuCmd),
    /// Print this node's peer id and P2P listen address (creates the node key if missing).
    NodeId {
        #[arg(long)]
        datadir: PathBuf,
    },
    /// Local multi-node networks.
    #[command(subcommand)]
    Testnet(TestnetCmd),
    /// Mine for a node over WebSocket from a separate process (CPU or GPU).
    Worker(crate::worker::WorkerArgs),
    /// Encrypted operator keystore: new, list, show, import, export, delete.
    Key(cpc_wallet::key::KeyArgs),
    /// Sign and send transactions with a key from the keystore (transfer, submit-result).
    Tx(cpc_wallet::tx::TxArgs),
    /// Read chain data from a node: balance, account, block, tx, receipt, results.
    Query(cpc_wallet::query::QueryArgs),
}

#[derive(Subcommand, Debug)]
pub enum TestnetCmd {
    /// Write a shared genesis and, per node, a datadir with keys and a cpcd.toml.
    Init {
        /// Number of validators (the first N nodes).
        #[arg(long)]
        validators: usize,
        /// Number of nodes (default: the number of validators); the rest are full nodes.
        #[arg(long)]
        nodes: Option<usize>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "chain-id", default_value = "cpc-localnet-1")]
        chain_id: String,
        /// Block time of the network.
        #[arg(long = "block-time", default_value = "1s", value_parser = parse_duration_ms)]
        block_time_ms: u64,
        /// First P2P port; node i uses base + i.
        #[arg(long = "p2p-base-port", default_value_t = 30400)]
        p2p_base_port: u16,
        /// First JSON-RPC port; node i uses base + i.
        #[arg(long = "http-base-port", default_value_t = 8600)]
        http_base_port: u16,
        /// Also fund the 10 public dev accounts (keys SHA-256("cpc-dev-" + i)), for local tests.
        #[arg(long = "fund-dev-accounts")]
        fund_dev_accounts: bool,
        /// The genesis share target t0 (16 hex digits; default ffffffffffffffff: every result is
        /// a share until the target moves).
        #[arg(long = "share-target-start", value_parser = parse_share_target)]
        share_target_start: Option<cpc_primitives::ShareTarget>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GenesisCmd {
    /// Print the built-in dev genesis as JSON.
    Dev,
}

#[derive(Subcommand, Debug)]
pub enum GpuCmd {
    /// List CUDA devices (says so when no CUDA driver is installed).
    List,
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

/// Running the node (the default command).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Single-validator development chain with the built-in dev genesis and 10 funded
    /// accounts whose keys are printed at start.
    #[arg(long)]
    pub dev: bool,
    /// Data directory (default under --dev: a temporary directory removed at exit).
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// Time between dev blocks: `1s`, `250ms`, … `0` = a block as soon as transactions wait.
    #[arg(long = "dev.block-time", default_value = "1s", value_parser = parse_duration_ms)]
    pub dev_block_time_ms: u64,
    /// JSON-RPC listen address.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// JSON-RPC port (0 picks a free port; the bound address is logged).
    #[arg(long = "http.port", default_value_t = 8545)]
    pub http_port: u16,
    /// API namespaces served over HTTP: cpc, net, txpool, poc, miner, admin (admin is opt-in).
    #[arg(long = "http.api", default_value = "cpc,net,txpool,poc,miner")]
    pub http_api: String,
    /// Origins allowed to call JSON-RPC from a browser (CORS), comma separated; `*` for any.
    #[arg(long = "http.corsdomain", value_delimiter = ',')]
    pub http_corsdomain: Vec<String>,
    /// Serve the WebSocket API (same methods plus subscriptions).
    #[arg(long)]
    pub ws: bool,
    /// WebSocket listen address.
    #[arg(long = "ws.addr", default_value = "127.0.0.1")]
    pub ws_addr: IpAddr,
    /// WebSocket port (default 8546; 0 picks a free port). Giving it turns on --ws.
    #[arg(long = "ws.port")]
    pub ws_port: Option<u16>,
    /// API namespaces served over WebSocket.
    #[arg(long = "ws.api", default_value = "cpc,net,txpool,poc,miner")]
    pub ws_api: String,
    /// Largest JSON-RPC request body, bytes.
    #[arg(long = "rpc.max-request-bytes", default_value_t = cpc_rpc::MAX_REQUEST_BODY_BYTES)]
    pub rpc_max_request_bytes: u32,
    /// Most calls in one batch request.
    #[arg(long = "rpc.max-batch", default_value_t = cpc_rpc::MAX_BATCH_LEN)]
    pub rpc_max_batch: u32,
    /// Most concurrent connections per server (HTTP and WebSocket each).
    #[arg(long = "rpc.max-connections", default_value_t = cpc_rpc::MAX_CONNECTIONS)]
    pub rpc_max_connections: u32,
    /// Mine: solve synthetic tasks of every new tip and submit the results.
    #[arg(long)]
    pub mine: bool,
    /// GPUs to mine on: `0`, `0,1` or `all` (CUDA).
    #[arg(long)]
    pub gpu: Option<String>,
    /// CPU mining threads (default: all cores when no GPU is given, else 0).
    #[arg(long = "cpu-threads")]
    pub cpu_threads: Option<usize>,
    /// Most shares the miner submits per tip (default: the chain's
    /// max_synthetic_results_per_block M; more could not be paid).
    #[arg(long = "miner.results-per-tip")]
    pub results_per_tip: Option<u64>,
    /// Pause a mining GPU that reaches this temperature (°C, read through NVML) until it is
    /// 5 °C cooler; logged and shown in miner_status and metrics.
    #[arg(long = "gpu.temp-limit", value_name = "CELSIUS")]
    pub gpu_temp_limit: Option<u32>,
    /// Most bytes of transactions (canonical JSON) the pool holds; cheaper ones are evicted
    /// first when it is full.
    #[arg(long = "txpool.max-bytes", default_value_t = cpc_mempool::DEFAULT_MAX_POOL_BYTES)]
    pub txpool_max_bytes: usize,
    /// Serve Prometheus metrics (`/metrics`) and health checks (`/health`, `/ready`) on
    /// ADDR:PORT, e.g. `127.0.0.1:9615` (off by default; port 0 picks a free port and logs it).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Log filter in RUST_LOG syntax (e.g. `info,cpcd=debug`).
    #[arg(long = "log.filter", default_value = "info")]
    pub log_filter: String,
    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long = "log.format", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Print the effective settings (flags, config file, defaults) as TOML and exit.
    #[arg(long = "dump-config")]
    pub dump_config: bool,
    /// Settings file (TOML; keys are the flag names, e.g. `http.port = 8545` or `[http] port = 8545`).
    /// Flags on the command line win. Default: `<datadir>/cpcd.toml` when it exists.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// P2P listen address.
    #[arg(long = "p2p.addr", default_value = "0.0.0.0")]
    pub p2p_addr: IpAddr,
    /// P2P port (default 30333; 0 picks a free port and logs it). Under --dev the network is
    /// off unless this is given.
    #[arg(long = "p2p.port")]
    pub p2p_port: Option<u16>,
    /// Peers to dial at start: multiaddrs with /p2p/<peer id>, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub bootnodes: Vec<String>,
    /// Most connected peers.
    #[arg(long = "max-peers", default_value_t = 50)]
    pub max_peers: usize,
    /// Deepest reorg this node applies; deeper forks are refused and logged.
    #[arg(long = "max-reorg-depth", default_value_t = cpc_engine::DEFAULT_MAX_REORG_DEPTH)]
    pub max_reorg_depth: u64,
    /// Propose blocks with this validator's key, unlocked from the keystore at start.
    #[arg(long)]
    pub validator: Option<String>,
    /// Mine with this account's key, unlocked from the keystore at start (default under
    /// --dev: dev account 0).
    #[arg(long)]
    pub miner: Option<String>,
    /// Keystore directory (default `<datadir>/keystore`).
    #[arg(long)]
    pub keystore: Option<PathBuf>,
    /// File whose first line is the keystore password (otherwise prompted).
    #[arg(long = "password-file")]
    pub password_file: Option<PathBuf>,
}

pub const DEFAULT_P2P_PORT: u16 = 30333;
pub const DEFAULT_WS_PORT: u16 = 8546;

fn parse_share_target(s: &str) -> Result<cpc_primitives::ShareTarget, String> {
    cpc_primitives::ShareTarget::from_hex(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
