//! The block builder: fills a block from ordered candidates up to the gas limit, verifies
//! synthetic results fully (in parallel, cached), computes every root, and signs.

use crate::poc_check::{is_synthetic, window_heights, PocVerifier};
use cpc_primitives::{compute_root_of_results, tx_root, Address, Block, ComputeResult, Header, SecretKey, Transaction, ValconsAddress, H256};
use cpc_state::{ApplyError, BlockOutcome, BlockExecutor, ChainParams, Head, StateView, TxError};
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
}

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
    pub window_hashes: Vec<H256>,
    pub poc: &'a PocVerifier,
}

fn classify(e: &TxError) -> Skip {
    match e {
        TxError::Nonce { expected, found } if found > expected => Skip::Later(e.to_string()),
        TxError::FeeBalance { .. } | TxError::BlockGas { .. } | TxError::BlockFull(_) | TxError::Storage(_) => {
            Skip::Later(e.to_string())
        }
        _ => Skip::Invalid(e.to_string()),
    }
}

/// Builds and signs a block on `ctx.parent` from `candidates` (in priority order).
pub fn build_block<V: StateView + ?Sized>(
    view: &V,
    ctx: &BuildContext,
    candidates: &[Candidate],
) -> Result<Built, ApplyError> {
    let p = ctx.params;
    let height = ctx.parent.height + 1;
    let mut skipped = Vec::new();

    // Pass 1: choose up to the cap of synthetic results and verify them fully, in parallel.
    let range = window_heights(height, ctx.poc.window());
    let mut synthetic_ok = std::collections::HashMap::new();
    let mut to_verify = Vec::new();
    for c in candidates {
        let Some(r) = c.result.as_deref().filter(|r| is_synthetic(r)) else { continue };
        if to_verify.len() >= p.poc.max_synthetic_results_per_block {
            skipped.push((c.hash, Skip::Later("synthetic results per block cap reached".into())));
            synthetic_ok.insert(c.hash, false);
            continue;
        }
        match ctx.poc.locate_tip(r, &ctx.window_hashes, *range.start(), *range.end()) {
            Ok(tip) => to_verify.push((c.hash, r, tip)),
            Err(e) => {
                skipped.push((c.hash, Skip::Invalid(e.to_string())));
                synthetic_ok.insert(c.hash, false);
            }
        }
    }
    let items: Vec<(&ComputeResult, H256)> = to_verify.iter().map(|(_, r, t)| (*r, *t)).collect();
    for ((hash, _, _), res) in to_verify.iter().zip(ctx.poc.verify_many(&items)) {
        match res {
            Ok(()) => {
                synthetic_ok.insert(*hash, true);
            }
            Err(e) => {
                skipped.push((*hash, Skip::Invalid(e.to_string())));
                synthetic_ok.insert(*hash, false);
            }
        }
    }

    // Pass 2: execute in order.
    let mut ex = BlockExecutor::new(view, p, height);
    let mut included: Vec<Arc<Transaction>> = Vec::new();
    let mut hashes = Vec::new();
    let mut results: Vec<Arc<ComputeResult>> = Vec::new();
    let mut workers: Vec<Address> = Vec::new();
    let min_gas = 21_000;
    // Room for the header, signature and JSON framing within MAX_BLOCK_BYTES.
    const BLOCK_OVERHEAD_BYTES: usize = 4096;
    let mut bytes = BLOCK_OVERHEAD_BYTES;
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
        let synthetic = match synthetic_ok.get(&c.hash) {
            Some(false) => continue, // skipped in pass 1
            Some(true) => true,
            None => false,
        };
        match ex.execute(&c.tx, c.hash) {
            Ok(_) => {
                bytes += size;
                if let Some(r) = &c.result {
                    results.push(r.clone());
                }
                if synthetic {
                    workers.push(c.tx.from_address);
                }
                included.push(c.tx.clone());
                hashes.push(c.hash);
            }
            Err(e) => skipped.push((c.hash, classify(&e))),
        }
    }
    let proposer_pk = ctx.proposer.public_key();
    let proposer_account = Address::from_public_key(&proposer_pk);
    let outcome = ex.finish(&proposer_account, &workers)?;
    let header = Header {
        height,
        prev_hash: ctx.parent.hash,
        timestamp: ctx.timestamp.max(ctx.parent.timestamp + 1),
        chain_id: p.chain_id.clone(),
        proposer_address: ValconsAddress::from_public_key(&proposer_pk),
        round: ctx.round,
        tx_root: tx_root(&hashes),
        state_root: outcome.state_root,
        compute_root: compute_root_of_results(results.iter().map(|r| r.as_ref())),
        gas_used: outcome.gas_used,
        gas_limit: p.block_gas_limit,
    };
    let txs: Vec<Transaction> = included.iter().map(|t| (**t).clone()).collect();
    let block = Block::seal(header, txs, ctx.proposer);
    Ok(Built { block, tx_hashes: hashes, outcome, skipped })
}
