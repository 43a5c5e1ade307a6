//! Transactions and the ComputeResult payload (PROTOCOL.md, Transactions / SUBMIT_RESULT).

use crate::address::Address;
use crate::amount::dec_u128;
use crate::cjson::{write_canonical, write_canonical_object, write_json_string};
use crate::crypto::{PublicKey, SecretKey, Signature};
use crate::hash::{sha256, H256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Domain prefix of transaction signing bytes.
pub const TX_SIGNING_PREFIX: &[u8] = b"CPC-TX-V1:";
/// Domain prefix of a ComputeResult's own (worker) signature.
pub const RESULT_SIGNING_PREFIX: &[u8] = b"CPC-RESULT-V1:";

/// The transaction types of PROTOCOL.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxType {
    Transfer,
    Stake,
    Unstake,
    Delegate,
    Undelegate,
    UpdateValidator,
    Unjail,
    SubmitResult,
    /// The task market (docs/MARKET.md; beyond PROTOCOL.md, only where genesis enables it).
    PostJob,
    ClaimJob,
    CancelJob,
}

impl TxType {
    pub const ALL: [TxType; 11] = [
        TxType::Transfer,
        TxType::Stake,
        TxType::Unstake,
        TxType::Delegate,
        TxType::Undelegate,
        TxType::UpdateValidator,
        TxType::Unjail,
        TxType::SubmitResult,
        TxType::PostJob,
        TxType::ClaimJob,
        TxType::CancelJob,
    ];

    /// The wire name, e.g. `SUBMIT_RESULT`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxType::Transfer => "TRANSFER",
            TxType::Stake => "STAKE",
            TxType::Unstake => "UNSTAKE",
            TxType::Delegate => "DELEGATE",
            TxType::Undelegate => "UNDELEGATE",
            TxType::UpdateValidator => "UPDATE_VALIDATOR",
            TxType::Unjail => "UNJAIL",
            TxType::SubmitResult => "SUBMIT_RESULT",
            TxType::PostJob => "POST_JOB",
            TxType::ClaimJob => "CLAIM_JOB",
            TxType::CancelJob => "CANCEL_JOB",
        }
    }

    /// Intrinsic gas; gas used is exactly this (PROTOCOL.md).
    pub fn intrinsic_gas(&self) -> u64 {
        match self {
            TxType::Transfer => 21_000,
            TxType::Stake => 40_000,
            TxType::Unstake => 40_000,
            TxType::Delegate => 35_000,
            TxType::Undelegate => 35_000,
            TxType::UpdateValidator => 30_000,
            TxType::Unjail => 50_000,
            TxType::SubmitResult => 80_000,
            TxType::PostJob => 60_000,
            TxType::ClaimJob => 40_000,
            TxType::CancelJob => 30_000,
        }
    }
}

impl fmt::Display for TxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON object payload that has a canonical form (integers only, no floats anywhere).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Payload(Map<String, Value>);

impl Payload {
    pub fn empty() -> Self {
        Payload(Map::new())
    }
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
    /// Wraps an object, refusing floats (they have no canonical JSON).
    pub fn from_map(map: Map<String, Value>) -> Result<Self, String> {
        fn check(v: &Value) -> Result<(), String> {
            match v {
                Value::Number(n) if n.as_u64().is_none() && n.as_i64().is_none() => {
                    Err(format!("payload: canonical JSON allows integers only, found the number {n}"))
                }
                Value::Array(a) => a.iter().try_for_each(check),
                Value::Object(o) => o.values().try_for_each(check),
                _ => Ok(()),
            }
        }
        map.values().try_for_each(check)?;
        Ok(Payload(map))
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Payload::from_map(map).map_err(serde::de::Error::custom)
    }
}

