//! Genesis: the document a chain starts from, its validation, the genesis block, and the
//! built-in dev genesis (`cpcd --dev`).
//!
//! The genesis block is derived deterministically from the document: height 0, `prev_hash`
//! of 64 zeros, `timestamp = genesis_time`, the first validator as proposer, and an all-zero
//! signature (nobody signs genesis; every node rebuilds it from the same document).

use cpc_primitives::*;
use cpc_state::{BlockExecutor, BlockOutcome, ChainParams, CreateValidator, Economics, MarketParams, MemState, PocParams, StakingParams};
use serde::{Deserialize, Serialize};

/// Chain id of the built-in dev chain.
pub const DEV_CHAIN_ID: &str = "cpc-devnet-1";
/// Number of prefunded dev accounts.
pub const DEV_ACCOUNTS: usize = 10;
/// Balance of each dev account: 1 000 000 CPC.
pub const DEV_BALANCE: u128 = 1_000_000 * UNITS_PER_CPC;
/// Self-bond of the dev validator: ten times all the dev accounts hold together, so that no
/// stake on the dev chain outweighs it and the dev chain stays a chain of one validator.
pub const DEV_VALIDATOR_SELF_BOND: u128 = 100 * DEV_ACCOUNTS as u128 * DEV_BALANCE;
/// Fixed genesis time of the dev chain (2024-01-01T00:00:00Z), so its genesis hash never
/// changes and `--dev --datadir` can resume.
pub const DEV_GENESIS_TIME_MS: u64 = 1_704_067_200_000;
/// Default block gas limit (the dev-chain issue).
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 50_000_000;
/// Default minimum gas price.
pub const DEFAULT_MIN_GAS_PRICE: u64 = 1000;
/// Default block time.
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1000;
/// Default cap on transactions per block: the gas limit already caps transfers at 2 380
/// per block; this bounds block size for cheaper future types.
pub const DEFAULT_MAX_TXS_PER_BLOCK: usize = 10_000;
/// Longest chain id accepted.
pub const MAX_CHAIN_ID_LEN: usize = 64;

/// An initial balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    pub address: Address,
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub balance: u128,
}

/// Commission of a genesis validator unless its entry says otherwise: 10 %, at most 20 %,
/// moving by at most 1 % a day.
pub const DEFAULT_COMMISSION_BPS: u32 = 1_000;
pub const DEFAULT_MAX_COMMISSION_BPS: u32 = 2_000;
pub const DEFAULT_MAX_CHANGE_BPS: u32 = 100;

fn default_self_bond() -> u128 {
    StakingParams::default().min_self_bond
}
fn default_commission() -> u32 {
    DEFAULT_COMMISSION_BPS
}
fn default_max_commission() -> u32 {
    DEFAULT_MAX_COMMISSION_BPS
}
fn default_max_change() -> u32 {
    DEFAULT_MAX_CHANGE_BPS
}

/// A validator of the initial set: its key is both its consensus key and (through its
/// address) its operator account; its self-bond is created bonded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub name: String,
    pub pub_key: PublicKey,
    /// Tokens bonded at genesis (counted in the genesis supply; default the default minimum
    /// self-bond, 10 000 CPC).
    #[serde(default = "default_self_bond", with = "cpc_primitives::amount::dec_u128")]
    pub self_bond: u128,
    #[serde(default = "default_commission")]
    pub commission_rate_bps: u32,
    #[serde(default = "default_max_commission")]
    pub max_rate_bps: u32,
    #[serde(default = "default_max_change")]
    pub max_change_bps: u32,
}

impl GenesisValidator {
    /// A validator with the default self-bond and commission.
    pub fn new(name: impl Into<String>, pub_key: PublicKey) -> Self {
        GenesisValidator {
            name: name.into(),
            pub_key,
            self_bond: default_self_bond(),
            commission_rate_bps: DEFAULT_COMMISSION_BPS,
            max_rate_bps: DEFAULT_MAX_COMMISSION_BPS,
            max_change_bps: DEFAULT_MAX_CHANGE_BPS,
        }
    }
}

impl GenesisValidator {
    pub fn consensus_address(&self) -> ValconsAddress {
        ValconsAddress::from_public_key(&self.pub_key)
    }
    pub fn account_address(&self) -> Address {
        Address::from_public_key(&self.pub_key)
    }
}

