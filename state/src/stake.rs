//! Staking records: what the chain keeps about validators, delegations, unbonding entries and
//! the active sets, their keys, their bytes and their leaves in the state tree
//! (docs/PROTOCOL-NOTES.md, Staking state).
//!
//! Every record lives under one key in the `staking` column family and occupies one slot of
//! the state tree, shared with the accounts (slots are handed out in execution order). Its
//! leaf is `H(0x02 ‖ le32 len(key) ‖ key ‖ value)`, where `value` is the record's JSON (field
//! order as declared here) or empty for a record that was removed (the slot stays).

use crate::staking::Pool;
use cpc_primitives::{sha256_concat, Address, PublicKey, ValconsAddress, H256, UNITS_PER_CPC};
use serde::{Deserialize, Serialize};
use uint::construct_uint;

construct_uint! {
    /// Reward-per-share accumulators (F1) and their products.
    pub struct U256(4);
}
construct_uint! {
    /// `shares × Δaccumulator` before the scale is divided out.
    pub struct U512(8);
}

/// Fixed-point scale of the reward-per-share accumulators: 2¹²⁸ (a delegator loses less than
/// one base unit to rounding per withdrawal).
pub fn reward_scale() -> U256 {
    U256::one() << 128
}

pub const TAG_VALIDATOR: u8 = 0x01;
pub const TAG_DELEGATION: u8 = 0x02;
pub const TAG_UNBONDING: u8 = 0x03;
pub const TAG_SET: u8 = 0x04;
pub const TAG_VALIDATOR_LIST: u8 = 0x05;
pub const TAG_JOB: u8 = 0x06;
pub const TAG_JOB_DUE: u8 = 0x07;
pub const TAG_BLOB_FEE: u8 = 0x08;

/// The key of one staking record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StakeKey {
    /// `0x01 ‖ operator`.
    Validator(Address),
    /// `0x02 ‖ delegator ‖ validator operator`.
    Delegation { delegator: Address, validator: Address },
    /// `0x03 ‖ be64 completion height ‖ validator operator ‖ delegator`: the key order is the
    /// completion-height index, so the entries due at a height are one prefix.
    Unbonding { completion: u64, validator: Address, delegator: Address },
    /// `0x04 ‖ be64 effective height`: the active set that decides heights from there on.
    Set(u64),
    /// `0x05`: every validator ever created, in creation order.
    ValidatorList,
    /// `0x06 ‖ job id`: a market job (state/src/market.rs).
    Job(H256),
    /// `0x07 ‖ be64 height ‖ kind ‖ job id`: what happens to a job at the end of `height`
    /// (kind 0: its claim ends; 1: its deadline).
    JobDue { height: u64, kind: u8, job: H256 },
    /// `0x08`: the market's blob fee state, `excess_blob_bytes` (absent while it is 0).
    BlobFee,
}

