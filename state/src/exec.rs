//! The state transition: a pure function of (committed state view, block contents).
//!
//! [`BlockExecutor`] applies transactions one at a time, so the block builder can skip a
//! transaction that does not fit and import can reject a block at its first bad one; nothing
//! is written until [`BlockExecutor::finish`] returns the [`StateChanges`] for the store.

use crate::params::ChainParams;
use crate::stake::{stake_leaf, StakeEntry, StakeKey, StakeRecord};
use crate::stake_exec::{BlockInputs, StakingSummary};
use crate::stake_tx::StakingTx;
use crate::tree::{account_leaf, compute_update, TreeDiff};
use crate::view::{AccountEntry, StateView, StorageError, Supply};
use cpc_primitives::{sha256_concat, Account, Address, ComputeResult, Transaction, TxStatus, TxType, H256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Domain prefix of the state root (V2: staking records in the tree, the supply's parts).
pub const STATE_ROOT_PREFIX: &[u8] = b"CPC-STATE-V2:";

/// `state_root = H("CPC-STATE-V2:" ‖ tree_root ‖ le64 leaf_count ‖ le128 total ‖ le128 genesis
/// ‖ le128 minted ‖ le128 burned ‖ le128 liquid ‖ le128 bonded ‖ le128 unbonding ‖
/// le128 rewards)` (docs/PROTOCOL-NOTES.md). The tree holds accounts and staking records.
pub fn state_root(tree_root: &H256, leaf_count: u64, s: &Supply) -> H256 {
    sha256_concat(&[
        STATE_ROOT_PREFIX,
        &tree_root.0,
        &leaf_count.to_le_bytes(),
        &s.total.to_le_bytes(),
        &s.genesis.to_le_bytes(),
        &s.minted.to_le_bytes(),
        &s.burned.to_le_bytes(),
        &s.liquid.to_le_bytes(),
        &s.bonded.to_le_bytes(),
        &s.unbonding.to_le_bytes(),
        &s.rewards.to_le_bytes(),
    ])
}

/// Why a transaction cannot be included in this block (the block would be invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
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
    #[error("block market data limit: the block brings {used} of {limit} bytes, this transaction needs {needed} (market.max_blob_bytes_per_block)")]
    BlobBytes { used: u64, limit: u64, needed: u64 },
    #[error("blob fee: this block's is {current} per byte, the POST_JOB pays at most {max} (max_blob_fee_per_byte); it waits for the fee to fall")]
    BlobFee { max: u128, current: u128 },
    #[error(transparent)]
    JobResult(#[from] crate::market::JobResultError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<ApplyError> for TxError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Overflow(w) => TxError::Overflow(w),
            ApplyError::Storage(s) => TxError::Storage(s),
            ApplyError::Consensus(c) => TxError::Payload(format!("consensus data: {c}")),
        }
    }
}

/// Why a whole block cannot be finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The consensus data handed to a block being built does not check.
    #[error("consensus data: {0}")]
    Consensus(String),
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
    /// Where the validators' part went (the proposer's reward and fees, split over the active
    /// set), slashes, jailings, matured unbondings and a newly scheduled set.
    #[serde(default)]
    pub staking: StakingSummary,
    /// Claims that ran out and deadlines that passed at the end of the block.
    #[serde(default, skip_serializing_if = "crate::market::MarketSummary::is_empty")]
    pub market: crate::market::MarketSummary,
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
    /// Final bytes and slot of every changed staking record (encoded key).
    pub stake: Vec<(Vec<u8>, StakeEntry)>,
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

pub(crate) struct Touched {
    pub(crate) entry: AccountEntry,
    original: Option<AccountEntry>,
}

/// A staking record as this block sees it: its slot, its current value (None: removed) and
/// its bytes as stored before the block (None: a new key).
pub(crate) struct StakeTouched {
    slot: u64,
    pub(crate) record: Option<StakeRecord>,
    original: Option<Vec<u8>>,
}

