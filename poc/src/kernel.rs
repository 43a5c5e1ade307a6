//! Exact int8 × int8 → i32 matrix products (PROTOCOL.md "Synthetic tasks v1", step 4).
//!
//! Every kernel here computes `C[i][j] = Σ_k A[i][k]·B[k][j]` exactly in 32-bit integers and
//! must be bit-identical to [`matmul_reference`]. A term is at most 2^14 in magnitude, so a
//! row of up to 8192 terms stays below 2^27: no kernel can overflow.
//!
//! * `portable`: plain Rust loops (i-k-j order, four k at a time), auto-vectorised for the
//!   baseline target. Used off x86-64, without AVX2, or when `n` is not a multiple of 16.
//! * `avx2` (runtime detection): the classic exact route through `vpmaddwd`.
//!   - B is packed once per product into 16-column panels of i16 pairs
//!     `(B[2p][j], B[2p+1][j])`, one 32-bit lane each (`pack_b`, itself AVX2: sign-extend,
//!     interleave, eight panels at a time so that B is read once and the writes stay in a
//!     few streams).
//!   - A is taken a block of 64 rows at a time, sign-extended to i16 rows: an i16 pair
//!     `(A[i][2p], A[i][2p+1])` is then one 32-bit word, broadcast with `vpbroadcastd`.
//!   - The micro-kernel keeps a 4 × 16 tile of C in eight ymm accumulators; per pair-row
//!     it loads the two B vectors, and for each of the four rows broadcasts its A pair and
//!     does `acc += vpmaddwd(a_pair, b)` (`a0·b0 + a1·b1` per 32-bit lane: exact, since
//!     `vpmaddwd` only wraps for two `-32768·-32768` products and values here are in
//!     [-128, 127]). For n ≤ 1024 the whole k range is one pass (the accumulators are
//!     written once); larger n is split into k-blocks of 512 pairs added into C.
//!   - A block of rows of C is finished before the next one starts, so callers can hash
//!     rows while they are in cache (the task pipeline never holds C whole).
//!
//!   `vpmaddubsw` is deliberately not used: its i16 saturation would break exactness.
//! * `avx512vnni` (runtime detection of AVX-512 F, BW and VNNI; n a multiple of 32): one
//!   `vpdpbusd` does 64 exact multiply-adds (four byte products per 32-bit lane, no
//!   saturation), four times the work of a `vpmaddwd` + `vpaddd` pair.
//!   - B is packed into 32-column panels of byte quads `(B[4q][j] .. B[4q+3][j])`, one 32-bit
//!     lane each, and each column's `Σ_k B[k][j]` is kept.
//!   - `vpdpbusd` takes unsigned bytes on one side, so A's bytes are offset by 128 (top bit
//!     flipped) and the accumulators start at `-128·Σ_k B[k][j]`, which takes the offset back
//!     out exactly (lane arithmetic is modulo 2^32 and the true sums fit in an i32).
//!   - The micro-kernel keeps an 8 × 32 tile of C in sixteen zmm accumulators; per quad-row
//!     it loads two B vectors and, for each of the eight rows, broadcasts the row's four A
//!     bytes and does two `vpdpbusd`. k-blocks of 1024 keep a B panel (32 KiB) in L1.
//!
//!   It was first checked on a Sapphire Rapids Xeon (a GPU machine's host): the tests of
//!   every kernel against the reference, the protocol vectors, and 4.4–4.7 ms per n = 1024
//!   product on one core (AVX2 there: 23–28 ms). Since December 2026 the project's own
//!   machines are AVX-512 Xeons too, so `cargo test` runs every kernel here (3.8 ms a
//!   product, AVX2 19 ms).
//! * For a few rows (the proof check's `k`), [`few_rows_into`] skips packing B and reads
//!   its rows as they are (see the `few` module and [`FEW_ROWS`]).
//!
//! Large temporary buffers (packed B, A's i16 rows, blocks of C, keystream bytes) come from
//! per-thread caches ([`scratch`]): fresh multi-MiB allocations cost page faults on every
//! product, about as much as a tenth of the product itself.

use rayon::prelude::*;

/// A signed 8-bit matrix entry: `i8` as is, or a raw keystream byte read as `int8`.
///
/// Implemented only for `i8` and `u8`: the SIMD code relies on entries being one byte.
pub(crate) trait Int8: Copy + Send + Sync + private::Sealed {
    fn get(self) -> i32;
}

mod private {
    pub trait Sealed {}
    impl Sealed for i8 {}
    impl Sealed for u8 {}
}

impl Int8 for i8 {
    #[inline(always)]
    fn get(self) -> i32 {
        i32::from(self)
    }
}

impl Int8 for u8 {
    #[inline(always)]
    fn get(self) -> i32 {
        i32::from(self as i8)
    }
}

fn check_dims<T>(a: &[T], m: usize, b: &[T], n: usize) {
    assert!(n > 0, "matrix size must be positive");
    assert_eq!(a.len(), m * n, "A must hold {m}×{n} entries");
    assert_eq!(b.len(), n * n, "B must hold {n}×{n} entries");
}

/// `A·B` with plain loops: the definition every other kernel is tested against.
///
/// # Panics
/// If `a` or `b` does not hold exactly `n·n` entries.
pub fn matmul_reference(a: &[i8], b: &[i8], n: usize) -> Vec<i32> {
    check_dims(a, n, b, n);
    let mut c = vec![0i32; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = i32::from(a[i * n + k]);
            for j in 0..n {
                c[i * n + j] += aik * i32::from(b[k * n + j]);
            }
        }
    }
    c
}

/// The int8 product kernels. Every one is exact and bit-identical to [`matmul_reference`];
/// they differ only in speed and in the CPUs that have them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust loops, any CPU.
    Portable,
    /// x86-64 AVX2: `vpmaddwd` on i16 pairs (n a multiple of 16).
    Avx2,
    /// x86-64 AVX-512 VNNI: `vpdpbusd` on byte quads (n a multiple of 32).
    Avx512Vnni,
}

