//! cpc mempool: admission, ordering and eviction. No I/O: state is read through
//! [`cpc_state::StateView`].
//!
//! Admission runs in two steps so the expensive part needs no lock: [`prevalidate`] does the
//! in-isolation checks (signature included) and, for synthetic results, the window lookup and
//! the k-row proof check; [`Mempool::admit`] then checks against state and the pool.
//!
//! Ordering: each sender's transactions are ready from the account's nonce on, in nonce
//! order; across senders the next ready transaction with the highest gas price goes first
//! (earlier arrival breaks ties). Future nonces wait, bounded per sender.

use cpc_consensus::{check_tx_in_isolation, is_synthetic, Candidate, PocVerifier, SyntheticError, TxCheckError, WindowTip};
use cpc_primitives::{Address, ComputeResult, Transaction, H256};
use cpc_state::{ChainParams, StateView, StorageError};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

/// Pool limits. Every value is a bound on memory or on how far ahead a sender may queue.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    /// Most transactions held (~10 blocks of transfers at the dev gas limit, ≈ 25 MB).
    pub max_txs: usize,
    /// Most transactions one sender may hold, ready and future together.
    pub max_per_sender: usize,
    /// Furthest a future nonce may run ahead of the account's nonce.
    pub max_nonce_gap: u64,
    /// Most bytes of transactions held (canonical JSON): a count alone lets 50 000 maximal
    /// SUBMIT_RESULTs (~96 KiB each) pin ~4.7 GiB.
    pub max_bytes: usize,
    /// Blocks during which a worker whose result failed full recomputation may not queue
    /// synthetic results (one task window: its forged work would be stale by then anyway).
    pub forger_cooldown_blocks: u64,
}

/// Default `--txpool.max-bytes`: 256 MiB, ~10 blocks of transfers many times over and a few
/// thousand maximal results; small next to a node's memory.
pub const DEFAULT_MAX_POOL_BYTES: usize = 256 << 20;

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 50_000,
            max_per_sender: 1_024,
            max_nonce_gap: 1_024,
            max_bytes: DEFAULT_MAX_POOL_BYTES,
            forger_cooldown_blocks: 16,
        }
    }
}

/// Why a transaction was not admitted. Every message names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("invalid transaction: {0}")]
    Invalid(#[from] TxCheckError),
    #[error("invalid transaction: {0}")]
    Synthetic(#[from] SyntheticError),
    #[error("transaction {0} is already known")]
    AlreadyKnown(H256),
    #[error("nonce too low: expected at least {expected}, found {found}")]
    NonceTooLow { expected: u64, found: u64 },
    #[error("nonce too far ahead: expected at most {max} (account nonce + {gap}), found {found}")]
    NonceTooHigh { max: u64, gap: u64, found: u64 },
    #[error("insufficient balance: balance {balance}, needed {needed} (amount + fee of this and the sender's earlier pending transactions)")]
    InsufficientBalance { balance: u128, needed: u128 },
    #[error("replacement underpriced: a transaction with nonce {nonce} pays gas price {existing}; a replacement must pay more, found {found}")]
    ReplacementUnderpriced { nonce: u64, existing: u64, found: u64 },
    #[error("SUBMIT_RESULT rule 4 (unique task_id): task {0:?} is already on the chain")]
    TaskOnChain(String),
    #[error("SUBMIT_RESULT rule 4 (unique task_id): task {task_id:?} is already pending in transaction {tx}")]
    TaskPending { task_id: String, tx: H256 },
    #[error("sender queue full: at most {0} pending transactions per sender")]
    SenderFull(usize),
    #[error("mempool full ({max} transactions) and gas price {found} does not beat the cheapest pending {cheapest}")]
    PoolFull { max: usize, cheapest: u64, found: u64 },
    #[error(
        "mempool full ({max} bytes): a {size}-byte transaction at gas price {found} does not beat enough \
         cheaper pending ones to make room"
    )]
    PoolBytesFull { max: usize, size: usize, found: u64 },
    #[error(
        "SUBMIT_RESULT rule 6: worker {worker} sent a result that failed full recomputation; its \
         synthetic results are refused for {blocks} more blocks"
    )]
    ForgerCooldown { worker: Address, blocks: u64 },
    #[error("invalid transaction: {0}")]
    Market(#[from] cpc_consensus::MarketDataError),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl AdmitError {
    /// A short, bounded label for the rule that refused the transaction (metrics labels, the
    /// `reason` of a JSON-RPC error's data): never a hash or a number, never parsed from text.
    pub fn reason(&self) -> &'static str {
        match self {
            AdmitError::Invalid(inner) => match inner.submit_result_rule() {
                Some(1) => "rule 1",
                Some(2) => "rule 2",
                Some(3) => "rule 3",
                Some(5) => "rule 5",
                _ => "invalid",
            },
            AdmitError::Synthetic(SyntheticError::NotAShare { .. }) => "not a share",
            AdmitError::Synthetic(SyntheticError::UnknownTip { .. }) => "unknown tip",
            AdmitError::Synthetic(_) => "rule 6",
            AdmitError::ForgerCooldown { .. } => "forger",
            AdmitError::TaskOnChain(_) | AdmitError::TaskPending { .. } => "rule 4",
            AdmitError::AlreadyKnown(_) => "known",
            AdmitError::NonceTooLow { .. } | AdmitError::NonceTooHigh { .. } => "nonce",
            AdmitError::InsufficientBalance { .. } => "balance",
            AdmitError::ReplacementUnderpriced { .. } => "underpriced",
            AdmitError::SenderFull(_) | AdmitError::PoolFull { .. } | AdmitError::PoolBytesFull { .. } => "pool full",
            AdmitError::Market(_) => "market",
            AdmitError::Storage(_) => "storage",
        }
    }
}

