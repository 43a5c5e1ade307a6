//! The state transition: a pure function of (committed state view, block contents).
//!
//! [`BlockExecutor`] applies transactions one at a time, so the block builder can skip a
//! transaction that does not fit and import can reject a block at its first bad one; nothing
//! is written until [`BlockExecutor::finish`] returns the [`StateChanges`] for the store.

use crate::params::ChainParams;
use crate::tree::{account_leaf, compute_update, TreeDiff};
use crate::view::{AccountEntry, StateView, StorageError, Supply};
use cpc_primitives::{sha256_concat, Account, Address, ComputeResult, Transaction, TxStatus, TxType, H256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Domain prefix of the state root.
pub const STATE_ROOT_PREFIX: &[u8] = b"CPC-STATE-V1:";

/// `state_root = H("CPC-STATE-V1:" ‖ accounts_root ‖ le64 account_count ‖ le128 total ‖
/// le128 genesis ‖ le128 minted ‖ le128 burned)` (docs/PROTOCOL-NOTES.md).
pub fn state_root(accounts_root: &H256, account_count: u64, s: &Supply) -> H256 {
    sha256_concat(&[
        STATE_ROOT_PREFIX,
        &accounts_root.0,
        &account_count.to_le_bytes(),
        &s.total.to_le_bytes(),
        &s.genesis.to_le_bytes(),
        &s.minted.to_le_bytes(),
        &s.burned.to_le_bytes(),
    ])
}

/// Why a transaction cannot be included in this block (the block would be invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction type {0} is not supported yet (only TRANSFER and SUBMIT_RESULT)")]
    Unsupported(TxType),
    #[error("nonce: expected {expected}, found {found}")]
    Nonce { expected: u64, found: u64 },
    #[error("insufficient balance for the fee: balance {balance}, fee (gas_limit x gas_price) {fee}")]
    FeeBalance { balance: u128, fee: u128 },
    #[error("block gas limit: block has used {used} of {limit}, transaction needs {needed}")]
    BlockGas { used: u64, limit: u64, needed: u64 },
    #[error("block holds at most {0} transactions")]
    BlockFull(usize),
    #[error("duplicate task_id {0:?}: a ComputeResult with this task id is already on the chain")]
    TaskOnChain(String),
    #[error("duplicate task_id {0:?}: a ComputeResult with this task id is earlier in the block")]
    TaskInBlock(String),
    #[error("SUBMIT_RESULT payload is not a ComputeResult: {0}")]
    Payload(String),
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a whole block cannot be finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What happened to one included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutcome {
    pub tx_hash: H256,
    pub status: TxStatus,
    pub gas_used: u64,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub fee_paid: u128,
    pub error: Option<String>,
}

/// Where the block's reward and fees went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardSummary {
    /// `R(h)`: the block reward the proposer's and the shares' parts are computed from.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub block_reward: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub proposer_reward: u128,
    /// What each share in this block minted (`(R·30 // 100) // S`).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub share_reward: u128,
    /// Shares (verified synthetic results) in the block.
    pub shares: u64,
    /// Per share, in block order: (worker, amount).
    pub worker_payments: Vec<(Address, String)>,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub fees: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub proposer_fees: u128,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub treasury_fees: u128,
    /// New coins: the proposer's reward plus every share's reward.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub minted: u128,
}

/// Everything a block changes (committed blocks are final: nothing is kept to undo them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Final value of every touched account.
    pub accounts: Vec<(Address, AccountEntry)>,
    pub prev_account_count: u64,
    pub tree: TreeDiff,
    pub prev_supply: Supply,
    pub supply: Supply,
    /// task ids of the block's ComputeResults with the hash of the carrying transaction.
    pub task_ids: Vec<(String, H256)>,
}

/// The result of executing a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    pub state_root: H256,
    pub gas_used: u64,
    pub outcomes: Vec<TxOutcome>,
    pub rewards: RewardSummary,
    pub changes: StateChanges,
}

struct Touched {
    entry: AccountEntry,
    original: Option<AccountEntry>,
}

/// Applies a block's transactions on top of a [`StateView`].
pub struct BlockExecutor<'a, V: StateView + ?Sized> {
    view: &'a V,
    params: &'a ChainParams,
    height: u64,
    touched: HashMap<Address, Touched>,
    order: Vec<Address>,
    next_slot: u64,
    block_tasks: HashSet<String>,
    task_ids: Vec<(String, H256)>,
    gas_used: u64,
    fees: u128,
    outcomes: Vec<TxOutcome>,
}

