//! The RocksDB store: the only code that touches RocksDB.
//!
//! Every block (header, body, receipts, state changes, indexes and the head
//! pointer) is written as **one synced atomic `WriteBatch`**: after any stop the database
//! holds either all of a block or none of it. [`Store::open`] checks consistency before the
//! node uses anything: the head block and its canonical index agree, and the state root
//! rebuilt from every stored account equals the head header's `state_root`.

use crate::exec::{state_root, BlockOutcome, RewardSummary, StateChanges};
use crate::stake::{ActiveSet, StakeEntry, StakeKey, StakeRecord};
use crate::tree::{account_leaf, AccountTree, NodeReader};
use std::collections::BTreeMap;
use crate::view::{AccountEntry, StateView, StorageError, Supply};
use cpc_primitives::{Account, Address, Block, ConsensusData, Header, PublicKey, Receipt, ShareTarget, Signature, Transaction, H256};
use parking_lot::RwLock;
use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bumped whenever the on-disk layout changes; a mismatch refuses to open.
/// 1: protocol v1 (no share targets). 2: protocol v2 (share_target in every header, the
/// canonical index carries each block's target, timestamp and share count, a worker index).
/// 3: BFT finality (certificates beside blocks, no undo records). 4: staking records in the
/// state tree, the supply's parts.
pub const SCHEMA_VERSION: u32 = 4;

// --- RocksDB tuning, each value with its reason -------------------------------------------
/// Memtable size per column family: a full block (5 000 transfers ≈ 5 MB of txs, receipts
/// and accounts) fits many times, so flushes happen every ~10 blocks at full load, not per block.
const WRITE_BUFFER_SIZE: usize = 64 << 20;
/// Shared LRU block cache: keeps the accounts and recent txs/receipts of a busy devnet hot;
/// small next to the 24 GiB of a dev machine.
const BLOCK_CACHE_SIZE: usize = 256 << 20;
/// Point lookups (account, tx, receipt, task id) skip SST files with a bloom filter of
/// 10 bits per key (~1 % false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Stays well below the common 1024 file-descriptor limit, leaving room for sockets.
const MAX_OPEN_FILES: i32 = 512;
/// Info logs RocksDB keeps in the data directory.
const KEEP_LOG_FILES: usize = 4;

const CF_META: &str = "meta";
const CF_BLOCKS: &str = "blocks";
const CF_CANONICAL: &str = "canonical";
const CF_TXS: &str = "txs";
const CF_RECEIPTS: &str = "receipts";
const CF_ACCOUNTS: &str = "accounts";
const CF_TASKS: &str = "tasks";
const CF_REWARDS: &str = "rewards";
/// Per worker address: shares, rewards and the height of the last share (`poc_getWorker`).
const CF_WORKERS: &str = "workers";
/// Staking records (crate::stake): key → le64 slot ‖ value (empty value: removed).
const CF_STAKING: &str = "staking";
const ALL_CFS: [&str; 10] =
    [CF_META, CF_BLOCKS, CF_CANONICAL, CF_TXS, CF_RECEIPTS, CF_ACCOUNTS, CF_TASKS, CF_REWARDS, CF_WORKERS, CF_STAKING];

const KEY_SCHEMA: &[u8] = b"schema";
const KEY_HEAD: &[u8] = b"head";
const KEY_SUPPLY: &[u8] = b"supply";
const KEY_GENESIS: &[u8] = b"genesis";
const KEY_GENESIS_DOC: &[u8] = b"genesis_doc";
/// `blob/` ‖ content root → a market blob (`Blob::encode`).
const BLOB_PREFIX: &[u8] = b"blob/";
/// `blobref/` ‖ content root ‖ job id in `meta` (empty value): the job uses that blob as its
/// A, B or C. Node-local (no part of the state root), written with the block that posted the
/// job or carried its result; what decides whether a blob is still needed (docs/MARKET.md,
/// "Retention and pruning").
const BLOB_REF_PREFIX: &[u8] = b"blobref/";
/// `blobdue/` ‖ height (u64 BE) ‖ content root in `meta` (empty value): look at the blob again
/// once that height is committed — a blob put `UNREFERENCED_BLOB_BLOCKS` earlier, or a job
/// that closed `retention` blocks earlier.
const BLOB_DUE_PREFIX: &[u8] = b"blobdue/";
/// `blobgone/` ‖ content root in `meta` → the height (u64 BE) the blob was pruned at, so that
/// a request for it is told why it is not here.
const BLOB_GONE_PREFIX: &[u8] = b"blobgone/";

fn blob_key(root: &H256) -> Vec<u8> {
    [BLOB_PREFIX, &root.0[..]].concat()
}

fn blob_ref_key(root: &H256, job: &H256) -> Vec<u8> {
    [BLOB_REF_PREFIX, &root.0[..], &job.0[..]].concat()
}

fn blob_due_key(height: u64, root: &H256) -> Vec<u8> {
    [BLOB_DUE_PREFIX, &height.to_be_bytes()[..], &root.0[..]].concat()
}

fn blob_gone_key(root: &H256) -> Vec<u8> {
    [BLOB_GONE_PREFIX, &root.0[..]].concat()
}

/// The blobs a job uses: A, B and, once paid, C.
fn job_blob_roots(rec: &crate::market::JobRecord) -> impl Iterator<Item = H256> + '_ {
    [rec.a_root, rec.b_root].into_iter().chain(rec.result_root)
}

/// `jobopen/` ‖ posted height (u64 BE) ‖ tree slot (u64 BE) ‖ job id in `meta` (empty value):
/// the job is open. Node-local, written with the block that changed the job, so that
/// `job_getOpenJobs` reads a page in posting order instead of every job record ever posted.
const JOB_OPEN_PREFIX: &[u8] = b"jobopen/";
/// `jobworker/` ‖ claimant ‖ posted height ‖ slot ‖ job id in `meta` (empty value): the job's
/// record names that claimant (a live claim, or the result it was paid for).
const JOB_WORKER_PREFIX: &[u8] = b"jobworker/";
/// Present once the job index above is complete (written with it, at open, for a datadir of a
/// cpcd that had no index).
const KEY_JOB_INDEX: &[u8] = b"jobindex";

/// The store's own error inside a [`StateView`] error (a fresh Arc: unwrapping it cannot fail).
fn store_error(e: StorageError) -> StoreError {
    std::sync::Arc::try_unwrap(e.0).unwrap_or_else(|shared| StoreError::Corrupt { cf: CF_STAKING, reason: shared.to_string() })
}

/// Where a job sits in posting order: its posted height, its record's tree slot (the order the
/// block created records in), its id.
fn job_place(rec: &crate::market::JobRecord, slot: u64, id: &H256) -> Vec<u8> {
    [&rec.posted_height.to_be_bytes()[..], &slot.to_be_bytes()[..], &id.0[..]].concat()
}

/// The index keys a job record is listed under.
fn job_index_keys(rec: &crate::market::JobRecord, slot: u64, id: &H256) -> Vec<Vec<u8>> {
    let place = job_place(rec, slot, id);
    let mut keys = Vec::with_capacity(2);
    if rec.status == crate::market::JobStatus::Open {
        keys.push([JOB_OPEN_PREFIX, &place[..]].concat());
    }
    if let Some(w) = &rec.claimant {
        keys.push([JOB_WORKER_PREFIX, &w.0[..], &place[..]].concat());
    }
    keys
}

