//! The staking side of `cpcd tx` (stake, unstake, delegate, undelegate, unjail,
//! edit-validator, withdraw-rewards): commission rates on the command line, the payloads of
//! the six staking transactions (docs/PROTOCOL-NOTES.md, Staking transactions), and the checks
//! made against the node's staking state before anything is signed.
//!
//! A staking transaction that breaks a staking rule is *included as failed* (the fee is
//! charged), not refused by the pool; the checks here catch the common mistakes (no such
//! validator, no delegation, not jailed, a rate above the max) before a fee is spent on them.

use crate::client::Rpc;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use cpc_primitives::{format_cpc, Address, Payload, PublicKey, TxType};
use serde_json::{json, Map, Value};

/// Basis points in 100 %.
pub const BPS: u32 = 10_000;
/// Commission of a new validator unless `--commission-rate` says otherwise: 10 % (the genesis
/// default, `cpc_genesis::DEFAULT_COMMISSION_BPS`).
pub const DEFAULT_COMMISSION_BPS: u32 = 1_000;
/// `--max-rate` default: 20 %.
pub const DEFAULT_MAX_RATE_BPS: u32 = 2_000;
/// `--max-change` default: 1 % a day.
pub const DEFAULT_MAX_CHANGE_BPS: u32 = 100;
/// Longest moniker, bytes (`cpc_state::stake_tx::MAX_MONIKER_BYTES`).
pub const MAX_MONIKER_BYTES: usize = 64;

/// Parses a commission rate into basis points: a decimal fraction (`0.10`, `0.125`, `1`) or a
/// percentage (`10%`, `12.5%`), at most 100 % and at most 1 basis point (0.01 %) of precision.
pub fn parse_rate_arg(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim_end(), true),
        None => (t, false),
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (num.contains('.') && frac.is_empty()) {
        return Err(format!("expected a rate like 0.10 or 10%, found {s:?}"));
    }
    // Basis points per unit of the integer part, and the fraction digits that fit in one.
    let (unit, places) = if percent { (100u64, 2) } else { (BPS as u64, 4) };
    let (kept, rest) = frac.split_at(frac.len().min(places));
    if rest.bytes().any(|b| b != b'0') {
        return Err(format!("rate {s:?} is finer than one basis point (0.0001 = 0.01%)"));
    }
    let above = || format!("rate {s:?} is above 100% (write e.g. 0.05 or 5% for five percent)");
    let whole: u64 = int.parse().map_err(|_| above())?;
    let frac_bps: u64 = if kept.is_empty() { 0 } else { format!("{kept:0<places$}").parse().expect("digits") };
    let bps = whole.checked_mul(unit).and_then(|w| w.checked_add(frac_bps)).ok_or_else(above)?;
    if bps > BPS as u64 {
        return Err(above());
    }
    Ok(bps as u32)
}

/// `10%`, `12.5%`, `0.01%`.
pub fn show_bps(bps: u32) -> String {
    let (whole, frac) = (bps / 100, bps % 100);
    if frac == 0 {
        format!("{whole}%")
    } else {
        format!("{whole}.{}%", format!("{frac:02}").trim_end_matches('0'))
    }
}

fn parse_consensus_key(s: &str) -> Result<PublicKey, String> {
    PublicKey::from_hex(s.trim()).map_err(|e| format!("expected the consensus public key as 64 hex digits: {e}"))
}

fn check_moniker(m: &str) -> Result<()> {
    if m.is_empty() || m.len() > MAX_MONIKER_BYTES || m.chars().any(char::is_control) {
        bail!("--moniker: expected 1 to {MAX_MONIKER_BYTES} bytes without control characters, found {m:?} ({} bytes)", m.len());
    }
    Ok(())
}

