#!/usr/bin/env bash
# The deployment test (issue 8): builds the raftlog image, brings the 3-node
# cluster of deploy/docker-compose.yml up under its own compose project, and
# checks that it keeps every acknowledged record through the loss and return of
# one node:
#   create topic (3 partitions, RF 3); produce 10,000 records, acks=all;
#   stop one node (the metadata leader); produce 10,000 more; start it again;
#   wait until it has caught up (cluster status healthy and the node's local
#   logs hold all 20,000 records); consume from the beginning and verify every
#   record exactly once, offsets dense, per-partition order = send order.
# Containers, network and volumes are removed on exit, also on failure
# (container logs are printed first when it fails).
#
#   deploy/test_compose.sh
# Exit: 0 passed, 1 failed, 77 skipped ("deploy test: SKIPPED: <why>"; no
# Docker engine answers, or no compose).
#
# Environment:
#   RAFTLOG_IMAGE          image tag to build and run        (raftlog:latest)
#   RAFTLOGCTL             raftlogctl on the host            (build/cli/raftlogctl if
#                          present; else raftlogctl runs in a container of the image
#                          on the compose network: `docker run --rm --network ...`)
#   RAFTLOG_DEPLOY_CTL     host | container: force where raftlogctl runs
#   RAFTLOG_COMPOSE        compose command ("docker-compose" or "docker compose";
#                          default: whichever answers, v1 first)
#   RAFTLOG_DEPLOY_PREBUILT=1  build the image from host-built binaries (see
#                          below) instead of compiling in the build stage
#   RAFTLOG_DEPLOY_BUILD_JOBS  compile jobs in the image build (default: all CPUs)
#   RAFTLOG_DEPLOY_KEEP=1  leave the cluster running (for debugging; prints how
#                          to remove it)
#
# RAFTLOG_DEPLOY_PREBUILT=1 is an explicit, opt-in shortcut for time-boxed CI:
# the image is built from deploy/Dockerfile with its build stage left out and
# the binaries of the host build (build/broker/raftlogd, build/cli/raftlogctl,
# Debian 12 like the image) copied in instead; every other instruction of the
# runtime stage is the Dockerfile's own. The default is the full source build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
deploy="$root/deploy"

skip() {
  echo "deploy test: SKIPPED: $*"
  exit 77
}
fail() {
  echo "deploy test: FAILED: $*" >&2
  exit 1
}
log() { echo "deploy test: $*"; }

# ---- Preconditions: an engine that answers, and compose -----------------
command -v docker >/dev/null 2>&1 || skip "no docker command"
if ! docker_info="$(timeout 20 docker info --format '{{.ServerVersion}}' 2>&1)"; then
  skip "the Docker engine does not answer (docker info: $(grep -v "^[[:space:]]*$" <<<"$docker_info" | tail -n1))"
fi
compose=()
if [[ -n "${RAFTLOG_COMPOSE:-}" ]]; then
  read -r -a compose <<<"$RAFTLOG_COMPOSE"
elif command -v docker-compose >/dev/null 2>&1 && timeout 20 docker-compose version >/dev/null 2>&1; then
  compose=(docker-compose)
elif timeout 20 docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  skip "neither docker-compose (v1) nor docker compose (v2) is installed"
fi
py=/usr/bin/python3
[[ -x "$py" ]] || py="$(command -v python3)" || fail "python3 is needed to check the records"

image="${RAFTLOG_IMAGE:-raftlog:latest}"
project="raftlogdeploy$$"
records=10000
topic=deploytest
work="$(mktemp -d /tmp/raftlog-deploy.XXXXXX)"
test_start=$SECONDS
declare -A timing=()
timings_order=()
phase_start=0
phase() {
  phase_start=$SECONDS
  log "$*"
}
phase_end() {
  timing[$1]=$((SECONDS - phase_start))
  timings_order+=("$1")
}
print_timings() {
  local t line=""
  for t in "${timings_order[@]}"; do line+=" $t=${timing[$t]}s"; done
  log "timings:${line} total=$((SECONDS - test_start))s"
}

