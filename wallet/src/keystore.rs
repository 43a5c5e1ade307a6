//! The operator keystore: Ed25519 secret keys encrypted at rest (`cpcd key …`), one JSON file
//! per key named `<address>.json` in `<datadir>/keystore/` or `--keystore DIR`.
//!
//! Format version 1 (docs/KEYSTORE.md): the 32-byte secret seed is encrypted with
//! XChaCha20-Poly1305 under a key derived from the password by Argon2id; the associated data
//! is `"CPC-KEYSTORE-V1:" ‖ CJ(the file object without "ciphertext")`, so the address, the
//! public key, the KDF parameters, the salt and the nonce are all authenticated.
//!
//! Secrets never reach logs, errors or `Debug` output: the only place a secret is printed is
//! `cpcd key export ADDRESS --i-understand-this-prints-the-secret`, after the password.
//!
//! Every failure is a [`KeystoreError`] variant (saying what was expected and what was
//! found); the `cpcd key` commands are in [`crate::key`].

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use cpc_primitives::{cjson, Address, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

mod error;
mod file;
#[cfg(test)]
mod tests;

pub use error::KeystoreError;
use file::{ensure_dir, parse_key_file, read_key_file, write_new_file};

type Result<T> = std::result::Result<T, KeystoreError>;

/// `format` of a key file.
pub const FORMAT: &str = "cpc-keystore";
/// The key file version this code writes and reads.
pub const VERSION: u32 = 1;
/// The KDF of version 1.
pub const KDF_NAME: &str = "argon2id";
/// Argon2 version 1.3 (0x13), the only one version 1 uses.
pub const ARGON2_VERSION: u32 = 0x13;
/// The AEAD of version 1.
pub const CIPHER_NAME: &str = "xchacha20-poly1305";
/// Domain prefix of the AEAD associated data.
pub const AAD_PREFIX: &[u8] = b"CPC-KEYSTORE-V1:";
/// Set to `1` to write keys with tiny, insecure KDF parameters: for tests on shared machines
/// only (the parameters are stored in the file, so reading never depends on it).
pub const INSECURE_TEST_KDF_ENV: &str = "CPCD_INSECURE_TEST_KDF";

const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// A key file is ~600 bytes; anything far larger is not one (and is not read into memory).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

/// Production parameters: RFC 9106 §4's second recommended option (64 MiB, 3 passes,
/// 4 lanes; ~0.1–0.3 s on one modern core, computed in parallel lanes where cores allow).
pub const DEFAULT_KDF: KdfCost = KdfCost { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 4 };
/// Test parameters (`CPCD_INSECURE_TEST_KDF=1`, unit tests): 256 KiB, 1 pass, 1 lane.
pub const INSECURE_TEST_KDF: KdfCost = KdfCost { m_cost_kib: 256, t_cost: 1, p_cost: 1 };
/// Reading refuses parameters beyond these (a corrupted or hostile file must not make an
/// unlock allocate terabytes or run for hours).
const MAX_KDF: KdfCost = KdfCost { m_cost_kib: 4 * 1024 * 1024, t_cost: 64, p_cost: 64 };

/// A key file, exactly (unknown fields are refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFile {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) address: Address,
    pub(crate) public_key: PublicKey,
    pub(crate) kdf: KdfSection,
    pub(crate) cipher: CipherSection,
    /// Hex of the encrypted 32-byte seed followed by the 16-byte Poly1305 tag.
    pub(crate) ciphertext: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KdfSection {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) m_cost_kib: u32,
    pub(crate) t_cost: u32,
    pub(crate) p_cost: u32,
    pub(crate) salt: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CipherSection {
    pub(crate) name: String,
    pub(crate) nonce: String,
}
impl KeyFile {
    pub(crate) fn cost(&self) -> KdfCost {
        KdfCost { m_cost_kib: self.kdf.m_cost_kib, t_cost: self.kdf.t_cost, p_cost: self.kdf.p_cost }
    }

    /// `"CPC-KEYSTORE-V1:" ‖ CJ(file without "ciphertext")`.
    fn associated_data(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("a key file serializes");
        v.as_object_mut().expect("an object").remove("ciphertext");
        let mut out = AAD_PREFIX.to_vec();
        cjson::write_canonical(&v, &mut out).expect("a key file has no floats");
        out
    }

    /// Checks everything that can be checked without the password (`path` names the file in
    /// errors).
    fn check_shape(&self, path: &Path) -> Result<()> {
        let path_buf = || path.to_path_buf();
        if self.format != FORMAT {
            return Err(KeystoreError::NotAKeyFile { path: path_buf(), found: Some(self.format.clone()) });
        }
        if self.version != VERSION {
            return Err(KeystoreError::UnsupportedVersion { path: path_buf(), found: self.version.into() });
        }
        if self.kdf.name != KDF_NAME || self.kdf.version != ARGON2_VERSION {
            return Err(KeystoreError::UnsupportedKdf {
                path: path_buf(),
                name: self.kdf.name.clone(),
                version: self.kdf.version,
            });
        }
        let c = self.cost();
        if c.t_cost == 0
            || c.p_cost == 0
            || c.m_cost_kib < 8 * c.p_cost
            || c.m_cost_kib > MAX_KDF.m_cost_kib
            || c.t_cost > MAX_KDF.t_cost
            || c.p_cost > MAX_KDF.p_cost
        {
            return Err(KeystoreError::KdfCostOutOfRange { path: path_buf(), cost: c });
        }
        if self.cipher.name != CIPHER_NAME {
            return Err(KeystoreError::UnsupportedCipher { path: path_buf(), name: self.cipher.name.clone() });
        }
        hex_exact(&self.kdf.salt, SALT_LEN, "kdf.salt", path)?;
        hex_exact(&self.cipher.nonce, NONCE_LEN, "cipher.nonce", path)?;
        hex_exact(&self.ciphertext, SECRET_LEN + TAG_LEN, "ciphertext", path)?;
        let derived = Address::from_public_key(&self.public_key);
        if derived != self.address {
            return Err(KeystoreError::AddressNotOfPublicKey {
                path: path_buf(),
                address: self.address,
                public_key: self.public_key,
                derived,
            });
        }
        Ok(())
    }
}

/// Exactly `n` bytes as `2n` lowercase hex digits.
fn hex_exact(s: &str, n: usize, field: &'static str, path: &Path) -> Result<Vec<u8>> {
    let non_hex = !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if s.len() != 2 * n || non_hex {
        return Err(KeystoreError::BadHex {
            path: path.to_path_buf(),
            field,
            expected_digits: 2 * n,
            found_chars: s.chars().count(),
            non_hex,
        });
    }
    Ok(hex::decode(s).expect("checked"))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(KeystoreError::NoRandomness)?;
    Ok(b)
}

fn derive_key(password: &str, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(cost.m_cost_kib, cost.t_cost, cost.p_cost, Some(32))
        .map_err(KeystoreError::KdfParams)?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password.as_bytes(), salt, &mut key[..]).map_err(KeystoreError::Kdf)?;
    Ok(key)
}

