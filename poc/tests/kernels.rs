//! Every kernel is bit-identical to the plain reference loops.

use cpc_poc::*;

/// Deterministic pseudo-random int8 matrix (xorshift64*).
fn random(n: usize, mut state: u64) -> Vec<i8> {
    (0..n * n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8 as i8
        })
        .collect()
}

/// Only the extreme values -128 and 127, in a pseudo-random pattern.
fn extremes(n: usize, state: u64) -> Vec<i8> {
    random(n, state)
        .into_iter()
        .map(|x| if x < 0 { -128 } else { 127 })
        .collect()
}

/// The four products of constant matrices at the int8 extremes: every entry of C is
/// `x[0]·y[0]·n`, the largest (-128·-128) and most negative (-128·127) sums there are.
fn constant_pairs(n: usize) -> [(Vec<i8>, Vec<i8>, &'static str); 4] {
    let (min, max) = (vec![-128i8; n * n], vec![127i8; n * n]);
    [
        (min.clone(), min.clone(), "-128·-128"),
        (min.clone(), max.clone(), "-128·127"),
        (max.clone(), min, "127·-128"),
        (max.clone(), max, "127·127"),
    ]
}

fn check_all_kernels(a: &[i8], b: &[i8], n: usize, what: &str) {
    let want = matmul_reference(a, b, n);
    assert_eq!(
        matmul(a, b, n),
        want,
        "matmul ({}), {what}, n = {n}",
        kernel_name()
    );
    assert_eq!(
        matmul_parallel(a, b, n),
        want,
        "matmul_parallel, {what}, n = {n}"
    );
    assert_eq!(
        matmul_portable(a, b, n),
        want,
        "matmul_portable, {what}, n = {n}"
    );
    for kernel in Kernel::available_kernels() {
        assert_eq!(
            matmul_with(kernel, a, b, n).as_ref(),
            Some(&want),
            "matmul_with({}), {what}, n = {n}",
            kernel.name()
        );
    }
}

const SIZES: [usize; 8] = [2, 4, 8, 16, 32, 64, 128, 256];

#[test]
fn random_matrices() {
    for (i, &n) in SIZES.iter().enumerate() {
        let a = random(n, 0x9e37_79b9_7f4a_7c15 + i as u64);
        let b = random(n, 0xdead_beef_cafe_f00d + i as u64);
        check_all_kernels(&a, &b, n, "random");
    }
}

#[test]
fn extreme_values() {
    for &n in &SIZES {
        let min = vec![-128i8; n * n];
        let max = vec![127i8; n * n];
        // Largest positive entries: (-128)·(-128)·n.
        check_all_kernels(&min, &min, n, "all -128");
        assert_eq!(matmul(&min, &min, n)[0], 16384 * n as i32);
        // Most negative entries: (-128)·127·n.
        check_all_kernels(&min, &max, n, "-128 × 127");
        assert_eq!(matmul(&min, &max, n)[n * n - 1], -16256 * n as i32);
        check_all_kernels(&max, &max, n, "all 127");
        check_all_kernels(&extremes(n, 1), &extremes(n, 2), n, "mixed extremes");
    }
}

#[test]
fn n1024_random_and_extremes() {
    let n = 1024;
    check_all_kernels(&random(n, 7), &random(n, 8), n, "random");
    let min = vec![-128i8; n * n];
    let c = matmul(&min, &min, n);
    assert!(
        c.iter().all(|&x| x == 16384 * 1024),
        "all -128 at n = 1024: every entry 2^24"
    );
    check_all_kernels(&extremes(n, 3), &extremes(n, 4), n, "mixed extremes");
}

#[test]
fn row_subsets_match_the_full_product() {
    // m rows of A times B, for m not a multiple of the micro-tile height.
    for &n in &[2usize, 16, 64, 256] {
        let a = random(n, 11);
        let b = random(n, 12);
        let full = matmul_reference(&a, &b, n);
        for m in 1..=9.min(n) {
            let rows = matmul_rows(&a[..m * n], m, &b, n);
            assert_eq!(rows, full[..m * n], "matmul_rows m = {m}, n = {n}");
        }
    }
}

/// The few-rows path (B read unpacked, what the proof check uses) on every kernel this CPU
/// has: row counts on both sides of the hand-over to the packed path and of the 4- and 8-row
/// groups, sizes on and off the 16- and 32-column tiles, and the extreme values.
#[test]
fn few_rows_unpacked_on_every_kernel() {
    for &n in &[2usize, 16, 32, 48, 64, 96, 256] {
        let (a, b) = (random(n, 21 * n as u64), random(n, 23 * n as u64));
        let want = matmul_reference(&a, &b, n);
        for m in [1usize, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24]
            .into_iter()
            .filter(|&m| m <= n)
        {
            let rows = &a[..m * n];
            assert_eq!(
                matmul_rows(rows, m, &b, n),
                want[..m * n],
                "matmul_rows m = {m}, n = {n}"
            );
            for kernel in Kernel::available_kernels() {
                assert_eq!(
                    matmul_rows_with(kernel, rows, m, &b, n).as_deref(),
                    Some(&want[..m * n]),
                    "matmul_rows_with({}) m = {m}, n = {n}",
                    kernel.name()
                );
            }
        }
        for (x, y, what) in constant_pairs(n) {
            let m = 8.min(n);
            let term = x[0] as i32 * y[0] as i32;
            for kernel in Kernel::available_kernels() {
                let c = matmul_rows_with(kernel, &x[..m * n], m, &y, n).unwrap();
                assert!(
                    c.iter().all(|&v| v == term * n as i32),
                    "{what}, {}, n = {n}",
                    kernel.name()
                );
            }
        }
    }
    // The default task size, with the pair sign of each entry mixed.
    let n = 1024;
    let (a, b) = (extremes(n, 31), extremes(n, 37));
    let want = reference_rows(&a, 8, &b, n);
    for kernel in Kernel::available_kernels() {
        assert_eq!(
            matmul_rows_with(kernel, &a[..8 * n], 8, &b, n).as_ref(),
            Some(&want),
            "{}, n = 1024",
            kernel.name()
        );
    }
}

fn reference_rows(a: &[i8], m: usize, b: &[i8], n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for k in 0..n {
            let aik = i32::from(a[i * n + k]);
            for j in 0..n {
                c[i * n + j] += aik * i32::from(b[k * n + j]);
            }
        }
    }
    c
}

