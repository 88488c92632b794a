#!/usr/bin/env bash
# What watching costs in CPU time, measured rather than inferred from noisy throughput: a
# `rill local` cluster (T TaskManagers of S slots, default 2 of 2) runs `clickstream` at p=P
# (default 2; 5,000 clicks/s, a checkpoint a second) and, for N seconds in each mode, the CPU
# time of the cluster's process and of the observer (with all its child processes) is read from
# /proc:
#   none     nobody watches;
#   stream   a client reads GET /actors/stream (what the actor view subscribes to);
#   browser  headless chromium shows the dashboard's actor view (#/actors).
# Prints per mode the cluster's and the observer's CPU milliseconds per second; the cluster's
# extra over `none` is what the JobManager spends serving the view, taken from the data path's
# cores on a machine where the two share them.
#
#   bench/dashboard/cpu.sh [--seconds N] [--rounds R] [-p P] [--taskmanagers T] [--slots S]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=20
rounds=3
parallelism=2
taskmanagers=2
slots=2
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -p) parallelism=$2; shift 2 ;;
    --taskmanagers) taskmanagers=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--rounds R] [-p P] [--taskmanagers T] [--slots S]" >&2; exit 2 ;;
  esac
done
. bench/dashboard/common.sh
observer=
cleanup() {
  [ -n "$observer" ] && kill "$observer" 2>/dev/null
  stop_cluster
}
trap cleanup EXIT
start_cluster "$taskmanagers" "$slots"
"$rill" run --jobmanager-rest "$url" --detached -p "$parallelism" --checkpoint-interval-ms 1000 clickstream >/dev/null
sleep 5

# CPU ticks (user + system) of a process and all its descendants.
ticks() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
children = {}
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        with open(f'/proc/{p}/stat') as f:
            s = f.read()
    except OSError:
        continue
    fields = s[s.rindex(')') + 2:].split()
    children.setdefault(int(fields[1]), []).append((int(p), int(fields[11]) + int(fields[12])))
def total(pid):
    own = 0
    try:
        with open(f'/proc/{pid}/stat') as f:
            s = f.read()
        fields = s[s.rindex(')') + 2:].split()
        own = int(fields[11]) + int(fields[12])
    except OSError:
        pass
    return own + sum(total(c) for c, _ in children.get(pid, []))
print(total(root))
PY
}
hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
  for mode in none stream browser; do
    observer=
    case "$mode" in
      stream) curl -sN "$url/actors/stream" >/dev/null & observer=$! ;;
      browser) node bench/dashboard/observe.mjs "$url" '#/actors' >/dev/null & observer=$! ;;
    esac
    sleep 3
    c0=$(ticks "$cluster"); o0=0; [ -n "$observer" ] && o0=$(ticks "$observer")
    sleep "$seconds"
    c1=$(ticks "$cluster"); o1=0; [ -n "$observer" ] && o1=$(ticks "$observer")
    if [ -n "$observer" ]; then kill "$observer" 2>/dev/null; wait "$observer" 2>/dev/null || true; fi
    observer=
    python3 -c "print(f'round $r $mode: cluster {($c1-$c0)*1000/$hz/$seconds:7.1f} ms CPU/s, observer {($o1-$o0)*1000/$hz/$seconds:7.1f} ms CPU/s')"
  done
done
