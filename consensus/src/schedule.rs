//! The proposer schedule: round-robin over the genesis validator set.

use cpc_primitives::{PublicKey, ValconsAddress};

/// The validator set, in genesis order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    keys: Vec<PublicKey>,
}

impl ValidatorSet {
    /// Panics on an empty set (genesis validation refuses one).
    pub fn new(keys: Vec<PublicKey>) -> Self {
        assert!(!keys.is_empty(), "a validator set needs at least one validator");
        ValidatorSet { keys }
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

    /// The proposer of `height` in `round`: `validators[(h + r) mod N]`.
    pub fn proposer(&self, height: u64, round: u32) -> &PublicKey {
        let n = self.keys.len() as u128;
        &self.keys[((height as u128 + round as u128) % n) as usize]
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
}
