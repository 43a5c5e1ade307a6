//! check_proof and verify_full: a correct result passes, each broken rule gives its own error.

use cpc_poc::*;
use cpc_primitives::{ComputeResult, H256, sha256};

const WORKER: &str = "cpc16ncl0w4za9dvrqpk49pgmwhwwye83qju0jk35a";
const OTHER_WORKER: &str = "cpc19jlumm3682mykjfs07kxpufl8edlpy3rsxe36a";
const P: SynthParams = SynthParams { n: 64, k: 8 };

fn tip() -> H256 {
    sha256(b"tip block")
}

fn good() -> ComputeResult {
    solve(&tip(), WORKER, 42, &P)
}

fn both(r: &ComputeResult) -> (Result<(), PocError>, Result<(), PocError>) {
    let quick = check_proof(r, &tip(), &P);
    let full = verify_full(r, &tip(), &P);
    assert_eq!(
        verify_full_parallel(r, &tip(), &P),
        full,
        "parallel and serial full checks agree"
    );
    (quick, full)
}

#[test]
fn correct_result_is_accepted() {
    let r = good();
    assert_eq!(r.signature, None);
    assert_eq!(r.nonce, Some(42));
    assert_eq!(r.worker_address, WORKER);
    assert_eq!(both(&r), (Ok(()), Ok(())));
}

#[test]
fn correct_results_accepted_at_several_sizes() {
    for (n, k) in [
        (2, 1),
        (4, 3),
        (8, 8),
        (16, 5),
        (32, 64),
        (128, 8),
        (1024, 8),
    ] {
        let p = SynthParams { n, k };
        let r = solve(&tip(), WORKER, n as u64, &p);
        assert_eq!(r.proof.as_ref().unwrap().len(), k * p.log2n() * 64);
        assert_eq!(
            check_proof(&r, &tip(), &p),
            Ok(()),
            "check_proof n = {n} k = {k}"
        );
        assert_eq!(
            verify_full(&r, &tip(), &p),
            Ok(()),
            "verify_full n = {n} k = {k}"
        );
        assert_eq!(
            verify_full_parallel(&r, &tip(), &p),
            Ok(()),
            "verify_full_parallel n = {n}"
        );
    }
}

#[test]
fn garbage_result_hash() {
    let mut r = good();
    let garbage = sha256(b"not the root");
    r.result_hash = garbage.to_hex();
    let first_row = challenged_rows(&garbage, P.n, P.k)[0];
    let (quick, full) = both(&r);
    assert_eq!(
        quick,
        Err(PocError::ProofMismatch {
            challenge: 0,
            row: first_row
        })
    );
    assert_eq!(
        full,
        Err(PocError::ResultHashMismatch {
            expected: good().result_hash,
            found: garbage.to_hex()
        })
    );
}

#[test]
fn malformed_result_hash() {
    for bad in [
        "",
        "00",
        "0x00",
        &"A".repeat(64),
        &"g".repeat(64),
        &"0".repeat(66),
    ] {
        let mut r = good();
        r.result_hash = bad.to_string();
        let (quick, full) = both(&r);
        assert!(
            matches!(quick, Err(PocError::ResultHashFormat(_))),
            "{bad:?}: {quick:?}"
        );
        assert!(
            matches!(full, Err(PocError::ResultHashFormat(_))),
            "{bad:?}: {full:?}"
        );
    }
}

#[test]
fn tampered_proof_byte() {
    let good = good();
    let depth = P.log2n();
    let rows = challenged_rows(&H256::from_hex(&good.result_hash).unwrap(), P.n, P.k);
    // One byte changed in challenge 3's path (the second sibling hash of that path).
    let j = 3;
    let byte = (j * depth + 1) * 32 + 5;
    let mut proof = hex::decode(good.proof.as_ref().unwrap()).unwrap();
    proof[byte] ^= 0x01;
    let mut r = good.clone();
    r.proof = Some(hex::encode(&proof));
    let (quick, full) = both(&r);
    // Earlier challenges keep their own, untouched copy of their path: 3 fails first.
    assert_eq!(
        quick,
        Err(PocError::ProofMismatch {
            challenge: j,
            row: rows[j]
        })
    );
    assert_eq!(full, Err(PocError::ProofNotCanonical));
}

#[test]
fn every_proof_byte_matters() {
    // Flipping any single byte makes check_proof fail with the challenge that owns it.
    let good = good();
    let depth = P.log2n();
    let rows = challenged_rows(&H256::from_hex(&good.result_hash).unwrap(), P.n, P.k);
    let proof = hex::decode(good.proof.as_ref().unwrap()).unwrap();
    for byte in (0..proof.len()).step_by(7) {
        let mut p = proof.clone();
        p[byte] ^= 0x80;
        let mut r = good.clone();
        r.proof = Some(hex::encode(&p));
        let j = byte / (depth * 32);
        assert_eq!(
            check_proof(&r, &tip(), &P),
            Err(PocError::ProofMismatch {
                challenge: j,
                row: rows[j]
            }),
            "byte {byte}"
        );
    }
}

