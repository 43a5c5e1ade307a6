//! Embeds every file of `dist/` (the Vite build of `web/`, committed) into the crate: a table
//! of `(path, bytes)` that the node serves at `/` on its RPC port. No npm at cargo build time:
//! `make test` checks that `dist/` is what `npm run build` makes of the sources.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = root.join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();
    if files.is_empty() {
        println!("cargo:warning=explorer/dist is empty: the node will answer GET / with 404 (run `npm run build` in explorer/)");
    }
    let mut table = String::from("&[\n");
    for f in &files {
        let rel = f.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
        table.push_str(&format!("    ({:?}, include_bytes!({:?})),\n", format!("/{rel}"), f.display().to_string()));
    }
    table.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("assets.rs");
    std::fs::write(out, table).expect("writing OUT_DIR/assets.rs");
}