/// What `tx stake` needs to create a validator (used only by the first STAKE of an operator).
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Name of the new validator (default: the operator address).
    #[arg(long)]
    pub moniker: Option<String>,
    /// Commission kept by the operator: `0.10` or `10%` [default: 10%].
    #[arg(long = "commission-rate", value_name = "RATE", value_parser = parse_rate_arg)]
    pub commission_rate: Option<u32>,
    /// The highest commission it may ever set (fixed at creation) [default: 20%].
    #[arg(long = "max-rate", value_name = "RATE", value_parser = parse_rate_arg)]
    pub max_rate: Option<u32>,
    /// The most the commission may move per day (fixed at creation) [default: 1%].
    #[arg(long = "max-change", value_name = "RATE", value_parser = parse_rate_arg)]
    pub max_change: Option<u32>,
    /// Ed25519 public key (64 hex digits) that signs its votes and blocks: the key of the
    /// node's `--validator` [default: the --from key].
    #[arg(long = "consensus-key", value_name = "HEX", value_parser = parse_consensus_key)]
    pub consensus_key: Option<PublicKey>,
}

impl CreateArgs {
    /// Whether any creation flag was given.
    pub fn given(&self) -> bool {
        self.moniker.is_some()
            || self.commission_rate.is_some()
            || self.max_rate.is_some()
            || self.max_change.is_some()
            || self.consensus_key.is_some()
    }

    /// The validator description with the defaults filled in, checked as the chain would.
    pub fn resolve(&self, operator: &Address) -> Result<NewValidator> {
        let moniker = self.moniker.clone().unwrap_or_else(|| operator.to_string());
        check_moniker(&moniker)?;
        let v = NewValidator {
            moniker,
            commission_rate_bps: self.commission_rate.unwrap_or(DEFAULT_COMMISSION_BPS),
            max_rate_bps: self.max_rate.unwrap_or(DEFAULT_MAX_RATE_BPS),
            max_change_bps: self.max_change.unwrap_or(DEFAULT_MAX_CHANGE_BPS),
            consensus_key: self.consensus_key,
        };
        if v.commission_rate_bps > v.max_rate_bps {
            bail!(
                "--commission-rate {} is above --max-rate {}: the rate can never exceed the max rate",
                show_bps(v.commission_rate_bps),
                show_bps(v.max_rate_bps)
            );
        }
        if v.max_change_bps > v.max_rate_bps {
            bail!("--max-change {} is above --max-rate {}", show_bps(v.max_change_bps), show_bps(v.max_rate_bps));
        }
        Ok(v)
    }
}

/// A validator description for the creating STAKE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewValidator {
    pub moniker: String,
    pub commission_rate_bps: u32,
    pub max_rate_bps: u32,
    pub max_change_bps: u32,
    /// `None`: the signing key's own public key.
    pub consensus_key: Option<PublicKey>,
}

fn object(v: Value) -> Payload {
    Payload::from_map(v.as_object().expect("an object").clone()).expect("integers and strings only")
}

/// The creating STAKE's payload; `signer` is the key that signs it (the default consensus key).
pub fn create_payload(v: &NewValidator, signer: &PublicKey) -> Payload {
    object(json!({
        "consensus_key": v.consensus_key.unwrap_or(*signer).to_hex(),
        "moniker": v.moniker,
        "commission_rate_bps": v.commission_rate_bps,
        "max_rate_bps": v.max_rate_bps,
        "max_change_bps": v.max_change_bps,
    }))
}

/// UPDATE_VALIDATOR's payload: the fields to change (at least one).
pub fn edit_payload(moniker: Option<&str>, commission_rate_bps: Option<u32>) -> Result<Payload> {
    let mut m = Map::new();
    if let Some(name) = moniker {
        check_moniker(name)?;
        m.insert("moniker".into(), name.into());
    }
    if let Some(r) = commission_rate_bps {
        m.insert("commission_rate_bps".into(), r.into());
    }
    if m.is_empty() {
        bail!("nothing to change: give --moniker and/or --commission-rate");
    }
    Ok(Payload::from_map(m).expect("integers and strings only"))
}

/// What one staking command sends (besides nonce, fee and signature).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub tx_type: TxType,
    pub to: Option<Address>,
    pub amount: u128,
    pub payload: Payload,
}

