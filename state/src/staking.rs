//! Stake as shares (issue 13; the Cosmos SDK's x/staking semantics, ideas not code): a
//! validator's bonded tokens are a pool, and each delegation — the operator's self-bond
//! included — is a number of shares of it. A slash is one operation on the pool's tokens and
//! every delegator loses in proportion; a pool whose tokens are all slashed away takes no new
//! delegation.
//!
//! Rounding is always toward the pool: a delegator gets the shares or tokens its amount is
//! worth rounded down, and what rounding leaves stays bonded in the pool (to the remaining
//! delegators). A slash burns `tokens × fraction` rounded down, like Cosmos's truncation.
//! Every product is taken in 256 bits, so no amount a u128 holds overflows on the way.
//!
//! Not wired to transactions or the active set yet (docs/STAKING.md has the plan).

use uint::construct_uint;

construct_uint! {
    /// 256-bit intermediate products of u128 amounts.
    struct U256(4);
}

/// `a × b / c` rounded down, in 256 bits; None when `c` is 0 or the quotient exceeds u128.
pub fn mul_div_floor(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    let q = U256::from(a) * U256::from(b) / U256::from(c);
    (q <= U256::from(u128::MAX)).then(|| q.as_u128())
}

/// A fraction in [0, 1] (a slash rate), as parts per billion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fraction(u64);

impl Fraction {
    pub const DENOMINATOR: u64 = 1_000_000_000;

    /// `ppb` parts per billion; None above one.
    pub fn from_ppb(ppb: u64) -> Option<Fraction> {
        (ppb <= Self::DENOMINATOR).then_some(Fraction(ppb))
    }

    pub fn ppb(&self) -> u64 {
        self.0
    }
}

/// Why a stake operation was refused; each names what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakeError {
    #[error("stake: expected a positive amount, found 0")]
    ZeroAmount,
    #[error("stake: the validator's tokens were slashed to 0 (its {shares} shares are worth nothing): it takes no new delegation")]
    FullySlashed { shares: u128 },
    #[error("stake: {amount} is worth no share at this validator's rate ({tokens} tokens for {shares} shares)")]
    BelowOneShare { amount: u128, tokens: u128, shares: u128 },
    #[error("stake: expected at most the {held} shares held, found a request for {asked}")]
    InsufficientShares { held: u128, asked: u128 },
    #[error("stake: the pool would exceed u128 ({what})")]
    Overflow { what: &'static str },
}

/// A validator's bonded tokens and the delegator shares that own them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    pub tokens: u128,
    pub shares: u128,
}

impl Pool {
    /// Bonds `amount` tokens; returns the shares issued for them (rounded down). An empty pool
    /// issues one share per token.
    pub fn delegate(&mut self, amount: u128) -> Result<u128, StakeError> {
        if amount == 0 {
            return Err(StakeError::ZeroAmount);
        }
        let issued = if self.shares == 0 {
            amount
        } else if self.tokens == 0 {
            return Err(StakeError::FullySlashed { shares: self.shares });
        } else {
            mul_div_floor(amount, self.shares, self.tokens).ok_or(StakeError::Overflow { what: "shares" })?
        };
        if issued == 0 {
            return Err(StakeError::BelowOneShare { amount, tokens: self.tokens, shares: self.shares });
        }
        let tokens = self.tokens.checked_add(amount).ok_or(StakeError::Overflow { what: "tokens" })?;
        let shares = self.shares.checked_add(issued).ok_or(StakeError::Overflow { what: "shares" })?;
        *self = Pool { tokens, shares };
        Ok(issued)
    }

    /// What `shares` of this pool are worth now, rounded down.
    pub fn tokens_of(&self, shares: u128) -> u128 {
        if shares >= self.shares {
            return if shares == self.shares { self.tokens } else { 0 };
        }
        mul_div_floor(shares, self.tokens, self.shares).expect("shares < total: the quotient is below tokens")
    }

    /// Unbonds `shares` of the `held` ones a delegator owns; returns the tokens released
    /// (rounded down; the last shares out take every remaining token).
    pub fn undelegate(&mut self, held: u128, shares: u128) -> Result<u128, StakeError> {
        if shares == 0 {
            return Err(StakeError::ZeroAmount);
        }
        if shares > held || shares > self.shares {
            return Err(StakeError::InsufficientShares { held: held.min(self.shares), asked: shares });
        }
        let out = self.tokens_of(shares);
        self.tokens -= out;
        self.shares -= shares;
        Ok(out)
    }