fn encrypt(sk: &SecretKey, password: &str, cost: KdfCost) -> Result<KeyFile> {
    let salt: [u8; SALT_LEN] = random()?;
    let nonce: [u8; NONCE_LEN] = random()?;
    let pk = sk.public_key();
    let mut kf = KeyFile {
        format: FORMAT.into(),
        version: VERSION,
        address: Address::from_public_key(&pk),
        public_key: pk,
        kdf: KdfSection {
            name: KDF_NAME.into(),
            version: ARGON2_VERSION,
            m_cost_kib: cost.m_cost_kib,
            t_cost: cost.t_cost,
            p_cost: cost.p_cost,
            salt: hex::encode(salt),
        },
        cipher: CipherSection { name: CIPHER_NAME.into(), nonce: hex::encode(nonce) },
        ciphertext: String::new(),
    };
    let key = derive_key(password, &salt, cost)?;
    let aad = kf.associated_data();
    let seed = Zeroizing::new(sk.to_bytes());
    let cipher = XChaCha20Poly1305::new_from_slice(&key[..]).expect("32-byte key");
    let ct = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: &seed[..], aad: &aad })
        .map_err(|_| KeystoreError::Encryption)?;
    kf.ciphertext = hex::encode(ct);
    Ok(kf)
}

/// Decrypts a checked key file. The error for a failed tag names no detail on purpose: a
/// wrong password and a modified file are indistinguishable.
fn decrypt(kf: &KeyFile, password: &str, path: &Path) -> Result<SecretKey> {
    let salt = hex_exact(&kf.kdf.salt, SALT_LEN, "kdf.salt", path)?;
    let nonce: [u8; NONCE_LEN] =
        hex_exact(&kf.cipher.nonce, NONCE_LEN, "cipher.nonce", path)?.try_into().expect("length");
    let ct = hex_exact(&kf.ciphertext, SECRET_LEN + TAG_LEN, "ciphertext", path)?;
    let key = derive_key(password, &salt, kf.cost())?;
    let cipher = XChaCha20Poly1305::new_from_slice(&key[..]).expect("32-byte key");
    let plain = Zeroizing::new(
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &ct, aad: &kf.associated_data() })
            .map_err(|_| KeystoreError::WrongPassword { path: path.to_path_buf() })?,
    );
    let seed: Zeroizing<[u8; SECRET_LEN]> = Zeroizing::new(
        plain
            .as_slice()
            .try_into()
            .map_err(|_| KeystoreError::BadSeedLength { path: path.to_path_buf(), found: plain.len() })?,
    );
    let sk = SecretKey::from_bytes(&seed);
    if sk.public_key() != kf.public_key {
        return Err(KeystoreError::DecryptedKeyMismatch { path: path.to_path_buf() });
    }
    Ok(sk)
}

