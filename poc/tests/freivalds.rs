//! Freivalds' check of market products (issue 17): an exact product passes, a product with a
//! single wrong entry anywhere is refused, and so is everything malformed. The products here
//! are computed by a plain triple loop in this file, not by the crate's kernels.

use cpc_poc::*;
use cpc_primitives::{sha256, H256};

/// Deterministic int8 matrices of any shape (SHA-256 counter mode: not the crate's ChaCha20).
fn matrix(tag: &str, len: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        let block = sha256(format!("{tag}/{i}").as_bytes());
        out.extend(block.0.iter().map(|&b| b as i8));
        i += 1;
    }
    out.truncate(len);
    out
}

fn product(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for l in 0..k {
            let x = a[i * k + l] as i32;
            for j in 0..n {
                c[i * n + j] += x * b[l * n + j] as i32;
            }
        }
    }
    c
}

fn seed_for(c: &[i32], n: usize) -> [u8; 32] {
    let mut leaves = vec![H256::ZERO; c.len() / n];
    row_leaves(c, n, &mut leaves);
    let root = sha256(&leaves.iter().flat_map(|l| l.0).collect::<Vec<u8>>());
    freivalds_seed("job:test", &root)
}

#[test]
fn an_exact_product_passes_at_every_shape() {
    for (m, k, n) in [(1, 1, 1), (3, 5, 7), (16, 64, 8), (64, 4096, 2), (128, 256, 1024), (1024, 16, 1)] {
        let a = matrix(&format!("a{m}{k}{n}"), m * k);
        let b = matrix(&format!("b{m}{k}{n}"), k * n);
        let c = product(&a, &b, m, k, n);
        assert_eq!(freivalds_check(&a, &b, &c, m, k, n, &seed_for(&c, n)), Ok(()), "{m}×{k}×{n}");
    }
}

#[test]
fn extreme_entries_pass_exactly() {
    // All −128: every entry of C is k·128² = 2²⁶ at k = 4096, the edge of the range check.
    let (m, k, n) = (4, 4096, 4);
    let a = vec![-128i8; m * k];
    let b = vec![-128i8; k * n];
    let c = product(&a, &b, m, k, n);
    assert!(c.iter().all(|&v| v == 1 << 26));
    assert_eq!(freivalds_check(&a, &b, &c, m, k, n, &[7; 32]), Ok(()));
    let b: Vec<i8> = (0..k * n).map(|i| if i % 2 == 0 { 127 } else { -128 }).collect();
    let c = product(&a, &b, m, k, n);
    assert_eq!(freivalds_check(&a, &b, &c, m, k, n, &[8; 32]), Ok(()));
}

#[test]
fn a_single_wrong_entry_anywhere_is_refused() {
    // Every entry of a small product, off by one and off by a large amount in turn.
    let (m, k, n) = (12, 40, 9);
    let a = matrix("sa", m * k);
    let b = matrix("sb", k * n);
    let good = product(&a, &b, m, k, n);
    for i in 0..m * n {
        // Deltas that keep the entry within reach (|c| ≤ 40·128² = 655 360): only Freivalds can tell.
        for delta in [1i32, -1, 12_345, -65_536] {
            let mut c = good.clone();
            c[i] += delta;
            let err = freivalds_check(&a, &b, &c, m, k, n, &seed_for(&c, n)).unwrap_err();
            assert!(matches!(err, FreivaldsError::Mismatch { row, .. } if row == i / n), "entry {i} {delta:+}: {err}");
        }
    }
}

#[test]
fn a_single_wrong_entry_in_a_market_sized_job_is_refused() {
    // The 512 × 1024 × 512 job: a wrong entry in the first, the last and scattered places.
    let (m, k, n) = (512, 1024, 512);
    let a = matrix("ma", m * k);
    let b = matrix("mb", k * n);
    let good = product(&a, &b, m, k, n);
    assert_eq!(freivalds_check(&a, &b, &good, m, k, n, &seed_for(&good, n)), Ok(()));
    for (t, i) in [0, m * n - 1, n - 1, (m - 1) * n, 12_345, 200_001].into_iter().enumerate() {
        let mut c = good.clone();
        c[i] = c[i].wrapping_add(if t % 2 == 0 { 1 } else { -3 });
        assert!(matches!(freivalds_check(&a, &b, &c, m, k, n, &seed_for(&c, n)), Err(FreivaldsError::Mismatch { .. })), "entry {i}");
    }
    // Rows swapped: every entry is a correct value in a wrong place.
    let mut c = good.clone();
    let (r0, r1) = c.split_at_mut(n);
    r0.swap_with_slice(&mut r1[..n]);
    assert!(freivalds_check(&a, &b, &c, m, k, n, &seed_for(&c, n)).is_err());
    // The product of other inputs (a worker that computed the wrong job).
    let other = product(&matrix("oa", m * k), &b, m, k, n);
    assert!(freivalds_check(&a, &b, &other, m, k, n, &seed_for(&other, n)).is_err());
}

