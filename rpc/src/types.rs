//! JSON shapes of the API (documented in docs/RPC.md and docs/PROTOCOL-NOTES.md).

use cpc_primitives::{Address, Block, ComputeResult, Header, PublicKey, ShareTarget, Signature, Transaction, TxStatus, TxType, ValconsAddress, H256};
use serde::{Deserialize, Deserializer, Serialize};

/// A block: `hash`, `header` (PROTOCOL.md fields), `transactions` (objects or hashes),
/// `proposer_pub_key`, `signature`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BlockView {
    pub hash: H256,
    pub header: Header,
    pub transactions: Vec<TxOrHash>,
    pub proposer_pub_key: PublicKey,
    pub signature: Signature,
    /// The commit certificate that made the block final (every block but genesis): precommits of
    /// more than 2/3 of the validators for this block at `round`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateView>,
}

/// A block's commit certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CertificateView {
    pub height: u64,
    /// The consensus round the block was decided in.
    pub round: i64,
    pub block_hash: H256,
    pub signatures: Vec<CommitSignatureView>,
}

/// One validator's precommit signature (`CPC-VOTE-V1:` bytes, docs/CONSENSUS.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommitSignatureView {
    pub validator: ValconsAddress,
    pub signature: Signature,
}

/// A full transaction object or its hash (`full` = false).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TxOrHash {
    Tx(Box<TxView>),
    Hash(H256),
}

impl BlockView {
    pub fn new(b: Block, full: bool) -> Self {
        let hash = b.hash();
        let height = b.header.height;
        let transactions = b
            .transactions
            .into_iter()
            .enumerate()
            .map(|(i, tx)| {
                if full {
                    TxOrHash::Tx(Box::new(TxView::included(tx, height, hash, i as u32)))
                } else {
                    TxOrHash::Hash(tx.hash())
                }
            })
            .collect();
        BlockView { hash, header: b.header, transactions, proposer_pub_key: b.proposer_pub_key, signature: b.signature, certificate: None }
    }
}

/// A transaction with its hash and, once included, where.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TxView {
    pub hash: H256,
    #[serde(flatten)]
    pub tx: Transaction,
    /// null while pending.
    pub block_height: Option<u64>,
    pub block_hash: Option<H256>,
    pub index: Option<u32>,
}

impl TxView {
    pub fn included(tx: Transaction, block_height: u64, block_hash: H256, index: u32) -> Self {
        TxView { hash: tx.hash(), tx, block_height: Some(block_height), block_hash: Some(block_hash), index: Some(index) }
    }
    pub fn pending(tx: Transaction) -> Self {
        TxView { hash: tx.hash(), tx, block_height: None, block_hash: None, index: None }
    }
}

/// `cpc_getAccount`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountView {
    pub address: Address,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub balance: u128,
    /// Committed nonce (the next one a transaction must use once pending ones land).
    pub nonce: u64,
    /// Next nonce counting pending transactions.
    pub pending_nonce: u64,
}

/// One result of `cpc_getComputeResults`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComputeResultView {
    pub tx_hash: H256,
    pub result: ComputeResult,
    /// Whether the task id is a synthetic task id (a verified share, paid).
    pub synthetic: bool,
    /// The share value (16 hex digits) of a synthetic result; null for external results.
    pub share_value: Option<String>,
    /// Reward paid to the worker for this result (decimal base units), null if unpaid.
    pub reward: Option<String>,
}

/// `cpc_getComputeResults(height)`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ComputeResultsView {
    pub height: u64,
    pub block_hash: H256,
    /// Hex root, or "" when the block has no SUBMIT_RESULT.
    pub compute_root: String,
    pub results: Vec<ComputeResultView>,
    /// Shares in the block (its synthetic results) and what each minted for its worker.
    pub shares: u64,
    pub share_reward: String,
    /// The block's own share target (what work on it must meet).
    pub share_target: ShareTarget,
}

/// A block height or a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    Number(u64),
    Latest,
    Earliest,
    /// The last block that can never be reverted (BFT consensus: the last committed).
    Finalized,
}

impl<'de> Deserialize<'de> for BlockId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(BlockId::Number(n)),
            Raw::S(s) if s == "latest" => Ok(BlockId::Latest),
            Raw::S(s) if s == "earliest" => Ok(BlockId::Earliest),
            Raw::S(s) if s == "finalized" => Ok(BlockId::Finalized),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "block: expected a height (integer), \"latest\", \"earliest\" or \"finalized\", found {s:?}"
            ))),
        }
    }
}

impl Serialize for BlockId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockId::Number(n) => s.serialize_u64(*n),
            BlockId::Latest => s.serialize_str("latest"),
            BlockId::Earliest => s.serialize_str("earliest"),
            BlockId::Finalized => s.serialize_str("finalized"),
        }
    }
}

/// `cpc_syncing` while behind (false otherwise).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncStatus {
    pub starting_block: u64,
    pub current_block: u64,
    pub highest_block: u64,
}

