//! The six staking transactions' payloads (docs/PROTOCOL-NOTES.md, Staking transactions):
//! parsed strictly (unknown fields, wrong types and missing fields refused), once in isolation
//! at admission and again by the executor.

use cpc_primitives::{Address, PublicKey, Transaction, TxType};
use serde_json::{Map, Value};

/// Longest moniker, bytes.
pub const MAX_MONIKER_BYTES: usize = 64;

/// A new validator's description (STAKE that creates one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateValidator {
    pub consensus_key: PublicKey,
    pub moniker: String,
    pub commission_rate_bps: u32,
    pub max_rate_bps: u32,
    pub max_change_bps: u32,
}

/// What a staking transaction asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StakingTx {
    /// STAKE: bond `amount` to the sender's own validator, creating it when `create` is given.
    Stake { amount: u128, create: Option<CreateValidator> },
    /// UNSTAKE: unbond `amount` tokens of the sender's self-bond.
    Unstake { amount: u128 },
    /// DELEGATE: bond `amount` to `validator` (0: only withdraw the rewards so far).
    Delegate { validator: Address, amount: u128 },
    /// UNDELEGATE: unbond `amount` tokens of the sender's delegation to `validator`.
    Undelegate { validator: Address, amount: u128 },
    /// UPDATE_VALIDATOR: edit the sender's validator.
    Update { moniker: Option<String>, commission_rate_bps: Option<u32> },
    /// UNJAIL: bring the sender's validator back after its jail time.
    Unjail,
}

fn bps(m: &Map<String, Value>, field: &str) -> Result<Option<u32>, String> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= 10_000 => Ok(Some(v as u32)),
            _ => Err(format!("{field}: expected basis points 0..=10000, found {n}")),
        },
        Some(other) => Err(format!("{field}: expected an integer, found {other}")),
    }
}

fn moniker(m: &Map<String, Value>) -> Result<Option<String>, String> {
    match m.get("moniker") {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s.len() > MAX_MONIKER_BYTES || s.chars().any(char::is_control) => Err(format!(
            "moniker: expected 1 to {MAX_MONIKER_BYTES} bytes without control characters, found {s:?}"
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("moniker: expected a string, found {other}")),
    }
}

fn only(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} payload: unknown field {k:?} (allowed: {allowed:?})")),
        None => Ok(()),
    }
}

fn to_address(tx: &Transaction, needed: bool) -> Result<Option<Address>, String> {
    match (tx.to_address, needed) {
        (Some(a), true) => Ok(Some(a)),
        (None, true) => Err(format!("to_address: {} needs the validator's operator address, found null", tx.tx_type)),
        (Some(a), false) => Err(format!("to_address: expected null for {}, found {a}", tx.tx_type)),
        (None, false) => Ok(None),
    }
}

fn positive(tx: &Transaction) -> Result<u128, String> {
    if tx.amount == 0 {
        return Err(format!("amount: {} needs a positive amount, found \"0\"", tx.tx_type));
    }
    Ok(tx.amount)
}

fn zero(tx: &Transaction) -> Result<(), String> {
    if tx.amount != 0 {
        return Err(format!("amount: expected \"0\" for {}, found \"{}\"", tx.tx_type, tx.amount));
    }
    Ok(())
}

impl StakingTx {
    /// Parses a staking transaction; `None` for TRANSFER, SUBMIT_RESULT and the market's.
    pub fn parse(tx: &Transaction) -> Option<Result<StakingTx, String>> {
        let m = tx.payload.as_map();
        Some(match tx.tx_type {
            TxType::Transfer | TxType::SubmitResult | TxType::PostJob | TxType::ClaimJob | TxType::CancelJob => return None,
            TxType::Stake => (|| {
                to_address(tx, false)?;
                let amount = positive(tx)?;
                if m.is_empty() {
                    return Ok(StakingTx::Stake { amount, create: None });
                }
                const F: [&str; 5] = ["consensus_key", "moniker", "commission_rate_bps", "max_rate_bps", "max_change_bps"];
                only(m, &F, "STAKE")?;
                if let Some(missing) = F.iter().find(|f| !m.contains_key(**f)) {
                    return Err(format!("STAKE payload: expected {{}} or all of {F:?}, {missing:?} is missing"));
                }
                let consensus_key = match &m["consensus_key"] {
                    Value::String(s) => PublicKey::from_hex(s).map_err(|e| format!("consensus_key: {e}"))?,
                    other => return Err(format!("consensus_key: expected 64 hex digits, found {other}")),
                };
                let create = CreateValidator {
                    consensus_key,
                    moniker: moniker(m)?.expect("present"),
                    commission_rate_bps: bps(m, "commission_rate_bps")?.expect("present"),
                    max_rate_bps: bps(m, "max_rate_bps")?.expect("present"),
                    max_change_bps: bps(m, "max_change_bps")?.expect("present"),
                };
                Ok(StakingTx::Stake { amount, create: Some(create) })
            })(),
            TxType::Unstake => (|| {
                to_address(tx, false)?;
                only(m, &[], "UNSTAKE")?;
                Ok(StakingTx::Unstake { amount: positive(tx)? })
            })(),
            TxType::Delegate => (|| {
                let validator = to_address(tx, true)?.expect("needed");
                only(m, &[], "DELEGATE")?;
                Ok(StakingTx::Delegate { validator, amount: tx.amount })
            })(),
            TxType::Undelegate => (|| {
                let validator = to_address(tx, true)?.expect("needed");
                only(m, &[], "UNDELEGATE")?;
                Ok(StakingTx::Undelegate { validator, amount: positive(tx)? })
            })(),
            TxType::UpdateValidator => (|| {
                to_address(tx, false)?;
                zero(tx)?;
                only(m, &["moniker", "commission_rate_bps"], "UPDATE_VALIDATOR")?;
                if m.is_empty() {
                    return Err("UPDATE_VALIDATOR payload: expected \"moniker\" or \"commission_rate_bps\", found {}".into());
                }
                Ok(StakingTx::Update { moniker: moniker(m)?, commission_rate_bps: bps(m, "commission_rate_bps")? })
            })(),
            TxType::Unjail => (|| {
                to_address(tx, false)?;
                zero(tx)?;
                only(m, &[], "UNJAIL")?;
                Ok(StakingTx::Unjail)
            })(),
        })
    }
}
