//! Chain parameters the state transition and block validation need (from genesis).

use cpc_primitives::{Address, ShareTarget, UNITS_PER_CPC};
use serde::{Deserialize, Serialize};

/// Economics of the chain. Defaults are the dev-chain issue's numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Economics {
    /// Block reward at height 1, in base units (10 CPC).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub initial_block_reward: u128,
    /// The reward halves every this many blocks (1 000 000).
    pub halving_interval: u64,
    /// Percent of the block reward paid to the proposer (70); the rest, split into S parts, is
    /// what each share mints (`share_reward`).
    pub proposer_reward_percent: u8,
    /// Percent of the fees paid to the proposer (90); the rest goes to the treasury.
    pub proposer_fee_percent: u8,
    /// Receives the treasury's share of fees.
    pub treasury_address: Address,
}

impl Economics {
    /// The default economics with `treasury` as the treasury account.
    pub fn with_treasury(treasury: Address) -> Self {
        Economics {
            initial_block_reward: 10 * UNITS_PER_CPC,
            halving_interval: 1_000_000,
            proposer_reward_percent: 70,
            proposer_fee_percent: 90,
            treasury_address: treasury,
        }
    }

    /// Block reward at `height`: halves every `halving_interval` blocks, 0 once shifted out.
    pub fn block_reward(&self, height: u64) -> u128 {
        if height == 0 || self.halving_interval == 0 {
            return 0;
        }
        let halvings = (height - 1) / self.halving_interval;
        if halvings >= 128 { 0 } else { self.initial_block_reward >> halvings }
    }

    /// What one share in block `height` mints for its worker (PROTOCOL.md, Shares):
    /// `(R(h) · (100 − proposer_reward_percent) // 100) // S`, i.e. `(R·30 // 100) // S` with
    /// the default 70 % to the proposer. A block may hold up to M ≥ 2S shares, so the miners'
    /// part of a block's issuance follows the work done, not a fixed pool.
    pub fn share_reward(&self, height: u64, shares_per_block: u64) -> u128 {
        if shares_per_block == 0 {
            return 0;
        }
        let workers_percent = 100u128.saturating_sub(self.proposer_reward_percent as u128);
        // Genesis refuses a reward whose 100-fold overflows, so this product fits.
        let r = self.block_reward(height);
        r.saturating_mul(workers_percent) / 100 / shares_per_block as u128
    }
}

/// Proof-of-Compute parameters (PROTOCOL.md, Synthetic tasks v1 and Shares v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PocParams {
    /// Matrix size `n` (power of two).
    pub matrix_size: usize,
    /// Challenged rows `k`.
    pub challenges: usize,
    /// Task window `W` in blocks.
    pub window: u64,
    /// At most this many synthetic results per block (each costs a full recomputation), `M`.
    pub max_synthetic_results_per_block: usize,
    /// The genesis block's share target t₀ (16 hex digits in JSON).
    pub share_target_start: ShareTarget,
    /// The mean number of shares per block the retarget steers to, `S`.
    pub shares_per_block: u64,
    /// Blocks over which a full (M = 2S) or empty block run halves or doubles the target, `τ`.
    pub share_halflife: u64,
}

impl Default for PocParams {
    /// The dev chain's values: every result is a share until the target moves (t₀ = 2⁶⁴ − 1),
    /// S = 8, τ = 32, M = 16.
    fn default() -> Self {
        PocParams {
            matrix_size: 1024,
            challenges: 8,
            window: 16,
            max_synthetic_results_per_block: 16,
            share_target_start: ShareTarget::MAX,
            shares_per_block: 8,
            share_halflife: 32,
        }
    }
}

/// Proof-of-Stake parameters (genesis `staking`; docs/STAKING.md). Heights, not times, measure
/// every period, so that every node agrees on them from the chain alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StakingParams {
    /// The active set holds at most this many validators (1..=100).
    pub max_validators: u32,
    /// A validator whose self-bond is worth less than this is not eligible for the active set.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub min_self_bond: u128,
    /// Blocks an undelegation waits before its tokens return.
    pub unbonding_period: u64,
    /// Evidence older than this many blocks is refused; must exceed `unbonding_period`, so
    /// that nobody can unbond out of reach of a slash for what they did while bonded.
    pub evidence_max_age: u64,
    /// A set computed at the end of block h decides heights from h + this delay (≥ 1).
    pub set_change_delay: u64,
    /// Unbonding entries one delegator may have in flight per validator.
    pub max_unbonding_entries: u32,
    /// Liveness: the window of recent blocks a validator's signatures are counted over.
    pub signed_blocks_window: u64,
    /// Liveness: a validator that signed fewer than this percentage of its window is jailed.
    pub min_signed_percent: u8,
    /// Blocks a validator jailed for downtime must wait before UNJAIL.
    pub downtime_jail_blocks: u64,
    /// Fraction of the bonded tokens burned for downtime, parts per billion.
    pub slash_downtime_ppb: u64,
    /// Fraction burned for double signing, parts per billion (then jailed and tombstoned).
    pub slash_double_sign_ppb: u64,
}

