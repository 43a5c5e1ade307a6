//! The crash soak (RELIABILITY.md, `scripts/crash-soak.sh N`): N cycles of starting one
//! `cpcd --dev` on the same data directory under transfer and result load, `kill -9` at a
//! random moment, and restarting it. After every restart it checks what the node promised
//! before the kill:
//!
//! - the head never goes back past a height the node reported (`cpc_blockNumber`), and every
//!   block it reported by hash is still the block at that height;
//! - every transaction that had a receipt still has it, in the same block;
//! - the node started at all: at start it rebuilds the state root from every stored account
//!   and refuses a store whose root differs from the head's (state/src/store.rs);
//! - the supply adds up, checked independently of the node's counters: the balances of every
//!   account the load can touch (the dev accounts, the dev treasury) sum to the supply's
//!   `liquid`, and `liquid + bonded + unbonding + rewards = total = genesis + minted − burned`.

use crate::*;
use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the node reported before a kill, to hold it to after the restart.
#[derive(Default)]
struct Reported {
    /// Height → block hash, of blocks the node reported (receipts' blocks and heads).
    blocks: BTreeMap<u64, String>,
    /// The highest `cpc_blockNumber` answer.
    head: u64,
    /// (height, transaction hash) → block hash of every receipt seen (newest last).
    receipts: BTreeMap<(u64, String), String>,
}

/// The figures of a soak.
#[derive(Debug, Default, Clone)]
pub struct SoakReport {
    pub cycles: usize,
    pub kills: usize,
    pub losses: usize,
    pub final_height: u64,
    pub receipts_checked: usize,
    pub transfers_sent: usize,
    /// Shares of the node's CPU miner on the final chain (the result load).
    pub results_committed: u64,
    pub problems: Vec<String>,
}

/// splitmix64, seeded: a soak's kill times are reproducible from its seed.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn u128_of(v: &Value, field: &str) -> Result<u128> {
    let f = &v[field];
    f.as_str()
        .map(|s| s.parse::<u128>())
        .or_else(|| f.as_u64().map(|n| Ok(n as u128)))
        .ok_or_else(|| anyhow!("supply.{field}: expected a number, found {f}"))?
        .map_err(|e| anyhow!("supply.{field}: {e}"))
}

/// The node's promises, checked against what it reported before the kill.
/// Receipts and blocks checked per restart: the newest ones (the last kill's) and a random
/// sample of the older ones, so a 100-cycle soak does not check the same 40 000 receipts 100
/// times.
const CHECK_NEWEST: usize = 150;
const CHECK_SAMPLE: usize = 150;

fn sample<'a, K: Ord, V>(m: &'a BTreeMap<K, V>, rng: &mut Rng) -> Vec<(&'a K, &'a V)> {
    let all: Vec<(&K, &V)> = m.iter().collect();
    if all.len() <= CHECK_NEWEST + CHECK_SAMPLE {
        return all;
    }
    let (old, new) = all.split_at(all.len() - CHECK_NEWEST);
    let mut out: Vec<(&K, &V)> = new.to_vec();
    for _ in 0..CHECK_SAMPLE {
        out.push(old[(rng.next() % old.len() as u64) as usize]);
    }
    out
}

/// Readings of supply and balances before an imbalance counts as a loss.
const SUPPLY_READINGS: usize = 8;

async fn check(c: &HttpClient, seen: &Reported, report: &mut SoakReport, rng: &mut Rng) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let head = block_number(c).await?;
    if head < seen.head {
        problems.push(format!("head went back: reported {} before the kill, {head} after", seen.head));
    }
    for (h, hash) in sample(&seen.blocks, rng) {
        match hash_at(c, *h).await? {
            Some(now) if now == *hash => {}
            other => problems.push(format!("block {h}: reported {hash} before the kill, found {other:?}")),
        }
    }
    for ((height, tx), block) in sample(&seen.receipts, rng) {
        let r = call(c, "cpc_getTransactionReceipt", vec![tx.clone().into()]).await?;
        report.receipts_checked += 1;
        let found = r["block_hash"].as_str();
        if r.is_null() || found != Some(block.as_str()) {
            problems.push(format!("receipt of {tx} (block {height} {block}) lost: found {r}"));
        }
    }
    // The supply and the balances come from separate calls while the node produces: a block
    // between them (fees, share rewards) moves both. Read them again until one reading falls
    // within one block; a real loss shows in every reading.
    let mut unbalanced = None;
    for _ in 0..SUPPLY_READINGS {
        let before = block_number(c).await?;
        let s = call(c, "cpc_getSupply", vec![]).await?;
        let (liquid, bonded, unbonding, rewards) =
            (u128_of(&s, "liquid")?, u128_of(&s, "bonded")?, u128_of(&s, "unbonding")?, u128_of(&s, "rewards")?);
        let (total, genesis, minted, burned) =
            (u128_of(&s, "total")?, u128_of(&s, "genesis")?, u128_of(&s, "minted")?, u128_of(&s, "burned")?);
        if liquid + bonded + unbonding + rewards != total || genesis + minted - burned != total {
            problems.push(format!("supply does not add up: {s}"));
            break;
        }
        let mut accounts: Vec<Address> = keys().iter().map(addr_of).collect();
        accounts.push(cpc_genesis::dev_treasury());
        let mut sum = 0u128;
        for a in &accounts {
            sum += balance(c, a).await?;
        }
        unbalanced = (sum != liquid).then(|| {
            format!("the balances of the dev accounts and the treasury sum to {sum}, the supply's liquid is {liquid}")
        });
        if unbalanced.is_none() && block_number(c).await? == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    problems.extend(unbalanced);
    Ok(problems)
}

