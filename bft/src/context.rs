//! cpcd's types behind Malachite's `Context`: heights, validator addresses, the proposed value
//! (a block hash, the block itself travels as proposal parts), votes, proposals and the
//! deterministic proposer choice.
//!
//! Every signed message has its own domain tag, so a vote's signature can never be replayed as
//! a proposal's, a block header's (`CPC-BLOCK-V2:`) or a transaction's. The signing bytes are
//! fixed-width and big-endian; they are the wire contract of consensus messages and are written
//! down in docs/CONSENSUS.md.

use std::fmt;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use cpc_primitives::{PublicKey, SecretKey, ValconsAddress};
use malachitebft_app_channel::app::types::core::{
    self as mc, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};

/// Domain tag of a vote's signing bytes.
pub const VOTE_DOMAIN: &[u8] = b"CPC-VOTE-V1:";
/// Domain tag of a proposal's signing bytes.
pub const PROPOSAL_DOMAIN: &[u8] = b"CPC-PROPOSAL-V1:";
/// Domain tag of a validator proof (the libp2p peer id bound to a consensus key).
pub const VALIDATOR_PROOF_DOMAIN: &[u8] = b"CPC-VALPROOF-V1:";

/// A block height. Height 0 is genesis, consensus decides heights from 1.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's consensus address: the 20 bytes of `cpcvalcons1…` (PROTOCOL.md §addresses).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValAddr(pub [u8; 20]);

impl ValAddr {
    pub fn from_public_key(pk: &PublicKey) -> Self {
        ValAddr(ValconsAddress::from_public_key(pk).0)
    }
    pub fn valcons(&self) -> ValconsAddress {
        ValconsAddress(self.0)
    }
}

impl fmt::Display for ValAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.valcons(), f)
    }
}
impl fmt::Debug for ValAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.valcons(), f)
    }
}

impl mc::Address for ValAddr {}

/// The id of a proposed value: the block hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockId(pub [u8; 32]);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", hex::encode(&self.0[..8]))
    }
}

/// What consensus agrees on. The block's bytes travel as [`ProposalPart`]s and are checked by
/// the application before a validator prevotes for this id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct BlockValue(pub BlockId);

impl mc::Value for BlockValue {
    type Id = BlockId;
    fn id(&self) -> BlockId {
        self.0
    }
}

/// An Ed25519 public key (consensus key), in Malachite's types.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct ConsensusKey(pub [u8; 32]);

impl ConsensusKey {
    pub fn primitive(&self) -> PublicKey {
        PublicKey(self.0)
    }
}

/// An Ed25519 signature, in Malachite's types (ordered, as Malachite requires).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Sig(pub [u8; 64]);

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({}…)", hex::encode(&self.0[..8]))
    }
}

/// The private half of a consensus key.
#[derive(Clone)]
pub struct ConsensusSecret(pub Arc<SecretKey>);

/// Ed25519 with strict verification (`PublicKey::verify_strict`), the scheme of every signed
/// consensus message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

/// A signature or key of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthError {
    pub expected: usize,
    pub found: usize,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} bytes, found {}", self.expected, self.found)
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], LengthError> {
    <[u8; N]>::try_from(bytes).map_err(|_| LengthError {
        expected: N,
        found: bytes.len(),
    })
}

impl mc::SigningScheme for Ed25519Scheme {
    type DecodingError = LengthError;
    type Signature = Sig;
    type PublicKey = ConsensusKey;
    type PrivateKey = ConsensusSecret;

    fn decode_signature(bytes: &[u8]) -> Result<Sig, LengthError> {
        fixed(bytes).map(Sig)
    }
    fn encode_signature(signature: &Sig) -> Vec<u8> {
        signature.0.to_vec()
    }
    fn decode_public_key(bytes: &[u8]) -> Result<ConsensusKey, LengthError> {
        fixed(bytes).map(ConsensusKey)
    }
    fn encode_public_key(public_key: &ConsensusKey) -> Vec<u8> {
        public_key.0.to_vec()
    }
}

/// One member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    pub address: ValAddr,
    pub public_key: ConsensusKey,
    pub voting_power: VotingPower,
}

impl Validator {
    pub fn new(public_key: PublicKey, voting_power: VotingPower) -> Self {
        Validator {
            address: ValAddr::from_public_key(&public_key),
            public_key: ConsensusKey(public_key.0),
            voting_power,
        }
    }
}

