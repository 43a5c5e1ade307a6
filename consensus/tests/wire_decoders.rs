//! The consensus decoders that take bytes from peers (commit certificates, evidence, certified
//! blocks) against arbitrary and mutated input: they never panic, refuse what is not exactly
//! an encoding, and what they accept re-encodes to the same bytes (no two encodings of one
//! value). A light stand-in for cargo-fuzz, which this machine cannot install (issue 14).

use cpc_consensus::evidence::{vote_signing_bytes, Evidence, SignedChoice, VoteKind};
use cpc_consensus::Certificate;
use cpc_primitives::*;
use proptest::prelude::*;

fn sample_certificate() -> Vec<u8> {
    let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32])).collect();
    let block = H256([9; 32]);
    let sigs = keys
        .iter()
        .take(3)
        .map(|k| {
            let a = ValconsAddress::from_public_key(&k.public_key());
            (a, k.sign(&cpc_consensus::finality::precommit_signing_bytes(5, 1, &block, &a)))
        })
        .collect();
    Certificate::new(5, 1, block, sigs).encode()
}

fn sample_evidence() -> Vec<u8> {
    let k = SecretKey::from_bytes(&[3; 32]);
    let a = ValconsAddress::from_public_key(&k.public_key());
    let vote = |b: Option<H256>| SignedChoice { block: b, signature: k.sign(&vote_signing_bytes(VoteKind::Prevote, 2, 0, b.as_ref(), &a)) };
    Evidence::DoubleVote { validator: a, height: 2, round: 0, kind: VoteKind::Prevote, first: vote(None), second: vote(Some(H256([1; 32]))) }
        .to_json_bytes()
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(i, b) in edits {
        if !bytes.is_empty() {
            let n = bytes.len();
            bytes[i % n] ^= b;
        }
    }
    if let Some(c) = cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn certificates_decode_strictly(raw in proptest::collection::vec(any::<u8>(), 0..400),
                                    edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..4),
                                    cut in proptest::option::of(any::<usize>())) {
        for input in [raw, mutate(sample_certificate(), &edits, cut)] {
            if let Ok(c) = Certificate::decode(&input) {
                prop_assert_eq!(c.encode(), input, "one encoding per certificate");
            }
        }
    }

    #[test]
    fn evidence_decodes_without_panicking_and_forgeries_do_not_verify(
        raw in proptest::collection::vec(any::<u8>(), 0..300),
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 1..3),
    ) {
        let _ = Evidence::from_json_slice(&raw);
        let set = cpc_consensus::ValidatorSet::new(vec![SecretKey::from_bytes(&[3; 32]).public_key()]);
        let good = sample_evidence();
        prop_assert!(Evidence::from_json_slice(&good).unwrap().verify(&set).is_ok());
        if let Ok(e) = Evidence::from_json_slice(&mutate(good.clone(), &edits, None)) {
            // A mutation that still parses either changed nothing that is signed (the same
            // evidence) or does not verify.
            if e.verify(&set).is_ok() {
                prop_assert_eq!(e.id(), Evidence::from_json_slice(&good).unwrap().id());
            }
        }
    }

    #[test]
    fn certified_blocks_split_without_panicking(raw in proptest::collection::vec(any::<u8>(), 0..600),
                                                edits in proptest::collection::vec((any::<usize>(), 1u8..), 0..3),
                                                cut in proptest::option::of(any::<usize>())) {
        let genesis = cpc_genesis::Genesis::dev().build().unwrap().0;
        let good = Block::encode_certified(&genesis.to_json_bytes(), &sample_certificate());
        for input in [raw, mutate(good, &edits, cut)] {
            if let Ok((_, cert)) = Block::decode_certified(&input) {
                // The certificate is exactly what follows the announced block length.
                let n = u32::from_be_bytes(input[..4].try_into().unwrap()) as usize;
                prop_assert_eq!(cert, &input[4 + n..]);
                prop_assert!(cert.len() <= cpc_primitives::block::MAX_CERTIFICATE_BYTES);
            }
        }
    }
}