/// The undo log of the transaction being executed: for every account and staking record it
/// changes, the value this block had before (`None`: not touched by the block yet). A
/// transaction that fails is rolled back from it, so that nothing it did stays behind.
#[derive(Default)]
struct Journal {
    /// Recording (only while a transaction executes; the end of the block is not undone).
    active: bool,
    accounts: Vec<(Address, Option<AccountEntry>)>,
    stake: Vec<(Vec<u8>, Option<Option<StakeRecord>>)>,
}

/// A point to roll a transaction back to: the journal's length and every scalar it may move.
#[derive(Clone, Copy)]
struct Savepoint {
    accounts: usize,
    stake: usize,
    order: usize,
    next_slot: u64,
    supply_work: Supply,
    stake_dirty: bool,
}

/// Applies a block's transactions on top of a [`StateView`].
pub struct BlockExecutor<'a, V: StateView + ?Sized> {
    pub(crate) view: &'a V,
    pub(crate) params: &'a ChainParams,
    pub(crate) height: u64,
    /// The block's timestamp (ms): commission changes are limited per 24 h of it.
    pub(crate) timestamp: u64,
    touched: HashMap<Address, Touched>,
    order: Vec<Address>,
    next_slot: u64,
    block_tasks: HashSet<String>,
    task_ids: Vec<(String, H256)>,
    gas_used: u64,
    fees: u128,
    /// Bytes of market data the block's transactions so far bring (A, B, C).
    blob_bytes: u64,
    outcomes: Vec<TxOutcome>,
    pub(crate) stake: BTreeMap<Vec<u8>, StakeTouched>,
    /// Something that decides the active set changed (tokens, jail, a new validator).
    pub(crate) stake_dirty: bool,
    /// The supply as this block leaves it, except `liquid` (computed from the accounts at the
    /// end) and `total` / `minted` (set by `finish`).
    pub(crate) supply_work: Supply,
    journal: Journal,
}

impl<'a, V: StateView + ?Sized> BlockExecutor<'a, V> {
    pub fn new(view: &'a V, params: &'a ChainParams, height: u64) -> Self {
        BlockExecutor {
            view,
            params,
            height,
            timestamp: 0,
            touched: HashMap::new(),
            order: Vec::new(),
            next_slot: view.account_count(),
            block_tasks: HashSet::new(),
            task_ids: Vec::new(),
            gas_used: 0,
            fees: 0,
            blob_bytes: 0,
            outcomes: Vec::new(),
            stake: BTreeMap::new(),
            stake_dirty: false,
            supply_work: view.supply(),
            journal: Journal::default(),
        }
    }

    fn savepoint(&self) -> Savepoint {
        Savepoint {
            accounts: self.journal.accounts.len(),
            stake: self.journal.stake.len(),
            order: self.order.len(),
            next_slot: self.next_slot,
            supply_work: self.supply_work,
            stake_dirty: self.stake_dirty,
        }
    }

    /// Puts back every account and staking record changed since `sp`, newest change first
    /// (so the oldest recorded value wins), and the slots, supply and dirty flag as they were.
    fn rollback(&mut self, sp: &Savepoint) {
        while self.journal.accounts.len() > sp.accounts {
            let (addr, before) = self.journal.accounts.pop().expect("longer than the savepoint");
            match before {
                Some(entry) => self.touched.get_mut(&addr).expect("journaled accounts stay touched").entry = entry,
                None => {
                    self.touched.remove(&addr);
                }
            }
        }
        // Accounts first touched after `sp` were appended to `order` (and removed above).
        self.order.truncate(sp.order);
        while self.journal.stake.len() > sp.stake {
            let (key, before) = self.journal.stake.pop().expect("longer than the savepoint");
            match before {
                Some(record) => self.stake.get_mut(&key).expect("journaled records stay touched").record = record,
                None => {
                    self.stake.remove(&key);
                }
            }
        }
        self.next_slot = sp.next_slot;
        self.supply_work = sp.supply_work;
        self.stake_dirty = sp.stake_dirty;
    }

    /// The block's timestamp (header `timestamp`, ms).
    pub fn at_time(mut self, timestamp_ms: u64) -> Self {
        self.timestamp = timestamp_ms;
        self
    }

    /// A staking record as this block sees it.
    pub(crate) fn stake_get(&self, key: &StakeKey) -> Result<Option<StakeRecord>, StorageError> {
        match self.stake.get(&key.encode()) {
            Some(t) => Ok(t.record.clone()),
            None => self.view.stake_record(key),
        }
    }

