//! Read access to committed state, and the in-memory implementation used by tests and replay.

use crate::exec::StateChanges;
use crate::tree::{AccountTree, NodeReader};
use cpc_primitives::{Account, Address, H256};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// An account with the tree slot it occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    pub account: Account,
    pub slot: u64,
}

/// Supply accounting: `total = genesis + minted − burned` at every height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Supply {
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub total: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub genesis: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub minted: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub burned: u128,
}

/// A storage failure while reading state: the store's typed error as its source (shared, so
/// that the transition's errors stay cheap to clone).
#[derive(Debug, Clone, thiserror::Error)]
#[error("state storage error: {0}")]
pub struct StorageError(#[source] pub std::sync::Arc<crate::store::StoreError>);

/// Two storage errors are the same failure when they say the same (the store's errors carry
/// RocksDB's, which have no equality of their own).
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for StorageError {}

/// What the state transition may read. Implemented by the RocksDB store and by [`MemState`].
pub trait StateView: NodeReader {
    fn account_entry(&self, addr: &Address) -> Result<Option<AccountEntry>, StorageError>;
    fn account_count(&self) -> u64;
    fn supply(&self) -> Supply;
    /// Whether a ComputeResult with this `task_id` is already on the chain.
    fn task_known(&self, task_id: &str) -> Result<bool, StorageError>;
}

/// State held entirely in memory: for tests, property tests and replaying vectors.
#[derive(Clone, Debug, Default)]
pub struct MemState {
    pub accounts: HashMap<Address, AccountEntry>,
    pub tree: AccountTree,
    pub supply: Supply,
    pub tasks: HashSet<String>,
}

impl NodeReader for MemState {
    fn node(&self, level: usize, index: u64) -> H256 {
        self.tree.node(level, index)
    }
}

impl StateView for MemState {
    fn account_entry(&self, addr: &Address) -> Result<Option<AccountEntry>, StorageError> {
        Ok(self.accounts.get(addr).copied())
    }
    fn account_count(&self) -> u64 {
        self.tree.len()
    }
    fn supply(&self) -> Supply {
        self.supply
    }
    fn task_known(&self, task_id: &str) -> Result<bool, StorageError> {
        Ok(self.tasks.contains(task_id))
    }
}

impl MemState {
    /// Applies the changes of an executed block.
    pub fn commit(&mut self, changes: &StateChanges) {
        for (addr, entry) in &changes.accounts {
            self.accounts.insert(*addr, *entry);
        }
        self.tree.apply(&changes.tree);
        self.supply = changes.supply;
        for (task, _) in &changes.task_ids {
            self.tasks.insert(task.clone());
        }
    }

    pub fn balance(&self, addr: &Address) -> u128 {
        self.accounts.get(addr).map_or(0, |e| e.account.balance)
    }

    /// Sum of all balances (what `supply.total` must equal).
    pub fn sum_of_balances(&self) -> u128 {
        self.accounts.values().map(|e| e.account.balance).sum()
    }
}
