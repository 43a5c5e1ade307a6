//! Differential tests of the row-leaf backends against the `sha2` crate: every backend this
//! CPU has, at every padding shape of the leaf message (`1 + 4n` bytes: all residues modulo
//! 64 come up for n < 80), at the protocol's sizes, with group sizes that leave spare lanes,
//! and at the extreme values.

use cpc_poc::{LeafBackend, RowTree, row_leaves_with};
use cpc_primitives::{H256, sha256};

/// The leaf as PROTOCOL.md defines it, computed with `sha2` over bytes built here.
fn expected(row: &[i32]) -> H256 {
    let mut bytes = vec![0x00u8];
    for v in row {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    sha256(&bytes)
}

/// A deterministic pseudo-random matrix with the extremes mixed in.
fn values(len: usize, seed: u64) -> Vec<i32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match i % 97 {
                0 => i32::MIN,
                1 => i32::MAX,
                2 => 0,
                3 => -1,
                _ => x as i32,
            }
        })
        .collect()
}

fn available() -> Vec<LeafBackend> {
    LeafBackend::ALL.into_iter().filter(|b| b.available()).collect()
}

fn check(backend: LeafBackend, n: usize, rows: usize, seed: u64) {
    let c = values(rows * n, seed);
    let mut out = vec![H256::ZERO; rows];
    row_leaves_with(backend, &c, n, &mut out).expect("an available backend runs");
    for (r, leaf) in out.iter().enumerate() {
        assert_eq!(*leaf, expected(&c[r * n..][..n]), "{}: row {r} of {rows}, n = {n}", backend.name());
    }
}

#[test]
fn every_backend_matches_sha2_at_every_padding_shape() {
    for backend in available() {
        for n in 0..=80 {
            for rows in [1, 2, 3, 4, 5, 7, 8, 9] {
                check(backend, n, rows, (n * 31 + rows) as u64);
            }
        }
    }
}

#[test]
fn every_backend_matches_sha2_at_the_protocol_sizes() {
    for backend in available() {
        for n in [2usize, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048] {
            check(backend, n, n.min(37), n as u64);
        }
        // Rows that are not powers of two are hashed the same way.
        for n in [100usize, 255, 257, 1000, 1023, 1025] {
            check(backend, n, 6, n as u64);
        }
    }
}

#[test]
fn every_backend_gives_the_same_tree_as_the_reference_leaves() {
    let n = 256;
    let c = values(n * n, 7);
    let reference = RowTree::from_leaves(c.chunks_exact(n).map(expected).collect());
    assert_eq!(RowTree::from_product(&c, n), reference);
    assert_eq!(RowTree::from_product_parallel(&c, n), reference);
    for backend in available() {
        let mut leaves = vec![H256::ZERO; n];
        row_leaves_with(backend, &c, n, &mut leaves).unwrap();
        assert_eq!(RowTree::from_leaves(leaves).root(), reference.root(), "{}", backend.name());
    }
}

#[test]
fn a_single_changed_value_changes_only_its_rows_leaf() {
    let n = 64;
    let mut c = values(8 * n, 3);
    for backend in available() {
        let mut before = vec![H256::ZERO; 8];
        row_leaves_with(backend, &c, n, &mut before).unwrap();
        c[5 * n + 63] ^= 1;
        let mut after = vec![H256::ZERO; 8];
        row_leaves_with(backend, &c, n, &mut after).unwrap();
        c[5 * n + 63] ^= 1;
        for r in 0..8 {
            assert_eq!(before[r] == after[r], r != 5, "{}: row {r}", backend.name());
        }
    }
}

#[test]
fn the_multi_buffer_backends_run_where_the_cpu_has_sha_ni() {
    #[cfg(target_arch = "x86_64")]
    {
        let has = std::arch::is_x86_feature_detected!("sha") && std::arch::is_x86_feature_detected!("sse4.1");
        assert_eq!(LeafBackend::ShaNi4.available(), has);
        assert_eq!(LeafBackend::ShaNi2.available(), has);
        if has {
            assert_ne!(LeafBackend::best(), LeafBackend::Sha2, "SHA-NI present: a multi-buffer backend is chosen");
        }
    }
    let mut out = [H256::ZERO; 1];
    for b in LeafBackend::ALL {
        assert_eq!(row_leaves_with(b, &[1, 2], 2, &mut out).is_some(), b.available(), "{}", b.name());
    }
}

#[test]
#[should_panic(expected = "need 8 values, found 7")]
fn a_short_matrix_is_refused() {
    let mut out = [H256::ZERO; 2];
    row_leaves_with(LeafBackend::Sha2, &[0; 7], 4, &mut out);
}
