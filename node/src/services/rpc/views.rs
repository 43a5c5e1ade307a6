//! The RPC's view of a block's compute results and of a committed block (for
//! `cpc_getComputeResults` and the WebSocket subscriptions), and of the staking records
//! (`cpc_getValidators`, `cpc_getActiveSet`).

use cpc_consensus::is_synthetic;
use cpc_primitives::{Block, ComputeResult, PublicKey, TxType, ValconsAddress, H256};
use cpc_rpc::{ActiveSetView, ApiError, CommissionView, ComputeResultView, ComputeResultsView, SetMemberView, ValidatorView};
use cpc_state::stake::{power_of, ActiveSet, ValidatorRecord};
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
    let jobs = c
        .jobs
        .iter()
        .map(|e| cpc_rpc::JobEventView {
            job_id: e.job,
            event: e.event.as_str().to_string(),
            by: e.by,
            tx_hash: e.tx_hash,
            block_height: e.block_height,
            block_hash: c.hash,
        })
        .collect();
    cpc_rpc::BlockEvent { hash: c.hash, header: b.header.clone(), txs, compute, jobs }
}

/// A validator record as `cpc_getValidators` shows it; `active` when its consensus key is one
/// of `next_set` (the keys of the set deciding head + 1).
pub fn validator_view(v: &ValidatorRecord, next_set: &[PublicKey]) -> ValidatorView {
    ValidatorView {
        operator: v.operator,
        consensus_address: ValconsAddress::from_public_key(&v.consensus_key),
        consensus_key: v.consensus_key,
        moniker: v.moniker.clone(),
        tokens: v.tokens,
        shares: v.shares,
        voting_power: power_of(v.tokens),
        commission: CommissionView {
            rate_bps: v.commission.rate_bps,
            max_rate_bps: v.commission.max_rate_bps,
            max_change_bps: v.commission.max_change_bps,
            changed_at_ms: v.commission.changed_at_ms,
        },
        jailed: v.jailed,
        jailed_until: v.jailed_until,
        tombstoned: v.tombstoned,
        missed_in_window: v.liveness.missed,
        commission_pending: v.commission_pending,
        active: next_set.contains(&v.consensus_key),
    }
}

/// The active set deciding `height`, in its (proposer) order.
pub fn set_view(height: u64, s: &ActiveSet) -> ActiveSetView {
    ActiveSetView {
        height,
        total_power: s.total_power(),
        members: s
            .members
            .iter()
            .map(|m| SetMemberView {
                operator: m.operator,
                consensus_address: ValconsAddress::from_public_key(&m.consensus_key),
                power: m.power,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpc_primitives::{Address, SecretKey, UNITS_PER_CPC};
    use cpc_state::stake::{Commission, Liveness, SetMember, U256};

    fn record(seed: u8, tokens: u128) -> ValidatorRecord {
        let key = SecretKey::from_bytes(&[seed; 32]).public_key();
        ValidatorRecord {
            operator: Address::from_public_key(&key),
            consensus_key: key,
            moniker: format!("v{seed}"),
            commission: Commission { rate_bps: 1000, max_rate_bps: 2000, max_change_bps: 100, changed_at_ms: 7 },
            tokens,
            shares: tokens * 2,
            jailed: false,
            jailed_until: 0,
            tombstoned: false,
            liveness: Liveness { counted: 10, missed: 3, bits: String::new() },
            reward_per_share: U256::zero(),
            commission_pending: 42,
            created_height: 5,
        }
    }

    #[test]
    fn validator_view_fields_and_active_flag() {
        let v = record(1, 20_000 * UNITS_PER_CPC + 1);
        let other = SecretKey::from_bytes(&[2; 32]).public_key();
        let view = validator_view(&v, &[other, v.consensus_key]);
        assert!(view.active);
        assert_eq!(view.voting_power, 20_000);
        assert_eq!(view.missed_in_window, 3);
        assert_eq!(view.consensus_address, v.consensus_address());
        assert!(!validator_view(&v, &[other]).active, "another key in the set is not this validator");
        let j = serde_json::to_value(&view).unwrap();
        assert_eq!(j["operator"], v.operator.to_string());
        assert_eq!(j["consensus_address"], v.consensus_address().to_string());
        assert!(j["consensus_address"].as_str().unwrap().starts_with("cpcvalcons1"));
        assert_eq!(j["consensus_key"], v.consensus_key.to_hex());
        assert_eq!(j["tokens"], (20_000 * UNITS_PER_CPC + 1).to_string());
        assert_eq!(j["shares"], (2 * (20_000 * UNITS_PER_CPC + 1)).to_string());
        assert_eq!(j["commission_pending"], "42");
        assert_eq!(
            j["commission"],
            serde_json::json!({"rate_bps": 1000, "max_rate_bps": 2000, "max_change_bps": 100, "changed_at_ms": 7})
        );
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "operator", "consensus_address", "consensus_key", "moniker", "tokens", "shares", "voting_power", "commission",
            "jailed", "jailed_until", "tombstoned", "missed_in_window", "commission_pending", "active",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn set_view_keeps_the_order_and_sums_the_power() {
        let (a, b) = (record(3, 0), record(4, 0));
        let set = ActiveSet {
            members: vec![
                SetMember { operator: b.operator, consensus_key: b.consensus_key, power: 30 },
                SetMember { operator: a.operator, consensus_key: a.consensus_key, power: 12 },
            ],
        };
        let v = set_view(9, &set);
        assert_eq!((v.height, v.total_power), (9, 42));
        assert_eq!(v.members[0], SetMemberView { operator: b.operator, consensus_address: b.consensus_address(), power: 30 });
        assert_eq!(v.members[1].operator, a.operator);
    }
}
