//! The task market's data rules (docs/MARKET.md): a POST_JOB is includable only where its
//! inputs are held here, and a job result only if its C is held here and passes Freivalds'
//! check against A and B. The state rules (escrow, claims, payment) are the executor's
//! (`cpc_state::market`); these run just before it, in block building, import and admission.

use cpc_poc::{freivalds_check, freivalds_seed, FreivaldsError};
use cpc_primitives::{ComputeResult, Transaction, TxType, H256};
use cpc_state::{BlobKind, BlockExecutor, JobResultError, JobTx, StateView};
use std::sync::Arc;

/// Why a market transaction's data does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketDataError {
    /// Not held here (yet): a matter of time for whoever sent it, never proof of bad faith.
    #[error("{what} {root}: not held by this node (put it with job_putBlob before the transaction)")]
    BlobMissing { what: &'static str, root: H256, kind: BlobKind, rows: u32, cols: u32 },
    #[error("{what} {root}: expected a {rows} x {cols} {kind:?} matrix, found {found}")]
    BlobShape { what: &'static str, root: H256, kind: BlobKind, rows: u32, cols: u32, found: String },
    #[error(transparent)]
    Result(#[from] JobResultError),
    #[error("job result for {job}: Freivalds' check refused C: {why}")]
    Freivalds { job: H256, why: FreivaldsError },
    #[error("reading a blob: {0}")]
    Storage(String),
}

impl MarketDataError {
    /// Data not held here or not readable: the only failures that say nothing about the block
    /// (the others are fixed by the block and its parent's state).
    pub fn is_missing_data(&self) -> bool {
        matches!(self, MarketDataError::BlobMissing { .. } | MarketDataError::Storage(_))
    }

    /// Whether the same transaction may pass later (its data arrives, its claim lands).
    pub fn may_pass_later(&self) -> bool {
        matches!(
            self,
            MarketDataError::BlobMissing { .. }
                | MarketDataError::Storage(_)
                | MarketDataError::Result(JobResultError::NoSuchJob(_) | JobResultError::NotClaimed { .. })
        )
    }
}

fn blob<V: StateView + ?Sized>(
    view: &V,
    what: &'static str,
    root: &H256,
    kind: BlobKind,
    rows: u32,
    cols: u32,
) -> Result<Arc<cpc_state::Blob>, MarketDataError> {
    let b = view
        .blob(root)
        .map_err(|e| MarketDataError::Storage(e.to_string()))?
        .ok_or(MarketDataError::BlobMissing { what, root: *root, kind, rows, cols })?;
    // The rows are what the root commits to: another reading of the same rows (int8 of 4c
    // columns held where int32 of c is needed) is the same data (`Blob::read_as`).
    match b.read_as(kind, rows, cols) {
        Some(std::borrow::Cow::Borrowed(_)) => Ok(b),
        Some(std::borrow::Cow::Owned(read)) => Ok(Arc::new(read)),
        None => Err(MarketDataError::BlobShape {
            what,
            root: *root,
            kind,
            rows,
            cols,
            found: format!("a {} x {} {:?} matrix", b.rows, b.cols, b.kind),
        }),
    }
}

pub use cpc_state::market::is_job_result;

/// The data rules of one transaction, on the state `ex` has reached in its block: nothing for
/// transactions that are not the market's.
pub fn check_market_data<V: StateView + ?Sized>(
    ex: &BlockExecutor<'_, V>,
    view: &V,
    tx: &Transaction,
    result: Option<&ComputeResult>,
    market_enabled: bool,
) -> Result<(), MarketDataError> {
    if !market_enabled {
        return Ok(());
    }
    match tx.tx_type {
        TxType::PostJob => {
            // A payload that does not parse fails in the executor (included as failed).
            if let Some(Ok(JobTx::Post(p))) = JobTx::parse(tx) {
                blob(view, "input A", &p.a_root, BlobKind::Int8, p.m, p.k)?;
                blob(view, "input B", &p.b_root, BlobKind::Int8, p.k, p.n)?;
            }
            Ok(())
        }
        TxType::SubmitResult => match result {
            Some(r) if is_job_result(r, market_enabled) => {
                let (job, rec) = ex.check_job_result(&tx.from_address, &r.task_id, &r.result_hash)?;
                let root = H256::from_hex(&r.result_hash).expect("checked by check_job_result");
                check_product(view, &job, &rec, &root)
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The blobs a transaction names (in block order): A and B of a POST_JOB, C of a job result;
/// none for other transactions or with the market off. Read from the transaction alone (no
/// state), so a proposer and its validators agree on which blobs travel with a proposal.
pub fn named_blobs(tx: &Transaction, market_enabled: bool) -> Vec<H256> {
    if !market_enabled {
        return Vec::new();
    }
    match tx.tx_type {
        TxType::PostJob => match JobTx::parse(tx) {
            Some(Ok(JobTx::Post(p))) => vec![p.a_root, p.b_root],
            _ => Vec::new(),
        },
        TxType::SubmitResult => match ComputeResult::from_payload(&tx.payload) {
            Ok(r) if is_job_result(&r, market_enabled) => H256::from_hex(&r.result_hash).into_iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The blobs a block's transactions name, each once, in block order.
pub fn block_named_blobs(block: &cpc_primitives::Block, market_enabled: bool) -> Vec<H256> {
    let mut seen = std::collections::HashSet::new();
    block.transactions.iter().flat_map(|tx| named_blobs(tx, market_enabled)).filter(|r| seen.insert(*r)).collect()
}

/// Freivalds' check of the C held under `root` against the job's A and B.
pub fn check_product<V: StateView + ?Sized>(view: &V, job: &H256, rec: &cpc_state::JobRecord, root: &H256) -> Result<(), MarketDataError> {
    let c = blob(view, "result C", root, BlobKind::Int32, rec.m, rec.n)?;
    let a = blob(view, "input A", &rec.a_root, BlobKind::Int8, rec.m, rec.k)?;
    let b = blob(view, "input B", &rec.b_root, BlobKind::Int8, rec.k, rec.n)?;
    let seed = freivalds_seed(&job.to_hex(), root);
    let (m, k, n) = (rec.m as usize, rec.k as usize, rec.n as usize);
    freivalds_check(&a.as_i8(), &b.as_i8(), &c.as_i32(), m, k, n, &seed).map_err(|why| MarketDataError::Freivalds { job: *job, why })
}
