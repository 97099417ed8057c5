#!/usr/bin/env bash
# After a demo writer ran: show the shared counter with `shmmetrics dump` and say what changed.
#   step.sh SHMMETRICS ZONE WHO
set -euo pipefail
shm=$1 zone=$2 who=$3
last_file="$zone.last"
before=$(cat "$last_file" 2>/dev/null || echo 0)
echo "   \$ shmmetrics dump $zone --match 'example_*'"
"$shm" dump "$zone" --match 'example_*' | sed 's/^/   /'
now=$("$shm" dump "$zone" --match example_requests_total | awk '{print $3}')
echo "$now" > "$last_file"
if [ "$before" = 0 ]; then
  echo "   => example_requests_total: $now, all written by $who"
else
  echo "   => example_requests_total: $before -> $now: $who added $((now - before)) to the counter the writers before it left"
fi