    /// Sets (or removes, with None) a staking record; a new key takes the next tree slot.
    pub(crate) fn stake_put(&mut self, key: StakeKey, record: Option<StakeRecord>) -> Result<(), ApplyError> {
        let k = key.encode();
        if let Some(t) = self.stake.get_mut(&k) {
            if self.journal.active {
                self.journal.stake.push((k, Some(std::mem::replace(&mut t.record, record))));
            } else {
                t.record = record;
            }
            return Ok(());
        }
        let (slot, original) = match self.view.stake_entry(&k)? {
            Some(e) => (e.slot, Some(e.value)),
            None if record.is_none() => return Ok(()),
            None => {
                let s = self.next_slot;
                self.next_slot += 1;
                (s, None)
            }
        };
        if self.journal.active {
            self.journal.stake.push((k.clone(), None));
        }
        self.stake.insert(k, StakeTouched { slot, record, original });
        Ok(())
    }

    /// The keys of live records in `[from, to)` as this block sees them, in key order.
    pub(crate) fn stake_range_merged(&self, from: &[u8], to: &[u8]) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut keys: BTreeSet<Vec<u8>> = self.view.stake_range(from, to)?.into_iter().map(|(k, _)| k).collect();
        for (k, t) in self.stake.range(from.to_vec()..to.to_vec()) {
            if t.record.is_some() {
                keys.insert(k.clone());
            } else {
                keys.remove(k);
            }
        }
        Ok(keys.into_iter().collect())
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

