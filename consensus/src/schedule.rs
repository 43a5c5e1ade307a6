//! The validator set of a height and its proposer schedule.

use cpc_primitives::{PublicKey, ValconsAddress};
use cpc_state::stake::ActiveSet;

/// A prime above any total voting power (powers are capped at 2⁵³ each, 100 validators).
const STRIDE: u128 = (1 << 61) - 1;

/// The slot of `(height, round)` on a line of `total` voting power: `((h + r) mod total) ×
/// (2⁶¹ − 1) mod total`. Multiplying by a prime larger than `total` permutes `0..total`, so
/// consecutive heights spread over the whole line (a validator with power 10 000 does not
/// propose 10 000 blocks in a row) while every `total` consecutive values still hit each slot
/// once.
pub fn proposer_slot(height: u64, round: u32, total: u64) -> u64 {
    let t = total.max(1) as u128;
    let k = (height as u128 + round as u128) % t;
    (k * (STRIDE % t) % t) as u64
}

/// The validators that decide a height, in the chain's order (the active set's), with their
/// voting powers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    keys: Vec<PublicKey>,
    powers: Vec<u64>,
    total: u64,
}

impl ValidatorSet {
    /// One vote each. Panics on an empty set (genesis validation refuses one).
    pub fn new(keys: Vec<PublicKey>) -> Self {
        let n = keys.len();
        Self::weighted(keys.into_iter().zip(std::iter::repeat_n(1, n)).collect())
    }

    /// Panics on an empty set or a zero total (the active set never is).
    pub fn weighted(members: Vec<(PublicKey, u64)>) -> Self {
        assert!(!members.is_empty(), "a validator set needs at least one validator");
        let (keys, powers): (Vec<_>, Vec<_>) = members.into_iter().unzip();
        let total = powers.iter().try_fold(0u64, |a, p| a.checked_add(*p)).expect("active powers are capped");
        assert!(total > 0, "a validator set needs some voting power");
        ValidatorSet { keys, powers, total }
    }

    /// The set of an active-set record (consensus keys and powers, in its order).
    pub fn from_active(set: &ActiveSet) -> Self {
        Self::weighted(set.members.iter().map(|m| (m.consensus_key, m.power.max(1))).collect())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn members(&self) -> impl Iterator<Item = (&PublicKey, u64)> {
        self.keys.iter().zip(self.powers.iter().copied())
    }

    pub fn total_power(&self) -> u64 {
        self.total
    }

    /// The voting power of `addr`, None when it is not a member.
    pub fn power_of(&self, addr: &ValconsAddress) -> Option<u64> {
        self.keys.iter().position(|k| ValconsAddress::from_public_key(k) == *addr).map(|i| self.powers[i])
    }

    /// The proposer of `height` in `round`: [`proposer_slot`] on the line of cumulative
    /// powers, in the set's order. Every window of `total_power` consecutive (height + round)
    /// values gives each validator exactly its power in turns, interleaved. The BFT adapter
    /// uses the same rule.
    pub fn proposer(&self, height: u64, round: u32) -> &PublicKey {
        let slot = proposer_slot(height, round, self.total);
        let mut acc = 0u64;
        for (k, p) in self.keys.iter().zip(&self.powers) {
            acc += p;
            if slot < acc {
                return k;
            }
        }
        self.keys.last().expect("not empty")
    }

    pub fn proposer_address(&self, height: u64, round: u32) -> ValconsAddress {
        ValconsAddress::from_public_key(self.proposer(height, round))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validator_proposes_once_per_cycle_and_rounds_move_the_turn() {
        let keys: Vec<PublicKey> = (0..4u8).map(|i| PublicKey([i; 32])).collect();
        // Equal powers of 10 000 (10 000 CPC each, as at genesis): the turn must not stay
        // with one validator for 10 000 heights.
        let set = ValidatorSet::weighted(keys.iter().map(|k| (*k, 10_000)).collect());
        let first: std::collections::HashSet<_> = (0..8u64).map(|h| *set.proposer(h, 0)).collect();
        assert!(first.len() >= 3, "8 consecutive heights reach most validators: {}", first.len());
        assert_ne!(set.proposer(5, 0), set.proposer(5, 1), "the next round has another proposer");
        let mut turns = std::collections::HashMap::new();
        for h in 0..40_000u64 {
            *turns.entry(*set.proposer(h, 0)).or_insert(0u32) += 1;
        }
        assert!(turns.values().all(|&t| t == 10_000), "exactly its power per cycle: {turns:?}");
        let _ = set.proposer(u64::MAX, u32::MAX);
    }

    #[test]
    fn proposer_slots_permute_the_line() {
        for total in [1u64, 2, 3, 7, 40_000, 40_001] {
            let mut seen = vec![false; total as usize];
            for k in 0..total {
                let s = proposer_slot(k, 0, total) as usize;
                assert!(!seen[s], "total {total}: slot {s} twice");
                seen[s] = true;
            }
        }
    }

    #[test]
    fn weighted_turns_follow_power() {
        let keys: Vec<PublicKey> = (0..3u8).map(|i| PublicKey([i; 32])).collect();
        let set = ValidatorSet::weighted(vec![(keys[0], 3), (keys[1], 1), (keys[2], 2)]);
        // Counted independently over one full cycle of total power 6.
        let mut turns = [0u32; 3];
        for h in 0..6u64 {
            let p = set.proposer(h, 0);
            turns[keys.iter().position(|k| k == p).unwrap()] += 1;
        }
        assert_eq!(turns, [3, 1, 2]);
        assert_eq!(set.total_power(), 6);
        assert_eq!(set.power_of(&ValconsAddress::from_public_key(&keys[2])), Some(2));
    }
}
