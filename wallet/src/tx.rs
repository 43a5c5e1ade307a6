//! The wallet CLI against any node's JSON-RPC: `cpcd tx transfer|submit-result` (signed with
//! a key unlocked from the keystore) and `cpcd query balance|account|block|tx|receipt|results`.
//!
//! Output is human text by default and the node's raw JSON with `--json`. Every failure
//! (bad input, an unreachable node, a rejected or failed transaction, a missing object) exits
//! non-zero with the reason on stderr; the node's rejection messages name the rule.

use crate::keystore::{self, KeystoreArgs};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use cpc_primitives::{
    format_cpc, Address, ComputeResult, Payload, Transaction, TxType, UnsignedTx, H256, UNITS_PER_CPC,
};
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Default JSON-RPC endpoint (the node's default `--http.addr`/`--http.port`).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8545";
/// Default gas price in base units per gas (the dev genesis' `min_gas_price`).
pub const DEFAULT_GAS_PRICE: u64 = 1000;
/// How long one JSON-RPC request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Receipt polling interval for `--wait`.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Largest memo a TRANSFER payload may carry (docs/PROTOCOL-NOTES.md).
const MAX_MEMO_BYTES: usize = 256;
/// Largest ComputeResult file read (a proof is at most 64 KiB of hex; leaves room).
const MAX_RESULT_BYTES: u64 = 1 << 20;

// --- amounts -------------------------------------------------------------------------------

/// Parses a CLI amount: `1.5cpc`, `1.5 CPC`, `2cpc` (CPC, at most 18 decimals) or plain base
/// units `1500000000000000000` (no suffix = base units, integers only).
pub fn parse_amount_arg(s: &str) -> Result<u128, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty amount: write e.g. 1.5cpc or base units like 1500000000000000000".into());
    }
    let lower = t.to_ascii_lowercase();
    let (num, in_cpc) = match lower.strip_suffix("cpc") {
        Some(n) => (n.trim_end(), true),
        None => (lower.as_str(), false),
    };
    if num.starts_with('-') {
        return Err(format!("amount must not be negative, found {s:?}"));
    }
    if num.is_empty() {
        return Err(format!("no number in amount {s:?}: write e.g. 1.5cpc"));
    }
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(format!(
            "expected an amount like 1.5cpc, 2 CPC or base units like 1500000000000000000, found {s:?}"
        ));
    }
    let too_large = || format!("amount {s:?} is too large (at most {} base units)", u128::MAX);
    if !in_cpc {
        if frac.is_some() {
            return Err(format!(
                "{s:?} has a decimal point but no unit: a plain number is in base units (1 CPC = 10^18); write {s}cpc for CPC"
            ));
        }
        return int.parse::<u128>().map_err(|_| too_large());
    }
    let frac = frac.unwrap_or("");
    if frac.len() > 18 {
        return Err(format!("amount {s:?} has {} decimal places: CPC has at most 18 (1 base unit = 10^-18 CPC)", frac.len()));
    }
    let whole = int.parse::<u128>().map_err(|_| too_large())?;
    let frac_units = if frac.is_empty() { 0 } else { format!("{frac:0<18}").parse::<u128>().expect("18 digits") };
    whole.checked_mul(UNITS_PER_CPC).and_then(|w| w.checked_add(frac_units)).ok_or_else(too_large)
}

/// `1.5 CPC (1500000000000000000 base units)`.
fn show_amount(units: u128) -> String {
    format!("{} ({units} base units)", format_cpc(units))
}

// --- CLI -----------------------------------------------------------------------------------

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

/// `cpcd tx …`.
#[derive(Args, Debug)]
pub struct TxArgs {
    #[command(subcommand)]
    pub cmd: TxCmd,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub store: KeystoreArgs,
}