/// A transaction that passed the in-isolation checks.
#[derive(Clone, Debug)]
pub struct ValidTx {
    pub hash: H256,
    pub tx: Arc<Transaction>,
    pub result: Option<Arc<ComputeResult>>,
    /// Canonical JSON bytes (what the pool's byte bound counts).
    pub size: usize,
    /// The tip a synthetic result was derived from (found at prevalidation).
    pub tip: Option<H256>,
}

/// Where synthetic results may point at admission: the window of the next block.
pub struct AdmissionWindow<'a> {
    pub poc: &'a PocVerifier,
    /// (hash, share target) of each canonical tip in the window.
    pub tips: &'a [WindowTip],
    pub lo: u64,
    pub hi: u64,
}

/// In-isolation checks and, for a synthetic result, tip lookup and the k-row proof check.
/// Needs no lock; call it before [`Mempool::admit`].
pub fn prevalidate(tx: Transaction, p: &ChainParams, w: &AdmissionWindow) -> Result<ValidTx, AdmitError> {
    let result = check_tx_in_isolation(&tx, p)?;
    let mut tip = None;
    if let Some(r) = result.as_ref().filter(|r| is_synthetic(r)) {
        tip = Some(w.poc.check_cheap(r, w.tips, w.lo, w.hi)?.0);
    }
    let size = tx.canonical_json().len();
    Ok(ValidTx { hash: tx.hash(), tx: Arc::new(tx), result: result.map(Arc::new), size, tip })
}

#[derive(Clone, Debug)]
struct Entry {
    v: ValidTx,
    seq: u64,
}

impl Entry {
    fn price(&self) -> u64 {
        self.v.tx.gas_price
    }
    fn cost(&self) -> u128 {
        self.v.tx.max_cost().unwrap_or(u128::MAX) // checked at prevalidation
    }
}

#[derive(Default, Debug)]
struct Sender {
    /// The committed account nonce when last seen.
    base: u64,
    txs: BTreeMap<u64, Entry>,
}

/// Counters for metrics and `txpool_status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    pub pending: usize,
    pub queued: usize,
}

