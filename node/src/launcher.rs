//! The launcher: builds the components of a running node in order — the engine, the P2P
//! network, metrics, JSON-RPC, the miner, the producer — starts every long-running service
//! through the supervisor, and stops them in reverse when a signal or a failure comes.

use crate::commands::{RunArgs, DEFAULT_P2P_PORT};
use crate::node::Node;
use crate::services::rpc::Api;
use crate::supervisor::Supervisor;
use anyhow::{bail, Context, Result};
use cpc_engine::{Engine, EngineConfig, MiningMode};
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::{format_cpc, Address, SecretKey};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// Runs the node until a signal or a critical failure; every step below is one component.
pub async fn run_async(args: RunArgs) -> Result<()> {
    // First: a SIGTERM from here on stops the node cleanly, however far the start has got.
    let stop = crate::commands::run::StopSignals::install().context("installing the SIGTERM and SIGINT handlers")?;
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
    let metrics = Arc::new(crate::services::metrics::Metrics::new());
    let engine = open_engine(&args, &datadir, &metrics)?;
    let node = Arc::new(Node::new(engine.clone(), metrics));
    // Every validator of a network decides blocks by BFT consensus; --dev produces alone (one
    // validator: its own precommit is the quorum); a full node follows by certificates.
    let bft = !args.dev && engine.signer().is_some();
    node.bft.store(bft, std::sync::atomic::Ordering::Relaxed);
    // Every long-running task starts through the supervisor: a panic or an error in one stops
    // the node cleanly (below) instead of leaving it running without that service.
    let mut sup = crate::supervisor::Supervisor::new();
    if !args.dev || args.p2p.p2p_port.is_some() {
        start_p2p(&args, &datadir, &node, &mut sup).await?; // off under --dev without a P2P port
    }
    // Metrics and health first, so that its address is logged before JSON-RPC's.
    start_metrics(&args, &node, &mut sup).await?;
    let (api, servers) = start_rpc(&args, &node).await?;
    let miner = if args.mining.mine { Some(start_miner(&args, &datadir, &node, &mut sup)?) } else { None };
    start_producer(&args, &datadir, &node, &mut sup);

    let failure = tokio::select! {
        _ = stop.wait() => None,
        f = sup.failed() => Some(f),
    };
    match &failure {
        None => tracing::info!("shutting down: finishing the block in progress"),
        Some(f) => tracing::error!("{f}: stopping the node"),
    }
    // In reverse: the miner, every supervised task, the RPC servers, then the database.
    drop(miner);
    sup.shutdown(SHUTDOWN_GRACE).await;
    for h in servers {
        let _ = h.stop();
        h.stopped().await;
    }
    drop(api);
    let height = engine.head().height;
    drop(node);
    if engine.database_failed() {
        // RocksDB takes no more writes after a failed one, and flushing or closing it then
        // aborts (its assertions): leave it as a crash would. Every committed block is synced.
        tracing::error!(height, "the database failed a write: stopping without flushing or closing it");
        std::mem::forget(engine);
    } else {
        tokio::task::block_in_place(|| engine.flush()).context("flushing the database")?;
        // Every service is gone: this is the last reference, and dropping it closes the database.
        match Arc::try_unwrap(engine) {
            Ok(e) => {
                drop(e);
                tracing::info!("database closed");
            }
            Err(e) => tracing::warn!(references = Arc::strong_count(&e), "database still referenced at exit (flushed)"),
        }
    }
    match failure.or_else(|| sup.failure()) {
        None => {
            tracing::info!(height, "stopped cleanly");
            Ok(())
        }
        Some(f) => {
            tracing::info!(height, "stopped after a failure; every committed block is on disk");
            Err(anyhow::anyhow!("{f}"))
        }
    }
}

