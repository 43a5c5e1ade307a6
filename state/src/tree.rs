//! The incremental account tree behind `state_root`.
//!
//! Every account gets a slot when it is first created (in execution order, so every node
//! assigns the same slots). Leaf `i` is `H(0x00 ‖ address ‖ le128 balance ‖ le64 nonce)` of
//! the account in slot `i`; a parent is `H(0x01 ‖ left ‖ right)`, and an odd last node is
//! promoted unchanged to the next level. A block that touches `t` accounts recomputes at most
//! `t · ⌈log2 N⌉` nodes: the cost grows with the accounts touched, not with all accounts.

use cpc_primitives::{sha256_concat, Account, Address, H256};
use std::collections::{BTreeMap, BTreeSet};

/// Leaf hash of an account.
pub fn account_leaf(addr: &Address, acc: &Account) -> H256 {
    sha256_concat(&[&[0u8], &addr.0, &acc.balance.to_le_bytes(), &acc.nonce.to_le_bytes()])
}

fn parent(left: &H256, right: Option<&H256>) -> H256 {
    match right {
        Some(r) => sha256_concat(&[&[1u8], &left.0, &r.0]),
        None => *left,
    }
}

/// Number of nodes at each level for `leaves` leaves (level 0 = leaves, last = the root).
pub fn level_lengths(leaves: u64) -> Vec<u64> {
    let mut out = vec![leaves];
    let mut n = leaves;
    while n > 1 {
        n = n.div_ceil(2);
        out.push(n);
    }
    out
}

/// Reads nodes of the tree as it stands before a change.
pub trait NodeReader {
    fn node(&self, level: usize, index: u64) -> H256;
}

/// The nodes a change rewrites, per level, and the new shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeDiff {
    pub new_len: u64,
    pub nodes: Vec<BTreeMap<u64, H256>>,
    pub root: H256,
}

/// Computes the nodes that change when the leaves in `leaf_changes` take new values and the
/// tree goes from `old_len` to `new_len` leaves (appended slots must all be in `leaf_changes`).
pub fn compute_update<R: NodeReader + ?Sized>(
    reader: &R,
    old_len: u64,
    new_len: u64,
    leaf_changes: BTreeMap<u64, H256>,
) -> TreeDiff {
    if new_len == 0 {
        return TreeDiff { new_len: 0, nodes: vec![], root: H256::ZERO };
    }
    let lens = level_lengths(new_len);
    let mut nodes: Vec<BTreeMap<u64, H256>> = vec![BTreeMap::new(); lens.len()];
    nodes[0] = leaf_changes.into_iter().filter(|(i, _)| *i < new_len).collect();
    let mut dirty: BTreeSet<u64> = nodes[0].keys().copied().collect();
    if new_len != old_len {
        // The right edge changes shape (a node gains or loses its sibling).
        dirty.insert(new_len - 1);
    }
    for level in 0..lens.len() - 1 {
        let len = lens[level];
        let parents: BTreeSet<u64> = dirty.iter().map(|i| i / 2).collect();
        let mut computed = Vec::with_capacity(parents.len());
        for &p in &parents {
            let get = |i: u64| nodes[level].get(&i).copied().unwrap_or_else(|| reader.node(level, i));
            let left = get(2 * p);
            let right = (2 * p + 1 < len).then(|| get(2 * p + 1));
            computed.push((p, parent(&left, right.as_ref())));
        }
        nodes[level + 1].extend(computed);
        dirty = parents;
    }
    let top = lens.len() - 1;
    let root = nodes[top].get(&0).copied().unwrap_or_else(|| reader.node(top, 0));
    TreeDiff { new_len, nodes, root }
}

/// The whole tree in memory (32 bytes × ~2N).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountTree {
    levels: Vec<Vec<H256>>,
}

impl NodeReader for AccountTree {
    fn node(&self, level: usize, index: u64) -> H256 {
        self.levels[level][index as usize]
    }
}

impl AccountTree {
    /// Builds the tree from all leaves in slot order.
    pub fn from_leaves(leaves: Vec<H256>) -> Self {
        if leaves.is_empty() {
            return AccountTree::default();
        }
        let mut levels = vec![leaves];
        while levels.last().unwrap().len() > 1 {
            let prev = levels.last().unwrap();
            let next = prev.chunks(2).map(|c| parent(&c[0], c.get(1))).collect();
            levels.push(next);
        }
        AccountTree { levels }
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn root(&self) -> H256 {
        self.levels.last().map_or(H256::ZERO, |l| l[0])
    }

    /// Applies a diff computed against this tree.
    pub fn apply(&mut self, diff: &TreeDiff) {
        let lens = if diff.new_len == 0 { vec![] } else { level_lengths(diff.new_len) };
        self.levels.truncate(lens.len());
        while self.levels.len() < lens.len() {
            self.levels.push(Vec::new());
        }
        for (level, len) in lens.iter().enumerate() {
            self.levels[level].resize(*len as usize, H256::ZERO);
            if let Some(changes) = diff.nodes.get(level) {
                for (i, h) in changes {
                    self.levels[level][*i as usize] = *h;
                }
            }
        }
        debug_assert_eq!(self.root(), diff.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpc_primitives::sha256;

    fn leaves(n: u64, salt: u8) -> Vec<H256> {
        (0..n).map(|i| sha256(&[&i.to_le_bytes()[..], &[salt]].concat())).collect()
    }

    #[test]
    fn incremental_updates_match_a_rebuild() {
        for old_len in [0u64, 1, 2, 3, 5, 8, 13] {
            for new_len in [old_len, old_len + 1, old_len + 3, old_len.saturating_sub(2)] {
                let base = leaves(old_len, 0);
                let mut tree = AccountTree::from_leaves(base.clone());
                let mut target = base.clone();
                target.resize(new_len as usize, H256::ZERO);
                let mut changes = BTreeMap::new();
                for i in 0..new_len {
                    // change every third old leaf, and every appended one
                    if i >= old_len || i % 3 == 1 {
                        target[i as usize] = sha256(&[i as u8, 9]);
                        changes.insert(i, target[i as usize]);
                    }
                }
                let diff = compute_update(&tree, old_len, new_len, changes);
                tree.apply(&diff);
                assert_eq!(tree, AccountTree::from_leaves(target), "{old_len} -> {new_len}");
            }
        }
    }

    #[test]
    fn shape_is_promotion_of_odd_nodes() {
        let l = leaves(3, 1);
        let t = AccountTree::from_leaves(l.clone());
        let ab = sha256_concat(&[&[1u8], &l[0].0, &l[1].0]);
        assert_eq!(t.root(), sha256_concat(&[&[1u8], &ab.0, &l[2].0]));
        assert_eq!(AccountTree::from_leaves(vec![]).root(), H256::ZERO);
        assert_eq!(AccountTree::from_leaves(vec![l[0]]).root(), l[0]);
    }

    #[test]
    fn only_touched_paths_are_rewritten() {
        let n = 1 << 12;
        let tree = AccountTree::from_leaves(leaves(n, 2));
        let mut changes = BTreeMap::new();
        changes.insert(7, sha256(b"x"));
        let diff = compute_update(&tree, n, n, changes);
        let written: usize = diff.nodes.iter().map(|l| l.len()).sum();
        assert_eq!(written, 13, "one leaf + 12 ancestors");
    }
}