impl Plan {
    /// STAKE: create (`Some`) or add to the self-bond (`None`, payload `{}`).
    pub fn stake(amount: u128, create: Option<&NewValidator>, signer: &PublicKey) -> Plan {
        let payload = create.map_or_else(Payload::empty, |c| create_payload(c, signer));
        Plan { tx_type: TxType::Stake, to: None, amount, payload }
    }
    pub fn unstake(amount: u128) -> Plan {
        Plan { tx_type: TxType::Unstake, to: None, amount, payload: Payload::empty() }
    }
    pub fn delegate(validator: Address, amount: u128) -> Plan {
        Plan { tx_type: TxType::Delegate, to: Some(validator), amount, payload: Payload::empty() }
    }
    /// A DELEGATE of 0: pays the rewards so far (for the operator's own delegation, the
    /// commission too).
    pub fn withdraw_rewards(validator: Address) -> Plan {
        Plan { tx_type: TxType::Delegate, to: Some(validator), amount: 0, payload: Payload::empty() }
    }
    pub fn undelegate(validator: Address, amount: u128) -> Plan {
        Plan { tx_type: TxType::Undelegate, to: Some(validator), amount, payload: Payload::empty() }
    }
    pub fn edit(moniker: Option<&str>, commission_rate_bps: Option<u32>) -> Result<Plan> {
        Ok(Plan { tx_type: TxType::UpdateValidator, to: None, amount: 0, payload: edit_payload(moniker, commission_rate_bps)? })
    }
    pub fn unjail() -> Plan {
        Plan { tx_type: TxType::Unjail, to: None, amount: 0, payload: Payload::empty() }
    }
}

/// A positive `--amount` (only a withdrawal moves 0, and it has its own command).
pub fn positive(amount: u128, what: &str) -> Result<()> {
    if amount == 0 {
        bail!("--amount: {what} needs a positive amount, found 0");
    }
    Ok(())
}

// --- checks against the node's staking state ----------------------------------------------

/// `cpc_getValidator(operator)`: the validator object or None.
pub async fn validator(rpc: &Rpc, operator: &Address) -> Result<Option<Value>> {
    let v: Value = rpc.call("cpc_getValidator", vec![operator.to_string().into()]).await?;
    Ok(if v.is_null() { None } else { Some(v) })
}

/// The validator operated by `operator`, or an error saying there is none.
pub async fn existing_validator(rpc: &Rpc, operator: &Address, whose: &str) -> Result<Value> {
    validator(rpc, operator).await?.ok_or_else(|| {
        anyhow!("{operator} operates no validator ({whose}; `cpcd query validators` lists them, `cpcd tx stake` creates one)")
    })
}

/// The delegation of `delegator` to `validator` (`cpc_getDelegations`), or an error.
pub async fn existing_delegation(rpc: &Rpc, delegator: &Address, validator: &Address) -> Result<Value> {
    let list: Vec<Value> = rpc.call("cpc_getDelegations", vec![delegator.to_string().into()]).await?;
    let v = validator.to_string();
    list.into_iter()
        .find(|d| d["validator"] == v.as_str())
        .ok_or_else(|| anyhow!("{delegator} has no delegation to validator {validator} (`cpcd query delegations {delegator}`)"))
}

fn amount_field(v: &Value, field: &str) -> Result<u128> {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the node's answer has no decimal {field:?}: {v}"))
}

/// Refuses to unbond more than a delegation is worth.
pub fn check_unbond(delegation: &Value, amount: u128) -> Result<()> {
    let worth = amount_field(delegation, "tokens")?;
    if amount > worth {
        bail!("--amount {} is more than the delegation is worth, {}", format_cpc(amount), format_cpc(worth));
    }
    Ok(())
}

/// Refuses a DELEGATE to a tombstoned validator.
pub fn check_delegate(validator: &Value) -> Result<()> {
    if validator["tombstoned"] == true {
        let op = validator["operator"].as_str().unwrap_or("?");
        bail!("validator {op} is tombstoned (slashed for double signing): it takes no delegation");
    }
    Ok(())
}