impl<'a, V: StateView + ?Sized> BlockExecutor<'a, V> {
    pub fn new(view: &'a V, params: &'a ChainParams, height: u64) -> Self {
        BlockExecutor {
            view,
            params,
            height,
            touched: HashMap::new(),
            order: Vec::new(),
            next_slot: view.account_count(),
            block_tasks: HashSet::new(),
            task_ids: Vec::new(),
            gas_used: 0,
            fees: 0,
            outcomes: Vec::new(),
        }
    }

    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }

    pub fn tx_count(&self) -> usize {
        self.outcomes.len()
    }

    /// The account as this block sees it so far.
    pub fn account(&self, addr: &Address) -> Result<Account, StorageError> {
        Ok(match self.touched.get(addr) {
            Some(t) => t.entry.account,
            None => self.view.account_entry(addr)?.map(|e| e.account).unwrap_or_default(),
        })
    }

    fn load(&mut self, addr: &Address) -> Result<&mut Touched, StorageError> {
        if !self.touched.contains_key(addr) {
            let original = self.view.account_entry(addr)?;
            let entry = match original {
                Some(e) => e,
                None => {
                    let slot = self.next_slot;
                    self.next_slot += 1;
                    AccountEntry { account: Account::default(), slot }
                }
            };
            self.touched.insert(*addr, Touched { entry, original });
            self.order.push(*addr);
        }
        Ok(self.touched.get_mut(addr).expect("inserted above"))
    }

    /// Adds `amount` to `addr` (creating the account; a zero credit to an unknown account
    /// creates nothing).
    fn credit(&mut self, addr: &Address, amount: u128, what: &'static str) -> Result<(), ApplyError> {
        if amount == 0 && !self.touched.contains_key(addr) && self.view.account_entry(addr)?.is_none() {
            return Ok(());
        }
        let t = self.load(addr)?;
        t.entry.account.balance = t.entry.account.balance.checked_add(amount).ok_or(ApplyError::Overflow(what))?;
        Ok(())
    }

    /// Genesis allocation: credit without a transaction.
    pub fn allocate(&mut self, addr: &Address, amount: u128) -> Result<(), ApplyError> {
        self.credit(addr, amount, "genesis balance")
    }

    /// Applies one transaction whose in-isolation checks (signature, chain id, fee formula,
    /// payload shape) have passed. On error nothing changes and the transaction must not be
    /// included.
    pub fn execute(&mut self, tx: &Transaction, tx_hash: H256) -> Result<&TxOutcome, TxError> {
        if !matches!(tx.tx_type, TxType::Transfer | TxType::SubmitResult) {
            return Err(TxError::Unsupported(tx.tx_type));
        }
        if self.outcomes.len() >= self.params.max_txs_per_block {
            return Err(TxError::BlockFull(self.params.max_txs_per_block));
        }
        let gas = tx.tx_type.intrinsic_gas();
        let new_gas = self.gas_used.checked_add(gas).ok_or(TxError::Overflow("block gas"))?;
        if new_gas > self.params.block_gas_limit {
            return Err(TxError::BlockGas { used: self.gas_used, limit: self.params.block_gas_limit, needed: gas });
        }
        let sender = self.account(&tx.from_address)?;
        if tx.nonce != sender.nonce {
            return Err(TxError::Nonce { expected: sender.nonce, found: tx.nonce });
        }
        if sender.balance < tx.fee {
            return Err(TxError::FeeBalance { balance: sender.balance, fee: tx.fee });
        }
        let fee_paid = (gas as u128).checked_mul(tx.gas_price as u128).ok_or(TxError::Overflow("gas x price"))?;
        let mut task = None;
        if tx.tx_type == TxType::SubmitResult {
            let r = ComputeResult::from_payload(&tx.payload).map_err(|e| TxError::Payload(e.to_string()))?;
            if self.block_tasks.contains(&r.task_id) {
                return Err(TxError::TaskInBlock(r.task_id));
            }
            if self.view.task_known(&r.task_id)? {
                return Err(TxError::TaskOnChain(r.task_id));
            }
            task = Some(r.task_id);
        }
        let fees = self.fees.checked_add(fee_paid).ok_or(TxError::Overflow("block fees"))?;
        let next_nonce = sender.nonce.checked_add(1).ok_or(TxError::Overflow("sender nonce"))?;

        // All checks passed: from here on the transaction is included.
        let s = self.load(&tx.from_address)?;
        s.entry.account.nonce = next_nonce;
        s.entry.account.balance -= fee_paid; // fee_paid <= tx.fee <= balance (fee = gas_limit x price)
        let mut status = TxStatus::Success;
        let mut error = None;
        if tx.tx_type == TxType::Transfer {
            let to = tx.to_address.expect("in-isolation check: TRANSFER has a recipient");
            if s.entry.account.balance < tx.amount {
                status = TxStatus::Failed;
                error = Some(format!(
                    "insufficient balance for amount: balance after fee {}, amount {}",
                    s.entry.account.balance, tx.amount
                ));
            } else {
                s.entry.account.balance -= tx.amount;
                self.credit(&to, tx.amount, "recipient balance").map_err(|e| match e {
                    ApplyError::Overflow(w) => TxError::Overflow(w),
                    ApplyError::Storage(s) => TxError::Storage(s),
                })?;
            }
        }
        if let Some(t) = task {
            self.block_tasks.insert(t.clone());
            self.task_ids.push((t, tx_hash));
        }
        self.gas_used = new_gas;
        self.fees = fees;
        self.outcomes.push(TxOutcome { tx_hash, status, gas_used: gas, fee_paid, error });
        Ok(self.outcomes.last().expect("pushed"))
    }

    /// Pays the proposer's part of the block reward, one `share_reward` per share, and the
    /// fees; computes the new state root and returns everything. `proposer` is the proposer's
    /// account; `share_workers` the worker of each synthetic result in block order (consensus
    /// has checked that every one is a verified share). Nothing is burned: a block without
    /// shares mints only the proposer's part (PROTOCOL.md, Shares).
    pub fn finish(mut self, proposer: &Address, share_workers: &[Address]) -> Result<BlockOutcome, ApplyError> {
        let econ = &self.params.economics;
        let prev_supply = self.view.supply();
        let reward = econ.block_reward(self.height);
        let proposer_reward = reward
            .checked_mul(econ.proposer_reward_percent as u128)
            .ok_or(ApplyError::Overflow("proposer reward"))?
            / 100;
        let share_reward = econ.share_reward(self.height, self.params.poc.shares_per_block);
        let mut worker_payments = Vec::with_capacity(share_workers.len());
        for w in share_workers {
            self.credit(w, share_reward, "share reward")?;
            worker_payments.push((*w, share_reward.to_string()));
        }
        let shares_minted = share_reward
            .checked_mul(share_workers.len() as u128)
            .ok_or(ApplyError::Overflow("share rewards"))?;
        self.credit(proposer, proposer_reward, "proposer reward")?;
        let proposer_fees =
            self.fees.checked_mul(econ.proposer_fee_percent as u128).ok_or(ApplyError::Overflow("proposer fees"))? / 100;
        let treasury_fees = self.fees - proposer_fees;
        self.credit(proposer, proposer_fees, "proposer fees")?;
        let treasury = econ.treasury_address;
        self.credit(&treasury, treasury_fees, "treasury fees")?;

        let minted = proposer_reward.checked_add(shares_minted).ok_or(ApplyError::Overflow("minted"))?;
        let supply = Supply {
            total: prev_supply.total.checked_add(minted).ok_or(ApplyError::Overflow("total supply"))?,
            genesis: prev_supply.genesis,
            minted: prev_supply.minted.checked_add(minted).ok_or(ApplyError::Overflow("minted"))?,
            burned: prev_supply.burned,
        };
        let rewards = RewardSummary {
            block_reward: reward,
            proposer_reward,
            share_reward,
            shares: share_workers.len() as u64,
            worker_payments,
            fees: self.fees,
            proposer_fees,
            treasury_fees,
            minted,
        };
        Ok(self.into_outcome(prev_supply, supply, rewards))
    }

    /// Finishes a genesis allocation: supply = the sum of the allocations.
    pub fn finish_genesis(self) -> Result<BlockOutcome, ApplyError> {
        let mut total = 0u128;
        for t in self.touched.values() {
            total = total.checked_add(t.entry.account.balance).ok_or(ApplyError::Overflow("genesis supply"))?;
        }
        let supply = Supply { total, genesis: total, minted: 0, burned: 0 };
        Ok(self.into_outcome(Supply::default(), supply, RewardSummary::default()))
    }

    fn into_outcome(self, prev_supply: Supply, supply: Supply, rewards: RewardSummary) -> BlockOutcome {
        let prev_count = self.view.account_count();
        let mut leaf_changes = BTreeMap::new();
        let mut accounts = Vec::with_capacity(self.order.len());
        for addr in &self.order {
            let t = &self.touched[addr];
            if t.original == Some(t.entry) {
                continue;
            }
            leaf_changes.insert(t.entry.slot, account_leaf(addr, &t.entry.account));
            accounts.push((*addr, t.entry));
        }
        let tree = compute_update(self.view, prev_count, self.next_slot, leaf_changes);
        let root = state_root(&tree.root, self.next_slot, &supply);
        BlockOutcome {
            state_root: root,
            gas_used: self.gas_used,
            outcomes: self.outcomes,
            rewards,
            changes: StateChanges {
                accounts,
                prev_account_count: prev_count,
                tree,
                prev_supply,
                supply,
                task_ids: self.task_ids,
            },
        }
    }
}
