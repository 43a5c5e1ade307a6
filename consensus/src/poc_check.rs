//! SUBMIT_RESULT rule 6: synthetic results must come from a canonical tip in the window and
//! pass verification. The cheap proof check guards admission; the full recomputation (spread
//! over the cores, each result verified once per node) guards block building and import.

use cpc_poc::{PocError, SynthParams};
use cpc_primitives::{sha256_concat, ComputeResult, ShareTarget, H256};
use cpc_state::PocParams;
use parking_lot::Mutex;
use rayon::prelude::*;
use std::collections::{HashSet, VecDeque};

/// Verified results remembered per node (FIFO). A block holds at most 16 synthetic results
/// and the window is 16 blocks, so 4 096 covers every result still includable many times over.
pub const VERIFIED_CACHE_CAPACITY: usize = 4096;

/// A synthetic result that breaks rule 6.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntheticError {
    #[error(
        "SUBMIT_RESULT rule 6: task {task_id:?} matches no canonical tip in heights {lo}..={hi} \
         for worker {worker} and nonce {nonce:?} (stale or unknown tip, or someone else's task)"
    )]
    UnknownTip { task_id: String, worker: String, nonce: Option<u64>, lo: u64, hi: u64 },
    #[error(
        "SUBMIT_RESULT rule 6 (share): task {task_id:?} has share value {value} above its tip's \
         share_target {target} (expected a value at most the target: not a share)"
    )]
    NotAShare { task_id: String, value: String, target: ShareTarget },
    #[error("SUBMIT_RESULT rule 6: {0}")]
    Poc(#[from] PocError),
}

impl SyntheticError {
    /// A result for a tip this node does not have in its window (not yet arrived, just left
    /// it, or on another branch): a matter of timing for whoever relayed it, never proof of
    /// bad faith.
    pub fn is_unknown_tip(&self) -> bool {
        matches!(self, SyntheticError::UnknownTip { .. })
    }
}

/// One block of the task window: its hash and the share target work on it must meet.
pub type WindowTip = (H256, ShareTarget);

/// Whether a result claims to be synthetic (and so must verify, and is paid).
pub fn is_synthetic(r: &ComputeResult) -> bool {
    cpc_poc::is_synthetic_task_id(&r.task_id)
}

/// Heights whose canonical hashes a block at `height` may use as tips: `[h-W, h-1]`.
pub fn window_heights(height: u64, window: u64) -> std::ops::RangeInclusive<u64> {
    height.saturating_sub(window)..=height.saturating_sub(1)
}

/// Synthetic verification with a per-node cache of results already fully verified.
pub struct PocVerifier {
    params: SynthParams,
    window: u64,
    cache: Mutex<(HashSet<H256>, VecDeque<H256>)>,
}

fn cache_key(r: &ComputeResult, tip: &H256) -> H256 {
    sha256_concat(&[&r.leaf_json(), &tip.0])
}

impl PocVerifier {
    pub fn new(p: &PocParams) -> Self {
        PocVerifier {
            params: SynthParams { n: p.matrix_size, k: p.challenges },
            window: p.window,
            cache: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    pub fn synth_params(&self) -> SynthParams {
        self.params
    }

    pub fn window(&self) -> u64 {
        self.window
    }

    /// Finds the tip among `window` (canonical blocks of `lo..=hi`) that generated this task.
    pub fn locate_tip(&self, r: &ComputeResult, window: &[WindowTip], lo: u64, hi: u64) -> Result<WindowTip, SyntheticError> {
        let unknown = || SyntheticError::UnknownTip {
            task_id: r.task_id.clone(),
            worker: r.worker_address.clone(),
            nonce: r.nonce,
            lo,
            hi,
        };
        let nonce = r.nonce.ok_or(PocError::NonceMissing)?;
        if !cpc_poc::is_synthetic_task_id(&r.task_id) {
            return Err(unknown());
        }
        window
            .iter()
            .copied()
            .find(|(tip, _)| cpc_poc::task_id(tip, &r.worker_address, nonce) == r.task_id)
            .ok_or_else(unknown)
    }

    /// The share rule: the result's share value is at most its tip's target (one hash).
    pub fn check_share(&self, r: &ComputeResult, tip: &WindowTip) -> Result<(), SyntheticError> {
        let value = cpc_poc::result_share_value(r, &tip.0)?;
        if value > tip.1.0 {
            return Err(SyntheticError::NotAShare {
                task_id: r.task_id.clone(),
                value: format!("{value:016x}"),
                target: tip.1,
            });
        }
        Ok(())
    }

    /// Admission: locate the tip, the share rule (one hash), then the k-row proof check
    /// (≤ 1 ms at n = 1024) — cheapest first.
    pub fn check_cheap(&self, r: &ComputeResult, window: &[WindowTip], lo: u64, hi: u64) -> Result<WindowTip, SyntheticError> {
        let tip = self.locate_tip(r, window, lo, hi)?;
        self.check_share(r, &tip)?;
        if !self.is_cached(r, &tip.0) {
            cpc_poc::check_proof(r, &tip.0, &self.params)?;
        }
        Ok(tip)
    }

    pub fn is_cached(&self, r: &ComputeResult, tip: &H256) -> bool {
        self.cache.lock().0.contains(&cache_key(r, tip))
    }

    fn remember(&self, r: &ComputeResult, tip: &H256) {
        let key = cache_key(r, tip);
        let mut c = self.cache.lock();
        if c.0.insert(key) {
            c.1.push_back(key);
            if c.1.len() > VERIFIED_CACHE_CAPACITY
                && let Some(old) = c.1.pop_front()
            {
                c.0.remove(&old);
            }
        }
    }

    /// Full recomputation of one result against its tip (cached).
    pub fn verify_full(&self, r: &ComputeResult, tip: &H256) -> Result<(), SyntheticError> {
        if self.is_cached(r, tip) {
            return Ok(());
        }
        cpc_poc::verify_full(r, tip, &self.params)?;
        self.remember(r, tip);
        Ok(())
    }

    /// Fully verifies many results in parallel (one result per core; each product
    /// single-threaded, which uses the cores best when there are several results).
    pub fn verify_many(&self, items: &[(&ComputeResult, H256)]) -> Vec<Result<(), SyntheticError>> {
        if items.len() == 1 {
            let (r, tip) = items[0];
            if self.is_cached(r, &tip) {
                return vec![Ok(())];
            }
            // A lone result gets all the cores for its product.
            let res = cpc_poc::verify_full_parallel(r, &tip, &self.params).map_err(SyntheticError::from);
            if res.is_ok() {
                self.remember(r, &tip);
            }
            return vec![res];
        }
        items.par_iter().map(|(r, tip)| self.verify_full(r, tip)).collect()
    }
}