/// Refuses an UNJAIL the chain would refuse: tombstoned, not jailed, or still jailed at the
/// next height (`next_height`).
pub fn check_unjail(validator: &Value, next_height: u64) -> Result<()> {
    let op = validator["operator"].as_str().unwrap_or("?");
    if validator["tombstoned"] == true {
        bail!("validator {op} is tombstoned (slashed for double signing): it can never be unjailed");
    }
    if validator["jailed"] != true {
        bail!("validator {op} is not jailed");
    }
    let until = validator["jailed_until"].as_u64().unwrap_or(0);
    if next_height < until {
        bail!("validator {op} is jailed until height {until}; the next block is {next_height}: wait {} blocks", until - next_height);
    }
    Ok(())
}

/// Refuses a commission change the chain would refuse for its size (the 24 h rule is the
/// chain's to check: it needs the block time).
pub fn check_rate_change(validator: &Value, rate_bps: u32) -> Result<()> {
    let c = &validator["commission"];
    let field = |f: &str| c[f].as_u64().map(|x| x as u32).ok_or_else(|| anyhow!("the node's answer has no commission.{f}: {validator}"));
    let (current, max, max_change) = (field("rate_bps")?, field("max_rate_bps")?, field("max_change_bps")?);
    if rate_bps > max {
        bail!("--commission-rate {} is above the validator's max rate {}", show_bps(rate_bps), show_bps(max));
    }
    let change = rate_bps.abs_diff(current);
    if change > max_change {
        bail!(
            "--commission-rate {} moves the rate by {} from {}: at most {} per day",
            show_bps(rate_bps),
            show_bps(change),
            show_bps(current),
            show_bps(max_change)
        );
    }
    Ok(())
}