# ---- Free host ports and a free /24 for the compose network --------------
read -r p1 p2 p3 m1 m2 m3 < <("$py" - <<'PY'
import socket
socks, ports = [], []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    ports.append(s.getsockname()[1])
print(*ports)
PY
)
# A /24 in 172.28.100-255.x that overlaps no route of the host and no Docker
# network (Docker's own pools hand out /16s from 172.17-31).
prefix="$( { ip -4 route 2>/dev/null | awk '{print $1}'
  docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' \
    $(docker network ls -q) 2>/dev/null | tr ' ' '\n'; } | "$py" -c '
import ipaddress, random, sys
used = []
for w in sys.stdin.read().split():
    try:
        used.append(ipaddress.ip_network("0.0.0.0/0" if w == "default" else w, strict=False))
    except ValueError:
        pass
used = [n for n in used if n.prefixlen > 0 and n.version == 4]
cands = list(range(100, 256))
random.shuffle(cands)
for c in cands:
    net = ipaddress.ip_network(f"172.28.{c}.0/24")
    if not any(net.overlaps(n) for n in used):
        print(f"172.28.{c}")
        break
')"
[[ -n "$prefix" ]] || fail "no free 172.28.x.0/24 subnet for the compose network"

export RAFTLOG_IMAGE="$image" RAFTLOG_NET_PREFIX="$prefix" RAFTLOG_HOST_IP=127.0.0.1
export RAFTLOG_PORT_1=$p1 RAFTLOG_PORT_2=$p2 RAFTLOG_PORT_3=$p3
export RAFTLOG_METRICS_PORT_1=$m1 RAFTLOG_METRICS_PORT_2=$m2 RAFTLOG_METRICS_PORT_3=$m3
export RAFTLOG_CLUSTER_ID=deploytest
dc() { "${compose[@]}" -p "$project" -f "$deploy/docker-compose.yml" "$@"; }
metrics_port() { local v="m$1"; echo "${!v}"; }

# ---- Teardown, also on failure --------------------------------------------
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${RAFTLOG_DEPLOY_KEEP:-}" == 1 ]]; then
    log "cluster kept (RAFTLOG_DEPLOY_KEEP=1); remove it with:"
    log "  RAFTLOG_NET_PREFIX=$prefix ${compose[*]} -p $project -f $deploy/docker-compose.yml down -v"
  else
    if ((rc != 0 && rc != 77)) && [[ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]]; then
      echo "---- container logs (last 40 lines each) ----" >&2
      dc logs --no-color --tail 40 >&2 2>&1 || true
    fi
    timeout 120 "${compose[@]}" -p "$project" -f "$deploy/docker-compose.yml" \
      down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    # Whatever compose left behind (a failed `down`, a crashed run).
    local ids
    ids="$(docker ps -aq --filter "label=com.docker.compose.project=$project")
