//! Network benchmarks against real `cpcd` processes on loopback.
//!
//! ```text
//! cpc-netbench sync   [--blocks 10000] [--txs-per-block 20] [--results-per-block 1] [--keep]
//! cpc-netbench gossip [--validators 4] [--blocks 60] [--block-time 500ms] [--method ws|poll]
//! ```
//!
//! `sync`: builds a chain in-process straight into node A's RocksDB store (dev genesis with a
//! 64×64 PoC matrix so that synthetic results stay cheap to make), serves it from `cpcd`
//! node A (a full node), starts an empty node B bootstrapped from A and times how long B takes
//! to reach A's head; checks that B's top block hash and state root are A's.
//!
//! `gossip`: a `cpcd testnet init` network of N validators deciding by BFT consensus; for each
//! new block, the time from its header `timestamp` (set by the proposer when it starts
//! building, unix ms) to the moment each other node committed it: the commit latency,
//! proposal to commit, of real processes. With `--method ws` (default) the commit time is when the
//! node's `cpc_subscribe("newHeads")` notification reaches this process (nodes publish it right
//! after the block's database write); with `--method poll` it is when `cpc_blockNumber`, polled
//! every 5 ms per node, first shows the height.
//!
//! Uses the `cpcd` next to this binary (or `CPCD_BIN`).

use anyhow::{anyhow, bail, ensure, Context, Result};
use cpc_consensus::{build_block, check_tx_in_isolation, window_heights, BuildContext, Candidate, PocVerifier};
use cpc_genesis::{dev_keys, Genesis};
use cpc_primitives::*;
use cpc_state::Store;
use cpcd_tests::*;
use jsonrpsee::core::client::{Subscription, SubscriptionClientT};
use jsonrpsee::http_client::HttpClient;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "cpc-netbench sync [--blocks 10000] [--txs-per-block 20] [--results-per-block 1] [--keep]\n\
                     cpc-netbench gossip [--validators 4] [--blocks 60] [--block-time 500ms] [--method ws|poll]";

/// PoC matrix size of the sync benchmark's chain (the dev default is 1024).
const SYNC_MATRIX_SIZE: usize = 64;
/// Gas of one SUBMIT_RESULT (its intrinsic gas).
const RESULT_GAS: u64 = 80_000;
/// Gas price of every transaction (the dev minimum).
const GAS_PRICE: u64 = 1000;
/// Polling interval of `gossip --method poll`: bounds how late a first sighting can be.
const GOSSIP_POLL: Duration = Duration::from_millis(5);
/// Polling interval of node B's head in `sync` (adds at most this much to the sync time).
const SYNC_POLL: Duration = Duration::from_millis(50);

struct SyncOpts {
    blocks: u64,
    txs_per_block: usize,
    results_per_block: usize,
    keep: bool,
}

