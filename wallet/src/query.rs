//! `cpcd query balance|account|block|tx|receipt|results`: chain data from any node's
//! JSON-RPC, as human text by default or the node's raw JSON with `--json`. A block,
//! transaction or receipt the node does not have is an error (`… not found`).

use crate::amount::show_amount;
use crate::client::{runtime, NodeArgs, Rpc};
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use cpc_primitives::{Address, H256};
use serde_json::Value;

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

/// Runs `cpcd query …`.
pub fn run(args: QueryArgs) -> Result<()> {
    runtime()?.block_on(query(args))
}

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

pub(crate) fn print_receipt(v: &Value) {
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
    use serde_json::json;

    #[test]
    fn block_params() {
        assert_eq!(block_number_param("latest").unwrap(), json!("latest"));
        assert_eq!(block_number_param("12").unwrap(), json!(12));
        assert!(block_number_param("-1").is_err());
    }
}