$(docker ps -aq --filter "label=raftlogdeploytest=$project")"
    [[ -n "${ids//[$'\n']/}" ]] && { docker rm -f -v $ids >/dev/null 2>&1 || true; }
    ids="$(docker network ls -q --filter "label=com.docker.compose.project=$project")"
    [[ -n "$ids" ]] && { docker network rm $ids >/dev/null 2>&1 || true; }
    ids="$(docker volume ls -q --filter "label=com.docker.compose.project=$project")"
    [[ -n "$ids" ]] && { docker volume rm $ids >/dev/null 2>&1 || true; }
  fi
  rm -rf "$work"
  ((${#timings_order[@]})) && print_timings
  if ((rc == 0)); then
    log "PASSED"
  elif ((rc != 77)); then
    echo "deploy test: FAILED (exit $rc)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Base image and raftlog image -----------------------------------------
phase "base image"
"$deploy/make-base-image.sh"
phase_end base_image

phase "building $image"
build_log="$work/build.log"
if [[ "${RAFTLOG_DEPLOY_PREBUILT:-}" == 1 ]]; then
  bin_d="${RAFTLOGD_BIN:-$root/build/broker/raftlogd}"
  bin_c="${RAFTLOGCTL_BIN:-$root/build/cli/raftlogctl}"
  [[ -x "$bin_d" && -x "$bin_c" ]] || fail "RAFTLOG_DEPLOY_PREBUILT=1 needs $bin_d and $bin_c (scripts/build.sh)"
  ctx="$work/context"
  mkdir -p "$ctx/deploy"
  cp "$deploy/healthcheck.sh" "$ctx/deploy/"
  strip -o "$ctx/raftlogd" "$bin_d"
  strip -o "$ctx/raftlogctl" "$bin_c"
  # deploy/Dockerfile without its build stage; the runtime stage copies the
  # binaries from the context instead of from that stage.
  awk '
    /^FROM .* AS build$/ { skipping = 1; next }
    skipping && /^FROM / { skipping = 0 }
    skipping { next }
    /^COPY --from=build / { print "COPY raftlogd raftlogctl /usr/local/bin/"; next }
    { print }
  ' "$deploy/Dockerfile" >"$ctx/Dockerfile"
  grep -q '^COPY raftlogd raftlogctl /usr/local/bin/$' "$ctx/Dockerfile" ||
    fail "could not derive the prebuilt Dockerfile from deploy/Dockerfile"
  build_cmd=(docker build -f "$ctx/Dockerfile" -t "$image" "$ctx")
  log "image from host-built binaries (RAFTLOG_DEPLOY_PREBUILT=1): $bin_d, $bin_c"
else
  build_cmd=(docker build -f "$deploy/Dockerfile" -t "$image"
    --build-arg "BUILD_JOBS=${RAFTLOG_DEPLOY_BUILD_JOBS:-}" "$root")
fi
old_image_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
if ! timeout 3600 "${build_cmd[@]}" >"$build_log" 2>&1; then
  tail -n 60 "$build_log" >&2
  fail "docker build failed (see above)"
fi
phase_end image_build
# The image this build replaced and superseded build-stage images (the newest
# stays: it is the cache of the next build) would pile up untagged; remove them
# unless something still uses them.
if [[ -n "$old_image_id" && "$old_image_id" != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
  docker rmi "$old_image_id" >/dev/null 2>&1 || true
fi
docker images -q --no-trunc --filter label=org.raftlog.stage=build --filter dangling=true \
  --format '{{.CreatedAt}}\t{{.ID}}' | sort -r | tail -n +2 | cut -f2 |
  while read -r id; do docker rmi "$id" >/dev/null 2>&1 || true; done
log "image $image built in ${timing[image_build]}s" \
  "($(grep -c -- '---> Using cache' "$build_log" || true) cached steps)"

# ---- Where raftlogctl runs -------------------------------------------------
host_ctl="${RAFTLOGCTL:-$root/build/cli/raftlogctl}"
ctl_mode="${RAFTLOG_DEPLOY_CTL:-}"
if [[ -z "$ctl_mode" ]]; then
  if [[ -x "$host_ctl" ]]; then ctl_mode=host; else ctl_mode=container; fi
fi
case "$ctl_mode" in
  host) [[ -x "$host_ctl" ]] || fail "RAFTLOGCTL=$host_ctl is not executable" ;;
  container) ;;
  *) fail "RAFTLOG_DEPLOY_CTL must be host or container, not $ctl_mode" ;;
esac
ctl=()
set_ctl() {
  if [[ "$ctl_mode" == host ]]; then
    ctl=("$host_ctl" --brokers "127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3")
  else
    ctl=(docker run --rm -i --label "raftlogdeploytest=$project" --network "${project}_raftlog"
      --entrypoint raftlogctl "$image" --brokers "$prefix.11:7001,$prefix.12:7001,$prefix.13:7001")
  fi
}
set_ctl

# ---- Cluster up --------------------------------------------------------------
phase "cluster up: project $project, network $prefix.0/24, gRPC on 127.0.0.1:$p1,$p2,$p3"
timeout 180 "${compose[@]}" -p "$project" -f "$deploy/docker-compose.yml" \
  up -d --no-build >"$work/up.log" 2>&1 || {
  cat "$work/up.log" >&2
  fail "compose up failed"
}
cid() {
  docker ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=node$1"
}
wait_healthy() { # wait_healthy SECONDS NODE...
  local deadline=$((SECONDS + $1)) n state
  shift
  while :; do
    local all=1
    for n in "$@"; do
      state="$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$(cid "$n")")"
      [[ "$state" == running/healthy ]] || all=0
      [[ "$state" == exited/* || "$state" == dead/* ]] && fail "node$n exited ($state)"
    done
    ((all)) && return 0
    ((SECONDS >= deadline)) && fail "nodes $* not healthy within the time limit (last: node$n $state)"
    sleep 1
  done
}
wait_healthy 120 1 2 3
phase_end cluster_up
log "3 nodes healthy after ${timing[cluster_up]}s"

if [[ "$ctl_mode" == host ]] && ! timeout 3 bash -c "exec 3<>/dev/tcp/$prefix.11/7001" 2>/dev/null; then
  log "the host does not reach container IPs (not a Linux bridge?): raftlogctl runs in a container"
  ctl_mode=container
  set_ctl
fi
log "raftlogctl: $([[ $ctl_mode == host ]] && echo "host binary $host_ctl" || echo "in a container of $image on ${project}_raftlog")"

# cluster_json: `cluster status --format json` (bounded).
cluster_json() { timeout 30 "${ctl[@]}" --format json --timeout 10s cluster status 2>"$work/status.err"; }
json_get() { # json_get EXPR < json   (EXPR over `j`)
  "$py" -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

# ---- Topic and first 10,000 records ---------------------------------------
phase "create topic $topic (3 partitions, RF 3); produce $records records (acks=all)"
timeout 60 "${ctl[@]}" --timeout 30s topic create "$topic" -p 3 -r 3 >/dev/null ||
  fail "topic create failed"
# One record per line: "<key>\t<seq>". 30 keys spread over the 3 partitions;
# seq is global and increasing, so per partition it must come back increasing.
gen() { "$py" -c "
import sys
a, b = int(sys.argv[1]), int(sys.argv[2])
sys.stdout.write(''.join(f'k{s % 30:02d}\t{s}\n' for s in range(a, b)))" "$1" "$2"; }
produce() { # produce FIRST END
  local out
  out="$(gen "$1" "$2" | timeout 300 "${ctl[@]}" --format json --timeout 30s produce "$topic" \
    --acks all --key-separator $'\t')" || fail "produce $1..$2 failed: $out"
  local acked
  acked="$(json_get 'j["acknowledged"] if j["failed"] == 0 else -1' <<<"$out")"
  [[ "$acked" == $(($2 - $1)) ]] || fail "produce $1..$2: $out"
}
produce 0 "$records"
phase_end produce_1
log "$records records acknowledged in ${timing[produce_1]}s"

# ---- Stop one node, produce 10,000 more -----------------------------------
status="$(cluster_json)" || fail "cluster status failed: $(cat "$work/status.err")"
victim="$(json_get 'j["metadata_leader"] or 2' <<<"$status")"
phase "stopping node$victim (the metadata leader); producing $records more"
timeout 60 "${compose[@]}" -p "$project" -f "$deploy/docker-compose.yml" \
  stop --timeout 30 "node$victim" >/dev/null 2>&1 || fail "compose stop node$victim failed"
[[ "$(docker inspect -f '{{.State.Status}}' "$(cid "$victim")")" == exited ]] ||
  fail "node$victim is not stopped"
produce "$records" $((2 * records))
phase_end produce_2
log "$records records acknowledged with node$victim down in ${timing[produce_2]}s"
status="$(cluster_json)" || fail "cluster status failed: $(cat "$work/status.err")"
log "with node$victim down: $(json_get '"healthy=%s metadata_leader=%s under_replicated=%s" % (j["healthy"], j["metadata_leader"], j["partitions"]["under_replicated"])' <<<"$status")"

# ---- Start it again and wait until it has caught up -------------------------
phase "starting node$victim; waiting until it has caught up"
timeout 60 "${compose[@]}" -p "$project" -f "$deploy/docker-compose.yml" \
  start "node$victim" >/dev/null 2>&1 || fail "compose start node$victim failed"
wait_healthy 120 "$victim"
# Caught up: the cluster reports itself healthy (all nodes alive, every
# partition's replicas in sync) and the node's own partition logs hold all
# 2 x $records records (sum of raftlog_partition_log_end_offset on its metrics).
local_records() {
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(metrics_port "$1") &&
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null |
    awk '/^raftlog_partition_log_end_offset\{/ { s += $2 } END { printf "%d\n", s }'
}
deadline=$((SECONDS + 180))
while :; do
  healthy=False
  if status="$(cluster_json)"; then healthy="$(json_get 'j["healthy"]' <<<"$status")"; fi
  have="$(local_records "$victim" || echo 0)"
  [[ "$healthy" == True && "$have" == $((2 * records)) ]] && break
  ((SECONDS < deadline)) || fail "node$victim not caught up within 180 s (healthy=$healthy, its logs hold $have of $((2 * records)) records)"
  sleep 1
done
phase_end catch_up
log "node$victim caught up in ${timing[catch_up]}s (cluster healthy, $have records in its logs)"

# ---- Consume everything and check it ---------------------------------------
phase "consuming $topic from the beginning"
timeout 300 "${ctl[@]}" --timeout 30s consume "$topic" --from-beginning --format json \
  --idle-timeout 10s >"$work/consumed.jsonl" 2>"$work/consume.err" ||
  fail "consume failed: $(tail -n 5 "$work/consume.err")"
phase_end consume
"$py" - "$work/consumed.jsonl" $((2 * records)) <<'PY' || fail "consumed records do not match what was produced"
import collections, json, sys
path, total = sys.argv[1], int(sys.argv[2])
parts = collections.defaultdict(list)
key_partition = {}
errors = []
with open(path) as f:
    for line in f:
        r = json.loads(line)
        p, k = r["partition"], r["key"]
        if key_partition.setdefault(k, p) != p:
            errors.append(f"key {k} in partitions {key_partition[k]} and {p}")
        seq = int(r["value"])
        if k != f"k{seq % 30:02d}":
            errors.append(f"record {seq} has key {k}")
        parts[p].append((r["offset"], seq))
seen = collections.Counter()
for p, recs in sorted(parts.items()):
    offsets = [o for o, _ in recs]
    seqs = [s for _, s in recs]
    if offsets != list(range(offsets[0], offsets[0] + len(offsets))) or offsets[0] != 0:
        errors.append(f"partition {p}: offsets not dense from 0")
    if any(b <= a for a, b in zip(seqs, seqs[1:])):
        errors.append(f"partition {p}: records out of send order")
    seen.update(seqs)
    print(f"deploy test: partition {p}: {len(recs)} records, offsets 0..{offsets[-1]}, in order")
if sorted(parts) != [0, 1, 2]:
    errors.append(f"records in partitions {sorted(parts)}, expected 0, 1, 2")
missing = [s for s in range(total) if seen[s] == 0]
dups = [s for s, c in seen.items() if c > 1]
extra = [s for s in seen if not 0 <= s < total]
if missing:
    errors.append(f"{len(missing)} records missing (first {missing[:5]})")
if dups:
    errors.append(f"{len(dups)} records duplicated (first {sorted(dups)[:5]})")
if extra:
    errors.append(f"unexpected records {extra[:5]}")
for e in errors[:20]:
    print("deploy test:", e, file=sys.stderr)
if not errors:
    print(f"deploy test: all {total} records exactly once, in order per partition")
sys.exit(1 if errors else 0)
PY
