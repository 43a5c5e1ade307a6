//! Load generator: signs transfers from many accounts and submits them to a `cpcd --dev`
//! node over JSON-RPC batches; reports accepted/s and committed transactions per second.
//!
//! ```text
//! cpc-loadgen [--rpc URL | --spawn | --spawn-validators N] [--block-time 0] [--accounts 200]
//!             [--txs 60000] [--batch 500] [--concurrency 4]
//! ```
//! With `--spawn` it starts its own `cpcd --dev` (the binary next to this one) on a free
//! port with a temporary datadir; with `--spawn-validators N` a testnet of N validators
//! deciding by BFT consensus on loopback (`--block-time` is then the chain's block time), the
//! load spread over every validator's JSON-RPC. A node it spawns runs with
//! `--rpc.calls-per-sec 0`: the benchmark measures the node, not its per-connection limit.

use anyhow::{bail, Context, Result};
use cpc_primitives::*;
use cpcd_tests::*;
use jsonrpsee::core::client::{BatchResponse, ClientT};
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Opts {
    rpc: Option<String>,
    validators: Option<usize>,
    block_time: String,
    accounts: usize,
    txs: usize,
    batch: usize,
    concurrency: usize,
}

fn parse_opts() -> Result<Opts> {
    let mut o = Opts { rpc: None, validators: None, block_time: "0".into(), accounts: 200, txs: 60_000, batch: 500, concurrency: 4 };
    let mut spawn = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().context(format!("{a} needs a value"));
        match a.as_str() {
            "--rpc" => o.rpc = Some(val()?),
            "--spawn" => spawn = true,
            "--spawn-validators" => o.validators = Some(val()?.parse()?),
            "--block-time" => o.block_time = val()?,
            "--accounts" => o.accounts = val()?.parse()?,
            "--txs" => o.txs = val()?.parse()?,
            "--batch" => o.batch = val()?.parse()?,
            "--concurrency" => o.concurrency = val()?.parse()?,
            "-h" | "--help" => {
                println!("cpc-loadgen [--rpc URL | --spawn] [--block-time 0] [--accounts N] [--txs N] [--batch N] [--concurrency N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if o.rpc.is_none() && !spawn && o.validators.is_none() {
        bail!("give --rpc URL, --spawn or --spawn-validators N");
    }
    Ok(o)
}

fn client(url: &str) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .build(url)
        .unwrap()
}

/// Sends one batch; returns (accepted, rejected, first rejection message).
async fn send_batch(c: &HttpClient, txs: &[Value]) -> Result<(usize, usize, Option<String>)> {
    let mut b = BatchRequestBuilder::new();
    for t in txs {
        b.insert("cpc_sendTransaction", vec![t.clone()])?;
    }
    let resp: BatchResponse<String> = c.batch_request(b).await?;
    let (mut ok, mut bad, mut first) = (0, 0, None);
    for r in resp.into_iter() {
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                bad += 1;
                first.get_or_insert_with(|| e.message().to_string());
            }
        }
    }
    Ok((ok, bad, first))
}


