//! Read access to committed state, and the in-memory implementation used by tests and replay.

use crate::exec::StateChanges;
use crate::stake::{ActiveSet, StakeEntry, StakeKey, StakeRecord};
use crate::tree::{AccountTree, NodeReader};
use cpc_primitives::{Account, Address, H256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An account with the tree slot it occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEntry {
    pub account: Account,
    pub slot: u64,
}

/// Supply accounting, at every height: `total = genesis + minted − burned`, and the coins are
/// all somewhere: `total = liquid + bonded + unbonding + rewards`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Supply {
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub total: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub genesis: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub minted: u128,
    /// Slashes.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub burned: u128,
    /// The sum of all account balances.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub liquid: u128,
    /// The sum of all validators' bonded tokens.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub bonded: u128,
    /// The sum of all unbonding entries in flight.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub unbonding: u128,
    /// Staking rewards distributed to validators and not yet withdrawn (commission included).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub rewards: u128,
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
    /// The staking record stored under `key` (encoded), removed ones included.
    fn stake_entry(&self, key: &[u8]) -> Result<Option<StakeEntry>, StorageError>;
    /// The live (not removed) staking records whose key starts with `prefix`, in key order.
    fn stake_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError>;
    /// The live records with keys in `[from, to)`, in key order.
    fn stake_range(&self, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError>;
    /// The active set that decides `height`: the set record with the greatest effective height
    /// at most `height`.
    fn active_set_at(&self, height: u64) -> Result<Option<ActiveSet>, StorageError>;
    /// A market blob this node holds (docs/MARKET.md, Data): not state, but what a block's
    /// job transactions must find before the block is valid here.
    fn blob(&self, _root: &H256) -> Result<Option<std::sync::Arc<crate::market::Blob>>, StorageError> {
        Ok(None)
    }

    /// The decoded record under `key`, `None` when absent or removed.
    fn stake_record(&self, key: &StakeKey) -> Result<Option<StakeRecord>, StorageError> {
        match self.stake_entry(&key.encode())? {
            Some(e) if !e.is_removed() => Ok(Some(StakeRecord::from_bytes(key, &e.value).map_err(StorageError::corrupt)?)),
            _ => Ok(None),
        }
    }
}

impl StorageError {
    /// A record whose bytes do not decode.
    pub fn corrupt(reason: String) -> StorageError {
        StorageError(std::sync::Arc::new(crate::store::StoreError::Corrupt { cf: "staking", reason }))
    }
}

/// `active_set_at` over an ordered map of records.
pub fn set_at_in(map: &BTreeMap<Vec<u8>, StakeEntry>, height: u64) -> Result<Option<ActiveSet>, StorageError> {
    let lo = StakeKey::Set(0).encode();
    let hi = StakeKey::Set(height).encode();
    match map.range(lo..=hi).rev().find(|(_, e)| !e.is_removed()) {
        Some((k, e)) => {
            let key = StakeKey::decode(k).expect("a set key");
            match StakeRecord::from_bytes(&key, &e.value).map_err(StorageError::corrupt)? {
                StakeRecord::Set(s) => Ok(Some(s)),
                _ => unreachable!("set keys hold sets"),
            }
        }
        None => Ok(None),
    }
}

/// State held entirely in memory: for tests, property tests and replaying vectors.
#[derive(Clone, Debug, Default)]
pub struct MemState {
    pub accounts: HashMap<Address, AccountEntry>,
    pub tree: AccountTree,
    pub supply: Supply,
    pub tasks: HashSet<String>,
    pub stake: BTreeMap<Vec<u8>, StakeEntry>,
    pub blobs: HashMap<H256, std::sync::Arc<crate::market::Blob>>,
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
    fn stake_entry(&self, key: &[u8]) -> Result<Option<StakeEntry>, StorageError> {
        Ok(self.stake.get(key).cloned())
    }
    fn stake_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        Ok(self
            .stake
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, e)| !e.is_removed())
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect())
    }
    fn stake_range(&self, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        Ok(self
            .stake
            .range(from.to_vec()..to.to_vec())
            .filter(|(_, e)| !e.is_removed())
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect())
    }
    fn active_set_at(&self, height: u64) -> Result<Option<ActiveSet>, StorageError> {
        set_at_in(&self.stake, height)
    }
    fn blob(&self, root: &H256) -> Result<Option<std::sync::Arc<crate::market::Blob>>, StorageError> {
        Ok(self.blobs.get(root).cloned())
    }
}

impl MemState {
    /// Keeps a blob under its content root (which it returns).
    pub fn put_blob(&mut self, blob: crate::market::Blob) -> H256 {
        let root = blob.root();
        self.blobs.insert(root, std::sync::Arc::new(blob));
        root
    }

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
        for (key, entry) in &changes.stake {
            self.stake.insert(key.clone(), entry.clone());
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
