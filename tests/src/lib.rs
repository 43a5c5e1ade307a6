//! Helpers for the integration tests: start real `cpcd` processes on free ports with a
//! temporary datadir, talk to them over HTTP JSON-RPC, and sign transactions.

use anyhow::{anyhow, bail, Context, Result};
use cpc_genesis::dev_keys;
use cpc_primitives::*;
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a node may take to start and bind its RPC port.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `cpcd` binary built next to this test (run `cargo build --release --bin cpcd` first;
/// `make test` does).
pub mod soak;

pub fn cpcd_path() -> PathBuf {
    if let Ok(p) = std::env::var("CPCD_BIN") {
        return PathBuf::from(p);
    }
    // Test binaries live in target/<profile>/deps/, tools like cpc-loadgen in target/<profile>/.
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let p = d.join("cpcd");
        if p.is_file() {
            return p;
        }
        dir = d.parent().filter(|_| d.file_name().is_some_and(|n| n == "deps"));
    }
    panic!("cpcd not found next to {}: build it first (cargo build --release --bin cpcd)", exe.display())
}

/// A running `cpcd` process, killed on drop.
pub struct NodeProc {
    pub child: Child,
    pub rpc_url: String,
    pub datadir: PathBuf,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl NodeProc {
    /// Starts `cpcd --dev --http.port 0 --datadir <datadir> <extra…>`.
    pub fn start_dev(datadir: Option<&Path>, extra: &[&str]) -> Result<NodeProc> {
        let (tmp, dir) = match datadir {
            Some(d) => (None, d.to_path_buf()),
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut args: Vec<String> = vec!["--dev".into(), "--http.port".into(), "0".into(), "--datadir".into()];
        args.push(dir.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, dir, tmp)
    }

    pub fn spawn(args: &[String], datadir: PathBuf, tmp: Option<tempfile::TempDir>) -> Result<NodeProc> {
        Self::spawn_with_env(args, &[], datadir, tmp)
    }

    /// [`NodeProc::spawn`] with extra environment variables (test hooks such as CPCD_TEST_FAULT).
    pub fn spawn_with_env(
        args: &[String],
        env: &[(&str, &str)],
        datadir: PathBuf,
        tmp: Option<tempfile::TempDir>,
    ) -> Result<NodeProc> {
        let mut child = Command::new(cpcd_path())
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning cpcd")?;
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if let Some(i) = line.find("JSON-RPC listening on http://") {
                    let _ = tx.send(line[i + "JSON-RPC listening on ".len()..].trim().to_string());
                }
                log2.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                bail!("cpcd did not start: {}", log.lock().unwrap().join("\n"));
            }
        };
        Ok(NodeProc { child, rpc_url: url, datadir, log, _tmp: tmp })
    }

