#!/usr/bin/env bash
# Profiles the timed sections of one workload of one engine with perf and
# prints the top functions (self time), e.g.
#
#   bench/profile.sh build-bench/bench/rivulet_bench batch rivulet [extra flags...]
#
# Only the timed loops are sampled (see bench/profile_gate.hpp). Output:
# the perf.data file and the reports are left in $OUT (default: a mktemp dir):
# report.txt (self time), report-children.txt (inclusive time) and
# report-callers.txt (call chains of the top functions). FREQ (2999 Hz) and
# CALLGRAPH (dwarf,16384; "fp" for frame pointers) tune perf record.
set -euo pipefail
bench=${1:?usage: profile.sh BENCH_BINARY WORKLOAD(batch|single|read) [ENGINE(rivulet|sqlite)] [flags...]}
workload=${2:?workload: batch, single or read}
engine=${3:-rivulet}
shift $(( $# >= 3 ? 3 : $# ))
out=${OUT:-$(mktemp -d /var/tmp/rivulet-profile-XXXXXX)}
mkfifo "$out/ctl" "$out/ack"
export RIVULET_BENCH_PERF_CTL="$out/ctl" RIVULET_BENCH_PERF_ACK="$out/ack"
perf record -q -F "${FREQ:-2999}" --call-graph "${CALLGRAPH:-dwarf,16384}" -D -1 --control "fifo:$out/ctl,$out/ack" -o "$out/perf.data" -- \
  "$bench" --only "$workload" --engine "$engine" "$@" >"$out/bench.txt" 2>"$out/perf-record.txt"
rm -f "$out/ctl" "$out/ack"
perf report -i "$out/perf.data" --no-children --percent-limit 0.5 --stdio -g none \
  --sort symbol 2>/dev/null >"$out/report.txt"
perf report -i "$out/perf.data" --children --percent-limit 0.5 --stdio -g none \
  --sort symbol 2>/dev/null >"$out/report-children.txt"
perf report -i "$out/perf.data" --no-children --percent-limit 3 --stdio -g caller,0.5,callee,function,percent \
  --sort symbol 2>/dev/null >"$out/report-callers.txt"
echo "== $engine $workload: bench output ($out/bench.txt)"
grep -E '^    round|^SUMMARY' "$out/bench.txt" || true
echo "== top functions, self time ($out/report.txt)"
grep -v '^#' "$out/report.txt" | grep '%' | sed 's/[ -]*$//' | head -"${TOP:-15}"
echo "== top rivulet:: functions, inclusive time (children; $out/report-children.txt)"
grep -v '^#' "$out/report-children.txt" | grep '%' | grep 'rivulet::' | sed 's/[ -]*$//' | head -"${TOP:-15}"
