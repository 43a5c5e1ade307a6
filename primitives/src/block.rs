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

/// What consensus carries with a block beside the header (docs/PROTOCOL-NOTES.md, Consensus
/// data): the parent's commit certificate as the proposer holds it (liveness is counted from
/// it) and evidence of double signing (slashed by it). Neither is in the block hash: their
/// effects are, through the header's `state_root`, so a peer that alters them serves a block
/// whose state root does not verify.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusData {
    /// The certificate of block `height − 1` (consensus's encoding), hex.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_hex")]
    pub last_commit: Option<Vec<u8>>,
    /// Evidence pieces (consensus's encoding), hex each.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "vec_hex")]
    pub evidence: Vec<Vec<u8>>,
}

impl ConsensusData {
    pub fn is_empty(&self) -> bool {
        self.last_commit.is_none() && self.evidence.is_empty()
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s).map(Some).map_err(serde::de::Error::custom)
    }
}

mod vec_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|s| hex::decode(s).map_err(serde::de::Error::custom)).collect()
    }
}

/// A block: header, transactions, and the proposer's key and signature over the header; and
/// the consensus data that travels with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<Transaction>,
    pub proposer_pub_key: PublicKey,
    pub signature: Signature,
    #[serde(default, skip_serializing_if = "ConsensusData::is_empty")]
    pub consensus: ConsensusData,
}

impl Block {
    /// Signs `header` with `sk` and assembles the block.
    pub fn seal(header: Header, transactions: Vec<Transaction>, sk: &SecretKey) -> Block {
        let signature = sk.sign(&header.signing_bytes());
        Block { header, transactions, proposer_pub_key: sk.public_key(), signature, consensus: ConsensusData::default() }
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

/// Most bytes of a certificate on the wire beside its block (10 000 signers: the consensus
/// crate's limit).
pub const MAX_CERTIFICATE_BYTES: usize = 46 + 10_000 * 84;

/// Why a certified block from the wire was refused before decoding its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertifiedBlockError {
    #[error("certified block: expected at least 4 bytes, found {0}")]
    Short(usize),
    #[error("certified block: the block length {block} exceeds the {found} bytes that follow")]
    BlockLength { block: usize, found: usize },
    #[error("certified block: expected at most {MAX_CERTIFICATE_BYTES} bytes of certificate, found {0}")]
    CertificateTooLarge(usize),
    #[error("certified block: {0}")]
    Block(String),
}

impl Block {
    /// A block with its commit certificate as gossiped and served to syncing peers:
    /// `len(block) (u32 BE) ‖ block (canonical JSON) ‖ certificate`.
    pub fn encode_certified(block_json: &[u8], certificate: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + block_json.len() + certificate.len());
        out.extend_from_slice(&(block_json.len() as u32).to_be_bytes());
        out.extend_from_slice(block_json);
        out.extend_from_slice(certificate);
        out
    }

    /// Splits and decodes a certified block: the block, and its certificate's bytes (checked
    /// by consensus, not here).
    pub fn decode_certified(bytes: &[u8]) -> Result<(Block, &[u8]), CertifiedBlockError> {
        if bytes.len() < 4 {
            return Err(CertifiedBlockError::Short(bytes.len()));
        }
        let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let rest = &bytes[4..];
        if n > rest.len() {
            return Err(CertifiedBlockError::BlockLength { block: n, found: rest.len() });
        }
        let (b, cert) = rest.split_at(n);
        if cert.len() > MAX_CERTIFICATE_BYTES {
            return Err(CertifiedBlockError::CertificateTooLarge(cert.len()));
        }
        let block = Block::from_json_slice(b).map_err(|e| CertifiedBlockError::Block(e.to_string()))?;
        Ok((block, cert))
    }
}

#[cfg(test)]
mod certified_tests {
    use super::*;

    fn block() -> Block {
        let sk = SecretKey::from_bytes(&[3; 32]);
        let header = Header {
            height: 4,
            prev_hash: H256([1; 32]),
            timestamp: 5,
            chain_id: "t".into(),
            proposer_address: ValconsAddress::from_public_key(&sk.public_key()),
            round: 0,
            tx_root: tx_root(&[]),
            state_root: H256::ZERO,
            compute_root: ComputeRoot(None),
            gas_used: 0,
            gas_limit: 1,
            share_target: ShareTarget::MAX,
        };
        Block::seal(header, vec![], &sk)
    }

    #[test]
    fn a_certified_block_round_trips_and_bad_framing_is_refused() {
        let b = block();
        let json = b.to_json_bytes();
        let enc = Block::encode_certified(&json, b"cert");
        let (back, cert) = Block::decode_certified(&enc).unwrap();
        assert_eq!((back.hash(), cert), (b.hash(), &b"cert"[..]));
        assert!(matches!(Block::decode_certified(&enc[..3]), Err(CertifiedBlockError::Short(3))));
        let mut long = enc.clone();
        long[0] = 0xff;
        assert!(matches!(Block::decode_certified(&long), Err(CertifiedBlockError::BlockLength { .. })));
        let mut mangled = enc.clone();
        mangled[4] = b'[';
        assert!(matches!(Block::decode_certified(&mangled), Err(CertifiedBlockError::Block(_))));
        let huge = Block::encode_certified(&json, &vec![0; MAX_CERTIFICATE_BYTES + 1]);
        assert!(matches!(Block::decode_certified(&huge), Err(CertifiedBlockError::CertificateTooLarge(_))));
    }
}
