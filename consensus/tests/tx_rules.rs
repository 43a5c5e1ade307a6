//! One test per in-isolation transaction rule (and SUBMIT_RESULT rules 1, 2, 3 and 5).
mod common;
use common::Chain;
use cpc_consensus::*;
use cpc_primitives::*;
use serde_json::json;

fn payload(v: serde_json::Value) -> Payload {
    Payload::from_map(v.as_object().unwrap().clone()).unwrap()
}

fn check(c: &Chain, tx: &Transaction) -> Result<(), TxCheckError> {
    check_tx_in_isolation(tx, &c.params).map(|_| ())
}

fn result_of(c: &Chain, i: usize) -> ComputeResult {
    ComputeResult {
        task_id: "external-task-1".into(),
        worker_address: c.addr(i).to_string(),
        result_hash: "ab".repeat(32),
        proof: None,
        nonce: None,
        signature: None,
    }
}

#[test]
fn a_good_transfer_and_a_good_result_pass() {
    let c = Chain::new();
    assert_eq!(check(&c, &c.transfer(1, c.addr(2), 5, 0)), Ok(()));
    assert_eq!(check(&c, &c.submit(1, &result_of(&c, 1), 0)), Ok(()));
}

#[test]
fn chain_id_must_match() {
    let c = Chain::new();
    let mut u = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, Payload::empty());
    u.chain_id = "cpc-testnet-1".into();
    let e = check(&c, &u.sign(&c.keys[1])).unwrap_err();
    assert_eq!(e, TxCheckError::ChainId { expected: "cpc-devnet-1".into(), found: "cpc-testnet-1".into() });
}

#[test]
fn staking_shapes_are_checked_in_isolation() {
    let c = Chain::new();
    // STAKE names no recipient; DELEGATE needs one; UNJAIL moves no amount; unknown fields.
    let cases: Vec<(TxType, Option<Address>, u128, serde_json::Value, &str)> = vec![
        (TxType::Stake, Some(c.addr(2)), 1, serde_json::json!({}), "to_address: expected null for STAKE"),
        (TxType::Stake, None, 0, serde_json::json!({}), "STAKE needs a positive amount"),
        (TxType::Stake, None, 1, serde_json::json!({"moniker": "x"}), "\"consensus_key\" is missing"),
        (TxType::Delegate, None, 1, serde_json::json!({}), "DELEGATE needs the validator's operator address"),
        (TxType::Undelegate, Some(c.addr(2)), 0, serde_json::json!({}), "UNDELEGATE needs a positive amount"),
        (TxType::Unjail, None, 5, serde_json::json!({}), "expected \"0\" for UNJAIL"),
        (TxType::Unstake, None, 5, serde_json::json!({"x": 1}), "unknown field \"x\""),
        (TxType::UpdateValidator, None, 0, serde_json::json!({}), "expected \"moniker\" or \"commission_rate_bps\""),
        (TxType::UpdateValidator, None, 0, serde_json::json!({"commission_rate_bps": 10001}), "basis points 0..=10000"),
    ];
    for (t, to, amount, payload, want) in cases {
        let p = Payload::from_map(payload.as_object().unwrap().clone()).unwrap();
        let tx = c.unsigned(1, t, to, amount, 0, t.intrinsic_gas(), p).sign(&c.keys[1]);
        let e = check(&c, &tx).unwrap_err();
        assert!(matches!(e, TxCheckError::Staking { .. }), "{t}: {e}");
        assert!(e.to_string().contains(want), "{t}: expected {want:?} in {e}");
    }
    let ok = c.unsigned(1, TxType::Unjail, None, 0, 0, 50_000, Payload::empty()).sign(&c.keys[1]);
    check(&c, &ok).unwrap();
}

#[test]
fn from_address_must_be_the_keys_address() {
    let c = Chain::new();
    let mut u = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, Payload::empty());
    u.from_address = c.addr(3);
    let e = check(&c, &u.sign(&c.keys[1])).unwrap_err();
    assert_eq!(e, TxCheckError::FromAddress { expected: c.addr(1), found: c.addr(3) });
}

