//! `cpcd worker`: mining for a node from another process (cpc-miner's `remote` module does
//! the work; this file is the command and its flags).

use anyhow::{bail, Context, Result};
use clap::Args;
use cpc_primitives::Address;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The node's WebSocket endpoint, or several, comma separated: the first that answers is
    /// used, the next on loss, and an earlier one again once it is back.
    #[arg(long, default_value = "ws://127.0.0.1:8546")]
    pub node: String,
    /// The worker's account (its key must be in the keystore).
    #[arg(long)]
    pub miner: String,
    /// Mine on the CPU (all cores unless --cpu-threads).
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub devices: crate::commands::run::DeviceFlags,
    /// Keystore directory (or `--datadir DIR` for `DIR/keystore`).
    #[arg(long)]
    pub keystore: Option<PathBuf>,
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// File whose first line is the keystore password (otherwise prompted).
    #[arg(long = "password-file")]
    pub password_file: Option<PathBuf>,
    /// Also work on the task market: claim open jobs this account can bond, compute them on the
    /// CPU and submit (synthetic mining goes on beside them).
    #[arg(long)]
    pub jobs: bool,
    /// Log filter in RUST_LOG syntax.
    #[arg(long = "log.filter", default_value = "info")]
    pub log_filter: String,
}

pub fn run(args: WorkerArgs) -> Result<()> {
    crate::commands::run::init_logging(&args.log_filter, "text")?;
    let addr: Address = args.miner.parse().context("--miner")?;
    let urls: Vec<String> = args.node.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
    if urls.is_empty() {
        bail!("--node: expected one or more WebSocket URLs, comma separated");
    }
    let dir = match (&args.keystore, &args.datadir) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => cpc_wallet::keystore::default_dir(d),
        (None, None) => bail!("give --keystore DIR or --datadir DIR for the miner's key"),
    };
    let password = cpc_wallet::keystore::read_password(args.password_file.as_deref(), &format!("Password for {addr}: "))?;
    let key = cpc_wallet::keystore::unlock(&dir, &addr, &password).with_context(|| format!("unlocking {addr}"))?;
    let gpus = match &args.devices.gpu {
        Some(spec) => cpc_miner::parse_gpus(spec)?,
        None => vec![],
    };
    let cpu_threads = match (args.devices.cpu_threads, args.cpu || gpus.is_empty()) {
        (Some(n), _) => n,
        (None, true) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        (None, false) => 0,
    };
    if cpu_threads == 0 && gpus.is_empty() {
        bail!("nothing would mine: give --cpu, --cpu-threads N or --gpu");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let spec = cpc_miner::remote::RemoteSpec {
        cpu_threads,
        gpus,
        results_per_tip: args.devices.results_per_tip,
        gpu_temp_limit: args.devices.gpu_temp_limit,
        jobs: args.jobs,
    };
    rt.block_on(cpc_miner::remote::mine_remote(urls, addr, key, spec, crate::commands::run::wait_for_signal()))
}