impl Kernel {
    /// Every kernel, slowest first.
    pub const ALL: [Kernel; 3] = [Kernel::Portable, Kernel::Avx2, Kernel::Avx512Vnni];

    /// The kernel's name as logs and benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512Vnni => "avx512vnni",
        }
    }

    /// Whether this CPU can run the kernel (detected at run time).
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::Token::detect().is_some(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => vnni::Token::detect().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest kernel this CPU has (detected once).
    pub fn best() -> Kernel {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            Kernel::ALL
                .into_iter()
                .rev()
                .find(|k| k.available())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// The kernels this CPU has, slowest first.
    pub fn available_kernels() -> Vec<Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.available()).collect()
    }
}

/// The name of the kernel [`matmul`] uses on this machine: `"avx512vnni"`, `"avx2"` or
/// `"portable"`.
pub fn kernel_name() -> &'static str {
    Kernel::best().name()
}

/// `A·B` with a chosen kernel, or `None` when this CPU does not have it. Where the kernel
/// does not handle `n` (see [`Kernel`]) the next slower one that does is used, as [`matmul`]
/// does.
///
/// # Panics
/// If `a` or `b` does not hold exactly `n·n` entries.
pub fn matmul_with(kernel: Kernel, a: &[i8], b: &[i8], n: usize) -> Option<Vec<i32>> {
    if !kernel.available() {
        return None;
    }
    check_dims(a, n, b, n);
    let mut c = vec![0i32; n * n];
    PreparedB::with_kernel(b, n, false, kernel).rows_into(a, &mut c);
    Some(c)
}

/// `A·B` (row-major `n × n`) on the calling thread, with the best kernel for this CPU.
///
/// # Panics
/// If `a` or `b` does not hold exactly `n·n` entries.
pub fn matmul(a: &[i8], b: &[i8], n: usize) -> Vec<i32> {
    let mut c = vec![0i32; n * n];
    matmul_into(a, b, n, &mut c);
    c
}

/// [`matmul`] into a caller's buffer (no allocation of C).
///
/// # Panics
/// If `a`, `b` or `c` does not hold exactly `n·n` entries.
pub fn matmul_into(a: &[i8], b: &[i8], n: usize, c: &mut [i32]) {
    check_dims(a, n, b, n);
    assert_eq!(c.len(), n * n, "C must hold {n}×{n} entries");
    PreparedB::new(b, n, false).rows_into(a, c);
}

/// `A·B` with the rows of C split over rayon's pool.
///
/// # Panics
/// If `a` or `b` does not hold exactly `n·n` entries.
pub fn matmul_parallel(a: &[i8], b: &[i8], n: usize) -> Vec<i32> {
    check_dims(a, n, b, n);
    let mut c = vec![0i32; n * n];
    let prepared = PreparedB::new(b, n, true);
    let rows = parallel_block_rows(n);
    c.par_chunks_mut(rows * n)
        .zip(a.par_chunks(rows * n))
        .for_each(|(cc, ac)| prepared.rows_into(ac, cc));
    c
}

/// The `m × n` product of `m` rows of A (`a`: `m × n`, row-major) with B (`n × n`), on the
/// calling thread with the best kernel for this CPU (what the proof check uses for the
/// challenged rows). Up to [`FEW_ROWS`] rows B is read as it is, not packed.
///
/// # Panics
/// If `a` does not hold `m·n` entries or `b` does not hold `n·n`.
pub fn matmul_rows(a: &[i8], m: usize, b: &[i8], n: usize) -> Vec<i32> {
    check_dims(a, m, b, n);
    let mut c = vec![0i32; m * n];
    rows_into(a, b, n, &mut c);
    c
}

/// `c (m × n) = a (m × n) · B` on the calling thread with the best kernel: B read unpacked
/// up to [`FEW_ROWS`] rows, packed first above (what [`matmul_rows`] and the proof check use).
pub(crate) fn rows_into<T: Int8>(a: &[T], b: &[T], n: usize, c: &mut [i32]) {
    if a.len() / n <= FEW_ROWS {
        few_rows_into(Kernel::best(), a, b, n, c);
    } else {
        PreparedB::new(b, n, false).rows_into(a, c);
    }
}

/// `m` rows of A times B with a chosen kernel and B read unpacked (the few-rows path of
/// [`matmul_rows`]), or `None` when this CPU does not have the kernel. Where the kernel does
/// not handle `n` the next slower one that does is used.
///
/// # Panics
/// If `a` does not hold `m·n` entries or `b` does not hold `n·n`.
pub fn matmul_rows_with(
    kernel: Kernel,
    a: &[i8],
    m: usize,
    b: &[i8],
    n: usize,
) -> Option<Vec<i32>> {
    if !kernel.available() {
        return None;
    }
    check_dims(a, m, b, n);
    let mut c = vec![0i32; m * n];
    few_rows_into(kernel, a, b, n, &mut c);
    Some(c)
}

/// At most this many rows of A are multiplied without packing B (see [`few_rows_into`]).
///
/// Packing B is one pass that reads all of B and writes 1–2 MiB at n = 1024, paid back only
/// over many rows. Measured at n = 1024 with AVX-512 VNNI (`poc` bench, one core): 17 rows
/// through packed B take 0.38 ms (≈ 0.32 ms of packing, then ~0.004 ms a row), 8 and 16
/// rows from unpacked B 0.074 and 0.15 ms (~0.009 ms a row), so the unpacked path wins below
/// ~50 rows. 16 covers the proof check (k = 8 by default) with room and stays well below.
pub(crate) const FEW_ROWS: usize = 16;

