//! Ed25519 (RFC 8032) keys and strict verification.

use crate::hash::{decode_hex_exact, HexError};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A 32-byte Ed25519 public key, hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

/// A 64-byte Ed25519 signature, hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("public key is not a canonical encoding of a curve point")]
    NonCanonicalKey,
    #[error("public key is a small-order (weak) point")]
    WeakKey,
    #[error("signature does not verify under the public key (strict RFC 8032 check)")]
    BadSignature,
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        decode_hex_exact::<32>(s).map(PublicKey)
    }

    /// Checks `sig` over `msg` strictly: the key must be a canonical, non-small-order point,
    /// the signature's `R` must not be small-order and `s` must be reduced (ed25519-dalek's
    /// `verify_strict`).
    ///
    /// A triple (key, message, signature) that verified is remembered ([`SIG_CACHE`]
    /// entries): the same transaction is checked when it enters the pool, when the block
    /// holding it is built or received, and at its isolation checks, and only the first
    /// check pays. Only successes are kept, under a salted hash of the whole triple, so an
    /// entry can only ever answer for exactly the triple that verified (Bitcoin Core's
    /// signature cache, for the same reason).
    pub fn verify_strict(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        let key = sig_cache::key(&self.0, &sig.0, msg);
        if sig_cache::contains(&key) {
            return Ok(());
        }
        let vk = self.checked_key()?;
        let s = ed25519_dalek::Signature::from_bytes(&sig.0);
        vk.verify_strict(msg, &s).map_err(|_| CryptoError::BadSignature)?;
        sig_cache::insert(key);
        Ok(())
    }

    /// The key as a curve point, once it is known canonical and not weak. Decompressing and
    /// re-encoding a key costs two field exponentiations, about a fifth of a verification,
    /// and the same few keys sign most messages (a block's senders, the validators), so each
    /// thread keeps the last [`KEY_CACHE`] keys that passed (a pure function of the 32 bytes:
    /// the cache changes no outcome). Keys that fail are not kept.
    fn checked_key(&self) -> Result<VerifyingKey, CryptoError> {
        thread_local! {
            static KEYS: std::cell::RefCell<std::collections::HashMap<[u8; 32], VerifyingKey>> = Default::default();
        }
        if let Some(vk) = KEYS.with(|k| k.borrow().get(&self.0).copied()) {
            return Ok(vk);
        }
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::NonCanonicalKey)?;
        // dalek decompresses non-canonical y (y >= p) without complaint; re-encoding exposes it.
        if vk.to_edwards().compress().to_bytes() != self.0 {
            return Err(CryptoError::NonCanonicalKey);
        }
        if vk.is_weak() {
            return Err(CryptoError::WeakKey);
        }
        KEYS.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() >= KEY_CACHE {
                k.clear();
            }
            k.insert(self.0, vk);
        });
        Ok(vk)
    }
}

/// Checked public keys each thread keeps ([`PublicKey::verify_strict`]): about 200 KiB.
pub const KEY_CACHE: usize = 1024;

/// Verified signatures remembered by the process ([`PublicKey::verify_strict`]): 32 bytes
/// each plus the set's overhead, about 6 MiB in all.
pub const SIG_CACHE: usize = 1 << 17;

/// The verified-signature cache: salted SHA-256 keys of (public key, signature, message) in
/// 16 shards (threads verifying in parallel rarely meet on a lock); a full shard is emptied,
/// which costs only re-verifications.
mod sig_cache {
    use sha2::{Digest, Sha256};
    use std::collections::HashSet;
    use std::sync::{LazyLock, Mutex};

    const SHARDS: usize = 16;

    struct Cache {
        salt: [u8; 32],
        shards: [Mutex<HashSet<[u8; 32]>>; SHARDS],
    }

    static CACHE: LazyLock<Cache> = LazyLock::new(|| {
        // A salt unknown outside this process: no one can aim inputs at one shard or entry.
        let mut salt = [0u8; 32];
        super::getrandom_fill(&mut salt);
        Cache { salt, shards: std::array::from_fn(|_| Mutex::new(HashSet::new())) }
    });

    pub fn key(public_key: &[u8; 32], signature: &[u8; 64], msg: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(CACHE.salt);
        h.update(public_key);
        h.update(signature);
        h.update(msg);
        h.finalize().into()
    }

    fn shard(key: &[u8; 32]) -> std::sync::MutexGuard<'static, HashSet<[u8; 32]>> {
        CACHE.shards[key[0] as usize % SHARDS].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(key: &[u8; 32]) -> bool {
        shard(key).contains(key)
    }

    pub fn insert(key: [u8; 32]) {
        let mut s = shard(&key);
        if s.len() >= super::SIG_CACHE / SHARDS {
            s.clear();
        }
        s.insert(key);
    }
}

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        decode_hex_exact::<64>(s).map(Signature)
    }
}

