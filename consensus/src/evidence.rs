//! Evidence of equivocation (docs/CONSENSUS.md, "Evidence"): a validator that signed two
//! different votes of one kind, or two different proposals, for the same height and round.
//! Each piece carries both signed messages, so anyone holding the validator set can check it
//! alone — what the staking work needs to slash. Consensus (Malachite) reports it; the node
//! keeps it in RocksDB, gossips it and serves it (`cpc_getEvidence`).
//!
//! The signing bytes are consensus's (cpc-bft's `Vote` and `Proposal`): a round is an i64, −1
//! for nil.

use crate::finality::{PRECOMMIT, VOTE_DOMAIN};
use crate::schedule::ValidatorSet;
use cpc_primitives::{sha256, Signature, ValconsAddress, H256};
use serde::{Deserialize, Serialize};

/// Domain tag of a proposal's signing bytes.
pub const PROPOSAL_DOMAIN: &[u8] = b"CPC-PROPOSAL-V1:";
/// Vote type byte of a prevote in the signing bytes.
pub const PREVOTE: u8 = 1;

fn put_round(out: &mut Vec<u8>, round: Option<u32>) {
    out.extend_from_slice(&round.map_or(-1i64, |r| r as i64).to_be_bytes());
}

/// The signing bytes of a vote: `CPC-VOTE-V1:` ‖ type (1 prevote, 2 precommit) ‖ height (u64
/// BE) ‖ round (i64 BE) ‖ 0 (nil) or 1 ‖ block hash ‖ validator (20 bytes).
pub fn vote_signing_bytes(kind: VoteKind, height: u64, round: u32, value: Option<&H256>, validator: &ValconsAddress) -> Vec<u8> {
    let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 1 + 8 + 8 + 33 + 20);
    out.extend_from_slice(VOTE_DOMAIN);
    out.push(match kind {
        VoteKind::Prevote => PREVOTE,
        VoteKind::Precommit => PRECOMMIT,
    });
    out.extend_from_slice(&height.to_be_bytes());
    put_round(&mut out, Some(round));
    match value {
        None => out.push(0),
        Some(h) => {
            out.push(1);
            out.extend_from_slice(&h.0);
        }
    }
    out.extend_from_slice(&validator.0);
    out
}

/// The signing bytes of a proposal: `CPC-PROPOSAL-V1:` ‖ height ‖ round ‖ block hash ‖
/// proof-of-lock round (−1: none) ‖ proposer.
pub fn proposal_signing_bytes(height: u64, round: u32, block: &H256, pol_round: Option<u32>, proposer: &ValconsAddress) -> Vec<u8> {
    let mut out = Vec::with_capacity(PROPOSAL_DOMAIN.len() + 8 + 8 + 32 + 8 + 20);
    out.extend_from_slice(PROPOSAL_DOMAIN);
    out.extend_from_slice(&height.to_be_bytes());
    put_round(&mut out, Some(round));
    out.extend_from_slice(&block.0);
    put_round(&mut out, pol_round);
    out.extend_from_slice(&proposer.0);
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// One signed vote of a double vote: its value (`None`: nil) and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedChoice {
    pub block: Option<H256>,
    pub signature: Signature,
}

/// One signed proposal of a double proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedProposalOf {
    pub block: H256,
    pub pol_round: Option<u32>,
    pub signature: Signature,
}

/// Proof that a validator equivocated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    DoubleVote { validator: ValconsAddress, height: u64, round: u32, kind: VoteKind, first: SignedChoice, second: SignedChoice },
    DoubleProposal { validator: ValconsAddress, height: u64, round: u32, first: SignedProposalOf, second: SignedProposalOf },
}

/// Why a piece of evidence proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence: {0} is not in the validator set")]
    UnknownValidator(ValconsAddress),
    #[error("evidence: the two messages are the same (expected two different values)")]
    NotConflicting,
    #[error("evidence: the {which} signature of {validator} does not verify")]
    BadSignature { validator: ValconsAddress, which: &'static str },
    #[error("evidence: expected canonical JSON of one piece of evidence: {0}")]
    Malformed(String),
}

impl Evidence {
    pub fn validator(&self) -> ValconsAddress {
        match self {
            Evidence::DoubleVote { validator, .. } | Evidence::DoubleProposal { validator, .. } => *validator,
        }
    }

    pub fn height(&self) -> u64 {
        match self {
            Evidence::DoubleVote { height, .. } | Evidence::DoubleProposal { height, .. } => *height,
        }
    }

    /// The two messages in a canonical order (the lower signing bytes first), so that the same
    /// equivocation reported by different nodes, in either order, is one piece of evidence.
    pub fn canonical(mut self) -> Evidence {
        let (a, b) = self.signing_bytes();
        if a > b {
            match &mut self {
                Evidence::DoubleVote { first, second, .. } => std::mem::swap(first, second),
                Evidence::DoubleProposal { first, second, .. } => std::mem::swap(first, second),
            }
        }
        self
    }

