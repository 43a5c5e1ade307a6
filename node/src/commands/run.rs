//! `cpcd` (no subcommand): run the node. Logging, the runtime and the signals live here; the
//! launcher (`crate::launcher`) builds the components and starts the services.

use anyhow::{Context, Result};
use clap::Args;
use cpc_wallet::parse_duration_ms;
use std::net::IpAddr;
use std::path::PathBuf;


pub fn init_logging(filter: &str, format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).context("--log.filter")?;
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    if format == "json" {
        b.json().init();
    } else {
        b.with_ansi(std::io::stderr().is_terminal()).init();
    }
    Ok(())
}

pub fn run(args: RunArgs) -> Result<()> {
    init_logging(&args.log_filter, &args.log_format)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("cpcd-rt").build()?;
    rt.block_on(crate::launcher::run_async(args))
}

pub async fn wait_for_signal() {
    StopSignals::install().expect("installing the SIGTERM and SIGINT handlers").wait().await
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment this is made: the node makes it first
/// thing, so a stop asked for while it is still opening the database or starting services
/// (before it waits for one) is a clean shutdown once it is up, not the default action of the
/// signal killing it mid-start.
pub struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// Returns when either signal came (also one that came before this was called).
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
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
    /// Most bytes of transactions (canonical JSON) the pool holds; cheaper ones are evicted
    /// first when it is full.
    #[arg(long = "txpool.max-bytes", default_value_t = cpc_mempool::DEFAULT_MAX_POOL_BYTES)]
    pub txpool_max_bytes: usize,
    /// Build no block while the datadir's disk has less free space than this, in MiB (0: no
    /// floor). Production pauses with one logged error (and `/ready` says why) and resumes by
    /// itself once there is space; nothing committed is touched.
    #[arg(long = "datadir.min-free-mb", default_value_t = cpc_engine::DEFAULT_MIN_FREE_MIB)]
    pub min_free_disk_mib: u64,
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
    /// Propose blocks with this validator's key, unlocked from the keystore at start.
    #[arg(long)]
    pub validator: Option<String>,
    /// Keystore directory (default `<datadir>/keystore`).
    #[arg(long)]
    pub keystore: Option<PathBuf>,
    /// File whose first line is the keystore password (otherwise prompted).
    #[arg(long = "password-file")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub rpc: RpcFlags,
    #[command(flatten)]
    pub p2p: P2pFlags,
    #[command(flatten)]
    pub mining: MiningFlags,
    #[command(flatten)]
    pub bft: BftFlags,
}

/// BFT consensus (Malachite): every validator of a network decides blocks with the others
/// (docs/CONSENSUS.md). A full node follows by commit certificates and needs none of this.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "BFT consensus")]
pub struct BftFlags {
    /// Port of the consensus network (Malachite's libp2p, TCP on --p2p.addr; 0 picks a free
    /// port). Validators only.
    #[arg(long = "bft.port", default_value_t = DEFAULT_BFT_PORT)]
    pub port: u16,
    /// The other validators' consensus addresses, e.g. `/ip4/10.0.0.2/tcp/26656`, comma separated.
    #[arg(long = "bft.peers", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Propose timeout of round 0 (grows by half of it per round): it must cover building and
    /// checking the heaviest block.
    #[arg(long = "bft.propose-timeout", default_value = "3s", value_parser = parse_duration_ms)]
    pub propose_timeout_ms: u64,
    /// Test only: act as a Byzantine validator that signs a second proposal and prevote
    /// whenever it proposes (tests/tests/bft.rs checks that honest validators keep the
    /// evidence and never fork).
    #[arg(long = "bft.test-equivocate", hide = true)]
    pub test_equivocate: bool,
}

pub const DEFAULT_P2P_PORT: u16 = 30333;
pub const DEFAULT_BFT_PORT: u16 = 26656;
pub const DEFAULT_WS_PORT: u16 = 8546;

/// The JSON-RPC and WebSocket servers.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "JSON-RPC")]
pub struct RpcFlags {
    /// JSON-RPC listen address.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// JSON-RPC port (0 picks a free port; the bound address is logged).
    #[arg(long = "http.port", default_value_t = 8545)]
    pub http_port: u16,
    /// API namespaces served over HTTP: cpc, net, txpool, poc, miner, admin (admin is opt-in).
    #[arg(long = "http.api", default_value = "cpc,net,txpool,poc,miner,job")]
    pub http_api: String,
    /// Origins allowed to call JSON-RPC from a browser (CORS), comma separated; `*` for any.
    #[arg(long = "http.corsdomain", value_delimiter = ',')]
    pub http_corsdomain: Vec<String>,
    /// Host names an HTTP request's `Host` header may carry besides IP addresses, comma
    /// separated (`*`: any): refuses DNS rebinding (a web page whose name resolves to this
    /// node). Add the name remote clients reach the node by.
    #[arg(long = "http.vhosts", value_delimiter = ',', default_value = "localhost")]
    pub http_vhosts: Vec<String>,
    /// Hosts a browser page may have to open a WebSocket to this node (its `Origin`), besides
    /// localhost, loopback and the node's own addresses, comma separated (`*`: any).
    #[arg(long = "ws.origins", value_delimiter = ',')]
    pub ws_origins: Vec<String>,
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
    #[arg(long = "ws.api", default_value = "cpc,net,txpool,poc,miner,job")]
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
    /// Calls one connection (HTTP keep-alive or WebSocket) may make per second, sustained,
    /// with bursts of two full batches; over it a call is refused with -32005. `admin_` calls
    /// are not counted. 0: no limit.
    #[arg(long = "rpc.calls-per-sec", default_value_t = cpc_rpc::CALLS_PER_SEC)]
    pub rpc_calls_per_sec: u32,
    /// Serve the built-in explorer at `GET /` of the JSON-RPC port (JSON-RPC stays POST):
    /// `--explorer` or `--explorer=true` to turn it on, `--explorer=false` off. Default: on
    /// under --dev, off otherwise. It uses only the public API (and subscribes to `newHeads`
    /// when --ws is on; else it polls).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub explorer: Option<bool>,
}

/// The peer-to-peer network.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "P2P")]
pub struct P2pFlags {
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
}

/// The in-process miner.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Mining")]
pub struct MiningFlags {
    /// Mine: solve synthetic tasks of every new tip and submit the results.
    #[arg(long)]
    pub mine: bool,
    #[command(flatten)]
    pub devices: DeviceFlags,
    /// Mine with this account's key, unlocked from the keystore at start (default under
    /// --dev: dev account 0).
    #[arg(long)]
    pub miner: Option<String>,
    /// Also work on the task market (with --mine): claim open jobs the miner's account can
    /// bond, compute them on the CPU and submit; synthetic mining goes on beside them.
    #[arg(long, requires = "mine")]
    pub jobs: bool,
}

/// The mining devices and their limits (`cpcd --mine` and `cpcd worker` alike).
#[derive(Args, Debug, Clone)]
pub struct DeviceFlags {
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
}