struct GossipOpts {
    validators: usize,
    blocks: u64,
    block_time: String,
    poll: bool,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = || tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    match args.first().map(String::as_str) {
        Some("sync") => {
            let o = parse_sync(&args[1..])?;
            rt()?.block_on(sync(o))
        }
        Some("gossip") => {
            let o = parse_gossip(&args[1..])?;
            rt()?.block_on(gossip(o))
        }
        Some("-h") | Some("--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("usage:\n{USAGE}"),
    }
}

fn parse_sync(args: &[String]) -> Result<SyncOpts> {
    let mut o = SyncOpts { blocks: 10_000, txs_per_block: 20, results_per_block: 1, keep: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--blocks" => o.blocks = val()?.parse()?,
            "--txs-per-block" => o.txs_per_block = val()?.parse()?,
            "--results-per-block" => o.results_per_block = val()?.parse()?,
            "--keep" => o.keep = true,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!(o.blocks >= 1, "--blocks: expected at least 1");
    Ok(o)
}

fn parse_gossip(args: &[String]) -> Result<GossipOpts> {
    let mut o = GossipOpts { validators: 4, blocks: 60, block_time: "500ms".into(), poll: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--validators" => o.validators = val()?.parse()?,
            "--blocks" => o.blocks = val()?.parse()?,
            "--block-time" => o.block_time = val()?.clone(),
            "--method" => {
                o.poll = match val()?.as_str() {
                    "ws" => false,
                    "poll" => true,
                    m => bail!("--method: expected ws or poll, found {m}"),
                }
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!(o.validators >= 2, "--validators: expected at least 2 (latency to the other nodes)");
    ensure!(o.blocks >= 1, "--blocks: expected at least 1");
    Ok(o)
}

/// Wall clock in unix milliseconds (fractional), the clock the proposers stamp headers with.
fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// "500ms", "1s", "1.5s" → milliseconds.
fn parse_ms(s: &str) -> Result<u64> {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("ms") {
        return Ok(v.trim().parse()?);
    }
    if let Some(v) = s.strip_suffix('s') {
        return Ok((v.trim().parse::<f64>()? * 1000.0) as u64);
    }
    Ok(s.parse()?)
}

/// Warnings and errors in a node's log (first few shown).
fn report_log_problems(name: &str, log: &str) {
    let bad: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    if bad.is_empty() {
        println!("{name}: no warnings or errors in the log");
        return;
    }
    println!("{name}: {} warning/error lines in the log, first ones:", bad.len());
    for l in bad.iter().take(8) {
        println!("  {l}");
    }
}

// --- sync ----------------------------------------------------------------------------------

/// Signs the benchmark chain's transactions: the 10 dev accounts and their next nonces.
struct TxGen {
    chain_id: String,
    keys: Vec<SecretKey>,
    addrs: Vec<Address>,
    nonces: Vec<u64>,
    synth: cpc_poc::SynthParams,
}

impl TxGen {
    fn sign(&mut self, from: usize, tx_type: TxType, to: Option<Address>, amount: u128, gas_limit: u64, payload: Payload) -> Transaction {
        let tx = UnsignedTx {
            chain_id: self.chain_id.clone(),
            tx_type,
            from_address: self.addrs[from],
            to_address: to,
            amount,
            fee: gas_limit as u128 * GAS_PRICE as u128,
            nonce: self.nonces[from],
            gas_price: GAS_PRICE,
            gas_limit,
            payload,
        };
        self.nonces[from] += 1;
        tx.sign(&self.keys[from])
    }

    /// The signed transactions of one block (results first, then transfers), as candidates.
    fn block(&mut self, o: &SyncOpts, height: u64, tip: &H256) -> Vec<Candidate> {
        let n = self.keys.len();
        let mut out = Vec::with_capacity(o.txs_per_block + o.results_per_block);
        for j in 0..o.results_per_block {
            let w = (height as usize * o.results_per_block + j) % n;
            // The task nonce only has to make (tip, worker, nonce) unique.
            let r = cpc_poc::solve(tip, &self.addrs[w].to_string(), j as u64, &self.synth);
            let tx = self.sign(w, TxType::SubmitResult, None, 0, RESULT_GAS, r.to_payload());
            out.push(Candidate { hash: tx.hash(), tx: Arc::new(tx), result: Some(Arc::new(r)) });
        }
        for j in 0..o.txs_per_block {
            let from = (height as usize * o.txs_per_block + j) % n;
            let to = self.addrs[(from + 1 + j % (n - 1)) % n];
            let amount = 1 + (height as u128 % 1000);
            let tx = self.sign(from, TxType::Transfer, Some(to), amount, 21_000, Payload::empty());
            out.push(Candidate { hash: tx.hash(), tx: Arc::new(tx), result: None });
        }
        out
    }
}

/// Builds `o.blocks` blocks on the genesis straight into a store at `datadir/chaindata`.
/// Returns (transactions, seconds).
fn build_chain(o: &SyncOpts, g: &Genesis, datadir: &Path) -> Result<(u64, f64)> {
    let db = datadir.join("chaindata");
    std::fs::create_dir_all(&db)?;
    let store = Store::open(&db)?;
    let (gblock, gout) = g.build()?;
    // Exactly what `Node::open` stores for a new chain.
    store.commit_genesis(&gblock, &gout, &g.to_canonical_json())?;
    let params = g.chain_params();
    let poc = PocVerifier::new(&params.poc);
    let keys = dev_keys();
    let mut txgen = TxGen {
        chain_id: params.chain_id.clone(),
        addrs: keys.iter().map(|k| Address::from_public_key(&k.public_key())).collect(),
        nonces: vec![0; keys.len()],
        keys: keys.clone(),
        synth: cpc_poc::SynthParams { n: params.poc.matrix_size, k: params.poc.challenges },
    };
    let mut hashes = vec![gblock.hash()];
    let mut total_txs = 0u64;
    let (mut make_s, mut build_s, mut commit_s) = (0f64, 0f64, 0f64);
    let started = Instant::now();
    let mut last_report = Instant::now();
    for height in 1..=o.blocks {
        let parent = store.head().context("no head")?;
        let t = Instant::now();
        let cands = txgen.block(o, height, &parent.hash);
        make_s += t.elapsed().as_secs_f64();
        if height == 1 {
            // The builder trusts its candidates: check the first block's in isolation once.
            for c in &cands {
                check_tx_in_isolation(&c.tx, &params).map_err(|e| anyhow!("generated transaction is invalid: {e}"))?;
            }
        }
        let ctx = BuildContext {
            params: &params,
            parent,
            round: 0,
            timestamp: parent.timestamp + params.block_time_ms,
            proposer: &keys[0],
            window: window_heights(height, params.poc.window)
                .map(|h| {
                    let e = store.canon_at(h).ok().flatten().expect("a canonical block in the window");
                    debug_assert_eq!(e.hash, hashes[h as usize]);
                    (e.hash, e.share_target)
                })
                .collect(),
            poc: &poc,
            consensus: Default::default(),
        };
        let t = Instant::now();
        let built = build_block(&store, &ctx, &cands)?;
        build_s += t.elapsed().as_secs_f64();
        if !built.skipped.is_empty() || built.block.transactions.len() != cands.len() {
            bail!(
                "block {height}: the builder took {} of {} transactions; skipped: {:?}",
                built.block.transactions.len(),
                cands.len(),
                built.skipped.iter().take(3).collect::<Vec<_>>()
            );
        }
        let t = Instant::now();
        // The dev chain's lone validator certifies its own blocks (docs/CONSENSUS.md).
        let cert = cpc_consensus::Certificate::sign_alone(&keys[0], height, 0, built.block.hash()).encode();
        store.commit_certified_block(&built.block, &built.tx_hashes, &built.outcome, &cert)?;
        commit_s += t.elapsed().as_secs_f64();
        total_txs += built.block.transactions.len() as u64;
        hashes.push(built.block.hash());
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let s = started.elapsed().as_secs_f64();
            eprintln!("  built {height}/{} blocks in {s:.1} s ({:.0} blocks/s)", o.blocks, height as f64 / s);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    store.flush()?;
    drop(store);
    println!(
        "build time per block: {:.2} ms solving and signing, {:.2} ms build_block, {:.2} ms commit_block (synced write)",
        make_s * 1e3 / o.blocks as f64,
        build_s * 1e3 / o.blocks as f64,
        commit_s * 1e3 / o.blocks as f64
    );
    Ok((total_txs, secs))
}

/// Waits for a log line containing `needle`, returning it.
fn wait_log_line(node: &NodeProc, needle: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(l) = node.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return Ok(l.clone());
        }
        if Instant::now() > deadline {
            bail!("no log line with {needle:?} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `key=` in a tracing text log line.
fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let i = line.find(&pat)? + pat.len();
    line[i..].split_whitespace().next()
}

async fn block_json(c: &HttpClient, h: u64) -> Result<Value> {
    let b = call(c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await?;
    ensure!(!b.is_null(), "no block at height {h}");
    Ok(b)
}

struct ImportMetrics {
    count: f64,
    import_s: f64,
    preverify_s: f64,
    import_verify_s: f64,
}

/// Sums from node B's Prometheus endpoint (`--metrics 127.0.0.1:0`).
fn node_b_busy(b: &NodeProc) -> Result<ImportMetrics> {
    use std::io::{Read, Write};
    let line = wait_log_line(b, "metrics listening on http://", Duration::from_secs(1))?;
    let hostport = line[line.find("http://").unwrap() + 7..].trim().trim_end_matches('/').to_string();
    let mut s = std::net::TcpStream::connect(&hostport)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let get = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Ok(ImportMetrics {
        count: get("cpcd_block_import_seconds_count{source=\"peer\"}"),
        import_s: get("cpcd_block_import_seconds_sum{source=\"peer\"}"),
        preverify_s: get("cpcd_poc_verify_seconds_sum{stage=\"sync\"}"),
        import_verify_s: get("cpcd_poc_verify_seconds_sum{stage=\"block_import\"}"),
    })
}

async fn sync(o: SyncOpts) -> Result<()> {
    let mut g = Genesis::dev();
    g.poc.matrix_size = SYNC_MATRIX_SIZE;
    ensure!(
        o.results_per_block <= g.poc.max_synthetic_results_per_block,
        "--results-per-block: at most {} (max_synthetic_results_per_block)",
        g.poc.max_synthetic_results_per_block
    );
    let per_block_gas = o.txs_per_block as u64 * 21_000 + o.results_per_block as u64 * RESULT_GAS;
    ensure!(per_block_gas <= g.block_gas_limit, "{per_block_gas} gas per block exceeds the block gas limit");
    let tmp = tempfile::Builder::new().prefix("cpc-netbench-sync-").tempdir()?;
    let root = tmp.path().to_path_buf();
    let gpath = root.join("genesis.json");
    std::fs::write(&gpath, g.to_pretty_json() + "\n")?;
    let (dir_a, dir_b) = (root.join("a"), root.join("b"));
    println!(
        "sync: chain of {} blocks, {} transfers + {} synthetic results per block; dev genesis with poc.matrix_size = {} \
         (not the default {}), in {}",
        o.blocks,
        o.txs_per_block,
        o.results_per_block,
        SYNC_MATRIX_SIZE,
        cpc_state::PocParams::default().matrix_size,
        root.display()
    );

    // 1. Build the chain into A's store.
    let (txs, build_s) = {
        let (o2, g2, d) = (&o, &g, dir_a.clone());
        tokio::task::block_in_place(|| build_chain(o2, g2, &d))?
    };
    println!("built {} blocks with {txs} transactions in {build_s:.1} s ({:.0} blocks/s)", o.blocks, o.blocks as f64 / build_s);

    // 2. Node A serves it.
    let p2p_args = ["--p2p.port", "0", "--p2p.addr", "127.0.0.1", "--http.port", "0"];
    let mut args_a: Vec<String> = vec!["--datadir".into(), dir_a.display().to_string()];
    args_a.extend(p2p_args.iter().map(|s| s.to_string()));
    let t_a = Instant::now();
    let a = NodeProc::spawn(&args_a, dir_a.clone(), None)?;
    let ca = a.client();
    let a_open_s = t_a.elapsed().as_secs_f64();
    let line = wait_log_line(&a, "P2P listening on ", Duration::from_secs(10))?;
    let addr_a = line[line.find("/ip4/").context("P2P address")?..].trim().to_string();
    let top = block_number(&ca).await?;
    ensure!(top == o.blocks, "node A reports height {top}, expected {}", o.blocks);
    let top_a = block_json(&ca, top).await?;
    println!("node A: height {top} served at {addr_a} (started in {a_open_s:.2} s)");

    // 3. Node B from the same genesis, bootstrapped from A.
    let init = Command::new(cpcd_path())
        .args(["init", "--genesis", gpath.to_str().unwrap(), "--datadir", dir_b.to_str().unwrap()])
        .output()?;
    ensure!(init.status.success(), "cpcd init failed: {}", String::from_utf8_lossy(&init.stderr));
    let mut args_b: Vec<String> = vec!["--datadir".into(), dir_b.display().to_string(), "--bootnodes".into(), addr_a.clone()];
    args_b.extend(["--metrics".to_string(), "127.0.0.1:0".to_string()]);
    args_b.extend(p2p_args.iter().map(|s| s.to_string()));
    let t0 = Instant::now();
    let b = NodeProc::spawn(&args_b, dir_b.clone(), None)?;
    let cb = b.client();
    let want = top_a["hash"].clone();
    let deadline = t0 + Duration::from_secs(3600);
    let mut last_print = Instant::now();
    loop {
        let h = block_number(&cb).await.unwrap_or(0);
        if h >= top && hash_at(&cb, top).await?.map(Value::from) == Some(want.clone()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("node B at height {h} of {top} after an hour");
        }
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            eprintln!("  node B at height {h} of {top} after {:.1} s", t0.elapsed().as_secs_f64());
        }
        tokio::time::sleep(SYNC_POLL).await;
    }
    let secs = t0.elapsed().as_secs_f64();

    // 4. Same top block and state; a few heights on the way too.
    let top_b = block_json(&cb, top).await?;
    ensure!(top_b["hash"] == top_a["hash"], "top hash: A {} B {}", top_a["hash"], top_b["hash"]);
    ensure!(
        top_b["header"]["state_root"] == top_a["header"]["state_root"],
        "top state root: A {} B {}",
        top_a["header"]["state_root"],
        top_b["header"]["state_root"]
    );
    for h in [1, top / 3, top / 2, top - 1] {
        ensure!(hash_at(&ca, h).await? == hash_at(&cb, h).await?, "block hash at {h} differs");
    }
    println!("node B: top block {} and state root {} match node A", top_b["hash"], top_b["header"]["state_root"]);
    let synced = wait_log_line(&b, "synced: following the tip", Duration::from_secs(5)).ok();
    let own = synced.as_deref().and_then(|l| {
        let blocks: u64 = log_field(l, "blocks")?.parse().ok()?;
        let secs: f64 = log_field(l, "secs")?.parse().ok()?;
        Some((blocks, secs))
    });
    match own {
        Some((n, s)) => println!(
            "node B's own figure (from its first sync step to the tip): {n} blocks in {s:.2} s = {:.0} blocks/s, {:.0} tx/s",
            n as f64 / s,
            txs as f64 * n as f64 / o.blocks as f64 / s
        ),
        None => println!("node B logged no \"synced: following the tip\" line with blocks= and secs="),
    }
    println!(
        "sync: {} blocks, {txs} txs in {secs:.1} s: {:.0} blocks/s, {:.0} tx/s (build {build_s:.1} s; timed from starting B's process to B's head = A's head)",
        o.blocks,
        o.blocks as f64 / secs,
        txs as f64 / secs
    );
    match node_b_busy(&b) {
        Ok(m) => println!(
            "node B's metrics: {} peer blocks imported in {:.1} s of import work ({:.2} ms/block, {:.0} % of the sync time); \
             pre-verification of synthetic results {:.2} s, in-context block checks (re-execution included) {:.2} s",
            m.count,
            m.import_s,
            m.import_s * 1e3 / m.count.max(1.0),
            100.0 * m.import_s / secs,
            m.preverify_s,
            m.import_verify_s
        ),
        Err(e) => println!("node B's metrics unavailable: {e:#}"),
    }
    let (_, log_b) = b.stop()?;
    let (_, log_a) = a.stop()?;
    report_log_problems("node A", &log_a);
    report_log_problems("node B", &log_b);
    if o.keep {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
    Ok(())
}

// --- gossip --------------------------------------------------------------------------------

/// (height, hash or "" when unknown, unix ms when seen)
type Seen = Vec<(u64, String, f64)>;

/// Records every newHeads notification of one node until `stop_at` is seen.
async fn watch_ws(mut sub: Subscription<Value>, stop_at: u64) -> Result<Seen> {
    let mut seen = Vec::new();
    loop {
        let v = tokio::time::timeout(Duration::from_secs(60), sub.next())
            .await
            .map_err(|_| anyhow!("no new head for 60 s"))?
            .ok_or_else(|| anyhow!("subscription closed"))??;
        let t = wall_ms();
        let h = v["header"]["height"].as_u64().context("newHeads without header.height")?;
        seen.push((h, v["hash"].as_str().unwrap_or_default().to_string(), t));
        if h >= stop_at {
            return Ok(seen);
        }
    }
}

/// Polls `cpc_blockNumber` every 5 ms until `stop_at`; every height passed is stamped with the
/// time of the poll that first showed it.
async fn watch_poll(c: HttpClient, from: u64, stop_at: u64) -> Result<Seen> {
    let mut seen = Vec::new();
    let mut last = from;
    let mut last_progress = Instant::now();
    let mut tick = tokio::time::interval(GOSSIP_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while last < stop_at {
        tick.tick().await;
        let h = block_number(&c).await?;
        let t = wall_ms();
        if h > last {
            for x in last + 1..=h {
                seen.push((x, String::new(), t));
            }
            last = h;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(60) {
            bail!("no new height for 60 s (at {last})");
        }
    }
    Ok(seen)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn summary(label: &str, mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return format!("{label}: no samples");
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{label}: {} samples: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (min {:.1} ms)",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.9),
        percentile(&v, 0.99),
        v[v.len() - 1],
        v[0]
    )
}

async fn gossip(o: GossipOpts) -> Result<()> {
    let bt = parse_ms(&o.block_time).context("--block-time")?;
    let tmp = tempfile::Builder::new().prefix("cpc-netbench-gossip-").tempdir()?;
    let dirs = testnet_init(tmp.path(), o.validators, o.validators, &o.block_time)?;
    let ws = ["--ws.port", "0"];
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(NodeProc::start_datadir(d, if o.poll { &[] } else { &ws })?);
    }
    let clients: Vec<HttpClient> = nodes.iter().map(|n| n.client()).collect();
    // proposer_address (valcons) → node index
    let mut by_valcons = HashMap::new();
    for (i, c) in clients.iter().enumerate() {
        let info = call(c, "admin_nodeInfo", vec![]).await?;
        let a: Address = info["validator"].as_str().context("admin_nodeInfo without a validator")?.parse()?;
        by_valcons.insert(a.to_valcons().to_string(), i);
    }
    for c in &clients {
        wait_height(c, 3, Duration::from_secs(120)).await?;
    }

    // Start watching every node, then take the blocks after the highest head seen now.
    let start = {
        let mut m = 0;
        for c in &clients {
            m = m.max(block_number(c).await?);
        }
        m
    };
    let stop_at = start + o.blocks;
    println!(
        "gossip: {} validators, block time {} ms, measuring heights {}..={} by {}",
        o.validators,
        bt,
        start + 1,
        stop_at,
        if o.poll { "polling cpc_blockNumber every 5 ms per node" } else { "newHeads WebSocket notifications" }
    );
    let mut tasks = Vec::new();
    for n in &nodes {
        if o.poll {
            tasks.push(tokio::spawn(watch_poll(n.client(), start, stop_at)));
        } else {
            let client = WsClientBuilder::default().build(ws_url(n)?).await?;
            let sub: Subscription<Value> = client.subscribe("cpc_subscribe", rpc_params!["newHeads"], "cpc_unsubscribe").await?;
            tasks.push(tokio::spawn(async move {
                let _keep = client;
                watch_ws(sub, stop_at).await
            }));
        }
    }
    let mut seen: Vec<Seen> = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        seen.push(t.await?.with_context(|| format!("watching node {i}"))?);
    }

    // Canonical blocks from node 0 (all nodes agree at the end: checked on the top block).
    let top_hash = hash_at(&clients[0], stop_at).await?;
    for (i, c) in clients.iter().enumerate() {
        ensure!(hash_at(c, stop_at).await? == top_hash, "node {i} disagrees at height {stop_at}");
    }
    let mut from_header = Vec::new();
    let mut from_proposer = Vec::new();
    let mut proposer_own = Vec::new();
    let mut rounds = 0;
    let mut missing = 0;
    for h in start + 1..=stop_at {
        let b = block_json(&clients[0], h).await?;
        let hash = b["hash"].as_str().unwrap_or_default().to_string();
        let ts = b["header"]["timestamp"].as_u64().context("header.timestamp")? as f64;
        let prop = b["header"]["proposer_address"].as_str().context("proposer_address")?;
        let &p = by_valcons.get(prop).with_context(|| format!("proposer {prop} is none of the nodes"))?;
        rounds += (b["header"]["round"].as_u64().unwrap_or(0) > 0) as usize;
        // First time each node committed this block (by hash with ws; by height with poll).
        let first = |i: usize| {
            seen[i].iter().find(|(sh, shash, _)| *sh == h && (o.poll || *shash == hash)).map(|(_, _, t)| *t)
        };
        let t_prop = first(p);
        if let Some(tp) = t_prop {
            proposer_own.push(tp - ts);
        }
        for i in (0..nodes.len()).filter(|&i| i != p) {
            match first(i) {
                Some(t) => {
                    from_header.push(t - ts);
                    if let Some(tp) = t_prop {
                        from_proposer.push(t - tp);
                    }
                }
                None => missing += 1,
            }
        }
    }
    println!(
        "{} blocks ({} made in a round > 0); {} (block, node) pairs without a first import of the canonical block",
        o.blocks, rounds, missing
    );
    println!("{}", summary("commit latency at the other validators (proposal built → committed there)", from_header));
    println!("{}", summary("after the proposer's own commit", from_proposer));
    println!("{}", summary("proposer's own build + commit (header timestamp → its own notification)", proposer_own));
    println!(
        "method: latency = (time this process saw node i's {} for the block) − (block header timestamp, \
         stamped by the proposer just before building); the proposer itself is excluded",
        if o.poll { "cpc_blockNumber poll (5 ms interval) first showing the height" } else { "newHeads notification" }
    );
    for (i, n) in nodes.into_iter().enumerate() {
        let (_, log) = n.stop()?;
        report_log_problems(&format!("node{i}"), &log);
    }
    Ok(())
}
