//! Finality: a block is committed only with a commit certificate — strict Ed25519 precommits
//! for it by distinct validators holding more than ⅔ of the voting power (docs/CONSENSUS.md,
//! "Commit certificates"). The certificate is stored beside its block (never in the header) and
//! travels with it. These checks are cheap (one signature per validator) and run before any
//! expensive check of a block's content.
//!
//! The precommit's signing bytes are those of consensus (cpc-bft's `Vote`), so a certificate
//! that Malachite assembled verifies here without Malachite.

use crate::schedule::ValidatorSet;
use cpc_primitives::{PublicKey, SecretKey, Signature, ValconsAddress, H256};

/// Domain tag of a vote's signing bytes (prevotes and precommits).
pub const VOTE_DOMAIN: &[u8] = b"CPC-VOTE-V1:";
/// Vote type byte of a precommit in the signing bytes (a prevote is 1).
pub const PRECOMMIT: u8 = 2;
/// Most signatures a certificate may hold (the decoder refuses more before allocating).
pub const MAX_CERTIFICATE_SIGNATURES: usize = 10_000;
const FIXED: usize = 8 + 4 + 32 + 2;
const PER_SIGNATURE: usize = 20 + 64;

/// The signing bytes of a precommit for `block` at `(height, round)` by `validator`:
/// `CPC-VOTE-V1:` ‖ 2 ‖ height (u64 BE) ‖ round (i64 BE) ‖ 1 ‖ block hash ‖ validator (20 bytes).
pub fn precommit_signing_bytes(height: u64, round: u32, block: &H256, validator: &ValconsAddress) -> Vec<u8> {
    crate::evidence::vote_signing_bytes(crate::evidence::VoteKind::Precommit, height, round, Some(block), validator)
}

/// A commit certificate: the precommits that decided `block` at `height` in `round`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub height: u64,
    pub round: u32,
    pub block: H256,
    /// Signers in strictly increasing address order (so each signs once, and the encoding is
    /// canonical).
    pub signatures: Vec<(ValconsAddress, Signature)>,
}

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("commit certificate: {0}")]
    Malformed(String),
    #[error("commit certificate: expected height {expected}, found {found}")]
    Height { expected: u64, found: u64 },
    #[error("commit certificate: expected block {expected}, found {found}")]
    Block { expected: H256, found: H256 },
    #[error("commit certificate: {0} is not in the validator set")]
    UnknownValidator(ValconsAddress),
    #[error("commit certificate: signers must be in strictly increasing address order; {0} is out of order or signs twice")]
    Unordered(ValconsAddress),
    #[error("commit certificate: the precommit signature of {0} does not verify")]
    BadSignature(ValconsAddress),
    #[error("commit certificate: expected precommits of more than 2/3 of {total} voting power, found {found}")]
    NoQuorum { total: u64, found: u64 },
}

impl Certificate {
    /// Assembles a certificate from precommit signatures in any order (sorted by address here).
    pub fn new(height: u64, round: u32, block: H256, mut signatures: Vec<(ValconsAddress, Signature)>) -> Self {
        signatures.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        Certificate { height, round, block, signatures }
    }

    /// The certificate of a block decided by a single validator alone (a one-validator chain,
    /// `cpcd --dev`): its own precommit is the whole quorum.
    pub fn sign_alone(key: &SecretKey, height: u64, round: u32, block: H256) -> Self {
        let addr = ValconsAddress::from_public_key(&key.public_key());
        let sig = key.sign(&precommit_signing_bytes(height, round, &block, &addr));
        Certificate { height, round, block, signatures: vec![(addr, sig)] }
    }

