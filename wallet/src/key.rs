//! `cpcd key new|list|show|import|export|delete`: the operator keystore on the command line
//! (docs/KEYSTORE.md), and the keystore flags `cpcd tx` shares.

use crate::keystore::{
    create, default_dir, key_path, list, load, parse_secret_hex, read_new_password, read_password, scan, unlock,
    KeyFile, KeystoreError, DEFAULT_KDF,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use cpc_primitives::{Address, SecretKey};
use serde_json::Value;
use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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
    /// `--keystore DIR`, or `<DATADIR>/keystore` for `--datadir DIR`.
    pub fn dir(&self) -> std::result::Result<PathBuf, KeystoreError> {
        match (&self.keystore, &self.datadir) {
            (Some(k), _) => Ok(k.clone()),
            (None, Some(d)) => Ok(default_dir(d)),
            (None, None) => Err(KeystoreError::NoKeystoreGiven),
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
