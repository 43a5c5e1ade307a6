//! Fork choice (docs/CONSENSUS.md): prefer the longer chain; at equal length prefer the lower
//! round at the first height where the two chains differ, then the lower block hash.

use cpc_primitives::{Header, H256};
use std::cmp::Ordering;

/// Compares the chains ending at `a` and `b`: `Greater` when `a` is the better chain.
/// `header` looks up stored headers by hash (both chains must be stored down to their common
/// ancestor). Returns `None` when a header on the way is missing.
pub fn compare_chains(a: &Header, b: &Header, header: impl Fn(&H256) -> Option<Header>) -> Option<Ordering> {
    match a.height.cmp(&b.height) {
        Ordering::Equal => {}
        longer => return Some(longer),
    }
    if a.hash() == b.hash() {
        return Some(Ordering::Equal);
    }
    // Walk both back in step until their parents meet; the last pair seen is the first
    // height where they differ.
    let (mut x, mut y) = (a.clone(), b.clone());
    while x.prev_hash != y.prev_hash {
        x = header(&x.prev_hash)?;
        y = header(&y.prev_hash)?;
    }
    // Lower round is better, then lower hash.
    Some(y.round.cmp(&x.round).then_with(|| y.hash().cmp(&x.hash())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpc_primitives::{ComputeRoot, ShareTarget, ValconsAddress};
    use std::collections::HashMap;

    fn header(height: u64, prev: H256, round: u32, salt: u64) -> Header {
        Header {
            height,
            prev_hash: prev,
            timestamp: salt,
            chain_id: "t".into(),
            proposer_address: ValconsAddress([0; 20]),
            round,
            tx_root: H256::ZERO,
            state_root: H256::ZERO,
            compute_root: ComputeRoot(None),
            gas_used: 0,
            gas_limit: 1,
            share_target: ShareTarget::MAX,
        }
    }

    struct Tree(HashMap<H256, Header>);
    impl Tree {
        fn add(&mut self, h: Header) -> Header {
            self.0.insert(h.hash(), h.clone());
            h
        }
        fn cmp(&self, a: &Header, b: &Header) -> Ordering {
            compare_chains(a, b, |h| self.0.get(h).cloned()).unwrap()
        }
    }

    #[test]
    fn longer_chain_wins_whatever_the_rounds() {
        let mut t = Tree(HashMap::new());
        let g = t.add(header(0, H256::ZERO, 0, 0));
        let a1 = t.add(header(1, g.hash(), 0, 1));
        let b1 = t.add(header(1, g.hash(), 3, 2));
        let b2 = t.add(header(2, b1.hash(), 3, 3));
        assert_eq!(t.cmp(&b2, &a1), Ordering::Greater);
        assert_eq!(t.cmp(&a1, &b2), Ordering::Less);
    }

    #[test]
    fn equal_length_prefers_lower_round_at_first_difference_then_lower_hash() {
        let mut t = Tree(HashMap::new());
        let g = t.add(header(0, H256::ZERO, 0, 0));
        let a1 = t.add(header(1, g.hash(), 0, 10));
        let a2 = t.add(header(2, a1.hash(), 5, 11));
        let b1 = t.add(header(1, g.hash(), 1, 20));
        let b2 = t.add(header(2, b1.hash(), 0, 21));
        // first difference at height 1: round 0 (a) beats round 1 (b), though b2 has round 0
        assert_eq!(t.cmp(&a2, &b2), Ordering::Greater);
        assert_eq!(t.cmp(&b2, &a2), Ordering::Less);
        // same rounds: lower hash wins
        let c1 = t.add(header(1, g.hash(), 0, 30));
        let (lo, hi) = if a1.hash() < c1.hash() { (&a1, &c1) } else { (&c1, &a1) };
        assert_eq!(t.cmp(lo, hi), Ordering::Greater);
        assert_eq!(t.cmp(&a2, &a2), Ordering::Equal);
    }

    #[test]
    fn missing_headers_give_no_answer() {
        let g = header(0, H256::ZERO, 0, 0);
        let a1 = header(1, g.hash(), 0, 1);
        let b1 = header(1, H256([9; 32]), 0, 2);
        assert_eq!(compare_chains(&a1, &b1, |_| None), None);
    }
}
