//! Block headers, blocks, and their roots (PROTOCOL.md, Blocks and compute_root).

use crate::address::ValconsAddress;
use crate::cjson::write_json_string;
use crate::crypto::{PublicKey, SecretKey, Signature};
use crate::hash::{sha256, H256};
use crate::merkle::merkle_root_m;
use crate::share::ShareTarget;
use crate::tx::{ComputeResult, Transaction, TxType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Domain prefix of the block signing bytes.
pub const BLOCK_SIGNING_PREFIX: &[u8] = b"CPC-BLOCK-V2:";

/// `compute_root`: the hex root, or `""` when the block has no SUBMIT_RESULT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ComputeRoot(pub Option<H256>);

impl ComputeRoot {
    pub fn to_text(&self) -> String {
        self.0.map(|h| h.to_hex()).unwrap_or_default()
    }
}

impl Serialize for ComputeRoot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for ComputeRoot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.is_empty() {
            return Ok(ComputeRoot(None));
        }
        H256::from_hex(&s).map(|h| ComputeRoot(Some(h))).map_err(serde::de::Error::custom)
    }
}

/// The block header, exactly PROTOCOL.md's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub height: u64,
    pub prev_hash: H256,
    /// Unix milliseconds.
    pub timestamp: u64,
    pub chain_id: String,
    pub proposer_address: ValconsAddress,
    pub round: u32,
    pub tx_root: H256,
    pub state_root: H256,
    pub compute_root: ComputeRoot,
    pub gas_used: u64,
    pub gas_limit: u64,
    /// The target that synthetic work derived from this block must meet (PROTOCOL.md, Shares).
    pub share_target: ShareTarget,
}

impl Header {
    /// `"CPC-BLOCK-V2:" ‖ CJ(header)`: what the block hash covers and the proposer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(BLOCK_SIGNING_PREFIX);
        // Keys in code point order.
        out.extend_from_slice(b"{\"chain_id\":");
        write_json_string(&self.chain_id, &mut out);
        out.extend_from_slice(b",\"compute_root\":\"");
        out.extend_from_slice(self.compute_root.to_text().as_bytes());
        out.extend_from_slice(b"\",\"gas_limit\":");
        out.extend_from_slice(self.gas_limit.to_string().as_bytes());
        out.extend_from_slice(b",\"gas_used\":");
        out.extend_from_slice(self.gas_used.to_string().as_bytes());
        out.extend_from_slice(b",\"height\":");
        out.extend_from_slice(self.height.to_string().as_bytes());
        out.extend_from_slice(b",\"prev_hash\":\"");
        out.extend_from_slice(self.prev_hash.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"proposer_address\":\"");
        out.extend_from_slice(self.proposer_address.to_string().as_bytes());
        out.extend_from_slice(b"\",\"round\":");
        out.extend_from_slice(self.round.to_string().as_bytes());
        out.extend_from_slice(b",\"share_target\":\"");
        out.extend_from_slice(self.share_target.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"state_root\":\"");
        out.extend_from_slice(self.state_root.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"timestamp\":");
        out.extend_from_slice(self.timestamp.to_string().as_bytes());
        out.extend_from_slice(b",\"tx_root\":\"");
        out.extend_from_slice(self.tx_root.to_hex().as_bytes());
        out.extend_from_slice(b"\"}");
        out
    }

    /// Block hash: `H("CPC-BLOCK-V2:" ‖ CJ(header))`.
    pub fn hash(&self) -> H256 {
        sha256(&self.signing_bytes())
    }
}

/// A block: header, transactions, and the proposer's key and signature over the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<Transaction>,
    pub proposer_pub_key: PublicKey,
    pub signature: Signature,
}

impl Block {
    /// Signs `header` with `sk` and assembles the block.
    pub fn seal(header: Header, transactions: Vec<Transaction>, sk: &SecretKey) -> Block {
        let signature = sk.sign(&header.signing_bytes());
        Block { header, transactions, proposer_pub_key: sk.public_key(), signature }
    }

    pub fn hash(&self) -> H256 {
        self.header.hash()
    }

    /// Wire encoding (gossip and sync): the block as JSON.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("blocks serialize")
    }

    /// Decodes [`Block::to_json_bytes`] strictly (unknown fields are errors).
    pub fn from_json_slice(bytes: &[u8]) -> Result<Block, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// `tx_root`: rule M over the raw 32-byte transaction hashes; 64 zeros for an empty block.
pub fn tx_root(tx_hashes: &[H256]) -> H256 {
    merkle_root_m(tx_hashes).unwrap_or(H256::ZERO)
}

/// `compute_root` over ComputeResults in block order.
pub fn compute_root_of_results<'a>(results: impl IntoIterator<Item = &'a ComputeResult>) -> ComputeRoot {
    let leaves: Vec<H256> = results.into_iter().map(|r| r.leaf_hash()).collect();
    ComputeRoot(merkle_root_m(&leaves))
}

/// `compute_root` of a block's transactions. Errors if a SUBMIT_RESULT payload is not a
/// well-formed ComputeResult (such a block is invalid anyway).
pub fn compute_root_of_txs(txs: &[Transaction]) -> Result<ComputeRoot, crate::tx::ComputeResultError> {
    let mut results = Vec::new();
    for tx in txs.iter().filter(|t| t.tx_type == TxType::SubmitResult) {
        results.push(ComputeResult::from_payload(&tx.payload)?);
    }
    Ok(compute_root_of_results(&results))
}
