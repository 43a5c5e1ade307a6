#!/usr/bin/env bash
# Run a local testnet made by `cpcd testnet init --out DIR`:
#   scripts/testnet.sh start DIR    start every DIR/node*/ (logs: DIR/nodeI/cpcd.log)
#   scripts/testnet.sh stop DIR     SIGTERM them and wait
#   scripts/testnet.sh status DIR   pid, height and RPC port of each node
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -d "$dir" ] || { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CPCD_BIN:-${CARGO_TARGET_DIR:-$here/target}/release/cpcd}"
[ -x "$bin" ] || { echo "$bin not built: run make build" >&2; exit 1; }

rpc_port() { grep -E '^http\.port' "$1/cpcd.toml" | grep -oE '[0-9]+'; }
height() {
  curl -s -m 2 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"cpc_blockNumber","params":[]}' "http://127.0.0.1:$1" \
    | grep -oE '"result":[0-9]+' | cut -d: -f2
}

for node in "$dir"/node*/; do
  node="${node%/}"; name="$(basename "$node")"; pidf="$node/cpcd.pid"
  case "$cmd" in
    start)
      if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "$name: already running"; continue; fi
      nohup "$bin" --datadir "$node" >"$node/cpcd.log" 2>&1 &
      echo $! >"$pidf"
      echo "$name: started (pid $!, rpc http://127.0.0.1:$(rpc_port "$node"), log $node/cpcd.log)";;
    stop)
      if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        kill -TERM "$(cat "$pidf")"
        for _ in $(seq 1 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
        echo "$name: stopped"
      else echo "$name: not running"; fi
      rm -f "$pidf";;
    status)
      port="$(rpc_port "$node")"
      if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        echo "$name: running pid $(cat "$pidf")  height $(height "$port" || echo '?')  rpc http://127.0.0.1:$port  log $node/cpcd.log"
      else echo "$name: stopped  rpc port $port  log $node/cpcd.log"; fi;;
    *) echo "unknown command $cmd" >&2; exit 2;;
  esac
done