/// The genesis document (`cpcd init --genesis FILE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    /// Timestamp of block 0, unix milliseconds.
    pub genesis_time: u64,
    pub min_gas_price: u64,
    pub block_gas_limit: u64,
    pub block_time_ms: u64,
    pub max_txs_per_block: usize,
    pub economics: Economics,
    pub poc: PocParams,
    pub accounts: Vec<GenesisAccount>,
    pub validators: Vec<GenesisValidator>,
    /// Proof-of-Stake parameters (absent: the defaults).
    #[serde(default)]
    pub staking: StakingParams,
    /// The task market (absent: off; docs/MARKET.md).
    #[serde(default, skip_serializing_if = "MarketParams::is_default")]
    pub market: MarketParams,
}

/// A genesis document that cannot start a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid JSON for the genesis format: {0}")]
    Json(String),
    #[error("chain_id: expected 1 to {MAX_CHAIN_ID_LEN} characters of [a-z0-9-], found {0:?}")]
    ChainId(String),
    #[error("block_gas_limit: expected at least {expected} (the largest intrinsic gas), found {found}")]
    GasLimit { expected: u64, found: u64 },
    #[error("max_txs_per_block: expected at least 1, found 0")]
    MaxTxs,
    #[error("economics.{field}: expected a percentage 0..=100, found {found}")]
    Percent { field: &'static str, found: u8 },
    #[error("economics.halving_interval: expected at least 1, found 0")]
    Halving,
    #[error("economics.initial_block_reward: expected at most {max} (reward x 100 must fit 128 bits), found {found}")]
    BlockReward { max: u128, found: u128 },
    #[error("poc.matrix_size: expected a power of two in 2..=8192, found {0}")]
    MatrixSize(usize),
    #[error("poc.challenges: expected 1..=64, found {0}")]
    Challenges(usize),
    #[error("poc.window: expected at least 1, found 0")]
    Window,
    #[error("poc.share_target_start: expected 0000000000000001 ..= ffffffffffffffff, found 0000000000000000")]
    ShareTargetStart,
    #[error("poc.shares_per_block: expected at least 1, found 0")]
    SharesPerBlock,
    #[error("poc.share_halflife: expected at least 1 block, found 0")]
    ShareHalflife,
    #[error(
        "poc.max_synthetic_results_per_block: expected at least 2 x shares_per_block = {expected} \
         (so that a block can show overload and the target can fall), found {found}"
    )]
    SyntheticCap { expected: u64, found: usize },
    #[error("validators: expected at least one validator")]
    NoValidators,
    #[error("validators: public key {0} appears twice")]
    DuplicateValidator(String),
    #[error("accounts: address {0} appears twice")]
    DuplicateAccount(Address),
    #[error("accounts: balances overflow 128 bits")]
    Overflow,
    #[error(
        "staking.evidence_max_age: expected more than the unbonding period ({unbonding} blocks), found {found} \
         (evidence must reach every stake that was bonded at the infraction)"
    )]
    EvidenceAge { unbonding: u64, found: u64 },
    #[error("staking.{field}: expected {expected}, found {found}")]
    StakingParam { field: &'static str, expected: &'static str, found: String },
    #[error("market.{field}: expected {expected}, found {found}")]
    MarketParam { field: &'static str, expected: &'static str, found: String },
    #[error("validators: expected at most staking.max_validators = {max}, found {found}")]
    TooManyValidators { max: u32, found: usize },
    #[error("validators: {name} has self_bond {found}, below staking.min_self_bond {expected}")]
    SelfBond { name: String, expected: u128, found: u128 },
    #[error("validators: {name}: commission rate {rate} bps and max change {change} bps must not exceed the max rate {max} bps (at most 10000)")]
    Commission { name: String, rate: u32, change: u32, max: u32 },
}