impl StakeKey {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            StakeKey::Validator(a) => [&[TAG_VALIDATOR][..], &a.0].concat(),
            StakeKey::Delegation { delegator, validator } => [&[TAG_DELEGATION][..], &delegator.0, &validator.0].concat(),
            StakeKey::Unbonding { completion, validator, delegator } => {
                [&[TAG_UNBONDING][..], &completion.to_be_bytes(), &validator.0, &delegator.0].concat()
            }
            StakeKey::Set(h) => [&[TAG_SET][..], &h.to_be_bytes()].concat(),
            StakeKey::ValidatorList => vec![TAG_VALIDATOR_LIST],
            StakeKey::Job(j) => [&[TAG_JOB][..], &j.0].concat(),
            StakeKey::JobDue { height, kind, job } => [&[TAG_JOB_DUE][..], &height.to_be_bytes(), &[*kind], &job.0].concat(),
            StakeKey::BlobFee => vec![TAG_BLOB_FEE],
        }
    }

    pub fn decode(b: &[u8]) -> Option<StakeKey> {
        let addr = |r: &[u8]| -> Option<Address> { Some(Address(r.try_into().ok()?)) };
        let (&tag, rest) = b.split_first()?;
        Some(match (tag, rest.len()) {
            (TAG_VALIDATOR, 20) => StakeKey::Validator(addr(rest)?),
            (TAG_DELEGATION, 40) => StakeKey::Delegation { delegator: addr(&rest[..20])?, validator: addr(&rest[20..])? },
            (TAG_UNBONDING, 48) => StakeKey::Unbonding {
                completion: u64::from_be_bytes(rest[..8].try_into().ok()?),
                validator: addr(&rest[8..28])?,
                delegator: addr(&rest[28..])?,
            },
            (TAG_SET, 8) => StakeKey::Set(u64::from_be_bytes(rest.try_into().ok()?)),
            (TAG_VALIDATOR_LIST, 0) => StakeKey::ValidatorList,
            (TAG_JOB, 32) => StakeKey::Job(H256(rest.try_into().ok()?)),
            (TAG_BLOB_FEE, 0) => StakeKey::BlobFee,
            (TAG_JOB_DUE, 41) => StakeKey::JobDue {
                height: u64::from_be_bytes(rest[..8].try_into().ok()?),
                kind: rest[8],
                job: H256(rest[9..].try_into().ok()?),
            },
            _ => return None,
        })
    }

    /// The prefix of the unbonding entries that complete at `height`.
    pub fn unbonding_prefix(height: u64) -> Vec<u8> {
        [&[TAG_UNBONDING][..], &height.to_be_bytes()].concat()
    }

    /// The prefix of the market's index entries due at the end of `height`.
    pub fn job_due_prefix(height: u64) -> Vec<u8> {
        [&[TAG_JOB_DUE][..], &height.to_be_bytes()].concat()
    }

    /// The prefix of one delegator's delegations.
    pub fn delegations_prefix(delegator: &Address) -> Vec<u8> {
        [&[TAG_DELEGATION][..], &delegator.0].concat()
    }
}

/// Leaf hash of a staking record (`value` empty for a removed one).
pub fn stake_leaf(key: &[u8], value: &[u8]) -> H256 {
    sha256_concat(&[&[0x02u8], &(key.len() as u32).to_le_bytes(), key, value])
}

/// A stored staking record: its tree slot and its bytes (empty once removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StakeEntry {
    pub slot: u64,
    pub value: Vec<u8>,
}

impl StakeEntry {
    pub fn is_removed(&self) -> bool {
        self.value.is_empty()
    }
    pub fn leaf(&self, key: &[u8]) -> H256 {
        stake_leaf(key, &self.value)
    }
}

/// 256-bit accumulators as 64 hex digits in JSON.
pub mod hex_u256 {
    use super::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v.to_big_endian()))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(serde::de::Error::custom(format!("expected 64 lowercase hex digits, found {s:?}")));
        }
        let b = hex::decode(&s).map_err(|e| serde::de::Error::custom(e.to_string()))?;
        Ok(U256::from_big_endian(&b))
    }
}

/// Basis points (1/10 000).
pub const BPS: u32 = 10_000;

/// A validator's commission: the part of its rewards kept by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commission {
    /// Current rate, basis points.
    pub rate_bps: u32,
    /// The rate can never exceed this (fixed at creation).
    pub max_rate_bps: u32,
    /// The rate moves by at most this much per change (fixed at creation).
    pub max_change_bps: u32,
    /// Block timestamp (ms) of the last change; one change per 24 h.
    pub changed_at_ms: u64,
}

/// A signed-blocks window: one bit per block counted, set where the validator's precommit is
/// missing from the certificate; O(1) per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// Blocks counted since the window (re)started.
    pub counted: u64,
    /// Misses among the last `window` counted blocks.
    pub missed: u64,
    /// The window's bits, hex, `ceil(window / 8)` bytes.
    pub bits: String,
}

