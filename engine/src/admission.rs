//! Admission into the pool: the in-isolation checks (without the pool lock), for a synthetic
//! result the tip, the share rule and the k-row proof, then the pool's own checks. Full
//! recomputation follows separately ([`Engine::verify_admitted`]) so that callers decide
//! where it runs (a rayon thread, a blocking task).

use crate::{Engine, EngineEvent};
use cpc_mempool::{prevalidate, AdmissionWindow, AdmitError};
use cpc_primitives::{Address, ComputeResult, Transaction, TxType, H256};
use cpc_state::StorageError;
use std::sync::Arc;
use std::time::Instant;

/// A transaction the pool took, with what its synthetic result still needs: full
/// recomputation against `tip` before the node relays it.
pub struct Admitted {
    pub hash: H256,
    pub synthetic: Option<(Arc<ComputeResult>, H256)>,
}

impl Engine {
    /// Admission without side effects (no wake-up, no event).
    pub fn admit_quietly(&self, tx: Transaction) -> Result<Admitted, AdmitError> {
        let is_result = tx.tx_type == TxType::SubmitResult;
        // Only a SUBMIT_RESULT may need the task window (16 index reads): skip it otherwise.
        let (tips, lo, hi) = if is_result {
            let head = self.head();
            self.window_for(head.height + 1).map_err(|e| AdmitError::Storage(StorageError::from(e)))?
        } else {
            (Vec::new(), 0, 0)
        };
        let w = AdmissionWindow { poc: &self.poc, tips: &tips, lo, hi };
        let checked_at = Instant::now();
        let v = prevalidate(tx, &self.params, &w);
        if is_result {
            self.metrics.observe_verify("admission", checked_at.elapsed().as_secs_f64());
        }
        let v = v.and_then(|v| self.check_market_admission(&v).map(|_| v));
        let synthetic = v.as_ref().ok().and_then(|v| Some((v.result.clone()?, v.tip?)));
        let res = v.and_then(|v| self.mempool.lock().admit(v, &self.store));
        if is_result {
            self.metrics.record_poc_admission(&res);
        }
        res.map(|hash| Admitted { hash, synthetic })
    }

    /// The market's data rules on the committed state (docs/MARKET.md): a POST_JOB whose
    /// inputs are not held here, or a job result whose C is missing or fails Freivalds' check,
    /// is refused at once with the reason; a result whose claim is still pending waits in the
    /// pool like any transaction that may fit a later block.
    fn check_market_admission(&self, v: &cpc_mempool::ValidTx) -> Result<(), AdmitError> {
        let p = &self.params;
        let market_tx = v.tx.tx_type == TxType::PostJob
            || v.result.as_deref().is_some_and(|r| cpc_consensus::is_job_result(r, p.market.enabled));
        if !p.market.enabled || !market_tx {
            return Ok(());
        }
        let store = &self.store;
        let ex = cpc_state::BlockExecutor::new(store, p, self.head().height + 1);
        match cpc_consensus::check_market_data(&ex, store, &v.tx, v.result.as_deref(), true) {
            Err(e) if e.is_missing_data() || !e.may_pass_later() => Err(AdmitError::Market(e)),
            _ => Ok(()),
        }
    }

    /// Admission of one transaction: on success the block producer is woken and a
    /// [`EngineEvent::Pending`] goes out. Relaying it is the caller's business.
    pub fn admit(&self, tx: Transaction) -> Result<Admitted, AdmitError> {
        let a = self.admit_quietly(tx)?;
        self.tx_arrived.notify_one();
        let _ = self.events.send(EngineEvent::Pending(a.hash));
        Ok(a)
    }

    /// Full recomputation of an admitted result (cached: the block builder and import find it
    /// verified). A failure is forged work: the worker's pending results leave the pool and
    /// its new ones are refused for a while. Returns whether the result verified.
    pub fn verify_admitted(&self, r: &ComputeResult, tip: &H256) -> bool {
        let started = Instant::now();
        let res = self.poc.verify_full(r, tip);
        self.metrics.observe_verify("relay", started.elapsed().as_secs_f64());
        match res {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(task = %r.task_id, worker = %r.worker_address, "result failed full recomputation: {e}");
                if let Ok(w) = r.worker_address.parse::<Address>() {
                    self.punish_forger(&w);
                }
                false
            }
        }
    }

    /// Forged work by `worker`: drop its pending results, refuse new ones for a while.
    pub fn punish_forger(&self, worker: &Address) {
        let dropped = self.mempool.lock().punish_forger(worker);
        self.metrics.forged_results.inc();
        tracing::warn!(%worker, dropped = dropped.len(), "forged result: the worker's pending results were dropped");
    }
}
