//! The staking part of the state transition (docs/STAKING.md): the six transactions, and at
//! the end of each block evidence, liveness, rewards, matured unbondings and the next active
//! set. Cosmos SDK x/staking, x/slashing and x/distribution semantics (ideas, not code), with
//! heights for times.
//!
//! Every handler reads what it needs, checks every rule, and only then writes: a refused
//! staking transaction changes nothing but the fee and the nonce (it is included as failed,
//! its receipt naming the rule).

use crate::exec::{ApplyError, BlockExecutor};
use crate::stake::*;
use crate::stake_tx::{CreateValidator, StakingTx};
use crate::staking::{mul_div_floor, Fraction, Pool, StakeError};
use crate::view::StateView;
use cpc_primitives::{Address, ValconsAddress};
use std::collections::HashSet;

/// Milliseconds between two commission changes (24 h of block time).
pub const COMMISSION_CHANGE_INTERVAL_MS: u64 = 86_400_000;

/// Why a staking transaction failed; one variant per rule, each with what was expected and
/// what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    #[error("payload: {0}")]
    Payload(String),
    #[error("insufficient balance for amount: balance after fee {balance}, amount {amount}")]
    Balance { balance: u128, amount: u128 },
    #[error("no validator is operated by {0} (create one with a STAKE carrying a validator description)")]
    NoValidator(Address),
    #[error("a validator operated by {0} already exists (a STAKE to add self-bond carries the payload {{}})")]
    ValidatorExists(Address),
    #[error("consensus_key {0} is already the key of validator {1}")]
    ConsensusKeyTaken(String, Address),
    #[error("commission: rate {rate} bps exceeds the max rate {max} bps")]
    RateAboveMax { rate: u32, max: u32 },
    #[error("commission: max change {change} bps exceeds the max rate {max} bps")]
    ChangeAboveMax { change: u32, max: u32 },
    #[error("commission: a change of {change} bps exceeds the max change per day {max} bps")]
    ChangeTooLarge { change: u32, max: u32 },
    #[error("commission: changed at {last_ms} ms; the next change is allowed from {next_ms} ms, this block is at {now_ms} ms")]
    ChangeTooSoon { last_ms: u64, next_ms: u64, now_ms: u64 },
    #[error("validator {0} is tombstoned (slashed for double signing): it takes no delegation and is never unjailed")]
    Tombstoned(Address),
    #[error("validator {0} is not jailed")]
    NotJailed(Address),
    #[error("validator {validator} is jailed until height {until}; this block is at {height}")]
    StillJailed { validator: Address, until: u64, height: u64 },
    #[error("self-bond worth {found} is below the minimum self-bond {expected}")]
    SelfBondTooLow { expected: u128, found: u128 },
    #[error("no delegation of {delegator} to validator {validator}")]
    NoDelegation { delegator: Address, validator: Address },
    #[error("undelegate: the delegation is worth {worth}, less than the {asked} asked for")]
    DelegationTooSmall { worth: u128, asked: u128 },
    #[error("unbonding: at most {max} entries in flight per delegator and validator, found {found}")]
    TooManyEntries { max: u32, found: u32 },
    #[error("{0}")]
    Stake(#[from] StakeError),
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
}

/// Evidence that consensus checked (against the set of its height, within the max age): the
/// validator by consensus address, and the height it double-signed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Infraction {
    pub validator: ValconsAddress,
    pub height: u64,
}

/// The parent block's commit certificate as this block carries it, already verified: who
/// signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastCommit {
    pub height: u64,
    pub signers: Vec<ValconsAddress>,
}

/// What consensus hands the end of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInputs {
    /// The account paid the proposer's part where the state has no active set (state unit
    /// tests without a genesis; a chain from genesis always has one).
    pub proposer: Address,
    pub last_commit: Option<LastCommit>,
    pub infractions: Vec<Infraction>,
}

impl BlockInputs {
    /// No certificate and no evidence.
    pub fn plain(proposer: Address) -> Self {
        BlockInputs { proposer, last_commit: None, infractions: Vec::new() }
    }
}