/// `--wait` and `--timeout`.
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait until the transaction is in a block and print its receipt.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits: `60s`, `2m`, `500ms`, …
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::cli::parse_duration_ms)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum TxCmd {
    /// Send CPC: signs a TRANSFER with the --from key from the keystore and sends it.
    Transfer {
        /// Sender; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// Recipient.
        #[arg(long, value_name = "ADDRESS")]
        to: Address,
        /// `1.5cpc`, `2 CPC`, or base units (no suffix; 1 CPC = 10^18 base units).
        #[arg(long, value_parser = parse_amount_arg, allow_hyphen_values = true)]
        amount: u128,
        /// Base units per gas; fee = 21 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        /// Text carried in the payload (at most 256 bytes).
        #[arg(long)]
        memo: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Submit a ComputeResult (e.g. the output of `cpcd poc solve`) as a SUBMIT_RESULT signed
    /// by its worker, --from.
    SubmitResult {
        /// The worker: must equal the result's worker_address; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// ComputeResult JSON file (default: stdin).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Set the result's own worker signature (CPC-RESULT-V1) with the --from key.
        #[arg(long = "sign-result")]
        sign_result: bool,
        /// Base units per gas; fee = 80 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// `cpcd query …`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(subcommand)]
    pub cmd: QueryCmd,
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Subcommand, Debug)]
pub enum QueryCmd {
    /// An account's balance (cpc_getBalance).
    Balance { address: Address },
    /// An account's balance, nonce and pending nonce (cpc_getAccount).
    Account { address: Address },
    /// A block by height, `latest`, `earliest` or hash (cpc_getBlockByNumber / ByHash).
    Block {
        /// HEIGHT, latest, earliest or a 64-hex-digit block hash.
        #[arg(default_value = "latest")]
        block: String,
        /// Include the transaction objects, not only their hashes.
        #[arg(long)]
        full: bool,
    },
    /// A transaction by hash, pending or included (cpc_getTransactionByHash).
    Tx { hash: H256 },
    /// The receipt of an included transaction (cpc_getTransactionReceipt).
    Receipt { hash: H256 },
    /// The ComputeResults of a block (cpc_getComputeResults).
    Results {
        /// HEIGHT, latest or earliest.
        #[arg(default_value = "latest")]
        block: String,
    },
}

// --- JSON-RPC ------------------------------------------------------------------------------

struct Rpc {
    client: HttpClient,
    url: String,
}

impl Rpc {
    fn new(url: &str) -> Result<Rpc> {
        let client = HttpClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .build(url)
            .map_err(|e| anyhow!("--node {url}: {e}"))?;
        Ok(Rpc { client, url: url.to_string() })
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
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

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

/// Runs `cpcd tx …`.
pub fn run_tx(args: TxArgs) -> Result<()> {
    runtime()?.block_on(tx(args))
}

/// Runs `cpcd query …`.
pub fn run_query(args: QueryArgs) -> Result<()> {
    runtime()?.block_on(query(args))
}

// --- tx ------------------------------------------------------------------------------------

/// What a transaction needs besides its type-specific fields.
struct Sender<'a> {
    rpc: &'a Rpc,
    store: &'a KeystoreArgs,
    from: Address,
}

impl Sender<'_> {
    /// Unlocks the key, fetches chain id and nonce, checks the balance covers `amount + fee`,
    /// signs, sends. Returns the signed transaction.
    async fn sign_and_send(
        &self,
        tx_type: TxType,
        to: Option<Address>,
        amount: u128,
        gas_price: u64,
        payload: impl FnOnce(&cpc_primitives::SecretKey) -> Result<Payload>,
    ) -> Result<Transaction> {
        let dir = self.store.dir()?;
        // Cheap checks before the password prompt: the node answers, the key exists.
        let chain_id: String = self.rpc.call("cpc_chainId", vec![]).await?;
        if !keystore::key_path(&dir, &self.from).exists() {
            bail!("no key for {} in keystore {} (import it with `cpcd key import`)", self.from, dir.display());
        }
        let password = Zeroizing::new(keystore::read_password(
            self.store.password_file.as_deref(),
            &format!("Password for {}: ", self.from),
        )?);
        let sk = keystore::unlock(&dir, &self.from, &password)?;
        let payload = payload(&sk)?;
        let gas_limit = tx_type.intrinsic_gas();
        let fee = gas_limit as u128 * gas_price as u128;
        let nonce: u64 = self.rpc.call("cpc_getTransactionCount", vec![self.from.to_string().into()]).await?;
        let balance: String = self.rpc.call("cpc_getBalance", vec![self.from.to_string().into()]).await?;
        let balance: u128 = balance.parse().map_err(|_| anyhow!("cpc_getBalance: not a decimal amount: {balance:?}"))?;
        let cost = amount.checked_add(fee).ok_or_else(|| anyhow!("amount + fee overflows"))?;
        if balance < cost {
            bail!(
                "insufficient balance: {} has {}, the transaction needs amount + fee = {} + {} = {}",
                self.from,
                format_cpc(balance),
                format_cpc(amount),
                format_cpc(fee),
                format_cpc(cost)
            );
        }
        let tx = UnsignedTx {
            chain_id,
            tx_type,
            from_address: self.from,
            to_address: to,
            amount,
            fee,
            nonce,
            gas_price,
            gas_limit,
            payload,
        }
        .sign(&sk);
        let body: Value = serde_json::from_slice(&tx.canonical_json()).expect("canonical JSON parses");
        let hash: String = self.rpc.call("cpc_sendTransaction", vec![body]).await?;
        if hash != tx.hash().to_hex() {
            bail!("the node answered hash {hash}, but the transaction's hash is {}", tx.hash());
        }
        Ok(tx)
    }
}

async fn wait_receipt(rpc: &Rpc, hash: &H256, timeout_ms: u64) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let r: Value = rpc.call("cpc_getTransactionReceipt", vec![hash.to_hex().into()]).await?;
        if !r.is_null() {
            return Ok(r);
        }
        if Instant::now() >= deadline {
            bail!(
                "no receipt for {hash} within {:.1} s; it may still be pending (`cpcd query receipt {hash}`)",
                timeout_ms as f64 / 1000.0
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Prints the sent transaction (and with `--wait` its receipt); a receipt with status
/// `failed` is an error.
async fn report(rpc: &Rpc, tx: &Transaction, wait: &WaitArgs, json_out: bool) -> Result<()> {
    let hash = tx.hash();
    if !json_out {
        println!("{hash}");
    }
    let receipt = if wait.wait { Some(wait_receipt(rpc, &hash, wait.timeout).await?) } else { None };
    if json_out {
        let mut out = json!({"hash": hash.to_hex(), "tx": serde_json::from_slice::<Value>(&tx.canonical_json())?});
        if let Some(r) = &receipt {
            out["receipt"] = r.clone();
        }
        println!("{out}");
    } else if let Some(r) = &receipt {
        print_receipt(r);
    } else {
        eprintln!("sent (nonce {}, fee {}); `cpcd query receipt {hash}` once it is in a block", tx.nonce, format_cpc(tx.fee));
    }
    if let Some(r) = receipt {
        if r["status"] != "success" {
            bail!("transaction {hash} was included but failed: {}", r["error"].as_str().unwrap_or("(no reason given)"));
        }
    }
    Ok(())
}

fn read_result(file: Option<&PathBuf>) -> Result<ComputeResult> {
    let text = match file {
        Some(p) => {
            let len = std::fs::metadata(p).with_context(|| format!("--file {}", p.display()))?.len();
            if len > MAX_RESULT_BYTES {
                bail!("--file {}: {len} bytes is too large for a ComputeResult", p.display());
            }
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("give the ComputeResult with --file FILE or on stdin (e.g. `cpcd poc solve … | cpcd tx submit-result …`)");
            }
            let mut s = String::new();
            std::io::stdin().take(MAX_RESULT_BYTES + 1).read_to_string(&mut s).context("reading stdin")?;
            s
        }
    };
    let v: Value = serde_json::from_str(text.trim()).map_err(|e| anyhow!("the ComputeResult is not JSON: {e}"))?;
    let map = v.as_object().ok_or_else(|| anyhow!("the ComputeResult must be a JSON object"))?.clone();
    let p = Payload::from_map(map).map_err(|e| anyhow!("the ComputeResult: {e}"))?;
    ComputeResult::from_payload(&p).map_err(|e| anyhow!("{e}"))
}

async fn tx(args: TxArgs) -> Result<()> {
    let rpc = Rpc::new(&args.node.node)?;
    match args.cmd {
        TxCmd::Transfer { from, to, amount, gas_price, memo, wait } => {
            let payload = match memo {
                None => Payload::empty(),
                Some(m) => {
                    if m.len() > MAX_MEMO_BYTES {
                        bail!("--memo is {} bytes: at most {MAX_MEMO_BYTES}", m.len());
                    }
                    let mut map = Map::new();
                    map.insert("memo".into(), Value::String(m));
                    Payload::from_map(map).expect("a string payload")
                }
            };
            let s = Sender { rpc: &rpc, store: &args.store, from };
            let tx = s.sign_and_send(TxType::Transfer, Some(to), amount, gas_price, |_| Ok(payload)).await?;
            report(&rpc, &tx, &wait, args.node.json).await
        }
        TxCmd::SubmitResult { from, file, sign_result, gas_price, wait } => {
            let mut result = read_result(file.as_ref())?;
            let worker: Address = result
                .worker_address
                .parse()
                .map_err(|e| anyhow!("the result's worker_address {:?}: {e}", result.worker_address))?;
            if worker != from {
                bail!(
                    "the result's worker_address is {worker} but --from is {from}: a SUBMIT_RESULT must be sent by the result's worker"
                );
            }
            let s = Sender { rpc: &rpc, store: &args.store, from };
            let tx = s
                .sign_and_send(TxType::SubmitResult, None, 0, gas_price, |sk| {
                    if sign_result {
                        result.sign(sk);
                    }
                    Ok(result.to_payload())
                })
                .await?;
            report(&rpc, &tx, &wait, args.node.json).await
        }
    }
}

// --- query ---------------------------------------------------------------------------------

/// `latest`, `earliest` or a height, as the RPC's block parameter.
fn block_number_param(s: &str) -> Result<Value> {
    match s {
        "latest" | "earliest" => Ok(s.into()),
        _ => s
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| anyhow!("expected a block height, latest or earliest, found {s:?}")),
    }
}

fn found(v: Value, what: &str) -> Result<Value> {
    if v.is_null() {
        bail!("{what} not found");
    }
    Ok(v)
}

async fn query(args: QueryArgs) -> Result<()> {
    let rpc = Rpc::new(&args.node.node)?;
    let json_out = args.node.json;
    let (value, print): (Value, fn(&Value)) = match args.cmd {
        QueryCmd::Balance { address } => {
            let v: Value = rpc.call("cpc_getBalance", vec![address.to_string().into()]).await?;
            (v, print_balance)
        }
        QueryCmd::Account { address } => {
            (rpc.call("cpc_getAccount", vec![address.to_string().into()]).await?, print_account)
        }
        QueryCmd::Block { block, full } => {
            let hex = block.strip_prefix("0x").unwrap_or(&block);
            let v: Value = if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                rpc.call("cpc_getBlockByHash", vec![hex.to_ascii_lowercase().into(), full.into()]).await?
            } else {
                rpc.call("cpc_getBlockByNumber", vec![block_number_param(&block)?, full.into()]).await?
            };
            (found(v, &format!("block {block}"))?, print_block)
        }
        QueryCmd::Tx { hash } => {
            let v = rpc.call("cpc_getTransactionByHash", vec![hash.to_hex().into()]).await?;
            (found(v, &format!("transaction {hash}"))?, print_tx)
        }
        QueryCmd::Receipt { hash } => {
            let v = rpc.call("cpc_getTransactionReceipt", vec![hash.to_hex().into()]).await?;
            (found(v, &format!("receipt of {hash} (pending or unknown transaction)"))?, print_receipt)
        }
        QueryCmd::Results { block } => {
            let v = rpc.call("cpc_getComputeResults", vec![block_number_param(&block)?]).await?;
            (found(v, &format!("block {block}"))?, print_results)
        }
    };
    if json_out {
        println!("{value}");
    } else {
        print(&value);
    }
    Ok(())
}

