#!/usr/bin/env bash
# Builds the record-batch libFuzzer target with clang (ASan+UBSan) in
# build-fuzz and runs it for DURATION_SECONDS over a scratch copy of the seed
# corpus (the checked-in corpus is never modified). Exits non-zero if the
# fuzzer finds a crash, leak, timeout or property violation; the reproducer is
# left in build-fuzz/fuzz-artifacts/.
# Usage: storage/fuzz/run_fuzzer.sh DURATION_SECONDS [extra libFuzzer flags...]
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 DURATION_SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
duration=$1
shift

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$root/build-fuzz"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAFTLOG_FUZZ=ON -DRAFTLOG_DIRS=storage >/dev/null
ninja -C "$build" record_batch_fuzzer

work="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
rm -rf "$work"
mkdir -p "$work" "$artifacts"
cp "$root/storage/fuzz/corpus/"* "$work/"

echo "fuzzing record_batch_fuzzer for ${duration}s"
"$build/storage/fuzz/record_batch_fuzzer" "$work" \
  -max_total_time="$duration" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$@"
