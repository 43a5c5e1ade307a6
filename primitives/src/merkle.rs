//! Merkle rule M (PROTOCOL.md): while more than one node remains, hash adjacent pairs
//! `H(left ‖ right)`; an odd last node is paired with itself. One leaf is its own root.

use crate::hash::{sha256_concat, H256};

/// The root of `leaves` under rule M, or `None` for no leaves (callers pick the empty value:
/// 64 zeros for `tx_root`, `""` for `compute_root`).
pub fn merkle_root_m(leaves: &[H256]) -> Option<H256> {
    if leaves.is_empty() {
        return None;
    }
    let mut level: Vec<H256> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).unwrap_or(&pair[0]);
                sha256_concat(&[&pair[0].0, &right.0])
            })
            .collect();
    }
    Some(level[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    #[test]
    fn rule_m_pairs_odd_node_with_itself() {
        let l: Vec<H256> = (0u8..3).map(|i| sha256(&[i])).collect();
        assert_eq!(merkle_root_m(&[]), None);
        assert_eq!(merkle_root_m(&l[..1]), Some(l[0]));
        let ab = sha256_concat(&[&l[0].0, &l[1].0]);
        let cc = sha256_concat(&[&l[2].0, &l[2].0]);
        assert_eq!(merkle_root_m(&l), Some(sha256_concat(&[&ab.0, &cc.0])));
    }
}
