//! The block builder: fills a block from ordered candidates up to the gas limit, gives the
//! synthetic slots only to fully recomputed shares (in parallel, cached), computes every root
//! and the next share target, and signs.

use crate::poc_check::{is_synthetic, window_heights, PocVerifier, SyntheticError, WindowTip};
use cpc_primitives::{
    compute_root_of_results, next_share_target, tx_root, Address, Block, ComputeResult, Header, SecretKey, Transaction,
    ValconsAddress, H256,
};
use cpc_state::{ApplyError, BlockOutcome, BlockExecutor, ChainParams, Head, JobResultError, StateView, TxError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A transaction offered to the builder (already passed the in-isolation checks).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub hash: H256,
    pub tx: Arc<Transaction>,
    /// The parsed ComputeResult of a SUBMIT_RESULT.
    pub result: Option<Arc<ComputeResult>>,
}

/// Why the builder left a candidate out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Can never be included: the pool should drop it.
    Invalid(String),
    /// Not in this block (block full, nonce gap, cap reached); may fit a later one.
    Later(String),
    /// A synthetic result that passed admission's k-row check but failed full recomputation:
    /// forged work. The pool drops it and the sender's other pending results (a peer that
    /// relays such a result is penalised earlier, by the node's recompute-before-relay check).
    Forged { worker: Address, why: String },
}

/// Most full recomputations that fail one block build may spend (each ~10 ms at n = 1024 on
/// one core): bounds the build time under a flood of forged results. Every failure leaves
/// the pool with its sender's other results, so the next build goes further.
pub const MAX_FAILED_VERIFICATIONS_PER_BUILD: usize = 64;

/// A sealed block and what building it produced.
pub struct Built {
    pub block: Block,
    pub tx_hashes: Vec<H256>,
    pub outcome: BlockOutcome,
    pub skipped: Vec<(H256, Skip)>,
}

/// What the builder needs besides the candidates.
pub struct BuildContext<'a> {
    pub params: &'a ChainParams,
    pub parent: Head,
    pub round: u32,
    /// Proposed timestamp (raised to parent + 1 ms when the clock lags).
    pub timestamp: u64,
    pub proposer: &'a SecretKey,
    /// The task window of the new block: (hash, share target) of each canonical tip.
    pub window: Vec<WindowTip>,
    pub poc: &'a PocVerifier,
    /// The parent's certificate and the evidence to carry (checked like a received block's).
    pub consensus: cpc_primitives::ConsensusData,
}

fn classify(e: &TxError) -> Skip {
    match e {
        TxError::Nonce { expected, found } if found > expected => Skip::Later(e.to_string()),
        TxError::FeeBalance { .. } | TxError::BlockGas { .. } | TxError::BlockFull(_) | TxError::BlobBytes { .. } | TxError::BlobFee { .. } | TxError::Storage(_) => {
            Skip::Later(e.to_string())
        }
        // The claim may still be on its way to the chain.
        TxError::JobResult(JobResultError::NoSuchJob(_) | JobResultError::NotClaimed { .. }) => Skip::Later(e.to_string()),
        _ => Skip::Invalid(e.to_string()),
    }
}

/// Whether the sender could pay for `tx` at this point of the block (nonce and fee), without
/// executing it: a synthetic result that could not is not worth a recomputation.
fn payable(acc: &cpc_primitives::Account, tx: &Transaction) -> Result<(), Skip> {
    if tx.nonce < acc.nonce {
        return Err(Skip::Invalid(format!("nonce: expected {}, found {}", acc.nonce, tx.nonce)));
    }
    if tx.nonce > acc.nonce {
        return Err(Skip::Later(format!("nonce: expected {}, found {}", acc.nonce, tx.nonce)));
    }
    if acc.balance < tx.fee {
        return Err(Skip::Later(format!("insufficient balance for the fee: balance {}, fee {}", acc.balance, tx.fee)));
    }
    Ok(())
}