/// One connected peer (`net_peers`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerView {
    pub peer_id: String,
    pub addr: Option<String>,
    pub score: i32,
    pub inbound: bool,
}

/// `admin_nodeInfo`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeInfo {
    pub chain_id: String,
    pub genesis_hash: H256,
    pub head_height: u64,
    pub head_hash: H256,
    /// null when the P2P network is off (`--dev` without `--p2p.port`).
    pub peer_id: Option<String>,
    pub listen_addrs: Vec<String>,
    pub validator: Option<String>,
}

/// Something that happened on the chain, fanned out to WebSocket subscribers.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block became canonical (own, imported, or part of a reorg's new branch).
    Block(std::sync::Arc<BlockEvent>),
    /// A transaction entered the pool.
    PendingTx(H256),
}

/// What subscribers need to know about a committed block.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    pub hash: H256,
    pub header: Header,
    pub txs: Vec<TxBrief>,
    /// Present when the block holds ComputeResults.
    pub compute: Option<ComputeResultsView>,
    /// Task-market job events of the block (the `jobEvents` subscription).
    pub jobs: Vec<JobEventView>,
}

/// A job event as the `jobEvents` subscription reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobEventView {
    pub job_id: H256,
    /// `posted`, `claimed`, `cancelled`, `done`, `claim_lapsed` or `expired`.
    pub event: String,
    /// Who acted or was paid: the poster (posted, cancelled, expired) or the claimant
    /// (claimed, done, claim_lapsed).
    pub by: Address,
    /// The transaction that caused it; null for what happens at the end of a block (a lapsed
    /// claim, a passed deadline).
    pub tx_hash: Option<H256>,
    pub block_height: u64,
    pub block_hash: H256,
}

/// A transaction as the `logs` subscription reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxBrief {
    pub tx_hash: H256,
    pub tx_type: cpc_primitives::TxType,
    pub from_address: Address,
    pub to_address: Option<Address>,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub amount: u128,
    pub block_height: u64,
    pub block_hash: H256,
}

/// `txpool_status`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxpoolStatus {
    /// Ready to be included (nonces follow the account's).
    pub pending: usize,
    /// Waiting for a nonce gap to close.
    pub queued: usize,
}

/// `poc_getWork`: what a worker needs to solve the current tip's tasks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorkView {
    pub tip: H256,
    pub height: u64,
    /// Matrix size n.
    pub n: usize,
    /// Challenged rows k.
    pub k: usize,
    /// Task window W: results for this tip are valid in blocks up to height + W.
    pub window: u64,
    pub max_synthetic_results_per_block: usize,
    /// A result of this tip is a share only if its share value is at most this target.
    pub share_target: ShareTarget,
    /// Expected tasks per share at this target: `2^64 / (share_target + 1)`.
    pub difficulty: f64,
    /// Nonces of this tip's tasks that the given worker has already submitted (pool or chain).
    pub taken_nonces: Vec<u64>,
}

/// `poc_networkStats`: the share difficulty and what it says about the network's compute.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetworkStatsView {
    pub height: u64,
    /// The head's share target (work on the next block's tip must meet it).
    pub share_target: ShareTarget,
    pub difficulty: f64,
    /// Blocks the averages below cover (at most 100, fewer on a young chain).
    pub blocks: u64,
    /// Mean shares (synthetic results) per block over those blocks.
    pub mean_shares_per_block: f64,
    /// The retarget's goal S.
    pub shares_per_block_target: u64,
    /// Mean time between those blocks, seconds.
    pub mean_block_time_s: f64,
    /// Estimated network compute: Σ shares × difficulty of their tip ÷ elapsed time.
    pub tasks_per_second: f64,
    /// The same in int8 operations: tasks/s × 2n³ ÷ 10¹².
    pub int8_tops: f64,
    pub n: usize,
}

/// `poc_getWorker(address)`: a worker's shares and rewards on the canonical chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerView {
    pub address: Address,
    pub shares: u64,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub rewards: u128,
    /// Height of the block that holds the latest share; null before the first.
    pub last_share_height: Option<u64>,
}

/// A committed transaction's place: its block's height and its index in the block.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TxPlace {
    pub height: u64,
    pub index: u32,
}

/// One committed transaction of an address (`cpc_getAccountTransactions`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountTxView {
    pub tx_hash: H256,
    pub block_height: u64,
    pub block_hash: H256,
    pub index: u32,
    pub tx_type: TxType,
    pub from_address: Address,
    pub to_address: Option<Address>,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub amount: u128,
    pub status: TxStatus,
}

/// `cpc_getAccountTransactions`: a page of an address's history, newest first; `next` is the
/// `before` of the following page (null on the last one).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountTxsView {
    pub transactions: Vec<AccountTxView>,
    pub next: Option<TxPlace>,
}

/// `poc_getResultByTask`: where the result that answered a task was committed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskResultView {
    pub task_id: String,
    pub tx_hash: H256,
    pub block_height: u64,
    pub block_hash: H256,
    pub index: u32,
    pub worker_address: String,
}