impl Liveness {
    fn bitmap(&self, window: u64) -> Vec<u8> {
        let mut b = hex::decode(&self.bits).unwrap_or_default();
        b.resize(window.div_ceil(8) as usize, 0);
        b
    }

    /// Records one block (`missed` or signed); returns the misses in the window now.
    pub fn record(&mut self, window: u64, missed: bool) -> u64 {
        let mut b = self.bitmap(window);
        let i = (self.counted % window) as usize;
        let (byte, bit) = (i / 8, 1u8 << (i % 8));
        let was = b[byte] & bit != 0;
        match (was, missed) {
            (false, true) => self.missed += 1,
            (true, false) => self.missed -= 1,
            _ => {}
        }
        if missed { b[byte] |= bit } else { b[byte] &= !bit }
        self.counted += 1;
        self.bits = hex::encode(b);
        self.missed
    }
}

/// One validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorRecord {
    pub operator: Address,
    pub consensus_key: PublicKey,
    pub moniker: String,
    pub commission: Commission,
    /// Bonded tokens.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub tokens: u128,
    /// Delegator shares of those tokens (the self-bond included).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub shares: u128,
    pub jailed: bool,
    /// UNJAIL is refused before this height.
    pub jailed_until: u64,
    /// Slashed for double signing: never unjailed again.
    pub tombstoned: bool,
    pub liveness: Liveness,
    /// F1: the delegators' rewards per share since creation, scaled by 2¹²⁸.
    #[serde(with = "hex_u256")]
    pub reward_per_share: U256,
    /// Commission earned and not yet withdrawn by the operator.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub commission_pending: u128,
    pub created_height: u64,
}

impl ValidatorRecord {
    pub fn pool(&self) -> Pool {
        Pool { tokens: self.tokens, shares: self.shares }
    }
    pub fn set_pool(&mut self, p: Pool) {
        self.tokens = p.tokens;
        self.shares = p.shares;
    }
    pub fn consensus_address(&self) -> ValconsAddress {
        ValconsAddress::from_public_key(&self.consensus_key)
    }
}

/// A delegator's stake in one validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRecord {
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub shares: u128,
    /// The validator's `reward_per_share` when the rewards were last settled.
    #[serde(with = "hex_u256")]
    pub reward_snapshot: U256,
    /// Unbonding entries of this delegator at this validator still in flight.
    pub unbonding_entries: u32,
}

/// Tokens on their way back to a delegator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnbondingRecord {
    /// The height the (first) undelegation of this entry was included at.
    pub creation_height: u64,
    /// Released from the pool.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub initial: u128,
    /// What will be paid at completion (less after a slash).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub balance: u128,
}

/// One member of an active set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub operator: Address,
    pub consensus_key: PublicKey,
    /// Voting power: bonded tokens in whole CPC.
    pub power: u64,
}

/// The validators that decide heights from the set's effective height on, in proposer order
/// (power descending, then operator address; the genesis set in genesis order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveSet {
    pub members: Vec<SetMember>,
}

impl ActiveSet {
    pub fn total_power(&self) -> u64 {
        self.members.iter().map(|m| m.power).sum()
    }
    pub fn by_consensus_address(&self, a: &ValconsAddress) -> Option<&SetMember> {
        self.members.iter().find(|m| ValconsAddress::from_public_key(&m.consensus_key) == *a)
    }
}

/// The most voting power a validator is given, so that a set of 100 sums within u64 with room.
pub const MAX_POWER: u64 = 1 << 53;

/// Voting power of `tokens`: whole CPC, capped at [`MAX_POWER`].
pub fn power_of(tokens: u128) -> u64 {
    (tokens / UNITS_PER_CPC).min(MAX_POWER as u128) as u64
}

