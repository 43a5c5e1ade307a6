//! `cpcd` (run), `cpcd init`, `cpcd node-id`.

use crate::api::Api;
use crate::cli::{RunArgs, DEFAULT_P2P_PORT};
use crate::node::Node;
use anyhow::{bail, Context, Result};
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::{format_cpc, now_millis, Address, SecretKey};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

/// `cpcd init --genesis FILE --datadir DIR`
pub fn init(genesis: &Path, datadir: &Path) -> Result<()> {
    let bytes = std::fs::read(genesis).with_context(|| format!("reading {}", genesis.display()))?;
    let g = Genesis::from_json(&bytes).with_context(|| format!("genesis file {}", genesis.display()))?;
    let node = Node::open(datadir, Some(g), None)?;
    let head = node.head();
    println!("initialized chain {:?} in {} (genesis {})", node.params.chain_id, datadir.display(), head.hash);
    Ok(())
}

/// `cpcd node-id --datadir DIR`
pub fn node_id(datadir: &Path) -> Result<()> {
    std::fs::create_dir_all(datadir)?;
    let key = cpc_network::load_or_create_node_key(datadir).context("node key")?;
    let id = cpc_network::PeerId::from(key.public());
    let port = crate::config::configured_p2p_port(datadir)?.unwrap_or(DEFAULT_P2P_PORT);
    println!("{id}");
    println!("/ip4/127.0.0.1/tcp/{port}/p2p/{id}");
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
    init_logging(&args.log_filter, &args.log_format)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("cpcd-rt").build()?;
    rt.block_on(run_async(args))
}

/// Unlocks `address` from the keystore (`what` names the role in messages).
fn unlock(args: &RunArgs, datadir: &Path, address: &str, what: &str) -> Result<SecretKey> {
    let addr: Address = address.parse().with_context(|| format!("--{what}"))?;
    let dir = args.keystore.clone().unwrap_or_else(|| cpc_wallet::keystore::default_dir(datadir));
    let password = cpc_wallet::keystore::read_password(args.password_file.as_deref(), &format!("Password for {what} {addr}: "))?;
    cpc_wallet::keystore::unlock(&dir, &addr, &password).with_context(|| format!("unlocking the {what} key {addr}"))
}

fn listen_multiaddr(ip: IpAddr, port: u16) -> cpc_network::Multiaddr {
    match ip {
        IpAddr::V4(a) => format!("/ip4/{a}/tcp/{port}"),
        IpAddr::V6(a) => format!("/ip6/{a}/tcp/{port}"),
    }
    .parse()
    .expect("a valid multiaddr")
}