/// `poc_submitResult`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmitView {
    pub tx_hash: H256,
    pub task_id: String,
    pub synthetic: bool,
    /// The tip the synthetic task was derived from (null for external results).
    pub tip: Option<H256>,
    pub tip_height: Option<u64>,
}

/// One mining device in `miner_status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceStatus {
    pub name: String,
    pub tasks: u64,
    pub tasks_per_sec: f64,
    pub gmac_per_sec: f64,
    /// Tasks whose share value met their tip's target.
    pub shares_found: u64,
    /// Shares the node admitted, and those it refused by reason.
    pub shares_accepted: u64,
    pub shares_rejected: std::collections::BTreeMap<String, u64>,
    /// Shares expected per second at this device's rate and the current target.
    pub expected_shares_per_sec: f64,
    /// Set while the device is paused at `--gpu.temp-limit` (°C reached), null otherwise.
    pub throttled_at_celsius: Option<u32>,
}

/// `miner_status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MinerStatus {
    pub mining: bool,
    pub worker: Option<Address>,
    pub devices: Vec<DeviceStatus>,
    /// The current tip's share target and difficulty (null before the first tip).
    pub share_target: Option<ShareTarget>,
    pub difficulty: Option<f64>,
    pub shares_found: u64,
    pub results_accepted: u64,
    /// Rejections by reason.
    pub results_rejected: std::collections::BTreeMap<String, u64>,
    pub cancelled: u64,
}

/// A validator's commission (`cpc_getValidators`): basis points (1/10 000).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommissionView {
    pub rate_bps: u32,
    /// The rate can never exceed this (fixed at creation).
    pub max_rate_bps: u32,
    /// The rate moves by at most this much per change (fixed at creation).
    pub max_change_bps: u32,
    /// Block timestamp (unix ms) of the last change; one change per 24 h.
    pub changed_at_ms: u64,
}

/// `cpc_getValidators`, `cpc_getValidator`: one validator as the committed state has it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidatorView {
    /// The operator account (`cpc1…`): it signs the validator's staking transactions.
    pub operator: Address,
    /// `cpcvalcons1…` of the consensus key (what certificates and evidence name).
    pub consensus_address: ValconsAddress,
    pub consensus_key: PublicKey,
    pub moniker: String,
    /// Bonded tokens.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub tokens: u128,
    /// Delegator shares of those tokens (the self-bond included).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub shares: u128,
    /// The voting power its tokens give (whole CPC, capped), whether or not it is active.
    pub voting_power: u64,
    pub commission: CommissionView,
    pub jailed: bool,
    /// UNJAIL is refused before this height (u64::MAX once tombstoned).
    pub jailed_until: u64,
    /// Slashed for double signing: never unjailed again.
    pub tombstoned: bool,
    /// Blocks missed in the current signed-blocks window.
    pub missed_in_window: u64,
    /// Commission earned and not yet withdrawn by the operator.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub commission_pending: u128,
    /// Whether it is in the set that decides the next height (head + 1).
    pub active: bool,
}

/// One delegation of `cpc_getDelegations(delegator)`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DelegationView {
    /// The validator's operator address.
    pub validator: Address,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub shares: u128,
    /// What the shares are worth now, rounded down.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub tokens: u128,
    /// What a withdrawal would pay now (for the operator's own delegation, the commission too).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub pending_rewards: u128,
    /// Unbonding entries of this delegation still in flight.
    pub unbonding_entries: u32,
}

/// One unbonding entry of `cpc_getUnbonding`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnbondingView {
    pub delegator: Address,
    pub validator: Address,
    /// The height the (first) undelegation of the entry was included at.
    pub creation_height: u64,
    /// The tokens are paid to the delegator at the end of this block.
    pub completion_height: u64,
    /// Released from the validator's pool.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub initial: u128,
    /// What will be paid (less than `initial` after a slash).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub balance: u128,
}

/// One validator's part of `cpc_getRewards`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RewardView {
    pub validator: Address,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub amount: u128,
}

/// `cpc_getRewards(delegator)`: what withdrawing from every delegation would pay now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RewardsView {
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub total: u128,
    pub by_validator: Vec<RewardView>,
}

impl RewardsView {
    /// The rewards of a delegator's delegations, in their order.
    pub fn of(delegations: &[DelegationView]) -> Self {
        let by_validator: Vec<RewardView> =
            delegations.iter().map(|d| RewardView { validator: d.validator, amount: d.pending_rewards }).collect();
        let total = by_validator.iter().fold(0u128, |t, r| t.saturating_add(r.amount));
        RewardsView { total, by_validator }
    }
}

/// One member of `cpc_getActiveSet`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetMemberView {
    pub operator: Address,
    pub consensus_address: ValconsAddress,
    pub power: u64,
}

/// `cpc_getActiveSet(height?)`: the validators that decide `height`, in proposer order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActiveSetView {
    pub height: u64,
    pub total_power: u64,
    pub members: Vec<SetMemberView>,
}
