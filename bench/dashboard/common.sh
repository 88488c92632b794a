# Sourced by the dashboard benchmarks (run.sh, cpu.sh, scale.sh): builds Rill, then
# `start_cluster T S` starts `rill local` with T TaskManagers of S slots on a free port and
# sets `url` and `cluster` (its pid); `stop_cluster` stops it (call it from the script's EXIT
# trap, after stopping any observer). Expects to run in the repository root.
./scripts/deps.sh --tests >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
cargo build --release --quiet
rill="${RILL_BIN:-$CARGO_TARGET_DIR/release/rill}"
export PLAYWRIGHT_CORE="${PLAYWRIGHT_CORE:-$HOME/.cache/rill-npm/node_modules/playwright-core}"
cluster=
cluster_log=

start_cluster() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  cluster_log=$(mktemp)
  "$rill" local --rest "127.0.0.1:$port" --taskmanagers "$1" --slots "$2" >"$cluster_log" 2>&1 &
  cluster=$!
  until curl -sf "$url/overview" >/dev/null; do
    kill -0 "$cluster" 2>/dev/null || { cat "$cluster_log" >&2; exit 1; }
    sleep 0.1
  done
}

stop_cluster() {
  [ -n "$cluster" ] && { kill -INT "$cluster" 2>/dev/null; wait "$cluster" 2>/dev/null || true; }
  [ -n "$cluster_log" ] && rm -f "$cluster_log"
  cluster=
}
