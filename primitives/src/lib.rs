//! cpc primitives: the consensus-critical encodings of `../shared/PROTOCOL.md` (canonical
//! JSON, hashes, Ed25519, bech32 addresses, Merkle rule M, transactions, ComputeResults,
//! blocks) and the plain records the rest of the node shares.
//!
//! This crate depends on no other crate of ours and does no I/O.

pub mod address;
pub mod amount;
pub mod blob;
pub mod block;
pub mod cjson;
pub mod crypto;
pub mod hash;
pub mod merkle;
pub mod share;
pub mod tx;
pub mod types;

pub use address::{Address, AddressError, ValconsAddress};
pub use amount::{format_cpc, parse_amount, UNITS_PER_CPC};
pub use block::{compute_root_of_results, compute_root_of_txs, tx_root, Block, ComputeRoot, ConsensusData, Header};
pub use share::{next_share_target, ShareTarget, MAX_SHARE_TARGET};
pub use crypto::{CryptoError, PublicKey, SecretKey, Signature};
pub use hash::{sha256, sha256_concat, H256};
pub use tx::{ComputeResult, ComputeResultError, Payload, Transaction, TxType, UnsignedTx};
pub use types::{Account, Receipt, TxStatus};

/// Current unix time in milliseconds (the header's `timestamp` unit).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