/// Which jobs [`Store::jobs`] lists.
#[derive(Clone, Copy, Debug)]
pub enum JobList<'a> {
    Open,
    /// The jobs whose record names this claimant.
    Worker(&'a Address),
}

/// `cert/` ‖ height (u64 BE) in `meta`: a block's commit certificate (BFT finality), written in
/// the block's own commit batch. Kept in `meta` so that adding it changed no layout.
const KEY_CERT_PREFIX: &[u8] = b"cert/";

fn cert_key(height: u64) -> Vec<u8> {
    [KEY_CERT_PREFIX, &height.to_be_bytes()[..]].concat()
}

/// `evidence/` ‖ height (u64 BE) ‖ id (32 bytes) in `meta`: proof that a validator equivocated
/// at that height (the bytes are consensus's; the store only keeps them in height order).
const KEY_EVIDENCE_PREFIX: &[u8] = b"evidence/";

fn evidence_key(height: u64, id: &H256) -> Vec<u8> {
    [KEY_EVIDENCE_PREFIX, &height.to_be_bytes()[..], &id.0[..]].concat()
}

/// `addrtx/` ‖ address (20 bytes) ‖ height (u64 BE) ‖ index (u32 BE) in `meta` → the hash of
/// the committed transaction at that place that the address sent, received or was paid by
/// (the worker of a SUBMIT_RESULT): the account history of `cpc_getAccountTransactions`, in
/// chain order. Written with each committed block (no schema change: a datadir made before
/// the index has no entries for its older blocks).
const KEY_ADDR_TX_PREFIX: &[u8] = b"addrtx/";

fn addr_tx_key(addr: &Address, height: u64, index: u32) -> Vec<u8> {
    [KEY_ADDR_TX_PREFIX, &addr.0[..], &height.to_be_bytes()[..], &index.to_be_bytes()[..]].concat()
}

/// The addresses a committed transaction is listed under: its sender, its receiver and, for a
/// result, the worker it pays; each once.
fn tx_addresses(tx: &Transaction) -> Vec<Address> {
    let mut out = vec![tx.from_address];
    let worker = (tx.tx_type == cpc_primitives::TxType::SubmitResult)
        .then(|| cpc_primitives::ComputeResult::from_payload(&tx.payload).ok()?.worker_address.parse::<Address>().ok())
        .flatten();
    for a in tx.to_address.into_iter().chain(worker) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// A storage failure or an inconsistent database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt record in {cf}: {reason}")]
    Corrupt { cf: &'static str, reason: String },
    #[error(
        "database schema version: expected {expected}, found {found}{}",
        if *found < *expected {
            ": this datadir was written by an older cpcd (schema 1 = protocol v1, 2 = before BFT \
             finality, 3 = before staking) and cannot be read by this one. Its chain is not this \
             chain: move the datadir aside and start with an empty one (`cpcd init --genesis FILE --datadir DIR`, \
             or --dev), then sync from v2 peers"
        } else {
            ": this datadir was written by a newer cpcd; run that version"
        }
    )]
    Schema { expected: u32, found: u32 },
    #[error("consistency check failed: {0}")]
    Inconsistent(String),
    #[error(
        "the database in {path} is damaged: {detail}. cpcd does not run on a chain it cannot read \
         whole. What to do: restore this datadir from a backup; or move it aside, start with an \
         empty one (`cpcd init --genesis FILE --datadir DIR`, or --dev) and sync the chain from peers"
    )]
    Damaged { path: String, detail: String },
    #[error("block {height} does not extend the head: expected parent {expected}, found {found}")]
    NotOnHead { height: u64, expected: String, found: String },
    #[error("the database already holds a chain (genesis {0})")]
    AlreadyInitialized(H256),
    #[error(
        "market blob store full: {held} bytes held, at most {cap}, this blob needs {found} more \
         (blobs are pruned once their jobs' retention has passed)"
    )]
    BlobsFull { held: u64, cap: u64, found: u64 },
}

impl StoreError {
    /// At open, an error that means the files are damaged (RocksDB found corruption or a file
    /// it needs is gone, or the records disagree with each other) becomes
    /// [`StoreError::Damaged`], which says what to do; any other error (a lock held by another
    /// process, a permission) is left as it is.
    fn damaged_in(self, path: &Path) -> StoreError {
        let is_damage = match &self {
            StoreError::Db(e) => {
                let m = e.to_string();
                e.kind() == rocksdb::ErrorKind::Corruption || m.contains("No such file") || m.contains("Corruption")
            }
            StoreError::Corrupt { .. } | StoreError::Inconsistent(_) => true,
            _ => false,
        };
        match is_damage {
            true => StoreError::Damaged { path: path.display().to_string(), detail: self.to_string() },
            false => self,
        }
    }
}

impl StoreError {
    /// True for a failed read or write of the files (a full disk, an I/O fault). RocksDB
    /// takes no more writes after one until it is reopened (its C API has no `Resume`), so a
    /// node that meets it stops and is started again once the fault is fixed.
    pub fn is_io_failure(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.kind() == rocksdb::ErrorKind::IOError)
    }
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        StorageError(std::sync::Arc::new(e))
    }
}

/// The canonical head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub height: u64,
    pub hash: H256,
    pub state_root: H256,
    pub timestamp: u64,
    /// The head block's share target: what work on this tip must meet.
    pub share_target: ShareTarget,
}

impl Head {
    pub fn of(header: &Header, hash: H256) -> Head {
        Head {
            height: header.height,
            hash,
            state_root: header.state_root,
            timestamp: header.timestamp,
            share_target: header.share_target,
        }
    }
}

/// One canonical block as the canonical index keeps it: enough for the task window (hash and
/// share target) and for network statistics (time and share count) without reading blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanonEntry {
    pub hash: H256,
    pub share_target: ShareTarget,
    pub timestamp: u64,
    /// Synthetic results (all of them shares) in the block.
    pub shares: u32,
}

/// A worker's totals on the canonical chain (`poc_getWorker`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub shares: u64,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub rewards: u128,
    /// Height of the block that holds the worker's latest share.
    pub last_share_height: u64,
}

/// A block as stored: the body holds transaction hashes; transactions live in `txs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredBlock {
    pub header: Header,
    pub tx_hashes: Vec<H256>,
    pub proposer_pub_key: PublicKey,
    pub signature: Signature,
    #[serde(default, skip_serializing_if = "ConsensusData::is_empty")]
    pub consensus: ConsensusData,
}

struct Mem {
    head: Option<Head>,
    supply: Supply,
}

/// When a block's write reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Synced: the write returns once the write-ahead log is on disk (every block the node
    /// builds, decides or imports one at a time).
    Synced,
    /// Written to the write-ahead log (the OS holds it: a killed process loses nothing) but
    /// not yet synced; [`Store::persist`] syncs every such write at once. For ranges of final
    /// blocks fetched by sync: a power loss before `persist` loses a suffix of whole blocks
    /// (the log is replayed up to its last whole record, each block being one record), which
    /// the node fetches again.
    Deferred,
}

