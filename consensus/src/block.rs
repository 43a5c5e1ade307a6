//! Block validation in two layers, as rusty-kaspa does it.
//!
//! *In isolation* needs nothing but the block and the chain parameters: header constants,
//! duplicates, every transaction's own checks, `tx_root`, `compute_root`, and the proposer's
//! signature. *In context* needs the parent, the schedule, the state and the task window:
//! parent link, timestamp, proposer turn, synthetic verification, and re-execution that must
//! reproduce `gas_used` and `state_root`.

use crate::poc_check::{is_synthetic, window_heights, PocVerifier, SyntheticError, WindowTip};
use crate::schedule::ValidatorSet;
use crate::tx_checks::{check_tx_in_isolation, TxCheckError};
use cpc_primitives::{
    compute_root_of_results, next_share_target, tx_root, Address, Block, ComputeResult, ComputeRoot, ShareTarget,
    ValconsAddress, H256,
};
use crate::evidence::Evidence;
use crate::finality::{Certificate, CertificateError};
use cpc_state::{BlockExecutor, BlockInputs, BlockOutcome, ChainParams, Head, Infraction, LastCommit, StateView, TxError};
use rayon::prelude::*;
use std::collections::HashSet;

/// How far a block's timestamp may run ahead of our clock: tolerates ordinary clock skew
/// between machines without letting a proposer push time forward.
pub const MAX_FUTURE_DRIFT_MS: u64 = 5_000;
/// Largest block, as its JSON wire encoding: a full block of transfers at the dev gas limit is
/// ~1.7 MB; 8 MiB leaves room for heavier transaction types and stays under the network's
/// 10 MiB gossip limit, so every valid block can travel.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Most evidence pieces one block may carry (each costs a few signature checks).
pub const MAX_EVIDENCE_PER_BLOCK: usize = 16;
/// Below this many transactions, checking them in parallel costs more than it saves.
const PARALLEL_TX_CHECK_MIN: usize = 64;

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("chain_id: expected {expected:?}, found {found:?}")]
    ChainId { expected: String, found: String },
    #[error("header gas_limit: expected {expected}, found {found}")]
    GasLimit { expected: u64, found: u64 },
    #[error("too many transactions: at most {max}, found {found}")]
    TooManyTxs { max: usize, found: usize },
    #[error("block too large: at most {max} bytes, found {found}")]
    TooLarge { max: usize, found: usize },
    #[error("transaction {0} appears twice in the block")]
    DuplicateTx(H256),
    #[error("task_id {0:?} appears twice in the block (SUBMIT_RESULT rule 4)")]
    DuplicateTaskId(String),
    #[error("too many synthetic results: at most {max} per block, found {found}")]
    TooManySynthetic { max: usize, found: usize },
    #[error("transaction {index} ({hash}): {error}")]
    Tx { index: usize, hash: H256, error: TxCheckError },
    #[error("tx_root: expected {expected}, found {found}")]
    TxRoot { expected: H256, found: H256 },
    #[error("compute_root: expected {expected:?}, found {found:?}")]
    ComputeRoot { expected: String, found: String },
    #[error("proposer_address must be the address of proposer_pub_key: expected {expected}, found {found}")]
    ProposerKey { expected: ValconsAddress, found: ValconsAddress },
    #[error("proposer signature does not verify over the header")]
    ProposerSignature,
    #[error("height: expected {expected} (parent + 1), found {found}")]
    Height { expected: u64, found: u64 },
    #[error("prev_hash: expected {expected}, found {found}")]
    Parent { expected: H256, found: H256 },
    #[error("timestamp: expected later than the parent's {parent}, found {found}")]
    TimestampNotAfterParent { parent: u64, found: u64 },
    #[error("timestamp: expected at most {max} (now + {MAX_FUTURE_DRIFT_MS} ms), found {found}")]
    TimestampInFuture { max: u64, found: u64 },
    #[error("wrong proposer for height {height} round {round}: expected {expected}, found {found}")]
    WrongProposer { height: u64, round: u32, expected: ValconsAddress, found: ValconsAddress },
    #[error("transaction {index} ({hash}): {error}")]
    Synthetic { index: usize, hash: H256, error: SyntheticError },
    #[error(
        "share_target: expected {expected} (the parent's {parent} retargeted for {synthetic} synthetic \
         results), found {found}"
    )]
    ShareTarget { expected: ShareTarget, parent: ShareTarget, synthetic: u64, found: ShareTarget },
    #[error("transaction {index} ({hash}) cannot be applied: {error}")]
    Exec { index: usize, hash: H256, error: TxError },
    #[error("transaction {index} ({hash}): {error}")]
    Market { index: usize, hash: H256, error: crate::market::MarketDataError },
    #[error("gas_used: expected {expected}, found {found}")]
    GasUsed { expected: u64, found: u64 },
    #[error("state_root: expected {expected}, found {found}")]
    StateRoot { expected: H256, found: H256 },
    #[error("state: {0}")]
    State(String),
    #[error("consensus.last_commit: {0}")]
    LastCommit(CertificateError),
    #[error("consensus.last_commit: no validator set is known for height {0}")]
    NoSet(u64),
    #[error("consensus.last_commit: a block at height 1 has no parent certificate to carry")]
    LastCommitOfGenesis,
    #[error("consensus.evidence: at most {max} pieces per block, found {found}")]
    TooMuchEvidence { max: usize, found: usize },
    #[error("consensus.evidence[{index}]: {why}")]
    Evidence { index: usize, why: String },
    #[error("consensus.evidence[{index}]: infraction at height {height} is older than the evidence max age of {max_age} blocks at height {block}")]
    EvidenceTooOld { index: usize, height: u64, max_age: u64, block: u64 },
    #[error("consensus.evidence[{index}]: infraction at height {height}, expected below the block's height {block}")]
    EvidenceFromTheFuture { index: usize, height: u64, block: u64 },
    #[error("consensus.evidence[{index}]: a second piece against {validator} in one block")]
    DuplicateEvidence { index: usize, validator: ValconsAddress },
}

