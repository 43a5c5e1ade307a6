//! The keystore's errors: one variant per failure, each saying what was expected and what
//! was found. No variant ever holds a secret, a derived key or a password.
//!
//! An underlying error (I/O, JSON, the OS random source, Argon2) is the variant's `source()`
//! and is not repeated in its `Display`; print with anyhow's `{:#}` (as `cpcd` does) for
//! "reading key file …: No such file or directory (os error 2)".

use super::{KdfCost, ARGON2_VERSION, CIPHER_NAME, FORMAT, KDF_NAME, MAX_KDF, MAX_KEY_FILE_BYTES, SECRET_LEN, VERSION};
use cpc_primitives::{Address, PublicKey};
use std::path::PathBuf;

/// Why a keystore operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    // --- finding keys ----------------------------------------------------------------------
    /// `<address>.json` is not in the keystore.
    #[error("no key for {address} in keystore {} (`cpcd key list --keystore {}` shows its keys)", .dir.display(), .dir.display())]
    KeyNotFound { address: Address, dir: PathBuf },
    /// `create`: the keystore already holds a key for this address.
    #[error("a key for {address} already exists in keystore {}: {}", .dir.display(), .path.display())]
    KeyExists { address: Address, dir: PathBuf, path: PathBuf },
    /// A new file's name is taken (it is never replaced).
    #[error("{} already exists: refusing to overwrite it", .path.display())]
    FileExists { path: PathBuf },
    /// No `--keystore DIR` and no `--datadir DIR`.
    #[error("no keystore given: pass --keystore DIR or --datadir DIR")]
    NoKeystoreGiven,
    /// The keystore path exists but is not a directory.
    #[error("keystore {} is not a directory", .path.display())]
    NotADirectory { path: PathBuf },
    /// A key file path without a directory part.
    #[error("{} has no parent directory", .path.display())]
    NoParentDirectory { path: PathBuf },
    /// An I/O operation on `path` failed; `action` says which ("reading key file", …).
    #[error("{action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // --- the key file itself ---------------------------------------------------------------
    /// The file is open to group or others (any bit of 0o077), as ssh refuses private keys.
    #[error(
        "permissions {mode:04o} for key file {p} are too open: it must not be accessible by group or others; refusing to use it (run `chmod 600 {p}`)",
        p = .path.display()
    )]
    PermissionsTooOpen { path: PathBuf, mode: u32 },
    /// The path is a directory, a device, ….
    #[error("key file {} is not a regular file", .path.display())]
    NotARegularFile { path: PathBuf },
    /// Far larger than any key file (which is not then read into memory).
    #[error("key file {} is {size} bytes: too large to be a key file (at most {max} bytes)", .path.display(), max = MAX_KEY_FILE_BYTES)]
    FileTooLarge { path: PathBuf, size: u64 },
    /// The file is not JSON at all.
    #[error("key file {}: not JSON", .path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `format` is missing or is not `"cpc-keystore"`.
    #[error("key file {}: not a cpc key file ({})", .path.display(), describe_format(.found))]
    NotAKeyFile { path: PathBuf, found: Option<String> },
    /// A `version` this code does not read (checked before any other field).
    #[error("key file {}: unsupported version {found} (this cpcd reads version {v})", .path.display(), v = VERSION)]
    UnsupportedVersion { path: PathBuf, found: u64 },
    /// `version` is missing or not a non-negative integer.
    #[error("key file {}: no \"version\" (this cpcd reads version {v})", .path.display(), v = VERSION)]
    NoVersion { path: PathBuf },
    /// A missing, unknown or mistyped field (serde's message names it).
    #[error("key file {}", .path.display())]
    BadFields {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Not Argon2id version 0x13.
    #[error(
        "key file {}: unsupported KDF {name:?} version {version} (expected {n:?} version {v})",
        .path.display(), n = KDF_NAME, v = ARGON2_VERSION
    )]
    UnsupportedKdf { path: PathBuf, name: String, version: u32 },
    /// KDF costs outside what reading allows (refused before running the KDF).
    #[error(
        "key file {}: KDF parameters out of range (m_cost_kib {}, t_cost {}, p_cost {}; allowed: 8·p_cost ≤ m_cost_kib ≤ {}, 1 ≤ t_cost ≤ {}, 1 ≤ p_cost ≤ {})",
        .path.display(), .cost.m_cost_kib, .cost.t_cost, .cost.p_cost, MAX_KDF.m_cost_kib, MAX_KDF.t_cost, MAX_KDF.p_cost
    )]
    KdfCostOutOfRange { path: PathBuf, cost: KdfCost },
    /// Not XChaCha20-Poly1305.
    #[error("key file {}: unsupported cipher {name:?} (expected {c:?})", .path.display(), c = CIPHER_NAME)]
    UnsupportedCipher { path: PathBuf, name: String },
    /// A hex field (salt, nonce, ciphertext) of the wrong length or not lowercase hex.
    #[error(
        "key file {}: {field}: expected {expected_digits} lowercase hex digits, found {found_chars} characters{}",
        .path.display(), if *.non_hex { " including non-lowercase-hex ones" } else { "" }
    )]
    BadHex { path: PathBuf, field: &'static str, expected_digits: usize, found_chars: usize, non_hex: bool },
    /// `address` is not derived from `public_key`.
    #[error("key file {}: address {address} is not the address of public_key {public_key} (that is {derived})", .path.display())]
    AddressNotOfPublicKey { path: PathBuf, address: Address, public_key: PublicKey, derived: Address },
    /// The file named `<expected>.json` holds another address's key.
    #[error("key file {} holds the key of {found}, not {expected}", .path.display())]
    WrongAddress { path: PathBuf, expected: Address, found: Address },

    // --- decryption ------------------------------------------------------------------------
    /// The Poly1305 tag failed: a wrong password and a modified file cannot be told apart.
    #[error("wrong password or corrupted key file {}", .path.display())]
    WrongPassword { path: PathBuf },
    /// The plaintext is not a 32-byte seed.
    #[error("corrupted key file {}: the decrypted seed is {found} bytes, expected {e}", .path.display(), e = SECRET_LEN)]
    BadSeedLength { path: PathBuf, found: usize },
    /// The decrypted seed's public key is not the file's `public_key`.
    #[error("corrupted key file {}: the decrypted key does not match public_key", .path.display())]
    DecryptedKeyMismatch { path: PathBuf },

    // --- crypto primitives -----------------------------------------------------------------
    /// Argon2 refused the cost parameters.
    #[error("KDF parameters")]
    KdfParams(#[source] argon2::Error),
    /// Argon2 failed while deriving the key.
    #[error("KDF")]
    Kdf(#[source] argon2::Error),
    /// The AEAD refused to encrypt.
    #[error("encryption failed")]
    Encryption,
    /// The OS random source failed (salts, nonces, temporary names).
    #[error("no randomness from the operating system")]
    NoRandomness(#[source] getrandom::Error),

    // --- passwords and secrets -------------------------------------------------------------
    /// No `--password-file` and no terminal to prompt on.
    #[error("cannot ask for the password on a terminal ({error}): pass --password-file FILE")]
    NoTerminal { error: std::io::Error },
    /// The two entries of a new password differ.
    #[error("the passwords do not match")]
    PasswordsDiffer,
    /// A new key's password is empty.
    #[error("empty password: the key file would be protected by nothing")]
    EmptyPassword,
    /// An imported secret is not 64 hex digits (described by its length only, never quoted).
    #[error(
        "the secret key must be exactly {e} hex digits (32 bytes); found {found_chars} characters{}",
        if *.non_hex { " including non-hex ones" } else { "" }, e = 2 * SECRET_LEN
    )]
    BadSecretHex { found_chars: usize, non_hex: bool },
}

fn describe_format(found: &Option<String>) -> String {
    match found {
        None => format!("no \"format\": {FORMAT:?}"),
        Some(f) => format!("format {f:?}, expected {FORMAT:?}"),
    }
}