/// `c (m × n) = a (m × n) · B` on the calling thread, reading B's rows as they are (no
/// packed copy): for a handful of rows, where packing B would cost more than the product.
/// Uses `kernel`, or the next slower kernel this CPU has that handles `n`.
pub(crate) fn few_rows_into<T: Int8>(kernel: Kernel, a: &[T], b: &[T], n: usize, c: &mut [i32]) {
    assert_eq!(b.len(), n * n, "B must hold {n}×{n} entries");
    assert_eq!(a.len() % n, 0, "A must hold whole rows of {n}");
    assert_eq!(c.len(), a.len(), "C must have A's shape");
    #[cfg(target_arch = "x86_64")]
    {
        if kernel == Kernel::Avx512Vnni
            && let Some(token) = vnni::Token::detect().filter(|_| few::supports_512(n))
        {
            few::rows_512(token, a, b, n, c);
            return;
        }
        if kernel != Kernel::Portable
            && let Some(token) = avx2::Token::detect().filter(|_| few::supports_256(n))
        {
            few::rows_256(token, a, b, n, c);
            return;
        }
    }
    let _ = kernel;
    portable_rows(a, b, n, c);
}

/// `A·B` with the portable kernel whatever the CPU (so that tests cover it everywhere).
///
/// # Panics
/// If `a` or `b` does not hold exactly `n·n` entries.
pub fn matmul_portable(a: &[i8], b: &[i8], n: usize) -> Vec<i32> {
    check_dims(a, n, b, n);
    let mut c = vec![0i32; n * n];
    portable_rows(a, b, n, &mut c);
    c
}

/// Rows per block when C is computed block by block (A's i16 copy and C's block stay in L2).
pub(crate) const BLOCK_ROWS: usize = 64;

/// Rows per parallel task: whole blocks, a few tasks per thread so uneven load balances.
pub(crate) fn parallel_block_rows(m: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    m.div_ceil(threads * 4)
        .next_multiple_of(BLOCK_ROWS)
        .max(BLOCK_ROWS)
}

/// Per-thread scratch buffers, reused between products so that the large packed copies do
/// not cost fresh page faults on every call. A buffer is taken out while in use: a nested
/// use on the same thread (rayon work stealing) just allocates its own.
pub(crate) mod scratch {
    use std::cell::Cell;
    use std::thread::LocalKey;

    /// Buffers larger than this are dropped after use rather than kept per thread.
    const KEEP_BYTES: usize = 32 << 20;

    thread_local! {
        pub(crate) static BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
        pub(crate) static BYTES_2: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
        pub(crate) static I16: Cell<Vec<i16>> = const { Cell::new(Vec::new()) };
        pub(crate) static I32: Cell<Vec<i32>> = const { Cell::new(Vec::new()) };
        pub(crate) static U32: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
        pub(crate) static A_U8: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// A vector of at least `len` elements from `key`'s cache. Its contents are arbitrary:
    /// the user must write every element it reads.
    pub(crate) fn take<T: Copy + Default + 'static>(
        key: &'static LocalKey<Cell<Vec<T>>>,
        len: usize,
    ) -> Vec<T> {
        let mut v = key.take();
        if v.len() < len {
            v.resize(len, T::default());
        }
        v.truncate(len);
        v
    }

    /// Gives a vector back to `key`'s cache (dropped if it is very large).
    pub(crate) fn give<T: 'static>(key: &'static LocalKey<Cell<Vec<T>>>, v: Vec<T>) {
        if v.capacity() * size_of::<T>() <= KEEP_BYTES {
            let old = key.replace(v);
            drop(old);
        }
    }
}

/// B made ready once for the products of many row blocks of A.
pub(crate) struct PreparedB<'a, T: Int8> {
    b: &'a [T],
    n: usize,
    #[cfg(target_arch = "x86_64")]
    packed: Packed,
}

/// B packed for a SIMD kernel (buffers from the per-thread [`scratch`] caches).
#[cfg(target_arch = "x86_64")]
enum Packed {
    None,
    Avx2(avx2::Token, Vec<u32>),
    /// Byte quads, and each column's start value `-128·Σ_k B[k][j]` (see [`vnni`]).
    Vnni(vnni::Token, Vec<u32>, Vec<i32>),
}

impl<'a, T: Int8> PreparedB<'a, T> {
    /// Packs B for the best kernel (packing split over rayon's pool with `parallel`).
    pub(crate) fn new(b: &'a [T], n: usize, parallel: bool) -> Self {
        Self::with_kernel(b, n, parallel, Kernel::best())
    }

    /// Packs B for `kernel`, or the next slower kernel this CPU has that handles `n`.
    pub(crate) fn with_kernel(b: &'a [T], n: usize, parallel: bool, kernel: Kernel) -> Self {
        assert_eq!(b.len(), n * n, "B must hold {n}×{n} entries");
        #[cfg(target_arch = "x86_64")]
        {
            let vnni =
                vnni::Token::detect().filter(|_| kernel == Kernel::Avx512Vnni && vnni::supports(n));
            let avx2 =
                avx2::Token::detect().filter(|_| kernel != Kernel::Portable && avx2::supports(n));
            let packed = if let Some(token) = vnni {
                let mut data = scratch::take(&scratch::U32, n * n / 4);
                let mut start = vec![0i32; n];
                vnni::pack_b(token, b, n, &mut data, &mut start, parallel);
                Packed::Vnni(token, data, start)
            } else if let Some(token) = avx2 {
                let mut data = scratch::take(&scratch::U32, n * n / 2);
                avx2::pack_b(token, b, n, &mut data, parallel);
                Packed::Avx2(token, data)
            } else {
                Packed::None
            };
            PreparedB { b, n, packed }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (parallel, kernel);
            PreparedB { b, n }
        }
    }

