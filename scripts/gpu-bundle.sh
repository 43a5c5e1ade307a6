#!/usr/bin/env bash
# Builds the GPU and CPU-kernel checks here and packs them, ready to run, into one folder for a
# CUDA machine that has no Rust toolchain (or no network): the test binaries of cpc-kernels,
# cpc-gpu and cpc-poc, the GPU and PoC benchmarks, `one_product`, a stripped `cpcd` with the
# shared libraries it needs beyond glibc (librocksdb & co), the C baseline source, and
# `run.sh` (a copy of scripts/gpu-bundle-run.sh).
#
# Usage: scripts/gpu-bundle.sh [DIR]          (default DIR: .gpubin, ignored by git)
#        then on the GPU machine:  bash DIR/run.sh [tests] [cpu] [bench] [node]   (none: all)
# This is how the GPU figures in BENCHMARKS.md were taken (that machine has CUDA but no cargo).
# With cargo on the GPU machine, scripts/gpu-check.sh does the same in place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIR="${1:-.gpubin}"
bash scripts/install-deps.sh
TARGET="${CARGO_TARGET_DIR:-target}"

# "package target executable" for every built test, bench and example binary.
executables() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        pkg = m["package_id"].split("#")[-1].split("@")[0]
        print(pkg, m["target"]["name"], m["executable"])'
}
echo "== building (release)"
{
    cargo test --release -p cpc-kernels -p cpc-gpu -p cpc-poc --no-run --message-format=json
    cargo bench -p cpc-gpu --bench gpu -p cpc-poc --bench poc --no-run --message-format=json
    cargo build --release -p cpc-poc --example one_product --message-format=json
} | executables >"$TARGET/gpu-bundle.list"
cargo build --release -p cpcd

rm -rf "$DIR" && mkdir -p "$DIR"
# Named <package>.<target> (cpc-poc.kernels, cpc-gpu.gpu_solver, cpc-gpu.gpu, ...).
while read -r pkg tgt exe; do
    cp "$exe" "$DIR/$pkg.$tgt"
done <"$TARGET/gpu-bundle.list"
strip -o "$DIR/cpcd" "$TARGET/release/cpcd"
ldd "$TARGET/release/cpcd" | awk '/=> \//{print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so* | libm.so* | libgcc_s* | libpthread* | libdl.so* | librt.so* | ld-linux* | libstdc++*) ;;
        *) cp -L "$lib" "$DIR/" ;;
    esac
done
cp scripts/c-baseline/matmul_ikj.c "$DIR/"
cp scripts/gpu-bundle-run.sh "$DIR/run.sh"
ls "$DIR"
du -sh "$DIR"
echo "== bundle ready: run 'bash $DIR/run.sh' on the GPU machine"
