//! Row leaves, several rows at once (PROTOCOL.md "Synthetic tasks v1", step 5: the leaf of a
//! row is `H(0x00 ‖ le32(C[i][0]) ‖ … ‖ le32(C[i][n-1]))`).
//!
//! One SHA-256 stream is latency-bound: each `sha256rnds2` waits for the one before it, so a
//! core with SHA-NI runs far below its throughput on one row at a time (the `sha2` crate's
//! SHA-NI path, 2.6 ms for the 1 024 rows of an n = 1024 product on this project's AMD EPYC).
//! Every row of a product has the same length, so the rows can be hashed in lock step: the
//! `shani` backends here carry two or four independent SHA-256 states through the same
//! compression code, round group by round group, and the CPU overlaps their dependency
//! chains. SHA-NI instructions have only the 16 legacy xmm registers, which sets how many
//! lanes pay: on the project's AMD EPYC four lanes hash the 1 024 rows of an n = 1024 product
//! 1.9× faster than `sha2`, two lanes 1.3×, and eight lanes (spilling) no faster than four
//! (BENCHMARKS.md).
//!
//! On a little-endian CPU the bytes of a row of `i32` already are its `le32` values, so the
//! message is read straight from the row: only the first block (the `0x00` prefix) and the
//! padded tail are copied into a buffer.

use cpc_primitives::H256;

/// The leaf hashers. Every one computes exactly [`crate::row_leaf`] of each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The `sha2` crate, one row at a time (it uses SHA-NI itself where the CPU has it).
    Sha2,
    /// x86-64 SHA-NI, two rows in lock step.
    ShaNi2,
    /// x86-64 SHA-NI, four rows in lock step.
    ShaNi4,
}

impl Backend {
    /// Every backend, slowest first (as measured on the project's machines).
    pub const ALL: [Backend; 3] = [Backend::Sha2, Backend::ShaNi2, Backend::ShaNi4];

    /// The backend's name as benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sha2 => "sha2",
            Backend::ShaNi2 => "shani-x2",
            Backend::ShaNi4 => "shani-x4",
        }
    }

    /// Whether this CPU can run the backend (detected at run time).
    pub fn available(self) -> bool {
        match self {
            Backend::Sha2 => true,
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi2 | Backend::ShaNi4 => shani::Token::detect().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest backend this CPU has (detected once).
    pub fn best() -> Backend {
        static BEST: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Backend::ALL.into_iter().rev().find(|b| b.available()).unwrap_or(Backend::Sha2))
    }
}

/// The leaves of the rows of `c` (row-major, rows of `n` values), one per entry of `out`,
/// with the fastest backend this CPU has.
///
/// # Panics
/// If `c` does not hold `out.len()` rows of `n` values.
pub fn row_leaves(c: &[i32], n: usize, out: &mut [H256]) {
    row_leaves_with(Backend::best(), c, n, out).expect("the best backend is available")
}

/// [`row_leaves`] with a chosen backend; `None` (and `out` untouched) when this CPU does not
/// have it.
///
/// # Panics
/// If `c` does not hold `out.len()` rows of `n` values.
pub fn row_leaves_with(backend: Backend, c: &[i32], n: usize, out: &mut [H256]) -> Option<()> {
    assert_eq!(c.len(), out.len() * n, "{} leaves of rows of {n} need {} values, found {}", out.len(), out.len() * n, c.len());
    if !backend.available() {
        return None;
    }
    match backend {
        Backend::Sha2 => sha2_rows(c, n, out),
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi2 => shani::rows::<2>(shani::Token::detect()?, c, n, out),
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi4 => shani::rows::<4>(shani::Token::detect()?, c, n, out),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return None,
    }
    Some(())
}

fn sha2_rows(c: &[i32], n: usize, out: &mut [H256]) {
    if n == 0 {
        out.fill(crate::row_leaf(&[]));
        return;
    }
    for (leaf, row) in out.iter_mut().zip(c.chunks_exact(n)) {
        *leaf = crate::row_leaf(row);
    }
}

/// The shape of one leaf message `0x00 ‖ row bytes` once padded (FIPS 180-4 §5.1.1).
#[derive(Clone, Copy)]
struct Shape {
    /// Message bytes: the prefix and the row.
    len: usize,
    /// 64-byte blocks after padding.
    blocks: usize,
}

impl Shape {
    fn of(row_bytes: usize) -> Shape {
        let len = 1 + row_bytes;
        Shape { len, blocks: (len + 9).div_ceil(64) }
    }

    /// Whether block `j` lies wholly inside the row (so it can be read in place).
    fn in_row(self, j: usize) -> bool {
        j >= 1 && 64 * j + 64 <= self.len
    }

