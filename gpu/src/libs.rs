//! Finding the CUDA shared libraries before cudarc touches them.
//!
//! cudarc (with `dynamic-loading`) compiles without CUDA but panics at the first call into a
//! library it cannot `dlopen`, so every entry point of this crate probes first.
//!
//! libnvrtc often lives outside the loader's search path (a toolkit under /usr/local/cuda, or
//! the pip wheel `nvidia-cuda-nvrtc-cu12` inside a Python environment). cudarc opens it by
//! name (`libnvrtc.so.12` among others); glibc resolves such a name to an already loaded
//! object with that SONAME, so [`nvrtc_present`] loads the library from the first candidate
//! path (kept loaded for the life of the process) and cudarc then finds it by name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming libnvrtc (the file, or a folder that holds it).
pub const NVRTC_PATH_ENV: &str = "CPC_NVRTC_PATH";

/// Whether the CUDA driver library (libcuda) can be loaded. Cheap after the first call.
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen the candidate names; nothing is called.
    *PRESENT.get_or_init(|| unsafe { cudarc::driver::sys::is_culib_present() })
}

/// What [`nvrtc_present`] found.
#[derive(Clone, Debug)]
struct NvrtcProbe {
    present: bool,
    /// The file loaded from an explicit path, if the default search did not find it.
    preloaded: Option<PathBuf>,
}

fn probe_nvrtc() -> &'static NvrtcProbe {
    static PROBE: OnceLock<NvrtcProbe> = OnceLock::new();
    PROBE.get_or_init(|| {
        // An explicit path wins over whatever the loader would find.
        let explicit = std::env::var_os(NVRTC_PATH_ENV).map(PathBuf::from);
        if let Some(p) = explicit.as_deref() {
            if let Some(loaded) = preload_from(p) {
                return NvrtcProbe {
                    present: nvrtc_loadable(),
                    preloaded: Some(loaded),
                };
            }
            tracing::warn!(path = %p.display(), "{NVRTC_PATH_ENV} names no loadable libnvrtc");
        }
        if nvrtc_loadable() {
            return NvrtcProbe {
                present: true,
                preloaded: None,
            };
        }
        for dir in nvrtc_search_dirs() {
            if let Some(loaded) = preload_from(&dir)
                && nvrtc_loadable()
            {
                return NvrtcProbe {
                    present: true,
                    preloaded: Some(loaded),
                };
            }
        }
        NvrtcProbe {
            present: false,
            preloaded: None,
        }
    })
}

/// Whether libnvrtc can be loaded (after looking in [`NVRTC_PATH_ENV`], the loader's search
/// path, CUDA_HOME / CUDA_PATH, /usr/local/cuda and the pip wheel's folder of the usual Python
/// environments, including `~/.cache/cpc/nvrtc-venv` made by scripts/gpu-check.sh).
pub fn nvrtc_present() -> bool {
    probe_nvrtc().present
}

/// The libnvrtc file this process loaded by path, if it was not on the loader's search path.
pub fn nvrtc_library_path() -> Option<&'static Path> {
    probe_nvrtc().preloaded.as_deref()
}

fn nvrtc_loadable() -> bool {
    // SAFETY: only tries to dlopen the candidate names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// File names that carry the SONAME cudarc asks for (CUDA 12), best first.
const NVRTC_FILES: &[&str] = &["libnvrtc.so.12", "libnvrtc.so"];

/// Loads libnvrtc from `path` (a file, or a folder holding one of [`NVRTC_FILES`]) and keeps
/// it loaded. Returns the file loaded.
fn preload_from(path: &Path) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = NVRTC_FILES.iter().map(|f| path.join(f)).collect();
        // Versioned files (libnvrtc.so.12.4.127) for folders without the short links.
        if let Ok(rd) = std::fs::read_dir(path) {
            let mut extra: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with("libnvrtc.so.12."))
                })
                .collect();
            extra.sort();
            v.extend(extra);
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    for file in candidates {
        if !file.is_file() {
            continue;
        }
        // SAFETY: loading libnvrtc runs its initialisers, which have no preconditions.
        match unsafe { libloading::Library::new(&file) } {
            Ok(lib) => {
                // Keep it loaded for the life of the process: cudarc resolves it by SONAME.
                std::mem::forget(lib);
                tracing::debug!(file = %file.display(), "preloaded libnvrtc");
                return Some(file);
            }
            Err(e) => tracing::debug!(file = %file.display(), error = %e, "cannot load libnvrtc"),
        }
    }
    None
}

/// Folders that commonly hold libnvrtc, in the order they are tried.
fn nvrtc_search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"] {
        if let Some(root) = std::env::var_os(var) {
            let root = PathBuf::from(root);
            dirs.push(root.join("lib64"));
            dirs.push(root.join("lib"));
            dirs.push(root.join("targets/x86_64-linux/lib"));
        }
    }
    for root in ["/usr/local/cuda", "/opt/cuda"] {
        dirs.push(PathBuf::from(root).join("lib64"));
        dirs.push(PathBuf::from(root).join("targets/x86_64-linux/lib"));
    }
    // The pip wheel nvidia-cuda-nvrtc-cu12: <env>/lib/python3.*/site-packages/nvidia/cuda_nvrtc/lib
    let mut envs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        envs.push(v.into());
    }
    if let Some(v) = std::env::var_os("CONDA_PREFIX") {
        envs.push(v.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        envs.push(home.join(".cache/cpc/nvrtc-venv"));
        envs.push(home.join(".local"));
    }
    envs.push("/usr/local".into());
    envs.push("/usr".into());
    for env in envs {
        for lib in ["lib", "lib64"] {
            let Ok(rd) = std::fs::read_dir(env.join(lib)) else {
                continue;
            };
            let mut pys: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with("python3"))
                })
                .collect();
            pys.sort();
            for py in pys {
                for pkgs in ["site-packages", "dist-packages"] {
                    dirs.push(py.join(pkgs).join("nvidia/cuda_nvrtc/lib"));
                }
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}
