//! The node key: the ed25519 identity behind the node's libp2p `PeerId`.
//!
//! File format of `<dir>/node.key`: exactly 64 lowercase hex digits (the 32-byte ed25519
//! secret seed), optionally followed by one newline. Created on first use with mode 0600
//! (owner read/write only). Nothing else is stored: the public key and the `PeerId` are derived
//! from the seed, so the file is all one needs to keep a node's identity across restarts.

use libp2p::PeerId;
use libp2p::identity::{Keypair, ed25519};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the key file inside the directory given to [`load_or_create_node_key`].
pub const NODE_KEY_FILE: &str = "node.key";

/// Length of the secret seed in bytes (ed25519).
const SECRET_LEN: usize = 32;

/// Path of the key file in `dir`.
pub fn node_key_path(dir: &Path) -> PathBuf {
    dir.join(NODE_KEY_FILE)
}

/// Loads the node key from `dir/node.key`, creating the directory and a fresh key (mode 0600)
/// when the file does not exist yet.
pub fn load_or_create_node_key(dir: &Path) -> io::Result<Keypair> {
    let path = node_key_path(dir);
    match fs::read_to_string(&path) {
        Ok(text) => parse_key(&path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_key(dir, &path),
        Err(e) => Err(io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))),
    }
}

/// The `PeerId` of the key stored in `dir/node.key` (for `cpcd node-id`). Unlike
/// [`load_or_create_node_key`] this never creates the file: a missing key is an error.
pub fn peer_id_from_key_file(dir: &Path) -> io::Result<PeerId> {
    let path = node_key_path(dir);
    let text = fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    Ok(parse_key(&path, &text)?.public().to_peer_id())
}

fn parse_key(path: &Path, text: &str) -> io::Result<Keypair> {
    let hex_digits = text.strip_suffix('\n').unwrap_or(text);
    let invalid = |what: String| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}", path.display()))
    };
    if hex_digits.len() != 2 * SECRET_LEN {
        return Err(invalid(format!(
            "expected {} hex digits (a 32-byte ed25519 secret), found {} characters",
            2 * SECRET_LEN,
            hex_digits.len()
        )));
    }
    if let Some(c) = hex_digits.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(invalid(format!("expected lowercase hex digits (0-9, a-f), found {c:?}")));
    }
    let mut secret = [0u8; SECRET_LEN];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex_digits[2 * i..2 * i + 2], 16)
            .map_err(|e| invalid(format!("bad hex at byte {i}: {e}")))?;
    }
    let sk = ed25519::SecretKey::try_from_bytes(&mut secret)
        .map_err(|e| invalid(format!("not an ed25519 secret: {e}")))?;
    Ok(ed25519::Keypair::from(sk).into())
}

fn create_key(dir: &Path, path: &Path) -> io::Result<Keypair> {
    fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    let kp = ed25519::Keypair::generate();
    let hex: String = kp.secret().as_ref().iter().map(|b| format!("{b:02x}")).collect();

    let mut opts = fs::OpenOptions::new();
    // create_new: never overwrite a key another process wrote in between.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        // Lost a race with another starter: use the key it wrote.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path)?;
            return parse_key(path, &text);
        }
        Err(e) => {
            return Err(io::Error::new(e.kind(), format!("creating {}: {e}", path.display())));
        }
    };
    file.write_all(hex.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(kp.into())
}