impl mc::Validator<CpcContext> for Validator {
    fn address(&self) -> &ValAddr {
        &self.address
    }
    fn public_key(&self) -> &ConsensusKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// Why a validator set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    #[error("validator set: expected at least one validator, found none")]
    Empty,
    #[error("validator set: {0} appears twice")]
    Duplicate(ValAddr),
    #[error("validator set: {0} has voting power 0 (expected at least 1)")]
    ZeroPower(ValAddr),
    #[error("validator set: total voting power overflows u64")]
    Overflow,
}

/// The validators of a height in the chain's order (genesis order), with their total power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    by_address: std::collections::BTreeMap<ValAddr, usize>,
    total: VotingPower,
}

impl ValidatorSet {
    pub fn new(validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        let mut total: VotingPower = 0;
        let mut by_address = std::collections::BTreeMap::new();
        for (i, v) in validators.iter().enumerate() {
            if by_address.insert(v.address, i).is_some() {
                return Err(ValidatorSetError::Duplicate(v.address));
            }
            if v.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.address));
            }
            total = total
                .checked_add(v.voting_power)
                .ok_or(ValidatorSetError::Overflow)?;
        }
        Ok(ValidatorSet {
            validators,
            by_address,
            total,
        })
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn get(&self, address: &ValAddr) -> Option<&Validator> {
        self.by_address.get(address).map(|&i| &self.validators[i])
    }

    /// The proposer of `(height, round)`: the chain's schedule
    /// (`cpc_consensus::schedule::proposer_slot` on the line of cumulative voting powers, in the
    /// set's order), so the engine's proposer check and consensus agree; every window of
    /// `total_power` consecutive slots gives each validator exactly its power in turns,
    /// interleaved. Nothing a proposer writes in its block takes part.
    pub fn proposer(&self, height: Height, round: Round) -> &Validator {
        let r = round.as_u32().unwrap_or(0);
        let slot = cpc_consensus::schedule::proposer_slot(height.0, r, self.total);
        let mut acc: VotingPower = 0;
        for v in &self.validators {
            acc += v.voting_power;
            if slot < acc {
                return v;
            }
        }
        // `slot < total` and the powers sum to `total`.
        &self.validators[self.validators.len() - 1]
    }

    /// Strictly more than ⅔ of the total power (Tendermint's commit quorum).
    pub fn is_quorum(&self, power: VotingPower) -> bool {
        (power as u128) * 3 > (self.total as u128) * 2
    }
}