async fn run_async(args: RunArgs) -> Result<()> {
    // Under --dev without --datadir the chain lives in a temporary directory, removed at exit.
    let _tmp;
    let datadir: PathBuf = match (&args.datadir, args.dev) {
        (Some(d), _) => d.clone(),
        (None, true) => {
            let t = tempfile::Builder::new().prefix("cpcd-dev-").tempdir()?;
            let p = t.path().to_path_buf();
            _tmp = t;
            p
        }
        (None, false) => bail!("--datadir is required without --dev"),
    };
    let signer = match (&args.validator, args.dev) {
        (Some(v), _) => Some(unlock(&args, &datadir, v, "validator")?),
        (None, true) => Some(dev_keys().remove(0)),
        (None, false) => None,
    };
    let genesis = if args.dev { Some(Genesis::dev()) } else { None };
    let mut node = tokio::task::block_in_place(|| Node::open(&datadir, genesis, signer.clone()))?;
    node.max_reorg_depth = args.max_reorg_depth;
    node.mempool = parking_lot::Mutex::new(cpc_mempool::Mempool::new(cpc_mempool::MempoolConfig {
        max_bytes: args.txpool_max_bytes,
        forger_cooldown_blocks: node.params.poc.window,
        ..Default::default()
    }));
    let node = Arc::new(node);
    if let Some(k) = &signer {
        if !node.validators.keys().contains(&k.public_key()) {
            bail!(
                "--validator {}: not in the genesis validator set of {:?}",
                Address::from_public_key(&k.public_key()),
                node.params.chain_id
            );
        }
    }
    let head = node.head();
    if args.dev {
        print_dev_accounts(&node.genesis);
    }
    tracing::info!(datadir = %datadir.display(), chain_id = %node.params.chain_id, height = head.height, hash = %head.hash, "chain opened");

    let (stop_tx, stop_rx) = watch::channel(false);

    // Peer-to-peer network (off under --dev unless a P2P port is given).
    let mut net_task = None;
    if !args.dev || args.p2p_port.is_some() {
        let keypair = cpc_network::load_or_create_node_key(&datadir).context("node key")?;
        let mut bootnodes = Vec::new();
        for b in args.bootnodes.iter().filter(|b| !b.trim().is_empty()) {
            bootnodes.push(b.trim().parse().with_context(|| format!("--bootnodes: {b:?} is not a multiaddr"))?);
        }
        let cfg = cpc_network::NetworkConfig {
            chain_id: node.params.chain_id.clone(),
            genesis_hash: node.genesis_hash,
            listen: listen_multiaddr(args.p2p_addr, args.p2p_port.unwrap_or(DEFAULT_P2P_PORT)),
            bootnodes,
            max_peers: args.max_peers,
            keypair,
        };
        let (handle, events) = cpc_network::start(cfg).await.context("starting the P2P network")?;
        for a in handle.listen_addrs() {
            tracing::info!("P2P listening on {a}");
        }
        let _ = node.net.set(handle.clone());
        net_task = Some(tokio::spawn(crate::net::run(node.clone(), handle, events, stop_rx.clone())));
    }

    // Prometheus metrics and health checks (docs/OPERATIONS.md, "Metrics"); bound before
    // JSON-RPC so that its address is logged first.
    node.metrics.set_rpc_methods(cpc_rpc::module(Arc::new(Api(node.clone())), &cpc_rpc::Namespace::ALL).method_names());
    if let Some(addr) = args.metrics {
        let (bound, listener) = crate::metrics::bind(addr).await.with_context(|| format!("binding --metrics on {addr}"))?;
        tracing::info!("metrics listening on http://{bound}");
        tokio::spawn(crate::metrics::serve(listener, node.clone(), args.dev, stop_rx.clone()));
    }

    let api = Arc::new(Api(node.clone()));
    let rpc_cfg = |apis: &str, flag: &str| -> Result<cpc_rpc::RpcConfig> {
        Ok(cpc_rpc::RpcConfig {
            apis: cpc_rpc::Namespace::parse_list(apis).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?,
            cors: args.http_corsdomain.clone(),
            max_request_bytes: args.rpc_max_request_bytes,
            max_batch: args.rpc_max_batch,
            max_connections: args.rpc_max_connections,
            observer: Some(node.metrics.clone()),
        })
    };
    let addr = SocketAddr::new(args.http_addr, args.http_port);
    let (bound, rpc_handle) = cpc_rpc::start_http(addr, api.clone(), &rpc_cfg(&args.http_api, "http.api")?)
        .await
        .with_context(|| format!("binding JSON-RPC on {addr}"))?;
    tracing::info!("JSON-RPC listening on http://{bound}");
    let mut ws_handle = None;
    if args.ws || args.ws_port.is_some() {
        let addr = SocketAddr::new(args.ws_addr, args.ws_port.unwrap_or(crate::cli::DEFAULT_WS_PORT));
        let (bound, h) = cpc_rpc::start_ws(addr, api.clone(), &rpc_cfg(&args.ws_api, "ws.api")?)
            .await
            .with_context(|| format!("binding the WebSocket API on {addr}"))?;
        tracing::info!("WebSocket listening on ws://{bound}");
        ws_handle = Some(h);
    }

    let miner = if args.mine {
        let key = match (&args.miner, args.dev) {
            (Some(m), _) => unlock(&args, &datadir, m, "miner")?,
            (None, true) => dev_keys().remove(0),
            (None, false) => bail!("--mine needs --miner ADDRESS (a key in the keystore)"),
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
        let cfg = crate::miner::MinerConfig {
            cpu_threads,
            gpus,
            max_shares_per_tip: args
                .results_per_tip
                .unwrap_or(node.params.poc.max_synthetic_results_per_block as u64),
            gpu_temp_limit: args.gpu_temp_limit,
        };
        let params = cpc_poc::SynthParams { n: node.params.poc.matrix_size, k: node.params.poc.challenges };
        let sink = Arc::new(crate::miner::LocalSink(node.clone()));
        let m = tokio::task::block_in_place(|| crate::miner::Miner::start(sink, key, cfg, params, node.subscribe_heads()))?;
        let _ = node.miner.set(m.handle());
        Some(m)
    } else {
        None
    };

    if let (Some(_), Some(_), Some(spec)) = (&args.metrics, &miner, &args.gpu) {
        crate::metrics::spawn_gpu_poller(node.metrics.clone(), crate::miner::parse_gpus(spec)?, stop_rx.clone());
    }

    let producer = match (&node.signer, args.dev) {
        (Some(_), true) => Some(tokio::spawn(produce_blocks(node.clone(), args.dev_block_time_ms, stop_rx.clone()))),
        (Some(k), false) => Some(tokio::spawn(propose_in_rounds(node.clone(), k.public_key(), stop_rx.clone()))),
        (None, _) => {
            tracing::info!("no validator key: running as a full node");
            None
        }
    };

    wait_for_signal().await;
    tracing::info!("shutting down: finishing the block in progress");
    drop(miner);
    let _ = stop_tx.send(true);
    if let Some(p) = producer {
        let _ = p.await;
    }
    if let Some(t) = net_task {
        let _ = t.await;
    }
    for h in std::iter::once(rpc_handle).chain(ws_handle) {
        let _ = h.stop();
        h.stopped().await;
    }
    // Wait for a block import in flight, then flush.
    tokio::task::block_in_place(|| {
        let _g = node.commit_lock.lock();
        node.store.flush()
    })
    .context("flushing the database")?;
    tracing::info!(height = node.head().height, "stopped cleanly");
    Ok(())
}

pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn produce(node: Arc<Node>, round: u32) {
    match tokio::task::spawn_blocking(move || node.produce_block(round)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!("block production failed: {e:#}"),
        Err(e) => tracing::error!("block production panicked: {e}"),
    }
}

/// Dev block production: every `block_time_ms`, or (0) as soon as transactions wait.
async fn produce_blocks(node: Arc<Node>, block_time_ms: u64, mut stop: watch::Receiver<bool>) {
    if block_time_ms == 0 {
        loop {
            tokio::select! {
                _ = node.tx_arrived.notified() => {}
                _ = stop.changed() => return,
            }
            while !node.pool_is_empty() && !*stop.borrow() {
                produce(node.clone(), 0).await;
            }
        }
    } else {
        let mut tick = tokio::time::interval(Duration::from_millis(block_time_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick fires at once
        loop {
            tokio::select! {
                _ = tick.tick() => produce(node.clone(), 0).await,
                _ = stop.changed() => return,
            }
        }
    }
}

/// The shortest round timeout: covers gossip latency between validators on different
/// machines even when the block time is short.
pub const MIN_ROUND_TIMEOUT_MS: u64 = 1000;

/// Length of round `r`'s window after its start: `base × (r + 1)` with
/// `base = max(2 × block time, MIN_ROUND_TIMEOUT_MS)` (docs/CONSENSUS.md).
pub fn round_timeout_ms(block_time_ms: u64, r: u64) -> u64 {
    (2 * block_time_ms).max(MIN_ROUND_TIMEOUT_MS).saturating_mul(r + 1)
}

/// When round `r` of the height after a parent with `parent_ts` starts: one block time after
/// the parent, plus the timeouts of the rounds before it.
pub fn round_start_ms(parent_ts: u64, block_time_ms: u64, r: u64) -> u64 {
    let base = round_timeout_ms(block_time_ms, 0);
    // Σ_{i<r} base·(i+1) = base·r(r+1)/2
    parent_ts.saturating_add(block_time_ms).saturating_add(base.saturating_mul(r * (r + 1) / 2))
}

/// Multi-validator block production: propose in our rounds when no block for the height
/// has arrived (docs/CONSENSUS.md, "Rounds").
async fn propose_in_rounds(node: Arc<Node>, me: cpc_primitives::PublicKey, mut stop: watch::Receiver<bool>) {
    let bt = node.params.block_time_ms;
    let mut heads = node.subscribe_heads();
    loop {
        let head = *heads.borrow_and_update();
        let h = head.height + 1;
        let now = now_millis();
        // Our next round whose window has not closed yet (our turn recurs every N rounds).
        let mut r = 0u64;
        let (round, start) = loop {
            let end = round_start_ms(head.timestamp, bt, r + 1);
            if node.validators.proposer(h, r as u32) == &me && now < end {
                break (r as u32, round_start_ms(head.timestamp, bt, r));
            }
            r += 1;
        };
        let wait = Duration::from_millis(start.saturating_sub(now));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = heads.changed() => continue,
            _ = stop.changed() => return,
        }
        if node.head().hash != head.hash {
            continue;
        }
        let lonely = node.validators.len() > 1 && node.net.get().is_none_or(|n| n.peer_count() == 0);
        if node.is_syncing() || lonely {
            // Behind a peer, or alone in a multi-validator network: proposing would only fork.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        produce(node.clone(), round).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_start_after_the_block_time_and_grow() {
        // block time 1 s: base timeout 2 s; rounds start at +1 s, +3 s, +7 s, +13 s
        assert_eq!(round_start_ms(0, 1000, 0), 1000);
        assert_eq!(round_start_ms(0, 1000, 1), 3000);
        assert_eq!(round_start_ms(0, 1000, 2), 7000);
        assert_eq!(round_start_ms(0, 1000, 3), 13_000);
        // a short block time still gets the minimum timeout
        assert_eq!(round_timeout_ms(100, 0), MIN_ROUND_TIMEOUT_MS);
        assert_eq!(round_start_ms(0, 100, 1), 1100);
    }
}