    pub(crate) fn load(&mut self, addr: &Address) -> Result<&mut Touched, StorageError> {
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
            if self.journal.active {
                self.journal.accounts.push((*addr, None));
            }
        } else if self.journal.active {
            // The caller may change it: remember its value before.
            self.journal.accounts.push((*addr, Some(self.touched[addr].entry)));
        }
        Ok(self.touched.get_mut(addr).expect("inserted above"))
    }

    /// Adds `amount` to `addr` (creating the account; a zero credit to an unknown account
    /// creates nothing).
    pub(crate) fn credit(&mut self, addr: &Address, amount: u128, what: &'static str) -> Result<(), ApplyError> {
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
    /// included: whatever it changed before the failing step is rolled back. A transaction
    /// included as failed changes nothing but its sender's fee and nonce.
    pub fn execute(&mut self, tx: &Transaction, tx_hash: H256) -> Result<&TxOutcome, TxError> {
        let start = self.savepoint();
        self.journal.active = true;
        let res = self.apply_tx(tx, tx_hash);
        if res.is_err() {
            self.rollback(&start);
        }
        self.journal.active = false;
        self.journal.accounts.clear();
        self.journal.stake.clear();
        self.outcomes.push(res?);
        Ok(self.outcomes.last().expect("pushed"))
    }

    /// [`Self::execute`] without the rollback: the block's counters (gas, fees, task ids) move
    /// only after the last fallible step.
    fn apply_tx(&mut self, tx: &Transaction, tx_hash: H256) -> Result<TxOutcome, TxError> {
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
        let mut job_paid = None;
        let mut data_bytes = 0u64;
        // Parsed once: its inputs count against the block's data bound here, it runs below.
        let market_tx = crate::market::JobTx::parse(tx);
        if self.params.market.enabled
            && let Some(Ok(crate::market::JobTx::Post(p))) = &market_tx
        {
            data_bytes = p.input_bytes();
            if let Some(max) = p.max_blob_fee_per_byte {
                let current = self.blob_fee_per_byte()?;
                if current > max {
                    return Err(TxError::BlobFee { max, current });
                }
            }
        }
        if tx.tx_type == TxType::SubmitResult {
            let r = ComputeResult::from_payload(&tx.payload).map_err(|e| TxError::Payload(e.to_string()))?;
            if self.block_tasks.contains(&r.task_id) {
                return Err(TxError::TaskInBlock(r.task_id));
            }
            if self.view.task_known(&r.task_id)? {
                return Err(TxError::TaskOnChain(r.task_id));
            }
            if crate::market::is_job_result(&r, self.params.market.enabled) {
                let (job, rec) = self.check_job_result(&tx.from_address, &r.task_id, &r.result_hash)?;
                let root = H256::from_hex(&r.result_hash).expect("checked by check_job_result");
                data_bytes = 4 * rec.m as u64 * rec.n as u64;
                job_paid = Some((job, rec, root));
            }
            task = Some(r.task_id);
        }
        let limit = self.params.market.max_blob_bytes_per_block;
        if data_bytes > 0 && self.blob_bytes + data_bytes > limit {
            return Err(TxError::BlobBytes { used: self.blob_bytes, limit, needed: data_bytes });
        }
        let fees = self.fees.checked_add(fee_paid).ok_or(TxError::Overflow("block fees"))?;
        let next_nonce = sender.nonce.checked_add(1).ok_or(TxError::Overflow("sender nonce"))?;

        // The fee and the nonce: what the transaction pays even when it fails. A storage or
        // arithmetic error below still drops it from the block (rolled back by the caller).
        let s = self.load(&tx.from_address)?;
        s.entry.account.nonce = next_nonce;
        s.entry.account.balance -= fee_paid; // fee_paid <= tx.fee <= balance (fee = gas_limit x price)
        let body = self.savepoint();
        let mut status = TxStatus::Success;
        let mut error = None;
        if tx.tx_type == TxType::Transfer {
            let to = tx.to_address.expect("in-isolation check: TRANSFER has a recipient");
            let balance = self.account(&tx.from_address)?.balance;
            if balance < tx.amount {
                status = TxStatus::Failed;
                error = Some(format!("insufficient balance for amount: balance after fee {balance}, amount {}", tx.amount));
            } else {
                self.load(&tx.from_address)?.entry.account.balance -= tx.amount;
                self.credit(&to, tx.amount, "recipient balance")?;
            }
        }
        if let Some(parsed) = StakingTx::parse(tx) {
            let res = match parsed {
                Ok(st) => self.apply_staking(&tx.from_address, st)?,
                Err(e) => Err(crate::stake_exec::StakingError::Payload(e)),
            };
            if let Err(e) = res {
                status = TxStatus::Failed;
                error = Some(e.to_string());
            }
        }
        if let Some(parsed) = market_tx {
            let res = match parsed {
                _ if !self.params.market.enabled => Err(crate::market::MarketError::Disabled),
                Ok(jt) => self.apply_market(&tx.from_address, tx_hash, jt)?,
                Err(e) => Err(crate::market::MarketError::Payload(e)),
            };
            if let Err(e) = res {
                status = TxStatus::Failed;
                error = Some(e.to_string());
            }
        }
        if let Some((job, rec, root)) = job_paid {
            self.pay_job(job, rec, root)?;
        }
        if status == TxStatus::Failed {
            // A failed transaction keeps its fee and nonce and nothing else (the handlers
            // check every rule before writing; this holds whatever a handler does).
            self.rollback(&body);
        }
        // Nothing fails from here on: the transaction is included.
        if let Some(t) = task {
            self.block_tasks.insert(t.clone());
            self.task_ids.push((t, tx_hash));
        }
        self.gas_used = new_gas;
        self.fees = fees;
        self.blob_bytes += data_bytes;
        Ok(TxOutcome { tx_hash, status, gas_used: gas, fee_paid, error })
    }

    /// Ends the block: evidence (slash, jail, tombstone), liveness from the parent's
    /// certificate, one `share_reward` per share, the proposer's part of the reward and the
    /// fees split over the active set (the treasury's part of the fees aside), matured
    /// unbondings, the next active set; then the new state root. `share_workers` is the worker
    /// of each synthetic result in block order (consensus has checked that every one is a
    /// verified share). Nothing is burned but slashes (PROTOCOL.md, Shares).
    pub fn finish(mut self, inputs: &BlockInputs, share_workers: &[Address]) -> Result<BlockOutcome, ApplyError> {
        let econ = &self.params.economics;
        let prev_supply = self.view.supply();
        let mut staking = StakingSummary::default();
        let mut market = crate::market::MarketSummary::default();
        self.market_due(&mut market)?;
        if self.params.market.enabled {
            self.update_blob_excess(self.blob_bytes)?;
        }
        self.apply_infractions(&inputs.infractions, &mut staking)?;
        if let Some(lc) = &inputs.last_commit {
            self.apply_liveness(lc, &mut staking)?;
        }
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
        let proposer_fees =
            self.fees.checked_mul(econ.proposer_fee_percent as u128).ok_or(ApplyError::Overflow("proposer fees"))? / 100;
        let treasury_fees = self.fees - proposer_fees;
        let treasury = econ.treasury_address;
        self.credit(&treasury, treasury_fees, "treasury fees")?;
        let pot = proposer_reward.checked_add(proposer_fees).ok_or(ApplyError::Overflow("validators' part"))?;
        if !self.distribute(pot, &mut staking)? {
            self.credit(&inputs.proposer, pot, "proposer reward")?;
        }
        self.mature_unbondings(&mut staking)?;
        self.schedule_set(&mut staking)?;

        let minted = proposer_reward.checked_add(shares_minted).ok_or(ApplyError::Overflow("minted"))?;
        let burned_now = self.supply_work.burned - prev_supply.burned;
        let mut supply = self.supply_work;
        supply.total = prev_supply
            .total
            .checked_add(minted)
            .and_then(|t| t.checked_sub(burned_now))
            .ok_or(ApplyError::Overflow("total supply"))?;
        supply.minted = prev_supply.minted.checked_add(minted).ok_or(ApplyError::Overflow("minted"))?;
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
            staking,
            market,
        };
        self.into_outcome(prev_supply, supply, rewards)
    }

    /// Finishes a genesis allocation: the first active set; supply = the allocations plus the
    /// self-bonds.
    pub fn finish_genesis(mut self) -> Result<BlockOutcome, ApplyError> {
        self.genesis_set()?;
        let mut liquid = 0u128;
        for t in self.touched.values() {
            liquid = liquid.checked_add(t.entry.account.balance).ok_or(ApplyError::Overflow("genesis supply"))?;
        }
        let total = liquid.checked_add(self.supply_work.bonded).ok_or(ApplyError::Overflow("genesis supply"))?;
        let supply = Supply { total, genesis: total, bonded: self.supply_work.bonded, ..Supply::default() };
        // `liquid` is the sum of the allocations, which `into_outcome` computes.
        self.into_outcome(Supply::default(), supply, RewardSummary::default())
    }

    fn into_outcome(self, prev_supply: Supply, mut supply: Supply, rewards: RewardSummary) -> Result<BlockOutcome, ApplyError> {
        let prev_count = self.view.account_count();
        let mut leaf_changes = BTreeMap::new();
        let mut accounts = Vec::with_capacity(self.order.len());
        let (mut before, mut after) = (0u128, 0u128);
        for addr in &self.order {
            let t = &self.touched[addr];
            if t.original == Some(t.entry) {
                continue;
            }
            before = before.checked_add(t.original.map_or(0, |o| o.account.balance)).ok_or(ApplyError::Overflow("liquid"))?;
            after = after.checked_add(t.entry.account.balance).ok_or(ApplyError::Overflow("liquid"))?;
            leaf_changes.insert(t.entry.slot, account_leaf(addr, &t.entry.account));
            accounts.push((*addr, t.entry));
        }
        supply.liquid = prev_supply
            .liquid
            .checked_add(after)
            .and_then(|l| l.checked_sub(before))
            .ok_or(ApplyError::Overflow("liquid"))?;
        let mut stake = Vec::new();
        for (key, t) in &self.stake {
            let value = t.record.as_ref().map(|r| r.to_bytes()).unwrap_or_default();
            if t.original.as_ref() == Some(&value) {
                continue;
            }
            leaf_changes.insert(t.slot, stake_leaf(key, &value));
            stake.push((key.clone(), StakeEntry { slot: t.slot, value }));
        }
        let tree = compute_update(self.view, prev_count, self.next_slot, leaf_changes);
        let root = state_root(&tree.root, self.next_slot, &supply);
        Ok(BlockOutcome {
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
                stake,
            },
        })
    }
}