/// The chain database.
pub struct Store {
    db: DB,
    tree: RwLock<AccountTree>,
    mem: RwLock<Mem>,
    /// Set when a write failed on the files (a full disk, an I/O fault): RocksDB then takes no
    /// more writes, and flushing or closing it is unsafe (Debian's build asserts), so the node
    /// stops without either: every committed block is already synced to the log.
    write_failed: std::sync::atomic::AtomicBool,
    /// Held across the look-up and the write of a piece of evidence, so that the same piece
    /// arriving from consensus and from a peer at once is kept (and reported new) once.
    evidence_lock: std::sync::Mutex<()>,
    /// Bytes of market blobs held, and the lock of a blob's look-up and write (so that the
    /// count and the cap hold under concurrent puts).
    blob_bytes: std::sync::Mutex<u64>,
}

/// Most bytes of market blobs one node holds (docs/MARKET.md): `job_putBlob` is free to call,
/// so without a bound anyone could fill the disk. 2 GiB is 256 of the largest jobs' A, B and C.
/// Blobs are pruned after their retention ([`Store::prune_blobs`]); past the cap the node
/// refuses new blobs until pruning makes room.
pub const MAX_BLOB_STORE_BYTES: u64 = 2 << 30;

/// Blocks a blob no job uses is kept after it was put (`job_putBlob`, or fetched for a
/// gossiped transaction): the time a poster has between handing A and B over and its POST_JOB
/// being included (an hour of one-second blocks), and what a C refused by Freivalds or never
/// submitted costs this node at most.
pub const UNREFERENCED_BLOB_BLOCKS: u64 = 3600;

/// What one [`Store::prune_blobs`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlobPrune {
    /// Blobs deleted, and their bytes.
    pub pruned: u64,
    pub bytes: u64,
    /// Due entries looked at (kept or pruned).
    pub checked: u64,
    /// Whether due entries up to the height are left for a later pass (the pass's limit).
    pub more: bool,
}

fn encode_account(e: &AccountEntry) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&e.account.balance.to_le_bytes());
    out[16..24].copy_from_slice(&e.account.nonce.to_le_bytes());
    out[24..].copy_from_slice(&e.slot.to_le_bytes());
    out
}

fn decode_account(b: &[u8]) -> Result<AccountEntry, StoreError> {
    if b.len() != 32 {
        return Err(StoreError::Corrupt { cf: CF_ACCOUNTS, reason: format!("expected 32 bytes, found {}", b.len()) });
    }
    Ok(AccountEntry {
        account: Account {
            balance: u128::from_le_bytes(b[..16].try_into().unwrap()),
            nonce: u64::from_le_bytes(b[16..24].try_into().unwrap()),
        },
        slot: u64::from_le_bytes(b[24..].try_into().unwrap()),
    })
}

fn encode_stake(e: &StakeEntry) -> Vec<u8> {
    [&e.slot.to_le_bytes()[..], &e.value].concat()
}