#[test]
fn wrong_length_proof() {
    let expected = P.k * P.log2n() * 64;
    for delta in [-64i64, -2, 2, 64] {
        let mut r = good();
        let mut proof = r.proof.take().unwrap();
        if delta < 0 {
            proof.truncate((expected as i64 + delta) as usize);
        } else {
            proof.push_str(&"0".repeat(delta as usize));
        }
        let found = proof.len();
        r.proof = Some(proof);
        let want = Err(PocError::ProofLength { expected, found });
        assert_eq!(both(&r), (want.clone(), want));
    }
    let mut r = good();
    r.proof = Some(String::new());
    assert!(matches!(
        both(&r).0,
        Err(PocError::ProofLength { found: 0, .. })
    ));
}

#[test]
fn non_hex_proof() {
    for bad in ['g', 'A', 'F', ' ', 'é'] {
        let mut r = good();
        let mut proof = r.proof.take().unwrap();
        // Same length in bytes: replace the last bytes by the character.
        let width = bad.len_utf8();
        proof.truncate(proof.len() - width);
        proof.push(bad);
        r.proof = Some(proof);
        let (quick, full) = both(&r);
        assert!(
            matches!(quick, Err(PocError::ProofFormat(_))),
            "{bad:?}: {quick:?}"
        );
        assert!(
            matches!(full, Err(PocError::ProofFormat(_))),
            "{bad:?}: {full:?}"
        );
    }
}

#[test]
fn proof_missing() {
    let mut r = good();
    r.proof = None;
    assert_eq!(
        both(&r),
        (Err(PocError::ProofMissing), Err(PocError::ProofMissing))
    );
}

#[test]
fn nonce_missing() {
    let mut r = good();
    r.nonce = None;
    assert_eq!(
        both(&r),
        (Err(PocError::NonceMissing), Err(PocError::NonceMissing))
    );
}

#[test]
fn other_nonce() {
    let mut r = good();
    r.nonce = Some(43);
    let want = Err(PocError::TaskIdMismatch {
        expected: task_id(&tip(), WORKER, 43),
        found: r.task_id.clone(),
    });
    assert_eq!(both(&r), (want.clone(), want));
}

#[test]
fn task_for_another_tip() {
    let other_tip = sha256(b"another tip");
    let r = solve(&other_tip, WORKER, 42, &P);
    let want = Err(PocError::TaskIdMismatch {
        expected: task_id(&tip(), WORKER, 42),
        found: r.task_id.clone(),
    });
    assert_eq!(both(&r), (want.clone(), want));
    // It is valid for its own tip.
    assert_eq!(check_proof(&r, &other_tip, &P), Ok(()));
}

#[test]
fn someone_elses_task() {
    // A result solved for OTHER_WORKER, resubmitted under WORKER's address.
    let mut r = solve(&tip(), OTHER_WORKER, 42, &P);
    r.worker_address = WORKER.to_string();
    let want = Err(PocError::TaskIdMismatch {
        expected: task_id(&tip(), WORKER, 42),
        found: r.task_id.clone(),
    });
    assert_eq!(both(&r), (want.clone(), want));
}

#[test]
fn non_synthetic_task_id() {
    for id in ["job-17", "3deae21d-32c7-4d6c-b0c9-89838cf8e50e", ""] {
        let mut r = good();
        r.task_id = id.to_string();
        let want = Err(PocError::NotSynthetic(id.to_string()));
        assert_eq!(both(&r), (want.clone(), want));
    }
}

#[test]
fn bad_params_are_rejected() {
    let r = good();
    for (n, k) in [
        (0, 8),
        (1, 8),
        (3, 8),
        (48, 8),
        (16384, 8),
        (64, 0),
        (64, 65),
    ] {
        let p = SynthParams { n, k };
        assert!(
            matches!(p.validate(), Err(PocError::BadParams { .. })),
            "n = {n} k = {k}"
        );
        assert!(matches!(
            check_proof(&r, &tip(), &p),
            Err(PocError::BadParams { .. })
        ));
        assert!(matches!(
            verify_full(&r, &tip(), &p),
            Err(PocError::BadParams { .. })
        ));
    }
    for (n, k) in [(2, 1), (1024, 8), (8192, 64)] {
        assert_eq!(SynthParams { n, k }.validate(), Ok(()));
    }
    assert_eq!(
        SynthParams::default(),
        SynthParams {
            n: DEFAULT_N,
            k: DEFAULT_K
        }
    );
    assert_eq!((DEFAULT_N, DEFAULT_K, DEFAULT_WINDOW), (1024, 8, 16));
    assert_eq!(SynthParams { n: 1024, k: 8 }.log2n(), 10);
    assert_eq!(SynthParams { n: 2, k: 8 }.log2n(), 1);
}