// --- text output ---------------------------------------------------------------------------

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn amount_of(v: &Value) -> String {
    match v.as_str().and_then(|x| x.parse::<u128>().ok()) {
        Some(u) => show_amount(u),
        None => s(v),
    }
}

fn print_balance(v: &Value) {
    println!("{}", amount_of(v));
}

fn print_account(v: &Value) {
    println!("address        {}", s(&v["address"]));
    println!("balance        {}", amount_of(&v["balance"]));
    println!("nonce          {}", s(&v["nonce"]));
    println!("pending nonce  {}", s(&v["pending_nonce"]));
}

fn print_block(v: &Value) {
    let h = &v["header"];
    println!("block          {}", s(&h["height"]));
    println!("hash           {}", s(&v["hash"]));
    println!("parent         {}", s(&h["prev_hash"]));
    println!("timestamp      {} (unix ms)", s(&h["timestamp"]));
    println!("chain id       {}", s(&h["chain_id"]));
    println!("proposer       {} (round {})", s(&h["proposer_address"]), s(&h["round"]));
    println!("state root     {}", s(&h["state_root"]));
    println!("tx root        {}", s(&h["tx_root"]));
    let cr = s(&h["compute_root"]);
    println!("compute root   {}", if cr.is_empty() { "(none)".into() } else { cr });
    println!("gas            {} used of {}", s(&h["gas_used"]), s(&h["gas_limit"]));
    let txs = v["transactions"].as_array().cloned().unwrap_or_default();
    println!("transactions   {}", txs.len());
    for t in &txs {
        if t.is_object() {
            let to = if t["to_address"].is_null() { String::new() } else { format!(" → {}", s(&t["to_address"])) };
            println!(
                "  {} {} {}{} {} (fee {})",
                s(&t["hash"]),
                s(&t["tx_type"]),
                s(&t["from_address"]),
                to,
                amount_of(&t["amount"]),
                amount_of(&t["fee"])
            );
        } else {
            println!("  {}", s(t));
        }
    }
}

