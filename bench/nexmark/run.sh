#!/usr/bin/env bash
# Nexmark side by side: each published query on Flink 2.3 (PyFlink, local mini-cluster) and on
# Rill, over the same files of events, alternating run by run; medians of RUNS.
#
# Usage: bench/nexmark/run.sh [EVENTS] [PARALLELISM] [RUNS] [QUERIES]
#   defaults: EVENTS=10000000 PARALLELISM=2 RUNS=3 QUERIES="q0 q1 q2 q3 q4 q5 q7 q8 q9 q10 q11 q12
#             q13 q14 q15 q16 q17 q18 q19 q20 q21 q22 q23"
#   env: VENV (default $HOME/.cache/flink-venv), WORK (default /tmp/nexmark-bench),
#        RILL (default: the release build, made if missing), STATE_BACKEND (heap or rocksdb:
#        both engines' state; default heap)
#
# The events are written once by `rill nexmark generate` (one file per source subtask, JSON
# lines); Flink reads them with its filesystem connector and Rill with its own, each through
# the published ddl_gen.sql with only its WITH clause changed (bench/nexmark/README.md).
# Flink runs with the reference configuration (mini-batch 2 s / 50,000, split distinct).
#
# Per query it prints: Flink's events/s by its net runtime (the job inside the mini-cluster),
# Rill's events/s by its job time (submission to end, planning included), the ratio, and each
# process's peak RSS (Rill's by /usr/bin/time; Flink's its Python's plus its JVM's, sampled).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${WORK:-/tmp/nexmark-bench}"
EVENTS="${1:-10000000}"
P="${2:-2}"
RUNS="${3:-3}"
QUERIES="${4:-q0 q1 q2 q3 q4 q5 q7 q8 q9 q10 q11 q12 q13 q14 q15 q16 q17 q18 q19 q20 q21 q22 q23}"
# STATE_BACKEND=rocksdb runs both engines with RocksDB state (Flink's `state.backend.type`,
# Rill's `--state-backend`); the default is heap state on both.
STATE_BACKEND="${STATE_BACKEND:-heap}"
case "$STATE_BACKEND" in
  heap) FLINK_BACKEND=hashmap ;;
  rocksdb) FLINK_BACKEND=rocksdb ;;
  *) echo "STATE_BACKEND must be heap or rocksdb" >&2; exit 2 ;;
esac

. "$ROOT/bench/flink/venv.sh"
if [ -z "${RILL:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
  (cd "$ROOT" && cargo build --release --bin rill >&2)
  RILL="$CARGO_TARGET_DIR/release/rill"
fi

DATA="$WORK/events-$EVENTS-$P"
if [ ! -s "$DATA/part-0.json" ]; then
  rm -rf "$DATA"
  "$RILL" nexmark generate --events "$EVENTS" --splits "$P" --out "$DATA" >&2
fi
SIDE="$WORK/side_input.txt"
[ -s "$SIDE" ] || seq 0 9999 | awk '{print $1 "," $1}' > "$SIDE"

# Runs "$@" (PyFlink) and prints its peak RSS in kB: the Python process's plus the peak of the
# JVMs it starts (sampled every 0.2 s: /usr/bin/time alone sees only Python).
flink_rss() {
  local log="$1"; shift
  /usr/bin/time -f 'MAXRSS_KB %M' "$@" > "$log" 2>&1 &
  local pid=$! max=0 r
  while kill -0 "$pid" 2>/dev/null; do
    r=$(ps -C java -o rss= | awk '{s += $1} END {print s + 0}')
    [ "$r" -gt "$max" ] && max=$r
    sleep 0.2
  done
  wait "$pid" || return 1
  echo $(( max + $(awk '/^MAXRSS_KB/ {print $2}' "$log") ))
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "# $EVENTS events, p=$P, $STATE_BACKEND state, medians of $RUNS, $(nproc) cores, $(date -u +%Y-%m-%d), $(java -version 2>&1 | head -1)"
printf '%-4s %14s %14s %7s %12s %12s\n' query flink_ev_s rill_ev_s ratio flink_rss_mb rill_rss_mb
for q in $QUERIES; do
  f_s=(); r_s=(); f_m=(); r_m=()
  for r in $(seq 1 "$RUNS"); do
    log="$WORK/$q-flink-$r.log"
    rss=$(flink_rss "$log" "$PY" "$HERE/flink_query.py" "$q" "$DATA" "$P" --side-input "$SIDE" --state-backend "$FLINK_BACKEND") || {
      echo "$q: Flink failed, see $log" >&2; tail -5 "$log" >&2; continue 2; }
    f_s+=("$(awk '/^NET_RUNTIME_SECONDS/ {print $2}' "$log")")
    f_m+=("$rss")
    log="$WORK/$q-rill-$r.log"
    /usr/bin/time -f 'MAXRSS_KB %M' "$RILL" bench nexmark --queries "$q" --events "$EVENTS" -p "$P" --files "$DATA" --state-backend "$STATE_BACKEND" --json > "$log" 2>&1 || {
      echo "$q: Rill failed, see $log" >&2; tail -5 "$log" >&2; continue 2; }
    r_s+=("$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' "$log")")
    r_m+=("$(awk '/^MAXRSS_KB/ {print $2}' "$log")")
  done
  fs=$(printf '%s\n' "${f_s[@]}" | median)
  rs=$(printf '%s\n' "${r_s[@]}" | median)
  fm=$(printf '%s\n' "${f_m[@]}" | median)
  rm_=$(printf '%s\n' "${r_m[@]}" | median)
  awk -v q="$q" -v n="$EVENTS" -v fs="$fs" -v rs="$rs" -v fm="$fm" -v rm="$rm_" 'BEGIN {
    printf "%-4s %14.0f %14.0f %6.1fx %12.0f %12.0f\n", q, n/fs, n/rs, fs/rs, fm/1024, rm/1024 }'
done