impl mc::ValidatorSet<CpcContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.total
    }
    fn get_by_address(&self, address: &ValAddr) -> Option<&Validator> {
        self.get(address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

fn put_round(out: &mut Vec<u8>, round: Round) {
    out.extend_from_slice(&round.as_i64().to_be_bytes());
}

/// A vote type on the wire and in signing bytes: 1 prevote, 2 precommit.
fn vote_type_code(t: VoteType) -> u8 {
    match t {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    }
}

fn put_nil_or_val(out: &mut Vec<u8>, v: &NilOrVal<BlockId>) {
    match v {
        NilOrVal::Nil => out.push(0),
        NilOrVal::Val(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub vote_type: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockId>,
    pub validator: ValAddr,
    pub extension: Option<SignedExtension<CpcContext>>,
}

impl Vote {
    /// A vote without extension (cpcd disables them).
    pub fn new(
        vote_type: VoteType,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValAddr,
    ) -> Self {
        Vote {
            vote_type,
            height,
            round,
            value,
            validator,
            extension: None,
        }
    }

    /// `"CPC-VOTE-V1:" ‖ type (1 = prevote, 2 = precommit) ‖ height u64 ‖ round i64 ‖
    /// (0 | 1 ‖ block hash) ‖ validator (20 bytes)`, integers big-endian.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 1 + 8 + 8 + 33 + 20);
        out.extend_from_slice(VOTE_DOMAIN);
        out.push(vote_type_code(self.vote_type));
        out.extend_from_slice(&self.height.0.to_be_bytes());
        put_round(&mut out, self.round);
        put_nil_or_val(&mut out, &self.value);
        out.extend_from_slice(&self.validator.0);
        out
    }
}

impl mc::Vote<CpcContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &ValAddr {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<CpcContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<CpcContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<CpcContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

// Votes carry no extension in cpcd (VoteExtensionPolicy::Disabled): a received vote that has
// one is refused at decoding, so nothing unsigned-by-us rides along.
impl BorshSerialize for Vote {
    fn serialize<W: borsh::io::Write>(&self, w: &mut W) -> borsh::io::Result<()> {
        vote_type_code(self.vote_type).serialize(w)?;
        self.height.serialize(w)?;
        self.round.as_i64().serialize(w)?;
        match &self.value {
            NilOrVal::Nil => 0u8.serialize(w)?,
            NilOrVal::Val(id) => {
                1u8.serialize(w)?;
                id.serialize(w)?;
            }
        }
        self.validator.serialize(w)
    }
}

fn bad(msg: &str) -> borsh::io::Error {
    borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, msg.to_string())
}

fn read_round<R: borsh::io::Read>(r: &mut R) -> borsh::io::Result<Round> {
    round_from_i64(i64::deserialize_reader(r)?)
}

/// A round from its `i64` wire form: −1 is nil, 0..=u32::MAX a round, anything else refused.
pub fn round_from_i64(v: i64) -> borsh::io::Result<Round> {
    match v {
        -1 => Ok(Round::Nil),
        0..=0xffff_ffff => Ok(Round::new(v as u32)),
        _ => Err(bad("round: expected -1 or 0..=u32::MAX")),
    }
}

impl BorshDeserialize for Vote {
    fn deserialize_reader<R: borsh::io::Read>(r: &mut R) -> borsh::io::Result<Self> {
        let vote_type = match u8::deserialize_reader(r)? {
            1 => VoteType::Prevote,
            2 => VoteType::Precommit,
            _ => return Err(bad("vote type: expected 1 (prevote) or 2 (precommit)")),
        };
        let height = Height::deserialize_reader(r)?;
        let round = read_round(r)?;
        let value = match u8::deserialize_reader(r)? {
            0 => NilOrVal::Nil,
            1 => NilOrVal::Val(BlockId::deserialize_reader(r)?),
            _ => return Err(bad("vote value: expected tag 0 (nil) or 1 (block)")),
        };
        let validator = ValAddr::deserialize_reader(r)?;
        Ok(Vote::new(vote_type, height, round, value, validator))
    }
}

/// A proposal: `value` at `(height, round)`, re-proposed from `pol_round` when that is defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockValue,
    pub pol_round: Round,
    pub proposer: ValAddr,
}

impl Proposal {
    /// `"CPC-PROPOSAL-V1:" ‖ height u64 ‖ round i64 ‖ block hash ‖ pol_round i64 ‖ proposer`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PROPOSAL_DOMAIN.len() + 8 + 8 + 32 + 8 + 20);
        out.extend_from_slice(PROPOSAL_DOMAIN);
        out.extend_from_slice(&self.height.0.to_be_bytes());
        put_round(&mut out, self.round);
        out.extend_from_slice(&self.value.0.0);
        put_round(&mut out, self.pol_round);
        out.extend_from_slice(&self.proposer.0);
        out
    }
}

impl BorshSerialize for Proposal {
    fn serialize<W: borsh::io::Write>(&self, w: &mut W) -> borsh::io::Result<()> {
        self.height.serialize(w)?;
        self.round.as_i64().serialize(w)?;
        self.value.serialize(w)?;
        self.pol_round.as_i64().serialize(w)?;
        self.proposer.serialize(w)
    }
}

impl BorshDeserialize for Proposal {
    fn deserialize_reader<R: borsh::io::Read>(r: &mut R) -> borsh::io::Result<Self> {
        Ok(Proposal {
            height: Height::deserialize_reader(r)?,
            round: read_round(r)?,
            value: BlockValue::deserialize_reader(r)?,
            pol_round: read_round(r)?,
            proposer: ValAddr::deserialize_reader(r)?,
        })
    }
}

impl mc::Proposal<CpcContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockValue {
        &self.value
    }
    fn take_value(self) -> BlockValue {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValAddr {
        &self.proposer
    }
}

/// The most bytes one [`ProposalPart::Data`] carries (the block is cut into such chunks).
pub const PART_BYTES: usize = 256 * 1024;

/// A piece of a streamed proposal: who proposes what at which `(height, round)`, then the
/// block's bytes in chunks, then the end. A relay cannot forge a block this way: the block
/// header is signed by its builder and the application checks that builder against the
/// proposer the validator set chooses before it votes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init {
        height: Height,
        round: i64,
        pol_round: i64,
        proposer: ValAddr,
    },
    Data(Vec<u8>),
    Fin,
}

impl mc::ProposalPart<CpcContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin)
    }
}

/// cpcd's Malachite context.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpcContext;

impl mc::Context for CpcContext {
    type Address = ValAddr;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519Scheme;

