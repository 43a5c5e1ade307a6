//! Signing and strict verification of consensus messages with the validator's Ed25519 key.

use std::sync::Arc;

use async_trait::async_trait;
use cpc_primitives::{PublicKey, SecretKey, Signature};
use malachitebft_app_channel::app::types::core::{
    SignedMessage, ValidatorProof, VoteExtensionScope,
};
use malachitebft_app_channel::{Signer, Verifier};
use malachitebft_signing::{Error, VerificationResult};

use crate::context::{ConsensusKey, CpcContext, Proposal, Sig, VALIDATOR_PROOF_DOMAIN, Vote};

/// Domain tag of a vote extension's signing bytes (cpcd sends none; the scheme still signs
/// them apart from every other message).
pub const EXTENSION_DOMAIN: &[u8] = b"CPC-VOTEEXT-V1:";

fn extension_bytes(scope: &VoteExtensionScope<CpcContext>) -> Vec<u8> {
    let mut out = EXTENSION_DOMAIN.to_vec();
    out.extend_from_slice(&scope.height.0.to_be_bytes());
    out.extend_from_slice(&scope.round.as_i64().to_be_bytes());
    out.extend_from_slice(&scope.value_id.0);
    out.extend_from_slice(&scope.validator_address.0);
    out
}

fn proof_bytes(public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    let mut out = VALIDATOR_PROOF_DOMAIN.to_vec();
    out.extend_from_slice(&ValidatorProof::<CpcContext>::signing_bytes(
        public_key, peer_id,
    ));
    out
}

fn verify(msg: &[u8], sig: &Sig, key: &ConsensusKey) -> VerificationResult {
    VerificationResult::from_bool(
        key.primitive()
            .verify_strict(msg, &Signature(sig.0))
            .is_ok(),
    )
}

/// Verifies every signed consensus message strictly (canonical keys, no small-order points).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519Verifier;

/// Signs with one validator's key.
#[derive(Clone)]
pub struct Ed25519Signer {
    key: Arc<SecretKey>,
}

impl Ed25519Signer {
    pub fn new(key: Arc<SecretKey>) -> Self {
        Ed25519Signer { key }
    }
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }
    fn sign(&self, msg: &[u8]) -> Sig {
        Sig(self.key.sign(msg).0)
    }
}

#[async_trait]
impl Verifier<CpcContext> for Ed25519Verifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Sig,
        public_key: &ConsensusKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(&vote.signing_bytes(), signature, public_key))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Sig,
        public_key: &ConsensusKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(&proposal.signing_bytes(), signature, public_key))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<CpcContext>,
        _extension: &(),
        signature: &Sig,
        public_key: &ConsensusKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(&extension_bytes(scope), signature, public_key))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<CpcContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(key) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(verify(
            &proof_bytes(&proof.public_key, &proof.peer_id),
            &proof.signature,
            &ConsensusKey(key),
        ))
    }
}

#[async_trait]
impl Signer<CpcContext> for Ed25519Signer {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<CpcContext, Vote>, Error> {
        let sig = self.sign(&vote.signing_bytes());
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<CpcContext, Proposal>, Error> {
        let sig = self.sign(&proposal.signing_bytes());
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<CpcContext>,
        extension: (),
    ) -> Result<SignedMessage<CpcContext, ()>, Error> {
        let sig = self.sign(&extension_bytes(&scope));
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<CpcContext>, Error> {
        let sig = self.sign(&proof_bytes(&public_key, &peer_id));
        Ok(ValidatorProof::new(public_key, peer_id, sig))
    }
}