#[test]
fn gas_price_must_reach_the_minimum() {
    let c = Chain::new();
    let mut u = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, Payload::empty());
    u.gas_price = 999;
    u.fee = 21_000 * 999;
    assert_eq!(check(&c, &u.sign(&c.keys[1])).unwrap_err(), TxCheckError::GasPrice { expected: 1000, found: 999 });
}

#[test]
fn gas_limit_must_cover_intrinsic_gas() {
    let c = Chain::new();
    let tx = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 20_999, Payload::empty()).sign(&c.keys[1]);
    assert_eq!(
        check(&c, &tx).unwrap_err(),
        TxCheckError::GasLimit { rule: "", tx_type: TxType::Transfer, expected: 21_000, found: 20_999 }
    );
}

#[test]
fn submit_result_rule_3_gas_limit_79_999_is_refused() {
    let c = Chain::new();
    let tx = c.unsigned(1, TxType::SubmitResult, None, 0, 0, 79_999, result_of(&c, 1).to_payload()).sign(&c.keys[1]);
    let e = check(&c, &tx).unwrap_err();
    assert!(e.to_string().starts_with("SUBMIT_RESULT rule 3"), "{e}");
    assert!(matches!(e, TxCheckError::GasLimit { expected: 80_000, found: 79_999, .. }));
}

#[test]
fn fee_must_equal_gas_limit_times_price() {
    let c = Chain::new();
    let mut u = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, Payload::empty());
    u.fee = 1;
    assert_eq!(check(&c, &u.sign(&c.keys[1])).unwrap_err(), TxCheckError::Fee { expected: 21_000_000, found: 1 });
}

#[test]
fn amount_plus_fee_must_not_overflow() {
    let c = Chain::new();
    let mut u = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, Payload::empty());
    u.amount = u128::MAX;
    assert_eq!(check(&c, &u.sign(&c.keys[1])).unwrap_err(), TxCheckError::CostOverflow);
}

#[test]
fn transfer_needs_a_recipient() {
    let c = Chain::new();
    let tx = c.unsigned(1, TxType::Transfer, None, 1, 0, 21_000, Payload::empty()).sign(&c.keys[1]);
    assert_eq!(check(&c, &tx).unwrap_err(), TxCheckError::ToAddressMissing { tx_type: TxType::Transfer });
}

#[test]
fn submit_result_has_no_recipient_and_no_amount() {
    let c = Chain::new();
    let p = result_of(&c, 1).to_payload();
    let tx = c.unsigned(1, TxType::SubmitResult, Some(c.addr(2)), 0, 0, 80_000, p.clone()).sign(&c.keys[1]);
    assert!(matches!(check(&c, &tx).unwrap_err(), TxCheckError::ToAddressNotNull { .. }));
    let tx = c.unsigned(1, TxType::SubmitResult, None, 5, 0, 80_000, p).sign(&c.keys[1]);
    assert!(matches!(check(&c, &tx).unwrap_err(), TxCheckError::AmountNotZero { .. }));
}

#[test]
fn transfer_payload_is_empty_or_a_short_memo() {
    let c = Chain::new();
    let ok = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, payload(json!({"memo": "hi"})));
    assert_eq!(check(&c, &ok.sign(&c.keys[1])), Ok(()));
    let bad = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, payload(json!({"data": "x"})));
    assert!(matches!(check(&c, &bad.sign(&c.keys[1])).unwrap_err(), TxCheckError::Payload(_)));
    let long = c.unsigned(1, TxType::Transfer, Some(c.addr(2)), 1, 0, 21_000, payload(json!({"memo": "x".repeat(257)})));
    assert!(matches!(check(&c, &long.sign(&c.keys[1])).unwrap_err(), TxCheckError::Payload(_)));
}

#[test]
fn submit_result_rule_1_malformed_payload_is_refused() {
    let c = Chain::new();
    let tx = c
        .unsigned(1, TxType::SubmitResult, None, 0, 0, 80_000, payload(json!({"task_id": "t", "worker_address": c.addr(1).to_string()})))
        .sign(&c.keys[1]);
    let e = check(&c, &tx).unwrap_err();
    assert_eq!(e, TxCheckError::Malformed(ComputeResultError::MissingField("result_hash")));
    assert!(e.to_string().starts_with("SUBMIT_RESULT rule 1"));
}

