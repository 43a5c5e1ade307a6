#!/usr/bin/env bash
# Crash soak (RELIABILITY.md): N cycles of start under load, kill -9 at a random moment,
# restart, check nothing committed was lost. Usage: scripts/crash-soak.sh N [cpc-crash-soak flags]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:?usage: scripts/crash-soak.sh N [--seed S]}"; shift
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release --bin cpcd --bin cpc-crash-soak
exec "$TARGET/release/cpc-crash-soak" "$N" "$@"
