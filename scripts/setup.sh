#!/usr/bin/env bash
# Installs every build and test dependency of raftlog from Debian 12 packages.
# Idempotent: packages already present are skipped; apt is only touched when
# something is missing. Safe to run on every build.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # compilation cache shared by build directories and clones (CMake uses it
  # when present)
  ccache
  # the run script checks node health over the metrics endpoint
  curl
  # RPC and serialization (client API, inter-node transport)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # metadata state machine storage
  librocksdb-dev
  # logging and flags
  libgoogle-glog-dev libgflags-dev
  # Status/StatusOr, StrFormat, Mutex (also pulled in by gRPC)
  libabsl-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # batch compression codecs Kafka clients use
  libzstd-dev liblz4-dev
  # CLI parsing and JSON output for raftlogctl
  libcli11-dev nlohmann-json3-dev
  # clang: libFuzzer for the batch decoder fuzz target; clang-format for style
  clang libclang-rt-14-dev clang-format
  # Python test tooling (integration and fault-injection harnesses; the
  # fault-injection suite plots latency and throughput with matplotlib)
  python3 python3-pytest python3-matplotlib
  # fault-injection suite: nodes in network namespaces joined by veth pairs,
  # partitions made with iptables
  iproute2 iptables
  # deploy: the Debian 12 base image is made locally (no registry reachable)
  debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi
