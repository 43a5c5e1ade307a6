//! `cpcd` (run) and `cpcd init`.

use crate::api::Api;
use crate::cli::RunArgs;
use crate::node::Node;
use anyhow::{bail, Context, Result};
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::{format_cpc, Address};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn init_logging(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).context("--log.filter")?;
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    Ok(())
}

/// `cpcd init --genesis FILE --datadir DIR`
pub fn init(genesis: &Path, datadir: &Path) -> Result<()> {
    let bytes = std::fs::read(genesis).with_context(|| format!("reading {}", genesis.display()))?;
    let g = Genesis::from_json(&bytes).with_context(|| format!("genesis file {}", genesis.display()))?;
    let node = Node::open(datadir, Some(g), None)?;
    let head = node.head();
    println!("initialized chain {:?} in {} (genesis {})", node.params.chain_id, datadir.display(), head.hash);
    Ok(())
}

fn print_dev_accounts(g: &Genesis) {
    let keys = dev_keys();
    println!();
    println!("cpcd dev chain {:?} — these keys are public: never use them elsewhere", g.chain_id);
    println!();
    println!("Available accounts");
    println!("==================");
    for (i, (k, a)) in keys.iter().zip(&g.accounts).enumerate() {
        let role = if i == 0 { "  (dev validator)" } else { "" };
        println!("({i}) {} ({}){role}", Address::from_public_key(&k.public_key()), format_cpc(a.balance));
    }
    println!();
    println!("Private keys (SHA-256(\"cpc-dev-\" + i))");
    println!("==================");
    for (i, k) in keys.iter().enumerate() {
        println!("({i}) {}", k.to_hex());
    }
    println!();
}

pub fn run(args: RunArgs) -> Result<()> {
    init_logging(&args.log_filter)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("cpcd-rt").build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: RunArgs) -> Result<()> {
    // Under --dev without --datadir the chain lives in a temporary directory, removed at exit.
    let _tmp;
    let datadir = match (&args.datadir, args.dev) {
        (Some(d), _) => d.clone(),
        (None, true) => {
            let t = tempfile::Builder::new().prefix("cpcd-dev-").tempdir()?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
        (None, false) => bail!("--datadir is required without --dev"),
    };
    let (genesis, signer) = if args.dev {
        (Some(Genesis::dev()), Some(dev_keys().remove(0)))
    } else {
        (None, None)
    };
    let node = tokio::task::block_in_place(|| Node::open(&datadir, genesis, signer))?;
    let head = node.head();
    if args.dev {
        print_dev_accounts(&node.genesis);
    }
    tracing::info!(datadir = %datadir.display(), chain_id = %node.params.chain_id, height = head.height, hash = %head.hash, "chain opened");

    let addr = SocketAddr::new(args.http_addr, args.http_port);
    let (bound, rpc_handle) = cpc_rpc::start_http(addr, Arc::new(Api(node.clone())))
        .await
        .with_context(|| format!("binding JSON-RPC on {addr}"))?;
    tracing::info!("JSON-RPC listening on http://{bound}");

    let miner = if args.mine {
        let Some(key) = node.signer.clone() else {
            bail!("--mine needs a miner key: under --dev the miner is dev account 0 (keystore support comes with the operator tools)");
        };
        let gpus = match &args.gpu {
            Some(spec) => crate::miner::parse_gpus(spec)?,
            None => vec![],
        };
        let cpu_threads = args.cpu_threads.unwrap_or(if gpus.is_empty() {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            0
        });
        if cpu_threads == 0 && gpus.is_empty() {
            bail!("--mine with --cpu-threads 0 and no --gpu: nothing would mine");
        }
        let cfg = crate::miner::MinerConfig { cpu_threads, gpus, results_per_tip: args.results_per_tip };
        Some(tokio::task::block_in_place(|| crate::miner::Miner::start(node.clone(), key, cfg))?)
    } else {
        None
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let producer = if node.signer.is_some() {
        Some(tokio::spawn(produce_blocks(node.clone(), args.dev_block_time_ms, stop_rx.clone())))
    } else {
        tracing::warn!("no validator key: this node serves JSON-RPC but produces no blocks (use --dev)");
        None
    };

    wait_for_signal().await;
    tracing::info!("shutting down: finishing the block in progress");
    drop(miner);
    let _ = stop_tx.send(true);
    if let Some(p) = producer {
        let _ = p.await;
    }
    let _ = rpc_handle.stop();
    rpc_handle.stopped().await;
    tokio::task::block_in_place(|| node.store.flush()).context("flushing the database")?;
    tracing::info!(height = node.head().height, "stopped cleanly");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Block production: every `block_time_ms`, or (0) as soon as transactions wait.
async fn produce_blocks(node: Arc<Node>, block_time_ms: u64, mut stop: watch::Receiver<bool>) {
    let produce = |node: Arc<Node>| async move {
        match tokio::task::spawn_blocking(move || node.produce_block()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("block production failed: {e:#}"),
            Err(e) => tracing::error!("block production panicked: {e}"),
        }
    };
    if block_time_ms == 0 {
        loop {
            tokio::select! {
                _ = node.tx_arrived.notified() => {}
                _ = stop.changed() => return,
            }
            while !node.pool_is_empty() && !*stop.borrow() {
                produce(node.clone()).await;
            }
        }
    } else {
        let mut tick = tokio::time::interval(Duration::from_millis(block_time_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick fires at once
        loop {
            tokio::select! {
                _ = tick.tick() => produce(node.clone()).await,
                _ = stop.changed() => return,
            }
        }
    }
}
