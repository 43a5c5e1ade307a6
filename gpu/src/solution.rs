//! What a solved task hands back: the full row tree the GPU computed, and the ComputeResult
//! built from it (task id and challenged rows through `cpc-poc`).

use cpc_kernels::TaskLayout;
use cpc_poc::{SynthParams, challenged_rows, task_id_from_seed};
use cpc_primitives::{ComputeResult, H256};

/// One task solved on the GPU: its seed and every node of its row tree (leaves first, root
/// last), as the device computed them.
#[derive(Clone, PartialEq, Eq)]
pub struct GpuSolution {
    pub tip: H256,
    pub worker: String,
    pub nonce: u64,
    /// `H("CPC-SYNTH-V1:" ‖ tip ‖ worker ‖ le64(nonce))`.
    pub seed: [u8; 32],
    pub params: SynthParams,
    /// 2n−1 nodes: the n leaves, then each level up to the root.
    tree: Vec<H256>,
}

impl std::fmt::Debug for GpuSolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSolution")
            .field("nonce", &self.nonce)
            .field("n", &self.params.n)
            .field("root", &self.root())
            .finish_non_exhaustive()
    }
}

impl GpuSolution {
    /// A solution from the raw tree bytes of one task ((2n−1)·32 bytes).
    ///
    /// # Panics
    /// If `tree_bytes` does not hold exactly 2n−1 nodes.
    pub fn from_tree_bytes(
        tip: H256,
        worker: &str,
        nonce: u64,
        seed: [u8; 32],
        params: SynthParams,
        tree_bytes: &[u8],
    ) -> GpuSolution {
        let nodes = 2 * params.n - 1;
        assert_eq!(
            tree_bytes.len(),
            nodes * 32,
            "tree of n = {} must hold {nodes} nodes",
            params.n
        );
        let tree = tree_bytes
            .chunks_exact(32)
            .map(|c| H256(c.try_into().expect("32-byte node")))
            .collect();
        GpuSolution {
            tip,
            worker: worker.to_string(),
            nonce,
            seed,
            params,
            tree,
        }
    }

    /// The root: `result_hash` as raw bytes.
    pub fn root(&self) -> H256 {
        self.tree[self.tree.len() - 1]
    }

    /// `result_hash` (hex of the root).
    pub fn result_hash(&self) -> String {
        self.root().to_hex()
    }

    /// The row leaves `L_0 … L_{n-1}`.
    pub fn leaves(&self) -> &[H256] {
        &self.tree[..self.params.n]
    }

    /// Every node: leaves, then each level, root last.
    pub fn tree_nodes(&self) -> &[H256] {
        &self.tree
    }

    /// The synthetic task id (UUID form of the seed).
    pub fn task_id(&self) -> String {
        task_id_from_seed(&self.seed)
    }

    /// The `log2(n)` sibling hashes of leaf `row`, from the leaf level upward.
    ///
    /// # Panics
    /// If `row >= n`.
    pub fn path(&self, row: usize) -> Vec<H256> {
        let n = self.params.n;
        assert!(row < n, "row {row} out of range (n = {n})");
        let layout = TaskLayout::new(n as u32);
        let mut idx = row;
        (0..self.params.log2n() as u32)
            .map(|level| {
                let sib = self.tree[layout.level_offset(level) as usize + (idx ^ 1)];
                idx >>= 1;
                sib
            })
            .collect()
    }

    /// The ComputeResult (signature `None`): task id, root, and the proof made of the
    /// challenged rows' paths (`cpc_poc::challenged_rows` of the root). Bit-identical to
    /// `cpc_poc::result_from_product` on the same task when the GPU computed correctly;
    /// callers re-check with `cpc_poc::verify_full` before submitting.
    pub fn compute_result(&self) -> ComputeResult {
        let root = self.root();
        let rows = challenged_rows(&root, self.params.n, self.params.k);
        let mut proof = Vec::with_capacity(self.params.proof_bytes());
        for r in rows {
            for sib in self.path(r) {
                proof.extend_from_slice(&sib.0);
            }
        }
        ComputeResult {
            task_id: self.task_id(),
            worker_address: self.worker.clone(),
            result_hash: root.to_hex(),
            proof: Some(hex::encode(proof)),
            nonce: Some(self.nonce),
            signature: None,
        }
    }

    /// Drops the tree, keeping the ComputeResult.
    pub fn into_compute_result(self) -> ComputeResult {
        self.compute_result()
    }
}