    /// `c (m × n) = a (m × n) · B`, on the calling thread.
    pub(crate) fn rows_into(&self, a: &[T], c: &mut [i32]) {
        let n = self.n;
        assert_eq!(a.len() % n, 0, "A must hold whole rows of {n}");
        assert_eq!(c.len(), a.len(), "C must have A's shape");
        #[cfg(target_arch = "x86_64")]
        match &self.packed {
            Packed::Vnni(token, packed, start) => {
                for (ab, cb) in a.chunks(BLOCK_ROWS * n).zip(c.chunks_mut(BLOCK_ROWS * n)) {
                    vnni::block(*token, ab, n, packed, start, cb);
                }
                return;
            }
            Packed::Avx2(token, packed) => {
                for (ab, cb) in a.chunks(BLOCK_ROWS * n).zip(c.chunks_mut(BLOCK_ROWS * n)) {
                    avx2::block(*token, ab, n, packed, cb);
                }
                return;
            }
            Packed::None => {}
        }
        portable_rows(a, self.b, n, c);
    }
}

#[cfg(target_arch = "x86_64")]
impl<T: Int8> Drop for PreparedB<'_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.packed, Packed::None) {
            Packed::Avx2(_, data) | Packed::Vnni(_, data, _) => scratch::give(&scratch::U32, data),
            Packed::None => {}
        }
    }
}

/// Portable kernel: for each row of A, C's row accumulates four scaled rows of B at a time.
fn portable_rows<T: Int8>(a: &[T], b: &[T], n: usize, c: &mut [i32]) {
    for (arow, crow) in a.chunks_exact(n).zip(c.chunks_exact_mut(n)) {
        crow.fill(0);
        let mut quads = arow.chunks_exact(4);
        let mut brows = b.chunks_exact(4 * n);
        for (aq, bq) in (&mut quads).zip(&mut brows) {
            let (a0, a1, a2, a3) = (aq[0].get(), aq[1].get(), aq[2].get(), aq[3].get());
            let (b0, rest) = bq.split_at(n);
            let (b1, rest) = rest.split_at(n);
            let (b2, b3) = rest.split_at(n);
            for ((((cj, x0), x1), x2), x3) in crow.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
                *cj += a0 * x0.get() + a1 * x1.get() + a2 * x2.get() + a3 * x3.get();
            }
        }
        let k0 = arow.len() - quads.remainder().len();
        for (k, ak) in quads.remainder().iter().enumerate() {
            let ak = ak.get();
            for (cj, bj) in crow.iter_mut().zip(&b[(k0 + k) * n..][..n]) {
                *cj += ak * bj.get();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Int8, scratch};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Rows of C per micro-tile.
    pub const MR: usize = 4;
    /// Columns of C per micro-tile (two ymm vectors of i32); B's panel width.
    pub const NR: usize = 16;
    /// k-pairs per k-block (for n ≤ 1024 the whole k range is one block).
    pub const KC: usize = 512;

    /// Proof that this CPU has AVX2; only [`Token::detect`] makes one.
    #[derive(Clone, Copy)]
    pub struct Token(());

    impl Token {
        pub fn detect() -> Option<Token> {
            std::arch::is_x86_feature_detected!("avx2").then_some(Token(()))
        }
    }

    /// Sizes this kernel handles: whole 16-column panels (n even follows).
    pub fn supports(n: usize) -> bool {
        n >= NR && n.is_multiple_of(NR)
    }

    /// Packs B (`n × n` bytes read as int8) into `out` (`n·n/2` lanes): `n/16` panels, each
    /// `n/2` pair-rows of 16 lanes `(B[2p][j], B[2p+1][j])` as two i16 (low half first).
    pub fn pack_b<T: Int8>(_token: Token, b: &[T], n: usize, out: &mut [u32], parallel: bool) {
        assert_eq!(b.len(), n * n);
        assert_eq!(out.len(), n * n / 2);
        let panels = n / NR;
        let panel_len = n / 2 * NR;
        if parallel && panels >= 8 {
            let group = panels
                .div_ceil(rayon::current_num_threads().max(1) * 2)
                .max(1);
            out.par_chunks_mut(group * panel_len)
                .enumerate()
                .for_each(|(g, part)| {
                    // SAFETY: `_token` proves AVX2 is available (only `Token::detect` makes one).
                    unsafe { pack_b_panels(b, n, g * group, part) };
                });
        } else {
            // SAFETY: `_token` proves AVX2 is available (only `Token::detect` makes one).
            unsafe { pack_b_panels(b, n, 0, out) };
        }
    }

    /// Packs the panels `first ..` that fill `out` (whole panels).
    #[target_feature(enable = "avx2")]
    fn pack_b_panels<T: Int8>(b: &[T], n: usize, first: usize, out: &mut [u32]) {
        let np = n / 2;
        let count = out.len() / (np * NR);
        // Eight panels (128 columns) at a time: B is read once, line by line, and the
        // writes go to only eight streams (one per panel) instead of all of them.
        for q0 in (0..count).step_by(8) {
            for p in 0..np {
                let r0 = &b[2 * p * n..][..n];
                let r1 = &b[(2 * p + 1) * n..][..n];
                for q in q0..count.min(q0 + 8) {
                    pack_pair_row(r0, r1, first + q, &mut out[(q * np + p) * NR..][..NR]);
                }
            }
        }
    }

    /// Columns `16·jp ..` of B rows `r0` and `r1` as 16 i16 pairs into `o`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn pack_pair_row<T: Int8>(r0: &[T], r1: &[T], jp: usize, o: &mut [u32]) {
        let x = &r0[jp * NR..][..NR];
        let y = &r1[jp * NR..][..NR];
        // SAFETY: `x` and `y` are 16 one-byte entries (Int8 is only implemented for i8 and
        // u8), so each 16-byte unaligned load is in bounds.
        let (xv, yv) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(x.as_ptr().cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(y.as_ptr().cast())),
            )
        };
        // Within each 128-bit lane: lo = columns 0-3 | 8-11, hi = 4-7 | 12-15.
        let lo = _mm256_unpacklo_epi16(xv, yv);
        let hi = _mm256_unpackhi_epi16(xv, yv);
        let c0 = _mm256_permute2x128_si256::<0x20>(lo, hi); // columns 0-7
        let c1 = _mm256_permute2x128_si256::<0x31>(lo, hi); // columns 8-15
        let o = &mut o[..NR];
        // SAFETY: `o` holds 16 u32 (64 bytes): both 32-byte unaligned stores in bounds.
        unsafe {
            _mm256_storeu_si256(o.as_mut_ptr().cast(), c0);
            _mm256_storeu_si256(o[8..].as_mut_ptr().cast(), c1);
        }
    }

    /// `c (m × n) = a (m × n) · B` for one block of rows, B packed by [`pack_b`].
    pub fn block<T: Int8>(_token: Token, a: &[T], n: usize, packed: &[u32], c: &mut [i32]) {
        let np = n / 2;
        let m = a.len() / n;
        let padded = m.next_multiple_of(MR);
        // A as i16 rows (an i16 pair is one 32-bit lane), rows past m zero.
        let mut a16 = scratch::take(&scratch::I16, padded * n);
        for (dst, src) in a16.chunks_exact_mut(n).zip(a.chunks_exact(n)) {
            for (o, x) in dst.iter_mut().zip(src) {
                *o = x.get() as i16;
            }
        }
        a16[m * n..].fill(0);
        let mut kb = 0;
        while kb < np {
            let kc = KC.min(np - kb);
            for jp in 0..n / NR {
                let bs = &packed[(jp * np + kb) * NR..][..kc * NR];
                for ib in 0..padded / MR {
                    let at = &a16[ib * MR * n + 2 * kb..];
                    let rows = MR.min(m - ib * MR);
                    let ct = &mut c[ib * MR * n + jp * NR..];
                    // SAFETY: `_token` proves AVX2 is available (only `Token::detect` makes
                    // one): the one requirement of this target_feature function.
                    unsafe { micro(at, n, bs, ct, n, rows, kb > 0) };
                }
            }
            kb += kc;
        }
        scratch::give(&scratch::I16, a16);
    }

    /// One MR × 16 tile of C over one k-block of `kc = b.len() / 16` pairs. Row `r` of the
    /// tile's A is `a[r·lda ..][.. 2·kc]` (i16), B is `kc` pair-rows of 16 lanes; row `r` of the
    /// tile is `c[r·ldc ..][.. 16]` for `r < rows`, added to with `accumulate`, else overwritten.
    #[target_feature(enable = "avx2")]
    fn micro(
        a: &[i16],
        lda: usize,
        b: &[u32],
        c: &mut [i32],
        ldc: usize,
        rows: usize,
        accumulate: bool,
    ) {
        let kc = b.len() / NR;
        let ar: [&[i16]; MR] = std::array::from_fn(|r| &a[r * lda..][..2 * kc]);
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        if accumulate {
            for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                let cr = &c[r * ldc..][..NR];
                // SAFETY: `cr` holds 16 i32 (64 bytes): both 32-byte unaligned loads in bounds.
                unsafe {
                    acc_r[0] = _mm256_loadu_si256(cr.as_ptr().cast());
                    acc_r[1] = _mm256_loadu_si256(cr[8..].as_ptr().cast());
                }
            }
        }
        for (p, br) in b.chunks_exact(NR).enumerate() {
            // SAFETY: `br` holds exactly 16 u32 (64 bytes): both unaligned loads in bounds.
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_si256(br.as_ptr().cast()),
                    _mm256_loadu_si256(br[8..].as_ptr().cast()),
                )
            };
            for r in 0..MR {
                let two = &ar[r][2 * p..2 * p + 2];
                // SAFETY: `two` is two i16 (4 bytes), so the 4-byte unaligned load is in bounds.
                let av = _mm256_broadcastd_epi32(unsafe { _mm_loadu_si32(two.as_ptr().cast()) });
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(rows) {
            let cr = &mut c[r * ldc..][..NR];
            // SAFETY: `cr` holds 16 i32 (64 bytes): both 32-byte unaligned stores in bounds,
            // and they write only this tile row.
            unsafe {
                _mm256_storeu_si256(cr.as_mut_ptr().cast(), acc_r[0]);
                _mm256_storeu_si256(cr[8..].as_mut_ptr().cast(), acc_r[1]);
            }
        }
    }
}