#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = parse_opts()?;
    let mut _nodes = Vec::new();
    let _dir = tempfile::tempdir()?;
    let (chain, urls) = match (&o.rpc, o.validators) {
        (Some(u), _) => (CHAIN_ID, vec![u.clone()]),
        (None, Some(n)) => {
            let block_time = if o.block_time == "0" { "250ms" } else { o.block_time.as_str() };
            let dirs = testnet_init(_dir.path(), n, n, block_time)?;
            for d in &dirs {
                _nodes.push(NodeProc::start_datadir(d, &["--log.filter", "warn,cpcd::launcher=info", "--rpc.calls-per-sec", "0"])?);
            }
            let c = client(&_nodes[0].rpc_url);
            wait_height(&c, 2, Duration::from_secs(60)).await?;
            println!("cpc-loadgen: {n} BFT validators on loopback, block time {block_time}");
            (TESTNET_CHAIN_ID, _nodes.iter().map(|n| n.rpc_url.clone()).collect())
        }
        (None, None) => {
            let n = NodeProc::start_dev(
                None,
                &["--dev.block-time", &o.block_time, "--log.filter", "warn,cpcd::launcher=info", "--rpc.calls-per-sec", "0"],
            )?;
            let u = n.rpc_url.clone();
            _nodes.push(n);
            (CHAIN_ID, vec![u])
        }
    };
    let url = urls[0].clone();
    let c = client(&url);
    let per_sender = o.txs.div_ceil(o.accounts);
    println!("cpc-loadgen: {} transfers from {} accounts ({} each) to {url}", o.txs, o.accounts, per_sender);

    // 1. Fund fresh sender accounts from the dev accounts.
    let dev = keys();
    let senders: Vec<SecretKey> =
        (0..o.accounts).map(|i| SecretKey::from_bytes(&sha256(format!("cpc-loadgen-{i}").as_bytes()).0)).collect();
    let fund = (per_sender as u128 + 1) * (21_000 * 1000 + 1000);
    let mut dev_nonce = Vec::new();
    for k in &dev[1..] {
        let v = call(&c, "cpc_getTransactionCount", vec![addr_of(k).to_string().into()]).await?;
        dev_nonce.push(v.as_u64().unwrap_or(0));
    }
    let mut funding = Vec::new();
    for (i, s) in senders.iter().enumerate() {
        let d = i % (dev.len() - 1);
        funding.push(tx_json(&transfer_on(chain, &dev[d + 1], addr_of(s), fund, dev_nonce[d])));
        dev_nonce[d] += 1;
    }
    for chunk in funding.chunks(o.batch) {
        let (_, bad, first) = send_batch(&c, chunk).await?;
        if bad > 0 {
            bail!("funding rejected: {}", first.unwrap_or_default());
        }
    }
    // Wait until every funding transfer is in.
    for t in &funding {
        let h = serde_json::from_value::<Transaction>(t.clone())?.hash().to_hex();
        wait_receipt(&c, &h, Duration::from_secs(120)).await?;
    }

    // 2. Pre-sign everything (signing is not what we measure).
    let sign_start = Instant::now();
    let recipients: Vec<Address> = (0..64u8).map(|i| Address([i; 20])).collect();
    let mut all: Vec<(String, Value)> = Vec::with_capacity(o.txs);
    'outer: for n in 0..per_sender as u64 {
        for (i, s) in senders.iter().enumerate() {
            if all.len() >= o.txs {
                break 'outer;
            }
            let tx = transfer_on(chain, s, recipients[(i + n as usize) % recipients.len()], 1000, n);
            all.push((tx.hash().to_hex(), tx_json(&tx)));
        }
    }
    println!("signed {} transfers in {:.2} s", all.len(), sign_start.elapsed().as_secs_f64());

    // 3. Submit in concurrent batches.
    let start_height = block_number(&c).await?;
    let batches: Vec<Vec<Value>> = all.chunks(o.batch).map(|ch| ch.iter().map(|(_, v)| v.clone()).collect()).collect();
    let batches = Arc::new(tokio::sync::Mutex::new(batches.into_iter()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..o.concurrency {
        let batches = batches.clone();
        let c = client(&urls[i % urls.len()]);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut bad, mut first) = (0usize, 0usize, None::<String>);
            loop {
                let next = batches.lock().await.next();
                let Some(b) = next else { break };
                let (o, r, f) = send_batch(&c, &b).await?;
                ok += o;
                bad += r;
                if first.is_none() {
                    first = f;
                }
            }
            anyhow::Ok((ok, bad, first))
        }));
    }
    let (mut accepted, mut rejected, mut first_err) = (0, 0, None);
    for t in tasks {
        let (a, r, f) = t.await??;
        accepted += a;
        rejected += r;
        if first_err.is_none() {
            first_err = f;
        }
    }
    let submit_s = t0.elapsed().as_secs_f64();

    // 4. Wait for every accepted transaction to commit: the pool drains when all are in.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if all_committed(&c, &all).await? {
            break;
        }
        if Instant::now() > deadline {
            for (i, n) in _nodes.iter().enumerate() {
                let f = std::env::temp_dir().join(format!("cpc-loadgen-node{i}.log"));
                std::fs::write(&f, n.logs())?;
                eprintln!("node{i}'s log: {}", f.display());
            }
            bail!("transactions still pending after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let commit_s = t0.elapsed().as_secs_f64();
    let end_height = block_number(&c).await?;
    let mut committed = 0usize;
    for h in start_height + 1..=end_height {
        let b = call(&c, "cpc_getBlockByNumber", vec![h.into(), false.into()]).await?;
        committed += b["transactions"].as_array().map_or(0, |a| a.len());
    }
    println!(
        "submitted {} txs: accepted {accepted}, rejected {rejected}{}",
        all.len(),
        first_err.map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    println!("accepted/s:  {:.0}  ({accepted} in {submit_s:.2} s)", accepted as f64 / submit_s);
    println!(
        "committed/s: {:.0}  ({committed} txs in blocks {}..={} in {commit_s:.2} s, {:.0} txs/block)",
        committed as f64 / commit_s,
        start_height + 1,
        end_height,
        committed as f64 / (end_height - start_height).max(1) as f64
    );
    if rejected > 0 {
        bail!("{rejected} transactions were rejected");
    }
    Ok(())
}

/// True when the last transaction of every sender has a receipt.
async fn all_committed(c: &HttpClient, all: &[(String, Value)]) -> Result<bool> {
    // The last few hundred submitted are the last to commit; checking them is enough.
    for (h, _) in all.iter().rev().take(200) {
        if call(c, "cpc_getTransactionReceipt", vec![h.clone().into()]).await?.is_null() {
            return Ok(false);
        }
    }
    Ok(true)
}