/// What the staking end of a block did (kept in the block's reward summary).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StakingSummary {
    /// (operator, reward credited to the validator) for each member of the deciding set.
    pub validator_rewards: Vec<(Address, String)>,
    /// Validators jailed in this block, with why.
    pub jailed: Vec<(Address, String)>,
    /// Tokens burned by slashes in this block.
    #[serde(with = "cpc_primitives::amount::dec_u128")]
    pub slashed: u128,
    /// Unbonding entries paid out: (delegator, amount).
    pub matured: Vec<(Address, String)>,
    /// Height from which a new active set decides, when this block scheduled one.
    pub new_set_from: Option<u64>,
}

fn overflow(what: &'static str) -> StakingError {
    StakingError::Overflow(what)
}

impl<'a, V: StateView + ?Sized> BlockExecutor<'a, V> {
    fn validator(&self, op: &Address) -> Result<Option<ValidatorRecord>, ApplyError> {
        Ok(match self.stake_get(&StakeKey::Validator(*op))? {
            Some(StakeRecord::Validator(v)) => Some(v),
            _ => None,
        })
    }

    fn delegation(&self, delegator: &Address, validator: &Address) -> Result<Option<DelegationRecord>, ApplyError> {
        Ok(match self.stake_get(&StakeKey::Delegation { delegator: *delegator, validator: *validator })? {
            Some(StakeRecord::Delegation(d)) => Some(d),
            _ => None,
        })
    }

    fn validator_list(&self) -> Result<Vec<Address>, ApplyError> {
        Ok(match self.stake_get(&StakeKey::ValidatorList)? {
            Some(StakeRecord::ValidatorList(l)) => l,
            _ => Vec::new(),
        })
    }

    fn put_validator(&mut self, v: ValidatorRecord) -> Result<(), ApplyError> {
        self.stake_dirty = true;
        self.stake_put(StakeKey::Validator(v.operator), Some(StakeRecord::Validator(v)))
    }

    fn put_delegation(&mut self, delegator: Address, validator: Address, d: DelegationRecord) -> Result<(), ApplyError> {
        let key = StakeKey::Delegation { delegator, validator };
        let keep = d.shares > 0 || d.unbonding_entries > 0;
        self.stake_put(key, keep.then_some(StakeRecord::Delegation(d)))
    }

    /// Pays `delegator` its rewards at `v` (and the operator its commission) into its balance;
    /// moves the snapshot. The caller writes `v` and `d` back.
    fn settle(&mut self, delegator: &Address, v: &mut ValidatorRecord, d: &mut DelegationRecord) -> Result<u128, ApplyError> {
        let mut paid = crate::stake_query::pending_reward(v, d).min(self.supply_work.rewards);
        d.reward_snapshot = v.reward_per_share;
        if *delegator == v.operator {
            paid = paid.checked_add(v.commission_pending).ok_or(ApplyError::Overflow("commission"))?;
            v.commission_pending = 0;
        }
        let paid = paid.min(self.supply_work.rewards);
        if paid > 0 {
            self.supply_work.rewards -= paid;
            self.credit(delegator, paid, "reward withdrawal")?;
        }
        Ok(paid)
    }

    fn debit(&mut self, who: &Address, amount: u128) -> Result<Result<(), StakingError>, ApplyError> {
        let t = self.load(who)?;
        if t.entry.account.balance < amount {
            return Ok(Err(StakingError::Balance { balance: t.entry.account.balance, amount }));
        }
        t.entry.account.balance -= amount;
        Ok(Ok(()))
    }

    /// Applies a staking transaction whose fee and nonce are paid. `Ok(Err(_))`: the
    /// transaction failed on a staking rule and changed nothing else.
    pub(crate) fn apply_staking(&mut self, from: &Address, tx: StakingTx) -> Result<Result<(), StakingError>, ApplyError> {
        match tx {
            StakingTx::Stake { amount, create: Some(c) } => self.create_validator(from, amount, c),
            StakingTx::Stake { amount, create: None } => self.bond(from, from, amount, true),
            StakingTx::Delegate { validator, amount } => self.bond(from, &validator, amount, false),
            StakingTx::Unstake { amount } => self.unbond(from, from, amount),
            StakingTx::Undelegate { validator, amount } => self.unbond(from, &validator, amount),
            StakingTx::Update { moniker, commission_rate_bps } => self.update_validator(from, moniker, commission_rate_bps),
            StakingTx::Unjail => self.unjail(from),
        }
    }

