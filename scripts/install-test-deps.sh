#!/usr/bin/env bash
# What the test command needs beyond the build (make test runs it):
#   chromium              Debian's Chromium, driven headless by the explorer's browser tests
#   explorer/node_modules the front end's toolchain (Vite, TypeScript, uPlot, playwright-core),
#                         exactly as explorer/package-lock.json pins it (`npm ci`); redone only
#                         when the lock file changed
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
need=()
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    $SUDO apt-get update -qq || true
    $SUDO apt-get install -y -qq "${need[@]}"
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "Node.js $(node --version) is too old for the explorer's build (Vite needs 20.19 or newer)" >&2
    exit 1
fi
stamp=explorer/node_modules/.cpcd-lock-sha256
want=$(sha256sum explorer/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "npm ci in explorer/ (package-lock.json changed or node_modules missing)"
    npm ci --prefix explorer --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi
