#!/usr/bin/env bash
# Installs the Debian packages the build needs, when missing:
#   libclang-dev     bindgen (librocksdb-sys) needs libclang
#   librocksdb-dev   RocksDB 7.8 linked instead of compiling its C++ (see Cargo.toml)
#   g++ pkg-config   C/C++ bits of -sys crates and the CUDA-kernel CPU emulation tests
set -euo pipefail
need=()
for p in libclang-dev librocksdb-dev g++ pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq "${need[@]}"