/// An Ed25519 secret key (the 32-byte seed). Never printed by `Debug`.
#[derive(Clone)]
pub struct SecretKey {
    inner: SigningKey,
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SecretKey { inner: SigningKey::from_bytes(bytes) }
    }
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        decode_hex_exact::<32>(s).map(|b| Self::from_bytes(&b))
    }
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom_fill(&mut seed);
        Self::from_bytes(&seed)
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.inner.verifying_key().to_bytes())
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.inner.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<hidden>, public {})", self.public_key().to_hex())
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("reading /dev/urandom");
}

macro_rules! hex_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$t>::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}
hex_serde!(PublicKey);
hex_serde!(Signature);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let sk = SecretKey::from_bytes(&[7u8; 32]);
        let sig = sk.sign(b"msg");
        assert_eq!(sk.public_key().verify_strict(b"msg", &sig), Ok(()));
        assert_eq!(sk.public_key().verify_strict(b"msh", &sig), Err(CryptoError::BadSignature));
    }

    #[test]
    fn the_key_cache_changes_no_outcome() {
        // More keys than the cache holds, each twice (the second time from the cache, or
        // decompressed again after the cache was cleared): same answers both times.
        let keys: Vec<SecretKey> = (0..KEY_CACHE as u32 + 10)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                SecretKey::from_bytes(&seed)
            })
            .collect();
        for _ in 0..2 {
            for (i, sk) in keys.iter().enumerate().step_by(97) {
                let sig = sk.sign(b"msg");
                assert_eq!(sk.public_key().verify_strict(b"msg", &sig), Ok(()), "key {i}");
                assert_eq!(sk.public_key().verify_strict(b"msh", &sig), Err(CryptoError::BadSignature), "key {i}");
                let other = &keys[(i + 1) % keys.len()];
                assert_eq!(other.public_key().verify_strict(b"msg", &sig), Err(CryptoError::BadSignature), "key {i}");
            }
            for sk in &keys {
                assert_eq!(sk.public_key().verify_strict(b"x", &sk.sign(b"x")), Ok(()));
            }
        }
        // A refused key is never kept: refused again, for the same reason.
        let mut id = [0u8; 32];
        id[0] = 1;
        for _ in 0..2 {
            assert_eq!(PublicKey(id).verify_strict(b"", &Signature([0u8; 64])), Err(CryptoError::WeakKey));
        }
    }

    #[test]
    fn the_signature_cache_answers_only_for_the_triple_that_verified() {
        let sk = SecretKey::from_bytes(&[11u8; 32]);
        let other = SecretKey::from_bytes(&[12u8; 32]);
        let sig = sk.sign(b"pay 5");
        for _ in 0..2 {
            assert_eq!(sk.public_key().verify_strict(b"pay 5", &sig), Ok(()));
            // Each part of the triple changed misses the cache and fails the real check.
            assert_eq!(sk.public_key().verify_strict(b"pay 6", &sig), Err(CryptoError::BadSignature));
            assert_eq!(other.public_key().verify_strict(b"pay 5", &sig), Err(CryptoError::BadSignature));
            let mut bent = sig;
            bent.0[63] ^= 0x40;
            assert!(sk.public_key().verify_strict(b"pay 5", &bent).is_err());
        }
        // Failures are never kept: a bad signature checked twice fails twice, and does not
        // become good after its good twin verified.
        let bad = Signature([3u8; 64]);
        assert!(sk.public_key().verify_strict(b"pay 5", &bad).is_err());
        assert!(sk.public_key().verify_strict(b"pay 5", &bad).is_err());
    }

    #[test]
    fn small_order_key_is_refused() {
        // The identity point (y = 1) has order 1.
        let mut id = [0u8; 32];
        id[0] = 1;
        let sig = Signature([0u8; 64]);
        assert_eq!(PublicKey(id).verify_strict(b"", &sig), Err(CryptoError::WeakKey));
    }

    #[test]
    fn non_canonical_key_is_refused() {
        // y = p + 1 (non-canonical encoding of y = 1): 2^255 - 19 + 1 = ...ee ff..ff 7f
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        let sig = Signature([0u8; 64]);
        assert_eq!(PublicKey(y).verify_strict(b"", &sig), Err(CryptoError::NonCanonicalKey));
    }

    #[test]
    fn unreduced_s_is_refused() {
        let sk = SecretKey::from_bytes(&[9u8; 32]);
        let mut sig = sk.sign(b"m");
        // s + l (the group order) verifies under a lax check but is not canonical.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = sig.0[32 + i] as u16 + L[i] as u16 + carry;
            sig.0[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(sk.public_key().verify_strict(b"m", &sig), Err(CryptoError::BadSignature));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let sk = SecretKey::from_bytes(&[0xabu8; 32]);
        assert!(!format!("{sk:?}").contains(&sk.to_hex()));
    }
}
