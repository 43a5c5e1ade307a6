//! Row leaves and the Merkle tree over them (PROTOCOL.md "Synthetic tasks v1", steps 5–6).
//!
//! Leaf `L_i = H(0x00 ‖ le32(C[i][0]) ‖ … ‖ le32(C[i][n-1]))`, inner node
//! `H(0x01 ‖ left ‖ right)`. `n` is a power of two, so the tree is perfect.

use cpc_primitives::{H256, sha256_concat};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Leaf-hash domain byte.
pub const LEAF_PREFIX: u8 = 0x00;
/// Inner-node domain byte.
pub const NODE_PREFIX: u8 = 0x01;

/// `H(0x00 ‖ le32 of each value of the row)`.
pub fn row_leaf(row: &[i32]) -> H256 {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    let mut buf = [0u8; 1024];
    for chunk in row.chunks(buf.len() / 4) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        h.update(&buf[..chunk.len() * 4]);
    }
    H256(h.finalize().into())
}

/// `H(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &H256, right: &H256) -> H256 {
    sha256_concat(&[&[NODE_PREFIX], &left.0, &right.0])
}

/// The root reached from `leaf` at position `index` through `siblings` (leaf level first).
pub fn root_from_path(leaf: H256, index: usize, siblings: &[H256]) -> H256 {
    let mut node = leaf;
    let mut idx = index;
    for sib in siblings {
        node = if idx & 1 == 0 {
            node_hash(&node, sib)
        } else {
            node_hash(sib, &node)
        };
        idx >>= 1;
    }
    node
}

/// The full Merkle tree over the row leaves of C: every level is kept, so paths are lookups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowTree {
    /// `levels[0]` are the leaves, the last level is the root alone.
    levels: Vec<Vec<H256>>,
}

impl RowTree {
    /// The tree over the rows of the `n × n` product `c` (row-major).
    ///
    /// # Panics
    /// If `n` is not a power of two or `c` does not hold `n·n` values.
    pub fn from_product(c: &[i32], n: usize) -> Self {
        assert!(n.is_power_of_two(), "n must be a power of two, found {n}");
        assert_eq!(c.len(), n * n, "C must hold {n}×{n} values");
        let mut leaves = vec![H256::ZERO; n];
        crate::row_leaves(c, n, &mut leaves);
        Self::from_leaves(leaves)
    }

    /// [`RowTree::from_product`] with the row leaves hashed over rayon's pool.
    ///
    /// # Panics
    /// If `n` is not a power of two or `c` does not hold `n·n` values.
    pub fn from_product_parallel(c: &[i32], n: usize) -> Self {
        assert!(n.is_power_of_two(), "n must be a power of two, found {n}");
        assert_eq!(c.len(), n * n, "C must hold {n}×{n} values");
        let mut leaves = vec![H256::ZERO; n];
        // Groups of rows, so each thread hashes several rows in lock step.
        const ROWS: usize = 16;
        leaves
            .par_chunks_mut(ROWS)
            .zip(c.par_chunks(ROWS * n))
            .for_each(|(out, rows)| crate::row_leaves(rows, n, out));
        Self::from_leaves(leaves)
    }

    /// The tree over the given leaves.
    ///
    /// # Panics
    /// If the number of leaves is not a power of two (at least one).
    pub fn from_leaves(leaves: Vec<H256>) -> Self {
        assert!(
            leaves.len().is_power_of_two(),
            "the leaf count must be a power of two, found {}",
            leaves.len()
        );
        let mut levels = vec![leaves];
        while let Some(last) = levels.last()
            && last.len() > 1
        {
            let next = last
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        RowTree { levels }
    }

    /// The root (`result_hash` as raw bytes).
    pub fn root(&self) -> H256 {
        self.levels[self.levels.len() - 1][0]
    }

    /// The leaves, in row order.
    pub fn leaves(&self) -> &[H256] {
        &self.levels[0]
    }

    /// Number of leaves (`n`).
    pub fn leaf_count(&self) -> usize {
        self.levels[0].len()
    }

    /// The sibling hashes of `leaf` from the leaf level upward (`log2(n)` of them).
    ///
    /// # Panics
    /// If `leaf` is not below the leaf count.
    pub fn path(&self, leaf: usize) -> Vec<H256> {
        assert!(
            leaf < self.leaf_count(),
            "leaf {leaf} out of range (n = {})",
            self.leaf_count()
        );
        let mut idx = leaf;
        let mut out = Vec::with_capacity(self.levels.len() - 1);
        for level in &self.levels[..self.levels.len() - 1] {
            out.push(level[idx ^ 1]);
            idx >>= 1;
        }
        out
    }
}