#[test]
fn find_tip_picks_the_matching_candidate() {
    let tips: Vec<H256> = (0..16u8).map(|i| sha256(&[i])).collect();
    let id = task_id(&tips[11], WORKER, 5);
    assert_eq!(find_tip(&id, WORKER, 5, &tips), Some(tips[11]));
    // Not in the window, another worker, another nonce: no tip.
    assert_eq!(find_tip(&id, WORKER, 5, &tips[..11]), None);
    assert_eq!(find_tip(&id, OTHER_WORKER, 5, &tips), None);
    assert_eq!(find_tip(&id, WORKER, 6, &tips), None);
    assert_eq!(find_tip(&id, WORKER, 5, &[]), None);
    assert_eq!(find_tip("not-a-task", WORKER, 5, &tips), None);
}

#[test]
fn synthetic_task_id_form() {
    for nonce in 0..64 {
        assert!(is_synthetic_task_id(&task_id(&tip(), WORKER, nonce)));
    }
    let id = task_id(&tip(), WORKER, 0);
    assert!(!is_synthetic_task_id(&id.to_uppercase()), "uppercase");
    let with = |pos: usize, c: char| {
        let mut s: Vec<char> = id.chars().collect();
        s[pos] = c;
        s.into_iter().collect::<String>()
    };
    // Version nibble (position 14) must be 8.
    for v in ['0', '4', '7', '9', 'f'] {
        assert!(!is_synthetic_task_id(&with(14, v)), "version {v}");
    }
    // Variant bits (position 19) must be 10: 8, 9, a or b.
    for v in ['8', '9', 'a', 'b'] {
        assert!(is_synthetic_task_id(&with(19, v)), "variant {v}");
    }
    for v in ['0', '7', 'c', 'f'] {
        assert!(!is_synthetic_task_id(&with(19, v)), "variant {v}");
    }
    // Shape: length, hyphen positions, hex digits.
    assert!(!is_synthetic_task_id(&id[..35]));
    assert!(!is_synthetic_task_id(&format!("{id}0")));
    assert!(!is_synthetic_task_id(&id.replace('-', "")));
    assert!(!is_synthetic_task_id(&with(8, '0')));
    assert!(!is_synthetic_task_id(&with(0, '-')));
    assert!(!is_synthetic_task_id(&with(0, 'g')));
    assert!(!is_synthetic_task_id(&format!("{{{}}}", &id)));
    assert!(!is_synthetic_task_id(""));
}

#[test]
fn task_id_sets_version_and_variant_bits() {
    // seed bytes 6 and 8 all ones / all zeros: only the masked bits change.
    let mut s = [0xffu8; 32];
    assert_eq!(
        task_id_from_seed(&s),
        "ffffffff-ffff-8fff-bfff-ffffffffffff"
    );
    s = [0u8; 32];
    assert_eq!(
        task_id_from_seed(&s),
        "00000000-0000-8000-8000-000000000000"
    );
}

#[test]
fn tree_paths_reach_the_root() {
    let leaves: Vec<H256> = (0..16u8).map(|i| sha256(&[i])).collect();
    let tree = RowTree::from_leaves(leaves.clone());
    assert_eq!(tree.leaf_count(), 16);
    for (i, leaf) in leaves.iter().enumerate() {
        let path = tree.path(i);
        assert_eq!(path.len(), 4);
        assert_eq!(root_from_path(*leaf, i, &path), tree.root());
        assert_ne!(root_from_path(*leaf, i ^ 1, &path), tree.root());
    }
    // Inner nodes are H(0x01 ‖ left ‖ right); a single leaf is its own root.
    let two = RowTree::from_leaves(leaves[..2].to_vec());
    let mut pre = vec![1u8];
    pre.extend_from_slice(&leaves[0].0);
    pre.extend_from_slice(&leaves[1].0);
    assert_eq!(two.root(), sha256(&pre));
    assert_eq!(RowTree::from_leaves(vec![leaves[3]]).root(), leaves[3]);
}

