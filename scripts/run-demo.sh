#!/usr/bin/env bash
# README's first command: install what is missing, build, run the demo.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo_root/scripts/setup.sh" "$repo_root/build" -DRIVULET_LINE_TABLES=ON  # as run-tests.sh: one build serves both
RIVULET="$repo_root/build/rivulet" "$repo_root/scripts/demo.sh"