    /// Block `j` of the padded message built from `row` (the row's bytes).
    fn block(self, row: &[u8], j: usize, out: &mut [u8; 64]) {
        *out = [0; 64];
        let start = 64 * j;
        // Message byte p is the prefix 0x00 for p = 0, row[p - 1] after it.
        let (lo, hi) = (start.max(1), (start + 64).min(self.len));
        if lo < hi {
            out[lo - start..hi - start].copy_from_slice(&row[lo - 1..hi - 1]);
        }
        if (start..start + 64).contains(&self.len) {
            out[self.len - start] = 0x80;
        }
        if j + 1 == self.blocks {
            out[56..].copy_from_slice(&(self.len as u64 * 8).to_be_bytes());
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use super::{H256, Shape};
    use std::arch::x86_64::*;

    /// Proof that this CPU has SHA-NI and SSE4.1; only [`Token::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub struct Token(());

    impl Token {
        pub fn detect() -> Option<Token> {
            (std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("ssse3")
                && std::arch::is_x86_feature_detected!("sse4.1"))
            .then_some(Token(()))
        }
    }

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
        0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
        0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
        0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    /// Hashes the rows of `c` `L` at a time; a last group of fewer rows repeats its last row
    /// in the spare lanes (their digests are dropped).
    pub fn rows<const L: usize>(token: Token, c: &[i32], n: usize, out: &mut [H256]) {
        if out.is_empty() {
            return;
        }
        // SAFETY: a slice of i32 is a valid slice of 4× as many bytes (any byte is a valid
        // u8, the alignment of u8 is 1); on x86-64 (little-endian) those bytes are each
        // value's le32 encoding, which is what the leaf hashes.
        let bytes = unsafe { std::slice::from_raw_parts(c.as_ptr().cast::<u8>(), std::mem::size_of_val(c)) };
        let row_bytes = 4 * n;
        let shape = Shape::of(row_bytes);
        for (g, leaves) in out.chunks_mut(L).enumerate() {
            let rows: [&[u8]; L] = std::array::from_fn(|l| {
                let r = g * L + l.min(leaves.len() - 1);
                &bytes[r * row_bytes..][..row_bytes]
            });
            // SAFETY: `token` proves SHA-NI, SSSE3 and SSE4.1 (only `Token::detect` makes one).
            let digests = unsafe { hash_lanes::<L>(token, rows, shape) };
            for (leaf, d) in leaves.iter_mut().zip(digests) {
                *leaf = H256(d);
            }
        }
    }

    /// The SHA-256 digests of `0x00 ‖ rows[l]` for each lane `l`, every row `shape`'s length.
    // Lane loops index several arrays by lane: clearer than zipped iterators here.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn hash_lanes<const L: usize>(_token: Token, rows: [&[u8]; L], shape: Shape) -> [[u8; 32]; L] {
        // Byte order within each 32-bit word: the message words are big-endian.
        let bswap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        // SAFETY (loads of H0/K): 16-byte unaligned loads inside the arrays.
        let (dcba, hgfe) = unsafe { (_mm_loadu_si128(H0.as_ptr().cast()), _mm_loadu_si128(H0.as_ptr().add(4).cast())) };
        // The SHA-NI state layout: ABEF and CDGH.
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        let mut abef = [_mm_alignr_epi8(cdab, efgh, 8); L];
        let mut cdgh = [_mm_blend_epi16(efgh, cdab, 0xF0); L];
        let mut tmp = [[0u8; 64]; L];
        for j in 0..shape.blocks {
            let mut w = [[_mm_setzero_si128(); L]; 4];
            for l in 0..L {
                let p: *const u8 = if shape.in_row(j) {
                    // Message byte 64j is row byte 64j - 1 (after the prefix byte).
                    rows[l][64 * j - 1..][..64].as_ptr()
                } else {
                    shape.block(rows[l], j, &mut tmp[l]);
                    tmp[l].as_ptr()
                };
                for (q, wq) in w.iter_mut().enumerate() {
                    // SAFETY: `p` points at 64 readable bytes (a checked sub-slice or `tmp`).
                    wq[l] = _mm_shuffle_epi8(unsafe { _mm_loadu_si128(p.add(16 * q).cast()) }, bswap);
                }
            }
            let (abef0, cdgh0) = (abef, cdgh);
            for i in 0..16 {
                let q = i % 4;
                if i >= 4 {
                    // W[i] from W[i-4], W[i-3], W[i-2], W[i-1] (groups of four words; w[q]
                    // holds W[i-4] and is replaced).
                    for l in 0..L {
                        let t = _mm_sha256msg1_epu32(w[q][l], w[(q + 1) % 4][l]);
                        let t = _mm_add_epi32(t, _mm_alignr_epi8(w[(q + 3) % 4][l], w[(q + 2) % 4][l], 4));
                        w[q][l] = _mm_sha256msg2_epu32(t, w[(q + 3) % 4][l]);
                    }
                }
                // SAFETY: 16-byte load inside K (i < 16).
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * i).cast()) };
                for l in 0..L {
                    let t = _mm_add_epi32(w[q][l], k);
                    cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], t);
                    abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32(t, 0x0E));
                }
            }
            for l in 0..L {
                abef[l] = _mm_add_epi32(abef[l], abef0[l]);
                cdgh[l] = _mm_add_epi32(cdgh[l], cdgh0[l]);
            }
        }
        let mut out = [[0u8; 32]; L];
        for l in 0..L {
            let feba = _mm_shuffle_epi32(abef[l], 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh[l], 0xB1);
            let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
            let hgef = _mm_alignr_epi8(dchg, feba, 8);
            let mut words = [0u32; 8];
            // SAFETY: two 16-byte stores into the 32-byte `words`.
            unsafe {
                _mm_storeu_si128(words.as_mut_ptr().cast(), dcba);
                _mm_storeu_si128(words.as_mut_ptr().add(4).cast(), hgef);
            }
            for (d, wd) in out[l].chunks_exact_mut(4).zip(words) {
                d.copy_from_slice(&wd.to_be_bytes());
            }
        }
        out
    }
}