/// The transaction pool.
pub struct Mempool {
    cfg: MempoolConfig,
    by_hash: HashMap<H256, (Address, u64)>,
    senders: HashMap<Address, Sender>,
    tasks: HashMap<String, H256>,
    /// (gas price, arrival) of every entry, for eviction of the cheapest.
    by_price: BTreeSet<(u64, Reverse<u64>, H256)>,
    seq: u64,
    /// Canonical JSON bytes of every entry.
    bytes: usize,
    /// Blocks seen (`on_block` calls): the clock of the forger cooldown.
    blocks: u64,
    /// Workers whose result failed full recomputation, with the block count until which their
    /// synthetic results are refused.
    forgers: HashMap<Address, u64>,
}

impl Mempool {
    pub fn new(cfg: MempoolConfig) -> Self {
        Mempool {
            cfg,
            by_hash: HashMap::new(),
            senders: HashMap::new(),
            tasks: HashMap::new(),
            by_price: BTreeSet::new(),
            seq: 0,
            bytes: 0,
            blocks: 0,
            forgers: HashMap::new(),
        }
    }

    /// Sets how many blocks a forger's results are refused (`forger_cooldown_blocks`).
    pub fn set_forger_cooldown(&mut self, blocks: u64) {
        self.cfg.forger_cooldown_blocks = blocks;
    }

