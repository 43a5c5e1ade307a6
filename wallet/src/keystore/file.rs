//! Key files on disk: reading one strictly (permissions, size, format and version first,
//! then every field), and writing a new one atomically with mode 0600 in a 0700 directory.

use super::{random, KeyFile, KeystoreError, FORMAT, MAX_KEY_FILE_BYTES, VERSION};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::Path;

type Result<T> = std::result::Result<T, KeystoreError>;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError {
    let path = path.to_path_buf();
    move |source| KeystoreError::Io { action, path, source }
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
        return Err(KeystoreError::PermissionsTooOpen { path: path.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file_mode(_path: &Path, _meta: &fs::Metadata) -> Result<()> {
    Ok(())
}

pub(super) fn read_key_file(path: &Path) -> Result<KeyFile> {
    let meta = fs::metadata(path).map_err(io("key file", path))?;
    if !meta.is_file() {
        return Err(KeystoreError::NotARegularFile { path: path.to_path_buf() });
    }
    check_file_mode(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeystoreError::FileTooLarge { path: path.to_path_buf(), size: meta.len() });
    }
    let text = fs::read(path).map_err(io("reading key file", path))?;
    parse_key_file(&text, path)
}

/// Decodes and checks a key file's bytes (`path` names it in errors): everything but the
/// password. The bytes are untrusted (fuzzed: `fuzz/`, target `keystore`).
pub(super) fn parse_key_file(text: &[u8], path: &Path) -> Result<KeyFile> {
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeystoreError::FileTooLarge { path: path.to_path_buf(), size: text.len() as u64 });
    }
    let v: Value =
        serde_json::from_slice(text).map_err(|source| KeystoreError::NotJson { path: path.to_path_buf(), source })?;
    // Version first, so that a newer file says so instead of failing on its new fields.
    let format = v.get("format").and_then(Value::as_str);
    if format != Some(FORMAT) {
        return Err(KeystoreError::NotAKeyFile { path: path.to_path_buf(), found: format.map(str::to_string) });
    }
    match v.get("version").and_then(Value::as_u64) {
        Some(n) if n == VERSION as u64 => {}
        Some(n) => return Err(KeystoreError::UnsupportedVersion { path: path.to_path_buf(), found: n }),
        None => return Err(KeystoreError::NoVersion { path: path.to_path_buf() }),
    }
    let kf: KeyFile =
        serde_json::from_value(v).map_err(|source| KeystoreError::BadFields { path: path.to_path_buf(), source })?;
    kf.check_shape(path)?;
    Ok(kf)
}

/// Creates `dir` (and missing parents) with mode 0700; warns when an existing one is open
/// to group or others.
pub(super) fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io("creating keystore directory", dir))?;
    }
    let meta = fs::metadata(dir).map_err(io("keystore directory", dir))?;
    if !meta.is_dir() {
        return Err(KeystoreError::NotADirectory { path: dir.to_path_buf() });
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
pub(super) fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| KeystoreError::NoParentDirectory { path: path.to_path_buf() })?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().unwrap().to_string_lossy(), hex::encode(random::<8>()?)));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| -> Result<()> {
        let mut f = opts.open(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(bytes).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("writing", &tmp))?;
        drop(f);
        fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeystoreError::FileExists { path: path.to_path_buf() }
            } else {
                KeystoreError::Io { action: "writing", path: path.to_path_buf(), source: e }
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