    fn create_validator(&mut self, op: &Address, amount: u128, c: CreateValidator) -> Result<Result<(), StakingError>, ApplyError> {
        if self.validator(op)?.is_some() {
            return Ok(Err(StakingError::ValidatorExists(*op)));
        }
        if c.commission_rate_bps > c.max_rate_bps {
            return Ok(Err(StakingError::RateAboveMax { rate: c.commission_rate_bps, max: c.max_rate_bps }));
        }
        if c.max_change_bps > c.max_rate_bps {
            return Ok(Err(StakingError::ChangeAboveMax { change: c.max_change_bps, max: c.max_rate_bps }));
        }
        let list = self.validator_list()?;
        for other in &list {
            if let Some(v) = self.validator(other)?
                && v.consensus_key == c.consensus_key
            {
                return Ok(Err(StakingError::ConsensusKeyTaken(c.consensus_key.to_hex(), v.operator)));
            }
        }
        if amount < self.params.staking.min_self_bond {
            return Ok(Err(StakingError::SelfBondTooLow { expected: self.params.staking.min_self_bond, found: amount }));
        }
        if let Err(e) = self.debit(op, amount)? {
            return Ok(Err(e));
        }
        self.add_validator(list, *op, c, amount, self.timestamp)?;
        Ok(Ok(()))
    }

    /// Writes a new validator with its self-bond (the checks are the caller's).
    fn add_validator(&mut self, mut list: Vec<Address>, op: Address, c: CreateValidator, self_bond: u128, changed_at_ms: u64) -> Result<(), ApplyError> {
        let mut pool = Pool::default();
        let shares = pool.delegate(self_bond).map_err(|_| ApplyError::Overflow("self-bond"))?;
        let v = ValidatorRecord {
            operator: op,
            consensus_key: c.consensus_key,
            moniker: c.moniker,
            commission: Commission {
                rate_bps: c.commission_rate_bps,
                max_rate_bps: c.max_rate_bps,
                max_change_bps: c.max_change_bps,
                changed_at_ms,
            },
            tokens: pool.tokens,
            shares: pool.shares,
            jailed: false,
            jailed_until: 0,
            tombstoned: false,
            liveness: Liveness::default(),
            reward_per_share: U256::zero(),
            commission_pending: 0,
            created_height: self.height,
        };
        self.supply_work.bonded = self.supply_work.bonded.checked_add(self_bond).ok_or(ApplyError::Overflow("bonded"))?;
        list.push(op);
        self.stake_put(StakeKey::ValidatorList, Some(StakeRecord::ValidatorList(list)))?;
        self.put_validator(v)?;
        self.put_delegation(op, op, DelegationRecord { shares, reward_snapshot: U256::zero(), unbonding_entries: 0 })
    }