    /// Bytes of canonical JSON held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A result of `worker` failed full recomputation (forged work): drop its other pending
    /// synthetic results and refuse new ones for `forger_cooldown_blocks`. Returns the hashes
    /// dropped. Its other transactions (transfers) stay: only its results are suspect.
    pub fn punish_forger(&mut self, worker: &Address) -> Vec<H256> {
        self.forgers.insert(*worker, self.blocks + self.cfg.forger_cooldown_blocks);
        let dropped: Vec<H256> = match self.senders.get(worker) {
            Some(s) => s.txs.values().filter(|e| e.v.result.as_deref().is_some_and(is_synthetic)).map(|e| e.v.hash).collect(),
            None => vec![],
        };
        for h in &dropped {
            self.remove(h);
        }
        dropped
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn contains(&self, h: &H256) -> bool {
        self.by_hash.contains_key(h)
    }

    pub fn get(&self, h: &H256) -> Option<Arc<Transaction>> {
        let (a, n) = self.by_hash.get(h)?;
        self.senders.get(a)?.txs.get(n).map(|e| e.v.tx.clone())
    }

    /// Admits a prevalidated transaction against committed state and the pool.
    pub fn admit<V: StateView + ?Sized>(&mut self, v: ValidTx, view: &V) -> Result<H256, AdmitError> {
        if self.by_hash.contains_key(&v.hash) {
            return Err(AdmitError::AlreadyKnown(v.hash));
        }
        let tx = v.tx.clone();
        let sender_addr = tx.from_address;
        if v.result.as_deref().is_some_and(is_synthetic)
            && let Some(&until) = self.forgers.get(&sender_addr)
            && until > self.blocks
        {
            return Err(AdmitError::ForgerCooldown { worker: sender_addr, blocks: until - self.blocks });
        }
        let account = view.account_entry(&sender_addr)?.map(|e| e.account).unwrap_or_default();
        if tx.nonce < account.nonce {
            return Err(AdmitError::NonceTooLow { expected: account.nonce, found: tx.nonce });
        }
        let max = account.nonce.saturating_add(self.cfg.max_nonce_gap);
        if tx.nonce > max {
            return Err(AdmitError::NonceTooHigh { max, gap: self.cfg.max_nonce_gap, found: tx.nonce });
        }
        let sender = self.senders.get(&sender_addr);
        let replaced = sender.and_then(|s| s.txs.get(&tx.nonce));
        if let Some(old) = replaced {
            if tx.gas_price <= old.price() {
                return Err(AdmitError::ReplacementUnderpriced { nonce: tx.nonce, existing: old.price(), found: tx.gas_price });
            }
        } else if sender.map_or(0, |s| s.txs.len()) >= self.cfg.max_per_sender {
            return Err(AdmitError::SenderFull(self.cfg.max_per_sender));
        }
        // Balance covers this and every earlier pending transaction of the sender.
        let earlier: u128 = sender
            .map(|s| s.txs.range(account.nonce..tx.nonce).map(|(_, e)| e.cost()).fold(0u128, |a, c| a.saturating_add(c)))
            .unwrap_or(0);
        let needed = earlier.saturating_add(tx.max_cost().unwrap_or(u128::MAX));
        if account.balance < needed {
            return Err(AdmitError::InsufficientBalance { balance: account.balance, needed });
        }
        if let Some(r) = &v.result {
            if view.task_known(&r.task_id)? {
                return Err(AdmitError::TaskOnChain(r.task_id.clone()));
            }
            if let Some(other) = self.tasks.get(&r.task_id) {
                let same_slot = replaced.is_some_and(|e| e.v.hash == *other);
                if !same_slot {
                    return Err(AdmitError::TaskPending { task_id: r.task_id.clone(), tx: *other });
                }
            }
        }
        let replaced_hash = replaced.map(|e| e.v.hash);
        let freed_by_replace = replaced.map_or(0, |e| e.v.size);
        let size_of = |h: &H256| {
            let (a, n) = self.by_hash[h];
            self.senders[&a].txs[&n].v.size
        };
        // The count bound: the cheapest entry must go (it is removed only once the byte bound
        // below is met too, so that a refusal evicts nothing).
        let mut victims = Vec::new();
        if replaced_hash.is_none() && self.by_hash.len() >= self.cfg.max_txs {
            let &(cheapest, _, victim) = self.by_price.first().expect("pool is full, so not empty");
            if tx.gas_price <= cheapest {
                return Err(AdmitError::PoolFull { max: self.cfg.max_txs, cheapest, found: tx.gas_price });
            }
            victims.push(victim);
        }
        // The byte bound: evict strictly cheaper entries (cheapest first) until it fits, or
        // refuse without evicting anything.
        let mut freed = freed_by_replace + victims.iter().map(size_of).sum::<usize>();
        let over = (self.bytes + v.size).saturating_sub(self.cfg.max_bytes);
        if freed < over {
            for &(price, _, h) in self.by_price.iter() {
                if freed >= over || price >= tx.gas_price {
                    break;
                }
                if Some(h) == replaced_hash || victims.contains(&h) {
                    continue;
                }
                freed += size_of(&h);
                victims.push(h);
            }
            if freed < over {
                return Err(AdmitError::PoolBytesFull { max: self.cfg.max_bytes, size: v.size, found: tx.gas_price });
            }
        }
        for h in victims {
            self.remove(&h);
        }
        if let Some(old_hash) = replaced_hash {
            self.remove(&old_hash);
        }
        self.seq += 1;
        let entry = Entry { v, seq: self.seq };
        let hash = entry.v.hash;
        if let Some(r) = &entry.v.result {
            self.tasks.insert(r.task_id.clone(), hash);
        }
        self.by_price.insert((entry.price(), Reverse(entry.seq), hash));
        self.by_hash.insert(hash, (sender_addr, tx.nonce));
        self.bytes += entry.v.size;
        let s = self.senders.entry(sender_addr).or_default();
        s.base = account.nonce;
        s.txs.insert(tx.nonce, entry);
        Ok(hash)
    }

    /// Removes one transaction (by hash). Returns whether it was there.
    pub fn remove(&mut self, hash: &H256) -> bool {
        let Some((addr, nonce)) = self.by_hash.remove(hash) else { return false };
        if let Some(s) = self.senders.get_mut(&addr) {
            if let Some(e) = s.txs.remove(&nonce) {
                self.bytes -= e.v.size;
                self.by_price.remove(&(e.price(), Reverse(e.seq), *hash));
                if let Some(r) = &e.v.result
                    && self.tasks.get(&r.task_id) == Some(hash)
                {
                    self.tasks.remove(&r.task_id);
                }
            }
            if s.txs.is_empty() {
                self.senders.remove(&addr);
            }
        }
        true
    }

    /// The next nonce of `addr` counting its ready pending transactions.
    pub fn pending_nonce(&self, addr: &Address, account_nonce: u64) -> u64 {
        let Some(s) = self.senders.get(addr) else { return account_nonce };
        let mut n = account_nonce;
        while s.txs.contains_key(&n) {
            n += 1;
        }
        n
    }

    /// Ready transactions in block order, at most `max` of them (see the crate docs).
    pub fn best(&self, max: usize) -> Vec<Candidate> {
        let mut heap: BinaryHeap<(u64, Reverse<u64>, Address, u64)> = BinaryHeap::new();
        for (addr, s) in &self.senders {
            if let Some(e) = s.txs.get(&s.base) {
                heap.push((e.price(), Reverse(e.seq), *addr, s.base));
            }
        }
        let mut out = Vec::with_capacity(max.min(self.by_hash.len()));
        while let Some((_, _, addr, nonce)) = heap.pop() {
            if out.len() >= max {
                break;
            }
            let s = &self.senders[&addr];
            let e = &s.txs[&nonce];
            out.push(Candidate { hash: e.v.hash, tx: e.v.tx.clone(), result: e.v.result.clone() });
            if let Some(next) = s.txs.get(&(nonce + 1)) {
                heap.push((next.price(), Reverse(next.seq), addr, nonce + 1));
            }
        }
        out
    }

    /// After a block commits: drops its transactions, moves each touched sender's base to its
    /// new account nonce and drops what that made stale.
    pub fn on_block<V: StateView + ?Sized>(&mut self, included: &[(H256, Address)], view: &V) -> Result<(), StorageError> {
        self.blocks += 1;
        let now = self.blocks;
        self.forgers.retain(|_, until| *until > now);
        let mut touched: Vec<Address> = Vec::new();
        for (h, a) in included {
            self.remove(h);
            touched.push(*a);
        }
        touched.sort_unstable();
        touched.dedup();
        for addr in touched {
            let nonce = view.account_entry(&addr)?.map_or(0, |e| e.account.nonce);
            let stale: Vec<H256> = match self.senders.get_mut(&addr) {
                Some(s) => {
                    s.base = nonce;
                    s.txs.range(..nonce).map(|(_, e)| e.v.hash).collect()
                }
                None => continue,
            };
            for h in stale {
                self.remove(&h);
            }
        }
        Ok(())
    }

    /// Ready (`pending`) and waiting-for-a-gap (`queued`) counts.
    pub fn status(&self) -> PoolStatus {
        let mut st = PoolStatus::default();
        for s in self.senders.values() {
            let mut n = s.base;
            for nonce in s.txs.keys() {
                if *nonce == n {
                    st.pending += 1;
                    n += 1;
                } else {
                    st.queued += 1;
                }
            }
        }
        st
    }

    /// One sender's transactions by nonce: O(its own), whatever the size of the pool
    /// (`poc_getWork`, `txpool_contentFrom`).
    pub fn sender_txs(&self, addr: &Address) -> Vec<(u64, Arc<Transaction>)> {
        self.senders.get(addr).map_or_else(Vec::new, |s| s.txs.iter().map(|(n, e)| (*n, e.v.tx.clone())).collect())
    }

    /// At most `max` transactions, grouped by sender (in address order) and nonce, and the
    /// pool's size: `txpool_content` without a response that grows with the pool.
    pub fn content_limited(&self, max: usize) -> (Vec<(Address, Vec<(u64, Arc<Transaction>)>)>, usize) {
        let mut addrs: Vec<&Address> = self.senders.keys().collect();
        addrs.sort_unstable();
        let mut out = Vec::new();
        let mut left = max;
        for a in addrs {
            if left == 0 {
                break;
            }
            let txs: Vec<_> = self.senders[a].txs.iter().take(left).map(|(n, e)| (*n, e.v.tx.clone())).collect();
            left -= txs.len();
            out.push((*a, txs));
        }
        (out, self.by_hash.len())
    }

    /// Every transaction, grouped by sender and nonce (for `txpool_content`).
    pub fn content(&self) -> Vec<(Address, Vec<(u64, Arc<Transaction>)>)> {
        let mut v: Vec<_> = self
            .senders
            .iter()
            .map(|(a, s)| (*a, s.txs.iter().map(|(n, e)| (*n, e.v.tx.clone())).collect()))
            .collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }
}
