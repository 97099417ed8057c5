#!/usr/bin/env bash
# The hot-upgrade demo: generation v1 of a server counts requests into a zone; v2 starts and
# attaches to the same zone; both count for a while; v1 exits; v2 goes on. `shmmetrics dump`
# shows the counter before, during and after, and the verdict checks that not one request was
# lost or counted twice. Leaves no process or file behind.
#   hot_upgrade.sh SHMMETRICS ZONE WORKER
set -euo pipefail
shm=$1 zone=$2 worker=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

value() { "$shm" dump "$zone" --match "$1" | awk '{print $3}'; }
show() {
  echo "   $1"
  echo "   \$ shmmetrics dump $zone --match 'upgrade_*'"
  "$shm" dump "$zone" --match 'upgrade_*' | sed 's/^/   /'
}
start_gen() {
  "$worker" "$zone" "$1" > "$tmp/$1.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q ready "$tmp/$1.out" 2>/dev/null && return; sleep 0.05; done
  echo "$1 did not start" >&2; exit 1
}
stop_gen() {
  kill -TERM "$1"
  wait "$1"
}

start=$(value upgrade_requests_total); start=${start:-0}
echo "== Hot upgrade: v1 counts requests; v2 starts on the same zone, both run, v1 exits"
start_gen v1; v1=${pids[-1]}
sleep 0.5
show "v1 serving alone:"
start_gen v2; v2=${pids[-1]}
sleep 0.5
show "v2 started; both attached (upgrade_workers = 2), both counting into one counter:"
stop_gen "$v1"
sleep 0.5
show "v1 exited; v2 goes on from where the two of them were:"
stop_gen "$v2"
added1=$(tail -n1 "$tmp/v1.out") added2=$(tail -n1 "$tmp/v2.out")
final=$(value upgrade_requests_total)
if [ "$final" -eq $((start + added1 + added2)) ]; then
  echo "verdict: OK: upgrade_requests_total = $start + $added1 (v1) + $added2 (v2) = $final; every request counted once across the upgrade"
else
  echo "verdict: FAILED: upgrade_requests_total is $final, expected $start + $added1 + $added2 = $((start + added1 + added2))"
  exit 1
fi