#[test]
fn large_n_splits_k_into_blocks() {
    // n = 2048 and 4096: the AVX2 kernel runs several k-blocks and adds them into C.
    for &n in &[2048usize, 4096] {
        let b = random(n, 21);
        let a = random(n, 22);
        for m in [1usize, 5, 8] {
            let rows = &a[..m * n];
            assert_eq!(
                matmul_rows(rows, m, &b, n),
                reference_rows(rows, m, &b, n),
                "m = {m}, n = {n}"
            );
        }
        // Extremes: the largest sums these sizes allow.
        let min = vec![-128i8; n * n];
        let c = matmul_rows(&min[..2 * n], 2, &min, n);
        assert!(
            c.iter().all(|&x| x == 16384 * n as i32),
            "all -128 at n = {n}"
        );
    }
    // And one full product with several k-blocks against the portable kernel.
    let n = 2048;
    let (a, b) = (random(n, 23), extremes(n, 24));
    assert_eq!(matmul(&a, &b, n), matmul_portable(&a, &b, n));
    assert_eq!(matmul_parallel(&a, &b, n), matmul_portable(&a, &b, n));
}

#[test]
fn matmul_into_overwrites_the_buffer() {
    let n = 64;
    let (a, b) = (random(n, 31), random(n, 32));
    let mut c = vec![i32::MIN; n * n];
    matmul_into(&a, &b, n, &mut c);
    assert_eq!(c, matmul_reference(&a, &b, n));
    // Again into the same (now dirty) buffer, with other inputs.
    let (a2, b2) = (extremes(n, 33), random(n, 34));
    matmul_into(&a2, &b2, n, &mut c);
    assert_eq!(c, matmul_reference(&a2, &b2, n));
}

#[test]
fn cached_buffers_do_not_leak_between_sizes() {
    // Products of different sizes in turn on the same threads reuse the per-thread buffers,
    // which then hold data of another product: results must not depend on it.
    let mut sizes = vec![1024usize, 64, 256, 16, 1024, 32, 128];
    sizes.extend([48usize, 80, 2, 512]);
    for (i, &n) in sizes.iter().enumerate() {
        let a = if i % 2 == 0 {
            extremes(n, i as u64)
        } else {
            random(n, i as u64)
        };
        let b = random(n, 100 + i as u64);
        let want = matmul_portable(&a, &b, n);
        assert_eq!(matmul(&a, &b, n), want, "n = {n}");
        assert_eq!(matmul_parallel(&a, &b, n), want, "n = {n}");
        assert_eq!(matmul_rows(&a[..n], 1, &b, n), want[..n], "n = {n}");
    }
}

