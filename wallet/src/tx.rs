//! `cpcd tx transfer|submit-result|stake|unstake|delegate|undelegate|unjail|edit-validator|
//! withdraw-rewards`: transactions signed with a key unlocked from the keystore and sent to any
//! node's JSON-RPC (the staking payloads and checks: [`crate::staking`]).
//!
//! Output is human text by default and the node's raw JSON with `--json`. Every failure
//! (bad input, an unreachable node, a rejected or failed transaction, a missing object) exits
//! non-zero with the reason on stderr; the node's rejection messages name the rule.

use crate::amount::parse_amount_arg;
use crate::client::{runtime, NodeArgs, Rpc};
use crate::key::KeystoreArgs;
use crate::keystore;
use crate::query::print_receipt;
use crate::staking::{self, CreateArgs, Plan};
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
    /// Create a validator operated by --from (its first STAKE, with the description below) or
    /// add to its self-bond (later STAKEs; the description flags are refused then).
    Stake {
        /// Operator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// Tokens to bond: `200000cpc`, `2 CPC` or base units (creation: at least the chain's
        /// `staking.min_self_bond`).
        #[arg(long, value_parser = parse_amount_arg, allow_hyphen_values = true)]
        amount: u128,
        #[command(flatten)]
        create: CreateArgs,
        /// Base units per gas; fee = 40 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Unbond --amount of the self-bond of --from's validator (paid back after the unbonding
    /// period).
    Unstake {
        /// Operator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// Tokens to unbond: `500cpc`, …
        #[arg(long, value_parser = parse_amount_arg, allow_hyphen_values = true)]
        amount: u128,
        /// Base units per gas; fee = 40 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delegate --amount to a validator (the rewards so far are paid out first).
    Delegate {
        /// Delegator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// The validator's operator address.
        #[arg(long, value_name = "ADDRESS")]
        validator: Address,
        /// Tokens to bond: `1000cpc`, …
        #[arg(long, value_parser = parse_amount_arg, allow_hyphen_values = true)]
        amount: u128,
        /// Base units per gas; fee = 35 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Undelegate --amount from a validator (paid back after the unbonding period).
    Undelegate {
        /// Delegator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// The validator's operator address.
        #[arg(long, value_name = "ADDRESS")]
        validator: Address,
        /// Tokens to unbond: `250cpc`, …
        #[arg(long, value_parser = parse_amount_arg, allow_hyphen_values = true)]
        amount: u128,
        /// Base units per gas; fee = 35 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Bring --from's validator back after its downtime jail time (UNJAIL).
    Unjail {
        /// Operator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// Base units per gas; fee = 50 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change the moniker and/or the commission rate of --from's validator (UPDATE_VALIDATOR).
    EditValidator {
        /// Operator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// New name.
        #[arg(long)]
        moniker: Option<String>,
        /// New commission: `0.12` or `12%` (within the max rate, by at most the max change,
        /// once per 24 h).
        #[arg(long = "commission-rate", value_name = "RATE", value_parser = staking::parse_rate_arg)]
        commission_rate: Option<u32>,
        /// Base units per gas; fee = 30 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Withdraw the rewards of --from's delegation to a validator (a DELEGATE of 0; for the
    /// operator's own validator also its commission).
    WithdrawRewards {
        /// Delegator; its key must be in the keystore.
        #[arg(long, value_name = "ADDRESS")]
        from: Address,
        /// The validator's operator address.
        #[arg(long, value_name = "ADDRESS")]
        validator: Address,
        /// Base units per gas; fee = 35 000 × gas price.
        #[arg(long = "gas-price", default_value_t = DEFAULT_GAS_PRICE)]
        gas_price: u64,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// Whether a transaction of this type takes `amount` from the sender's balance (UNSTAKE and
/// UNDELEGATE name an amount of stake, not of balance; POST_JOB escrows its price, CLAIM_JOB
/// its bond).
fn debits_amount(t: TxType) -> bool {
    matches!(t, TxType::Transfer | TxType::Stake | TxType::Delegate | TxType::PostJob | TxType::ClaimJob)
}


/// Runs `cpcd tx …`.
pub fn run(args: TxArgs) -> Result<()> {
    runtime()?.block_on(tx(args))
}

/// What a transaction needs besides its type-specific fields.
pub(crate) struct Sender<'a> {
    pub(crate) rpc: &'a Rpc,
    pub(crate) store: &'a KeystoreArgs,
    pub(crate) from: Address,
}

impl Sender<'_> {
    /// Unlocks the key, fetches chain id and nonce, checks the balance covers `amount + fee`
    /// (only the fee where the type does not spend its amount), signs, sends. Returns the
    /// signed transaction.
    pub(crate) async fn sign_and_send(
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
        let spent = if debits_amount(tx_type) { amount } else { 0 };
        let cost = spent.checked_add(fee).ok_or_else(|| anyhow!("amount + fee overflows"))?;
        if balance < cost && spent == 0 {
            bail!("insufficient balance: {} has {}, the transaction needs the fee {}", self.from, format_cpc(balance), format_cpc(fee));
        }
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
pub(crate) async fn report(rpc: &Rpc, tx: &Transaction, wait: &WaitArgs, json_out: bool) -> Result<()> {
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
        TxCmd::Stake { from, amount, create, gas_price, wait } => {
            staking::positive(amount, "STAKE")?;
            let new = match staking::validator(&rpc, &from).await? {
                None => Some(create.resolve(&from)?),
                Some(_) if create.given() => bail!(
                    "{from} already operates a validator: a STAKE now only adds self-bond, so --moniker, \
                     --commission-rate, --max-rate, --max-change and --consensus-key do not apply \
                     (`cpcd tx edit-validator` changes the moniker and the commission rate)"
                ),
                Some(_) => None,
            };
            if let Some(key) = new.as_ref().and_then(|n| n.consensus_key) {
                staking::check_consensus_key_free(&rpc, &key).await?;
            }
            if new.is_some() {
                staking::check_min_self_bond(&rpc, amount).await?;
            }
            let s = Sender { rpc: &rpc, store: &args.store, from };
            let tx = s
                .sign_and_send(TxType::Stake, None, amount, gas_price, |sk| {
                    Ok(Plan::stake(amount, new.as_ref(), &sk.public_key()).payload)
                })
                .await?;
            report(&rpc, &tx, &wait, args.node.json).await
        }
        TxCmd::Unstake { from, amount, gas_price, wait } => {
            staking::positive(amount, "UNSTAKE")?;
            staking::existing_validator(&rpc, &from, "UNSTAKE unbonds the sender's own self-bond").await?;
            let d = staking::existing_delegation(&rpc, &from, &from).await?;
            staking::check_unbond(&d, amount)?;
            send_plan(&rpc, &args.store, from, Plan::unstake(amount), gas_price, &wait, args.node.json).await
        }
        TxCmd::Delegate { from, validator, amount, gas_price, wait } => {
            if amount == 0 {
                bail!("--amount: DELEGATE needs a positive amount, found 0 (`cpcd tx withdraw-rewards` withdraws only)");
            }
            let v = staking::existing_validator(&rpc, &validator, "--validator").await?;
            staking::check_delegate(&v)?;
            send_plan(&rpc, &args.store, from, Plan::delegate(validator, amount), gas_price, &wait, args.node.json).await
        }
        TxCmd::Undelegate { from, validator, amount, gas_price, wait } => {
            staking::positive(amount, "UNDELEGATE")?;
            staking::existing_validator(&rpc, &validator, "--validator").await?;
            let d = staking::existing_delegation(&rpc, &from, &validator).await?;
            staking::check_unbond(&d, amount)?;
            send_plan(&rpc, &args.store, from, Plan::undelegate(validator, amount), gas_price, &wait, args.node.json).await
        }
        TxCmd::Unjail { from, gas_price, wait } => {
            let v = staking::existing_validator(&rpc, &from, "UNJAIL unjails the sender's own validator").await?;
            let head: u64 = rpc.call("cpc_blockNumber", vec![]).await?;
            staking::check_unjail(&v, head + 1)?;
            send_plan(&rpc, &args.store, from, Plan::unjail(), gas_price, &wait, args.node.json).await
        }
        TxCmd::EditValidator { from, moniker, commission_rate, gas_price, wait } => {
            let plan = Plan::edit(moniker.as_deref(), commission_rate)?;
            let v = staking::existing_validator(&rpc, &from, "UPDATE_VALIDATOR edits the sender's own validator").await?;
            if let Some(r) = commission_rate {
                staking::check_rate_change(&v, r)?;
            }
            send_plan(&rpc, &args.store, from, plan, gas_price, &wait, args.node.json).await
        }
        TxCmd::WithdrawRewards { from, validator, gas_price, wait } => {
            staking::existing_validator(&rpc, &validator, "--validator").await?;
            staking::existing_delegation(&rpc, &from, &validator).await?;
            send_plan(&rpc, &args.store, from, Plan::withdraw_rewards(validator), gas_price, &wait, args.node.json).await
        }
    }
}

/// Signs and sends a staking plan from `from`, then reports it.
async fn send_plan(
    rpc: &Rpc,
    store: &KeystoreArgs,
    from: Address,
    plan: Plan,
    gas_price: u64,
    wait: &WaitArgs,
    json_out: bool,
) -> Result<()> {
    let s = Sender { rpc, store, from };
    let Plan { tx_type, to, amount, payload } = plan;
    let tx = s.sign_and_send(tx_type, to, amount, gas_price, |_| Ok(payload)).await?;
    report(rpc, &tx, wait, json_out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transfer_stake_delegate_and_the_markets_escrows_spend_their_amount() {
        for t in [TxType::Transfer, TxType::Stake, TxType::Delegate, TxType::PostJob, TxType::ClaimJob] {
            assert!(debits_amount(t), "{t}");
        }
        for t in [TxType::Unstake, TxType::Undelegate, TxType::UpdateValidator, TxType::Unjail, TxType::SubmitResult, TxType::CancelJob] {
            assert!(!debits_amount(t), "{t}");
        }
    }
}