/// Refuses a creating STAKE below the chain's minimum self-bond (`cpc_getStakingParams`).
pub async fn check_min_self_bond(rpc: &Rpc, amount: u128) -> Result<()> {
    let p: Value = rpc.call("cpc_getStakingParams", vec![]).await?;
    let min: u128 = p["min_self_bond"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the node's answer has no decimal \"min_self_bond\": {p}"))?;
    check_self_bond(amount, min)
}

/// A new validator's self-bond must be at least the minimum.
pub fn check_self_bond(amount: u128, min: u128) -> Result<()> {
    if amount < min {
        bail!(
            "--amount {} is below the chain's minimum self-bond {}: a new validator needs at least that",
            format_cpc(amount),
            format_cpc(min)
        );
    }
    Ok(())
}

/// Refuses a consensus key another validator already has.
pub async fn check_consensus_key_free(rpc: &Rpc, key: &PublicKey) -> Result<()> {
    let list: Vec<Value> = rpc.call("cpc_getValidators", vec![]).await?;
    if let Some(v) = list.iter().find(|v| v["consensus_key"] == key.to_hex().as_str()) {
        bail!("--consensus-key {} is already the key of validator {}", key.to_hex(), v["operator"].as_str().unwrap_or("?"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpc_primitives::{SecretKey, Transaction, UnsignedTx, UNITS_PER_CPC};
    use cpc_state::{CreateValidator, StakingTx};

    #[test]
    fn a_new_validator_needs_the_minimum_self_bond() {
        let min = 10_000 * UNITS_PER_CPC;
        assert!(check_self_bond(min, min).is_ok());
        let e = check_self_bond(min - 1, min).unwrap_err().to_string();
        assert!(e.contains("below the chain's minimum self-bond"), "{e}");
    }

    #[test]
    fn rates_as_decimals_or_percent_in_basis_points() {
        for (s, bps) in [
            ("0.10", 1000),
            ("0.1", 1000),
            ("10%", 1000),
            ("10 %", 1000),
            ("12.5%", 1250),
            ("0.125", 1250),
            ("0.0001", 1),
            ("0.01%", 1),
            ("0", 0),
            ("0%", 0),
            ("1", 10_000),
            ("1.0000", 10_000),
            ("100%", 10_000),
            ("0.2000000", 2000),
            (" 5% ", 500),
        ] {
            assert_eq!(parse_rate_arg(s), Ok(bps), "{s:?}");
        }
        let err = |s: &str| parse_rate_arg(s).unwrap_err();
        assert!(err("0.00005").contains("basis point"), "{}", err("0.00005"));
        assert!(err("0.005%").contains("basis point"));
        assert!(err("5").contains("above 100%"), "a bare 5 is 500 %: {}", err("5"));
        assert!(err("100.01%").contains("above 100%"));
        assert!(err("1.0001").contains("above 100%"));
        assert!(err("99999999999999999999999").contains("above 100%"));
        for bad in ["", "%", "-0.1", "+0.1", ".5", "5.", "0,1", "abc", "10%%", "1e-2", "0x10", "5 bps"] {
            assert!(parse_rate_arg(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn basis_points_shown_as_percent() {
        assert_eq!(show_bps(1000), "10%");
        assert_eq!(show_bps(1250), "12.5%");
        assert_eq!(show_bps(1), "0.01%");
        assert_eq!(show_bps(10), "0.1%");
        assert_eq!(show_bps(0), "0%");
        assert_eq!(show_bps(10_000), "100%");
        for bps in 0..=BPS {
            assert_eq!(parse_rate_arg(&show_bps(bps)), Ok(bps));
        }
    }

    #[test]
    fn limits_agree_with_the_chain() {
        assert_eq!(MAX_MONIKER_BYTES, cpc_state::stake_tx::MAX_MONIKER_BYTES);
        assert_eq!(BPS, cpc_state::stake::BPS);
    }

    /// Signs a plan as `sign_and_send` would and parses it as the chain does.
    fn parsed(sk: &SecretKey, p: Plan) -> Result<StakingTx, String> {
        let tx: Transaction = UnsignedTx {
            chain_id: "cpc-devnet-1".into(),
            tx_type: p.tx_type,
            from_address: Address::from_public_key(&sk.public_key()),
            to_address: p.to,
            amount: p.amount,
            fee: p.tx_type.intrinsic_gas() as u128 * 1000,
            nonce: 0,
            gas_price: 1000,
            gas_limit: p.tx_type.intrinsic_gas(),
            payload: p.payload,
        }
        .sign(sk);
        // Through the canonical JSON, as the node receives it.
        let tx: Transaction = serde_json::from_slice(&tx.canonical_json()).unwrap();
        StakingTx::parse(&tx).expect("a staking type")
    }

    #[test]
    fn payloads_parse_as_the_chain_parses_them() {
        let sk = SecretKey::from_bytes(&[7; 32]);
        let me = Address::from_public_key(&sk.public_key());
        let other = SecretKey::from_bytes(&[8; 32]).public_key();
        let val = Address([9; 20]);
        let amount = 200_000 * UNITS_PER_CPC;

        // Creation with the defaults: the signer's own key, 10 % / 20 % / 1 %.
        let create = CreateArgs::default().resolve(&me).unwrap();
        assert_eq!(
            parsed(&sk, Plan::stake(amount, Some(&create), &sk.public_key())),
            Ok(StakingTx::Stake {
                amount,
                create: Some(CreateValidator {
                    consensus_key: sk.public_key(),
                    moniker: me.to_string(),
                    commission_rate_bps: 1000,
                    max_rate_bps: 2000,
                    max_change_bps: 100,
                }),
            })
        );
        // Creation with every flag.
        let args = CreateArgs {
            moniker: Some("my validator".into()),
            commission_rate: Some(parse_rate_arg("0.05").unwrap()),
            max_rate: Some(parse_rate_arg("50%").unwrap()),
            max_change: Some(parse_rate_arg("0.02").unwrap()),
            consensus_key: Some(other),
        };
        assert!(args.given());
        let create = args.resolve(&me).unwrap();
        assert_eq!(
            parsed(&sk, Plan::stake(amount, Some(&create), &sk.public_key())),
            Ok(StakingTx::Stake {
                amount,
                create: Some(CreateValidator {
                    consensus_key: other,
                    moniker: "my validator".into(),
                    commission_rate_bps: 500,
                    max_rate_bps: 5000,
                    max_change_bps: 200,
                }),
            })
        );
        // More self-bond: payload {}.
        assert_eq!(parsed(&sk, Plan::stake(amount, None, &sk.public_key())), Ok(StakingTx::Stake { amount, create: None }));
        assert_eq!(parsed(&sk, Plan::unstake(5)), Ok(StakingTx::Unstake { amount: 5 }));
        assert_eq!(parsed(&sk, Plan::delegate(val, 6)), Ok(StakingTx::Delegate { validator: val, amount: 6 }));
        assert_eq!(parsed(&sk, Plan::withdraw_rewards(val)), Ok(StakingTx::Delegate { validator: val, amount: 0 }));
        assert_eq!(parsed(&sk, Plan::undelegate(val, 7)), Ok(StakingTx::Undelegate { validator: val, amount: 7 }));
        assert_eq!(
            parsed(&sk, Plan::edit(Some("renamed"), Some(600)).unwrap()),
            Ok(StakingTx::Update { moniker: Some("renamed".into()), commission_rate_bps: Some(600) })
        );
        assert_eq!(
            parsed(&sk, Plan::edit(None, Some(0)).unwrap()),
            Ok(StakingTx::Update { moniker: None, commission_rate_bps: Some(0) })
        );
        assert_eq!(
            parsed(&sk, Plan::edit(Some("x"), None).unwrap()),
            Ok(StakingTx::Update { moniker: Some("x".into()), commission_rate_bps: None })
        );
        assert_eq!(parsed(&sk, Plan::unjail()), Ok(StakingTx::Unjail));
    }

    #[test]
    fn bad_descriptions_are_refused_before_signing() {
        let me = Address([1; 20]);
        let with = |f: fn(&mut CreateArgs)| {
            let mut a = CreateArgs::default();
            f(&mut a);
            a.resolve(&me).unwrap_err().to_string()
        };
        assert!(with(|a| a.commission_rate = Some(2500)).contains("above --max-rate 20%"));
        assert!(with(|a| a.max_change = Some(3000)).contains("--max-change 30% is above --max-rate 20%"));
        assert!(with(|a| a.moniker = Some(String::new())).contains("--moniker"));
        assert!(with(|a| a.moniker = Some("x".repeat(65))).contains("1 to 64 bytes"));
        assert!(with(|a| a.moniker = Some("a\nb".into())).contains("control"));
        assert!(!CreateArgs::default().given());
        assert!(edit_payload(None, None).unwrap_err().to_string().contains("nothing to change"));
        assert!(edit_payload(Some(""), None).is_err());
        assert!(parse_consensus_key("abcd").is_err());
        let k = SecretKey::from_bytes(&[3; 32]).public_key();
        assert_eq!(parse_consensus_key(&k.to_hex()), Ok(k));
    }

    #[test]
    fn state_checks() {
        let v = |jailed: bool, until: u64, tombstoned: bool| {
            json!({"operator": "cpc1x", "jailed": jailed, "jailed_until": until, "tombstoned": tombstoned,
                   "commission": {"rate_bps": 1000, "max_rate_bps": 2000, "max_change_bps": 100, "changed_at_ms": 0}})
        };
        assert!(check_unjail(&v(true, 10, false), 10).is_ok());
        assert!(check_unjail(&v(true, 11, false), 10).unwrap_err().to_string().contains("until height 11"));
        assert!(check_unjail(&v(false, 0, false), 10).unwrap_err().to_string().contains("not jailed"));
        assert!(check_unjail(&v(true, u64::MAX, true), 10).unwrap_err().to_string().contains("tombstoned"));
        assert!(check_delegate(&v(false, 0, false)).is_ok());
        assert!(check_delegate(&v(true, u64::MAX, true)).is_err());
        assert!(check_rate_change(&v(false, 0, false), 1100).is_ok());
        assert!(check_rate_change(&v(false, 0, false), 900).is_ok());
        assert!(check_rate_change(&v(false, 0, false), 1101).unwrap_err().to_string().contains("at most 1% per day"));
        assert!(check_rate_change(&v(false, 0, false), 2001).unwrap_err().to_string().contains("max rate 20%"));
        let d = json!({"validator": "cpc1x", "tokens": "100"});
        assert!(check_unbond(&d, 100).is_ok());
        assert!(check_unbond(&d, 101).unwrap_err().to_string().contains("more than the delegation is worth"));
        assert!(positive(0, "UNSTAKE").is_err());
        assert!(positive(1, "UNSTAKE").is_ok());
    }
}
