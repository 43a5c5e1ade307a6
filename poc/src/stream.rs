//! The ChaCha20 keystream of a task (PROTOCOL.md "Synthetic tasks v1", step 3).
//!
//! RFC 8439 ChaCha20 with key = seed, 96-bit nonce = 0, block counter from 0. The RustCrypto
//! `chacha20` crate picks its AVX2 (or SSE2) backend at run time.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use rayon::prelude::*;

/// ChaCha20 block size in bytes; parallel chunks are whole blocks (seeking works anywhere,
/// but whole blocks avoid computing a block twice).
const BLOCK: usize = 64;

/// Writes the keystream bytes `S[offset .. offset + out.len()]` of `seed` into `out`.
pub fn keystream_into(seed: &[u8; 32], offset: u64, out: &mut [u8]) {
    let mut cipher = ChaCha20::new(seed.into(), &[0u8; 12].into());
    if offset != 0 {
        cipher.seek(offset);
    }
    cipher.write_keystream(out);
}

/// The keystream bytes `S[offset .. offset + len]` of `seed`.
pub fn keystream(seed: &[u8; 32], offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    keystream_into(seed, offset, &mut out);
    out
}

/// [`keystream_into`] split over rayon's pool (each chunk seeks the block counter).
pub fn keystream_into_parallel(seed: &[u8; 32], offset: u64, out: &mut [u8]) {
    let threads = rayon::current_num_threads().max(1);
    // Chunks of whole blocks, at least 64 KiB so that the split pays for itself.
    let chunk = out
        .len()
        .div_ceil(threads)
        .next_multiple_of(BLOCK)
        .max(64 * 1024);
    if chunk >= out.len() {
        keystream_into(seed, offset, out);
        return;
    }
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, part)| {
        keystream_into(seed, offset + (i * chunk) as u64, part);
    });
}