    fn signing_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            Evidence::DoubleVote { validator, height, round, kind, first, second } => (
                vote_signing_bytes(*kind, *height, *round, first.block.as_ref(), validator),
                vote_signing_bytes(*kind, *height, *round, second.block.as_ref(), validator),
            ),
            Evidence::DoubleProposal { validator, height, round, first, second } => (
                proposal_signing_bytes(*height, *round, &first.block, first.pol_round, validator),
                proposal_signing_bytes(*height, *round, &second.block, second.pol_round, validator),
            ),
        }
    }

    /// Checks the evidence alone against `validators`: a member signed both messages, and they
    /// differ.
    pub fn verify(&self, validators: &ValidatorSet) -> Result<(), EvidenceError> {
        let v = self.validator();
        let key = validators
            .keys()
            .iter()
            .find(|k| ValconsAddress::from_public_key(k) == v)
            .ok_or(EvidenceError::UnknownValidator(v))?;
        let (a, b) = self.signing_bytes();
        if a == b {
            return Err(EvidenceError::NotConflicting);
        }
        let (sa, sb) = match self {
            Evidence::DoubleVote { first, second, .. } => (&first.signature, &second.signature),
            Evidence::DoubleProposal { first, second, .. } => (&first.signature, &second.signature),
        };
        key.verify_strict(&a, sa).map_err(|_| EvidenceError::BadSignature { validator: v, which: "first" })?;
        key.verify_strict(&b, sb).map_err(|_| EvidenceError::BadSignature { validator: v, which: "second" })?;
        Ok(())
    }

    /// The canonical JSON of the canonical form (stored, gossiped, served).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.clone().canonical()).expect("evidence serializes")
    }

    pub fn from_json_slice(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
        serde_json::from_slice(bytes).map_err(|e| EvidenceError::Malformed(e.to_string()))
    }

    /// SHA-256 of the canonical JSON: one id per equivocation whoever reported it.
    pub fn id(&self) -> H256 {
        sha256(&self.to_json_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpc_primitives::SecretKey;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[5; 32])
    }

    fn vote(k: &SecretKey, block: Option<H256>) -> SignedChoice {
        let a = ValconsAddress::from_public_key(&k.public_key());
        SignedChoice { block, signature: k.sign(&vote_signing_bytes(VoteKind::Prevote, 7, 1, block.as_ref(), &a)) }
    }

    fn double_vote(k: &SecretKey, x: Option<H256>, y: Option<H256>) -> Evidence {
        Evidence::DoubleVote {
            validator: ValconsAddress::from_public_key(&k.public_key()),
            height: 7,
            round: 1,
            kind: VoteKind::Prevote,
            first: vote(k, x),
            second: vote(k, y),
        }
    }

    #[test]
    fn vote_bytes_match_the_precommit_layout() {
        let a = ValconsAddress([3; 20]);
        let b = H256([4; 32]);
        assert_eq!(vote_signing_bytes(VoteKind::Precommit, 9, 2, Some(&b), &a), crate::finality::precommit_signing_bytes(9, 2, &b, &a));
        let nil = vote_signing_bytes(VoteKind::Prevote, 9, 2, None, &a);
        assert_eq!(nil[12], PREVOTE);
        assert_eq!(nil[29], 0, "nil marker after domain, type, height and round");
        assert_eq!(nil.len(), 12 + 1 + 8 + 8 + 1 + 20);
    }

    #[test]
    fn a_double_vote_verifies_and_has_one_id_in_either_order() {
        let k = key();
        let set = ValidatorSet::new(vec![k.public_key()]);
        let e = double_vote(&k, Some(H256([1; 32])), None);
        assert_eq!(e.verify(&set), Ok(()));
        let swapped = double_vote(&k, None, Some(H256([1; 32])));
        assert_eq!(e.id(), swapped.id());
        let back = Evidence::from_json_slice(&e.to_json_bytes()).unwrap();
        assert_eq!(back.verify(&set), Ok(()));
        assert_eq!(back.id(), e.id());
    }

    #[test]
    fn the_same_vote_twice_a_forged_signature_or_an_outsider_prove_nothing() {
        let k = key();
        let set = ValidatorSet::new(vec![k.public_key()]);
        let same = double_vote(&k, Some(H256([1; 32])), Some(H256([1; 32])));
        assert_eq!(same.verify(&set), Err(EvidenceError::NotConflicting));
        let mut forged = double_vote(&k, Some(H256([1; 32])), Some(H256([2; 32])));
        if let Evidence::DoubleVote { second, .. } = &mut forged {
            second.block = Some(H256([3; 32])); // signature was for [2; 32]
        }
        assert!(matches!(forged.verify(&set), Err(EvidenceError::BadSignature { which: "second", .. })));
        let other = SecretKey::from_bytes(&[6; 32]);
        let outsider = double_vote(&other, Some(H256([1; 32])), None);
        assert!(matches!(outsider.verify(&set), Err(EvidenceError::UnknownValidator(_))));
        assert!(matches!(Evidence::from_json_slice(b"{\"type\":\"double_vote\"}"), Err(EvidenceError::Malformed(_))));
    }

    #[test]
    fn a_double_proposal_verifies() {
        let k = key();
        let a = ValconsAddress::from_public_key(&k.public_key());
        let p = |b: H256| SignedProposalOf { block: b, pol_round: None, signature: k.sign(&proposal_signing_bytes(4, 0, &b, None, &a)) };
        let e = Evidence::DoubleProposal { validator: a, height: 4, round: 0, first: p(H256([1; 32])), second: p(H256([2; 32])) };
        assert_eq!(e.verify(&ValidatorSet::new(vec![k.public_key()])), Ok(()));
    }
}
