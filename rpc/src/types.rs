//! JSON shapes of the API (documented in docs/RPC.md and docs/PROTOCOL-NOTES.md).

use cpc_primitives::{Address, Block, ComputeResult, Header, PublicKey, Signature, Transaction, H256};
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
        BlockView { hash, header: b.header, transactions, proposer_pub_key: b.proposer_pub_key, signature: b.signature }
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
    /// Whether the task id is a synthetic task id (verified and paid).
    pub synthetic: bool,
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
    /// The block's miner pool (30 % of the reward) and what of it was burned.
    pub miner_pool: String,
    pub burned: String,
}

/// A block height or a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    Number(u64),
    Latest,
    Earliest,
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
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "block: expected a height (integer), \"latest\" or \"earliest\", found {s:?}"
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
