#!/usr/bin/env bash
# The README's demo: two processes sharing one Rivulet file. A consumer
# follows topic `orders` while a producer, in another process, sends 20 keyed
# orders through a pipe, one every 0.1 s. The consumer prints each record as
# it is committed and exits after the 20th; `stat` then shows where the keys
# went (Kafka's partitioner: the same customer always lands in the same
# partition).
#
# Usage: scripts/demo.sh             (uses build/rivulet of this repo)
#        RIVULET=/path/to/rivulet scripts/demo.sh
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RIVULET=${RIVULET:-$repo_root/build/rivulet}
if [[ ! -x "$RIVULET" ]]; then
  echo "demo: no rivulet binary at $RIVULET (build it, or set RIVULET=path)" >&2
  exit 1
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-demo.XXXXXX")
file="$workdir/shop.rvl"
consumer_pid=
cleanup() {
  # Only the consumer we started, if it is somehow still running.
  if [[ -n "$consumer_pid" ]]; then kill "$consumer_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

echo "==> rivulet $file topic create orders --partitions 3"
"$RIVULET" "$file" topic create orders --partitions 3
"$RIVULET" "$file" topic describe orders
echo

echo "==> starting a consumer process: consume orders --follow --format json --limit 20"
# `timeout` only guards against a hang; the consumer normally exits by itself
# after its 20th record.
(
  timeout 30 "$RIVULET" "$file" consume orders --follow --format json --limit 20 |
    while IFS= read -r line; do echo "consumer | $line"; done
) &
consumer_pid=$!

echo "==> starting a producer process: produce orders --key-separator '|' (one line every 0.1 s)"
# The loop's stdout is the producer's stdin; its progress notes go to the
# script's stdout through fd 3, so they interleave with the consumer's lines.
exec 3>&1
for i in $(seq 1 20); do
  customer="customer-$(((i - 1) % 5 + 1))"
  total="$((i * 37 % 100)).$((i * 13 % 90 + 10))"
  echo "producer | order $i for $customer" >&3
  printf '%s|{"order":%d,"customer":"%s","total":%s}\n' "$customer" "$i" "$customer" "$total"
  sleep 0.1
done | "$RIVULET" "$file" produce orders --key-separator '|'
echo "==> producer done; waiting for the consumer to see all 20 orders"

wait "$consumer_pid"
consumer_pid=
echo

echo "==> rivulet $file stat"
"$RIVULET" "$file" stat
echo
echo "==> done: each customer's orders are in one partition, in the order they were sent"
