#!/usr/bin/env bash
# What watching costs the data path: the shuffle job (`shuffle --partition hash`, p=2, through
# the in-process exchange of a `rill local` cluster with 2 TaskManagers) runs R times in each
# of three modes, interleaved, and its duration is compared:
#   none     nobody watches;
#   stream   a client reads GET /actors/stream (what the actor view subscribes to) and the job
#            page's polls are not made: the JobManager's own cost of the live topology;
#   browser  headless chromium shows the dashboard's actor view (#/actors) on the same 2 cores,
#            so its rendering competes with the job too.
# Prints each run, then per mode the median records/s and its ratio to `none`.
#
#   bench/dashboard/run.sh [--runs R] [--records N]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=5
records=20000000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    *) echo "usage: $0 [--runs R] [--records N]" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh --tests >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
cargo build --release --quiet
rill="${RILL_BIN:-$CARGO_TARGET_DIR/release/rill}"
export PLAYWRIGHT_CORE="${PLAYWRIGHT_CORE:-$HOME/.cache/rill-npm/node_modules/playwright-core}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
log=$(mktemp)
"$rill" local --rest "127.0.0.1:$port" --taskmanagers 2 --slots 2 >"$log" 2>&1 &
cluster=$!
observer=
cleanup() {
  [ -n "$observer" ] && kill "$observer" 2>/dev/null && wait "$observer" 2>/dev/null
  kill -INT "$cluster" 2>/dev/null; wait "$cluster" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
until curl -sf "$url/overview" >/dev/null; do sleep 0.1; done

one_run() {
  local mode=$1 seconds
  observer=
  case "$mode" in
    stream) curl -sN "$url/actors/stream" >/dev/null & observer=$! ;;
    browser) node bench/dashboard/observe.mjs "$url" '#/actors' >/dev/null & observer=$! ;;
  esac
  [ -n "$observer" ] && sleep 3
  seconds=$("$rill" run --jobmanager-rest "$url" --json -p 2 shuffle --records "$records" --partition hash |
    python3 -c 'import json,sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "end":
        assert e["job"]["state"] == "FINISHED", e["job"]["state"]
        print(e["job"]["duration"] / 1000)')
  if [ -n "$observer" ]; then kill "$observer" 2>/dev/null; wait "$observer" 2>/dev/null || true; fi
  observer=
  echo "$seconds"
}

declare -A results
for r in $(seq "$runs"); do
  for mode in none stream browser; do
    s=$(one_run "$mode")
    results[$mode]+="$s "
    printf 'run %d %-8s %7.3f s  %12.0f records/s\n' "$r" "$mode" "$s" "$(python3 -c "print($records/$s)")"
  done
done
python3 - "$records" "${results[none]}" "${results[stream]}" "${results[browser]}" <<'PY'
import statistics, sys
records = int(sys.argv[1])
modes = dict(zip(["none", "stream", "browser"], [list(map(float, a.split())) for a in sys.argv[2:]]))
base = records / statistics.median(modes["none"])
for m, secs in modes.items():
    rate = records / statistics.median(secs)
    print(f"{m:8} median {statistics.median(secs):7.3f} s  {rate:12.0f} records/s  ratio {rate / base:.3f}")
PY