/// What isolation checks learned, reused by the context checks.
pub struct CheckedBlock {
    pub tx_hashes: Vec<H256>,
    /// The parsed ComputeResult of each SUBMIT_RESULT, by transaction index.
    pub results: Vec<Option<ComputeResult>>,
}

pub fn check_chain_id(b: &Block, p: &ChainParams) -> Result<(), BlockError> {
    if b.header.chain_id != p.chain_id {
        return Err(BlockError::ChainId { expected: p.chain_id.clone(), found: b.header.chain_id.clone() });
    }
    Ok(())
}

pub fn check_gas_limit(b: &Block, p: &ChainParams) -> Result<(), BlockError> {
    if b.header.gas_limit != p.block_gas_limit {
        return Err(BlockError::GasLimit { expected: p.block_gas_limit, found: b.header.gas_limit });
    }
    Ok(())
}

pub fn check_tx_count(b: &Block, p: &ChainParams) -> Result<(), BlockError> {
    if b.transactions.len() > p.max_txs_per_block {
        return Err(BlockError::TooManyTxs { max: p.max_txs_per_block, found: b.transactions.len() });
    }
    Ok(())
}

pub fn check_block_size(b: &Block) -> Result<(), BlockError> {
    let found = b.to_json_bytes().len();
    if found > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge { max: MAX_BLOCK_BYTES, found });
    }
    Ok(())
}

pub fn check_proposer_signature(b: &Block) -> Result<(), BlockError> {
    let expected = ValconsAddress::from_public_key(&b.proposer_pub_key);
    if b.header.proposer_address != expected {
        return Err(BlockError::ProposerKey { expected, found: b.header.proposer_address });
    }
    b.proposer_pub_key
        .verify_strict(&b.header.signing_bytes(), &b.signature)
        .map_err(|_| BlockError::ProposerSignature)
}

pub fn check_no_duplicate_txs(hashes: &[H256]) -> Result<(), BlockError> {
    let mut seen = HashSet::with_capacity(hashes.len());
    for h in hashes {
        if !seen.insert(h) {
            return Err(BlockError::DuplicateTx(*h));
        }
    }
    Ok(())
}

pub fn check_no_duplicate_task_ids(results: &[Option<ComputeResult>]) -> Result<(), BlockError> {
    let mut seen = HashSet::new();
    for r in results.iter().flatten() {
        if !seen.insert(r.task_id.as_str()) {
            return Err(BlockError::DuplicateTaskId(r.task_id.clone()));
        }
    }
    Ok(())
}

