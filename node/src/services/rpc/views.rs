//! The RPC's view of a block's compute results and of a committed block (for
//! `cpc_getComputeResults` and the WebSocket subscriptions).

use cpc_consensus::is_synthetic;
use cpc_primitives::{Block, ComputeResult, TxType, H256};
use cpc_rpc::{ApiError, ComputeResultView, ComputeResultsView};
use cpc_state::RewardSummary;

use super::internal;

/// The ComputeResults of a block with what each was paid (`cpc_getComputeResults` and the
/// `computeResults` subscription). `tips` are the block's window (to show share values).
pub fn compute_results_view(
    block: &Block,
    hash: H256,
    rewards: &RewardSummary,
    tips: &[cpc_consensus::WindowTip],
) -> Result<ComputeResultsView, ApiError> {
    let mut payments = rewards.worker_payments.iter();
    let mut results = Vec::new();
    for tx in block.transactions.iter().filter(|t| t.tx_type == TxType::SubmitResult) {
        let r = ComputeResult::from_payload(&tx.payload).map_err(internal)?;
        let synthetic = is_synthetic(&r);
        // Payments are recorded in block order, one per share.
        let reward = if synthetic { payments.next().map(|(_, amount)| amount.clone()) } else { None };
        let share_value = synthetic
            .then(|| {
                let n = r.nonce?;
                let tip = tips.iter().find(|(t, _)| cpc_poc::task_id(t, &r.worker_address, n) == r.task_id)?;
                cpc_poc::result_share_value(&r, &tip.0).ok().map(|v| format!("{v:016x}"))
            })
            .flatten();
        results.push(ComputeResultView { tx_hash: tx.hash(), result: r, synthetic, share_value, reward });
    }
    Ok(ComputeResultsView {
        height: block.header.height,
        block_hash: hash,
        compute_root: block.header.compute_root.to_text(),
        results,
        shares: rewards.shares,
        share_reward: rewards.share_reward.to_string(),
        share_target: block.header.share_target,
    })
}

/// What WebSocket subscribers get for a block that became canonical (`newHeads`, `logs`,
/// `computeResults`). `tips` is the block's task window (read here, only for blocks with
/// results and only when someone listens: not under the engine's commit lock).
pub fn block_event(c: &cpc_engine::CommittedBlock, tips: impl FnOnce() -> Vec<cpc_consensus::WindowTip>) -> cpc_rpc::BlockEvent {
    let b = &c.block;
    let txs = b
        .transactions
        .iter()
        .zip(&c.tx_hashes)
        .map(|(t, h)| cpc_rpc::TxBrief {
            tx_hash: *h,
            tx_type: t.tx_type,
            from_address: t.from_address,
            to_address: t.to_address,
            amount: t.amount,
            block_height: b.header.height,
            block_hash: c.hash,
        })
        .collect();
    let compute = b
        .transactions
        .iter()
        .any(|t| t.tx_type == TxType::SubmitResult)
        .then(|| compute_results_view(b, c.hash, &c.rewards, &tips()).ok())
        .flatten()
        .filter(|v| !v.results.is_empty());
    cpc_rpc::BlockEvent { hash: c.hash, header: b.header.clone(), txs, compute }
}