fn decode_stake(b: &[u8]) -> Result<StakeEntry, StoreError> {
    if b.len() < 8 {
        return Err(StoreError::Corrupt { cf: CF_STAKING, reason: format!("expected at least 8 bytes, found {}", b.len()) });
    }
    Ok(StakeEntry { slot: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")), value: b[8..].to_vec() })
}

fn encode_head(h: &Head) -> Vec<u8> {
    let mut v = Vec::with_capacity(88);
    v.extend_from_slice(&h.height.to_be_bytes());
    v.extend_from_slice(&h.hash.0);
    v.extend_from_slice(&h.state_root.0);
    v.extend_from_slice(&h.timestamp.to_be_bytes());
    v.extend_from_slice(&h.share_target.0.to_be_bytes());
    v
}

fn decode_head(b: &[u8]) -> Result<Head, StoreError> {
    if b.len() != 88 {
        return Err(StoreError::Corrupt { cf: CF_META, reason: format!("head: expected 88 bytes, found {}", b.len()) });
    }
    Ok(Head {
        height: u64::from_be_bytes(b[..8].try_into().unwrap()),
        hash: H256(b[8..40].try_into().unwrap()),
        state_root: H256(b[40..72].try_into().unwrap()),
        timestamp: u64::from_be_bytes(b[72..80].try_into().unwrap()),
        share_target: ShareTarget(u64::from_be_bytes(b[80..].try_into().unwrap())),
    })
}

/// Canonical index value: hash ‖ be64 share_target ‖ be64 timestamp ‖ be32 shares (52 bytes).
fn encode_canon(e: &CanonEntry) -> [u8; 52] {
    let mut v = [0u8; 52];
    v[..32].copy_from_slice(&e.hash.0);
    v[32..40].copy_from_slice(&e.share_target.0.to_be_bytes());
    v[40..48].copy_from_slice(&e.timestamp.to_be_bytes());
    v[48..].copy_from_slice(&e.shares.to_be_bytes());
    v
}

fn decode_canon(b: &[u8]) -> Result<CanonEntry, StoreError> {
    if b.len() != 52 {
        return Err(StoreError::Corrupt { cf: CF_CANONICAL, reason: format!("expected 52 bytes, found {}", b.len()) });
    }
    Ok(CanonEntry {
        hash: H256(b[..32].try_into().unwrap()),
        share_target: ShareTarget(u64::from_be_bytes(b[32..40].try_into().unwrap())),
        timestamp: u64::from_be_bytes(b[40..48].try_into().unwrap()),
        shares: u32::from_be_bytes(b[48..].try_into().unwrap()),
    })
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

fn unjson<T: for<'de> Deserialize<'de>>(cf: &'static str, b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt { cf, reason: e.to_string() })
}

fn hash_key(b: &[u8], cf: &'static str) -> Result<H256, StoreError> {
    b.try_into().map(H256).map_err(|_| StoreError::Corrupt { cf, reason: format!("expected a 32-byte hash, found {} bytes", b.len()) })
}

impl Store {
    /// Opens (creating if missing) the database at `path` and checks its consistency.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_SIZE);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        let mut cf_opts = Options::default();
        cf_opts.set_write_buffer_size(WRITE_BUFFER_SIZE);
        cf_opts.set_block_based_table_factory(&table);
        cf_opts.set_compression_type(DBCompressionType::Lz4);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_open_files(MAX_OPEN_FILES);
        db_opts.set_keep_log_file_num(KEEP_LOG_FILES);
        // A commit is one synced write (or, for a range fetched by sync, writes synced together
        // at its end), so only the writes in flight when the machine stopped can be torn or
        // missing: drop a torn tail, but refuse damage anywhere before it
        // (RocksDB's default, point-in-time recovery, would silently stop replaying there and
        // lose every committed block after it).
        db_opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
        let damaged = |e: StoreError| e.damaged_in(path);
        Self::refuse_headless(path).map_err(damaged)?;
        Self::refuse_older_layout(path).map_err(damaged)?;
        let cfs = ALL_CFS.iter().map(|n| ColumnFamilyDescriptor::new(*n, cf_opts.clone()));
        let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(|e| damaged(e.into()))?;
        let store = Store {
            db,
            tree: RwLock::new(AccountTree::default()),
            mem: RwLock::new(Mem { head: None, supply: Supply::default() }),
            write_failed: Default::default(),
            evidence_lock: Default::default(),
            blob_bytes: Default::default(),
        };
        store.load_and_check().map_err(damaged)?;
        store.ensure_job_index().map_err(damaged)?;
        *store.blob_bytes.lock().unwrap_or_else(|p| p.into_inner()) = store.count_blob_bytes().map_err(damaged)?;
        Ok(store)
    }

    /// A directory with table files, a MANIFEST or a write-ahead log but no `CURRENT` file is a
    /// database that lost its root: RocksDB would create a new, empty one beside the old files
    /// and the node would start a fresh chain over its own. Refuse it.
    fn refuse_headless(path: &Path) -> Result<(), StoreError> {
        let Ok(dir) = std::fs::read_dir(path) else { return Ok(()) }; // nothing there yet
        let names: Vec<String> = dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        if names.iter().any(|n| n == "CURRENT") {
            return Ok(());
        }
        let kept = |n: &String| n.ends_with(".sst") || n.ends_with(".log") || n.starts_with("MANIFEST-");
        let files = names.iter().filter(|n| kept(n)).count();
        if files == 0 {
            return Ok(());
        }
        Err(StoreError::Corrupt {
            cf: "CURRENT",
            reason: format!("the CURRENT file is missing, but {files} table, log or MANIFEST files are there"),
        })
    }

    /// A database of another layout has other column families than this one (schema 1 lacks
    /// `workers`, schema 2 still has `undo`): read its schema version read-only (creating
    /// nothing, so the older cpcd can still open it) and refuse it with [`StoreError::Schema`],
    /// which says what to do.
    fn refuse_older_layout(path: &Path) -> Result<(), StoreError> {
        let Ok(existing) = DB::list_cf(&Options::default(), path) else { return Ok(()) }; // no database yet
        let ours = |e: &String| e == "default" || ALL_CFS.contains(&e.as_str());
        if ALL_CFS.iter().all(|cf| existing.iter().any(|e| e == cf)) && existing.iter().all(ours) {
            return Ok(());
        }
        let db = DB::open_cf_for_read_only(&Options::default(), path, &existing, false)?;
        let found = match existing.iter().any(|e| e == CF_META) {
            true => {
                let meta = db.cf_handle(CF_META).expect("listed above");
                match db.get_cf(meta, KEY_SCHEMA)? {
                    Some(v) if v.len() == 4 => u32::from_le_bytes(v.as_slice().try_into().expect("4 bytes")),
                    _ => 0,
                }
            }
            false => 0,
        };
        Err(StoreError::Schema { expected: SCHEMA_VERSION, found })
    }

    /// One synced atomic write; an I/O failure marks the store failed ([`Store::write_failed`]).
    fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write(batch, Durability::Synced)
    }

    /// One atomic write, synced or not; an I/O failure marks the store failed.
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(durability == Durability::Synced);
        let res = self.db.write_opt(batch, &wo);
        self.io_result(res)
    }

    fn io_result(&self, res: Result<(), rocksdb::Error>) -> Result<(), StoreError> {
        res.map_err(|e| {
            let e = StoreError::from(e);
            if e.is_io_failure() {
                self.write_failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            e
        })
    }

    /// Syncs every [`Durability::Deferred`] write made so far: once this returns they are on
    /// disk, as a synced write would be.
    pub fn persist(&self) -> Result<(), StoreError> {
        let res = self.db.flush_wal(true);
        self.io_result(res)
    }

    /// True once a write failed on the files: do not flush or close this store (drop it with
    /// `std::mem::forget`); reopen it once the fault is fixed.
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("all column families are opened")
    }

    fn load_and_check(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, KEY_SCHEMA)? {
            None => {
                let mut b = WriteBatch::default();
                b.put_cf(meta, KEY_SCHEMA, SCHEMA_VERSION.to_le_bytes());
                self.write_synced(b)?;
            }
            Some(v) => {
                let found = u32::from_le_bytes(v.as_slice().try_into().map_err(|_| StoreError::Corrupt {
                    cf: CF_META,
                    reason: "schema version".into(),
                })?);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { expected: SCHEMA_VERSION, found });
                }
            }
        }
        let Some(head_bytes) = self.db.get_cf(meta, KEY_HEAD)? else {
            return Ok(()); // empty database: nothing to check yet
        };
        let head = decode_head(&head_bytes)?;
        let supply: Supply = match self.db.get_cf(meta, KEY_SUPPLY)? {
            Some(b) => unjson(CF_META, &b)?,
            None => return Err(StoreError::Inconsistent("head is set but supply is missing".into())),
        };
        // The head block and its canonical index agree.
        let stored = self
            .stored_block(&head.hash)?
            .ok_or_else(|| StoreError::Inconsistent(format!("head block {} is missing", head.hash)))?;
        if stored.header.height != head.height || stored.header.state_root != head.state_root {
            return Err(StoreError::Inconsistent(format!(
                "head pointer says height {} root {}, the block says height {} root {}",
                head.height, head.state_root, stored.header.height, stored.header.state_root
            )));
        }
        let canon = self.hash_at(head.height)?;
        if canon != Some(head.hash) {
            return Err(StoreError::Inconsistent(format!(
                "canonical index at height {}: expected {}, found {:?}",
                head.height, head.hash, canon
            )));
        }
        // Rebuild the account tree from every stored account and compare roots.
        let mut leaves: Vec<(u64, H256)> = Vec::new();
        let mut sum: u128 = 0;
        for item in self.db.iterator_cf(self.cf(CF_ACCOUNTS), rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let addr = Address(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                cf: CF_ACCOUNTS,
                reason: format!("expected a 20-byte key, found {} bytes", k.len()),
            })?);
            let e = decode_account(&v)?;
            sum = sum.checked_add(e.account.balance).ok_or_else(|| StoreError::Inconsistent("balance sum overflows".into()))?;
            leaves.push((e.slot, account_leaf(&addr, &e.account)));
        }
        let (mut bonded, mut unbonding) = (0u128, 0u128);
        for item in self.db.iterator_cf(self.cf(CF_STAKING), rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let e = decode_stake(&v)?;
            leaves.push((e.slot, e.leaf(&k)));
            if e.is_removed() {
                continue;
            }
            let key = StakeKey::decode(&k)
                .ok_or_else(|| StoreError::Corrupt { cf: CF_STAKING, reason: format!("unknown key {}", hex::encode(&k)) })?;
            let rec = StakeRecord::from_bytes(&key, &e.value).map_err(|reason| StoreError::Corrupt { cf: CF_STAKING, reason })?;
            let add = |acc: u128, x: u128| acc.checked_add(x).ok_or_else(|| StoreError::Inconsistent("staking sums overflow".into()));
            match rec {
                StakeRecord::Validator(v) => bonded = add(bonded, v.tokens)?,
                StakeRecord::Unbonding(u) => unbonding = add(unbonding, u.balance)?,
                _ => {}
            }
        }
        if (bonded, unbonding) != (supply.bonded, supply.unbonding) {
            return Err(StoreError::Inconsistent(format!(
                "staking records: bonded {bonded}, unbonding {unbonding}; the supply says bonded {}, unbonding {}",
                supply.bonded, supply.unbonding
            )));
        }
        let parts = [supply.liquid, supply.bonded, supply.unbonding, supply.rewards].iter().try_fold(0u128, |a, x| a.checked_add(*x));
        if parts != Some(supply.total) {
            return Err(StoreError::Inconsistent(format!(
                "supply: total {} differs from liquid + bonded + unbonding + rewards = {parts:?}",
                supply.total
            )));
        }
        leaves.sort_unstable_by_key(|(s, _)| *s);
        for (i, (slot, _)) in leaves.iter().enumerate() {
            if *slot != i as u64 {
                return Err(StoreError::Inconsistent(format!("account slots: expected slot {i}, found {slot}")));
            }
        }
        if sum != supply.liquid {
            return Err(StoreError::Inconsistent(format!(
                "sum of balances {sum} differs from the liquid supply {}",
                supply.liquid
            )));
        }
        let count = leaves.len() as u64;
        let tree = AccountTree::from_leaves(leaves.into_iter().map(|(_, l)| l).collect());
        let root = state_root(&tree.root(), count, &supply);
        if root != head.state_root {
            return Err(StoreError::Inconsistent(format!(
                "state root rebuilt from accounts: expected {} (head block {}), found {root}",
                head.state_root, head.height
            )));
        }
        *self.tree.write() = tree;
        *self.mem.write() = Mem { head: Some(head), supply };
        Ok(())
    }

    /// Builds the job index from the job records if this datadir has none yet (one written
    /// by a cpcd before the index; a new datadir gets the marker at once).
    fn ensure_job_index(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        if self.db.get_pinned_cf(meta, KEY_JOB_INDEX)?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        let mut jobs = 0usize;
        for (k, e) in self.stake_prefix(&[crate::stake::TAG_JOB]).map_err(store_error)? {
            let Some(key @ StakeKey::Job(id)) = StakeKey::decode(&k) else { continue };
            let Ok(StakeRecord::Job(rec)) = StakeRecord::from_bytes(&key, &e.value) else {
                return Err(StoreError::Corrupt { cf: CF_STAKING, reason: format!("job record {id} does not decode") });
            };
            for k in job_index_keys(&rec, e.slot, &id) {
                batch.put_cf(meta, k, []);
            }
            jobs += 1;
        }
        batch.put_cf(meta, KEY_JOB_INDEX, []);
        self.write_synced(batch)?;
        if jobs > 0 {
            tracing::info!(jobs, "built the job index of this datadir");
        }
        Ok(())
    }

    /// Jobs in posting order (posted height, then the order their block created them), at
    /// most `limit`, after the job `after` (exclusive) when given; `None` when `after` names no
    /// job. Each is `(id, record)`. Reads one index page, not every job record.
    pub fn jobs(&self, which: JobList<'_>, after: Option<&H256>, limit: usize) -> Result<Option<Vec<(H256, crate::market::JobRecord)>>, StoreError> {
        let prefix = match which {
            JobList::Open => JOB_OPEN_PREFIX.to_vec(),
            JobList::Worker(w) => [JOB_WORKER_PREFIX, &w.0[..]].concat(),
        };
        let start = match after {
            None => prefix.clone(),
            Some(id) => match self.job_entry(id)? {
                // The smallest key past the cursor's place: its place with a zero byte added.
                Some((rec, slot)) => [&prefix[..], &job_place(&rec, slot, id)[..], &[0u8][..]].concat(),
                None => return Ok(None),
            },
        };
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward));
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let rest = &k[prefix.len()..];
            let id = rest.get(16..).and_then(|b| <[u8; 32]>::try_from(b).ok()).map(H256).ok_or_else(|| StoreError::Corrupt {
                cf: CF_META,
                reason: format!("job index entry: expected a 48-byte place, found {} bytes", rest.len()),
            })?;
            let (rec, _) = self.job_entry(&id)?.ok_or_else(|| StoreError::Inconsistent(format!("the job index lists {id}, which has no record")))?;
            out.push((id, rec));
        }
        Ok(Some(out))
    }

    /// A job's record and its tree slot.
    fn job_entry(&self, id: &H256) -> Result<Option<(crate::market::JobRecord, u64)>, StoreError> {
        let key = StakeKey::Job(*id);
        let Some(e) = self.stake_entry(&key.encode()).map_err(store_error)?.filter(|e| !e.is_removed()) else { return Ok(None) };
        match StakeRecord::from_bytes(&key, &e.value).map_err(|reason| StoreError::Corrupt { cf: CF_STAKING, reason })? {
            StakeRecord::Job(rec) => Ok(Some((rec, e.slot))),
            _ => Err(StoreError::Corrupt { cf: CF_STAKING, reason: format!("job key {id} holds another record") }),
        }
    }

    /// The canonical head, `None` before genesis.
    pub fn head(&self) -> Option<Head> {
        self.mem.read().head
    }

    /// Genesis block hash, `None` before genesis.
    pub fn genesis_hash(&self) -> Result<Option<H256>, StoreError> {
        self.db.get_cf(self.cf(CF_META), KEY_GENESIS)?.map(|b| hash_key(&b, CF_META)).transpose()
    }

    /// Keeps a market blob under its content root (computed here, so that a stored blob always
    /// matches its key) and returns the root. Idempotent.
    pub fn put_blob(&self, blob: &crate::market::Blob) -> Result<H256, StoreError> {
        self.put_blob_capped(blob, MAX_BLOB_STORE_BYTES)
    }

    /// [`Store::put_blob`] with a chosen cap on the bytes of blobs held.
    pub fn put_blob_capped(&self, blob: &crate::market::Blob, cap: u64) -> Result<H256, StoreError> {
        let root = blob.root();
        let key = blob_key(&root);
        let mut held = self.blob_bytes.lock().unwrap_or_else(|p| p.into_inner());
        if self.db.get_pinned_cf(self.cf(CF_META), &key)?.is_some() {
            return Ok(root);
        }
        let value = blob.encode();
        let after = *held + value.len() as u64;
        if after > cap {
            return Err(StoreError::BlobsFull { held: *held, cap, found: value.len() as u64 });
        }
        // Looked at again once UNREFERENCED_BLOB_BLOCKS have passed: pruned then unless a job
        // uses it (a job closing schedules its own look, `retention` blocks after it closed).
        let due = self.head().map_or(0, |h| h.height).saturating_add(UNREFERENCED_BLOB_BLOCKS);
        let meta = self.cf(CF_META);
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, key, value);
        batch.put_cf(meta, blob_due_key(due, &root), []);
        batch.delete_cf(meta, blob_gone_key(&root));
        self.db.write(batch)?;
        *held = after;
        Ok(root)
    }

    /// The height a blob was pruned at, if this node held it once and pruned it.
    pub fn blob_pruned_at(&self, root: &H256) -> Result<Option<u64>, StoreError> {
        match self.db.get_pinned_cf(self.cf(CF_META), blob_gone_key(root))? {
            None => Ok(None),
            Some(b) => Ok(Some(u64::from_be_bytes(b.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                cf: CF_META,
                reason: format!("blobgone entry of {root}: expected 8 bytes, found {}", b.len()),
            })?))),
        }
    }

    /// Whether a blob is still needed at height `now`: a job that uses it is open or claimed,
    /// or closed no more than its `retention` blocks before `now`; a blob no job uses is
    /// needed until its put's look (`UNREFERENCED_BLOB_BLOCKS`) comes due.
    fn blob_needed(&self, root: &H256, now: u64) -> Result<bool, StoreError> {
        let prefix = [BLOB_REF_PREFIX, &root.0[..]].concat();
        let meta = self.cf(CF_META);
        for item in self.db.iterator_cf(meta, rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward)) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let job = H256(k[prefix.len()..].try_into().map_err(|_| StoreError::Corrupt {
                cf: CF_META,
                reason: format!("blobref entry of {root}: expected a 32-byte job id, found {} bytes", k.len() - prefix.len()),
            })?);
            let record = self.stake_record(&StakeKey::Job(job)).map_err(store_error)?;
            let Some(StakeRecord::Job(rec)) = record else { continue };
            match rec.closed_height {
                None => return Ok(true),
                Some(c) if c.saturating_add(rec.retention) >= now => return Ok(true),
                Some(_) => {}
            }
        }
        Ok(false)
    }

    /// Prunes the blobs no longer needed at height `now` (the committed head): looks at due
    /// entries up to `now`, at most `limit` of them, and deletes each blob that no open job
    /// uses and whose every job closed more than its retention ago (or that no job ever used,
    /// [`UNREFERENCED_BLOB_BLOCKS`] after it was put). Node-local: the chain validates without
    /// the data (a certified block is taken without blobs, docs/MARKET.md).
    pub fn prune_blobs(&self, now: u64, limit: usize) -> Result<BlobPrune, StoreError> {
        let meta = self.cf(CF_META);
        let mut report = BlobPrune::default();
        // The look-ups and the deletes under the lock of puts and commits of blob users, so
        // that a blob put or newly used meanwhile is not deleted under it.
        let mut held = self.blob_bytes.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = WriteBatch::default();
        let end = [BLOB_DUE_PREFIX, &now.saturating_add(1).to_be_bytes()[..]].concat();
        let mut seen = std::collections::HashSet::new();
        for item in self.db.iterator_cf(meta, rocksdb::IteratorMode::From(BLOB_DUE_PREFIX, rocksdb::Direction::Forward)) {
            let (k, _) = item?;
            if !k.starts_with(BLOB_DUE_PREFIX) || k.as_ref() >= end.as_slice() {
                break;
            }
            if report.checked as usize >= limit {
                report.more = true;
                break;
            }
            report.checked += 1;
            batch.delete_cf(meta, &k);
            let root = H256(k[BLOB_DUE_PREFIX.len() + 8..].try_into().map_err(|_| StoreError::Corrupt {
                cf: CF_META,
                reason: format!("blobdue entry {}: expected 8 + 32 bytes after the prefix", hex::encode(&k)),
            })?);
            if !seen.insert(root) || self.blob_needed(&root, now)? {
                continue;
            }
            let Some(v) = self.db.get_pinned_cf(meta, blob_key(&root))? else { continue };
            report.pruned += 1;
            report.bytes += v.len() as u64;
            batch.delete_cf(meta, blob_key(&root));
            batch.put_cf(meta, blob_gone_key(&root), now.to_be_bytes());
            // Its references go too: every job they name is closed past its retention.
            let prefix = [BLOB_REF_PREFIX, &root.0[..]].concat();
            for item in self.db.iterator_cf(meta, rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward)) {
                let (r, _) = item?;
                if !r.starts_with(&prefix) {
                    break;
                }
                batch.delete_cf(meta, &r);
            }
        }
        if report.checked > 0 {
            self.db.write(batch)?;
            *held = held.saturating_sub(report.bytes);
        }
        Ok(report)
    }

    /// Bytes of market blobs held (what [`MAX_BLOB_STORE_BYTES`] bounds).
    pub fn blob_bytes(&self) -> u64 {
        *self.blob_bytes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_blob_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let iter = self.db.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::From(BLOB_PREFIX, rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(BLOB_PREFIX) {
                break;
            }
            total += v.len() as u64;
        }
        Ok(total)
    }

    /// The genesis document the chain was created from (opaque bytes to this crate).
    pub fn genesis_doc(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_META), KEY_GENESIS_DOC)?)
    }

    /// Commits the genesis block (height 0) with its allocation and the genesis document.
    pub fn commit_genesis(&self, block: &Block, outcome: &BlockOutcome, genesis_doc: &[u8]) -> Result<(), StoreError> {
        if let Some(g) = self.genesis_hash()? {
            return Err(StoreError::AlreadyInitialized(g));
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), KEY_GENESIS, block.hash().0);
        batch.put_cf(self.cf(CF_META), KEY_GENESIS_DOC, genesis_doc);
        self.commit_with(batch, block, &[], outcome, Durability::Synced)
    }

    /// Commits a block on top of the head: one synced atomic write.
    pub fn commit_block(&self, block: &Block, tx_hashes: &[H256], outcome: &BlockOutcome) -> Result<(), StoreError> {
        self.commit_on_head(WriteBatch::default(), block, tx_hashes, outcome, Durability::Synced)
    }

    /// Commits a decided block on top of the head together with its commit certificate (the
    /// consensus layer's bytes): one synced atomic write, so no block is ever durable without
    /// the certificate that made it final, nor a certificate without its block.
    pub fn commit_certified_block(
        &self,
        block: &Block,
        tx_hashes: &[H256],
        outcome: &BlockOutcome,
        certificate: &[u8],
    ) -> Result<(), StoreError> {
        self.commit_certified_block_with(block, tx_hashes, outcome, certificate, Durability::Synced)
    }

    /// [`Store::commit_certified_block`], synced or deferred (one atomic write either way).
    pub fn commit_certified_block_with(
        &self,
        block: &Block,
        tx_hashes: &[H256],
        outcome: &BlockOutcome,
        certificate: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), cert_key(block.header.height), certificate);
        self.commit_on_head(batch, block, tx_hashes, outcome, durability)
    }

    /// The commit certificate stored with the committed block at `height` (every block but
    /// genesis).
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_META), cert_key(height))?)
    }

    /// Keeps a piece of evidence (synced write). Returns false when it was already kept.
    pub fn put_evidence(&self, height: u64, id: &H256, bytes: &[u8]) -> Result<bool, StoreError> {
        let key = evidence_key(height, id);
        let _one_at_a_time = self.evidence_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.db.get_pinned_cf(self.cf(CF_META), &key)?.is_some() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_META), key, bytes);
        self.write_synced(b)?;
        Ok(true)
    }

    /// The committed transactions of an address (sent, received, or paying it as a worker),
    /// newest first: at most `limit` of them before `before` = (height, index in its block),
    /// exclusive, or from the head when `before` is None. Each is `(height, index, tx hash)`.
    pub fn account_txs(&self, addr: &Address, before: Option<(u64, u32)>, limit: usize) -> Result<Vec<(u64, u32, H256)>, StoreError> {
        let prefix = [KEY_ADDR_TX_PREFIX, &addr.0[..]].concat();
        // Reverse iteration starts at the last key <= the seek key: exclusive of `before`.
        let seek = match before {
            Some((0, 0)) => return Ok(vec![]),
            Some((h, 0)) => addr_tx_key(addr, h - 1, u32::MAX),
            Some((h, i)) => addr_tx_key(addr, h, i - 1),
            None => addr_tx_key(addr, u64::MAX, u32::MAX),
        };
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::From(&seek, rocksdb::Direction::Reverse));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let rest = &k[prefix.len()..];
            if rest.len() != 12 || v.len() != 32 {
                return Err(StoreError::Corrupt {
                    cf: CF_META,
                    reason: format!("account history entry: expected a 12-byte place and a 32-byte hash, found {} and {}", rest.len(), v.len()),
                });
            }
            let height = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let index = u32::from_be_bytes(rest[8..].try_into().expect("4 bytes"));
            out.push((height, index, H256(v[..].try_into().expect("32 bytes"))));
        }
        Ok(out)
    }

    /// The hash of the committed SUBMIT_RESULT that answered `task_id`, if any.
    pub fn task_tx(&self, task_id: &str) -> Result<Option<H256>, StoreError> {
        self.db.get_pinned_cf(self.cf(CF_TASKS), task_id.as_bytes())?.map(|b| hash_key(&b, CF_TASKS)).transpose()
    }

    /// Kept evidence of heights `from` and above, in height order, at most `limit` pieces.
    pub fn evidence(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let start = [KEY_EVIDENCE_PREFIX, &from.to_be_bytes()[..]].concat();
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_META), rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(KEY_EVIDENCE_PREFIX) || out.len() >= limit {
                break;
            }
            let h = u64::from_be_bytes(k[KEY_EVIDENCE_PREFIX.len()..KEY_EVIDENCE_PREFIX.len() + 8].try_into().expect("8 bytes"));
            out.push((h, v.to_vec()));
        }
        Ok(out)
    }

    fn commit_on_head(
        &self,
        batch: WriteBatch,
        block: &Block,
        tx_hashes: &[H256],
        outcome: &BlockOutcome,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let head = self.head().ok_or_else(|| StoreError::Inconsistent("no genesis".into()))?;
        if block.header.prev_hash != head.hash || block.header.height != head.height + 1 {
            return Err(StoreError::NotOnHead {
                height: block.header.height,
                expected: format!("{} at height {}", head.hash, head.height),
                found: format!("{} at height {}", block.header.prev_hash, block.header.height.wrapping_sub(1)),
            });
        }
        self.commit_with(batch, block, tx_hashes, outcome, durability)
    }

    fn commit_with(
        &self,
        mut batch: WriteBatch,
        block: &Block,
        tx_hashes: &[H256],
        outcome: &BlockOutcome,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let hash = block.hash();
        let h = &block.header;
        let ch: &StateChanges = &outcome.changes;
        let stored = StoredBlock {
            header: h.clone(),
            tx_hashes: tx_hashes.to_vec(),
            proposer_pub_key: block.proposer_pub_key,
            signature: block.signature,
            consensus: block.consensus.clone(),
        };
        batch.put_cf(self.cf(CF_BLOCKS), hash.0, json(&stored));
        let canon = CanonEntry {
            hash,
            share_target: h.share_target,
            timestamp: h.timestamp,
            shares: outcome.rewards.shares.try_into().unwrap_or(u32::MAX),
        };
        batch.put_cf(self.cf(CF_CANONICAL), h.height.to_be_bytes(), encode_canon(&canon));
        let (txs_cf, rc_cf) = (self.cf(CF_TXS), self.cf(CF_RECEIPTS));
        for (i, (tx, out)) in block.transactions.iter().zip(&outcome.outcomes).enumerate() {
            batch.put_cf(txs_cf, out.tx_hash.0, tx.canonical_json());
            let receipt = Receipt {
                tx_hash: out.tx_hash,
                status: out.status,
                block_height: h.height,
                block_hash: hash,
                index: i as u32,
                from_address: tx.from_address,
                gas_used: out.gas_used,
                fee_paid: out.fee_paid,
                error: out.error.clone(),
            };
            batch.put_cf(rc_cf, out.tx_hash.0, json(&receipt));
            for a in tx_addresses(tx) {
                batch.put_cf(self.cf(CF_META), addr_tx_key(&a, h.height, i as u32), out.tx_hash.0);
            }
        }
        let acc_cf = self.cf(CF_ACCOUNTS);
        for (addr, e) in &ch.accounts {
            batch.put_cf(acc_cf, addr.0, encode_account(e));
        }
        for (key, e) in &ch.stake {
            batch.put_cf(self.cf(CF_STAKING), key, encode_stake(e));
        }
        // The blob index (node-local): which jobs use which blobs, and when to look at a
        // blob again after its job closed (`retention` blocks on, Store::prune_blobs).
        let mut blob_users = false;
        for (key, e) in &ch.stake {
            let Some(StakeKey::Job(job)) = StakeKey::decode(key) else { continue };
            // The job index: drop the keys of the record as it was, add those of the record as
            // it is (a batch applies in order, so a key in both stays).
            if let Some((before, slot)) = self.job_entry(&job)? {
                for k in job_index_keys(&before, slot, &job) {
                    batch.delete_cf(self.cf(CF_META), k);
                }
            }
            if e.is_removed() {
                continue;
            }
            let Ok(StakeRecord::Job(rec)) = StakeRecord::from_bytes(&StakeKey::Job(job), &e.value) else { continue };
            for k in job_index_keys(&rec, e.slot, &job) {
                batch.put_cf(self.cf(CF_META), k, []);
            }
            blob_users = true;
            for root in job_blob_roots(&rec) {
                batch.put_cf(self.cf(CF_META), blob_ref_key(&root, &job), []);
                if let Some(closed) = rec.closed_height {
                    batch.put_cf(self.cf(CF_META), blob_due_key(closed.saturating_add(rec.retention).saturating_add(1), &root), []);
                }
            }
        }
        for (task, txh) in &ch.task_ids {
            batch.put_cf(self.cf(CF_TASKS), task.as_bytes(), txh.0);
        }
        // The worker index: one entry per worker paid in this block.
        let mut workers: BTreeMap<Address, (Option<WorkerStats>, WorkerStats)> = BTreeMap::new();
        for (w, _) in &outcome.rewards.worker_payments {
            if !workers.contains_key(w) {
                let before = self.worker_stats(w)?;
                workers.insert(*w, (before, before.unwrap_or_default()));
            }
            let entry = &mut workers.get_mut(w).expect("inserted above").1;
            entry.shares += 1;
            entry.rewards = entry.rewards.saturating_add(outcome.rewards.share_reward);
            entry.last_share_height = h.height;
        }
        for (w, (_, after)) in &workers {
            batch.put_cf(self.cf(CF_WORKERS), w.0, json(after));
        }
        batch.put_cf(self.cf(CF_REWARDS), hash.0, json(&outcome.rewards));
        let head = Head::of(h, hash);
        batch.put_cf(self.cf(CF_META), KEY_HEAD, encode_head(&head));
        batch.put_cf(self.cf(CF_META), KEY_SUPPLY, json(&ch.supply));

        // A block that uses blobs is written under the blobs' lock, so that a prune pass never
        // deletes a blob between deciding that nothing uses it and this block's new use.
        let _blobs = blob_users.then(|| self.blob_bytes.lock().unwrap_or_else(|p| p.into_inner()));
        // Hold the tree lock across the write so readers never see new accounts with an old tree.
        let mut tree = self.tree.write();
        self.write(batch, durability)?;
        tree.apply(&ch.tree);
        *self.mem.write() = Mem { head: Some(head), supply: ch.supply };
        Ok(())
    }

    /// Stores a block that is not (yet) canonical: header, body and transactions, nothing
    /// else. Fork choice may make it canonical later through [`Store::commit_block`].
    pub fn put_block_body(&self, block: &Block, tx_hashes: &[H256]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let stored = StoredBlock {
            header: block.header.clone(),
            tx_hashes: tx_hashes.to_vec(),
            proposer_pub_key: block.proposer_pub_key,
            signature: block.signature,
            consensus: block.consensus.clone(),
        };
        batch.put_cf(self.cf(CF_BLOCKS), block.hash().0, json(&stored));
        for (tx, h) in block.transactions.iter().zip(tx_hashes) {
            batch.put_cf(self.cf(CF_TXS), h.0, tx.canonical_json());
        }
        self.write_synced(batch)?;
        Ok(())
    }

    pub fn has_block(&self, hash: &H256) -> Result<bool, StoreError> {
        Ok(self.db.get_pinned_cf(self.cf(CF_BLOCKS), hash.0)?.is_some())
    }

    /// Canonical block hash at `height`.
    pub fn hash_at(&self, height: u64) -> Result<Option<H256>, StoreError> {
        Ok(self.canon_at(height)?.map(|e| e.hash))
    }

    /// The canonical index entry at `height`: hash, share target, timestamp, share count.
    pub fn canon_at(&self, height: u64) -> Result<Option<CanonEntry>, StoreError> {
        self.db.get_pinned_cf(self.cf(CF_CANONICAL), height.to_be_bytes())?.map(|b| decode_canon(&b)).transpose()
    }

    /// A worker's shares, rewards and last share height on the canonical chain.
    pub fn worker_stats(&self, worker: &Address) -> Result<Option<WorkerStats>, StoreError> {
        self.db.get_pinned_cf(self.cf(CF_WORKERS), worker.0)?.map(|b| unjson(CF_WORKERS, &b)).transpose()
    }

    pub fn stored_block(&self, hash: &H256) -> Result<Option<StoredBlock>, StoreError> {
        self.db.get_cf(self.cf(CF_BLOCKS), hash.0)?.map(|b| unjson(CF_BLOCKS, &b)).transpose()
    }

    pub fn header(&self, hash: &H256) -> Result<Option<Header>, StoreError> {
        Ok(self.stored_block(hash)?.map(|b| b.header))
    }

    /// The full block with its transactions.
    pub fn block(&self, hash: &H256) -> Result<Option<Block>, StoreError> {
        let Some(sb) = self.stored_block(hash)? else { return Ok(None) };
        let mut transactions = Vec::with_capacity(sb.tx_hashes.len());
        for h in &sb.tx_hashes {
            transactions.push(self.tx(h)?.ok_or_else(|| StoreError::Inconsistent(format!("block {hash} lists tx {h}, which is missing")))?);
        }
        Ok(Some(Block { header: sb.header, transactions, proposer_pub_key: sb.proposer_pub_key, signature: sb.signature, consensus: sb.consensus }))
    }

    pub fn tx(&self, hash: &H256) -> Result<Option<Transaction>, StoreError> {
        self.db
            .get_pinned_cf(self.cf(CF_TXS), hash.0)?
            .map(|b| Transaction::from_json_slice(&b).map_err(|e| StoreError::Corrupt { cf: CF_TXS, reason: e.to_string() }))
            .transpose()
    }

    pub fn receipt(&self, hash: &H256) -> Result<Option<Receipt>, StoreError> {
        self.db.get_pinned_cf(self.cf(CF_RECEIPTS), hash.0)?.map(|b| unjson(CF_RECEIPTS, &b)).transpose()
    }

    pub fn rewards(&self, block_hash: &H256) -> Result<Option<RewardSummary>, StoreError> {
        self.db.get_cf(self.cf(CF_REWARDS), block_hash.0)?.map(|b| unjson(CF_REWARDS, &b)).transpose()
    }

    /// The committed account (zero balance, nonce 0 for an unknown address).
    pub fn account(&self, addr: &Address) -> Result<Account, StoreError> {
        Ok(self.entry(addr)?.map(|e| e.account).unwrap_or_default())
    }

    fn entry(&self, addr: &Address) -> Result<Option<AccountEntry>, StoreError> {
        self.db.get_pinned_cf(self.cf(CF_ACCOUNTS), addr.0)?.map(|b| decode_account(&b)).transpose()
    }

    /// Flushes memtables to SST files (used at shutdown; committed blocks are already durable
    /// through the synced WAL).
    pub fn flush(&self) -> Result<(), StoreError> {
        for cf in ALL_CFS {
            self.db.flush_cf(self.cf(cf))?;
        }
        Ok(())
    }
}

