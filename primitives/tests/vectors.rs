//! Reproduces every `keys`, `transactions`, `compute_root`, `share_targets` and v2 `blocks` vector of
//! `../shared/vectors/protocol-v2.json` (copied to `tests/data/` so a lone clone still runs).

use cpc_primitives::*;
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("data/protocol-v2.json");
    serde_json::from_str(text).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

#[test]
fn copy_matches_shared_vectors_when_present() {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/protocol-v2.json");
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(text, include_str!("data/protocol-v2.json"), "tests/data copy is stale");
    }
}

#[test]
fn keys() {
    let v = vectors();
    let keys = v["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        let sk = SecretKey::from_hex(s(k, "secret_key")).unwrap();
        let pk = sk.public_key();
        assert_eq!(pk.to_hex(), s(k, "public_key"));
        let addr = Address::from_public_key(&pk);
        assert_eq!(addr.to_string(), s(k, "address"));
        assert_eq!(ValconsAddress::from_public_key(&pk).to_string(), s(k, "validator_address"));
        assert_eq!(s(k, "address").parse::<Address>().unwrap(), addr);
        assert_eq!(s(k, "validator_address").parse::<ValconsAddress>().unwrap(), addr.to_valcons());
    }
}

#[test]
fn transactions() {
    let v = vectors();
    let txs = v["transactions"].as_array().unwrap();
    assert!(!txs.is_empty());
    for t in txs {
        let tx: Transaction = serde_json::from_value(t["tx"].clone()).unwrap();
        assert_eq!(hex::encode(tx.signing_bytes()), s(t, "signing_bytes_hex"));
        assert_eq!(tx.hash().to_hex(), s(t, "hash"));
        tx.pub_key.verify_strict(&tx.signing_bytes(), &tx.signature).unwrap();
        assert_eq!(Address::from_public_key(&tx.pub_key), tx.from_address);
        // Canonical JSON of the stored form round-trips to the same transaction.
        assert_eq!(Transaction::from_json_slice(&tx.canonical_json()).unwrap(), tx);
        if tx.tx_type == TxType::SubmitResult {
            ComputeResult::from_payload(&tx.payload).unwrap();
        }
    }
}

#[test]
fn compute_roots() {
    let v = vectors();
    let cases = v["compute_root"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let results: Vec<ComputeResult> = c["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let p = Payload::from_map(r.as_object().unwrap().clone()).unwrap();
                ComputeResult::from_payload(&p).unwrap()
            })
            .collect();
        let leaf_json: Vec<&str> = c["leaf_json"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(results.len(), leaf_json.len());
        for (r, l) in results.iter().zip(&leaf_json) {
            assert_eq!(String::from_utf8(r.leaf_json()).unwrap(), *l);
        }
        assert_eq!(compute_root_of_results(&results).to_text(), s(c, "compute_root"));
    }
}

#[test]
fn compute_root_of_signed_txs_matches() {
    // The block vector's compute_root equals the root of the 3-result compute_root vector.
    let v = vectors();
    let three = v["compute_root"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["results"].as_array().unwrap().len() == 3)
        .unwrap();
    assert_eq!(s(three, "compute_root"), s(&v["blocks"][0]["header"], "compute_root"));
}

#[test]
fn blocks() {
    let v = vectors();
    let blocks = v["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    let key_sks: Vec<SecretKey> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| SecretKey::from_hex(s(k, "secret_key")).unwrap())
        .collect();
    for b in blocks {
        let header: Header = serde_json::from_value(b["header"].clone()).unwrap();
        assert_eq!(hex::encode(header.signing_bytes()), s(b, "signing_bytes_hex"));
        assert_eq!(header.hash().to_hex(), s(b, "hash"));
        let hashes: Vec<H256> =
            b["tx_hashes"].as_array().unwrap().iter().map(|h| H256::from_hex(h.as_str().unwrap()).unwrap()).collect();
        assert_eq!(tx_root(&hashes), header.tx_root);
        // The proposer is one of the vector keys; Ed25519 is deterministic, so we reproduce
        // the signature exactly.
        let sk = key_sks
            .iter()
            .find(|sk| ValconsAddress::from_public_key(&sk.public_key()) == header.proposer_address)
            .expect("proposer key among the vector keys");
        assert_eq!(sk.sign(&header.signing_bytes()).to_hex(), s(b, "signature"));
        let sig = Signature::from_hex(s(b, "signature")).unwrap();
        sk.public_key().verify_strict(&header.signing_bytes(), &sig).unwrap();
    }
}

#[test]
fn empty_tx_root_is_zeros() {
    assert_eq!(tx_root(&[]).to_hex(), "0".repeat(64));
}

#[test]
fn share_targets() {
    let v = vectors();
    let cases = v["share_targets"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let start = ShareTarget::from_hex(s(c, "start")).unwrap();
        let (sp, tau) = (c["shares_per_block"].as_u64().unwrap(), c["halflife_blocks"].as_u64().unwrap());
        let counts = c["synthetic_results_per_block"].as_array().unwrap();
        let targets = c["targets"].as_array().unwrap();
        assert_eq!(counts.len(), targets.len());
        let mut t = start;
        for (i, (n, want)) in counts.iter().zip(targets).enumerate() {
            t = next_share_target(t, n.as_u64().unwrap(), sp, tau);
            assert_eq!(t.to_hex(), want.as_str().unwrap(), "case start {} S {sp} tau {tau}, block {}", start, i + 1);
        }
    }
}

#[test]
fn v2_headers_carry_share_target_in_the_signed_bytes() {
    let v = vectors();
    let mut header: Header = serde_json::from_value(v["blocks"][0]["header"].clone()).unwrap();
    let hash = header.hash();
    header.share_target = ShareTarget(header.share_target.0 ^ 1);
    assert_ne!(header.hash(), hash, "share_target is covered by the block hash");
    assert!(header.signing_bytes().starts_with(b"CPC-BLOCK-V2:"));
    // A v1 header (no share_target) no longer decodes: unknown or missing fields are errors.
    let mut v1 = v["blocks"][0]["header"].clone();
    v1.as_object_mut().unwrap().remove("share_target");
    assert!(serde_json::from_value::<Header>(v1).is_err());
}