/// AVX-512 VNNI: `vpdpbusd` multiplies four unsigned bytes by four signed bytes and adds the
/// four products to a 32-bit lane (no saturation), 64 multiply-adds per instruction.
///
/// A is signed, so each A byte is offset to `A + 128` (flip the top bit: 0 ..= 255) and the
/// offset taken back out through the accumulators' start value:
/// `Σ_k (A[i][k] + 128)·B[k][j] − 128·Σ_k B[k][j] = Σ_k A[i][k]·B[k][j]`. Every product is at
/// most `255·128 = 32 640` in magnitude (within the instruction's i16 intermediate) and the
/// lane arithmetic is modulo 2^32, so the result is exact whenever the true value fits in an
/// i32, which it always does (see the module comment).
#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{Int8, scratch};
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Rows of C per micro-tile.
    pub const MR: usize = 8;
    /// Columns of C per micro-tile (two zmm vectors of i32); B's panel width.
    pub const NR: usize = 32;
    /// k-quads per k-block: 256 quads (1024 k) keep a panel of B at 32 KiB, in L1.
    pub const KC: usize = 256;

    /// Proof that this CPU has AVX-512 F, BW and VNNI; only [`Token::detect`] makes one.
    #[derive(Clone, Copy)]
    pub struct Token(());

    impl Token {
        pub fn detect() -> Option<Token> {
            (std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni"))
            .then_some(Token(()))
        }
    }

    /// Sizes this kernel handles: whole 32-column panels (n a multiple of 4 follows).
    pub fn supports(n: usize) -> bool {
        n >= NR && n.is_multiple_of(NR)
    }

    /// Packs B (`n × n` bytes read as int8) into `out` (`n·n/4` lanes): `n/32` panels, each
    /// `n/4` quad-rows of 32 lanes `(B[4q][j], B[4q+1][j], B[4q+2][j], B[4q+3][j])` (low byte
    /// first), and writes each column's accumulator start `-128·Σ_k B[k][j]` into `start`.
    pub fn pack_b<T: Int8>(
        _token: Token,
        b: &[T],
        n: usize,
        out: &mut [u32],
        start: &mut [i32],
        parallel: bool,
    ) {
        assert_eq!(b.len(), n * n);
        assert_eq!(out.len(), n * n / 4);
        assert_eq!(start.len(), n);
        let panels = n / NR;
        let panel_len = n / 4 * NR;
        if parallel && panels >= 8 {
            let group = panels
                .div_ceil(rayon::current_num_threads().max(1) * 2)
                .max(1);
            out.par_chunks_mut(group * panel_len)
                .zip(start.par_chunks_mut(group * NR))
                .enumerate()
                .for_each(|(g, (part, st))| {
                    // SAFETY: `_token` proves AVX-512 F/BW/VNNI (only `Token::detect` makes one).
                    unsafe { pack_b_panels(b, n, g * group, part, st) };
                });
        } else {
            // SAFETY: `_token` proves AVX-512 F/BW/VNNI (only `Token::detect` makes one).
            unsafe { pack_b_panels(b, n, 0, out, start) };
        }
    }

    /// Packs the panels `first ..` that fill `out` (whole panels) and their columns' starts.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn pack_b_panels<T: Int8>(b: &[T], n: usize, first: usize, out: &mut [u32], start: &mut [i32]) {
        let nq = n / 4;
        let count = out.len() / (nq * NR);
        let cols = first * NR..(first + count) * NR;
        // Column sums over all of B's rows for these panels (auto-vectorised).
        let mut sums = vec![0i32; cols.len()];
        for row in b.chunks_exact(n) {
            for (s, x) in sums.iter_mut().zip(&row[cols.clone()]) {
                *s += x.get();
            }
        }
        for (st, s) in start.iter_mut().zip(&sums) {
            *st = -128 * s;
        }
        // Four panels (128 columns) at a time: B is read once, line by line, and the writes
        // go to only four streams.
        for q0 in (0..count).step_by(4) {
            for q in 0..nq {
                let rows: [&[T]; 4] = std::array::from_fn(|t| &b[(4 * q + t) * n..][..n]);
                for p in q0..count.min(q0 + 4) {
                    let o = &mut out[(p * nq + q) * NR..][..NR];
                    for half in 0..2 {
                        let col = (first + p) * NR + 16 * half;
                        pack_quad_row(&rows, col, &mut o[16 * half..][..16]);
                    }
                }
            }
        }
    }

    /// Columns `col .. col + 16` of the four rows as 16 byte quads into `o`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    fn pack_quad_row<T: Int8>(rows: &[&[T]; 4], col: usize, o: &mut [u32]) {
        let x: [&[T]; 4] = std::array::from_fn(|t| &rows[t][col..][..16]);
        // SAFETY: each `x[t]` is 16 one-byte entries (Int8 is only implemented for i8 and
        // u8), so each 16-byte unaligned load is in bounds.
        let [x0, x1, x2, x3] = x.map(|r| unsafe { _mm_loadu_si128(r.as_ptr().cast()) });
        let p01lo = _mm_unpacklo_epi8(x0, x1); // (x0, x1) for columns 0-7
        let p01hi = _mm_unpackhi_epi8(x0, x1); // columns 8-15
        let p23lo = _mm_unpacklo_epi8(x2, x3);
        let p23hi = _mm_unpackhi_epi8(x2, x3);
        let quads = [
            _mm_unpacklo_epi16(p01lo, p23lo), // columns 0-3
            _mm_unpackhi_epi16(p01lo, p23lo), // 4-7
            _mm_unpacklo_epi16(p01hi, p23hi), // 8-11
            _mm_unpackhi_epi16(p01hi, p23hi), // 12-15
        ];
        let o = &mut o[..16];
        for (i, v) in quads.into_iter().enumerate() {
            // SAFETY: `o` holds 16 u32: each 16-byte store at 4·i lanes is in bounds.
            unsafe { _mm_storeu_si128(o[4 * i..].as_mut_ptr().cast(), v) };
        }
    }

    /// `c (m × n) = a (m × n) · B` for one block of rows, B packed by [`pack_b`].
    pub fn block<T: Int8>(
        _token: Token,
        a: &[T],
        n: usize,
        packed: &[u32],
        start: &[i32],
        c: &mut [i32],
    ) {
        let nq = n / 4;
        let m = a.len() / n;
        let padded = m.next_multiple_of(MR);
        // A's bytes offset by 128 (top bit flipped); rows past m are A = 0.
        let mut au = scratch::take(&scratch::A_U8, padded * n);
        for (o, x) in au.iter_mut().zip(a) {
            *o = (x.get() as u8) ^ 0x80;
        }
        au[m * n..].fill(0x80);
        let mut kb = 0;
        while kb < nq {
            let kc = KC.min(nq - kb);
            for jp in 0..n / NR {
                let bs = &packed[(jp * nq + kb) * NR..][..kc * NR];
                let st = &start[jp * NR..][..NR];
                for ib in 0..padded / MR {
                    let at = &au[ib * MR * n + 4 * kb..];
                    let rows = MR.min(m - ib * MR);
                    let ct = &mut c[ib * MR * n + jp * NR..];
                    // SAFETY: `_token` proves AVX-512 F/BW/VNNI (only `Token::detect` makes
                    // one): the one requirement of this target_feature function.
                    unsafe { micro(at, n, bs, st, ct, n, rows, kb > 0) };
                }
            }
            kb += kc;
        }
        scratch::give(&scratch::A_U8, au);
    }

    /// One MR × 32 tile of C over one k-block of `kc = b.len() / 32` quads. Row `r` of the
    /// tile's A is `a[r·lda ..][.. 4·kc]` (offset bytes), B is `kc` quad-rows of 32 lanes;
    /// row `r` of the tile is `c[r·ldc ..][.. 32]` for `r < rows`, added to with
    /// `accumulate`, else started from `start` (the offset's correction) and overwritten.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn micro(
        a: &[u8],
        lda: usize,
        b: &[u32],
        start: &[i32],
        c: &mut [i32],
        ldc: usize,
        rows: usize,
        accumulate: bool,
    ) {
        let kc = b.len() / NR;
        let ar: [&[u8]; MR] = std::array::from_fn(|r| &a[r * lda..][..4 * kc]);
        let mut acc;
        if accumulate {
            acc = [[_mm512_setzero_si512(); 2]; MR];
            for (r, acc_r) in acc.iter_mut().enumerate().take(rows) {
                let cr = &c[r * ldc..][..NR];
                // SAFETY: `cr` holds 32 i32 (128 bytes): both 64-byte unaligned loads in bounds.
                unsafe {
                    acc_r[0] = _mm512_loadu_si512(cr.as_ptr().cast());
                    acc_r[1] = _mm512_loadu_si512(cr[16..].as_ptr().cast());
                }
            }
        } else {
            let st = &start[..NR];
            // SAFETY: `st` holds 32 i32 (128 bytes): both 64-byte unaligned loads in bounds.
            let s = unsafe {
                [
                    _mm512_loadu_si512(st.as_ptr().cast()),
                    _mm512_loadu_si512(st[16..].as_ptr().cast()),
                ]
            };
            acc = [s; MR];
        }
        for (q, bq) in b.chunks_exact(NR).enumerate() {
            // SAFETY: `bq` holds exactly 32 u32 (128 bytes): both unaligned loads in bounds.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(bq.as_ptr().cast()),
                    _mm512_loadu_si512(bq[16..].as_ptr().cast()),
                )
            };
            for r in 0..MR {
                let quad = &ar[r][4 * q..4 * q + 4];
                let av =
                    _mm512_set1_epi32(i32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]));
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
            }
        }
        for (r, acc_r) in acc.iter().enumerate().take(rows) {
            let cr = &mut c[r * ldc..][..NR];
            // SAFETY: `cr` holds 32 i32 (128 bytes): both 64-byte unaligned stores in bounds,
            // and they write only this tile row.
            unsafe {
                _mm512_storeu_si512(cr.as_mut_ptr().cast(), acc_r[0]);
                _mm512_storeu_si512(cr[16..].as_mut_ptr().cast(), acc_r[1]);
            }
        }
    }
}