impl Default for StakingParams {
    /// The Cosmos Hub's choices scaled to 1 s blocks: 14-day unbonding, 21-day evidence age,
    /// 5 % for double signing, 0.01 % for downtime; a window of 100 blocks with 50 % signed.
    fn default() -> Self {
        StakingParams {
            max_validators: 100,
            min_self_bond: 10_000 * UNITS_PER_CPC,
            unbonding_period: 14 * 86_400,
            evidence_max_age: 21 * 86_400,
            set_change_delay: 2,
            max_unbonding_entries: 7,
            signed_blocks_window: 100,
            min_signed_percent: 50,
            downtime_jail_blocks: 600,
            slash_downtime_ppb: 100_000,
            slash_double_sign_ppb: 50_000_000,
        }
    }
}

/// The task market's parameters (genesis `market`; docs/MARKET.md). Off unless enabled: a
/// chain without it refuses the job transactions and treats `job:` task ids as external
/// results, as PROTOCOL.md does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketParams {
    pub enabled: bool,
    /// The protocol's part of a job's price, basis points (to the treasury).
    pub fee_bps: u32,
    /// The longest claim a job may ask for, blocks.
    pub max_claim_blocks: u64,
    /// The furthest deadline a job may set, blocks after its posting.
    pub max_deadline_blocks: u64,
    /// The longest retention a job may ask for, blocks after it closes.
    pub max_retention_blocks: u64,
    /// Most bytes of market data (A and B of each POST_JOB, C of each job result) one block
    /// may bring: validators fetch and check it all before voting.
    pub max_blob_bytes_per_block: u64,
    /// The **floor** of what a poster pays per byte of its job's data (A, B and the C to
    /// come), to the treasury, beside the gas: the data is kept by every node. The fee of a
    /// block is `fake_exponential(blob_fee_per_byte, excess_blob_bytes, blob_fee_update_fraction)`
    /// (EIP-4844's blob base fee; docs/MARKET.md, Blob fee).
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub blob_fee_per_byte: u128,
    /// Bytes of market data per block the fee aims at: blocks above it raise the fee, blocks
    /// below it lower it (EIP-4844's target, half its cap).
    pub target_blob_bytes_per_block: u64,
    /// How fast the fee moves: it changes by `e^((bytes − target) / fraction)` per block, so a
    /// full block (twice the target) raises it by `e^(target / fraction)`.
    pub blob_fee_update_fraction: u64,
}

impl Default for MarketParams {
    /// Off; when on, 5 % to the treasury, claims up to 1 h, deadlines up to 7 days and
    /// retention up to 18 days at 1 s blocks (EIP-4844 keeps blobs 4 096 epochs ≈ 18 days),
    /// 16 MiB of data per block (the largest job's A and B are 8 MiB) with a target of 8 MiB,
    /// at least 10⁹ base units per byte (the largest job's 12 MiB of data: about 0.0126 CPC),
    /// an update fraction of 8.5 targets (EIP-4844's 3 338 477 / 393 216 ≈ 8.49: a full block
    /// raises the fee by e^(1/8.5) ≈ 12.5 %, an empty one lowers it by 11 %).
    fn default() -> Self {
        MarketParams {
            enabled: false,
            fee_bps: 500,
            max_claim_blocks: 3_600,
            max_deadline_blocks: 7 * 86_400,
            max_retention_blocks: 18 * 86_400,
            max_blob_bytes_per_block: 16 << 20,
            blob_fee_per_byte: 1_000_000_000,
            target_blob_bytes_per_block: 8 << 20,
            blob_fee_update_fraction: (8 << 20) * 17 / 2,
        }
    }
}

impl MarketParams {
    pub fn is_default(&self) -> bool {
        *self == MarketParams::default()
    }
}

/// Everything consensus needs to know about the chain, fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    pub chain_id: String,
    /// Minimum gas price a transaction may offer.
    pub min_gas_price: u64,
    /// Most gas one block may use.
    pub block_gas_limit: u64,
    /// Most transactions one block may hold.
    pub max_txs_per_block: usize,
    /// Target time between blocks, milliseconds.
    pub block_time_ms: u64,
    pub economics: Economics,
    pub poc: PocParams,
    pub staking: StakingParams,
    /// The task market (absent: off).
    #[serde(default, skip_serializing_if = "MarketParams::is_default")]
    pub market: MarketParams,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_halves_every_interval() {
        let e = Economics::with_treasury(Address([0; 20]));
        assert_eq!(e.block_reward(0), 0, "genesis mints nothing");
        assert_eq!(e.block_reward(1), 10 * UNITS_PER_CPC);
        assert_eq!(e.block_reward(1_000_000), 10 * UNITS_PER_CPC);
        assert_eq!(e.block_reward(1_000_001), 5 * UNITS_PER_CPC);
        assert_eq!(e.block_reward(2_000_001), 5 * UNITS_PER_CPC / 2);
        assert_eq!(e.block_reward(u64::MAX), 0);
    }

    #[test]
    fn share_reward_vectors() {
        // ../shared/vectors/protocol-v2.json, "share_rewards" (copied into primitives' tests).
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../primitives/tests/data/protocol-v2.json")).unwrap();
        let e = Economics::with_treasury(Address([0; 20]));
        let cases = v["share_rewards"].as_array().unwrap();
        assert!(!cases.is_empty());
        for c in cases {
            let (h, s) = (c["height"].as_u64().unwrap(), c["shares_per_block"].as_u64().unwrap());
            let want: u128 = c["share_reward"].as_str().unwrap().parse().unwrap();
            assert_eq!(e.share_reward(h, s), want, "height {h}, S {s}");
        }
    }
}
