//! Transaction checks *in isolation*: everything that needs only the transaction and the
//! chain parameters. Small ordered `check_*` functions, cheapest first, the signature last;
//! one error variant per rule, each saying what was expected and what was found.

use cpc_primitives::{Address, ComputeResult, ComputeResultError, CryptoError, Signature, Transaction, TxType};
use cpc_state::{parse_job_task_id, ChainParams, JobResultError, JobTx, MarketError};
use serde_json::Value;

/// Largest transaction accepted, as canonical JSON (a maximal synthetic proof is ~53 KB).
pub const MAX_TX_BYTES: usize = 96 * 1024;
/// Longest TRANSFER memo, in bytes.
pub const MAX_MEMO_BYTES: usize = 256;
/// Longest ComputeResult `task_id`.
pub const MAX_TASK_ID_BYTES: usize = 128;
/// Longest ComputeResult `result_hash`.
pub const MAX_RESULT_HASH_BYTES: usize = 128;
/// Longest ComputeResult `proof` (k = 64 challenges at n = 8192: 64·13·64 = 53 248 hex digits).
pub const MAX_PROOF_BYTES: usize = 64 * 1024;
/// Longest `proof` of an external (non-synthetic) result: its bytes mean nothing to any check
/// until a proof system exists, so they are only weight every node would store and relay.
pub const MAX_EXTERNAL_PROOF_BYTES: usize = 4 * 1024;

