//! The free-space floor of the datadir's disk (geth's `--datadir.minfreedisk`, which shuts geth
//! down below it "to prevent database corruption"): below the floor this engine builds no block,
//! so no commit meets a full disk half-way, and it builds again by itself once there is space.
//! A paused engine says so once in the log, in `cpcd_block_production_paused` and on `/health`.

use parking_lot::Mutex;
use std::path::{Path, PathBuf};

/// The default floor: room for a few thousand full blocks and RocksDB's own compactions.
pub const DEFAULT_MIN_FREE_MIB: u64 = 256;

/// Too little free space to commit a block.
#[derive(Debug, thiserror::Error)]
#[error(
    "block production paused: {} MiB free on the disk of {dir}, below the floor of {} MiB \
     (--datadir.min-free-mb); nothing more is written until there is space, then production resumes by itself",
    free / MIB,
    min / MIB
)]
pub struct LowDisk {
    pub dir: String,
    /// Bytes free for this process.
    pub free: u64,
    /// The floor, in bytes.
    pub min: u64,
}

const MIB: u64 = 1 << 20;

/// Watches the free space under one directory.
pub(crate) struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    /// Why production is paused, while it is.
    paused: Mutex<Option<String>>,
}

impl DiskGuard {
    pub(crate) fn new(dir: &Path, min_free_mib: u64) -> DiskGuard {
        DiskGuard { dir: dir.to_path_buf(), min_free: min_free_mib.saturating_mul(MIB), paused: Mutex::new(None) }
    }

    /// Bytes an unprivileged writer may still use on the disk of the directory.
    pub(crate) fn free_bytes(&self) -> std::io::Result<u64> {
        let s = rustix::fs::statvfs(&self.dir)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// Ok when a block may be written. A disk that cannot be asked is not a reason to stop:
    /// the commit itself reports what is wrong.
    pub(crate) fn check(&self) -> Result<(), LowDisk> {
        if self.min_free == 0 {
            return Ok(());
        }
        match self.free_bytes() {
            Ok(free) if free < self.min_free => {
                Err(LowDisk { dir: self.dir.display().to_string(), free, min: self.min_free })
            }
            _ => Ok(()),
        }
    }

    /// Records a pause; true the first time (log it then, not on every retry).
    pub(crate) fn pause(&self, why: &LowDisk) -> bool {
        let mut p = self.paused.lock();
        let first = p.is_none();
        *p = Some(why.to_string());
        first
    }

    /// Ends a pause; true when there was one.
    pub(crate) fn resume(&self) -> bool {
        self.paused.lock().take().is_some()
    }

    pub(crate) fn paused(&self) -> Option<String> {
        self.paused.lock().clone()
    }
}
