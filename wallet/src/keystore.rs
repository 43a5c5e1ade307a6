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

use anyhow::{anyhow, bail, Context, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use clap::{Args, Subcommand};
use cpc_primitives::{cjson, Address, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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
struct KeyFile {
    format: String,
    version: u32,
    address: Address,
    public_key: PublicKey,
    kdf: KdfSection,
    cipher: CipherSection,
    /// Hex of the encrypted 32-byte seed followed by the 16-byte Poly1305 tag.
    ciphertext: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfSection {
    name: String,
    version: u32,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherSection {
    name: String,
    nonce: String,
}

impl KeyFile {
    fn cost(&self) -> KdfCost {
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

    /// Checks everything that can be checked without the password.
    fn check_shape(&self) -> Result<()> {
        if self.format != FORMAT {
            bail!("not a cpc key file (format {:?}, expected {FORMAT:?})", self.format);
        }
        if self.version != VERSION {
            bail!("unsupported key file version {} (this cpcd reads version {VERSION})", self.version);
        }
        if self.kdf.name != KDF_NAME || self.kdf.version != ARGON2_VERSION {
            bail!(
                "unsupported KDF {:?} version {} (expected {KDF_NAME:?} version {ARGON2_VERSION})",
                self.kdf.name,
                self.kdf.version
            );
        }
        let c = self.cost();
        if c.t_cost == 0
            || c.p_cost == 0
            || c.m_cost_kib < 8 * c.p_cost
            || c.m_cost_kib > MAX_KDF.m_cost_kib
            || c.t_cost > MAX_KDF.t_cost
            || c.p_cost > MAX_KDF.p_cost
        {
            bail!(
                "KDF parameters out of range (m_cost_kib {}, t_cost {}, p_cost {}; allowed: 8·p_cost ≤ m_cost_kib ≤ {}, 1 ≤ t_cost ≤ {}, 1 ≤ p_cost ≤ {})",
                c.m_cost_kib,
                c.t_cost,
                c.p_cost,
                MAX_KDF.m_cost_kib,
                MAX_KDF.t_cost,
                MAX_KDF.p_cost
            );
        }
        if self.cipher.name != CIPHER_NAME {
            bail!("unsupported cipher {:?} (expected {CIPHER_NAME:?})", self.cipher.name);
        }
        hex_exact(&self.kdf.salt, SALT_LEN, "kdf.salt")?;
        hex_exact(&self.cipher.nonce, NONCE_LEN, "cipher.nonce")?;
        hex_exact(&self.ciphertext, SECRET_LEN + TAG_LEN, "ciphertext")?;
        if Address::from_public_key(&self.public_key) != self.address {
            bail!("address {} is not the address of public_key {}", self.address, self.public_key);
        }
        Ok(())
    }
}

fn hex_exact(s: &str, n: usize, field: &str) -> Result<Vec<u8>> {
    let ok = s.len() == 2 * n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !ok {
        bail!("{field}: expected {} lowercase hex digits, found {} characters", 2 * n, s.len());
    }
    Ok(hex::decode(s).expect("checked"))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no randomness from the operating system: {e}"))?;
    Ok(b)
}

fn derive_key(password: &str, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(cost.m_cost_kib, cost.t_cost, cost.p_cost, Some(32))
        .map_err(|e| anyhow!("KDF parameters: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password.as_bytes(), salt, &mut key[..]).map_err(|e| anyhow!("KDF: {e}"))?;
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
        .map_err(|_| anyhow!("encryption failed"))?;
    kf.ciphertext = hex::encode(ct);
    Ok(kf)
}

/// Decrypts a checked key file. The error for a failed tag names no detail on purpose: a
/// wrong password and a modified file are indistinguishable.
fn decrypt(kf: &KeyFile, password: &str, path: &Path) -> Result<SecretKey> {
    let salt = hex_exact(&kf.kdf.salt, SALT_LEN, "kdf.salt")?;
    let nonce: [u8; NONCE_LEN] = hex_exact(&kf.cipher.nonce, NONCE_LEN, "cipher.nonce")?.try_into().expect("length");
    let ct = hex_exact(&kf.ciphertext, SECRET_LEN + TAG_LEN, "ciphertext")?;
    let key = derive_key(password, &salt, kf.cost())?;
    let cipher = XChaCha20Poly1305::new_from_slice(&key[..]).expect("32-byte key");
    let plain = Zeroizing::new(
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &ct, aad: &kf.associated_data() })
            .map_err(|_| anyhow!("wrong password or corrupted key file {}", path.display()))?,
    );
    let seed: Zeroizing<[u8; SECRET_LEN]> =
        Zeroizing::new(plain.as_slice().try_into().map_err(|_| anyhow!("corrupted key file {}", path.display()))?);
    let sk = SecretKey::from_bytes(&seed);
    if sk.public_key() != kf.public_key {
        bail!("corrupted key file {}: the decrypted key does not match public_key", path.display());
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

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// Refuses a key file that group or others may access (as ssh does for private keys).
#[cfg(unix)]
fn check_file_mode(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let mode = mode_of(meta);
    if mode & 0o077 != 0 {
        bail!(
            "permissions {mode:04o} for key file {p} are too open: it must not be accessible by group or others; refusing to use it (run `chmod 600 {p}`)",
            p = path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file_mode(_path: &Path, _meta: &fs::Metadata) -> Result<()> {
    Ok(())
}

fn read_key_file(path: &Path) -> Result<KeyFile> {
    let meta = fs::metadata(path).with_context(|| format!("key file {}", path.display()))?;
    if !meta.is_file() {
        bail!("key file {} is not a regular file", path.display());
    }
    check_file_mode(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        bail!("key file {} is {} bytes: too large to be a key file", path.display(), meta.len());
    }
    let text = fs::read(path).with_context(|| format!("reading key file {}", path.display()))?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| anyhow!("key file {}: not JSON: {e}", path.display()))?;
    // Version first, so that a newer file says so instead of failing on its new fields.
    if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
        bail!("key file {}: not a cpc key file (no \"format\": {FORMAT:?})", path.display());
    }
    match v.get("version").and_then(Value::as_u64) {
        Some(n) if n == VERSION as u64 => {}
        Some(n) => bail!("key file {}: unsupported version {n} (this cpcd reads version {VERSION})", path.display()),
        None => bail!("key file {}: no \"version\"", path.display()),
    }
    let kf: KeyFile = serde_json::from_value(v).map_err(|e| anyhow!("key file {}: {e}", path.display()))?;
    kf.check_shape().with_context(|| format!("key file {}", path.display()))?;
    Ok(kf)
}

fn load(dir: &Path, address: &Address) -> Result<(PathBuf, KeyFile)> {
    let path = key_path(dir, address);
    if !path.exists() {
        bail!("no key for {address} in keystore {} (`cpcd key list --keystore {}` shows its keys)", dir.display(), dir.display());
    }
    let kf = read_key_file(&path)?;
    if kf.address != *address {
        bail!("key file {} holds the key of {}, not {address}", path.display(), kf.address);
    }
    Ok((path, kf))
}

/// Creates `dir` (and missing parents) with mode 0700; warns when an existing one is open
/// to group or others.
fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).with_context(|| format!("creating keystore directory {}", dir.display()))?;
    }
    let meta = fs::metadata(dir).with_context(|| format!("keystore directory {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("keystore {} is not a directory", dir.display());
    }
    #[cfg(unix)]
    {
        let mode = mode_of(&meta);
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: keystore directory {} is accessible by group or others (mode {mode:04o}); consider `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Writes `bytes` to a new file `path` with mode 0600, never replacing an existing file: a
/// temporary file in the same directory, synced, then hard-linked into place (fails if the
/// name exists) and the directory synced.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| anyhow!("{} has no parent directory", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().unwrap().to_string_lossy(), hex::encode(random::<8>()?)));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| -> Result<()> {
        let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow!("{} already exists: refusing to overwrite it", path.display())
            } else {
                anyhow!("writing {}: {e}", path.display())
            }
        })?;
        Ok(())
    })();
    let _ = fs::remove_file(&tmp);
    result?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create_with(dir: &Path, sk: &SecretKey, password: &str, cost: KdfCost) -> Result<PathBuf> {
    let address = Address::from_public_key(&sk.public_key());
    ensure_dir(dir)?;
    let path = key_path(dir, &address);
    if path.exists() {
        bail!("a key for {address} already exists in keystore {}: {}", dir.display(), path.display());
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

/// Decrypts the key of `address` from `dir`. A wrong password fails with "wrong password or
/// corrupted key file …"; a key file open to group or others is refused.
pub fn unlock(dir: &Path, address: &Address, password: &str) -> Result<SecretKey> {
    let (path, kf) = load(dir, address)?;
    decrypt(&kf, password, &path)
}

/// The addresses of the key files (`<address>.json`) in `dir`, sorted; each file is read and
/// checked (format, permissions). A missing directory holds no keys.
pub fn list(dir: &Path) -> Result<Vec<Address>> {
    Ok(scan(dir)?.into_iter().map(|(a, _, _)| a).collect())
}

fn scan(dir: &Path) -> Result<Vec<(Address, PathBuf, KeyFile)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading keystore directory {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
        let Ok(address) = stem.parse::<Address>() else { continue };
        let (path, kf) = load(dir, &address)?;
        out.push((address, path, kf));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The first line of `password_file` (a trailing `\n` or `\r\n` removed), or, without a
/// file, a hidden prompt on the terminal.
pub fn read_password(password_file: Option<&Path>, prompt: &str) -> Result<String> {
    match password_file {
        Some(p) => {
            let text = Zeroizing::new(
                fs::read_to_string(p).with_context(|| format!("reading password file {}", p.display()))?,
            );
            let line = text.split('\n').next().unwrap_or("");
            Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
        }
        None => rpassword::prompt_password(prompt)
            .map_err(|e| anyhow!("cannot ask for the password on a terminal ({e}): pass --password-file FILE")),
    }
}

/// A password for a new key: from the file, or asked twice on the terminal. Empty refused.
fn read_new_password(password_file: Option<&Path>) -> Result<Zeroizing<String>> {
    let pw = Zeroizing::new(read_password(password_file, "New password for the key: ")?);
    if password_file.is_none() {
        let again = Zeroizing::new(read_password(None, "Repeat the password: ")?);
        if *again != *pw {
            bail!("the passwords do not match");
        }
    }
    if pw.is_empty() {
        bail!("empty password: the key file would be protected by nothing");
    }
    Ok(pw)
}

/// Parses a secret key written as 64 hex digits (either case, optional `0x`, surrounding
/// whitespace ignored). Errors never quote the input.
pub fn parse_secret_hex(text: &str) -> Result<SecretKey> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.len() != 2 * SECRET_LEN || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "the secret key must be exactly {} hex digits (32 bytes); found {} characters{}",
            2 * SECRET_LEN,
            t.chars().count(),
            if t.bytes().all(|b| b.is_ascii_hexdigit()) { "" } else { " including non-hex ones" }
        );
    }
    let mut seed = Zeroizing::new([0u8; SECRET_LEN]);
    hex::decode_to_slice(t, &mut seed[..]).map_err(|_| anyhow!("the secret key is not valid hex"))?;
    Ok(SecretKey::from_bytes(&seed))
}

// --- CLI -----------------------------------------------------------------------------------

/// Where keys live and how the password is given (shared by `cpcd key` and `cpcd tx`).
#[derive(Args, Debug, Clone, Default)]
pub struct KeystoreArgs {
    /// Keystore directory (default: <DATADIR>/keystore).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "datadir")]
    pub keystore: Option<PathBuf>,
    /// Data directory; its keystore/ subdirectory holds the keys.
    #[arg(long, global = true, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Read the password from the first line of FILE instead of prompting on the terminal.
    #[arg(long = "password-file", global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl KeystoreArgs {
    pub fn dir(&self) -> Result<PathBuf> {
        match (&self.keystore, &self.datadir) {
            (Some(k), _) => Ok(k.clone()),
            (None, Some(d)) => Ok(default_dir(d)),
            (None, None) => bail!("no keystore given: pass --keystore DIR or --datadir DIR"),
        }
    }
}

/// `cpcd key …`.
#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub cmd: KeyCmd,
    #[command(flatten)]
    pub store: KeystoreArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Generate a new key and store it encrypted (asks for the password twice).
    New {
        /// Print {address, public_key, file} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the addresses whose keys are in the keystore.
    List {
        /// Print [{address, public_key, file}] as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a key's address, public key, file and encryption parameters (never the secret;
    /// no password needed).
    Show {
        address: Address,
        #[arg(long)]
        json: bool,
    },
    /// Import a 32-byte Ed25519 secret key written as 64 hex digits, read from --secret-file
    /// or from stdin (hidden prompt on a terminal); never from the command line.
    Import {
        /// File whose content is the secret key in hex.
        #[arg(long = "secret-file", value_name = "FILE")]
        secret_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print a key's secret (64 hex digits) on stdout, after the password. Needs
    /// --i-understand-this-prints-the-secret.
    Export {
        address: Address,
        /// Confirms that you want the unencrypted secret printed.
        #[arg(long = "i-understand-this-prints-the-secret")]
        confirm: bool,
    },
    /// Delete a key file. This cannot be undone: export or back up the key first. Needs --yes.
    Delete {
        address: Address,
        /// Confirms the deletion.
        #[arg(long)]
        yes: bool,
    },
}

fn key_json(address: &Address, kf: &KeyFile, path: &Path) -> Value {
    serde_json::json!({
        "address": address.to_string(),
        "public_key": kf.public_key.to_hex(),
        "file": path.display().to_string(),
    })
}

fn print_created(sk: &SecretKey, path: &Path, json: bool) {
    let pk = sk.public_key();
    let address = Address::from_public_key(&pk);
    if json {
        let v = serde_json::json!({"address": address.to_string(), "public_key": pk.to_hex(), "file": path.display().to_string()});
        println!("{v}");
    } else {
        println!("address     {address}");
        println!("public key  {}", pk.to_hex());
        println!("file        {}", path.display());
    }
}

/// Runs `cpcd key …`.
pub fn run(args: KeyArgs) -> Result<()> {
    let dir = args.store.dir()?;
    let pw_file = args.store.password_file.as_deref();
    match args.cmd {
        KeyCmd::New { json } => {
            let pw = read_new_password(pw_file)?;
            let sk = SecretKey::generate();
            let path = create(&dir, &sk, &pw)?;
            print_created(&sk, &path, json);
            eprintln!("Keep a backup of the key file and the password: without both the key is lost.");
            Ok(())
        }
        KeyCmd::List { json } => {
            if json {
                let v: Vec<Value> = scan(&dir)?.iter().map(|(a, p, kf)| key_json(a, kf, p)).collect();
                println!("{}", Value::Array(v));
            } else {
                let keys = list(&dir)?;
                if keys.is_empty() {
                    eprintln!("no keys in {}", dir.display());
                }
                for a in keys {
                    println!("{a}");
                }
            }
            Ok(())
        }
        KeyCmd::Show { address, json } => {
            let (path, kf) = load(&dir, &address)?;
            if json {
                let mut v = key_json(&address, &kf, &path);
                v["valcons_address"] = address.to_valcons().to_string().into();
                v["version"] = kf.version.into();
                v["kdf"] = serde_json::json!({"name": kf.kdf.name, "m_cost_kib": kf.kdf.m_cost_kib, "t_cost": kf.kdf.t_cost, "p_cost": kf.kdf.p_cost});
                v["cipher"] = kf.cipher.name.clone().into();
                println!("{v}");
            } else {
                println!("address          {address}");
                println!("valcons address  {}", address.to_valcons());
                println!("public key       {}", kf.public_key.to_hex());
                println!("file             {}", path.display());
                println!("format           {} version {}", kf.format, kf.version);
                println!(
                    "kdf              {} (m = {} KiB, t = {}, p = {})",
                    kf.kdf.name, kf.kdf.m_cost_kib, kf.kdf.t_cost, kf.kdf.p_cost
                );
                println!("cipher           {}", kf.cipher.name);
            }
            if kf.cost().m_cost_kib < DEFAULT_KDF.m_cost_kib || kf.cost().t_cost < DEFAULT_KDF.t_cost {
                eprintln!("warning: this key file uses KDF parameters weaker than the defaults ({} KiB, t = {}, p = {})", DEFAULT_KDF.m_cost_kib, DEFAULT_KDF.t_cost, DEFAULT_KDF.p_cost);
            }
            Ok(())
        }
        KeyCmd::Import { secret_file, json } => {
            let text = Zeroizing::new(match &secret_file {
                Some(p) => fs::read_to_string(p).with_context(|| format!("reading secret file {}", p.display()))?,
                None if std::io::stdin().is_terminal() => rpassword::prompt_password("Secret key (64 hex digits, hidden): ")
                    .map_err(|e| anyhow!("reading the secret key: {e}"))?,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s).context("reading the secret key from stdin")?;
                    s
                }
            });
            let sk = parse_secret_hex(&text)?;
            let address = Address::from_public_key(&sk.public_key());
            if key_path(&dir, &address).exists() {
                bail!("a key for {address} already exists in keystore {}", dir.display());
            }
            let pw = read_new_password(pw_file)?;
            let path = create(&dir, &sk, &pw)?;
            print_created(&sk, &path, json);
            Ok(())
        }
        KeyCmd::Export { address, confirm } => {
            if !confirm {
                bail!(
                    "`key export` prints the unencrypted secret key: anyone who sees it controls {address}. \
                     Pass --i-understand-this-prints-the-secret to confirm"
                );
            }
            let _ = load(&dir, &address)?; // fail on a missing key before asking the password
            let pw = Zeroizing::new(read_password(pw_file, &format!("Password for {address}: "))?);
            let sk = unlock(&dir, &address, &pw)?;
            let secret = Zeroizing::new(sk.to_hex());
            println!("{}", *secret);
            Ok(())
        }
        KeyCmd::Delete { address, yes } => {
            let (path, _) = load(&dir, &address)?;
            if !yes {
                bail!("deleting {} cannot be undone (export or back up the key first): pass --yes to confirm", path.display());
            }
            fs::remove_file(&path).with_context(|| format!("deleting {}", path.display()))?;
            println!("deleted {}", path.display());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk(i: u8) -> SecretKey {
        SecretKey::from_bytes(&[i; 32])
    }

    #[test]
    fn round_trip_with_test_parameters() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("ks");
        let k = sk(1);
        let a = Address::from_public_key(&k.public_key());
        let path = create_with(&dir, &k, "pw", INSECURE_TEST_KDF).unwrap();
        assert_eq!(path, key_path(&dir, &a));
        assert_eq!(unlock(&dir, &a, "pw").unwrap().to_bytes(), k.to_bytes());
        let e = unlock(&dir, &a, "pw2").unwrap_err().to_string();
        assert!(e.contains("wrong password or corrupted key file"), "{e}");
        assert_eq!(list(&dir).unwrap(), vec![a]);
        let e = create_with(&dir, &k, "pw", INSECURE_TEST_KDF).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            let e = unlock(&dir, &a, "pw").unwrap_err().to_string();
            assert!(e.contains("too open"), "{e}");
            assert!(list(&dir).is_err());
        }
    }

    #[test]
    fn default_parameters_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let k = sk(2);
        let a = Address::from_public_key(&k.public_key());
        let path = create_with(d.path(), &k, "correct horse", DEFAULT_KDF).unwrap();
        let kf = read_key_file(&path).unwrap();
        assert_eq!(kf.cost(), DEFAULT_KDF);
        assert_eq!(unlock(d.path(), &a, "correct horse").unwrap().public_key(), k.public_key());
    }

    #[test]
    fn every_field_is_authenticated() {
        let d = tempfile::tempdir().unwrap();
        let k = sk(3);
        let a = Address::from_public_key(&k.public_key());
        let path = create_with(d.path(), &k, "pw", INSECURE_TEST_KDF).unwrap();
        let orig: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let other = Address::from_public_key(&sk(4).public_key());
        // Changes that still pass the shape checks must fail the tag.
        let edits: Vec<Box<dyn Fn(&mut Value)>> = vec![
            Box::new(|v| v["kdf"]["t_cost"] = 2.into()),
            Box::new(|v| v["kdf"]["m_cost_kib"] = 512.into()),
            Box::new(|v| v["kdf"]["salt"] = "00".repeat(32).into()),
            Box::new(|v| v["cipher"]["nonce"] = "00".repeat(24).into()),
            Box::new(|v| {
                let mut c = v["ciphertext"].as_str().unwrap().to_string();
                let flip = if c.ends_with('0') { '1' } else { '0' };
                c.pop();
                c.push(flip);
                v["ciphertext"] = c.into();
            }),
        ];
        for edit in edits {
            let mut v = orig.clone();
            edit(&mut v);
            fs::remove_file(&path).unwrap();
            write_new_file(&path, v.to_string().as_bytes()).unwrap();
            let e = unlock(d.path(), &a, "pw").unwrap_err().to_string();
            assert!(e.contains("wrong password or corrupted key file"), "{e}");
        }
        // Swapping in another key's identity is refused before decryption.
        let mut v = orig.clone();
        v["address"] = other.to_string().into();
        fs::remove_file(&path).unwrap();
        write_new_file(&path, v.to_string().as_bytes()).unwrap();
        let e = format!("{:#}", unlock(d.path(), &a, "pw").unwrap_err());
        assert!(e.contains("holds the key of") || e.contains("is not the address"), "{e}");
        // A newer version says so.
        let mut v = orig.clone();
        v["version"] = 2.into();
        fs::remove_file(&path).unwrap();
        write_new_file(&path, v.to_string().as_bytes()).unwrap();
        let e = format!("{:#}", unlock(d.path(), &a, "pw").unwrap_err());
        assert!(e.contains("unsupported version 2"), "{e}");
        // Absurd KDF costs are refused without running them.
        let mut v = orig.clone();
        v["kdf"]["m_cost_kib"] = u32::MAX.into();
        fs::remove_file(&path).unwrap();
        write_new_file(&path, v.to_string().as_bytes()).unwrap();
        let e = format!("{:#}", unlock(d.path(), &a, "pw").unwrap_err());
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn associated_data_is_documented_canonical_json() {
        let kf = encrypt(&sk(5), "pw", INSECURE_TEST_KDF).unwrap();
        let aad = String::from_utf8(kf.associated_data()).unwrap();
        let want = format!(
            "CPC-KEYSTORE-V1:{{\"address\":\"{}\",\"cipher\":{{\"name\":\"xchacha20-poly1305\",\"nonce\":\"{}\"}},\"format\":\"cpc-keystore\",\"kdf\":{{\"m_cost_kib\":256,\"name\":\"argon2id\",\"p_cost\":1,\"salt\":\"{}\",\"t_cost\":1,\"version\":19}},\"public_key\":\"{}\",\"version\":1}}",
            kf.address, kf.cipher.nonce, kf.kdf.salt, kf.public_key
        );
        assert_eq!(aad, want);
        assert!(!serde_json::to_string(&kf).unwrap().contains(&sk(5).to_hex()));
    }

    #[test]
    fn secret_hex_parsing_never_echoes_input() {
        let k = sk(6);
        assert_eq!(parse_secret_hex(&format!("  {}\n", k.to_hex())).unwrap().to_bytes(), k.to_bytes());
        assert_eq!(parse_secret_hex(&format!("0x{}", k.to_hex().to_uppercase())).unwrap().to_bytes(), k.to_bytes());
        let almost = &k.to_hex()[..63];
        let e = parse_secret_hex(almost).unwrap_err().to_string();
        assert!(e.contains("64 hex digits") && !e.contains(almost), "{e}");
        let bad = format!("{}zz", &k.to_hex()[..62]);
        let e = parse_secret_hex(&bad).unwrap_err().to_string();
        assert!(e.contains("non-hex") && !e.contains(&bad[..10]), "{e}");
    }

    #[test]
    fn password_file_first_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pw");
        fs::write(&p, "s3cret pass\r\nsecond line\n").unwrap();
        assert_eq!(read_password(Some(&p), "").unwrap(), "s3cret pass");
        fs::write(&p, "x").unwrap();
        assert_eq!(read_password(Some(&p), "").unwrap(), "x");
        fs::write(&p, "\n").unwrap();
        assert_eq!(read_password(Some(&p), "").unwrap(), "");
    }

    #[test]
    fn cli_definitions_are_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }
}