/// Deserializes an `Option` field that must be present (null allowed, absence not): the
/// protocol's transaction has exactly its fields.
fn required_option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// A signed transaction, exactly the JSON object of PROTOCOL.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    pub chain_id: String,
    pub tx_type: TxType,
    pub from_address: Address,
    #[serde(deserialize_with = "required_option")]
    pub to_address: Option<Address>,
    #[serde(with = "dec_u128")]
    pub amount: u128,
    #[serde(with = "dec_u128")]
    pub fee: u128,
    pub nonce: u64,
    pub gas_price: u64,
    pub gas_limit: u64,
    pub payload: Payload,
    pub pub_key: PublicKey,
    pub signature: Signature,
}

/// The fields of a transaction before signing.
#[derive(Clone, Debug, PartialEq)]
pub struct UnsignedTx {
    pub chain_id: String,
    pub tx_type: TxType,
    pub from_address: Address,
    pub to_address: Option<Address>,
    pub amount: u128,
    pub fee: u128,
    pub nonce: u64,
    pub gas_price: u64,
    pub gas_limit: u64,
    pub payload: Payload,
}

impl UnsignedTx {
    /// A TRANSFER at its intrinsic gas limit (fee = 21 000 × `gas_price`).
    pub fn transfer(chain_id: &str, from: Address, to: Address, amount: u128, nonce: u64, gas_price: u64) -> Self {
        let gas_limit = TxType::Transfer.intrinsic_gas();
        UnsignedTx {
            chain_id: chain_id.to_string(),
            tx_type: TxType::Transfer,
            from_address: from,
            to_address: Some(to),
            amount,
            fee: gas_limit as u128 * gas_price as u128,
            nonce,
            gas_price,
            gas_limit,
            payload: Payload::empty(),
        }
    }

    /// Any type at its intrinsic gas limit (fee = intrinsic gas × `gas_price`): the staking
    /// transactions, whose payloads docs/PROTOCOL-NOTES.md describes.
    #[allow(clippy::too_many_arguments)]
    pub fn at_intrinsic_gas(
        chain_id: &str,
        tx_type: TxType,
        from: Address,
        to: Option<Address>,
        amount: u128,
        nonce: u64,
        gas_price: u64,
        payload: Payload,
    ) -> Self {
        let gas_limit = tx_type.intrinsic_gas();
        UnsignedTx {
            chain_id: chain_id.to_string(),
            tx_type,
            from_address: from,
            to_address: to,
            amount,
            fee: gas_limit as u128 * gas_price as u128,
            nonce,
            gas_price,
            gas_limit,
            payload,
        }
    }

    /// A SUBMIT_RESULT carrying `result` at its intrinsic gas limit (fee = 80 000 × `gas_price`).
    pub fn submit_result(chain_id: &str, from: Address, result: &ComputeResult, nonce: u64, gas_price: u64) -> Self {
        let gas_limit = TxType::SubmitResult.intrinsic_gas();
        UnsignedTx {
            chain_id: chain_id.to_string(),
            tx_type: TxType::SubmitResult,
            from_address: from,
            to_address: None,
            amount: 0,
            fee: gas_limit as u128 * gas_price as u128,
            nonce,
            gas_price,
            gas_limit,
            payload: result.to_payload(),
        }
    }

    /// Signs with `sk`; `from_address` and `pub_key` are taken as given (tests build invalid
    /// ones on purpose).
    pub fn sign(self, sk: &SecretKey) -> Transaction {
        let mut tx = Transaction {
            chain_id: self.chain_id,
            tx_type: self.tx_type,
            from_address: self.from_address,
            to_address: self.to_address,
            amount: self.amount,
            fee: self.fee,
            nonce: self.nonce,
            gas_price: self.gas_price,
            gas_limit: self.gas_limit,
            payload: self.payload,
            pub_key: sk.public_key(),
            signature: Signature([0u8; 64]),
        };
        tx.signature = sk.sign(&tx.signing_bytes());
        tx
    }
}

