//! The consensus data a block carries beside its header (docs/PROTOCOL-NOTES.md, Consensus
//! data): the parent's certificate (liveness) and evidence (slashing). One test per rule, and
//! the attacks of a lying peer or proposer: a forged or foreign certificate, stripped data,
//! forged, stale, future or repeated evidence.
mod common;
use common::Chain;
use cpc_consensus::evidence::{vote_signing_bytes, SignedChoice, VoteKind};
use cpc_consensus::*;
use cpc_primitives::*;
use cpc_state::stake::{StakeKey, StakeRecord};
use cpc_state::StateView;

fn cert_of(c: &Chain, k: &SecretKey, height: u64) -> Vec<u8> {
    Certificate::sign_alone(k, height, 0, c.hashes[height as usize]).encode()
}

fn double_vote(k: &SecretKey, height: u64) -> Evidence {
    let a = ValconsAddress::from_public_key(&k.public_key());
    let vote = |b: u8| SignedChoice {
        block: Some(H256([b; 32])),
        signature: k.sign(&vote_signing_bytes(VoteKind::Prevote, height, 0, Some(&H256([b; 32])), &a)),
    };
    Evidence::DoubleVote { validator: a, height, round: 0, kind: VoteKind::Prevote, first: vote(1), second: vote(2) }.canonical()
}

fn dev_validator(c: &Chain) -> cpc_state::stake::ValidatorRecord {
    match c.state.stake_record(&StakeKey::Validator(c.addr(0))).unwrap() {
        Some(StakeRecord::Validator(v)) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_parent_certificate_counts_liveness_and_must_verify() {
    let mut c = Chain::new();
    // At height 1 there is no parent certificate to carry (genesis has none).
    let mut b = c.build(&[]).block;
    b.consensus.last_commit = Some(cert_of(&c, &c.keys[0].clone(), 0));
    assert_eq!(c.import(&b).unwrap_err(), BlockError::LastCommitOfGenesis);
    c.advance(&[]);
    c.advance(&[]);
    assert_eq!(dev_validator(&c).liveness.counted, 0, "blocks without a certificate count nobody");
    // Height 3 carries block 2's certificate: dev-0 signed.
    c.consensus.last_commit = Some(cert_of(&c, &c.keys[0].clone(), 2));
    let good = c.build(&[]).block;
    let out = c.import(&good).expect("a block with its parent's certificate");
    // A lying peer strips the certificate: the state root no longer matches.
    let mut stripped = good.clone();
    stripped.consensus.last_commit = None;
    assert!(matches!(c.import(&stripped), Err(BlockError::StateRoot { .. })), "stripped data changes the state");
    // A certificate by someone outside the parent's set, or of another block, is refused.
    let mut foreign = good.clone();
    foreign.consensus.last_commit = Some(cert_of(&c, &c.keys[1].clone(), 2));
    assert!(matches!(c.import(&foreign), Err(BlockError::LastCommit(CertificateError::UnknownValidator(_)))));
    let mut other = good.clone();
    other.consensus.last_commit = Some(Certificate::sign_alone(&c.keys[0], 2, 0, H256([9; 32])).encode());
    assert!(matches!(c.import(&other), Err(BlockError::LastCommit(CertificateError::Block { .. }))));
    let mut garbage = good.clone();
    garbage.consensus.last_commit = Some(vec![1, 2, 3]);
    assert!(matches!(c.import(&garbage), Err(BlockError::LastCommit(CertificateError::Malformed(_)))));
    c.commit(&good, &out);
    let v = dev_validator(&c);
    assert_eq!((v.liveness.counted, v.liveness.missed), (1, 0), "one block counted, signed");
}

#[test]
fn evidence_rules() {
    let mut c = Chain::new();
    c.advance(&[]);
    c.advance(&[]);
    let k0 = c.keys[0].clone();
    // Forged: the signature is not dev-0's.
    let mut forged = double_vote(&k0, 1);
    if let Evidence::DoubleVote { second, .. } = &mut forged {
        second.signature = Signature([7; 64]);
    }
    c.consensus.evidence = vec![forged.to_json_bytes()];
    let b = c.build_block_unchecked();
    assert!(matches!(c.import(&b), Err(BlockError::Evidence { index: 0, .. })), "forged evidence");
    // An outsider proves nothing about the set.
    c.consensus.evidence = vec![double_vote(&c.keys[3].clone(), 1).to_json_bytes()];
    let b = c.build_block_unchecked();
    assert!(matches!(c.import(&b), Err(BlockError::Evidence { .. })), "evidence against a non-member");
    // From the block's own height or later.
    c.consensus.evidence = vec![double_vote(&k0, 3).to_json_bytes()];
    let b = c.build_block_unchecked();
    assert_eq!(c.import(&b).unwrap_err(), BlockError::EvidenceFromTheFuture { index: 0, height: 3, block: 3 });
    // Twice against the same validator in one block.
    let e = double_vote(&k0, 1).to_json_bytes();
    c.consensus.evidence = vec![e.clone(), double_vote(&k0, 2).to_json_bytes()];
    let b = c.build_block_unchecked();
    assert!(matches!(c.import(&b), Err(BlockError::DuplicateEvidence { index: 1, .. })));
    // More than the cap.
    c.consensus.evidence = vec![e.clone(); cpc_consensus::block::MAX_EVIDENCE_PER_BLOCK + 1];
    let b = c.build_block_unchecked();
    assert!(matches!(c.import(&b), Err(BlockError::TooMuchEvidence { .. })));
    // Genuine: applied, and the equivocator is tombstoned.
    c.consensus.evidence = vec![e];
    let b = c.advance(&[]);
    assert_eq!(b.consensus.evidence.len(), 1);
    let v = dev_validator(&c);
    assert!(v.tombstoned && v.jailed);
    assert!(c.state.supply.burned > 0);
}

#[test]
fn evidence_older_than_the_max_age_is_refused() {
    let mut c = Chain::with(|g| {
        g.staking.unbonding_period = 2;
        g.staking.evidence_max_age = 3;
    });
    for _ in 0..5 {
        c.advance(&[]);
    }
    c.consensus.evidence = vec![double_vote(&c.keys[0].clone(), 2).to_json_bytes()];
    let b = c.build_block_unchecked();
    assert_eq!(c.import(&b).unwrap_err(), BlockError::EvidenceTooOld { index: 0, height: 2, max_age: 3, block: 6 });
}

#[test]
fn the_builder_budgets_for_the_consensus_data_it_carries() {
    // The builder fills a block up to MAX_BLOCK_BYTES less its estimate of the consensus data:
    // the estimate must never fall short of what the data adds to the block's JSON.
    let c = Chain::new();
    let plain = c.build(&[]).block;
    let base = plain.to_json_bytes().len();
    let cases = [
        ConsensusData::default(),
        ConsensusData { last_commit: Some(vec![0xab; 1 << 20]), evidence: vec![] },
        ConsensusData { last_commit: None, evidence: vec![vec![7; 4 << 10]; 16] },
        ConsensusData { last_commit: Some(vec![1; 300]), evidence: vec![vec![0; 1]; 3] },
    ];
    for data in cases {
        let mut b = plain.clone();
        b.consensus = data.clone();
        let added = b.to_json_bytes().len() - base;
        let estimate = builder::consensus_data_bytes(&data);
        assert!(estimate >= added, "estimate {estimate} < {added} bytes added");
        assert!(estimate <= added + 128, "estimate {estimate} far above {added}: it would waste room for transactions");
    }
}
