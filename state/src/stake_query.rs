//! Read-only staking queries over committed state (RPC, CLI): validators, a delegator's
//! delegations with their worth and pending rewards, its unbonding entries.

use crate::stake::*;
use crate::view::{StateView, StorageError};
use cpc_primitives::Address;

/// A delegation as a delegator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationView {
    pub validator: Address,
    pub shares: u128,
    /// What the shares are worth now, rounded down.
    pub tokens: u128,
    /// Rewards a withdrawal would pay now (the commission too, for the operator's own).
    pub pending_rewards: u128,
    pub unbonding_entries: u32,
}

/// An unbonding entry in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnbondingView {
    pub validator: Address,
    pub delegator: Address,
    pub completion_height: u64,
    pub entry: UnbondingRecord,
}

pub fn validator<V: StateView + ?Sized>(view: &V, op: &Address) -> Result<Option<ValidatorRecord>, StorageError> {
    Ok(match view.stake_record(&StakeKey::Validator(*op))? {
        Some(StakeRecord::Validator(v)) => Some(v),
        _ => None,
    })
}

/// Every validator, in creation order.
pub fn validators<V: StateView + ?Sized>(view: &V) -> Result<Vec<ValidatorRecord>, StorageError> {
    let list = match view.stake_record(&StakeKey::ValidatorList)? {
        Some(StakeRecord::ValidatorList(l)) => l,
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(list.len());
    for op in list {
        if let Some(v) = validator(view, &op)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// What `d` would withdraw from `v` now (F1, the same arithmetic as the executor's).
pub fn pending_reward(v: &ValidatorRecord, d: &DelegationRecord) -> u128 {
    let delta = v.reward_per_share.saturating_sub(d.reward_snapshot);
    let prod = U512::from(d.shares) * U512::from_little_endian(&delta.to_little_endian()) >> 128;
    if prod > U512::from(u128::MAX) { u128::MAX } else { prod.as_u128() }
}

/// A delegator's delegations, by validator address.
pub fn delegations<V: StateView + ?Sized>(view: &V, delegator: &Address) -> Result<Vec<DelegationView>, StorageError> {
    let mut out = Vec::new();
    for (k, e) in view.stake_prefix(&StakeKey::delegations_prefix(delegator))? {
        let Some(key @ StakeKey::Delegation { validator: op, .. }) = StakeKey::decode(&k) else { continue };
        let StakeRecord::Delegation(d) = StakeRecord::from_bytes(&key, &e.value).map_err(StorageError::corrupt)? else { continue };
        let Some(v) = validator(view, &op)? else { continue };
        let mut pending = pending_reward(&v, &d);
        if op == *delegator {
            pending = pending.saturating_add(v.commission_pending);
        }
        out.push(DelegationView {
            validator: op,
            shares: d.shares,
            tokens: v.pool().tokens_of(d.shares),
            pending_rewards: pending,
            unbonding_entries: d.unbonding_entries,
        });
    }
    Ok(out)
}

/// Unbonding entries in flight, of one delegator or (None) of everyone, by completion height.
/// Reads the live part of the completion index only (entries complete above `head_height`).
pub fn unbonding<V: StateView + ?Sized>(
    view: &V,
    head_height: u64,
    delegator: Option<&Address>,
) -> Result<Vec<UnbondingView>, StorageError> {
    let from = StakeKey::unbonding_prefix(head_height + 1);
    let to = [TAG_UNBONDING + 1];
    let mut out = Vec::new();
    for (k, e) in view.stake_range(&from, &to)? {
        let Some(key @ StakeKey::Unbonding { completion, validator, delegator: d }) = StakeKey::decode(&k) else { continue };
        if delegator.is_some_and(|x| *x != d) {
            continue;
        }
        let StakeRecord::Unbonding(u) = StakeRecord::from_bytes(&key, &e.value).map_err(StorageError::corrupt)? else { continue };
        out.push(UnbondingView { validator, delegator: d, completion_height: completion, entry: u });
    }
    Ok(out)
}