/// Kernels for a few rows of A with B read unpacked ([`few_rows_into`]): the proof check
/// multiplies only the `k` challenged rows, and packing B for them would cost more than the
/// product (see [`FEW_ROWS`]).
///
/// - A's rows become i16 pairs `(A[r][2p], A[r][2p+1])`, one 32-bit word each (a few KiB).
/// - For each tile of columns, the loop over pair-rows `p` loads the two B rows `2p` and
///   `2p+1` straight from B, sign-extends them to i16 and interleaves them into
///   `(B[2p][j], B[2p+1][j])` pairs; every row of the group then broadcasts its A pair and
///   multiply-adds it (`vpdpwssd` on AVX-512 VNNI, `vpmaddwd` + `vpaddd` on AVX2). Both are
///   exact: each pair sum is at most 2·2^14 in magnitude and neither instruction saturates.
/// - The interleave works within 128-bit lanes, so the accumulators hold columns in the
///   order (0-3, 8-11, …) and (4-7, 12-15, …); one permutation per tile row puts them back
///   when C is stored.
///
/// The accumulators hold the whole k range (n ≤ 8192 stays far below 2^31, see the module
/// comment), so each C entry is written once.
#[cfg(target_arch = "x86_64")]
mod few {
    use super::{Int8, avx2, vnni};
    use std::arch::x86_64::*;