fn kdf_cost_for_new_keys() -> KdfCost {
    if std::env::var(INSECURE_TEST_KDF_ENV).is_ok_and(|v| v == "1") {
        eprintln!("warning: {INSECURE_TEST_KDF_ENV}=1: writing the key with insecure test KDF parameters");
        INSECURE_TEST_KDF
    } else {
        DEFAULT_KDF
    }
}

// --- files ---------------------------------------------------------------------------------

/// `<datadir>/keystore`.
pub fn default_dir(datadir: &Path) -> PathBuf {
    datadir.join("keystore")
}

/// The file of `address` in `dir`.
pub fn key_path(dir: &Path, address: &Address) -> PathBuf {
    dir.join(format!("{address}.json"))
}

/// The checked key file of `address` in `dir`, and its path.
pub(crate) fn load(dir: &Path, address: &Address) -> Result<(PathBuf, KeyFile)> {
    let path = key_path(dir, address);
    if !path.exists() {
        return Err(KeystoreError::KeyNotFound { address: *address, dir: dir.to_path_buf() });
    }
    let kf = read_key_file(&path)?;
    if kf.address != *address {
        return Err(KeystoreError::WrongAddress { path, expected: *address, found: kf.address });
    }
    Ok((path, kf))
}

fn create_with(dir: &Path, sk: &SecretKey, password: &str, cost: KdfCost) -> Result<PathBuf> {
    let address = Address::from_public_key(&sk.public_key());
    ensure_dir(dir)?;
    let path = key_path(dir, &address);
    if path.exists() {
        return Err(KeystoreError::KeyExists { address, dir: dir.to_path_buf(), path });
    }
    let kf = encrypt(sk, password, cost)?;
    let mut text = serde_json::to_vec_pretty(&kf).expect("a key file serializes");
    text.push(b'\n');
    write_new_file(&path, &text)?;
    Ok(path)
}

// --- the API the node uses -----------------------------------------------------------------