fn print_tx(v: &Value) {
    println!("hash           {}", s(&v["hash"]));
    println!("type           {}", s(&v["tx_type"]));
    println!("from           {}", s(&v["from_address"]));
    println!("to             {}", s(&v["to_address"]));
    println!("amount         {}", amount_of(&v["amount"]));
    println!("fee            {} (gas limit {} × gas price {})", amount_of(&v["fee"]), s(&v["gas_limit"]), s(&v["gas_price"]));
    println!("nonce          {}", s(&v["nonce"]));
    println!("chain id       {}", s(&v["chain_id"]));
    println!("payload        {}", v["payload"]);
    if v["block_height"].is_null() {
        println!("status         pending");
    } else {
        println!("block          {} ({}), index {}", s(&v["block_height"]), s(&v["block_hash"]), s(&v["index"]));
    }
}

fn print_receipt(v: &Value) {
    println!("tx hash        {}", s(&v["tx_hash"]));
    println!("status         {}", s(&v["status"]));
    println!("block          {} ({}), index {}", s(&v["block_height"]), s(&v["block_hash"]), s(&v["index"]));
    println!("from           {}", s(&v["from_address"]));
    println!("gas used       {}", s(&v["gas_used"]));
    println!("fee paid       {}", amount_of(&v["fee_paid"]));
    if !v["error"].is_null() {
        println!("error          {}", s(&v["error"]));
    }
}

