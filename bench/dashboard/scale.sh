#!/usr/bin/env bash
# The dashboard at scale: a `rill local` cluster of T TaskManagers with S slots each (default
# 4 of 16) runs `clickstream` at p=P (default 64), checkpointing every second; scale.mjs then
# times each view and the browser's main-thread time while live, and this script reports the
# size of the actor stream's events.
#
#   bench/dashboard/scale.sh [-p P] [--taskmanagers T] [--slots S]
set -euo pipefail
cd "$(dirname "$0")/../.."
parallelism=64
taskmanagers=4
slots=16
while [ $# -gt 0 ]; do
  case "$1" in
    -p) parallelism=$2; shift 2 ;;
    --taskmanagers) taskmanagers=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    *) echo "usage: $0 [-p P] [--taskmanagers T] [--slots S]" >&2; exit 2 ;;
  esac
done
. bench/dashboard/common.sh
trap stop_cluster EXIT
start_cluster "$taskmanagers" "$slots"
job=$("$rill" run --jobmanager-rest "$url" --detached --json -p "$parallelism" \
  --checkpoint-interval-ms 1000 clickstream | sed -n 's/.*"jobid":"\([0-9a-f]*\)".*/\1/p')
until curl -s "$url/jobs/$job" | grep -q '"state":"RUNNING"'; do sleep 0.2; done
sleep 5
echo "clickstream p=$parallelism on $taskmanagers TaskManagers x $slots slots ($job)"
bytes=$(timeout 10 curl -sN "$url/actors/stream" | wc -c || true)
echo "actor stream: $((bytes / 10)) bytes/s over 10 s (a snapshot, then an update a second)"
node bench/dashboard/scale.mjs "$url" "$job"
