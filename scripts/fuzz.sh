#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, RIVULET_FUZZ=ON) and
# runs each for SECONDS (default 30), one after another, starting from a
# scratch copy of the committed corpus (the repository is not modified).
# Exits non-zero if any target finds a crash, leak, hang or sanitizer
# report; its input is kept in build-fuzz/findings/TARGET/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-30}
targets=(fuzz_open fuzz_frame fuzz_batch fuzz_json)

packages=(clang libclang-rt-14-dev g++ cmake ninja-build pkg-config libgtest-dev libgmock-dev
          libcli11-dev nlohmann-json3-dev libfmt-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_dir=$repo_root/build-fuzz
cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DRIVULET_FUZZ=ON \
  -DRIVULET_BENCH=OFF -DRIVULET_LINE_TABLES=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build_dir" "${targets[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
  cp "$repo_root/fuzz/corpus/$t/." "$scratch/$t/corpus/" -r
  dict=()
  [[ $t == fuzz_json ]] && dict=(-dict="$repo_root/fuzz/fuzz_json.dict")
  [[ $t == fuzz_open || $t == fuzz_frame ]] && dict=(-dict="$repo_root/fuzz/rivulet.dict")
  rc=0
  # TMPDIR: fuzz_open's file goes in the scratch dir, removed even if a
  # crash skips the target's own clean-up.
  (cd "$scratch/$t" && TMPDIR="$scratch/$t" nice "$build_dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 -artifact_prefix="$scratch/$t/artifacts/" "${dict[@]}" corpus >log 2>&1) || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t/log")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$scratch/$t/log" | tail -1)
  echo "fuzz: $t: ${execs:-?} executions in ${seconds}s, ${cov:-no coverage line}"
  if ((rc != 0)); then
    failed+=("$t")
    mkdir -p "$build_dir/findings/$t"
    cp "$scratch/$t/artifacts/." "$build_dir/findings/$t/" -r
    echo "fuzz: $t FAILED (exit $rc); inputs kept in $build_dir/findings/$t/; its log ends:"
    tail -n 60 "$scratch/$t/log"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: findings in: ${failed[*]} (fuzz/README.md says how to turn one into a regression input)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no findings"