#[test]
fn submit_result_rule_1_unknown_field_is_refused() {
    let c = Chain::new();
    let mut m = result_of(&c, 1).to_payload().as_map().clone();
    m.insert("reward".into(), json!("1000"));
    let tx = c.unsigned(1, TxType::SubmitResult, None, 0, 0, 80_000, Payload::from_map(m).unwrap()).sign(&c.keys[1]);
    assert_eq!(check(&c, &tx).unwrap_err(), TxCheckError::Malformed(ComputeResultError::UnknownField("reward".into())));
}

#[test]
fn submit_result_rule_1_oversized_fields_are_refused() {
    let c = Chain::new();
    let mut r = result_of(&c, 1);
    r.task_id = "t".repeat(129);
    let tx = c.submit(1, &r, 0);
    assert!(matches!(check(&c, &tx).unwrap_err(), TxCheckError::FieldTooLong { field: "task_id", max: 128, found: 129 }));
}

#[test]
fn submit_result_rule_2_worker_must_be_sender() {
    let c = Chain::new();
    let tx = c.submit(1, &result_of(&c, 2), 0);
    let e = check(&c, &tx).unwrap_err();
    assert_eq!(e, TxCheckError::WorkerMismatch { expected: c.addr(1), found: c.addr(2).to_string() });
    assert!(e.to_string().starts_with("SUBMIT_RESULT rule 2"));
}

#[test]
fn submit_result_rule_5_worker_signature_must_verify() {
    let c = Chain::new();
    let mut r = result_of(&c, 1);
    r.sign(&c.keys[1]);
    assert_eq!(check(&c, &c.submit(1, &r, 0)), Ok(()));
    // Signed by another key.
    r.sign(&c.keys[2]);
    let e = check(&c, &c.submit(1, &r, 0)).unwrap_err();
    assert_eq!(e, TxCheckError::ResultSignature(CryptoError::BadSignature));
    assert!(e.to_string().starts_with("SUBMIT_RESULT rule 5"));
    // Signature over a different result.
    let mut r2 = result_of(&c, 1);
    r2.sign(&c.keys[1]);
    r2.result_hash = "cd".repeat(32);
    assert!(matches!(check(&c, &c.submit(1, &r2, 0)).unwrap_err(), TxCheckError::ResultSignature(_)));
    r2.signature = Some("zz".into());
    assert!(matches!(check(&c, &c.submit(1, &r2, 0)).unwrap_err(), TxCheckError::ResultSignatureFormat(_)));
}

#[test]
fn transaction_signature_must_verify() {
    let c = Chain::new();
    let mut tx = c.transfer(1, c.addr(2), 5, 0);
    tx.amount = 6;
    assert_eq!(check(&c, &tx).unwrap_err(), TxCheckError::Signature(CryptoError::BadSignature));
}

#[test]
fn oversized_transactions_are_refused() {
    let c = Chain::new();
    let mut r = result_of(&c, 1);
    r.proof = Some("a".repeat(100 * 1024));
    assert!(matches!(check(&c, &c.submit(1, &r, 0)).unwrap_err(), TxCheckError::TooLarge { .. }));
}

#[test]
fn submit_result_rule_1_external_proof_is_at_most_4_kib() {
    let c = Chain::new();
    let max = cpc_consensus::tx_checks::MAX_EXTERNAL_PROOF_BYTES;
    assert_eq!(max, 4096);
    let mut r = result_of(&c, 1);
    r.proof = Some("a".repeat(4096));
    assert_eq!(check(&c, &c.submit(1, &r, 0)), Ok(()), "exactly 4 KiB is fine");
    r.proof = Some("a".repeat(4097));
    let e = check(&c, &c.submit(1, &r, 0)).unwrap_err();
    assert_eq!(e, TxCheckError::FieldTooLong { field: "proof of an external result", max: 4096, found: 4097 });
    // A synthetic result's proof is bounded by MAX_PROOF_BYTES only (k·log2(n)·64 hex digits
    // can exceed 4 KiB: k = 8 at n = 1024 is 5 120): this rule leaves it to rule 6.
    let mut s = c.solve(1, 0, 0);
    assert!(cpc_poc::is_synthetic_task_id(&s.task_id));
    s.proof = Some("ab".repeat(4000));
    assert_eq!(check(&c, &c.submit(1, &s, 0)), Ok(()));
}