/// The chain owner, first: every service is built around it.
fn open_engine(args: &RunArgs, datadir: &Path, metrics: &crate::services::metrics::Metrics) -> Result<Arc<Engine>> {
    let signer = match (&args.validator, args.dev) {
        (Some(v), _) => Some(unlock(args, datadir, v, "validator")?),
        (None, true) => Some(dev_keys().remove(0)),
        (None, false) => None,
    };
    let genesis = if args.dev { Some(Genesis::dev()) } else { None };
    let cfg = EngineConfig {
        signer: signer.clone(),
        pool: cpc_mempool::MempoolConfig { max_bytes: args.txpool_max_bytes, ..Default::default() },
        min_free_disk_mib: args.min_free_disk_mib,
    };
    let engine = tokio::task::block_in_place(|| Engine::open(datadir, genesis, cfg, metrics.registry()))?;
    // A forger's cooldown lasts one task window (its forged work would be stale by then).
    engine.mempool().set_forger_cooldown(engine.params().poc.window);
    if let Some(k) = &signer
        && !engine.next_validators().keys().contains(&k.public_key())
    {
        // Not (yet) active: consensus runs without this node's vote until its stake puts it
        // in the active set, and then it votes and proposes without a restart.
        tracing::warn!(
            validator = %Address::from_public_key(&k.public_key()),
            chain_id = %engine.params().chain_id,
            "--validator key is not in the active set: following the chain until its stake makes it active"
        );
    }
    let head = engine.head();
    if args.dev {
        print_dev_accounts(engine.genesis());
    }
    tracing::info!(datadir = %datadir.display(), chain_id = %engine.params().chain_id, height = head.height, hash = %head.hash, "chain opened");
    Ok(Arc::new(engine))
}

/// The peer-to-peer network and its glue (gossip verdicts, sync, serving peers).
async fn start_p2p(args: &RunArgs, datadir: &Path, node: &Arc<Node>, sup: &mut Supervisor) -> Result<()> {
    let engine = &node.engine;
    let keypair = cpc_network::load_or_create_node_key(datadir).context("node key")?;
    let mut bootnodes = Vec::new();
    for b in args.p2p.bootnodes.iter().filter(|b| !b.trim().is_empty()) {
        bootnodes.push(b.trim().parse().with_context(|| format!("--bootnodes: {b:?} is not a multiaddr"))?);
    }
    let cfg = cpc_network::NetworkConfig {
        chain_id: engine.params().chain_id.clone(),
        genesis_hash: engine.genesis_hash(),
        listen: listen_multiaddr(args.p2p.p2p_addr, args.p2p.p2p_port.unwrap_or(DEFAULT_P2P_PORT)),
        bootnodes,
        max_peers: args.p2p.max_peers,
        keypair,
    };
    let (handle, events) = cpc_network::start(cfg).await.context("starting the P2P network")?;
    for a in handle.listen_addrs() {
        tracing::info!("P2P listening on {a}");
    }
    let _ = node.net.set(handle.clone());
    // Every block this node decides goes out by gossip with its certificate (full nodes follow).
    let gossip = handle.clone();
    engine.on_decided(move |b, cert| gossip.publish_block(cpc_primitives::Block::encode_certified(&b.to_json_bytes(), cert)));
    // So does evidence of equivocation that this node's consensus found.
    let gossip = handle.clone();
    engine.on_evidence(move |e| gossip.publish_evidence(e.to_json_bytes()));
    sup.spawn_critical("p2p", crate::services::p2p::run(node.clone(), handle, events, sup.stop_signal()));
    Ok(())
}

/// Prometheus metrics and health checks (docs/OPERATIONS.md, "Metrics"), with `--metrics`.
async fn start_metrics(args: &RunArgs, node: &Arc<Node>, sup: &mut Supervisor) -> Result<()> {
    node.metrics.rpc.set_methods(cpc_rpc::module(Arc::new(Api(node.clone())), &cpc_rpc::Namespace::ALL).method_names());
    let Some(addr) = args.metrics else { return Ok(()) };
    let (bound, listener) = crate::services::metrics::bind(addr).await.with_context(|| format!("binding --metrics on {addr}"))?;
    tracing::info!("metrics listening on http://{bound}");
    let (n, stop, dev) = (node.clone(), sup.stop_signal(), args.dev);
    sup.spawn_critical("metrics", async move {
        crate::services::metrics::serve(listener, n, dev, stop).await;
        Ok(())
    });
    Ok(())
}