fn print_results(v: &Value) {
    println!("block          {} ({})", s(&v["height"]), s(&v["block_hash"]));
    let cr = s(&v["compute_root"]);
    println!("compute root   {}", if cr.is_empty() { "(none)".into() } else { cr });
    println!("share target   {}", s(&v["share_target"]));
    println!("shares         {}, {} each", s(&v["shares"]), amount_of(&v["share_reward"]));
    let rs = v["results"].as_array().cloned().unwrap_or_default();
    println!("results        {}", rs.len());
    for r in &rs {
        let res = &r["result"];
        println!("  task {}", s(&res["task_id"]));
        println!("    worker     {}", s(&res["worker_address"]));
        println!("    tx         {}", s(&r["tx_hash"]));
        println!("    synthetic  {}", s(&r["synthetic"]));
        if !r["share_value"].is_null() {
            println!("    share      {}", s(&r["share_value"]));
        }
        println!("    reward     {}", if r["reward"].is_null() { "none".into() } else { amount_of(&r["reward"]) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPC: u128 = UNITS_PER_CPC;

    #[test]
    fn amounts_in_cpc_and_base_units() {
        assert_eq!(parse_amount_arg("1.5cpc"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("1.5 CPC"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("1.5CPC"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("2cpc"), Ok(2 * CPC));
        assert_eq!(parse_amount_arg(" 2 Cpc "), Ok(2 * CPC));
        assert_eq!(parse_amount_arg("0cpc"), Ok(0));
        assert_eq!(parse_amount_arg("0.000000000000000001cpc"), Ok(1));
        assert_eq!(parse_amount_arg("1.000000000000000000cpc"), Ok(CPC));
        assert_eq!(parse_amount_arg("1500000000000000000"), Ok(CPC * 3 / 2));
        assert_eq!(parse_amount_arg("0"), Ok(0));
        assert_eq!(parse_amount_arg("007"), Ok(7));
        assert_eq!(parse_amount_arg(&u128::MAX.to_string()), Ok(u128::MAX));
        // The largest CPC amount that fits.
        let max_whole = u128::MAX / CPC;
        assert_eq!(parse_amount_arg(&format!("{max_whole}cpc")), Ok(max_whole * CPC));
    }

    #[test]
    fn bad_amounts_have_clear_errors() {
        let err = |s: &str| parse_amount_arg(s).unwrap_err();
        assert!(err("1.0000000000000000001cpc").contains("at most 18"), "{}", err("1.0000000000000000001cpc"));
        assert!(err("-1cpc").contains("negative"));
        assert!(err("-5").contains("negative"));
        assert!(err("1.5").contains("decimal point but no unit"));
        assert!(err("340282366920938463463374607431768211456").contains("too large"));
        assert!(err(&format!("{}cpc", u128::MAX / CPC + 1)).contains("too large"));
        assert!(err("340282366920938463463374607431768211456cpc").contains("too large"));
        for garbage in ["", "cpc", "abc", "1.5eth", "1e18", "1,5cpc", ".5cpc", "5.cpc", "1..5cpc", "+1cpc", "0x10", "1 5cpc", "1.5 cpc cpc"] {
            assert!(parse_amount_arg(garbage).is_err(), "{garbage:?} accepted");
        }
    }

    #[test]
    fn block_params() {
        assert_eq!(block_number_param("latest").unwrap(), json!("latest"));
        assert_eq!(block_number_param("12").unwrap(), json!(12));
        assert!(block_number_param("-1").is_err());
    }
}
