//! Commit certificates, checked by cpcd itself against a validator set: every signature a
//! strict Ed25519 precommit for the certified block by a distinct member, together more than
//! ⅔ of the voting power. A syncing node runs this on every block it is served, before any
//! expensive check of the block's content.

use cpc_consensus::Certificate;
use malachitebft_app::types::core::{
    CommitCertificate, CommitSignature, NilOrVal, Round, VoteType, VotingPower,
};

use crate::context::{BlockId, CpcContext, Height, Sig, ValAddr, ValidatorSet, Vote};

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("commit certificate: expected height {expected}, found {found}")]
    Height { expected: u64, found: u64 },
    #[error("commit certificate: expected block {expected}, found {found}")]
    Block { expected: BlockId, found: BlockId },
    #[error("commit certificate: expected a defined round, found nil")]
    NilRound,
    #[error("commit certificate: {0} is not in the validator set")]
    UnknownValidator(ValAddr),
    #[error("commit certificate: {0} signs twice")]
    DuplicateSigner(ValAddr),
    #[error("commit certificate: the precommit signature of {0} does not verify")]
    BadSignature(ValAddr),
    #[error("commit certificate: expected at most {max} signatures, found {0}", max = cpc_consensus::finality::MAX_CERTIFICATE_SIGNATURES)]
    TooManySignatures(usize),
    #[error("commit certificate: expected more than 2/3 of {total} voting power, found {found}")]
    NoQuorum {
        total: VotingPower,
        found: VotingPower,
    },
}