    /// Rows of A per pass over B (AVX-512: 8 rows × 32 columns = 16 zmm accumulators).
    const MR_512: usize = 8;
    /// Columns per tile (AVX-512): two zmm of i32.
    const NR_512: usize = 32;
    /// Rows of A per pass over B (AVX2: 4 rows × 16 columns = 8 ymm accumulators).
    const MR_256: usize = 4;
    /// Columns per tile (AVX2): two ymm of i32.
    const NR_256: usize = 16;

    /// Sizes the AVX-512 path handles: whole 32-column tiles.
    pub fn supports_512(n: usize) -> bool {
        n >= NR_512 && n.is_multiple_of(NR_512)
    }

    /// Sizes the AVX2 path handles: whole 16-column tiles.
    pub fn supports_256(n: usize) -> bool {
        n >= NR_256 && n.is_multiple_of(NR_256)
    }

    /// `mr` rows of A (`a`, fewer allowed: the rest are zero) as `n/2` i16 pairs each.
    fn pairs<T: Int8>(a: &[T], n: usize, mr: usize) -> Vec<i32> {
        let np = n / 2;
        let mut out = vec![0i32; mr * np];
        for (dst, src) in out.chunks_exact_mut(np).zip(a.chunks_exact(n)) {
            for (o, two) in dst.iter_mut().zip(src.chunks_exact(2)) {
                let lo = two[0].get() as i16 as u16 as u32;
                let hi = two[1].get() as i16 as u16 as u32;
                *o = (lo | hi << 16) as i32;
            }
        }
        out
    }