#[test]
fn row_leaf_is_prefixed_little_endian() {
    let row = [1i32, -1, 0x0102_0304];
    let mut bytes = vec![0u8];
    for v in row {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(row_leaf(&row), sha256(&bytes));
    // Longer than the internal buffer.
    let long: Vec<i32> = (0..1000).map(|i| i * 7919 - 3_000_000).collect();
    let mut bytes = vec![0u8];
    for v in &long {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(row_leaf(&long), sha256(&bytes));
}

#[test]
#[should_panic(expected = "power of two")]
fn tree_needs_a_power_of_two() {
    RowTree::from_leaves(vec![H256::ZERO; 3]);
}

#[test]
fn errors_say_what_was_expected_and_found() {
    let e = PocError::TaskIdMismatch {
        expected: "a".into(),
        found: "b".into(),
    };
    assert!(e.to_string().contains("give a") && e.to_string().contains("found b"));
    let e = PocError::ProofLength {
        expected: 10,
        found: 3,
    };
    assert!(e.to_string().contains("expected 10") && e.to_string().contains("found 3"));
}

#[test]
fn checks_nested_in_a_rayon_pool() {
    // Verifications running inside rayon tasks (as a node would run them) share the pool and
    // the per-thread buffers: every result still checks out, and a wrong one still fails.
    use rayon::prelude::*;
    let p = SynthParams { n: 256, k: 8 };
    let results: Vec<ComputeResult> = (0..6).map(|i| solve(&tip(), WORKER, i, &p)).collect();
    let outcomes: Vec<_> = results
        .par_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            if i == 3 {
                r.result_hash = sha256(b"wrong").to_hex();
            }
            (
                check_proof(&r, &tip(), &p).is_ok(),
                verify_full_parallel(&r, &tip(), &p).is_ok(),
            )
        })
        .collect();
    for (i, o) in outcomes.into_iter().enumerate() {
        assert_eq!(
            o,
            if i == 3 { (false, false) } else { (true, true) },
            "result {i}"
        );
    }
}

#[test]
fn solve_matches_the_product_route() {
    // The block pipeline of solve (never holding C) gives what hashing the full product gives.
    for (n, k) in [(16usize, 4usize), (256, 8), (1024, 8)] {
        let p = SynthParams { n, k };
        let s = seed(&tip(), WORKER, 9);
        let (a, b) = generate_matrices(&s, n);
        let c = matmul_portable(&a, &b, n);
        assert_eq!(
            solve(&tip(), WORKER, 9, &p),
            result_from_product(&tip(), WORKER, 9, &c, &p),
            "n = {n}"
        );
    }
}

#[test]
fn structural_checks_come_before_any_heavy_work() {
    // At n = 8192 a full recomputation takes seconds and even the proof check generates
    // 64 MiB of keystream: every structural defect must be reported without that work.
    let p = SynthParams { n: 8192, k: 8 };
    let proof_len = p.k * p.log2n() * 64;
    let well_formed = ComputeResult {
        task_id: task_id(&tip(), WORKER, 1),
        worker_address: WORKER.to_string(),
        result_hash: "ab".repeat(32),
        proof: Some("0".repeat(proof_len)),
        nonce: Some(1),
        signature: None,
    };
    let defects: Vec<(ComputeResult, PocError)> = vec![
        (
            ComputeResult {
                task_id: "job".into(),
                ..well_formed.clone()
            },
            PocError::NotSynthetic("job".into()),
        ),
        (
            ComputeResult {
                nonce: None,
                ..well_formed.clone()
            },
            PocError::NonceMissing,
        ),
        (
            ComputeResult {
                proof: None,
                ..well_formed.clone()
            },
            PocError::ProofMissing,
        ),
        (
            ComputeResult {
                proof: Some("0".repeat(proof_len + 2)),
                ..well_formed.clone()
            },
            PocError::ProofLength {
                expected: proof_len,
                found: proof_len + 2,
            },
        ),
        (
            ComputeResult {
                nonce: Some(2),
                ..well_formed.clone()
            },
            PocError::TaskIdMismatch {
                expected: task_id(&tip(), WORKER, 2),
                found: well_formed.task_id.clone(),
            },
        ),
    ];
    for (r, want) in defects {
        let t = std::time::Instant::now();
        assert_eq!(check_proof(&r, &tip(), &p), Err(want.clone()));
        assert_eq!(verify_full(&r, &tip(), &p), Err(want.clone()));
        assert_eq!(verify_full_parallel(&r, &tip(), &p), Err(want));
        assert!(
            t.elapsed() < std::time::Duration::from_millis(500),
            "took {:?}",
            t.elapsed()
        );
    }
    let bad_hash = ComputeResult {
        result_hash: "AB".repeat(32),
        ..well_formed.clone()
    };
    assert!(matches!(
        verify_full(&bad_hash, &tip(), &p),
        Err(PocError::ResultHashFormat(_))
    ));
    let bad_proof = ComputeResult {
        proof: Some("x".repeat(proof_len)),
        ..well_formed
    };
    assert!(matches!(
        verify_full(&bad_proof, &tip(), &p),
        Err(PocError::ProofFormat(_))
    ));
}