    /// Starts `cpcd --datadir <dir> <extra…>` (settings from `<dir>/cpcd.toml`).
    pub fn start_datadir(dir: &Path, extra: &[&str]) -> Result<NodeProc> {
        let mut args: Vec<String> = vec!["--datadir".into(), dir.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, dir.to_path_buf(), None)
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn client(&self) -> HttpClient {
        HttpClientBuilder::default().request_timeout(Duration::from_secs(60)).build(&self.rpc_url).unwrap()
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code and the log.
    pub fn stop(mut self) -> Result<(i32, String)> {
        let pid = self.child.id() as i32;
        let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait()? {
                // let the reader thread drain the pipe
                std::thread::sleep(Duration::from_millis(100));
                return Ok((s.code().unwrap_or(-1), self.logs()));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("cpcd did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The head height a node reported in its `stopped cleanly height=N` log line.
pub fn stopped_height(log: &str) -> u64 {
    let line = log.lines().find(|l| l.contains("stopped cleanly")).expect("clean-stop line in the log");
    line.split("height=").nth(1).expect("height field").trim().parse().expect("a height")
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Imports dev key `i` into a fresh keystore; returns (dir guard, keystore, password file).
pub fn keystore_with(i: usize) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("keystore");
    let pw = dir.path().join("pw");
    let secret = dir.path().join("secret");
    std::fs::write(&pw, "worker password\n").unwrap();
    std::fs::write(&secret, keys()[i].to_hex()).unwrap();
    let out = std::process::Command::new(cpcd_path())
        .env("CPCD_INSECURE_TEST_KDF", "1")
        .args(["key", "import", "--keystore", ks.to_str().unwrap(), "--password-file", pw.to_str().unwrap()])
        .args(["--secret-file", secret.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, ks, pw)
}

/// The dev accounts' keys.
pub fn keys() -> Vec<SecretKey> {
    dev_keys()
}

pub fn addr_of(sk: &SecretKey) -> Address {
    Address::from_public_key(&sk.public_key())
}

pub const CHAIN_ID: &str = "cpc-devnet-1";

pub fn transfer(sk: &SecretKey, to: Address, amount: u128, nonce: u64) -> Transaction {
    transfer_on(CHAIN_ID, sk, to, amount, nonce)
}

/// Chain id of networks made by `testnet_init`.
pub const TESTNET_CHAIN_ID: &str = "cpc-localnet-1";

pub fn transfer_on(chain_id: &str, sk: &SecretKey, to: Address, amount: u128, nonce: u64) -> Transaction {
    UnsignedTx::transfer(chain_id, addr_of(sk), to, amount, nonce, 1000).sign(sk)
}

/// The validator key `testnet init` wrote into a node's datadir (its keystore, unlocked with
/// its password.txt).
pub fn validator_key(datadir: &Path) -> Result<SecretKey> {
    let password = std::fs::read_to_string(datadir.join("password.txt"))?;
    let dir = cpc_wallet::keystore::default_dir(datadir);
    let addr = *cpc_wallet::keystore::list(&dir)?.first().ok_or_else(|| anyhow::anyhow!("no key in {}", dir.display()))?;
    cpc_wallet::keystore::unlock(&dir, &addr, password.trim()).map_err(|e| anyhow!("{e}"))
}

/// A staking transaction at its intrinsic gas and the minimum price.
pub fn staking_tx(chain_id: &str, sk: &SecretKey, t: TxType, to: Option<Address>, amount: u128, nonce: u64, payload: Payload) -> Transaction {
    UnsignedTx::at_intrinsic_gas(chain_id, t, addr_of(sk), to, amount, nonce, 1000, payload).sign(sk)
}

/// The STAKE payload that creates a validator with `sk`'s key as its consensus key.
pub fn create_validator_payload(sk: &SecretKey, moniker: &str) -> Payload {
    let v = serde_json::json!({
        "consensus_key": sk.public_key().to_hex(),
        "moniker": moniker,
        "commission_rate_bps": 1000,
        "max_rate_bps": 2000,
        "max_change_bps": 100,
    });
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

/// A SUBMIT_RESULT with an explicit gas limit (rule 3 tests use 79 999).
pub fn submit_result(sk: &SecretKey, payload: Payload, nonce: u64, gas_limit: u64) -> Transaction {
    UnsignedTx {
        chain_id: CHAIN_ID.into(),
        tx_type: TxType::SubmitResult,
        from_address: addr_of(sk),
        to_address: None,
        amount: 0,
        fee: gas_limit as u128 * 1000,
        nonce,
        gas_price: 1000,
        gas_limit,
        payload,
    }
    .sign(sk)
}

/// An external (non-synthetic) ComputeResult of `worker` for task `task`.
pub fn external_result(worker: &Address, task: &str) -> ComputeResult {
    ComputeResult {
        task_id: task.into(),
        worker_address: worker.to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: Some(7),
        signature: None,
    }
}

pub fn tx_json(tx: &Transaction) -> Value {
    serde_json::from_slice(&tx.canonical_json()).unwrap()
}

/// `cpc_sendTransaction`; Err carries (code, message).
pub async fn send(c: &HttpClient, tx: &Transaction) -> std::result::Result<String, (i32, String)> {
    match c.request::<String, _>("cpc_sendTransaction", rpc_params![tx_json(tx)]).await {
        Ok(h) => Ok(h),
        Err(ClientError::Call(e)) => Err((e.code(), e.message().to_string())),
        Err(e) => Err((0, e.to_string())),
    }
}

pub async fn call(c: &HttpClient, method: &str, params: Vec<Value>) -> Result<Value> {
    let mut p = jsonrpsee::core::params::ArrayParams::new();
    for v in params {
        p.insert(v).unwrap();
    }
    c.request::<Value, _>(method, p).await.map_err(|e| anyhow!("{method}: {e}"))
}

/// Polls for a receipt until it appears.
pub async fn wait_receipt(c: &HttpClient, hash: &str, timeout: Duration) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = call(c, "cpc_getTransactionReceipt", vec![hash.into()]).await?;
        if !r.is_null() {
            return Ok(r);
        }
        if Instant::now() > deadline {
            bail!("no receipt for {hash} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn balance(c: &HttpClient, a: &Address) -> Result<u128> {
    let v = call(c, "cpc_getBalance", vec![a.to_string().into()]).await?;
    Ok(v.as_str().ok_or_else(|| anyhow!("balance not a string: {v}"))?.parse()?)
}

pub async fn block_number(c: &HttpClient) -> Result<u64> {
    call(c, "cpc_blockNumber", vec![]).await?.as_u64().ok_or_else(|| anyhow!("not a number"))
}

/// A raw HTTP POST returning the status code and the body text.
pub fn raw_post_status(url: &str, body: &str) -> Result<(u16, String)> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    // The server may answer (and close) before reading a huge body: ignore write errors.
    let _ = s.write_all(body.as_bytes());
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).to_string();
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| anyhow!("no status line in {resp:?}"))?;
    Ok((status, resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

/// One HTTP/1.1 keep-alive connection: every POST on it goes over the same TCP connection
/// (what a pooled client does), so the server sees one connection.
pub struct KeepAlive {
    hostport: String,
    stream: BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    pub fn connect(url: &str) -> Result<KeepAlive> {
        let hostport = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let s = std::net::TcpStream::connect(&hostport)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(KeepAlive { hostport, stream: BufReader::new(s) })
    }

    /// POSTs `body`; returns the status and the body of the answer (which must carry a
    /// Content-Length: the connection stays open for the next request).
    pub fn post(&mut self, body: &str) -> Result<(u16, String)> {
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.hostport,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body.as_bytes())?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line)?;
        let status = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| anyhow!("no status line: {status_line:?}"))?;
        let mut length = None;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("the connection closed inside the headers");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = Some(v.trim().parse::<usize>()?);
                }
            }
        }
        let length = length.ok_or_else(|| anyhow!("an answer without Content-Length"))?;
        let mut buf = vec![0u8; length];
        self.stream.read_exact(&mut buf)?;
        Ok((status, String::from_utf8(buf)?))
    }
}

/// The WebSocket URL a node logged (`--ws.port 0`).
pub fn ws_url(node: &NodeProc) -> Result<String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(line) = node.logs().lines().find(|l| l.contains("WebSocket listening on ws://")) {
            let i = line.find("ws://").unwrap();
            return Ok(line[i..].trim().to_string());
        }
        if Instant::now() > deadline {
            bail!("no WebSocket address in the log: {}", node.logs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw HTTP POST (for malformed bodies a client library will not send).
pub fn raw_post(url: &str, body: &str) -> Result<Value> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let body = resp.split("\r\n\r\n").nth(1).ok_or_else(|| anyhow!("no body in {resp}"))?;
    serde_json::from_str(body).with_context(|| format!("response body {body:?}"))
}

/// A base port such that `base..base+n` are free for TCP on 127.0.0.1 right now.
pub fn free_port_range(n: u16) -> u16 {
    use std::net::TcpListener;
    let seed = std::process::id() as u64 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(6364136223846793005).wrapping_add(attempt * 7919)) % 30_000) as u16;
        let ok = (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free port range of {n}");
}

/// `cpcd testnet init` into `out` (validators decide by BFT on free consensus ports); returns
/// the node directories.
pub fn testnet_init(out: &Path, validators: usize, nodes: usize, block_time: &str) -> Result<Vec<PathBuf>> {
    testnet_init_with(out, validators, nodes, block_time, &[])
}

/// [`testnet_init`] with more `cpcd testnet init` flags (`--standby`, `--staking`, …).
pub fn testnet_init_with(out: &Path, validators: usize, nodes: usize, block_time: &str, extra: &[&str]) -> Result<Vec<PathBuf>> {
    // One free range for the three kinds of ports: three separate probes made before anything
    // binds can overlap (it happened: node1's RPC port was node0's P2P port).
    let base = free_port_range((2 * nodes + validators) as u16);
    let (p2p, http, bft) = (base, base + nodes as u16, base + 2 * nodes as u16);
    let o = Command::new(cpcd_path())
        .args(["testnet", "init", "--validators", &validators.to_string(), "--nodes", &nodes.to_string()])
        .args(["--out", out.to_str().unwrap(), "--block-time", block_time, "--fund-dev-accounts"])
        .args(["--p2p-base-port", &p2p.to_string(), "--http-base-port", &http.to_string()])
        .args(["--bft-base-port", &bft.to_string()])
        .args(extra)
        .output()?;
    if !o.status.success() {
        bail!("testnet init failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok((0..nodes).map(|i| out.join(format!("node{i}"))).collect())
}

/// Block hash at `height`, or None.
pub async fn hash_at(c: &HttpClient, height: u64) -> Result<Option<String>> {
    let b = call(c, "cpc_getBlockByNumber", vec![height.into(), false.into()]).await?;
    Ok(b["hash"].as_str().map(str::to_string))
}

/// Waits until `cond(height)` holds for the node's head.
pub async fn wait_height(c: &HttpClient, min: u64, timeout: Duration) -> Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let h = block_number(c).await.unwrap_or(0);
        if h >= min {
            return Ok(h);
        }
        if Instant::now() > deadline {
            bail!("height {h} < {min} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A forged synthetic result: the true product with one entry changed in a row that the
/// forged root does not challenge. It passes the k-row proof check (admission) and fails full
/// recomputation — what a worker grinding share values without doing the work would send.
pub fn forge_result(tip: &H256, worker: &str, nonce: u64, p: &cpc_poc::SynthParams) -> ComputeResult {
    let seed = cpc_poc::seed(tip, worker, nonce);
    let (a, b) = cpc_poc::generate_matrices(&seed, p.n);
    let c = cpc_poc::matmul(&a, &b, p.n);
    for attempt in 0..(p.n * 4) {
        let row = attempt % p.n;
        let mut forged = c.clone();
        forged[row * p.n] = forged[row * p.n].wrapping_add(1 + (attempt / p.n) as i32);
        let r = cpc_poc::result_from_product(tip, worker, nonce, &forged, p);
        let root = H256::from_hex(&r.result_hash).unwrap();
        if !cpc_poc::challenged_rows(&root, p.n, p.k).contains(&row) {
            return r;
        }
    }
    panic!("no unchallenged row found (n = {}, k = {})", p.n, p.k);
}

/// A TCP relay on a free loopback port to `127.0.0.1:target` that a test can cut — its
/// connections closed, new ones refused — and heal: a real network partition between two
/// processes, whatever protocol they speak (the validators' consensus network).
pub struct Relay {
    pub port: u16,
    open: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("relay bind");
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(tokio::sync::watch::channel(true).0);
        let o = open.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*o.borrow() {
                    continue; // cut: dropped at once
                }
                let mut closed = o.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Relay { port, open, task }
    }

    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    pub fn heal(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `bft.port` a testnet node's cpcd.toml gives it (validators only).
pub fn bft_port(dir: &Path) -> Option<u16> {
    let toml = std::fs::read_to_string(dir.join("cpcd.toml")).ok()?;
    toml.lines().find_map(|l| l.strip_prefix("bft.port = ")).and_then(|p| p.trim().parse().ok())
}

/// Points validator `dir`'s consensus peers at `ports` (relays, in tests).
pub fn set_bft_peers(dir: &Path, ports: &[u16]) -> Result<()> {
    let path = dir.join("cpcd.toml");
    let toml = std::fs::read_to_string(&path)?;
    let peers: Vec<String> = ports.iter().map(|p| format!("\"/ip4/127.0.0.1/tcp/{p}\"")).collect();
    let out: Vec<String> = toml
        .lines()
        .map(|l| if l.starts_with("bft.peers = ") { format!("bft.peers = [{}]", peers.join(", ")) } else { l.to_string() })
        .collect();
    std::fs::write(&path, out.join("\n") + "\n")?;
    Ok(())
}

/// A scripted peer's network inside the test process: cpc_network on a free loopback port,
/// with the node key in `key_dir` (created when missing, so the same directory gives the same
/// peer id again), dialing `node_addr`.
pub async fn scripted_network(
    key_dir: &Path,
    node_addr: &cpc_network::Multiaddr,
    chain_id: &str,
    genesis_hash: H256,
) -> (cpc_network::NetworkHandle, tokio::sync::mpsc::Receiver<cpc_network::NetEvent>) {
    let cfg = cpc_network::NetworkConfig {
        chain_id: chain_id.into(),
        genesis_hash,
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes: vec![node_addr.clone()],
        max_peers: 4,
        keypair: cpc_network::load_or_create_node_key(key_dir).expect("node key"),
    };
    cpc_network::start(cfg).await.expect("the scripted peer's network starts")
}

/// The loopback P2P address a node reports in `admin_nodeInfo` (its `listen_addrs`).
pub fn loopback_p2p_addr(info: &Value) -> cpc_network::Multiaddr {
    info["listen_addrs"]
        .as_array()
        .unwrap_or_else(|| panic!("no listen_addrs in {info}"))
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.starts_with("/ip4/127.0.0.1/"))
        .unwrap_or_else(|| panic!("no loopback listen address in {info}"))
        .parse()
        .expect("a multiaddr")
}

/// Prometheus metrics of a running node: its address from the log, raw HTTP, and a strict
/// reader of the text exposition format (tests/tests/metrics.rs, tests/tests/bft.rs).
pub mod prom {
    use super::NodeProc;
    use std::collections::{BTreeMap, HashMap};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// The metrics address (`127.0.0.1:PORT`) from the node's log line
    /// `metrics listening on http://…`.
    pub fn metrics_addr(node: &NodeProc) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = node.logs();
            if let Some(i) = logs.find("metrics listening on http://") {
                let rest = &logs[i + "metrics listening on http://".len()..];
                return rest.split_whitespace().next().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "no metrics address in the log:\n{logs}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A raw HTTP/1.1 request; returns (status, body).
    pub fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {resp:?}"));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        // Bodies here are small: hyper sends them with Content-Length, not chunked.
        (status, body.to_string())
    }

    /// One sample: metric name, labels, value.
    #[derive(Debug, Clone)]
    pub struct Sample {
        pub name: String,
        pub labels: BTreeMap<String, String>,
        pub value: f64,
    }

    /// A strict reader of the Prometheus text format: every non-comment line is
    /// `name{label="value",…} value`, and every sample's family has a HELP and a TYPE line before it.
    pub fn parse_exposition(text: &str) -> Vec<Sample> {
        let mut help = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, h) = rest.split_once(' ').unwrap_or_else(|| panic!("bad HELP line {line:?}"));
                assert!(!h.trim().is_empty(), "empty help text: {line:?}");
                help.insert(name.to_string(), h.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, t) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "type {t:?} in {line:?}");
                types.insert(name.to_string(), t.to_string());
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value in {line:?}"));
            let name = &line[..name_end];
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {line:?}"
            );
            let mut labels = BTreeMap::new();
            let mut rest = &line[name_end..];
            if let Some(r) = rest.strip_prefix('{') {
                let close = r.rfind('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut body = &r[..close];
                rest = &r[close + 1..];
                while !body.is_empty() {
                    let (k, v) = body.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name {k:?} in {line:?}");
                    // The value runs to the next unescaped quote.
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in v.char_indices() {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => {
                                end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
                    labels.insert(k.to_string(), v[..end].to_string());
                    body = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
                }
            }
            let value = rest.trim();
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
            };
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| types.get(*b).is_some_and(|t| t == "histogram")))
                .unwrap_or(name);
            assert!(help.contains_key(family), "{name} has no HELP line");
            assert!(types.contains_key(family), "{name} has no TYPE line");
            out.push(Sample { name: name.to_string(), labels, value });
        }
        out
    }

    pub fn scrape(addr: &str) -> Vec<Sample> {
        let (status, body) = http(addr, "GET", "/metrics");
        assert_eq!(status, 200, "{body}");
        parse_exposition(&body)
    }

    /// The value of the sample `name` whose labels include `labels`.
    pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
    }

    pub fn has(samples: &[Sample], name: &str) -> bool {
        samples.iter().any(|s| s.name == name)
    }
}