impl Transaction {
    fn write_fields(&self, out: &mut Vec<u8>, with_signature: bool) {
        // Keys in code point order: amount, chain_id, fee, from_address, gas_limit, gas_price,
        // nonce, payload, pub_key, [signature,] to_address, tx_type.
        out.extend_from_slice(b"{\"amount\":\"");
        out.extend_from_slice(self.amount.to_string().as_bytes());
        out.extend_from_slice(b"\",\"chain_id\":");
        write_json_string(&self.chain_id, out);
        out.extend_from_slice(b",\"fee\":\"");
        out.extend_from_slice(self.fee.to_string().as_bytes());
        out.extend_from_slice(b"\",\"from_address\":\"");
        out.extend_from_slice(self.from_address.to_string().as_bytes());
        out.extend_from_slice(b"\",\"gas_limit\":");
        out.extend_from_slice(self.gas_limit.to_string().as_bytes());
        out.extend_from_slice(b",\"gas_price\":");
        out.extend_from_slice(self.gas_price.to_string().as_bytes());
        out.extend_from_slice(b",\"nonce\":");
        out.extend_from_slice(self.nonce.to_string().as_bytes());
        out.extend_from_slice(b",\"payload\":");
        write_canonical_object(&self.payload.0, out).expect("Payload holds no floats by construction");
        out.extend_from_slice(b",\"pub_key\":\"");
        out.extend_from_slice(self.pub_key.to_hex().as_bytes());
        if with_signature {
            out.extend_from_slice(b"\",\"signature\":\"");
            out.extend_from_slice(self.signature.to_hex().as_bytes());
        }
        out.extend_from_slice(b"\",\"to_address\":");
        match &self.to_address {
            Some(a) => {
                out.push(b'"');
                out.extend_from_slice(a.to_string().as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"tx_type\":\"");
        out.extend_from_slice(self.tx_type.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }

    /// `"CPC-TX-V1:" ‖ CJ(the object without "signature")`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(TX_SIGNING_PREFIX);
        self.write_fields(&mut out, false);
        out
    }

    /// The transaction hash, its id everywhere: `H(signing bytes)`.
    pub fn hash(&self) -> H256 {
        sha256(&self.signing_bytes())
    }

    /// `CJ(tx)` including the signature: the stored and gossiped form.
    pub fn canonical_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(640);
        self.write_fields(&mut out, true);
        out
    }

    /// Parses a transaction from JSON text (strict: exactly the protocol's fields).
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// What the sender's balance must cover: `amount + fee` (checked), or only the fee for
    /// UNSTAKE and UNDELEGATE, whose amount is bonded stake coming back, not balance going out.
    pub fn max_cost(&self) -> Option<u128> {
        match self.tx_type {
            TxType::Unstake | TxType::Undelegate => Some(self.fee),
            _ => self.amount.checked_add(self.fee),
        }
    }
}

/// The payload of a SUBMIT_RESULT (the seed's `ComputeResult`), fields in declaration order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeResult {
    pub task_id: String,
    pub worker_address: String,
    pub result_hash: String,
    pub proof: Option<String>,
    pub nonce: Option<u64>,
    pub signature: Option<String>,
}