pub fn check_synthetic_count(results: &[Option<ComputeResult>], p: &ChainParams) -> Result<(), BlockError> {
    let found = results.iter().flatten().filter(|r| is_synthetic(r)).count();
    let max = p.poc.max_synthetic_results_per_block;
    if found > max {
        return Err(BlockError::TooManySynthetic { max, found });
    }
    Ok(())
}

pub fn check_tx_root(b: &Block, hashes: &[H256]) -> Result<(), BlockError> {
    let expected = tx_root(hashes);
    if b.header.tx_root != expected {
        return Err(BlockError::TxRoot { expected, found: b.header.tx_root });
    }
    Ok(())
}

pub fn check_compute_root(b: &Block, results: &[Option<ComputeResult>]) -> Result<(), BlockError> {
    let expected: ComputeRoot = compute_root_of_results(results.iter().flatten());
    if b.header.compute_root != expected {
        return Err(BlockError::ComputeRoot { expected: expected.to_text(), found: b.header.compute_root.to_text() });
    }
    Ok(())
}

/// Every transaction's own checks (signatures dominate: parallel for large blocks).
pub fn check_transactions(b: &Block, p: &ChainParams) -> Result<CheckedBlock, BlockError> {
    let check = |(index, tx): (usize, &cpc_primitives::Transaction)| {
        let hash = tx.hash();
        check_tx_in_isolation(tx, p).map(|r| (hash, r)).map_err(|error| BlockError::Tx { index, hash, error })
    };
    let checked: Vec<(H256, Option<ComputeResult>)> = if b.transactions.len() >= PARALLEL_TX_CHECK_MIN {
        b.transactions.par_iter().enumerate().map(check).collect::<Result<_, _>>()?
    } else {
        b.transactions.iter().enumerate().map(check).collect::<Result<_, _>>()?
    };
    let (tx_hashes, results) = checked.into_iter().unzip();
    Ok(CheckedBlock { tx_hashes, results })
}

/// All checks that need only the block.
pub fn check_block_in_isolation(b: &Block, p: &ChainParams) -> Result<CheckedBlock, BlockError> {
    check_chain_id(b, p)?;
    check_gas_limit(b, p)?;
    check_tx_count(b, p)?;
    check_block_size(b)?;
    check_proposer_signature(b)?;
    let checked = check_transactions(b, p)?;
    check_no_duplicate_txs(&checked.tx_hashes)?;
    check_no_duplicate_task_ids(&checked.results)?;
    check_synthetic_count(&checked.results, p)?;
    check_tx_root(b, &checked.tx_hashes)?;
    check_compute_root(b, &checked.results)?;
    Ok(checked)
}

/// What the context checks need to know about the chain.
pub struct ChainContext<'a> {
    pub params: &'a ChainParams,
    pub validators: &'a ValidatorSet,
    pub parent: Head,
    /// Our clock, unix milliseconds.
    pub now_ms: u64,
    /// Canonical blocks (hash, share target) of [`window_heights`] for the block's height,
    /// lowest first.
    pub window: Vec<WindowTip>,
    pub poc: &'a PocVerifier,
    /// The block comes with a commit certificate (decided, or synced): more than ⅔ of the
    /// voting power checked its market data before voting, so data this node does not hold
    /// is taken as checked (EIP-4844's rule past the blob window). Data that is held is
    /// checked all the same. False for a proposal, which must have its data here.
    pub data_attested: bool,
}

pub fn check_parent(b: &Block, parent: &Head) -> Result<(), BlockError> {
    if b.header.height != parent.height + 1 {
        return Err(BlockError::Height { expected: parent.height + 1, found: b.header.height });
    }
    if b.header.prev_hash != parent.hash {
        return Err(BlockError::Parent { expected: parent.hash, found: b.header.prev_hash });
    }
    Ok(())
}

pub fn check_timestamp(b: &Block, parent: &Head, now_ms: u64) -> Result<(), BlockError> {
    if b.header.timestamp <= parent.timestamp {
        return Err(BlockError::TimestampNotAfterParent { parent: parent.timestamp, found: b.header.timestamp });
    }
    let max = now_ms.saturating_add(MAX_FUTURE_DRIFT_MS);
    if b.header.timestamp > max {
        return Err(BlockError::TimestampInFuture { max, found: b.header.timestamp });
    }
    Ok(())
}