    /// `c = a · B` for any number of rows, [`MR_512`] rows per pass over B.
    pub fn rows_512<T: Int8>(_token: vnni::Token, a: &[T], b: &[T], n: usize, c: &mut [i32]) {
        for (ag, cg) in a.chunks(MR_512 * n).zip(c.chunks_mut(MR_512 * n)) {
            let ap = pairs(ag, n, MR_512);
            // SAFETY: `_token` proves AVX-512 F/BW/VNNI (only `vnni::Token::detect` makes
            // one): the one requirement of this target_feature function.
            unsafe { group_512(&ap, b, n, cg) };
        }
    }

    /// One group of at most [`MR_512`] rows: `ap` holds [`MR_512`] rows of pairs (zero past
    /// the group's rows), `c` the group's rows of C.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn group_512<T: Int8>(ap: &[i32], b: &[T], n: usize, c: &mut [i32]) {
        let np = n / 2;
        let rows = c.len() / n;
        let ar: [&[i32]; MR_512] = std::array::from_fn(|r| &ap[r * np..][..np]);
        // Accumulator lanes hold columns (0-3, 8-11, 16-19, 24-27) and (4-7, 12-15, 20-23,
        // 28-31): element indices into the pair (first, second + 16) that restore the order.
        let first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        let second =
            _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        for jt in (0..n).step_by(NR_512) {
            let mut acc = [[_mm512_setzero_si512(); 2]; MR_512];
            for (p, pair_rows) in b.chunks_exact(2 * n).enumerate() {
                let x = &pair_rows[jt..][..NR_512];
                let y = &pair_rows[n + jt..][..NR_512];
                // SAFETY: `x` and `y` are 32 one-byte entries (Int8 is only implemented for
                // i8 and u8), so each 32-byte unaligned load is in bounds.
                let (xv, yv) = unsafe {
                    (
                        _mm512_cvtepi8_epi16(_mm256_loadu_si256(x.as_ptr().cast())),
                        _mm512_cvtepi8_epi16(_mm256_loadu_si256(y.as_ptr().cast())),
                    )
                };
                let lo = _mm512_unpacklo_epi16(xv, yv);
                let hi = _mm512_unpackhi_epi16(xv, yv);
                for r in 0..MR_512 {
                    let av = _mm512_set1_epi32(ar[r][p]);
                    acc[r][0] = _mm512_dpwssd_epi32(acc[r][0], av, lo);
                    acc[r][1] = _mm512_dpwssd_epi32(acc[r][1], av, hi);
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                let c0 = _mm512_permutex2var_epi32(acc_r[0], first, acc_r[1]);
                let c1 = _mm512_permutex2var_epi32(acc_r[0], second, acc_r[1]);
                let cr = &mut c[r * n + jt..][..NR_512];
                // SAFETY: `cr` holds 32 i32 (128 bytes): both 64-byte unaligned stores in
                // bounds, and they write only this tile row.
                unsafe {
                    _mm512_storeu_si512(cr.as_mut_ptr().cast(), c0);
                    _mm512_storeu_si512(cr[16..].as_mut_ptr().cast(), c1);
                }
            }
        }
    }

    /// `c = a · B` for any number of rows, [`MR_256`] rows per pass over B.
    pub fn rows_256<T: Int8>(_token: avx2::Token, a: &[T], b: &[T], n: usize, c: &mut [i32]) {
        for (ag, cg) in a.chunks(MR_256 * n).zip(c.chunks_mut(MR_256 * n)) {
            let ap = pairs(ag, n, MR_256);
            // SAFETY: `_token` proves AVX2 (only `avx2::Token::detect` makes one): the one
            // requirement of this target_feature function.
            unsafe { group_256(&ap, b, n, cg) };
        }
    }

    /// One group of at most [`MR_256`] rows (as [`group_512`], with ymm registers).
    #[target_feature(enable = "avx2")]
    fn group_256<T: Int8>(ap: &[i32], b: &[T], n: usize, c: &mut [i32]) {
        let np = n / 2;
        let rows = c.len() / n;
        let ar: [&[i32]; MR_256] = std::array::from_fn(|r| &ap[r * np..][..np]);
        for jt in (0..n).step_by(NR_256) {
            let mut acc = [[_mm256_setzero_si256(); 2]; MR_256];
            for (p, pair_rows) in b.chunks_exact(2 * n).enumerate() {
                let x = &pair_rows[jt..][..NR_256];
                let y = &pair_rows[n + jt..][..NR_256];
                // SAFETY: `x` and `y` are 16 one-byte entries (Int8 is only implemented for
                // i8 and u8), so each 16-byte unaligned load is in bounds.
                let (xv, yv) = unsafe {
                    (
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(x.as_ptr().cast())),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(y.as_ptr().cast())),
                    )
                };
                // Within each 128-bit lane: lo = columns 0-3 | 8-11, hi = 4-7 | 12-15.
                let lo = _mm256_unpacklo_epi16(xv, yv);
                let hi = _mm256_unpackhi_epi16(xv, yv);
                for r in 0..MR_256 {
                    let av = _mm256_set1_epi32(ar[r][p]);
                    acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, lo));
                    acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, hi));
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(rows) {
                let c0 = _mm256_permute2x128_si256::<0x20>(acc_r[0], acc_r[1]); // columns 0-7
                let c1 = _mm256_permute2x128_si256::<0x31>(acc_r[0], acc_r[1]); // 8-15
                let cr = &mut c[r * n + jt..][..NR_256];
                // SAFETY: `cr` holds 16 i32 (64 bytes): both 32-byte unaligned stores in
                // bounds, and they write only this tile row.
                unsafe {
                    _mm256_storeu_si256(cr.as_mut_ptr().cast(), c0);
                    _mm256_storeu_si256(cr[8..].as_mut_ptr().cast(), c1);
                }
            }
        }
    }
}