/// Load until `until`: transfers among the dev accounts (with fresh nonces from the node),
/// receipts polled and remembered; the node's own CPU miner submits the results.
async fn load(c: &HttpClient, until: Instant, seen: &mut Reported, report: &mut SoakReport, rng: &mut Rng) {
    let ks = keys();
    let mut pending: Vec<String> = Vec::new();
    while Instant::now() < until {
        let from = 1 + (rng.next() % (ks.len() as u64 - 1)) as usize;
        let to = addr_of(&ks[(from + 1 + (rng.next() % 8) as usize) % ks.len()]);
        let Ok(n) = call(c, "cpc_getTransactionCount", vec![addr_of(&ks[from]).to_string().into()]).await else { break };
        let nonce = n.as_u64().unwrap_or(0);
        for i in 0..8 {
            let tx = transfer(&ks[from], to, 1 + rng.next() as u128 % 1_000, nonce + i);
            if let Ok(h) = send(c, &tx).await {
                report.transfers_sent += 1;
                pending.push(h);
            }
        }
        let mut still = Vec::new();
        for h in pending.drain(..) {
            match call(c, "cpc_getTransactionReceipt", vec![h.clone().into()]).await {
                Ok(r) if !r.is_null() => {
                    let block = r["block_hash"].as_str().unwrap_or_default().to_string();
                    let height = r["block_height"].as_u64().unwrap_or(0);
                    seen.blocks.insert(height, block.clone());
                    seen.receipts.insert((height, h), block);
                }
                Ok(_) => still.push(h),
                Err(_) => return,
            }
        }
        pending = still;
        if let Ok(h) = block_number(c).await {
            seen.head = seen.head.max(h);
            if let Ok(Some(hash)) = hash_at(c, h).await {
                seen.blocks.insert(h, hash);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `cycles` kill/restart cycles on `datadir` (created if missing); kill times are drawn
/// from `seed` between `min_ms` and `max_ms` of load.
pub async fn crash_soak(datadir: &Path, cycles: usize, seed: u64, min_ms: u64, max_ms: u64) -> Result<SoakReport> {
    let mut rng = Rng(seed);
    let mut seen = Reported::default();
    let mut report = SoakReport::default();
    // The dev node's CPU miner works for the dev validator's account (dev key 0).
    let miner = addr_of(&keys()[0]).to_string();
    let args = ["--dev.block-time", "200ms", "--mine", "--cpu-threads", "1", "--miner.results-per-tip", "2"];
    for cycle in 0..cycles {
        let node = NodeProc::start_dev(Some(datadir), &args).map_err(|e| anyhow!("cycle {cycle}: the node did not start again: {e}"))?;
        let c = node.client();
        let problems = check(&c, &seen, &mut report, &mut rng).await?;
        if !problems.is_empty() {
            report.losses += 1;
            for p in &problems {
                report.problems.push(format!("cycle {cycle}: {p}"));
            }
        }
        let until = Instant::now() + Duration::from_millis(rng.between(min_ms, max_ms));
        load(&c, until, &mut seen, &mut report, &mut rng).await;
        node.kill9();
        report.kills += 1;
        report.cycles += 1;
        eprintln!(
            "crash-soak cycle {}/{cycles}: head {} reported, {} receipts held, {} losses",
            cycle + 1,
            seen.head,
            seen.receipts.len(),
            report.losses
        );
    }
    // The last restart: everything reported must still be there.
    let node = NodeProc::start_dev(Some(datadir), &args)?;
    let c = node.client();
    let problems = check(&c, &seen, &mut report, &mut rng).await?;
    if !problems.is_empty() {
        report.losses += 1;
        report.problems.extend(problems.into_iter().map(|p| format!("final restart: {p}")));
    }
    report.final_height = block_number(&c).await?;
    let worker = call(&c, "poc_getWorker", vec![miner.clone().into()]).await?;
    report.results_committed = worker["shares"].as_u64().unwrap_or(0);
    let (code, log) = node.stop()?;
    if code != 0 {
        bail!("the node did not stop cleanly after the soak (exit {code}): {log}");
    }
    Ok(report)
}