    /// `height (u64 BE) ‖ round (u32 BE) ‖ block (32) ‖ n (u16 BE) ‖ n × (address (20) ‖ signature (64))`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + PER_SIGNATURE * self.signatures.len());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.round.to_be_bytes());
        out.extend_from_slice(&self.block.0);
        out.extend_from_slice(&(self.signatures.len() as u16).to_be_bytes());
        for (a, s) in &self.signatures {
            out.extend_from_slice(&a.0);
            out.extend_from_slice(&s.0);
        }
        out
    }

    /// Strict decoding: the exact length for the signature count, nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertificateError> {
        if bytes.len() < FIXED {
            return Err(CertificateError::Malformed(format!("expected at least {FIXED} bytes, found {}", bytes.len())));
        }
        let n = u16::from_be_bytes([bytes[44], bytes[45]]) as usize;
        let want = FIXED + n * PER_SIGNATURE;
        if bytes.len() != want {
            return Err(CertificateError::Malformed(format!(
                "expected {want} bytes for {n} signatures, found {}",
                bytes.len()
            )));
        }
        if n > MAX_CERTIFICATE_SIGNATURES {
            return Err(CertificateError::Malformed(format!("expected at most {MAX_CERTIFICATE_SIGNATURES} signatures, found {n}")));
        }
        let mut block = [0u8; 32];
        block.copy_from_slice(&bytes[12..44]);
        let signatures = bytes[FIXED..]
            .chunks_exact(PER_SIGNATURE)
            .map(|c| {
                let mut a = [0u8; 20];
                a.copy_from_slice(&c[..20]);
                let mut s = [0u8; 64];
                s.copy_from_slice(&c[20..]);
                (ValconsAddress(a), Signature(s))
            })
            .collect();
        Ok(Certificate {
            height: u64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes")),
            round: u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
            block: H256(block),
            signatures,
        })
    }

    /// Checks this certificate as the one of `block` at `height` under `validators`: every
    /// signer a member, in increasing address order, every signature a strict precommit for
    /// this height, round and block, together more than ⅔ of the set's voting power. Returns
    /// the signers' power.
    pub fn verify(&self, height: u64, block: &H256, validators: &ValidatorSet) -> Result<u64, CertificateError> {
        if self.height != height {
            return Err(CertificateError::Height { expected: height, found: self.height });
        }
        if self.block != *block {
            return Err(CertificateError::Block { expected: *block, found: self.block });
        }
        let members: std::collections::HashMap<ValconsAddress, (&PublicKey, u64)> =
            validators.members().map(|(k, p)| (ValconsAddress::from_public_key(k), (k, p))).collect();
        let total = validators.total_power();
        let mut prev: Option<&ValconsAddress> = None;
        let mut power = 0u64;
        for (addr, sig) in &self.signatures {
            if prev.is_some_and(|p| p.0 >= addr.0) {
                return Err(CertificateError::Unordered(*addr));
            }
            prev = Some(addr);
            let (key, p) = members.get(addr).ok_or(CertificateError::UnknownValidator(*addr))?;
            key.verify_strict(&precommit_signing_bytes(height, self.round, block, addr), sig)
                .map_err(|_| CertificateError::BadSignature(*addr))?;
            power += p;
        }
        if !is_quorum(power, total) {
            return Err(CertificateError::NoQuorum { total, found: power });
        }
        Ok(power)
    }

    /// The signers' consensus addresses.
    pub fn signers(&self) -> Vec<ValconsAddress> {
        self.signatures.iter().map(|(a, _)| *a).collect()
    }
}

/// More than ⅔: `3 × power > 2 × total`.
pub fn is_quorum(power: u64, total: u64) -> bool {
    3 * power as u128 > 2 * total as u128
}