    /// Burns `fraction` of the pool's tokens (rounded down); returns the amount burned.
    pub fn slash(&mut self, fraction: Fraction) -> u128 {
        let burn = mul_div_floor(self.tokens, fraction.0 as u128, Fraction::DENOMINATOR as u128)
            .expect("fraction ≤ 1: the burn is at most the tokens");
        self.tokens -= burn;
        burn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CPC: u128 = 1_000_000_000_000_000_000;

    #[test]
    fn mul_div_takes_256_bit_products() {
        assert_eq!(mul_div_floor(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div_floor(7, 3, 2), Some(10));
        assert_eq!(mul_div_floor(u128::MAX, 2, 1), None, "the quotient does not fit");
        assert_eq!(mul_div_floor(1, 1, 0), None);
    }

    #[test]
    fn shares_follow_the_exchange_rate_and_round_toward_the_pool() {
        let mut p = Pool::default();
        assert_eq!(p.delegate(100 * CPC), Ok(100 * CPC), "an empty pool issues one share per token");
        p.slash(Fraction::from_ppb(100_000_000).unwrap()); // 10 %
        assert_eq!(p.tokens, 90 * CPC);
        // 9 tokens now buy 10 shares' worth of the pool.
        assert_eq!(p.delegate(9 * CPC), Ok(10 * CPC));
        // Rounded down: 1 unit of token at 0.9 tokens a share is 1.11… shares → 1.
        assert_eq!(p.delegate(1), Ok(1));
        let before = p;
        assert_eq!(p.undelegate(1, 1), Ok(0), "one share is worth 0.9 units: rounded down to 0, kept by the pool");
        assert_eq!(p.tokens, before.tokens);
    }

    #[test]
    fn a_fully_slashed_pool_takes_no_new_delegation_and_the_last_shares_take_the_rest() {
        let mut p = Pool::default();
        p.delegate(10).unwrap();
        assert_eq!(p.slash(Fraction::from_ppb(Fraction::DENOMINATOR).unwrap()), 10);
        assert_eq!(p.delegate(5), Err(StakeError::FullySlashed { shares: 10 }));
        let mut q = Pool::default();
        q.delegate(3).unwrap();
        q.delegate(4).unwrap();
        q.slash(Fraction::from_ppb(500_000_000).unwrap()); // 7 → 4 (3.5 burned down to 3)
        assert_eq!(q.tokens, 4);
        assert_eq!(q.undelegate(3, 3), Ok(1), "3 of 7 shares of 4 tokens: 1.71 → 1");
        assert_eq!(q.undelegate(4, 4), Ok(3), "the last shares take every remaining token");
        assert_eq!(q, Pool::default());
    }

    #[test]
    fn nobody_moves_more_shares_than_they_hold() {
        let mut p = Pool::default();
        p.delegate(10).unwrap();
        assert_eq!(p.undelegate(4, 5), Err(StakeError::InsufficientShares { held: 4, asked: 5 }));
        assert_eq!(p.undelegate(20, 11), Err(StakeError::InsufficientShares { held: 10, asked: 11 }));
        assert_eq!(p.undelegate(4, 0), Err(StakeError::ZeroAmount));
        assert_eq!(p.delegate(0), Err(StakeError::ZeroAmount));
        assert_eq!(p.tokens, 10);
        assert!(Fraction::from_ppb(Fraction::DENOMINATOR + 1).is_none());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Delegate(usize, u128),
        Undelegate(usize, u8),
        Slash(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..4, 1u128..1_000_000 * CPC).prop_map(|(d, a)| Op::Delegate(d, a)),
            (0usize..4, 1u8..=100).prop_map(|(d, pct)| Op::Undelegate(d, pct)),
            (0u64..=200_000_000).prop_map(Op::Slash),
        ]
    }

    proptest! {
        /// Over random sequences, with a ledger kept here and not by the pool: tokens are
        /// conserved (bonded = deposited − released − burned), the holders' shares add up to
        /// the pool's, no holder can claim more than the pool holds together, and a slash cuts
        /// every holder's claim in proportion (to within the rounding of one unit).
        #[test]
        fn tokens_are_conserved_and_slashes_are_proportional(ops in proptest::collection::vec(op(), 1..60)) {
            let mut p = Pool::default();
            let mut held = [0u128; 4];
            let (mut deposited, mut released, mut burned) = (0u128, 0u128, 0u128);
            for o in ops {
                match o {
                    Op::Delegate(d, a) => {
                        if let Ok(s) = p.delegate(a) {
                            held[d] += s;
                            deposited += a;
                        }
                    }
                    Op::Undelegate(d, pct) => {
                        let s = held[d] * pct as u128 / 100;
                        if let Ok(t) = p.undelegate(held[d], s) {
                            held[d] -= s;
                            released += t;
                        }
                    }
                    Op::Slash(ppb) => {
                        let claims: Vec<u128> = held.iter().map(|h| p.tokens_of(*h)).collect();
                        let f = Fraction::from_ppb(ppb).unwrap();
                        burned += p.slash(f);
                        for (h, before) in held.iter().zip(claims) {
                            let after = p.tokens_of(*h);
                            // The proportional claim, in plain u128 here (claims stay below 1e27,
                            // so the product stays below 1e36).
                            let want = before * (1_000_000_000 - ppb as u128) / 1_000_000_000;
                            prop_assert!(after + 2 >= want && after <= want + 2,
                                "claim {} → {}, expected {} ± 2", before, after, want);
                        }
                    }
                }
                prop_assert_eq!(p.tokens, deposited - released - burned);
                prop_assert_eq!(held.iter().sum::<u128>(), p.shares);
                let claimed: u128 = held.iter().map(|h| p.tokens_of(*h)).sum();
                prop_assert!(claimed <= p.tokens, "claims {} exceed the pool's {}", claimed, p.tokens);
            }
        }
    }
}
