#!/usr/bin/env bash
# Configures and builds one flavour of raftlog with CMake + Ninja.
#   scripts/build.sh [BUILD_DIR] [--target TARGET] [extra cmake args...]
# Defaults to ./build, every target, RelWithDebInfo, warnings as errors.
# Re-running only rebuilds what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build}"
shift || true
jobs="$(nproc 2>/dev/null || echo 2)"
cmake_args=()
build_args=()
while (($#)); do
  if [[ "$1" == --target ]]; then
    build_args+=(--target "$2")
    shift 2
  else
    cmake_args+=("$1")
    shift
  fi
done
cmake -S "$root" -B "$dir" -G Ninja -DRAFTLOG_WERROR=ON "${cmake_args[@]}" >/dev/null
cmake --build "$dir" -j "$jobs" "${build_args[@]}"
