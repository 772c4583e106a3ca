#!/usr/bin/env bash
# The torture run (docs/RELIABILITY.md): builds rivulet_torture (RelWithDebInfo,
# build-torture/) and runs it for MINUTES: producers, followers and group
# members on one file, SIGKILLed at random and restarted, then a full
# verification, then `rivulet FILE check` on the file. Each run gets its own
# directory under FILE-DIR (default $TMPDIR or /tmp), removed if all is well;
# on any violation the exit status is non-zero and the file is kept there.
#   scripts/torture.sh MINUTES [FILE-DIR]
# Extra arguments for the program go in TORTURE_ARGS (e.g. "--seed 42").
# JOBS (default 2) bounds the build's parallelism; BUILD_DIR picks another
# build directory (configured RelWithDebInfo without benchmarks if new).
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $# -lt 1 || $# -gt 2 || ! $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: scripts/torture.sh MINUTES [FILE-DIR]" >&2
  exit 2
fi
minutes=$1
parent=${2:-${TMPDIR:-/tmp}}
mkdir -p "$parent"
dir=$(mktemp -d "$parent/rivulet-torture-XXXXXX")  # this run's file only
build_dir=${BUILD_DIR:-$repo_root/build-torture}

if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIVULET_BENCH=OFF >/dev/null
fi
cmake --build "$build_dir" -j "${JOBS:-2}" --target rivulet_torture rivulet_cli

# --keep: the file stays for the check below (removed after it if all is well).
rc=0
# shellcheck disable=SC2086
"$build_dir/tests/rivulet_torture" --minutes "$minutes" --dir "$dir" --keep ${TORTURE_ARGS:-} || rc=$?
for f in "$dir"/torture-*.rvl; do
  [[ -e $f ]] || continue
  echo "== rivulet $f check"
  "$build_dir/rivulet" "$f" check || rc=1
  if [[ $rc -eq 0 ]]; then rm -f "$f" "$f-shm"; fi
done
if [[ $rc -eq 0 ]]; then
  rmdir "$dir" 2>/dev/null || true
  echo "torture: passed"
else
  echo "torture: FAILED (files kept in $dir)" >&2
fi
exit "$rc"