#[test]
fn out_of_reach_entries_and_bad_shapes_are_refused_before_any_field_work() {
    let (m, k, n) = (2, 3, 2);
    let a = matrix("xa", m * k);
    let b = matrix("xb", k * n);
    let mut c = product(&a, &b, m, k, n);
    c[3] = 3 * 128 * 128 + 1;
    assert_eq!(
        freivalds_check(&a, &b, &c, m, k, n, &[0; 32]),
        Err(FreivaldsError::OutOfRange { row: 1, col: 1, value: 3 * 16384 + 1, k: 3, bound: 3 * 16384 })
    );
    c[3] = i32::MIN;
    assert!(matches!(freivalds_check(&a, &b, &c, m, k, n, &[0; 32]), Err(FreivaldsError::OutOfRange { .. })));
    let c = product(&a, &b, m, k, n);
    assert_eq!(freivalds_check(&a, &b, &c[..3], m, k, n, &[0; 32]), Err(FreivaldsError::Size { what: "C", expected: 4, found: 3 }));
    assert_eq!(freivalds_check(&a[..5], &b, &c, m, k, n, &[0; 32]), Err(FreivaldsError::Size { what: "A", expected: 6, found: 5 }));
    for (m, k, n) in [(0, 1, 1), (1, 0, 1), (1025, 1, 1), (1, 4097, 1), (1, 1, 1025)] {
        assert_eq!(freivalds_check(&[], &[], &[], m, k, n, &[0; 32]), Err(FreivaldsError::Dimensions { m, k, n }));
    }
    let e = FreivaldsError::OutOfRange { row: 1, col: 1, value: 9, k: 3, bound: 8 }.to_string();
    assert!(e.contains("C[1][1] = 9") && e.contains("|c| ≤ 8"), "{e}");
}

#[test]
fn the_vectors_depend_on_job_and_root_and_lie_in_the_field() {
    let root = H256([5; 32]);
    let s = freivalds_seed("job:1", &root);
    assert_eq!(s, freivalds_seed("job:1", &root), "deterministic");
    assert_ne!(s, freivalds_seed("job:2", &root));
    assert_ne!(s, freivalds_seed("job:1", &H256([6; 32])));
    // The domain and the separator are part of it: computed here from the documented bytes.
    let mut msg = b"CPC-FREIVALDS-V1:job:1".to_vec();
    msg.push(0);
    msg.extend_from_slice(&root.0);
    assert_eq!(s, sha256(&msg).0);
    let v = freivalds_vectors(&s, 1024, 2);
    assert_eq!((v.len(), v[0].len()), (2, 1024));
    assert!(v.iter().flatten().all(|&x| x < FREIVALDS_P));
    assert_ne!(v[0], v[1], "two independent rounds");
    // Roughly uniform: the top bit of 61 is set in about half of 2048 draws.
    let high = v.iter().flatten().filter(|&&x| x >> 60 == 1).count();
    assert!((900..1150).contains(&high), "{high}");
}

#[test]
fn the_limb_arithmetic_equals_plain_field_arithmetic() {
    // Extreme inputs (all -128 / 127, C at the range bound, r near p) and random ones: the
    // vectorised limb sums equal one 128-bit product per term, reduced mod p.
    let cases: Vec<(usize, usize, usize, Vec<i8>, Vec<i8>, Vec<i32>)> = vec![
        (3, 4096, 5, vec![-128; 3 * 4096], vec![-128; 4096 * 5], vec![1 << 26; 15]),
        (2, 4096, 7, vec![127; 2 * 4096], vec![-128; 4096 * 7], vec![-(1 << 26); 14]),
        (17, 33, 1024, matrix("la", 17 * 33), matrix("lb", 33 * 1024), (0..17 * 1024).map(|i| (i as i32 * 7919) % (1 << 26) - (1 << 25)).collect()),
    ];
    for (m, k, n, a, b, c) in cases {
        for r in [vec![FREIVALDS_P - 1; n], vec![(1 << 61) - 2; n], freivalds_vectors(&[3; 32], n, 1).remove(0)] {
            assert_eq!(freivalds_sides(&a, &b, &c, m, k, n, &r), freivalds_reference_sides(&a, &b, &c, m, k, n, &r), "{m}×{k}×{n}");
        }
    }
}

#[test]
fn the_general_product_is_the_plain_loop_at_odd_shapes() {
    for &(m, k, n) in &[(1, 1, 1), (3, 7, 5), (9, 33, 17), (17, 64, 1), (1, 4096, 3)] {
        let a: Vec<i8> = (0..m * k).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect();
        let b: Vec<i8> = (0..k * n).map(|i| ((i * 91 + 5) % 256) as u8 as i8).collect();
        let mut want = vec![0i32; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|t| a[i * k + t] as i32 * b[t * n + j] as i32).sum();
            }
        }
        assert_eq!(cpc_poc::matmul_general(&a, &b, m, k, n), want, "{m}x{k}x{n}");
    }
    // The extreme: every entry -128 at depth 4096 gives 2^26 everywhere.
    let (m, k, n) = (2, 4096, 3);
    let c = cpc_poc::matmul_general(&vec![-128i8; m * k], &vec![-128i8; k * n], m, k, n);
    assert!(c.iter().all(|&x| x == 1 << 26));
}
