#!/usr/bin/env bash
# Configures and builds one flavour of raftlog with CMake + Ninja.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# Defaults to ./build, RelWithDebInfo, warnings as errors. Re-running only
# rebuilds what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build}"
shift || true
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$dir" -G Ninja -DRAFTLOG_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$jobs"
