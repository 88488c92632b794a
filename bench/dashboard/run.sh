#!/usr/bin/env bash
# What watching costs the data path: the shuffle job (`shuffle --partition hash`, p=2, through
# the in-process exchange of a `rill local` cluster with 2 TaskManagers) runs R times in each
# of three modes, interleaved, and its duration is compared:
#   none     nobody watches;
#   stream   a client reads GET /actors/stream (what the actor view subscribes to) and the job
#            page's polls are not made: the JobManager's own cost of the live topology;
#   browser  headless chromium shows the dashboard's actor view (#/actors) on the same 2 cores,
#            so its rendering competes with the job too.
# Prints each run, then per mode the median records/s and its ratio to `none`, and the median
# CPU time the cluster's process spent on the job (less sensitive to a noisy machine than the
# wall clock: work added by serving the view shows there whatever else runs).
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
. bench/dashboard/common.sh
observer=
cleanup() {
  [ -n "$observer" ] && kill "$observer" 2>/dev/null && wait "$observer" 2>/dev/null
  stop_cluster
}
trap cleanup EXIT
start_cluster 2 2

# The cluster process's CPU time so far, in clock ticks (user + system).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$cluster/stat"; }

one_run() {
  local mode=$1 seconds t0 t1
  observer=
  case "$mode" in
    stream) curl -sN "$url/actors/stream" >/dev/null & observer=$! ;;
    browser) node bench/dashboard/observe.mjs "$url" '#/actors' >/dev/null & observer=$! ;;
  esac
  # Let the observer settle first (chromium's start and first render are not the steady cost).
  if [ "$mode" = browser ]; then sleep 8; elif [ -n "$observer" ]; then sleep 3; fi
  t0=$(cpu_ticks)
  seconds=$("$rill" run --jobmanager-rest "$url" --json -p 2 shuffle --records "$records" --partition hash |
    python3 -c 'import json,sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "end":
        assert e["job"]["state"] == "FINISHED", e["job"]["state"]
        print(e["job"]["duration"] / 1000)')
  t1=$(cpu_ticks)
  if [ -n "$observer" ]; then kill "$observer" 2>/dev/null; wait "$observer" 2>/dev/null || true; fi
  observer=
  echo "$seconds $(( t1 - t0 ))"
}

hz=$(getconf CLK_TCK)
declare -A results cpu
for r in $(seq "$runs"); do
  for mode in none stream browser; do
    read -r s ticks < <(one_run "$mode")
    results[$mode]+="$s "
    cpu[$mode]+="$(python3 -c "print($ticks / $hz)") "
    printf 'run %d %-8s %7.3f s  %12.0f records/s  cluster CPU %6.2f s\n' "$r" "$mode" "$s" \
      "$(python3 -c "print($records/$s)")" "$(python3 -c "print($ticks / $hz)")"
  done
done
python3 - "$records" "${results[none]}" "${results[stream]}" "${results[browser]}" \
  "${cpu[none]}" "${cpu[stream]}" "${cpu[browser]}" <<'PY'
import statistics, sys
records = int(sys.argv[1])
names = ["none", "stream", "browser"]
secs = dict(zip(names, [list(map(float, a.split())) for a in sys.argv[2:5]]))
cpu = dict(zip(names, [list(map(float, a.split())) for a in sys.argv[5:8]]))
base = records / statistics.median(secs["none"])
base_cpu = statistics.median(cpu["none"])
for m in names:
    rate = records / statistics.median(secs[m])
    c = statistics.median(cpu[m])
    print(f"{m:8} median {statistics.median(secs[m]):7.3f} s  {rate:12.0f} records/s  ratio {rate / base:.3f}"
          f"  cluster CPU {c:6.2f} s (x{c / base_cpu:.3f})")
PY
