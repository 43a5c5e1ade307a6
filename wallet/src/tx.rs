//! `cpcd tx transfer|submit-result`: transactions signed with a key unlocked from the
//! keystore and sent to any node's JSON-RPC.
//!
//! Output is human text by default and the node's raw JSON with `--json`. Every failure
//! (bad input, an unreachable node, a rejected or failed transaction, a missing object) exits
//! non-zero with the reason on stderr; the node's rejection messages name the rule.

use crate::amount::parse_amount_arg;
use crate::client::{runtime, NodeArgs, Rpc};
use crate::key::KeystoreArgs;
use crate::keystore;
use crate::query::print_receipt;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use cpc_primitives::{format_cpc, Address, ComputeResult, Payload, Transaction, TxType, UnsignedTx, H256};
use serde_json::{json, Map, Value};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Default gas price in base units per gas (the dev genesis' `min_gas_price`).
pub const DEFAULT_GAS_PRICE: u64 = 1000;
/// Receipt polling interval for `--wait`.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Largest memo a TRANSFER payload may carry (docs/PROTOCOL-NOTES.md).
const MAX_MEMO_BYTES: usize = 256;
/// Largest ComputeResult file read (a proof is at most 64 KiB of hex; leaves room).
const MAX_RESULT_BYTES: u64 = 1 << 20;

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
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::duration::parse_duration_ms)]
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


/// Runs `cpcd tx …`.
pub fn run(args: TxArgs) -> Result<()> {
    runtime()?.block_on(tx(args))
}

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
    if let Some(r) = receipt
        && r["status"] != "success"
    {
        bail!("transaction {hash} was included but failed: {}", r["error"].as_str().unwrap_or("(no reason given)"));
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