/// Decodes and checks a certificate in one step (what import does first with a served block).
pub fn verify_certificate_bytes(
    bytes: &[u8],
    height: u64,
    block: &H256,
    validators: &ValidatorSet,
) -> Result<Certificate, CertificateError> {
    let c = Certificate::decode(bytes)?;
    c.verify(height, block, validators)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Vec<SecretKey> {
        (1..=n).map(|i| SecretKey::from_bytes(&[i; 32])).collect()
    }

    fn set(ks: &[SecretKey]) -> ValidatorSet {
        ValidatorSet::new(ks.iter().map(|k| k.public_key()).collect())
    }

    fn precommit(k: &SecretKey, height: u64, round: u32, block: H256) -> (ValconsAddress, Signature) {
        let a = ValconsAddress::from_public_key(&k.public_key());
        (a, k.sign(&precommit_signing_bytes(height, round, &block, &a)))
    }

    fn cert(ks: &[SecretKey], signers: &[usize], height: u64, round: u32, block: H256) -> Certificate {
        Certificate::new(height, round, block, signers.iter().map(|&i| precommit(&ks[i], height, round, block)).collect())
    }

    #[test]
    fn signing_bytes_are_consensus_precommits() {
        // Built field by field from the layout in docs/CONSENSUS.md, not by the function.
        let a = ValconsAddress([7; 20]);
        let mut want = b"CPC-VOTE-V1:".to_vec();
        want.push(2);
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(&3i64.to_be_bytes());
        want.push(1);
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[7; 20]);
        assert_eq!(precommit_signing_bytes(5, 3, &H256([9; 32]), &a), want);
    }

    #[test]
    fn more_than_two_thirds_verify_and_round_trip() {
        let ks = keys(4);
        let b = H256([1; 32]);
        let c = cert(&ks, &[3, 0, 2], 10, 1, b);
        assert_eq!(c.verify(10, &b, &set(&ks)), Ok(3));
        let back = Certificate::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert_eq!(verify_certificate_bytes(&c.encode(), 10, &b, &set(&ks)).unwrap(), c);
    }

    #[test]
    fn two_of_four_is_no_quorum() {
        let ks = keys(4);
        let b = H256([1; 32]);
        let c = cert(&ks, &[0, 1], 10, 0, b);
        assert_eq!(c.verify(10, &b, &set(&ks)), Err(CertificateError::NoQuorum { total: 4, found: 2 }));
        assert!(is_quorum(3, 4) && !is_quorum(2, 3) && is_quorum(1, 1) && !is_quorum(0, 1));
    }

    #[test]
    fn wrong_height_block_round_or_signer_is_refused() {
        let ks = keys(4);
        let s = set(&ks);
        let b = H256([1; 32]);
        let c = cert(&ks, &[0, 1, 2], 10, 0, b);
        assert_eq!(c.verify(11, &b, &s), Err(CertificateError::Height { expected: 11, found: 10 }));
        assert_eq!(c.verify(10, &H256([2; 32]), &s), Err(CertificateError::Block { expected: H256([2; 32]), found: b }));
        // The round is signed: moving it breaks every signature.
        let moved = Certificate { round: 1, ..c.clone() };
        assert!(matches!(moved.verify(10, &b, &s), Err(CertificateError::BadSignature(_))));
        // A precommit for another block does not count for this one.
        let mut mixed = c.clone();
        mixed.signatures[0] = precommit(&ks[3], 10, 0, H256([2; 32]));
        mixed = Certificate::new(10, 0, b, mixed.signatures);
        assert!(matches!(mixed.verify(10, &b, &s), Err(CertificateError::BadSignature(_))));
        // An outsider's valid precommit is not a vote.
        let outsider = SecretKey::from_bytes(&[99; 32]);
        let with_outsider = Certificate::new(10, 0, b, vec![precommit(&ks[0], 10, 0, b), precommit(&ks[1], 10, 0, b), precommit(&outsider, 10, 0, b)]);
        assert_eq!(
            with_outsider.verify(10, &b, &s),
            Err(CertificateError::UnknownValidator(ValconsAddress::from_public_key(&outsider.public_key())))
        );
    }

    #[test]
    fn one_signer_counted_twice_is_refused() {
        let ks = keys(4);
        let b = H256([1; 32]);
        let p = precommit(&ks[0], 10, 0, b);
        let dup = Certificate { height: 10, round: 0, block: b, signatures: vec![p, p, precommit(&ks[1], 10, 0, b)] };
        assert!(matches!(dup.verify(10, &b, &set(&ks)), Err(CertificateError::Unordered(_))));
    }

    #[test]
    fn a_lone_validator_certifies_its_own_chain_only() {
        let ks = keys(1);
        let b = H256([4; 32]);
        let c = Certificate::sign_alone(&ks[0], 3, 0, b);
        assert_eq!(c.verify(3, &b, &set(&ks)), Ok(1));
        // The same signature is one vote of four on a larger set.
        let four = keys(4);
        assert_eq!(c.verify(3, &b, &set(&four)), Err(CertificateError::NoQuorum { total: 4, found: 1 }));
    }

    #[test]
    fn truncated_padded_or_oversized_bytes_are_malformed() {
        let ks = keys(4);
        let b = H256([1; 32]);
        let enc = cert(&ks, &[0, 1, 2], 10, 0, b).encode();
        for bad in [&enc[..enc.len() - 1], &[enc.as_slice(), &[0]].concat()[..], &enc[..10], &[][..]] {
            assert!(matches!(Certificate::decode(bad), Err(CertificateError::Malformed(_))), "{} bytes", bad.len());
        }
    }
}
