#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of raftlog:
#   1. the RelWithDebInfo build: every ctest test (unit + simulation);
#   2. an ASan+UBSan build: the unit tests (label "unit");
#   3. the batch-decoder fuzzer for a bounded time (clang/libFuzzer), after
#      its corpus was replayed by ctest in steps 1 and 2.
# Prints one closing line "tests: N passed, M failed" and exits non-zero on
# any failure. RAFTLOG_FUZZ_SECONDS (default 60) bounds step 3; 0 skips it.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"
passed=0
failed=0
status=0

"$root/scripts/setup.sh" || exit 1

# run_ctest NAME BUILD_DIR [ctest args...]: runs ctest, adds its counts.
run_ctest() {
  local name="$1" dir="$2"
  shift 2
  local log="$dir/ctest-$name.log"
  echo "== $name: ctest $*"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 900 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line total nfail
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
  if [[ -z "$line" ]]; then
    echo "== $name: ctest printed no summary"
    failed=$((failed + 1))
    status=1
    return
  fi
  nfail="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  if [[ $rc -ne 0 || $nfail -ne 0 || $total -eq 0 ]]; then status=1; fi
}

echo "== build (RelWithDebInfo)"
if "$root/scripts/build.sh" "$root/build"; then
  run_ctest main "$root/build"
else
  echo "== build failed"; failed=$((failed + 1)); status=1
fi

echo "== build (ASan+UBSan, unit tests)"
if "$root/scripts/build.sh" "$root/build-asan" -DRAFTLOG_SANITIZE=ON \
    -DRAFTLOG_DIRS="storage;raft;proto;broker;client;cli;tests" --target unit_tests; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_ctest asan "$root/build-asan" -L unit
else
  echo "== ASan build failed"; failed=$((failed + 1)); status=1
fi

fuzz_seconds="${RAFTLOG_FUZZ_SECONDS:-60}"
if [[ "$fuzz_seconds" != 0 ]]; then
  if command -v clang++ >/dev/null; then
    echo "== fuzz: record batch decoder for ${fuzz_seconds}s"
    if "$root/storage/fuzz/run_fuzzer.sh" "$fuzz_seconds"; then
      passed=$((passed + 1))
    else
      echo "== fuzz: FAILED"; failed=$((failed + 1)); status=1
    fi
  else
    echo "== fuzz: clang absent; the corpus replay in ctest covered the decoder"
  fi
fi

echo "tests: $passed passed, $failed failed"
exit $status