    /// STAKE {} (own validator) and DELEGATE: settle the rewards, then bond `amount` (0 only
    /// withdraws).
    fn bond(&mut self, from: &Address, op: &Address, amount: u128, own: bool) -> Result<Result<(), StakingError>, ApplyError> {
        let Some(mut v) = self.validator(op)? else { return Ok(Err(StakingError::NoValidator(*op))) };
        let existing = self.delegation(from, op)?;
        if amount == 0 && !own {
            // Withdraw only.
            let Some(mut d) = existing else {
                return Ok(Err(StakingError::NoDelegation { delegator: *from, validator: *op }));
            };
            self.settle(from, &mut v, &mut d)?;
            self.stake_put(StakeKey::Validator(*op), Some(StakeRecord::Validator(v)))?;
            self.put_delegation(*from, *op, d)?;
            return Ok(Ok(()));
        }
        if v.tombstoned {
            return Ok(Err(StakingError::Tombstoned(*op)));
        }
        let mut pool = v.pool();
        let issued = match pool.delegate(amount) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e.into())),
        };
        let balance = self.account(from).map_err(ApplyError::Storage)?.balance;
        if balance < amount {
            return Ok(Err(StakingError::Balance { balance, amount }));
        }
        let mut d = existing.unwrap_or(DelegationRecord { shares: 0, reward_snapshot: v.reward_per_share, unbonding_entries: 0 });
        let Some(shares) = d.shares.checked_add(issued) else { return Ok(Err(overflow("delegation shares"))) };
        let Some(bonded) = self.supply_work.bonded.checked_add(amount) else { return Ok(Err(overflow("bonded"))) };
        // All checks passed.
        self.settle(from, &mut v, &mut d)?;
        self.debit(from, amount)?.expect("balance checked above (settling only adds)");
        d.shares = shares;
        v.set_pool(pool);
        self.supply_work.bonded = bonded;
        self.put_validator(v)?;
        self.put_delegation(*from, *op, d)?;
        Ok(Ok(()))
    }

    /// UNSTAKE and UNDELEGATE: settle, take the shares `amount` tokens are worth (rounded up,
    /// at most all the shares held), and queue what they release for `unbonding_period` blocks.
    fn unbond(&mut self, from: &Address, op: &Address, amount: u128) -> Result<Result<(), StakingError>, ApplyError> {
        let Some(mut v) = self.validator(op)? else { return Ok(Err(StakingError::NoValidator(*op))) };
        let Some(mut d) = self.delegation(from, op)?.filter(|d| d.shares > 0) else {
            return Ok(Err(StakingError::NoDelegation { delegator: *from, validator: *op }));
        };
        let mut pool = v.pool();
        let worth = pool.tokens_of(d.shares);
        if amount > worth {
            return Ok(Err(StakingError::DelegationTooSmall { worth, asked: amount }));
        }
        let max = self.params.staking.max_unbonding_entries;
        let completion = self.height.checked_add(self.params.staking.unbonding_period).ok_or(ApplyError::Overflow("completion height"))?;
        let key = StakeKey::Unbonding { completion, validator: *op, delegator: *from };
        let existing = match self.stake_get(&key)? {
            Some(StakeRecord::Unbonding(u)) => Some(u),
            _ => None,
        };
        if existing.is_none() && d.unbonding_entries >= max {
            return Ok(Err(StakingError::TooManyEntries { max, found: d.unbonding_entries }));
        }
        // Shares for `amount`, rounded up (toward the pool), never more than held.
        let shares = if amount == worth {
            d.shares
        } else {
            let s = mul_div_ceil(amount, pool.shares, pool.tokens).ok_or(ApplyError::Overflow("unbond shares"))?;
            s.min(d.shares)
        };
        let released = match pool.undelegate(d.shares, shares) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e.into())),
        };
        // All checks passed.
        self.settle(from, &mut v, &mut d)?;
        d.shares -= shares;
        if existing.is_none() {
            d.unbonding_entries += 1;
        }
        let mut u = existing.unwrap_or(UnbondingRecord { creation_height: self.height, initial: 0, balance: 0 });
        u.initial = u.initial.checked_add(released).ok_or(ApplyError::Overflow("unbonding"))?;
        u.balance = u.balance.checked_add(released).ok_or(ApplyError::Overflow("unbonding"))?;
        v.set_pool(pool);
        self.supply_work.bonded -= released;
        self.supply_work.unbonding = self.supply_work.unbonding.checked_add(released).ok_or(ApplyError::Overflow("unbonding"))?;
        self.put_validator(v)?;
        self.put_delegation(*from, *op, d)?;
        self.stake_put(key, Some(StakeRecord::Unbonding(u)))?;
        Ok(Ok(()))
    }

    fn update_validator(&mut self, op: &Address, moniker: Option<String>, rate: Option<u32>) -> Result<Result<(), StakingError>, ApplyError> {
        let Some(mut v) = self.validator(op)? else { return Ok(Err(StakingError::NoValidator(*op))) };
        if let Some(rate) = rate {
            let c = v.commission;
            if rate > c.max_rate_bps {
                return Ok(Err(StakingError::RateAboveMax { rate, max: c.max_rate_bps }));
            }
            let change = rate.abs_diff(c.rate_bps);
            if change > c.max_change_bps {
                return Ok(Err(StakingError::ChangeTooLarge { change, max: c.max_change_bps }));
            }
            let next = c.changed_at_ms.saturating_add(COMMISSION_CHANGE_INTERVAL_MS);
            if self.timestamp < next {
                return Ok(Err(StakingError::ChangeTooSoon { last_ms: c.changed_at_ms, next_ms: next, now_ms: self.timestamp }));
            }
            v.commission.rate_bps = rate;
            v.commission.changed_at_ms = self.timestamp;
        }
        if let Some(m) = moniker {
            v.moniker = m;
        }
        self.put_validator(v)?;
        Ok(Ok(()))
    }

    fn self_bond_worth(&self, v: &ValidatorRecord) -> Result<u128, ApplyError> {
        Ok(self.delegation(&v.operator, &v.operator)?.map_or(0, |d| v.pool().tokens_of(d.shares)))
    }

    fn unjail(&mut self, op: &Address) -> Result<Result<(), StakingError>, ApplyError> {
        let Some(mut v) = self.validator(op)? else { return Ok(Err(StakingError::NoValidator(*op))) };
        if v.tombstoned {
            return Ok(Err(StakingError::Tombstoned(*op)));
        }
        if !v.jailed {
            return Ok(Err(StakingError::NotJailed(*op)));
        }
        if self.height < v.jailed_until {
            return Ok(Err(StakingError::StillJailed { validator: *op, until: v.jailed_until, height: self.height }));
        }
        let worth = self.self_bond_worth(&v)?;
        if worth < self.params.staking.min_self_bond {
            return Ok(Err(StakingError::SelfBondTooLow { expected: self.params.staking.min_self_bond, found: worth }));
        }
        v.jailed = false;
        v.liveness = Liveness::default();
        self.put_validator(v)?;
        Ok(Ok(()))
    }

    // --- genesis --------------------------------------------------------------------------

    /// Genesis: a validator with its self-bond (bonded, counted in the genesis supply).
    pub fn genesis_validator(&mut self, op: Address, c: CreateValidator, self_bond: u128) -> Result<(), ApplyError> {
        let list = self.validator_list()?;
        self.add_validator(list, op, c, self_bond, 0)
    }

    /// Genesis: the first active set, every genesis validator in genesis order.
    pub(crate) fn genesis_set(&mut self) -> Result<(), ApplyError> {
        let list = self.validator_list()?;
        if list.is_empty() {
            return Ok(());
        }
        let mut members = Vec::new();
        for op in list {
            let v = self.validator(&op)?.expect("listed validators exist");
            members.push(SetMember { operator: op, consensus_key: v.consensus_key, power: power_of(v.tokens).max(1) });
        }
        self.stake_put(StakeKey::Set(0), Some(StakeRecord::Set(ActiveSet { members })))
    }

    // --- end of block ---------------------------------------------------------------------

    /// Burns `fraction` of `v`'s pool; returns the amount.
    fn slash_pool(&mut self, v: &mut ValidatorRecord, f: Fraction) -> u128 {
        let mut pool = v.pool();
        let burned = pool.slash(f);
        v.set_pool(pool);
        self.supply_work.bonded -= burned;
        burned
    }

    /// Evidence: slash the tokens and the unbonding entries created at or after the
    /// infraction, jail, tombstone; once per validator whatever the number of pieces.
    pub(crate) fn apply_infractions(&mut self, infractions: &[Infraction], sum: &mut StakingSummary) -> Result<(), ApplyError> {
        let f = Fraction::from_ppb(self.params.staking.slash_double_sign_ppb).expect("genesis checks fractions");
        for inf in infractions {
            let Some(set) = self.view.active_set_at(inf.height)? else { continue };
            let Some(member) = set.by_consensus_address(&inf.validator) else { continue };
            let op = member.operator;
            let Some(mut v) = self.validator(&op)? else { continue };
            if v.tombstoned {
                continue;
            }
            let mut burned = self.slash_pool(&mut v, f);
            // Unbonding entries of this validator still in flight, created at or after the
            // infraction (completion heights above now: the live part of the index only).
            let from = StakeKey::unbonding_prefix(self.height + 1);
            let to = StakeKey::unbonding_prefix(u64::MAX);
            for k in self.stake_range_merged(&from, &to)? {
                let Some(key @ StakeKey::Unbonding { validator, .. }) = StakeKey::decode(&k) else { continue };
                if validator != op {
                    continue;
                }
                let Some(StakeRecord::Unbonding(mut u)) = self.stake_get(&key)? else { continue };
                if u.creation_height < inf.height {
                    continue;
                }
                let cut = mul_div_floor(u.balance, f.ppb() as u128, Fraction::DENOMINATOR as u128).expect("f ≤ 1");
                u.balance -= cut;
                self.supply_work.unbonding -= cut;
                burned += cut;
                self.stake_put(key, Some(StakeRecord::Unbonding(u)))?;
            }
            v.jailed = true;
            v.tombstoned = true;
            v.jailed_until = u64::MAX;
            self.supply_work.burned = self.supply_work.burned.checked_add(burned).ok_or(ApplyError::Overflow("burned"))?;
            sum.slashed += burned;
            sum.jailed.push((op, format!("double signing at height {}", inf.height)));
            self.put_validator(v)?;
        }
        Ok(())
    }

    /// Liveness from the parent's certificate: one bit per member of the parent's set.
    pub(crate) fn apply_liveness(&mut self, lc: &LastCommit, sum: &mut StakingSummary) -> Result<(), ApplyError> {
        let Some(set) = self.view.active_set_at(lc.height)? else { return Ok(()) };
        let sp = self.params.staking.clone();
        let window = sp.signed_blocks_window;
        let max_missed = window - window * sp.min_signed_percent as u64 / 100;
        let signers: HashSet<&ValconsAddress> = lc.signers.iter().collect();
        let f = Fraction::from_ppb(sp.slash_downtime_ppb).expect("genesis checks fractions");
        for m in &set.members {
            let Some(mut v) = self.validator(&m.operator)? else { continue };
            if v.jailed || v.consensus_key != m.consensus_key {
                continue;
            }
            let missed = !signers.contains(&ValconsAddress::from_public_key(&m.consensus_key));
            let misses = v.liveness.record(window, missed);
            if v.liveness.counted >= window && misses > max_missed {
                let burned = self.slash_pool(&mut v, f);
                self.supply_work.burned = self.supply_work.burned.checked_add(burned).ok_or(ApplyError::Overflow("burned"))?;
                sum.slashed += burned;
                v.jailed = true;
                v.jailed_until = self.height.saturating_add(sp.downtime_jail_blocks);
                v.liveness = Liveness::default();
                sum.jailed.push((m.operator, format!("missed {misses} of the last {window} blocks")));
                self.put_validator(v)?;
            } else {
                // Only the window changed: no new set needed for that.
                self.stake_put(StakeKey::Validator(m.operator), Some(StakeRecord::Validator(v)))?;
            }
        }
        Ok(())
    }

    /// Splits `pot` over the set deciding this block by power (F1: O(1) per validator), less
    /// the members jailed meanwhile (still in the set until the change delay passes: Cosmos
    /// pays bonded validators only); the remainder of the division goes to the treasury.
    /// Returns false when there is no set.
    pub(crate) fn distribute(&mut self, pot: u128, sum: &mut StakingSummary) -> Result<bool, ApplyError> {
        let Some(set) = self.view.active_set_at(self.height)? else { return Ok(false) };
        let mut paid = Vec::with_capacity(set.members.len());
        for m in &set.members {
            if let Some(v) = self.validator(&m.operator)?
                && !v.jailed
            {
                paid.push((m.power, v));
            }
        }
        let total: u128 = paid.iter().map(|(p, _)| *p as u128).sum();
        let mut given = 0u128;
        for (power, mut v) in paid {
            let share = mul_div_floor(pot, power as u128, total).ok_or(ApplyError::Overflow("validator reward"))?;
            let commission = mul_div_floor(share, v.commission.rate_bps as u128, BPS as u128).expect("rate ≤ 100 %");
            let mut to_delegators = share - commission;
            v.commission_pending = v.commission_pending.checked_add(commission).ok_or(ApplyError::Overflow("commission"))?;
            if v.shares == 0 {
                v.commission_pending = v.commission_pending.checked_add(to_delegators).ok_or(ApplyError::Overflow("commission"))?;
                to_delegators = 0;
            }
            if to_delegators > 0 {
                let inc = (U256::from(to_delegators) << 128) / U256::from(v.shares);
                v.reward_per_share = v.reward_per_share.checked_add(inc).ok_or(ApplyError::Overflow("reward per share"))?;
            }
            given += share;
            let op = v.operator;
            sum.validator_rewards.push((op, share.to_string()));
            self.stake_put(StakeKey::Validator(op), Some(StakeRecord::Validator(v)))?;
        }
        self.supply_work.rewards = self.supply_work.rewards.checked_add(given).ok_or(ApplyError::Overflow("rewards"))?;
        let treasury = self.params.economics.treasury_address;
        self.credit(&treasury, pot - given, "reward remainder")?;
        Ok(true)
    }

    /// Pays the unbonding entries that complete at this height (one prefix of the index).
    pub(crate) fn mature_unbondings(&mut self, sum: &mut StakingSummary) -> Result<(), ApplyError> {
        let prefix = StakeKey::unbonding_prefix(self.height);
        let mut to = prefix.clone();
        to.push(0xff);
        for k in self.stake_range_merged(&prefix, &to)? {
            let Some(key @ StakeKey::Unbonding { validator, delegator, .. }) = StakeKey::decode(&k) else { continue };
            let Some(StakeRecord::Unbonding(u)) = self.stake_get(&key)? else { continue };
            self.supply_work.unbonding -= u.balance;
            self.credit(&delegator, u.balance, "unbonding payout")?;
            sum.matured.push((delegator, u.balance.to_string()));
            self.stake_put(key, None)?;
            if let Some(mut d) = self.delegation(&delegator, &validator)? {
                d.unbonding_entries = d.unbonding_entries.saturating_sub(1);
                self.put_delegation(delegator, validator, d)?;
            }
        }
        Ok(())
    }

    /// When anything that decides the set changed: the top `max_validators` eligible
    /// validators by power (ties by operator address), from height `h + set_change_delay`.
    pub(crate) fn schedule_set(&mut self, sum: &mut StakingSummary) -> Result<(), ApplyError> {
        if !self.stake_dirty {
            return Ok(());
        }
        let sp = self.params.staking.clone();
        let mut eligible = Vec::new();
        for op in self.validator_list()? {
            let Some(v) = self.validator(&op)? else { continue };
            let power = power_of(v.tokens);
            if v.jailed || v.tombstoned || power == 0 || self.self_bond_worth(&v)? < sp.min_self_bond {
                continue;
            }
            eligible.push(SetMember { operator: op, consensus_key: v.consensus_key, power });
        }
        eligible.sort_by(|a, b| b.power.cmp(&a.power).then(a.operator.0.cmp(&b.operator.0)));
        eligible.truncate(sp.max_validators as usize);
        if eligible.is_empty() {
            // Never hand consensus an empty set: the last one stays (the chain would halt).
            tracing::warn!(height = self.height, "no eligible validator: the active set stays as it is");
            return Ok(());
        }
        let from = self.height.saturating_add(sp.set_change_delay);
        let next = ActiveSet { members: eligible };
        let latest = self.latest_set()?;
        if latest.as_ref() == Some(&next) {
            return Ok(());
        }
        sum.new_set_from = Some(from);
        self.stake_put(StakeKey::Set(from), Some(StakeRecord::Set(next)))
    }

    fn latest_set(&self) -> Result<Option<ActiveSet>, ApplyError> {
        // Sets scheduled by this block are at heights above every stored one.
        for (k, rec) in self.stake.iter().rev() {
            if let (Some(StakeKey::Set(_)), Some(StakeRecord::Set(s))) = (StakeKey::decode(k), &rec.record) {
                return Ok(Some(s.clone()));
            }
        }
        Ok(self.view.active_set_at(u64::MAX)?)
    }
}

/// `a × b / c` rounded up, in 256 bits.
fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    let down = mul_div_floor(a, b, c)?;
    let exact = U256::from(down) * U256::from(c) == U256::from(a) * U256::from(b);
    if exact { Some(down) } else { down.checked_add(1) }
}