/// The JSON-RPC server, and the WebSocket one with `--ws`.
async fn start_rpc(args: &RunArgs, node: &Arc<Node>) -> Result<(Arc<Api>, Vec<jsonrpsee::server::ServerHandle>)> {
    let api = Arc::new(Api(node.clone()));
    let rpc_cfg = |apis: &str, flag: &str| -> Result<cpc_rpc::RpcConfig> {
        Ok(cpc_rpc::RpcConfig {
            apis: cpc_rpc::Namespace::parse_list(apis).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?,
            cors: args.rpc.http_corsdomain.clone(),
            max_request_bytes: args.rpc.rpc_max_request_bytes,
            max_batch: args.rpc.rpc_max_batch,
            max_connections: args.rpc.rpc_max_connections,
            calls_per_sec: args.rpc.rpc_calls_per_sec,
            observer: Some(node.metrics.rpc.clone()),
            explorer: None,
            vhosts: args.rpc.http_vhosts.clone(),
            ws_origins: args.rpc.ws_origins.clone(),
            own_addrs: [args.rpc.http_addr, args.rpc.ws_addr].into_iter().filter(|a| !a.is_unspecified()).collect(),
        })
    };
    let mut servers = Vec::new();
    // The WebSocket server first: the explorer on the HTTP port tells the page its port.
    let mut ws_port = None;
    if args.rpc.ws || args.rpc.ws_port.is_some() {
        let addr = SocketAddr::new(args.rpc.ws_addr, args.rpc.ws_port.unwrap_or(crate::commands::DEFAULT_WS_PORT));
        let (bound, h) = cpc_rpc::start_ws(addr, api.clone(), &rpc_cfg(&args.rpc.ws_api, "ws.api")?)
            .await
            .with_context(|| format!("binding the WebSocket API on {addr}"))?;
        tracing::info!("WebSocket listening on ws://{bound}");
        ws_port = Some(bound.port());
        servers.push(h);
    }
    let explorer = args.rpc.explorer.unwrap_or(args.dev);
    let mut http_cfg = rpc_cfg(&args.rpc.http_api, "http.api")?;
    if explorer {
        http_cfg.explorer = Some(Arc::new(cpc_rpc::ExplorerConfig { ws_port, chain_id: node.engine.params().chain_id.clone() }));
    }
    let addr = SocketAddr::new(args.rpc.http_addr, args.rpc.http_port);
    let (bound, http) =
        cpc_rpc::start_http(addr, api.clone(), &http_cfg).await.with_context(|| format!("binding JSON-RPC on {addr}"))?;
    tracing::info!("JSON-RPC listening on http://{bound}");
    if explorer {
        if cpc_rpc::explorer_built() {
            tracing::info!("explorer at http://{bound}/");
        } else {
            tracing::warn!("this build has no explorer files (explorer/dist): GET / answers 404");
        }
    }
    servers.insert(0, http);
    Ok((api, servers))
}