pub fn check_proposer_turn(b: &Block, validators: &ValidatorSet) -> Result<(), BlockError> {
    let (height, round) = (b.header.height, b.header.round);
    let expected = validators.proposer_address(height, round);
    if b.header.proposer_address != expected {
        return Err(BlockError::WrongProposer { height, round, expected, found: b.header.proposer_address });
    }
    Ok(())
}

/// The header's `share_target` is the parent's retargeted for the block's synthetic results
/// (PROTOCOL.md, Shares): a proposer cannot pick an easier target for the next tip.
pub fn check_share_target(b: &Block, checked: &CheckedBlock, parent: &Head, p: &ChainParams) -> Result<(), BlockError> {
    let synthetic = checked.results.iter().flatten().filter(|r| is_synthetic(r)).count() as u64;
    let expected = next_share_target(parent.share_target, synthetic, p.poc.shares_per_block, p.poc.share_halflife);
    if b.header.share_target != expected {
        return Err(BlockError::ShareTarget {
            expected,
            parent: parent.share_target,
            synthetic,
            found: b.header.share_target,
        });
    }
    Ok(())
}

/// Rule 6 for every synthetic result: a tip in the window, the share rule (one hash each, all
/// before any matrix work), then full recomputation (in parallel). Returns the workers to pay,
/// in block order.
pub fn check_synthetic_results(
    b: &Block,
    checked: &CheckedBlock,
    ctx: &ChainContext,
) -> Result<Vec<Address>, BlockError> {
    let range = window_heights(b.header.height, ctx.poc.window());
    let mut items = Vec::new();
    let mut idx = Vec::new();
    for (index, r) in checked.results.iter().enumerate() {
        let Some(r) = r.as_ref().filter(|r| is_synthetic(r)) else { continue };
        let hash = checked.tx_hashes[index];
        let tip = ctx
            .poc
            .locate_tip(r, &ctx.window, *range.start(), *range.end())
            .and_then(|tip| ctx.poc.check_share(r, &tip).map(|_| tip))
            .map_err(|error| BlockError::Synthetic { index, hash, error })?;
        items.push((r, tip.0));
        idx.push(index);
    }
    for (i, res) in ctx.poc.verify_many(&items).into_iter().enumerate() {
        res.map_err(|error| BlockError::Synthetic { index: idx[i], hash: checked.tx_hashes[idx[i]], error })?;
    }
    Ok(idx.iter().map(|i| b.transactions[*i].from_address).collect())
}

/// The validator set that decides `height`, from the state's active sets.
pub fn set_at<V: StateView + ?Sized>(view: &V, height: u64) -> Result<ValidatorSet, BlockError> {
    match view.active_set_at(height).map_err(|e| BlockError::State(e.to_string()))? {
        Some(s) if !s.members.is_empty() => Ok(ValidatorSet::from_active(&s)),
        _ => Err(BlockError::NoSet(height)),
    }
}

/// The block's consensus data: the parent's certificate must verify under the parent's set
/// (its signers feed liveness); each piece of evidence must verify under the set of its
/// height, be younger than `evidence_max_age` and name a validator once. Returns what the end
/// of the block applies.
pub fn check_consensus_data<V: StateView + ?Sized>(b: &Block, view: &V, p: &ChainParams) -> Result<BlockInputs, BlockError> {
    let h = &b.header;
    check_consensus_parts(h.height, &h.prev_hash, &h.proposer_address, &b.consensus, view, p)
}