/// A transaction that is invalid on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxCheckError {
    #[error("transaction too large: at most {max} bytes of canonical JSON, found {found}")]
    TooLarge { max: usize, found: usize },
    #[error("chain_id: expected {expected:?}, found {found:?}")]
    ChainId { expected: String, found: String },
    #[error("{tx_type}: {why}")]
    Staking { tx_type: TxType, why: String },
    #[error("from_address must be the address of pub_key: expected {expected}, found {found}")]
    FromAddress { expected: Address, found: Address },
    #[error("gas_price: expected at least the chain minimum {expected}, found {found}")]
    GasPrice { expected: u64, found: u64 },
    #[error("{rule}gas_limit: expected at least the intrinsic gas of {tx_type}, {expected}, found {found}")]
    GasLimit { rule: &'static str, tx_type: TxType, expected: u64, found: u64 },
    #[error("fee must equal gas_limit x gas_price: expected {expected}, found {found}")]
    Fee { expected: u128, found: u128 },
    #[error("fee: gas_limit x gas_price overflows")]
    FeeOverflow,
    #[error("amount + fee overflows")]
    CostOverflow,
    #[error("to_address: {tx_type} needs a recipient, found null")]
    ToAddressMissing { tx_type: TxType },
    #[error("to_address: expected null for {tx_type}, found {found}")]
    ToAddressNotNull { tx_type: TxType, found: Address },
    #[error("amount: expected \"0\" for {tx_type}, found {found:?}")]
    AmountNotZero { tx_type: TxType, found: String },
    #[error("payload: {0}")]
    Payload(String),
    #[error("SUBMIT_RESULT rule 1 (well-formed ComputeResult): {0}")]
    Malformed(ComputeResultError),
    #[error("SUBMIT_RESULT rule 1 (well-formed ComputeResult): {field} too long: at most {max} bytes, found {found}")]
    FieldTooLong { field: &'static str, max: usize, found: usize },
    #[error("SUBMIT_RESULT rule 2 (worker_address == from_address): expected {expected}, found {found:?}")]
    WorkerMismatch { expected: Address, found: String },
    #[error("SUBMIT_RESULT rule 5 (worker signature): expected 128 lowercase hex digits, found {0:?}")]
    ResultSignatureFormat(String),
    #[error("SUBMIT_RESULT rule 5 (worker signature): not a valid Ed25519 signature by pub_key over the ComputeResult: {0}")]
    ResultSignature(CryptoError),
    #[error("signature: {0}")]
    Signature(CryptoError),
    #[error("{tx_type}: {why}")]
    Market { tx_type: TxType, why: String },
}

impl TxCheckError {
    /// The SUBMIT_RESULT rule (PROTOCOL.md, 1–5) this error breaks, if it is one of them: for
    /// metrics labels and RPC error data, never parsed back out of the message.
    pub fn submit_result_rule(&self) -> Option<u8> {
        match self {
            TxCheckError::Malformed(_) | TxCheckError::FieldTooLong { .. } => Some(1),
            TxCheckError::WorkerMismatch { .. } => Some(2),
            TxCheckError::GasLimit { tx_type: TxType::SubmitResult, .. } => Some(3),
            TxCheckError::ResultSignatureFormat(_) | TxCheckError::ResultSignature(_) => Some(5),
            _ => None,
        }
    }
}

pub fn check_size(tx: &Transaction) -> Result<(), TxCheckError> {
    let n = tx.canonical_json().len();
    if n > MAX_TX_BYTES {
        return Err(TxCheckError::TooLarge { max: MAX_TX_BYTES, found: n });
    }
    Ok(())
}

pub fn check_chain_id(tx: &Transaction, p: &ChainParams) -> Result<(), TxCheckError> {
    if tx.chain_id != p.chain_id {
        return Err(TxCheckError::ChainId { expected: p.chain_id.clone(), found: tx.chain_id.clone() });
    }
    Ok(())
}

/// The six staking types: recipient, amount and payload shape (docs/PROTOCOL-NOTES.md,
/// Staking transactions).
pub fn check_staking_shape(tx: &Transaction) -> Result<(), TxCheckError> {
    match cpc_state::StakingTx::parse(tx) {
        Some(Err(why)) => Err(TxCheckError::Staking { tx_type: tx.tx_type, why }),
        _ => Ok(()),
    }
}

pub fn check_from_address(tx: &Transaction) -> Result<(), TxCheckError> {
    let expected = Address::from_public_key(&tx.pub_key);
    if tx.from_address != expected {
        return Err(TxCheckError::FromAddress { expected, found: tx.from_address });
    }
    Ok(())
}

pub fn check_gas_price(tx: &Transaction, p: &ChainParams) -> Result<(), TxCheckError> {
    if tx.gas_price < p.min_gas_price {
        return Err(TxCheckError::GasPrice { expected: p.min_gas_price, found: tx.gas_price });
    }
    Ok(())
}

pub fn check_gas_limit(tx: &Transaction) -> Result<(), TxCheckError> {
    let expected = tx.tx_type.intrinsic_gas();
    if tx.gas_limit < expected {
        let rule = if tx.tx_type == TxType::SubmitResult { "SUBMIT_RESULT rule 3: " } else { "" };
        return Err(TxCheckError::GasLimit { rule, tx_type: tx.tx_type, expected, found: tx.gas_limit });
    }
    Ok(())
}

pub fn check_fee(tx: &Transaction) -> Result<(), TxCheckError> {
    let expected = (tx.gas_limit as u128).checked_mul(tx.gas_price as u128).ok_or(TxCheckError::FeeOverflow)?;
    if tx.fee != expected {
        return Err(TxCheckError::Fee { expected, found: tx.fee });
    }
    tx.max_cost().ok_or(TxCheckError::CostOverflow)?;
    Ok(())
}

pub fn check_recipient_and_amount(tx: &Transaction) -> Result<(), TxCheckError> {
    match tx.tx_type {
        TxType::Transfer if tx.to_address.is_none() => Err(TxCheckError::ToAddressMissing { tx_type: tx.tx_type }),
        TxType::SubmitResult => {
            if let Some(a) = tx.to_address {
                return Err(TxCheckError::ToAddressNotNull { tx_type: tx.tx_type, found: a });
            }
            if tx.amount != 0 {
                return Err(TxCheckError::AmountNotZero { tx_type: tx.tx_type, found: tx.amount.to_string() });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// TRANSFER payload: `{}` or `{"memo": string}` of at most [`MAX_MEMO_BYTES`].
pub fn check_transfer_payload(tx: &Transaction) -> Result<(), TxCheckError> {
    if tx.tx_type != TxType::Transfer {
        return Ok(());
    }
    for (k, v) in tx.payload.as_map() {
        match (k.as_str(), v) {
            ("memo", Value::String(s)) if s.len() <= MAX_MEMO_BYTES => {}
            ("memo", Value::String(s)) => {
                return Err(TxCheckError::Payload(format!(
                    "memo: at most {MAX_MEMO_BYTES} bytes, found {}",
                    s.len()
                )))
            }
            ("memo", _) => return Err(TxCheckError::Payload("memo: expected a string".into())),
            (other, _) => {
                return Err(TxCheckError::Payload(format!(
                    "TRANSFER payload: expected {{}} or {{\"memo\": string}}, found field {other:?}"
                )))
            }
        }
    }
    Ok(())
}

/// SUBMIT_RESULT rules 1, 2 and 5 (the ones that need nothing but the transaction).
pub fn check_compute_result(tx: &Transaction) -> Result<Option<ComputeResult>, TxCheckError> {
    if tx.tx_type != TxType::SubmitResult {
        return Ok(None);
    }
    let r = ComputeResult::from_payload(&tx.payload).map_err(TxCheckError::Malformed)?;
    let too_long = |field, max, v: &str| {
        if v.len() > max { Err(TxCheckError::FieldTooLong { field, max, found: v.len() }) } else { Ok(()) }
    };
    too_long("task_id", MAX_TASK_ID_BYTES, &r.task_id)?;
    too_long("result_hash", MAX_RESULT_HASH_BYTES, &r.result_hash)?;
    too_long("proof", MAX_PROOF_BYTES, r.proof.as_deref().unwrap_or(""))?;
    if !cpc_poc::is_synthetic_task_id(&r.task_id) {
        too_long("proof of an external result", MAX_EXTERNAL_PROOF_BYTES, r.proof.as_deref().unwrap_or(""))?;
    }
    if r.worker_address != tx.from_address.to_string() {
        return Err(TxCheckError::WorkerMismatch { expected: tx.from_address, found: r.worker_address });
    }
    if let Some(sig) = &r.signature {
        let sig = Signature::from_hex(sig).map_err(|_| TxCheckError::ResultSignatureFormat(sig.clone()))?;
        tx.pub_key.verify_strict(&r.signing_bytes(), &sig).map_err(TxCheckError::ResultSignature)?;
    }
    Ok(Some(r))
}

/// The market's in-isolation rules (docs/MARKET.md): the three job transactions exist only
/// where genesis enables the market, with strict payloads; a job result (`job:<id>`) carries
/// neither proof nor nonce.
pub fn check_market_shape(tx: &Transaction, r: Option<&ComputeResult>, p: &ChainParams) -> Result<(), TxCheckError> {
    let err = |why: String| TxCheckError::Market { tx_type: tx.tx_type, why };
    if let Some(parsed) = JobTx::parse(tx) {
        if !p.market.enabled {
            return Err(err(MarketError::Disabled.to_string()));
        }
        parsed.map_err(err)?;
    }
    if let Some(r) = r
        && p.market.enabled
        && let Some(job) = parse_job_task_id(&r.task_id)
    {
        job.map_err(err)?;
        if r.proof.is_some() {
            return Err(err(JobResultError::Extra("proof").to_string()));
        }
        if r.nonce.is_some() {
            return Err(err(JobResultError::Extra("nonce").to_string()));
        }
    }
    Ok(())
}

pub fn check_signature(tx: &Transaction) -> Result<(), TxCheckError> {
    tx.pub_key.verify_strict(&tx.signing_bytes(), &tx.signature).map_err(TxCheckError::Signature)
}

/// All in-isolation checks, in order. Returns the parsed ComputeResult of a SUBMIT_RESULT.
pub fn check_tx_in_isolation(tx: &Transaction, p: &ChainParams) -> Result<Option<ComputeResult>, TxCheckError> {
    check_size(tx)?;
    check_chain_id(tx, p)?;
    check_from_address(tx)?;
    check_gas_price(tx, p)?;
    check_gas_limit(tx)?;
    check_fee(tx)?;
    check_recipient_and_amount(tx)?;
    check_transfer_payload(tx)?;
    check_staking_shape(tx)?;
    let r = check_compute_result(tx)?;
    check_market_shape(tx, r.as_ref(), p)?;
    check_signature(tx)?;
    Ok(r)
}