impl Genesis {
    /// Parses and validates a genesis document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GenesisError> {
        let g: Genesis = serde_json::from_slice(bytes).map_err(|e| GenesisError::Json(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// The document as canonical JSON (what the store keeps).
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("genesis serializes");
        cjson::to_canonical_bytes(&v).expect("genesis has no floats")
    }

    /// Pretty JSON for humans (`cpcd genesis dev`).
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serializes")
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        let id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= MAX_CHAIN_ID_LEN
            && self.chain_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(GenesisError::ChainId(self.chain_id.clone()));
        }
        let max_intrinsic = TxType::ALL.iter().map(|t| t.intrinsic_gas()).max().unwrap_or(0);
        if self.block_gas_limit < max_intrinsic {
            return Err(GenesisError::GasLimit { expected: max_intrinsic, found: self.block_gas_limit });
        }
        if self.max_txs_per_block == 0 {
            return Err(GenesisError::MaxTxs);
        }
        let e = &self.economics;
        if e.proposer_reward_percent > 100 {
            return Err(GenesisError::Percent { field: "proposer_reward_percent", found: e.proposer_reward_percent });
        }
        if e.proposer_fee_percent > 100 {
            return Err(GenesisError::Percent { field: "proposer_fee_percent", found: e.proposer_fee_percent });
        }
        if e.halving_interval == 0 {
            return Err(GenesisError::Halving);
        }
        if e.initial_block_reward.checked_mul(100).is_none() {
            return Err(GenesisError::BlockReward { max: u128::MAX / 100, found: e.initial_block_reward });
        }
        let n = self.poc.matrix_size;
        if !n.is_power_of_two() || !(2..=8192).contains(&n) {
            return Err(GenesisError::MatrixSize(n));
        }
        if !(1..=64).contains(&self.poc.challenges) {
            return Err(GenesisError::Challenges(self.poc.challenges));
        }
        if self.poc.window == 0 {
            return Err(GenesisError::Window);
        }
        if self.poc.share_target_start.0 == 0 {
            return Err(GenesisError::ShareTargetStart);
        }
        if self.poc.shares_per_block == 0 {
            return Err(GenesisError::SharesPerBlock);
        }
        if self.poc.share_halflife == 0 {
            return Err(GenesisError::ShareHalflife);
        }
        let expected = self.poc.shares_per_block.saturating_mul(2);
        if (self.poc.max_synthetic_results_per_block as u64) < expected {
            return Err(GenesisError::SyntheticCap { expected, found: self.poc.max_synthetic_results_per_block });
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let st = &self.staking;
        let param = |field, expected, found: String| Err(GenesisError::StakingParam { field, expected, found });
        if !(1..=100).contains(&st.max_validators) {
            return param("max_validators", "1..=100", st.max_validators.to_string());
        }
        if st.min_self_bond == 0 {
            return param("min_self_bond", "at least 1", "0".into());
        }
        if st.unbonding_period == 0 {
            return param("unbonding_period", "at least 1 block", "0".into());
        }
        if st.evidence_max_age <= st.unbonding_period {
            return Err(GenesisError::EvidenceAge { unbonding: st.unbonding_period, found: st.evidence_max_age });
        }
        if st.set_change_delay == 0 {
            return param("set_change_delay", "at least 1 block", "0".into());
        }
        if st.max_unbonding_entries == 0 {
            return param("max_unbonding_entries", "at least 1", "0".into());
        }
        if !(1..=100_000).contains(&st.signed_blocks_window) {
            return param("signed_blocks_window", "1..=100000 blocks", st.signed_blocks_window.to_string());
        }
        if st.min_signed_percent > 100 {
            return param("min_signed_percent", "0..=100", st.min_signed_percent.to_string());
        }
        for (field, v) in [("slash_downtime_ppb", st.slash_downtime_ppb), ("slash_double_sign_ppb", st.slash_double_sign_ppb)] {
            if v > 1_000_000_000 {
                return param(field, "0..=1000000000 (parts per billion)", v.to_string());
            }
        }
        let mk = &self.market;
        let market = |field, expected, found: String| Err(GenesisError::MarketParam { field, expected, found });
        if mk.fee_bps > 10_000 {
            return market("fee_bps", "0..=10000 (basis points of a job's price)", mk.fee_bps.to_string());
        }
        // The largest job's A and B (1024 x 4096 and 4096 x 1024 int8) must fit one block.
        if mk.max_blob_bytes_per_block < 8 << 20 {
            return market("max_blob_bytes_per_block", "at least 8388608 (the largest job's inputs)", mk.max_blob_bytes_per_block.to_string());
        }
        if mk.target_blob_bytes_per_block == 0 || mk.target_blob_bytes_per_block > mk.max_blob_bytes_per_block {
            let expected = "1..=max_blob_bytes_per_block (the fee rises above the target, so it must be reachable)";
            return market("target_blob_bytes_per_block", expected, mk.target_blob_bytes_per_block.to_string());
        }
        if mk.blob_fee_update_fraction == 0 {
            return market("blob_fee_update_fraction", "at least 1 byte", "0".into());
        }
        for (field, v) in [
            ("max_claim_blocks", mk.max_claim_blocks),
            ("max_deadline_blocks", mk.max_deadline_blocks),
            ("max_retention_blocks", mk.max_retention_blocks),
        ] {
            if v == 0 {
                return market(field, "at least 1 block", "0".into());
            }
        }
        if self.validators.len() > st.max_validators as usize {
            return Err(GenesisError::TooManyValidators { max: st.max_validators, found: self.validators.len() });
        }
        for v in &self.validators {
            if v.self_bond < st.min_self_bond {
                return Err(GenesisError::SelfBond { name: v.name.clone(), expected: st.min_self_bond, found: v.self_bond });
            }
            if v.max_rate_bps > 10_000 || v.commission_rate_bps > v.max_rate_bps || v.max_change_bps > v.max_rate_bps {
                return Err(GenesisError::Commission {
                    name: v.name.clone(),
                    rate: v.commission_rate_bps,
                    change: v.max_change_bps,
                    max: v.max_rate_bps,
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for v in &self.validators {
            if !seen.insert(v.pub_key) {
                return Err(GenesisError::DuplicateValidator(v.pub_key.to_hex()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut total: u128 = 0;
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            total = total.checked_add(a.balance).ok_or(GenesisError::Overflow)?;
        }
        for v in &self.validators {
            total = total.checked_add(v.self_bond).ok_or(GenesisError::Overflow)?;
        }
        Ok(())
    }

    pub fn chain_params(&self) -> ChainParams {
        ChainParams {
            chain_id: self.chain_id.clone(),
            min_gas_price: self.min_gas_price,
            block_gas_limit: self.block_gas_limit,
            max_txs_per_block: self.max_txs_per_block,
            block_time_ms: self.block_time_ms,
            economics: self.economics.clone(),
            poc: self.poc,
            staking: self.staking.clone(),
            market: self.market.clone(),
        }
    }

    /// The genesis block and the state it creates (accounts in document order get slots
    /// 0, 1, …).
    pub fn build(&self) -> Result<(Block, BlockOutcome), GenesisError> {
        self.validate()?;
        let empty = MemState::default();
        let params = self.chain_params();
        let mut ex = BlockExecutor::new(&empty, &params, 0);
        for a in &self.accounts {
            ex.allocate(&a.address, a.balance).map_err(|_| GenesisError::Overflow)?;
        }
        for v in &self.validators {
            let c = CreateValidator {
                consensus_key: v.pub_key,
                moniker: v.name.clone(),
                commission_rate_bps: v.commission_rate_bps,
                max_rate_bps: v.max_rate_bps,
                max_change_bps: v.max_change_bps,
            };
            ex.genesis_validator(v.account_address(), c, v.self_bond).map_err(|_| GenesisError::Overflow)?;
        }
        let outcome = ex.finish_genesis().map_err(|_| GenesisError::Overflow)?;
        let v0 = &self.validators[0];
        let header = Header {
            height: 0,
            prev_hash: H256::ZERO,
            timestamp: self.genesis_time,
            chain_id: self.chain_id.clone(),
            proposer_address: v0.consensus_address(),
            round: 0,
            tx_root: tx_root(&[]),
            state_root: outcome.state_root,
            compute_root: ComputeRoot(None),
            gas_used: 0,
            gas_limit: self.block_gas_limit,
            share_target: self.poc.share_target_start,
        };
        let block = Block { header, transactions: vec![], proposer_pub_key: v0.pub_key, signature: Signature([0u8; 64]), consensus: Default::default() };
        Ok((block, outcome))
    }

    /// Hash of the genesis block.
    pub fn hash(&self) -> Result<H256, GenesisError> {
        Ok(self.build()?.0.hash())
    }

    /// The built-in dev genesis.
    pub fn dev() -> Genesis {
        let keys = dev_keys();
        Genesis {
            chain_id: DEV_CHAIN_ID.into(),
            genesis_time: DEV_GENESIS_TIME_MS,
            min_gas_price: DEFAULT_MIN_GAS_PRICE,
            block_gas_limit: DEFAULT_BLOCK_GAS_LIMIT,
            block_time_ms: DEFAULT_BLOCK_TIME_MS,
            max_txs_per_block: DEFAULT_MAX_TXS_PER_BLOCK,
            economics: Economics::with_treasury(dev_treasury()),
            poc: PocParams::default(),
            accounts: keys
                .iter()
                .map(|k| GenesisAccount { address: Address::from_public_key(&k.public_key()), balance: DEV_BALANCE })
                .collect(),
            validators: vec![GenesisValidator { self_bond: DEV_VALIDATOR_SELF_BOND, ..GenesisValidator::new("dev-0", keys[0].public_key()) }],
            // One validator decides the dev chain (it produces its blocks alone): validators
            // can be created, delegated to and rewarded, but the active set stays dev-0.
            staking: StakingParams { max_validators: 1, ..StakingParams::default() },
            // The task market is on for developers (docs/MARKET.md); a testnet turns it on
            // with `cpcd testnet init --market`.
            market: MarketParams { enabled: true, ..MarketParams::default() },
        }
    }
}

/// The dev accounts' secret keys: `SHA-256("cpc-dev-" + decimal i)` for i = 0..9.
/// Public knowledge: never use them outside a dev chain.
pub fn dev_keys() -> Vec<SecretKey> {
    (0..DEV_ACCOUNTS).map(|i| SecretKey::from_bytes(&sha256(format!("cpc-dev-{i}").as_bytes()).0)).collect()
}

/// The dev treasury: the first 20 bytes of `SHA-256("cpc-dev-treasury")` (no known key).
pub fn dev_treasury() -> Address {
    let h = sha256(b"cpc-dev-treasury");
    Address(h.0[..20].try_into().expect("20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_follow_the_documented_derivation() {
        let keys = dev_keys();
        assert_eq!(keys.len(), 10);
        assert_eq!(keys[3].to_bytes(), sha256(b"cpc-dev-3").0);
        let g = Genesis::dev();
        assert_eq!(g.accounts[0].address, Address::from_public_key(&keys[0].public_key()));
        assert!(g.accounts.iter().all(|a| a.balance == 1_000_000 * UNITS_PER_CPC));
        assert_eq!(g.validators[0].pub_key, keys[0].public_key());
        assert_eq!(g.chain_id, "cpc-devnet-1");
        assert_eq!((g.min_gas_price, g.block_gas_limit), (1000, 50_000_000));
        // PoC v2 dev parameters (the issue): t0 = ffffffffffffffff, S = 8, tau = 32, M = 16.
        assert_eq!(g.poc.share_target_start.to_hex(), "ffffffffffffffff");
        assert_eq!((g.poc.shares_per_block, g.poc.share_halflife, g.poc.max_synthetic_results_per_block), (8, 32, 16));
        let (block, _) = g.build().unwrap();
        assert_eq!(block.header.share_target, g.poc.share_target_start, "genesis carries t0");
    }

    #[test]
    fn share_target_start_is_sixteen_hex_digits_in_json() {
        let mut v = serde_json::to_value(Genesis::dev()).unwrap();
        assert_eq!(v["poc"]["share_target_start"], "ffffffffffffffff");
        v["poc"]["share_target_start"] = serde_json::json!("fff");
        let err = Genesis::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("16 lowercase hex digits"), "{err}");
    }

    #[test]
    fn dev_genesis_is_stable_and_round_trips() {
        let g = Genesis::dev();
        assert_eq!(g.hash().unwrap(), Genesis::dev().hash().unwrap());
        let back = Genesis::from_json(&g.to_canonical_json()).unwrap();
        assert_eq!(back, g);
        let (block, out) = g.build().unwrap();
        assert_eq!(block.header.height, 0);
        assert_eq!(block.header.prev_hash, H256::ZERO);
        let bonded = DEV_VALIDATOR_SELF_BOND;
        assert_eq!(out.changes.supply.total, 10 * DEV_BALANCE + bonded, "the balances and the dev validator's self-bond");
        assert_eq!((out.changes.supply.liquid, out.changes.supply.bonded), (10 * DEV_BALANCE, bonded));
    }

    #[test]
    fn validation_names_the_broken_field() {
        let mut g = Genesis::dev();
        g.chain_id = "Bad Id".into();
        assert_eq!(g.validate(), Err(GenesisError::ChainId("Bad Id".into())));
        let mut g = Genesis::dev();
        g.block_gas_limit = 79_999;
        assert_eq!(g.validate(), Err(GenesisError::GasLimit { expected: 80_000, found: 79_999 }));
        let mut g = Genesis::dev();
        g.poc.matrix_size = 1000;
        assert_eq!(g.validate(), Err(GenesisError::MatrixSize(1000)));
        let mut g = Genesis::dev();
        g.validators.clear();
        assert_eq!(g.validate(), Err(GenesisError::NoValidators));
        let mut g = Genesis::dev();
        g.accounts.push(g.accounts[0].clone());
        assert_eq!(g.validate(), Err(GenesisError::DuplicateAccount(g.accounts[0].address)));
        let mut g = Genesis::dev();
        g.economics.proposer_fee_percent = 101;
        assert!(matches!(g.validate(), Err(GenesisError::Percent { .. })));
        let mut g = Genesis::dev();
        g.poc.challenges = 0;
        assert_eq!(g.validate(), Err(GenesisError::Challenges(0)));
        let mut g = Genesis::dev();
        g.poc.window = 0;
        assert_eq!(g.validate(), Err(GenesisError::Window));
        let mut g = Genesis::dev();
        g.max_txs_per_block = 0;
        assert_eq!(g.validate(), Err(GenesisError::MaxTxs));
        let mut g = Genesis::dev();
        g.economics.initial_block_reward = u128::MAX / 100 + 1;
        assert!(matches!(g.validate(), Err(GenesisError::BlockReward { .. })));
        let mut g = Genesis::dev();
        g.poc.share_target_start = ShareTarget(0);
        assert_eq!(g.validate(), Err(GenesisError::ShareTargetStart));
        let mut g = Genesis::dev();
        g.poc.shares_per_block = 0;
        assert_eq!(g.validate(), Err(GenesisError::SharesPerBlock));
        let mut g = Genesis::dev();
        g.poc.share_halflife = 0;
        assert_eq!(g.validate(), Err(GenesisError::ShareHalflife));
        let mut g = Genesis::dev();
        g.poc.max_synthetic_results_per_block = 15;
        assert_eq!(g.validate(), Err(GenesisError::SyntheticCap { expected: 16, found: 15 }));
        let mut g = Genesis::dev();
        g.staking.max_validators = 2;
        g.validators.push(g.validators[0].clone());
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateValidator(_))));
        assert!(matches!(Genesis::from_json(b"{\"chain_id\": 1}"), Err(GenesisError::Json(_))));
        let mut g = Genesis::dev();
        g.staking.evidence_max_age = g.staking.unbonding_period;
        assert_eq!(g.validate(), Err(GenesisError::EvidenceAge { unbonding: g.staking.unbonding_period, found: g.staking.unbonding_period }));
        let mut g = Genesis::dev();
        g.staking.max_validators = 101;
        assert!(matches!(g.validate(), Err(GenesisError::StakingParam { field: "max_validators", .. })));
        let mut g = Genesis::dev();
        g.validators[0].self_bond = g.staking.min_self_bond - 1;
        assert!(matches!(g.validate(), Err(GenesisError::SelfBond { .. })));
        let mut g = Genesis::dev();
        g.validators[0].commission_rate_bps = g.validators[0].max_rate_bps + 1;
        assert!(matches!(g.validate(), Err(GenesisError::Commission { .. })));
        let mut g = Genesis::dev();
        g.staking.set_change_delay = 0;
        assert!(matches!(g.validate(), Err(GenesisError::StakingParam { field: "set_change_delay", .. })));
        let mut g = Genesis::dev();
        g.staking.slash_double_sign_ppb = 1_000_000_001;
        assert!(matches!(g.validate(), Err(GenesisError::StakingParam { field: "slash_double_sign_ppb", .. })));
        let mut g = Genesis::dev();
        g.staking.max_validators = 1;
        g.validators.push(GenesisValidator::new("second", dev_keys()[1].public_key()));
        assert_eq!(g.validate(), Err(GenesisError::TooManyValidators { max: 1, found: 2 }));
        let mut g = Genesis::dev();
        g.market.fee_bps = 10_001;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "fee_bps", .. })));
        let mut g = Genesis::dev();
        g.market.max_blob_bytes_per_block = (8 << 20) - 1;
        g.market.target_blob_bytes_per_block = 1 << 20;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "max_blob_bytes_per_block", .. })));
        let mut g = Genesis::dev();
        g.market.target_blob_bytes_per_block = g.market.max_blob_bytes_per_block + 1;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "target_blob_bytes_per_block", .. })));
        g.market.target_blob_bytes_per_block = 0;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "target_blob_bytes_per_block", .. })));
        let mut g = Genesis::dev();
        g.market.blob_fee_update_fraction = 0;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "blob_fee_update_fraction", .. })));
        let mut g = Genesis::dev();
        g.market.max_claim_blocks = 0;
        assert!(matches!(g.validate(), Err(GenesisError::MarketParam { field: "max_claim_blocks", .. })));
    }
}
