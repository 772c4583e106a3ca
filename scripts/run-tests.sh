#!/usr/bin/env bash
# README's second command: install what is missing, build, run every test.
#   scripts/run-tests.sh             release build (build/), all tests
#   scripts/run-tests.sh --sanitize  AddressSanitizer + UBSan build (build-asan/), all tests
#   scripts/run-tests.sh --tsan      ThreadSanitizer build (build-tsan/), the multi-threaded tests
# Every build has line tables only (-g1): sanitizer reports and backtraces
# keep their file:line, and the tests compile in half the time of -g.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-release}
case "$mode" in
  release)
    "$repo_root/scripts/setup.sh" "$repo_root/build" -DRIVULET_LINE_TABLES=ON
    ctest --test-dir "$repo_root/build" --output-on-failure -j2
    ;;
  --sanitize)
    "$repo_root/scripts/setup.sh" "$repo_root/build-asan" -DRIVULET_SANITIZE=ON -DRIVULET_BENCH=OFF -DRIVULET_LINE_TABLES=ON \
      -DCMAKE_BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$repo_root/build-asan" --output-on-failure -j2
    ;;
  --tsan)
    "$repo_root/scripts/setup.sh" "$repo_root/build-tsan" -DRIVULET_TSAN=ON -DRIVULET_BENCH=OFF -DRIVULET_LINE_TABLES=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$repo_root/build-tsan" --output-on-failure -j2 -R '^(Db|Threads|Coordination|ConsumerTest|ConsumerGroups|PartitionIndex)\.'
    ;;
  *)
    echo "usage: scripts/run-tests.sh [--sanitize|--tsan]" >&2
    exit 2
    ;;
esac