/// [`check_consensus_data`] for a block being built.
pub fn check_consensus_parts<V: StateView + ?Sized>(
    h: u64,
    prev_hash: &H256,
    proposer: &ValconsAddress,
    data: &cpc_primitives::ConsensusData,
    view: &V,
    p: &ChainParams,
) -> Result<BlockInputs, BlockError> {
    let mut inputs = BlockInputs::plain(Address(proposer.0));
    if let Some(bytes) = &data.last_commit {
        if h <= 1 {
            return Err(BlockError::LastCommitOfGenesis);
        }
        let set = set_at(view, h - 1)?;
        let cert = Certificate::decode(bytes).map_err(BlockError::LastCommit)?;
        cert.verify(h - 1, prev_hash, &set).map_err(BlockError::LastCommit)?;
        inputs.last_commit = Some(LastCommit { height: h - 1, signers: cert.signers() });
    }
    let ev = &data.evidence;
    if ev.len() > MAX_EVIDENCE_PER_BLOCK {
        return Err(BlockError::TooMuchEvidence { max: MAX_EVIDENCE_PER_BLOCK, found: ev.len() });
    }
    let mut seen = HashSet::new();
    for (index, bytes) in ev.iter().enumerate() {
        let e = Evidence::from_json_slice(bytes).map_err(|e| BlockError::Evidence { index, why: e.to_string() })?;
        let height = e.height();
        if height >= h {
            return Err(BlockError::EvidenceFromTheFuture { index, height, block: h });
        }
        let max_age = p.staking.evidence_max_age;
        if h - height > max_age {
            return Err(BlockError::EvidenceTooOld { index, height, max_age, block: h });
        }
        let set = set_at(view, height)?;
        e.verify(&set).map_err(|e| BlockError::Evidence { index, why: e.to_string() })?;
        if !seen.insert(e.validator()) {
            return Err(BlockError::DuplicateEvidence { index, validator: e.validator() });
        }
        inputs.infractions.push(Infraction { validator: e.validator(), height });
    }
    Ok(inputs)
}

/// Re-executes the block on `view` and compares `gas_used` and `state_root`.
pub fn execute_and_compare<V: StateView + ?Sized>(
    b: &Block,
    checked: &CheckedBlock,
    view: &V,
    p: &ChainParams,
    paid_workers: &[Address],
) -> Result<BlockOutcome, BlockError> {
    execute_and_compare_with(b, checked, view, p, paid_workers, false)
}

/// [`execute_and_compare`] where market data not held here may be taken as attested.
pub fn execute_and_compare_with<V: StateView + ?Sized>(
    b: &Block,
    checked: &CheckedBlock,
    view: &V,
    p: &ChainParams,
    paid_workers: &[Address],
    data_attested: bool,
) -> Result<BlockOutcome, BlockError> {
    let inputs = check_consensus_data(b, view, p)?;
    let mut ex = BlockExecutor::new(view, p, b.header.height).at_time(b.header.timestamp);
    for (index, (tx, hash)) in b.transactions.iter().zip(&checked.tx_hashes).enumerate() {
        let result = checked.results.get(index).and_then(|r| r.as_ref());
        match crate::market::check_market_data(&ex, view, tx, result, p.market.enabled) {
            Err(e) if data_attested && e.is_missing_data() => {}
            res => res.map_err(|error| BlockError::Market { index, hash: *hash, error })?,
        }
        ex.execute(tx, *hash).map_err(|error| BlockError::Exec { index, hash: *hash, error })?;
    }
    let out = ex.finish(&inputs, paid_workers).map_err(|e| BlockError::State(e.to_string()))?;
    if out.gas_used != b.header.gas_used {
        return Err(BlockError::GasUsed { expected: out.gas_used, found: b.header.gas_used });
    }
    if out.state_root != b.header.state_root {
        return Err(BlockError::StateRoot { expected: out.state_root, found: b.header.state_root });
    }
    Ok(out)
}

/// All checks that need the chain.
pub fn check_block_in_context<V: StateView + ?Sized>(
    b: &Block,
    checked: &CheckedBlock,
    view: &V,
    ctx: &ChainContext,
) -> Result<BlockOutcome, BlockError> {
    check_parent(b, &ctx.parent)?;
    check_timestamp(b, &ctx.parent, ctx.now_ms)?;
    check_proposer_turn(b, ctx.validators)?;
    check_share_target(b, checked, &ctx.parent, ctx.params)?;
    let workers = check_synthetic_results(b, checked, ctx)?;
    execute_and_compare_with(b, checked, view, ctx.params, &workers, ctx.data_attested)
}

/// Full validation of a block on top of `ctx.parent`: the outcome to commit.
pub fn validate_block<V: StateView + ?Sized>(
    b: &Block,
    view: &V,
    ctx: &ChainContext,
) -> Result<(CheckedBlock, BlockOutcome), BlockError> {
    let checked = check_block_in_isolation(b, ctx.params)?;
    let out = check_block_in_context(b, &checked, view, ctx)?;
    Ok((checked, out))
}
