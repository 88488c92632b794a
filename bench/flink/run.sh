#!/usr/bin/env bash
# Flink 2.3 (PyFlink, local mini-cluster) and Rill side by side on the per-key event-time
# window query (bench/flink/tumble.py; Rill's bundled `windowed-count`), same input file, runs
# alternating, blackhole sink on Flink's side (Rill's job writes its few result rows).
#
# Usage: bench/flink/run.sh [RUNS] [PARALLELISMS] [N_EVENTS]
#   defaults: RUNS=3  PARALLELISMS="1 2"  N_EVENTS=20000000
#   env: KIND=tumble|slide|session (default tumble; sessions read the oracles' session input:
#        a 500 ms silence every 2000 events, 50 ms of disorder), VENV (default
#        $HOME/.cache/flink-venv), WORK (default /tmp/flink-bench), GEN (default
#        /work/shared/oracles/gen_events.py), RILL (default the release build)
#   bench/flink/run.sh check   -> 1M-event correctness check against the tumble_1m oracle
#
# For each run it prints, each with records/s, then the medians:
#   net     = Flink's JobExecutionResult net runtime (job execution in the mini-cluster only)
#   job     = wall time of execute_sql(INSERT).wait() (+ planning, mini-cluster start, submit)
#   process = wall time of the whole python process (+ python/JVM start-up, env creation)
#   rill    = wall time of the whole `rill run --local` process, and its peak RSS
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${WORK:-/tmp/flink-bench}"
GEN="${GEN:-/work/shared/oracles/gen_events.py}"
KIND="${KIND:-tumble}"
RILL="${RILL:-${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}/release/rill}"
ORACLE_DIR="$(dirname "$GEN")"

. "$HERE/venv.sh"
mkdir -p "$WORK"

gen() {  # gen FILE N [GENERATOR FLAGS…]
  [ -s "$1" ] || python3 "$GEN" "$@" >&2
}

if [ "${1:-}" = "check" ]; then
  IN="$WORK/events_1m.csv"
  gen "$IN" 1000000
  zcat "$ORACLE_DIR/tumble_1m.csv.gz" > "$WORK/oracle_tumble_1m.csv"
  status=0
  for p in 1 2; do
    out="$WORK/check_out_p$p"
    rm -rf "$out"
    "$PY" "$HERE/tumble.py" "$IN" "$p" --sink csv --out "$out" 2>&1 | grep -v '^WARNING' || true
    cat "$out"/part-* | LC_ALL=C sort > "$WORK/check_sorted_p$p.csv"
    if cmp -s "$WORK/check_sorted_p$p.csv" "$WORK/oracle_tumble_1m.csv"; then
      echo "p=$p: MATCH ($(wc -l < "$WORK/check_sorted_p$p.csv") rows, md5 $(md5sum < "$WORK/check_sorted_p$p.csv" | cut -c1-32))"
    else
      echo "p=$p: MISMATCH"; status=1
    fi
  done
  exit $status
fi

RUNS="${1:-3}"
PARS="${2:-1 2}"
N="${3:-20000000}"
if [ "$KIND" = session ]; then
  IN="$WORK/sessions_$N.csv"
  gen "$IN" "$N" --disorder 50 --gap-every 2000 --gap-ms 500
else
  if [ "$N" = 20000000 ]; then IN="$WORK/events_20m.csv"; else IN="$WORK/events_$N.csv"; fi
  gen "$IN" "$N"
fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "$KIND windows: input $IN ($N events), nproc=$(nproc), $(java -version 2>&1 | head -1), rill $RILL"
for p in $PARS; do
  nets_s=(); jobs_s=(); procs_s=(); rills_s=(); rss_s=()
  for r in $(seq 1 "$RUNS"); do
    log="$WORK/run_p${p}_r${r}.log"
    t0=$(date +%s.%N)
    "$PY" "$HERE/tumble.py" "$IN" "$p" --kind "$KIND" > "$log" 2>&1
    t1=$(date +%s.%N)
    job=$(awk '/^JOB_SECONDS/ {print $2}' "$log")
    net=$(awk '/^NET_RUNTIME_SECONDS/ {print $2}' "$log")
    [ -n "$job" ] || { echo "run failed, see $log" >&2; tail -20 "$log" >&2; exit 1; }
    proc=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b-a}')
    nets_s+=("$net"); jobs_s+=("$job"); procs_s+=("$proc")
    rlog="$WORK/rill_p${p}_r${r}.log"
    /usr/bin/time -f "RSS_KB %M ELAPSED %e" "$RILL" run --local -p "$p" windowed-count \
      --input "$IN" --output "$WORK/rill_out.csv" --kind "$KIND" > "$rlog" 2>&1 \
      || { echo "rill failed, see $rlog" >&2; tail -20 "$rlog" >&2; exit 1; }
    rill=$(awk '/^RSS_KB/ {print $4}' "$rlog"); rss=$(awk '/^RSS_KB/ {print $2}' "$rlog")
    rills_s+=("$rill"); rss_s+=("$rss")
    awk -v p="$p" -v r="$r" -v t="$net" -v j="$job" -v q="$proc" -v n="$N" -v x="$rill" -v m="$rss" 'BEGIN {
      printf "p=%s run %s: net %.3f s = %.0f rec/s | job %.3f s = %.0f rec/s | process %.3f s = %.0f rec/s | rill %.2f s = %.0f rec/s, %d MB\n",
             p, r, t, n/t, j, n/j, q, n/q, x, n/x, m/1024 }'
  done
  mt=$(printf '%s\n' "${nets_s[@]}" | median)
  mj=$(printf '%s\n' "${jobs_s[@]}" | median)
  mp=$(printf '%s\n' "${procs_s[@]}" | median)
  mr=$(printf '%s\n' "${rills_s[@]}" | median)
  mm=$(printf '%s\n' "${rss_s[@]}" | median)
  awk -v p="$p" -v t="$mt" -v j="$mj" -v q="$mp" -v n="$N" -v x="$mr" -v m="$mm" 'BEGIN {
    printf "p=%s MEDIAN: net %.3f s = %.0f rec/s | job %.3f s = %.0f rec/s | process %.3f s = %.0f rec/s | rill %.2f s = %.0f rec/s, %d MB | rill/flink (process) %.1fx\n",
           p, t, n/t, j, n/j, q, n/q, x, n/x, m/1024, q/x }'
done
