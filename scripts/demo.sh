#!/usr/bin/env bash
# The first five minutes with Rill: builds it, starts a local cluster (`rill local`: a
# JobManager with its REST API and web dashboard, and two TaskManagers in one process), submits
# the `clickstream` job (generated page clicks counted per page in event-time windows,
# checkpointing every 2 s, running until stopped) and prints the dashboard's URL. Ctrl-C stops
# the job and the cluster.
#
#   ./scripts/demo.sh                  the streaming demo on http://127.0.0.1:8081
#   ./scripts/demo.sh --wordcount      the batch word count of the project's own docs instead
#   RILL_DEMO_REST=127.0.0.1:9091 ./scripts/demo.sh   another address for the REST API
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
cargo build --release --quiet
rill="$CARGO_TARGET_DIR/release/rill"
out="$CARGO_TARGET_DIR/demo"
mkdir -p "$out"

if [ "${1:-}" = "--wordcount" ]; then
  # A small input: the project's own docs, 200 times over.
  for _ in $(seq 200); do cat README.md src/lib.rs; done > "$out/words.txt"
  "$rill" run --local -p 2 wordcount --input "$out/words.txt" --output "$out/counts.csv"
  echo "The 10 most frequent words ($out/counts.csv):"
  sort -t, -k2 -nr "$out/counts.csv" | head -10
  exit 0
fi

rest="${RILL_DEMO_REST:-127.0.0.1:8081}"
url="http://$rest"
# The cluster's log goes to a file, so that this terminal shows only what to do next.
"$rill" local --rest "$rest" --taskmanagers 2 --slots 4 >"$out/rill-local.log" 2>&1 &
cluster=$!
stop() {
  trap - INT TERM EXIT
  if kill -0 "$cluster" 2>/dev/null; then
    echo
    echo "Stopping the cluster..."
    kill -INT "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT
for _ in $(seq 100); do
  curl -sf "$url/overview" >/dev/null 2>&1 && break
  kill -0 "$cluster" 2>/dev/null || { echo "rill local did not start (is $rest in use?)" >&2; exit 1; }
  sleep 0.1
done
submitted=$("$rill" run --jobmanager-rest "$url" --detached --json -p 2 \
  --checkpoint-interval-ms 2000 --checkpoint-dir "$out/checkpoints" clickstream --rate 5000)
job=$(sed -n 's/.*"jobid":"\([0-9a-f]*\)".*/\1/p' <<<"$submitted")
[ -n "$job" ] || { echo "the job was not submitted: $submitted" >&2; exit 1; }
cat <<MSG

  The clickstream job is running ($job).
  Open the dashboard:  $url/
     its graph:        $url/#/jobs/$job
     the actors:       $url/#/actors
  The cluster's log: $out/rill-local.log
  Try the job page's Savepoint and Stop buttons, or: $rill savepoint $job
  Ctrl-C stops everything.

MSG
wait "$cluster"
