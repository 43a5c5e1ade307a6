//! Chain records shown over JSON-RPC and kept in storage: accounts and receipts.

use crate::address::Address;
use crate::amount::dec_u128;
use crate::hash::H256;
use serde::{Deserialize, Serialize};

/// An account's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    #[serde(with = "dec_u128")]
    pub balance: u128,
    /// The next nonce this account must use.
    pub nonce: u64,
}

/// Outcome of an included transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    Success,
    Failed,
}

/// What happened to an included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: H256,
    pub status: TxStatus,
    pub block_height: u64,
    pub block_hash: H256,
    /// Position in the block.
    pub index: u32,
    pub from_address: Address,
    pub gas_used: u64,
    /// `gas_used × gas_price`, in base units.
    #[serde(with = "dec_u128")]
    pub fee_paid: u128,
    /// Why a failed transaction failed; null on success.
    pub error: Option<String>,
}