/// Encrypts `sk` under `password` into a new key file in `dir` (created 0700 if missing);
/// the file is `<address>.json`, mode 0600. Refuses to replace an existing key.
pub fn create(dir: &Path, sk: &SecretKey, password: &str) -> Result<PathBuf> {
    create_with(dir, sk, password, kdf_cost_for_new_keys())
}

/// Decrypts the key of `address` from `dir`. A wrong password fails with
/// [`KeystoreError::WrongPassword`] ("wrong password or corrupted key file …"); a key file
/// open to group or others is refused.
pub fn unlock(dir: &Path, address: &Address, password: &str) -> Result<SecretKey> {
    let (path, kf) = load(dir, address)?;
    decrypt(&kf, password, &path)
}

/// The address and KDF cost a key file's bytes claim, checked as [`unlock`] checks them
/// before asking for the password (format, version, KDF and cipher names, cost bounds, hex
/// lengths, address of the public key). For untrusted bytes: the fuzz target `keystore`.
pub fn check_key_file_bytes(text: &[u8]) -> Result<(Address, KdfCost)> {
    let kf = parse_key_file(text, Path::new("<bytes>"))?;
    Ok((kf.address, kf.cost()))
}

/// The addresses of the key files (`<address>.json`) in `dir`, sorted; each file is read and
/// checked (format, permissions). A missing directory holds no keys.
pub fn list(dir: &Path) -> Result<Vec<Address>> {
    Ok(scan(dir)?.into_iter().map(|(a, _, _)| a).collect())
}

/// Every key of `dir` with its path and checked file, sorted by address.
pub(crate) fn scan(dir: &Path) -> Result<Vec<(Address, PathBuf, KeyFile)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let read_err = |source| KeystoreError::Io { action: "reading keystore directory", path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
        let Ok(address) = stem.parse::<Address>() else { continue };
        let (path, kf) = load(dir, &address)?;
        out.push((address, path, kf));
    }
    out.sort_by_key(|a| a.0);
    Ok(out)
}

/// The first line of `password_file` (a trailing `\n` or `\r\n` removed), or, without a
/// file, a hidden prompt on the terminal.
pub fn read_password(password_file: Option<&Path>, prompt: &str) -> Result<String> {
    match password_file {
        Some(p) => {
            let text = Zeroizing::new(fs::read_to_string(p).map_err(|source| KeystoreError::Io {
                action: "reading password file",
                path: p.to_path_buf(),
                source,
            })?);
            let line = text.split('\n').next().unwrap_or("");
            Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
        }
        None => rpassword::prompt_password(prompt).map_err(|error| KeystoreError::NoTerminal { error }),
    }
}

/// A password for a new key: from the file, or asked twice on the terminal. Empty refused.
pub fn read_new_password(password_file: Option<&Path>) -> Result<Zeroizing<String>> {
    let pw = Zeroizing::new(read_password(password_file, "New password for the key: ")?);
    if password_file.is_none() {
        let again = Zeroizing::new(read_password(None, "Repeat the password: ")?);
        if *again != *pw {
            return Err(KeystoreError::PasswordsDiffer);
        }
    }
    if pw.is_empty() {
        return Err(KeystoreError::EmptyPassword);
    }
    Ok(pw)
}

/// Parses a secret key written as 64 hex digits (either case, optional `0x`, surrounding
/// whitespace ignored). Errors never quote the input.
pub fn parse_secret_hex(text: &str) -> Result<SecretKey> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let non_hex = !t.bytes().all(|b| b.is_ascii_hexdigit());
    let bad = || KeystoreError::BadSecretHex { found_chars: t.chars().count(), non_hex };
    if t.len() != 2 * SECRET_LEN || non_hex {
        return Err(bad());
    }
    let mut seed = Zeroizing::new([0u8; SECRET_LEN]);
    hex::decode_to_slice(t, &mut seed[..]).map_err(|_| bad())?;
    Ok(SecretKey::from_bytes(&seed))
}