/// A payload that is not a well-formed ComputeResult (SUBMIT_RESULT rule 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComputeResultError {
    #[error("ComputeResult has unknown field {0:?} (allowed: task_id, worker_address, result_hash, proof, nonce, signature)")]
    UnknownField(String),
    #[error("ComputeResult is missing required field {0:?}")]
    MissingField(&'static str),
    #[error("ComputeResult field {field:?}: expected {expected}, found {found}")]
    WrongType { field: &'static str, expected: &'static str, found: String },
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl ComputeResult {
    pub const FIELDS: [&'static str; 6] =
        ["task_id", "worker_address", "result_hash", "proof", "nonce", "signature"];

    /// Parses a payload strictly: unknown fields, wrong types and missing required fields are
    /// errors; `proof`, `nonce` and `signature` may be null or absent (the model's defaults).
    pub fn from_payload(p: &Payload) -> Result<Self, ComputeResultError> {
        let m = p.as_map();
        if let Some(k) = m.keys().find(|k| !Self::FIELDS.contains(&k.as_str())) {
            return Err(ComputeResultError::UnknownField(k.clone()));
        }
        let req_str = |f: &'static str| -> Result<String, ComputeResultError> {
            match m.get(f) {
                None => Err(ComputeResultError::MissingField(f)),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(ComputeResultError::WrongType { field: f, expected: "a string", found: json_kind(v) }),
            }
        };
        let opt_str = |f: &'static str| -> Result<Option<String>, ComputeResultError> {
            match m.get(f) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(ComputeResultError::WrongType { field: f, expected: "a string or null", found: json_kind(v) }),
            }
        };
        let nonce = match m.get("nonce") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(v) => {
                return Err(ComputeResultError::WrongType {
                    field: "nonce",
                    expected: "an unsigned 64-bit integer or null",
                    found: json_kind(v),
                })
            }
        };
        Ok(ComputeResult {
            task_id: req_str("task_id")?,
            worker_address: req_str("worker_address")?,
            result_hash: req_str("result_hash")?,
            proof: opt_str("proof")?,
            nonce,
            signature: opt_str("signature")?,
        })
    }

    /// The payload object for a SUBMIT_RESULT carrying this result (all six fields).
    pub fn to_payload(&self) -> Payload {
        let mut m = Map::new();
        m.insert("task_id".into(), Value::String(self.task_id.clone()));
        m.insert("worker_address".into(), Value::String(self.worker_address.clone()));
        m.insert("result_hash".into(), Value::String(self.result_hash.clone()));
        m.insert("proof".into(), self.proof.clone().map_or(Value::Null, Value::String));
        m.insert("nonce".into(), self.nonce.map_or(Value::Null, |n| Value::Number(n.into())));
        m.insert("signature".into(), self.signature.clone().map_or(Value::Null, Value::String));
        Payload(m)
    }

    /// The seed's leaf JSON: compact, declaration order, nulls written, raw UTF-8 — byte for
    /// byte pydantic's `model_dump_json()`.
    pub fn leaf_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let opt = |out: &mut Vec<u8>, v: &Option<String>| match v {
            Some(s) => write_json_string(s, out),
            None => out.extend_from_slice(b"null"),
        };
        out.extend_from_slice(b"{\"task_id\":");
        write_json_string(&self.task_id, &mut out);
        out.extend_from_slice(b",\"worker_address\":");
        write_json_string(&self.worker_address, &mut out);
        out.extend_from_slice(b",\"result_hash\":");
        write_json_string(&self.result_hash, &mut out);
        out.extend_from_slice(b",\"proof\":");
        opt(&mut out, &self.proof);
        out.extend_from_slice(b",\"nonce\":");
        match self.nonce {
            Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"signature\":");
        opt(&mut out, &self.signature);
        out.push(b'}');
        out
    }

    /// The compute_root leaf: `H(leaf JSON)`.
    pub fn leaf_hash(&self) -> H256 {
        sha256(&self.leaf_json())
    }

    /// `"CPC-RESULT-V1:" ‖ CJ(the ComputeResult without "signature")` (absent values as null).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut p = self.to_payload();
        p.0.remove("signature");
        let mut out = RESULT_SIGNING_PREFIX.to_vec();
        write_canonical(&Value::Object(p.0), &mut out).expect("no floats in a ComputeResult");
        out
    }

    /// Sets `signature` to the worker's signature over [`Self::signing_bytes`].
    pub fn sign(&mut self, sk: &SecretKey) {
        self.signature = Some(sk.sign(&self.signing_bytes()).to_hex());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Transaction {
        let sk = SecretKey::from_bytes(&[1u8; 32]);
        UnsignedTx {
            chain_id: "cpc-devnet-1".into(),
            tx_type: TxType::Transfer,
            from_address: Address::from_public_key(&sk.public_key()),
            to_address: Some(Address([2u8; 20])),
            amount: 5,
            fee: 21_000_000,
            nonce: 0,
            gas_price: 1000,
            gas_limit: 21_000,
            payload: Payload::empty(),
        }
        .sign(&sk)
    }

    #[test]
    fn canonical_json_round_trips_and_matches_generic_cj() {
        let tx = sample();
        let text = tx.canonical_json();
        let back = Transaction::from_json_slice(&text).unwrap();
        assert_eq!(back, tx);
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(crate::cjson::to_canonical_bytes(&v).unwrap(), text);
    }

    #[test]
    fn strict_decoding() {
        let tx = sample();
        let mut v: Value = serde_json::from_slice(&tx.canonical_json()).unwrap();
        v["extra"] = json!(1);
        let e = serde_json::from_value::<Transaction>(v.clone()).unwrap_err().to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
        v.as_object_mut().unwrap().remove("extra");
        v.as_object_mut().unwrap().remove("to_address");
        let e = serde_json::from_value::<Transaction>(v.clone()).unwrap_err().to_string();
        assert!(e.contains("missing field `to_address`"), "{e}");
        v["to_address"] = Value::Null;
        v["amount"] = json!("007");
        let e = serde_json::from_value::<Transaction>(v.clone()).unwrap_err().to_string();
        assert!(e.contains("leading zeros"), "{e}");
        v["amount"] = json!("7");
        v["payload"] = json!({"x": 1.5});
        let e = serde_json::from_value::<Transaction>(v.clone()).unwrap_err().to_string();
        assert!(e.contains("integers only"), "{e}");
        v["payload"] = json!({});
        v["tx_type"] = json!("MINT");
        assert!(serde_json::from_value::<Transaction>(v).is_err());
    }

    #[test]
    fn compute_result_parsing_rules() {
        let ok = json!({"task_id": "t", "worker_address": "w", "result_hash": "h"});
        let p = Payload::from_map(ok.as_object().unwrap().clone()).unwrap();
        let r = ComputeResult::from_payload(&p).unwrap();
        assert_eq!((r.proof, r.nonce, r.signature), (None, None, None));

        let cases = [
            (json!({"task_id": "t", "worker_address": "w", "result_hash": "h", "x": 1}),
             ComputeResultError::UnknownField("x".into())),
            (json!({"task_id": "t", "worker_address": "w"}), ComputeResultError::MissingField("result_hash")),
            (json!({"task_id": 5, "worker_address": "w", "result_hash": "h"}),
             ComputeResultError::WrongType { field: "task_id", expected: "a string", found: "the number 5".into() }),
            (json!({"task_id": "t", "worker_address": "w", "result_hash": "h", "nonce": -1}),
             ComputeResultError::WrongType { field: "nonce", expected: "an unsigned 64-bit integer or null", found: "the number -1".into() }),
            (json!({"task_id": "t", "worker_address": "w", "result_hash": "h", "proof": 1}),
             ComputeResultError::WrongType { field: "proof", expected: "a string or null", found: "the number 1".into() }),
        ];
        for (v, want) in cases {
            let p = Payload::from_map(v.as_object().unwrap().clone()).unwrap();
            assert_eq!(ComputeResult::from_payload(&p).unwrap_err(), want);
        }
    }

    #[test]
    fn result_signature_covers_everything_but_itself() {
        let sk = SecretKey::from_bytes(&[4u8; 32]);
        let mut r = ComputeResult {
            task_id: "t".into(),
            worker_address: "w".into(),
            result_hash: "h".into(),
            proof: None,
            nonce: Some(3),
            signature: None,
        };
        assert_eq!(
            r.signing_bytes(),
            b"CPC-RESULT-V1:{\"nonce\":3,\"proof\":null,\"result_hash\":\"h\",\"task_id\":\"t\",\"worker_address\":\"w\"}".to_vec()
        );
        r.sign(&sk);
        let sig = Signature::from_hex(r.signature.as_ref().unwrap()).unwrap();
        assert!(sk.public_key().verify_strict(&r.signing_bytes(), &sig).is_ok());
    }
}
