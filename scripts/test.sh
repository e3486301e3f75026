#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of raftlog:
#   1. the RelWithDebInfo build: every ctest test (unit, simulation,
#      integration on 3-process clusters);
#   2. an ASan+UBSan build: the unit tests (label "unit");
#   3. the batch-decoder fuzzer for a bounded time (clang/libFuzzer), after
#      its corpus was replayed by ctest in steps 1 and 2;
#   4. the fault-injection suite's own tests (pytest: checker, harness,
#      power-loss shim), then its short suite (tests/jepsen, docs/JEPSEN.md):
#      3-node clusters in network namespaces under faults, every run checked.
#      Needs root (namespaces, iptables); otherwise reported as skipped;
#   5. the docker-compose deployment test (deploy/test_compose.sh) when a
#      Docker engine answers, otherwise reported as skipped. CI builds its
#      image from the binaries of step 1 (RAFTLOG_DEPLOY_PREBUILT=1; the
#      runtime stage is the Dockerfile's own); RAFTLOG_DEPLOY_PREBUILT=0 runs
#      the full multi-stage source build (10+ minutes on 2 cores).
# Prints one closing line "tests: N passed, M failed" and exits non-zero on
# any failure. RAFTLOG_FUZZ_SECONDS (default 60) bounds step 3; 0 skips it.
# RAFTLOG_JEPSEN=0 and RAFTLOG_DEPLOY=0 skip steps 4 and 5.
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

# run_step NAME COMMAND...: one pass/fail test; exit 77 means skipped.
run_step() {
  local name="$1"
  shift
  echo "== $name: $*"
  "$@"
  local rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
  elif [[ $rc -eq 77 ]]; then
    echo "== $name: skipped"
  else
    echo "== $name: FAILED (exit $rc)"; failed=$((failed + 1)); status=1
  fi
}

python=/usr/bin/python3  # Debian's, with pytest and matplotlib from setup.sh
if [[ "${RAFTLOG_JEPSEN:-1}" != 0 ]]; then
  run_step "jepsen harness tests" "$python" -m pytest -q -p no:cacheprovider \
    "$root/tests/jepsen/harness"
  if [[ $(id -u) -eq 0 ]]; then
    run_step "jepsen short suite" "$python" "$root/tests/jepsen/jepsen.py" suite --short
  else
    echo "== jepsen short suite: SKIPPED: needs root (network namespaces, iptables)"
  fi
fi

if [[ "${RAFTLOG_DEPLOY:-1}" != 0 ]]; then
  run_step "deploy test" env RAFTLOG_DEPLOY_PREBUILT="${RAFTLOG_DEPLOY_PREBUILT:-1}" \
    "$root/deploy/test_compose.sh"
fi

echo "tests: $passed passed, $failed failed"
exit $status
