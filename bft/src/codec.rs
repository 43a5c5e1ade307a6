//! The wire and WAL encoding of every consensus, sync and WAL message: borsh (Malachite's
//! own `borsh` implementations for its generic messages, ours for cpcd's types). Decoding is
//! strict: trailing bytes, unknown tags and out-of-range rounds are refused.

use bytes::Bytes;
use malachitebft_app::types::core::{CommitCertificate, PolkaCertificate, ValidatorProof};
use malachitebft_app::types::streaming::StreamMessage;
use malachitebft_app::types::sync;
use malachitebft_app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_codec::{Codec, HasEncodedLen};
use malachitebft_core_consensus::LivenessMsg;

use malachitebft_app::types::core::{ExtendedCommitCertificate, ExtendedCommitSignature};
use malachitebft_sync::ValueResponse;

use crate::context::{BlockId, CpcContext, Height, ProposalPart, Sig, ValAddr, round_from_i64};

/// A message that did not decode (or, never in practice, did not encode).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct CodecError {
    what: &'static str,
    #[source]
    source: borsh::io::Error,
}

/// The one codec cpcd gives Malachite for the network, sync and WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

macro_rules! borsh_codec {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl Codec<$t> for BorshCodec {
            type Error = CodecError;
            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                borsh::from_slice(&bytes).map_err(|source| CodecError { what: $what, source })
            }
            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                borsh::to_vec(msg).map(Bytes::from).map_err(|source| CodecError { what: $what, source })
            }
        }
    )*};
}

borsh_codec! {
    ProposalPart => "proposal part",
    SignedConsensusMsg<CpcContext> => "consensus message",
    LivenessMsg<CpcContext> => "liveness message",
    StreamMessage<ProposalPart> => "proposal stream message",
    sync::Status<CpcContext> => "sync status",
    sync::Request<CpcContext> => "sync request",
    ProposedValue<CpcContext> => "proposed value",
    PolkaCertificate<CpcContext> => "polka certificate",
    CommitCertificate<CpcContext> => "commit certificate",
}

/// One synced value on the wire: the block's bytes and its commit certificate as
/// (height, round, block hash, [(validator, signature)]). cpcd votes carry no extensions.
type WireDecided = (Vec<u8>, Height, i64, BlockId, Vec<(ValAddr, Sig)>);

fn wire_response(
    msg: &sync::Response<CpcContext>,
) -> Result<(Height, Vec<WireDecided>), CodecError> {
    let sync::Response::ValueResponse(r) = msg;
    let mut values = Vec::with_capacity(r.values.len());
    for v in &r.values {
        let c = &v.certificate;
        let mut sigs = Vec::with_capacity(c.commit_signatures.len());
        for s in &c.commit_signatures {
            if s.extension.is_some() {
                return Err(CodecError {
                    what: "sync response",
                    source: borsh::io::Error::new(
                        borsh::io::ErrorKind::InvalidInput,
                        "expected no vote extension (cpcd disables them), found one",
                    ),
                });
            }
            sigs.push((s.address, s.signature));
        }
        values.push((
            v.value_bytes.to_vec(),
            c.height,
            c.round.as_i64(),
            c.value_id,
            sigs,
        ));
    }
    Ok((r.start_height, values))
}

impl Codec<sync::Response<CpcContext>> for BorshCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<sync::Response<CpcContext>, CodecError> {
        let err = |source| CodecError {
            what: "sync response",
            source,
        };
        let (start_height, wire): (Height, Vec<WireDecided>) =
            borsh::from_slice(&bytes).map_err(err)?;
        let mut values = Vec::with_capacity(wire.len());
        for (value_bytes, height, round, value_id, sigs) in wire {
            let round = round_from_i64(round).map_err(err)?;
            let commit_signatures = sigs
                .into_iter()
                .map(|(address, signature)| ExtendedCommitSignature {
                    address,
                    signature,
                    extension: None,
                })
                .collect();
            let certificate = ExtendedCommitCertificate {
                height,
                round,
                value_id,
                commit_signatures,
            };
            values.push(sync::RawDecidedValue::new(value_bytes.into(), certificate));
        }
        Ok(sync::Response::ValueResponse(ValueResponse {
            start_height,
            values,
        }))
    }
    fn encode(&self, msg: &sync::Response<CpcContext>) -> Result<Bytes, CodecError> {
        let wire = wire_response(msg)?;
        borsh::to_vec(&wire)
            .map(Bytes::from)
            .map_err(|source| CodecError {
                what: "sync response",
                source,
            })
    }
}

impl HasEncodedLen<sync::Response<CpcContext>> for BorshCodec {
    fn encoded_len(&self, msg: &sync::Response<CpcContext>) -> Result<usize, CodecError> {
        let wire = wire_response(msg)?;
        borsh::object_length(&wire).map_err(|source| CodecError {
            what: "sync response",
            source,
        })
    }
}

// Malachite gives the validator proof no borsh encoding: (public key, peer id, signature).
impl Codec<ValidatorProof<CpcContext>> for BorshCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<CpcContext>, CodecError> {
        let (public_key, peer_id, sig): (Vec<u8>, Vec<u8>, Sig) = borsh::from_slice(&bytes)
            .map_err(|source| CodecError {
                what: "validator proof",
                source,
            })?;
        Ok(ValidatorProof::new(public_key, peer_id, sig))
    }
    fn encode(&self, p: &ValidatorProof<CpcContext>) -> Result<Bytes, CodecError> {
        borsh::to_vec(&(&p.public_key, &p.peer_id, &p.signature))
            .map(Bytes::from)
            .map_err(|source| CodecError {
                what: "validator proof",
                source,
            })
    }
}