#[test]
fn non_power_of_two_sizes() {
    // The kernels themselves accept any n (the protocol only uses powers of two).
    for &n in &[3usize, 17, 48, 80, 100] {
        let (a, b) = (random(n, n as u64), random(n, 7 * n as u64));
        check_all_kernels(&a, &b, n, "odd size");
    }
}

#[test]
fn kernel_name_is_the_fastest_available() {
    let available = Kernel::available_kernels();
    println!(
        "kernels on this CPU: {:?}",
        available.iter().map(|k| k.name()).collect::<Vec<_>>()
    );
    assert_eq!(available.first(), Some(&Kernel::Portable));
    assert_eq!(Kernel::best(), *available.last().unwrap());
    assert_eq!(kernel_name(), Kernel::best().name());
    #[cfg(target_arch = "x86_64")]
    {
        let has = |f: bool, k: Kernel| assert_eq!(f, available.contains(&k), "{}", k.name());
        has(std::arch::is_x86_feature_detected!("avx2"), Kernel::Avx2);
        has(
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni"),
            Kernel::Avx512Vnni,
        );
    }
}

#[test]
fn a_kernel_this_cpu_lacks_is_refused_not_faked() {
    let (a, b) = (random(32, 1), random(32, 2));
    for kernel in Kernel::ALL {
        assert_eq!(
            matmul_with(kernel, &a, &b, 32).is_some(),
            kernel.available(),
            "{}",
            kernel.name()
        );
        assert_eq!(
            matmul_rows_with(kernel, &a[..4 * 32], 4, &b, 32).is_some(),
            kernel.available(),
            "rows, {}",
            kernel.name()
        );
    }
}

/// The AVX-512 VNNI kernel's own edges: the +128 offset of A at the extremes (A = -128 is
/// offset byte 0, A = 127 is 255), partial row tiles (m not a multiple of 8), the k-blocks
/// of n > 1024, and the sizes where it hands over to AVX2 (n < 32 or not a multiple of 32).
#[test]
fn vnni_kernel_edges() {
    if !Kernel::Avx512Vnni.available() {
        println!(
            "skipped: this CPU has no AVX-512 VNNI (the other kernels are checked everywhere)"
        );
        return;
    }
    for &n in &[16usize, 32, 48, 64, 96, 1280] {
        let (a, b) = (random(n, 3 * n as u64), random(n, 5 * n as u64));
        let want = matmul_reference(&a, &b, n);
        assert_eq!(
            matmul_with(Kernel::Avx512Vnni, &a, &b, n).unwrap(),
            want,
            "random, n = {n}"
        );
        for (x, y, what) in constant_pairs(n) {
            let c = matmul_with(Kernel::Avx512Vnni, &x, &y, n).unwrap();
            let term = x[0] as i32 * y[0] as i32;
            assert!(c.iter().all(|&v| v == term * n as i32), "{what}, n = {n}");
        }
    }
    // Row counts that leave a partial tile (the proof check multiplies k rows).
    let n = 256;
    let (a, b) = (random(n, 11), random(n, 12));
    let want = matmul_reference(&a, &b, n);
    for m in [1usize, 3, 7, 8, 9, 63, 65] {
        assert_eq!(matmul_rows(&a[..m * n], m, &b, n), want[..m * n], "m = {m}");
    }
}

#[test]
fn keystream_seeks_and_splits_consistently() {
    let s = [7u8; 32];
    let whole = keystream(&s, 0, 300_000);
    // Any offset, block-aligned or not, gives the same bytes as the prefix.
    for &off in &[0usize, 1, 63, 64, 65, 4096, 123_457] {
        assert_eq!(
            keystream(&s, off as u64, 1000),
            whole[off..off + 1000],
            "offset {off}"
        );
    }
    let mut par = vec![0u8; 300_000 - 5];
    keystream_into_parallel(&s, 5, &mut par);
    assert_eq!(par, whole[5..]);
    // generate_a_row seeks to row·n.
    let n = 64;
    let (a, _) = generate_matrices(&s, n);
    for row in [0, 1, 31, 63] {
        assert_eq!(generate_a_row(&s, n, row), a[row * n..(row + 1) * n]);
    }
}

#[test]
fn chacha20_matches_rfc8439_block_function() {
    // RFC 8439 appendix A.1, test vectors #1 and #2: all-zero key and nonce, block counter
    // 0 and 1 (the keystream bytes at offsets 0 and 64).
    let zero = [0u8; 32];
    let ks = keystream(&zero, 64, 64);
    assert_eq!(
        hex::encode(ks),
        "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed\
         29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f"
    );
    assert_eq!(
        hex::encode(keystream(&zero, 0, 64)),
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
         da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    );
}
