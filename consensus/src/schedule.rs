//! The validator set of a height and its proposer schedule.

use cpc_primitives::{PublicKey, ValconsAddress};
use cpc_state::stake::ActiveSet;

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

    /// The proposer of `height` in `round`: slot `(h + r) mod total_power` on the line of
    /// cumulative powers, in the set's order. With equal powers this is `validators[(h + r)
    /// mod N]`; with unequal ones each window of `total_power` consecutive slots gives every
    /// validator its power in turns. The BFT adapter uses the same rule.
    pub fn proposer(&self, height: u64, round: u32) -> &PublicKey {
        let slot = ((height as u128 + round as u128) % self.total as u128) as u64;
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
    fn round_robin_with_rounds() {
        let keys: Vec<PublicKey> = (0..4u8).map(|i| PublicKey([i; 32])).collect();
        let set = ValidatorSet::new(keys.clone());
        assert_eq!(set.proposer(0, 0), &keys[0]);
        assert_eq!(set.proposer(5, 0), &keys[1]);
        assert_eq!(set.proposer(5, 2), &keys[3]);
        assert_eq!(set.proposer(u64::MAX, u32::MAX), &keys[((u64::MAX as u128 + u32::MAX as u128) % 4) as usize]);
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