impl NodeReader for Store {
    fn node(&self, level: usize, index: u64) -> H256 {
        self.tree.read().node(level, index)
    }
}

impl StateView for Store {
    fn account_entry(&self, addr: &Address) -> Result<Option<AccountEntry>, StorageError> {
        Ok(self.entry(addr)?)
    }
    fn account_count(&self) -> u64 {
        self.tree.read().len()
    }
    fn supply(&self) -> Supply {
        self.mem.read().supply
    }
    fn task_known(&self, task_id: &str) -> Result<bool, StorageError> {
        Ok(self.db.get_pinned_cf(self.cf(CF_TASKS), task_id.as_bytes()).map_err(StoreError::from)?.is_some())
    }
    fn stake_entry(&self, key: &[u8]) -> Result<Option<StakeEntry>, StorageError> {
        Ok(self.db.get_pinned_cf(self.cf(CF_STAKING), key).map_err(StoreError::from)?.map(|b| decode_stake(&b)).transpose()?)
    }
    fn stake_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        let mut end = prefix.to_vec();
        // The smallest key above every key with this prefix (prefixes here never end in 0xff).
        if let Some(last) = end.last_mut() {
            *last = last.wrapping_add(1);
        }
        Ok(self.stake_range(prefix, &end)?)
    }
    fn stake_range(&self, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, StakeEntry)>, StorageError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(self.cf(CF_STAKING), rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item.map_err(StoreError::from)?;
            if k.as_ref() >= to {
                break;
            }
            let e = decode_stake(&v)?;
            if !e.is_removed() {
                out.push((k.to_vec(), e));
            }
        }
        Ok(out)
    }
    fn active_set_at(&self, height: u64) -> Result<Option<ActiveSet>, StorageError> {
        let hi = StakeKey::Set(height).encode();
        let iter = self.db.iterator_cf(self.cf(CF_STAKING), rocksdb::IteratorMode::From(&hi, rocksdb::Direction::Reverse));
        for item in iter {
            let (k, v) = item.map_err(StoreError::from)?;
            let Some(key @ StakeKey::Set(_)) = StakeKey::decode(&k) else { return Ok(None) };
            let e = decode_stake(&v)?;
            if e.is_removed() {
                continue;
            }
            return match StakeRecord::from_bytes(&key, &e.value).map_err(StorageError::corrupt)? {
                StakeRecord::Set(s) => Ok(Some(s)),
                _ => unreachable!("set keys hold sets"),
            };
        }
        Ok(None)
    }
    fn blob(&self, root: &H256) -> Result<Option<std::sync::Arc<crate::market::Blob>>, StorageError> {
        match self.db.get_pinned_cf(self.cf(CF_META), blob_key(root)).map_err(StoreError::from)? {
            None => Ok(None),
            Some(b) => {
                let blob = crate::market::Blob::decode(&b).map_err(|why| StorageError::corrupt(format!("blob {root}: {why}")))?;
                Ok(Some(std::sync::Arc::new(blob)))
            }
        }
    }
}