/// Checks `cert` as the certificate of `block` at `height` under `set`; returns the power that
/// signed.
pub fn verify_certificate(
    cert: &CommitCertificate<CpcContext>,
    height: u64,
    block: BlockId,
    set: &ValidatorSet,
) -> Result<VotingPower, CertificateError> {
    if cert.height.0 != height {
        return Err(CertificateError::Height {
            expected: height,
            found: cert.height.0,
        });
    }
    if cert.value_id != block {
        return Err(CertificateError::Block {
            expected: block,
            found: cert.value_id,
        });
    }
    if cert.round == Round::Nil {
        return Err(CertificateError::NilRound);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut power: VotingPower = 0;
    for s in &cert.commit_signatures {
        let v = set
            .get(&s.address)
            .ok_or(CertificateError::UnknownValidator(s.address))?;
        if !seen.insert(s.address) {
            return Err(CertificateError::DuplicateSigner(s.address));
        }
        let vote = Vote::new(
            VoteType::Precommit,
            Height(height),
            cert.round,
            NilOrVal::Val(block),
            s.address,
        );
        v.public_key
            .primitive()
            .verify_strict(
                &vote.signing_bytes(),
                &cpc_primitives::Signature(s.signature.0),
            )
            .map_err(|_| CertificateError::BadSignature(s.address))?;
        power += v.voting_power; // the set's total fits u64 (ValidatorSet::new)
    }
    let total = set.validators().iter().map(|v| v.voting_power).sum();
    if !set.is_quorum(power) {
        return Err(CertificateError::NoQuorum {
            total,
            found: power,
        });
    }
    Ok(power)
}

/// The certificate as stored beside its block and served with it: cpc-consensus's
/// [`Certificate`] encoding (signers in address order), which the engine verifies without
/// Malachite. Fails on a round that does not fit (`Nil` or negative: Malachite decides only
/// in a defined round) or more signatures than the encoding holds.
pub fn encode_certificate(
    cert: &CommitCertificate<CpcContext>,
) -> Result<Vec<u8>, CertificateError> {
    let round = cert.round.as_u32().ok_or(CertificateError::NilRound)?;
    if cert.commit_signatures.len() > cpc_consensus::finality::MAX_CERTIFICATE_SIGNATURES {
        return Err(CertificateError::TooManySignatures(
            cert.commit_signatures.len(),
        ));
    }
    let sigs = cert
        .commit_signatures
        .iter()
        .map(|s| {
            (
                s.address.valcons(),
                cpc_primitives::Signature(s.signature.0),
            )
        })
        .collect();
    Ok(Certificate::new(
        cert.height.0,
        round,
        cpc_primitives::H256(cert.value_id.0),
        sigs,
    )
    .encode())
}

/// A stored or served certificate, strictly decoded, as Malachite's type (for value sync).
pub fn decode_certificate(
    bytes: &[u8],
) -> Result<CommitCertificate<CpcContext>, cpc_consensus::CertificateError> {
    let c = Certificate::decode(bytes)?;
    Ok(CommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: BlockId(c.block.0),
        commit_signatures: c
            .signatures
            .into_iter()
            .map(|(a, s)| CommitSignature::new(ValAddr(a.0), Sig(s.0)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Sig, Validator};
    use cpc_primitives::SecretKey;
    use malachitebft_app::types::core::CommitSignature;

    fn setup() -> (Vec<SecretKey>, ValidatorSet) {
        let keys: Vec<_> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32])).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator::new(k.public_key(), 1))
                .collect(),
        )
        .unwrap();
        (keys, set)
    }

    fn sign(k: &SecretKey, height: u64, round: u32, block: BlockId) -> CommitSignature<CpcContext> {
        let address = ValAddr::from_public_key(&k.public_key());
        let vote = Vote::new(
            VoteType::Precommit,
            Height(height),
            Round::new(round),
            NilOrVal::Val(block),
            address,
        );
        CommitSignature::new(address, Sig(k.sign(&vote.signing_bytes()).0))
    }

    fn cert(
        sigs: Vec<CommitSignature<CpcContext>>,
        block: BlockId,
    ) -> CommitCertificate<CpcContext> {
        CommitCertificate {
            height: Height(5),
            round: Round::new(1),
            value_id: block,
            commit_signatures: sigs,
        }
    }

    #[test]
    fn three_of_four_verify_and_two_do_not() {
        let (keys, set) = setup();
        let b = BlockId([7; 32]);
        let three = cert(keys[..3].iter().map(|k| sign(k, 5, 1, b)).collect(), b);
        assert_eq!(verify_certificate(&three, 5, b, &set), Ok(3));
        // Stored in consensus's encoding, signers in address order: the engine verifies the
        // same bytes against the chain's validator set.
        let bytes = encode_certificate(&three).unwrap();
        let mut sorted = three.clone();
        sorted.commit_signatures.sort_by_key(|s| s.address);
        assert_eq!(decode_certificate(&bytes).unwrap(), sorted);
        let chain_set =
            cpc_consensus::ValidatorSet::new(keys.iter().map(|k| k.public_key()).collect());
        assert_eq!(
            cpc_consensus::finality::verify_certificate_bytes(
                &bytes,
                5,
                &cpc_primitives::H256(b.0),
                &chain_set
            )
            .map(|c| c.signatures.len()),
            Ok(3)
        );
        let two = cert(keys[..2].iter().map(|k| sign(k, 5, 1, b)).collect(), b);
        assert_eq!(
            verify_certificate(&two, 5, b, &set),
            Err(CertificateError::NoQuorum { total: 4, found: 2 })
        );
    }

    #[test]
    fn forged_and_repeated_signatures_are_refused() {
        let (keys, set) = setup();
        let b = BlockId([7; 32]);
        // A precommit for another round, block or height does not count for this certificate.
        let wrong_round = cert(
            vec![
                sign(&keys[0], 5, 0, b),
                sign(&keys[1], 5, 1, b),
                sign(&keys[2], 5, 1, b),
            ],
            b,
        );
        let who = ValAddr::from_public_key(&keys[0].public_key());
        assert_eq!(
            verify_certificate(&wrong_round, 5, b, &set),
            Err(CertificateError::BadSignature(who))
        );
        let other_block = cert(
            vec![
                sign(&keys[0], 5, 1, BlockId([8; 32])),
                sign(&keys[1], 5, 1, b),
            ],
            b,
        );
        assert_eq!(
            verify_certificate(&other_block, 5, b, &set),
            Err(CertificateError::BadSignature(who))
        );
        let twice = cert(
            vec![
                sign(&keys[0], 5, 1, b),
                sign(&keys[0], 5, 1, b),
                sign(&keys[1], 5, 1, b),
            ],
            b,
        );
        assert_eq!(
            verify_certificate(&twice, 5, b, &set),
            Err(CertificateError::DuplicateSigner(who))
        );
        let outsider = SecretKey::from_bytes(&[9; 32]);
        let out = cert(vec![sign(&outsider, 5, 1, b)], b);
        assert!(matches!(
            verify_certificate(&out, 5, b, &set),
            Err(CertificateError::UnknownValidator(_))
        ));
        let all = cert(keys.iter().map(|k| sign(k, 5, 1, b)).collect(), b);
        assert!(matches!(
            verify_certificate(&all, 6, b, &set),
            Err(CertificateError::Height { .. })
        ));
        assert!(matches!(
            verify_certificate(&all, 5, BlockId([8; 32]), &set),
            Err(CertificateError::Block { .. })
        ));
        assert!(
            decode_certificate(&[encode_certificate(&all).unwrap(), vec![0]].concat()).is_err(),
            "trailing bytes"
        );
    }
}
