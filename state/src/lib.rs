//! cpc state: accounts, the incremental state root, the pure state transition, and the
//! RocksDB store behind the [`StateView`] trait.
//!
//! `exec` and `tree` are pure (no I/O): they replay from vectors and run in property tests
//! over [`MemState`]. `store` is the only module that touches RocksDB.

pub mod exec;
pub mod market;
pub mod params;
pub mod stake;
pub mod stake_exec;
pub mod stake_query;
pub mod stake_tx;
pub mod staking;
pub mod store;
pub mod tree;
pub mod view;

pub use exec::{state_root, ApplyError, BlockExecutor, BlockOutcome, RewardSummary, StateChanges, TxError, TxOutcome};
pub use market::{escrow_address, job_events, job_task_id, parse_job_task_id, Blob, BlobKind, JobRecord, JobEvent, JobEventKind, JobResultError, JobStatus, JobTx, MarketError, MarketSummary};
pub use params::{ChainParams, Economics, MarketParams, PocParams, StakingParams};
pub use stake_exec::{BlockInputs, Infraction, LastCommit, StakingError, StakingSummary};
pub use stake_tx::{CreateValidator, StakingTx};
pub use store::{BlobPrune, CanonEntry, Durability, Head, JobList, Store, StoreError, StoredBlock, WorkerStats, MAX_BLOB_STORE_BYTES, UNREFERENCED_BLOB_BLOCKS};
pub use tree::{account_leaf, AccountTree};
pub use view::{AccountEntry, MemState, StateView, StorageError, Supply};
