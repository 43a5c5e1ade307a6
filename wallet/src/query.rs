//! `cpcd query balance|account|block|tx|receipt|results|validators|validator|delegations|
//! unbonding|rewards|active-set`: chain data from any node's JSON-RPC, as human text (tables
//! for lists) by default or the node's raw JSON with `--json`. A block, transaction, receipt or
//! validator the node does not have is an error (`… not found`).

use crate::amount::show_amount;
use crate::client::{runtime, NodeArgs, Rpc};
use crate::staking::show_bps;
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use cpc_primitives::{format_cpc, Address, H256};
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
    /// Every validator: power, tokens, commission, status (cpc_getValidators).
    Validators,
    /// One validator by operator address (cpc_getValidator).
    Validator { address: Address },
    /// A delegator's delegations with their worth and pending rewards (cpc_getDelegations).
    Delegations { address: Address },
    /// Unbonding entries in flight, of one delegator or of everyone (cpc_getUnbonding).
    Unbonding { address: Option<Address> },
    /// A delegator's pending rewards, by validator (cpc_getRewards).
    Rewards { address: Address },
    /// The validators that decide a height, default the next one (cpc_getActiveSet).
    ActiveSet { height: Option<u64> },
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
        QueryCmd::Validators => (rpc.call("cpc_getValidators", vec![]).await?, print_validators),
        QueryCmd::Validator { address } => {
            let v = rpc.call("cpc_getValidator", vec![address.to_string().into()]).await?;
            (found(v, &format!("validator {address}"))?, print_validator)
        }
        QueryCmd::Delegations { address } => {
            (rpc.call("cpc_getDelegations", vec![address.to_string().into()]).await?, print_delegations)
        }
        QueryCmd::Unbonding { address } => {
            let params = address.map(|a| vec![a.to_string().into()]).unwrap_or_default();
            (rpc.call("cpc_getUnbonding", params).await?, print_unbonding)
        }
        QueryCmd::Rewards { address } => (rpc.call("cpc_getRewards", vec![address.to_string().into()]).await?, print_rewards),
        QueryCmd::ActiveSet { height } => {
            let params = height.map(|h| vec![h.into()]).unwrap_or_default();
            let v = rpc.call("cpc_getActiveSet", params).await?;
            (found(v, "active set")?, print_active_set)
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

// --- staking ---------------------------------------------------------------------------------

/// Left-aligned columns two spaces apart, one line per row, no trailing spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(c);
            l.extend(std::iter::repeat_n(' ', width[i] - c.chars().count()));
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// An amount in CPC only (`1.5 CPC`), for table cells.
fn cpc(v: &Value) -> String {
    match v.as_str().and_then(|x| x.parse::<u128>().ok()) {
        Some(u) => format_cpc(u),
        None => s(v),
    }
}

fn bps(v: &Value) -> String {
    v.as_u64().and_then(|b| u32::try_from(b).ok()).map_or_else(|| s(v), show_bps)
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// `active`, `inactive`, `jailed until H`, `tombstoned`.
fn validator_status(v: &Value) -> String {
    if v["tombstoned"] == true {
        "tombstoned".into()
    } else if v["jailed"] == true {
        format!("jailed until {}", s(&v["jailed_until"]))
    } else if v["active"] == true {
        "active".into()
    } else {
        "inactive".into()
    }
}

fn validators_text(v: &Value) -> String {
    let vs = list(v);
    if vs.is_empty() {
        return "no validators\n".into();
    }
    let rows: Vec<Vec<String>> = vs
        .iter()
        .map(|x| {
            vec![
                s(&x["operator"]),
                s(&x["moniker"]),
                s(&x["voting_power"]),
                cpc(&x["tokens"]),
                bps(&x["commission"]["rate_bps"]),
                validator_status(x),
                s(&x["missed_in_window"]),
            ]
        })
        .collect();
    let active = vs.iter().filter(|x| x["active"] == true).count();
    table(&["OPERATOR", "MONIKER", "POWER", "TOKENS", "COMMISSION", "STATUS", "MISSED"], &rows)
        + &format!("{} validators, {active} active\n", vs.len())
}

fn print_validators(v: &Value) {
    print!("{}", validators_text(v));
}

fn validator_text(v: &Value) -> String {
    let c = &v["commission"];
    let mut out = String::new();
    let mut kv = |k: &str, val: String| out.push_str(&format!("{k:<19}{val}\n"));
    kv("operator", s(&v["operator"]));
    kv("moniker", s(&v["moniker"]));
    kv("status", validator_status(v));
    kv("consensus address", s(&v["consensus_address"]));
    kv("consensus key", s(&v["consensus_key"]));
    kv("voting power", s(&v["voting_power"]));
    kv("tokens", amount_of(&v["tokens"]));
    kv("shares", s(&v["shares"]));
    kv(
        "commission",
        format!(
            "{} (max {}, max change {} a day; last changed at {} unix ms)",
            bps(&c["rate_bps"]),
            bps(&c["max_rate_bps"]),
            bps(&c["max_change_bps"]),
            s(&c["changed_at_ms"])
        ),
    );
    kv("commission pending", amount_of(&v["commission_pending"]));
    kv("missed in window", s(&v["missed_in_window"]));
    out
}

fn print_validator(v: &Value) {
    print!("{}", validator_text(v));
}

fn delegations_text(v: &Value) -> String {
    let ds = list(v);
    if ds.is_empty() {
        return "no delegations\n".into();
    }
    let rows: Vec<Vec<String>> = ds
        .iter()
        .map(|d| vec![s(&d["validator"]), cpc(&d["tokens"]), s(&d["shares"]), cpc(&d["pending_rewards"]), s(&d["unbonding_entries"])])
        .collect();
    table(&["VALIDATOR", "TOKENS", "SHARES", "PENDING REWARDS", "UNBONDING"], &rows)
}

fn print_delegations(v: &Value) {
    print!("{}", delegations_text(v));
}

fn unbonding_text(v: &Value) -> String {
    let us = list(v);
    if us.is_empty() {
        return "no unbonding entries\n".into();
    }
    let rows: Vec<Vec<String>> = us
        .iter()
        .map(|u| {
            vec![
                s(&u["delegator"]),
                s(&u["validator"]),
                s(&u["creation_height"]),
                s(&u["completion_height"]),
                cpc(&u["initial"]),
                cpc(&u["balance"]),
            ]
        })
        .collect();
    table(&["DELEGATOR", "VALIDATOR", "CREATED", "COMPLETES", "INITIAL", "BALANCE"], &rows)
}

fn print_unbonding(v: &Value) {
    print!("{}", unbonding_text(v));
}

fn rewards_text(v: &Value) -> String {
    let mut out = format!("total  {}\n", amount_of(&v["total"]));
    let rows: Vec<Vec<String>> = list(&v["by_validator"]).iter().map(|r| vec![s(&r["validator"]), cpc(&r["amount"])]).collect();
    if !rows.is_empty() {
        out += &table(&["VALIDATOR", "PENDING"], &rows);
    }
    out
}

fn print_rewards(v: &Value) {
    print!("{}", rewards_text(v));
}

fn active_set_text(v: &Value) -> String {
    let ms = list(&v["members"]);
    let rows: Vec<Vec<String>> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| vec![i.to_string(), s(&m["operator"]), s(&m["consensus_address"]), s(&m["power"])])
        .collect();
    format!("height {}: {} validators, total power {}\n", s(&v["height"]), ms.len(), s(&v["total_power"]))
        + &table(&["#", "OPERATOR", "CONSENSUS ADDRESS", "POWER"], &rows)
}

fn print_active_set(v: &Value) {
    print!("{}", active_set_text(v));
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

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "LONG HEADER"], &[vec!["xyz".into(), "1".into()], vec!["é".into(), "".into()]]);
        assert_eq!(t, "A    LONG HEADER\nxyz  1\né\n");
    }

    fn validator(op: &str, jailed: bool, tombstoned: bool, active: bool) -> Value {
        json!({"operator": op, "consensus_address": "cpcvalcons1q", "consensus_key": "ab", "moniker": "m",
               "tokens": "20000500000000000000000", "shares": "20000500000000000000000", "voting_power": 20000,
               "commission": {"rate_bps": 1250, "max_rate_bps": 2000, "max_change_bps": 100, "changed_at_ms": 0},
               "jailed": jailed, "jailed_until": 600, "tombstoned": tombstoned, "missed_in_window": 3,
               "commission_pending": "0", "active": active})
    }

    #[test]
    fn validators_table() {
        let t = validators_text(&json!([
            validator("cpc1a", false, false, true),
            validator("cpc1b", true, false, false),
            validator("cpc1c", true, true, false),
            validator("cpc1d", false, false, false),
        ]));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "OPERATOR  MONIKER  POWER  TOKENS       COMMISSION  STATUS            MISSED");
        assert_eq!(lines[1], "cpc1a     m        20000  20000.5 CPC  12.5%       active            3");
        assert!(lines[2].contains("jailed until 600"));
        assert!(lines[3].contains("tombstoned"));
        assert!(lines[4].contains("inactive"));
        assert_eq!(lines[5], "4 validators, 1 active");
        assert_eq!(validators_text(&json!([])), "no validators\n");
        let one = validator_text(&validator("cpc1a", false, false, true));
        assert!(one.contains("commission         12.5% (max 20%, max change 1% a day"), "{one}");
        assert!(one.contains("status             active"), "{one}");
    }

    #[test]
    fn delegation_unbonding_rewards_and_set_tables() {
        let d = delegations_text(&json!([{"validator": "cpc1v", "shares": "10", "tokens": "1000000000000000000",
            "pending_rewards": "500000000000000000", "unbonding_entries": 1}]));
        assert_eq!(d, "VALIDATOR  TOKENS  SHARES  PENDING REWARDS  UNBONDING\ncpc1v      1 CPC   10      0.5 CPC          1\n");
        assert_eq!(delegations_text(&json!([])), "no delegations\n");
        let u = unbonding_text(&json!([{"delegator": "cpc1d", "validator": "cpc1v", "creation_height": 5,
            "completion_height": 1209605, "initial": "2000000000000000000", "balance": "1900000000000000000"}]));
        assert!(u.lines().nth(1).unwrap().starts_with("cpc1d      cpc1v      5        1209605    2 CPC    1.9 CPC"), "{u}");
        assert_eq!(unbonding_text(&json!([])), "no unbonding entries\n");
        let r = rewards_text(&json!({"total": "7", "by_validator": [{"validator": "cpc1v", "amount": "7"}]}));
        assert!(r.starts_with("total  0.000000000000000007 CPC (7 base units)\nVALIDATOR  PENDING\n"), "{r}");
        assert_eq!(rewards_text(&json!({"total": "0", "by_validator": []})), "total  0 CPC (0 base units)\n");
        let a = active_set_text(&json!({"height": 9, "total_power": 30,
            "members": [{"operator": "cpc1a", "consensus_address": "cpcvalcons1a", "power": 30}]}));
        assert_eq!(a, "height 9: 1 validators, total power 30\n#  OPERATOR  CONSENSUS ADDRESS  POWER\n0  cpc1a     cpcvalcons1a       30\n");
    }
}