    fn select_proposer<'a>(
        &self,
        set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        set.proposer(height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: ValAddr,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        address: ValAddr,
    ) -> Vote {
        Vote::new(VoteType::Prevote, height, round, value, address)
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        address: ValAddr,
    ) -> Vote {
        Vote::new(VoteType::Precommit, height, round, value, address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> PublicKey {
        SecretKey::from_bytes(&[i; 32]).public_key()
    }

    #[test]
    fn proposer_rotation_follows_power_not_the_block() {
        let set = ValidatorSet::new(vec![
            Validator::new(key(1), 1),
            Validator::new(key(2), 2),
            Validator::new(key(3), 1),
        ])
        .unwrap();
        // Count turns over one window of total power, independently of `proposer`'s walk.
        let mut turns = std::collections::BTreeMap::new();
        for h in 1..=4u64 {
            *turns
                .entry(set.proposer(Height(h), Round::new(0)).address)
                .or_insert(0u64) += 1;
        }
        for v in set.validators() {
            assert_eq!(turns[&v.address], v.voting_power, "{v:?}");
        }
        // A later round moves the turn to the next slot.
        assert_eq!(
            set.proposer(Height(1), Round::new(1)).address,
            set.proposer(Height(2), Round::new(0)).address
        );
        // It is the chain's schedule (consensus/src/schedule.rs), weighted the same way.
        let keys: Vec<_> = (1..=4).map(key).collect();
        let powers = [3u64, 10_000, 10_000, 7];
        let eq = ValidatorSet::new(keys.iter().zip(powers).map(|(k, p)| Validator::new(*k, p)).collect()).unwrap();
        let chain = cpc_consensus::ValidatorSet::weighted(keys.iter().copied().zip(powers).collect());
        for h in 0..40u64 {
            for r in 0..3u32 {
                let want = ValAddr::from_public_key(chain.proposer(h, r));
                assert_eq!(
                    eq.proposer(Height(h), Round::new(r)).address,
                    want,
                    "h {h} r {r}"
                );
            }
        }
    }

    #[test]
    fn quorum_is_strictly_more_than_two_thirds() {
        let set = ValidatorSet::new((1..=4).map(|i| Validator::new(key(i), 1)).collect()).unwrap();
        assert!(!set.is_quorum(2));
        assert!(set.is_quorum(3));
        let set3 = ValidatorSet::new((1..=3).map(|i| Validator::new(key(i), 1)).collect()).unwrap();
        assert!(!set3.is_quorum(2), "exactly 2/3 is not a quorum");
    }

    #[test]
    fn bad_sets_are_refused() {
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
        let v = Validator::new(key(1), 1);
        assert_eq!(
            ValidatorSet::new(vec![v.clone(), v.clone()]),
            Err(ValidatorSetError::Duplicate(v.address))
        );
        assert_eq!(
            ValidatorSet::new(vec![Validator::new(key(1), 0)]),
            Err(ValidatorSetError::ZeroPower(v.address))
        );
        assert_eq!(
            ValidatorSet::new(vec![
                Validator::new(key(1), u64::MAX),
                Validator::new(key(2), 1)
            ]),
            Err(ValidatorSetError::Overflow)
        );
    }

    #[test]
    fn signing_bytes_separate_every_field() {
        let v = Vote {
            vote_type: VoteType::Prevote,
            height: Height(7),
            round: Round::new(2),
            value: NilOrVal::Val(BlockId([9; 32])),
            validator: ValAddr([1; 20]),
            extension: None,
        };
        let base = v.signing_bytes();
        assert!(base.starts_with(VOTE_DOMAIN));
        let variants = [
            Vote {
                vote_type: VoteType::Precommit,
                ..v.clone()
            },
            Vote {
                height: Height(8),
                ..v.clone()
            },
            Vote {
                round: Round::new(3),
                ..v.clone()
            },
            Vote {
                round: Round::Nil,
                ..v.clone()
            },
            Vote {
                value: NilOrVal::Nil,
                ..v.clone()
            },
            Vote {
                value: NilOrVal::Val(BlockId([8; 32])),
                ..v.clone()
            },
            Vote {
                validator: ValAddr([2; 20]),
                ..v.clone()
            },
        ];
        for w in variants {
            assert_ne!(w.signing_bytes(), base, "{w:?}");
        }
        let p = Proposal {
            height: Height(7),
            round: Round::new(2),
            value: BlockValue(BlockId([9; 32])),
            pol_round: Round::Nil,
            proposer: ValAddr([1; 20]),
        };
        assert!(p.signing_bytes().starts_with(PROPOSAL_DOMAIN));
        assert_ne!(
            p.signing_bytes(),
            Proposal {
                pol_round: Round::new(1),
                ..p.clone()
            }
            .signing_bytes()
        );
    }
}