/// Builds and signs a block on `ctx.parent` from `candidates` (in priority order).
///
/// The at most M synthetic slots go only to results that passed full recomputation and
/// execute: each synthetic candidate is checked in block order for its tip and the share rule
/// (one hash), then whether its sender can pay at that point of the block, then recomputed
/// (cached); one that fails gives its slot to the next. The first M that look payable are
/// recomputed ahead, in parallel, so the common case keeps every core busy.
pub fn build_block<V: StateView + ?Sized>(
    view: &V,
    ctx: &BuildContext,
    candidates: &[Candidate],
) -> Result<Built, ApplyError> {
    let p = ctx.params;
    let cap = p.poc.max_synthetic_results_per_block;
    let height = ctx.parent.height + 1;
    let mut skipped = Vec::new();

    // Pass 1: the cheap rules of every synthetic candidate, and a speculative parallel
    // recomputation of the first `cap` that pass them and look payable on committed state.
    let range = window_heights(height, ctx.poc.window());
    let mut tips: HashMap<H256, Result<H256, SyntheticError>> = HashMap::new();
    let mut ahead: Vec<(H256, &ComputeResult, H256)> = Vec::new();
    for c in candidates {
        let Some(r) = c.result.as_deref().filter(|r| is_synthetic(r)) else { continue };
        let res = ctx
            .poc
            .locate_tip(r, &ctx.window, *range.start(), *range.end())
            .and_then(|t| ctx.poc.check_share(r, &t).map(|_| t.0));
        if let Ok(tip) = &res
            && ahead.len() < cap
            && !ctx.poc.is_cached(r, tip)
        {
            let committed = view.account_entry(&c.tx.from_address)?.map(|e| e.account).unwrap_or_default();
            if c.tx.nonce >= committed.nonce && committed.balance >= c.tx.fee {
                ahead.push((c.hash, r, *tip));
            }
        }
        tips.insert(c.hash, res);
    }
    let items: Vec<(&ComputeResult, H256)> = ahead.iter().map(|(_, r, t)| (*r, *t)).collect();
    let mut verdicts: HashMap<H256, Result<(), SyntheticError>> =
        ahead.iter().map(|(h, _, _)| *h).zip(ctx.poc.verify_many(&items)).collect();

    // Pass 2: execute in order.
    let timestamp = ctx.timestamp.max(ctx.parent.timestamp + 1);
    let proposer_pk = ctx.proposer.public_key();
    let inputs = crate::block::check_consensus_parts(
        height,
        &ctx.parent.hash,
        &ValconsAddress::from_public_key(&proposer_pk),
        &ctx.consensus,
        view,
        p,
    )
    .map_err(|e| ApplyError::Consensus(e.to_string()))?;
    let mut ex = BlockExecutor::new(view, p, height).at_time(timestamp);
    let mut included: Vec<Arc<Transaction>> = Vec::new();
    let mut hashes = Vec::new();
    let mut results: Vec<Arc<ComputeResult>> = Vec::new();
    let mut workers: Vec<Address> = Vec::new();
    let mut forgers: HashSet<Address> = HashSet::new();
    let mut failed = 0usize;
    let min_gas = 21_000;
    // Room for the header, signature and JSON framing within MAX_BLOCK_BYTES, and for the
    // consensus data (a last commit of many validators is large): a block that passed this
    // budget never fails check_block_size.
    const BLOCK_OVERHEAD_BYTES: usize = 4096;
    let mut bytes = BLOCK_OVERHEAD_BYTES + consensus_data_bytes(&ctx.consensus);
    for c in candidates {
        if p.block_gas_limit - ex.gas_used() < min_gas || ex.tx_count() >= p.max_txs_per_block {
            break;
        }
        // Each transaction costs its JSON plus a separator in the block's encoding.
        let size = c.tx.canonical_json().len() + 1;
        if bytes + size > crate::block::MAX_BLOCK_BYTES {
            skipped.push((c.hash, Skip::Later("block size limit reached".into())));
            continue;
        }
        let synthetic = c.result.as_deref().filter(|r| is_synthetic(r));
        if let Some(r) = synthetic {
            let tip = match tips.get(&c.hash) {
                Some(Ok(tip)) => *tip,
                Some(Err(e)) => {
                    skipped.push((c.hash, Skip::Invalid(e.to_string())));
                    continue;
                }
                None => unreachable!("pass 1 looked at every synthetic candidate"),
            };
            if forgers.contains(&c.tx.from_address) {
                skipped.push((c.hash, Skip::Later("another result of this sender failed recomputation".into())));
                continue;
            }
            if workers.len() >= cap {
                skipped.push((c.hash, Skip::Later(format!("synthetic results per block cap ({cap}) reached"))));
                continue;
            }
            let acc = ex.account(&c.tx.from_address).map_err(ApplyError::Storage)?;
            if let Err(skip) = payable(&acc, &c.tx) {
                skipped.push((c.hash, skip));
                continue;
            }
            let verdict = match verdicts.remove(&c.hash) {
                Some(v) => v,
                None if failed >= MAX_FAILED_VERIFICATIONS_PER_BUILD => {
                    skipped.push((c.hash, Skip::Later("this block's budget for failed recomputations is spent".into())));
                    continue;
                }
                None => ctx.poc.verify_many(&[(r, tip)]).pop().expect("one verdict per item"),
            };
            if let Err(e) = verdict {
                failed += 1;
                forgers.insert(c.tx.from_address);
                skipped.push((c.hash, Skip::Forged { worker: c.tx.from_address, why: e.to_string() }));
                continue;
            }
        }
        if let Err(e) = crate::market::check_market_data(&ex, view, &c.tx, c.result.as_deref(), p.market.enabled) {
            skipped.push((c.hash, if e.may_pass_later() { Skip::Later(e.to_string()) } else { Skip::Invalid(e.to_string()) }));
            continue;
        }
        match ex.execute(&c.tx, c.hash) {
            Ok(_) => {
                bytes += size;
                if let Some(r) = &c.result {
                    results.push(r.clone());
                }
                if synthetic.is_some() {
                    workers.push(c.tx.from_address);
                }
                included.push(c.tx.clone());
                hashes.push(c.hash);
            }
            Err(e) => skipped.push((c.hash, classify(&e))),
        }
    }
    let outcome = ex.finish(&inputs, &workers)?;
    let share_target = next_share_target(
        ctx.parent.share_target,
        workers.len() as u64,
        p.poc.shares_per_block,
        p.poc.share_halflife,
    );
    let header = Header {
        height,
        prev_hash: ctx.parent.hash,
        timestamp,
        chain_id: p.chain_id.clone(),
        proposer_address: ValconsAddress::from_public_key(&proposer_pk),
        round: ctx.round,
        tx_root: tx_root(&hashes),
        state_root: outcome.state_root,
        compute_root: compute_root_of_results(results.iter().map(|r| r.as_ref())),
        gas_used: outcome.gas_used,
        gas_limit: p.block_gas_limit,
        share_target,
    };
    let txs: Vec<Transaction> = included.iter().map(|t| (**t).clone()).collect();
    let mut block = Block::seal(header, txs, ctx.proposer);
    block.consensus = ctx.consensus.clone();
    Ok(Built { block, tx_hashes: hashes, outcome, skipped })
}

/// At most the bytes `data` adds to a block's JSON: hex doubles every byte, plus quotes,
/// separators and the two keys.
pub fn consensus_data_bytes(data: &cpc_primitives::ConsensusData) -> usize {
    const KEYS: usize = 64;
    let hex = |b: &Vec<u8>| 2 * b.len() + 3;
    KEYS + data.last_commit.as_ref().map_or(0, hex) + data.evidence.iter().map(hex).sum::<usize>()
}