/// The in-process miner (`--mine`), its metrics and, with GPUs and `--metrics`, the sensors.
fn start_miner(args: &RunArgs, datadir: &Path, node: &Arc<Node>, sup: &mut Supervisor) -> Result<cpc_miner::Miner> {
    let engine = &node.engine;
    let key = match (&args.mining.miner, args.dev) {
        (Some(m), _) => unlock(args, datadir, m, "miner")?,
        (None, true) => dev_keys().remove(0),
        (None, false) => bail!("--mine needs --miner ADDRESS (a key in the keystore)"),
    };
    let gpus = match &args.mining.devices.gpu {
        Some(spec) => cpc_miner::parse_gpus(spec)?,
        None => vec![],
    };
    let cpu_threads = args.mining.devices.cpu_threads.unwrap_or(if gpus.is_empty() {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        0
    });
    if cpu_threads == 0 && gpus.is_empty() {
        bail!("--mine with --cpu-threads 0 and no --gpu: nothing would mine");
    }
    let cfg = cpc_miner::MinerConfig {
        cpu_threads,
        gpus: gpus.clone(),
        max_shares_per_tip: args.mining.devices.results_per_tip.unwrap_or(engine.params().poc.max_synthetic_results_per_block as u64),
        gpu_temp_limit: args.mining.devices.gpu_temp_limit,
    };
    let params = cpc_poc::SynthParams { n: engine.params().poc.matrix_size, k: engine.params().poc.challenges };
    let sink = Arc::new(crate::node::LocalSink::new(node));
    if args.mining.jobs {
        if !engine.params().market.enabled {
            bail!("--jobs: this chain has no task market (genesis market.enabled is false)");
        }
        let worker = cpc_miner::jobs::JobWorker {
            node: Arc::new(crate::node::LocalJobs(Arc::downgrade(node))),
            sender: sink.clone(),
            addr: cpc_primitives::Address::from_public_key(&key.public_key()),
            key: key.clone(),
        };
        let mut stop = sup.stop_signal();
        sup.spawn_critical("market-jobs", async move {
            tokio::select! {
                _ = worker.run() => {}
                _ = stop.changed() => {}
            }
            Ok(())
        });
        tracing::info!("in-process miner works on market jobs too (--jobs)");
    }
    let failures = sup.failures();
    let on_panic: cpc_miner::OnPanic = Arc::new(move |task: &str, msg: String| failures.fail(task, format!("panicked: {msg}")));
    let mm = Arc::new(cpc_miner::MinerMetrics::register(node.metrics.registry()));
    let _ = node.metrics.miner.set(mm.clone());
    let m = tokio::task::block_in_place(|| cpc_miner::Miner::start(sink, key, cfg, params, engine.subscribe_heads(), on_panic))?;
    let _ = node.miner.set(m.handle());
    if args.metrics.is_some() && !gpus.is_empty() {
        cpc_miner::metrics::spawn_gpu_poller(mm, gpus, sup.stop_signal());
    }
    Ok(m)
}

/// Block production: the engine's driver under `--dev`, BFT consensus for a validator of a
/// network; and the fan-out of the engine's events to RPC subscribers.
fn start_producer(args: &RunArgs, datadir: &Path, node: &Arc<Node>, sup: &mut Supervisor) {
    let engine = &node.engine;
    sup.spawn_critical("rpc-events", node.clone().forward_events(sup.stop_signal()));
    match (engine.signer(), args.dev) {
        // bft_mode() is exactly this case: a validator outside --dev.
        (Some(k), false) => {
            let listen = match args.p2p.p2p_addr {
                IpAddr::V4(a) => format!("/ip4/{a}/tcp/{}", args.bft.port),
                IpAddr::V6(a) => format!("/ip6/{a}/tcp/{}", args.bft.port),
            };
            let cfg = cpc_bft::service::BftConfig {
                moniker: cpc_primitives::ValconsAddress::from_public_key(&k.public_key()).to_string(),
                key: Arc::new(k.clone()),
                listen,
                peers: args.bft.peers.iter().filter(|p| !p.trim().is_empty()).map(|p| p.trim().to_string()).collect(),
                wal_dir: datadir.join("bft"),
                propose_timeout: propose_timeout(engine, args.bft.propose_timeout_ms),
                registry: Some(node.metrics.registry().clone()),
                equivocate: args.bft.test_equivocate,
            };
            if cfg.equivocate {
                tracing::warn!("--bft.test-equivocate: this validator will sign conflicting proposals and votes (tests only)");
            }
            sup.spawn_critical("bft", crate::services::bft::run(node.clone(), cfg, sup.stop_signal()));
        }
        (Some(_), true) => {
            let mode = MiningMode::from_block_time_ms(args.dev_block_time_ms);
            sup.spawn_critical("producer", cpc_engine::run_producer(engine.clone(), mode, sup.stop_signal()));
        }
        (None, _) => tracing::info!("no validator key: running as a full node"),
    }
}

/// The round-0 propose timeout: the flag, raised to ten times the worst-case block check
/// measured on this machine (a proposer builds and every validator checks the heaviest block
/// within it, with room for the network).
fn propose_timeout(engine: &Engine, flag_ms: u64) -> Duration {
    let worst = engine.worst_case_validation();
    let t = Duration::from_millis(flag_ms).max(worst * 10);
    tracing::info!(
        propose_timeout_ms = t.as_millis() as u64,
        worst_case_validation_ms = worst.as_millis() as u64,
        "propose timeout"
    );
    t
}

/// How long each task may take to stop at shutdown before it is aborted: covers a block
/// build or import in flight (hundreds of ms) with room to spare.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