/// One record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StakeRecord {
    Validator(ValidatorRecord),
    Delegation(DelegationRecord),
    Unbonding(UnbondingRecord),
    Set(ActiveSet),
    ValidatorList(Vec<Address>),
    Job(crate::market::JobRecord),
    JobDue(crate::market::JobDue),
    BlobFee(crate::market::BlobFeeState),
}

impl StakeRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StakeRecord::Validator(v) => serde_json::to_vec(v),
            StakeRecord::Delegation(v) => serde_json::to_vec(v),
            StakeRecord::Unbonding(v) => serde_json::to_vec(v),
            StakeRecord::Set(v) => serde_json::to_vec(v),
            StakeRecord::ValidatorList(v) => serde_json::to_vec(v),
            StakeRecord::Job(v) => serde_json::to_vec(v),
            StakeRecord::JobDue(v) => serde_json::to_vec(v),
            StakeRecord::BlobFee(v) => serde_json::to_vec(v),
        }
        .expect("records serialize")
    }

    /// Decodes the bytes of a record stored under `key` (never empty: removed records are
    /// handled by the caller).
    pub fn from_bytes(key: &StakeKey, b: &[u8]) -> Result<StakeRecord, String> {
        let e = |e: serde_json::Error| format!("{key:?}: {e}");
        Ok(match key {
            StakeKey::Validator(_) => StakeRecord::Validator(serde_json::from_slice(b).map_err(e)?),
            StakeKey::Delegation { .. } => StakeRecord::Delegation(serde_json::from_slice(b).map_err(e)?),
            StakeKey::Unbonding { .. } => StakeRecord::Unbonding(serde_json::from_slice(b).map_err(e)?),
            StakeKey::Set(_) => StakeRecord::Set(serde_json::from_slice(b).map_err(e)?),
            StakeKey::ValidatorList => StakeRecord::ValidatorList(serde_json::from_slice(b).map_err(e)?),
            StakeKey::Job(_) => StakeRecord::Job(serde_json::from_slice(b).map_err(e)?),
            StakeKey::JobDue { .. } => StakeRecord::JobDue(serde_json::from_slice(b).map_err(e)?),
            StakeKey::BlobFee => StakeRecord::BlobFee(serde_json::from_slice(b).map_err(e)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_unbonding_keys_sort_by_completion() {
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        for k in [
            StakeKey::Validator(a),
            StakeKey::Delegation { delegator: a, validator: b },
            StakeKey::Unbonding { completion: 7, validator: b, delegator: a },
            StakeKey::Set(9),
            StakeKey::ValidatorList,
        ] {
            assert_eq!(StakeKey::decode(&k.encode()), Some(k));
        }
        let early = StakeKey::Unbonding { completion: 255, validator: b, delegator: b }.encode();
        let late = StakeKey::Unbonding { completion: 256, validator: a, delegator: a }.encode();
        assert!(early < late, "big-endian heights: the byte order is the completion order");
        assert!(late.starts_with(&StakeKey::unbonding_prefix(256)));
        assert_eq!(StakeKey::decode(&[TAG_VALIDATOR, 1, 2]), None);
    }

    #[test]
    fn liveness_window_counts_misses_in_the_last_w_blocks() {
        let mut l = Liveness::default();
        // Independent model: the last 5 outcomes.
        let pattern = [true, false, true, true, false, false, true, false, false, false, false, true];
        let mut history = Vec::new();
        for m in pattern {
            history.push(m);
            let got = l.record(5, m);
            let want = history.iter().rev().take(5).filter(|x| **x).count() as u64;
            assert_eq!(got, want, "after {history:?}");
        }
        assert_eq!(l.counted, pattern.len() as u64);
    }

    #[test]
    fn power_is_whole_cpc_capped() {
        assert_eq!(power_of(UNITS_PER_CPC - 1), 0);
        assert_eq!(power_of(3 * UNITS_PER_CPC + 5), 3);
        assert_eq!(power_of(u128::MAX), MAX_POWER);
    }
}
