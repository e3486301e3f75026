#!/usr/bin/env bash
# The main job: install what is missing, build, and run a local 3-node
# raftlog cluster in the foreground: raftlogd nodes 1-3 on 127.0.0.1:7001-7003
# (one gRPC port each for peers and clients) with Prometheus metrics on
# 127.0.0.1:9101-9103 and data under ./data/node-N (kept between runs: a
# restart recovers every group from disk). Ctrl-C stops the nodes with
# SIGTERM (each hands its leaderships away and exits cleanly).
#
#   scripts/run.sh                 run until Ctrl-C
#   RAFTLOG_RUN_SECONDS=20 scripts/run.sh   run for 20 s, then stop
#   RAFTLOG_DATA=/path scripts/run.sh       keep data elsewhere
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$root/build"

raftlogd="$root/build/broker/raftlogd"
data="${RAFTLOG_DATA:-$root/data}"
peers="1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
pids=()

stop_all() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    echo "run: stopping nodes (${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
}
trap stop_all INT TERM EXIT

for id in 1 2 3; do
  mkdir -p "$data/node-$id"
  "$raftlogd" --id="$id" --addr="127.0.0.1:700$id" --peers="$peers" \
    --data-dir="$data/node-$id" --metrics-addr="127.0.0.1:910$id" \
    >>"$data/node-$id.log" 2>&1 &
  pids+=("$!")
done

# Wait (up to 30 s) until a node reports itself leader of the metadata group.
leader=""
for _ in $(seq 1 60); do
  for id in 1 2 3; do
    if ! kill -0 "${pids[$((id - 1))]}" 2>/dev/null; then
      echo "run: node $id exited; its log:" >&2
      tail -n 20 "$data/node-$id.log" >&2
      exit 1
    fi
    if curl -fsS "http://127.0.0.1:910$id/metrics" 2>/dev/null |
        grep -q '^raftlog_group_role{group="0"} 3'; then
      leader="$id"
    fi
  done
  [[ -n "$leader" ]] && break
  sleep 0.5
done
if [[ -z "$leader" ]]; then
  echo "run: no metadata leader after 30 s; logs are in $data/node-*.log" >&2
  exit 1
fi

cat <<MSG
run: 3-node raftlog cluster up (pids ${pids[*]}); node $leader leads the metadata group.
  nodes:    127.0.0.1:7001  127.0.0.1:7002  127.0.0.1:7003   (gRPC: peers and clients)
  metrics:  curl http://127.0.0.1:9101/metrics   (9102, 9103 for nodes 2, 3)
  logs:     $data/node-N.log     data: $data/node-N/
  Ctrl-C stops the cluster.
MSG

if [[ -n "${RAFTLOG_RUN_SECONDS:-}" ]]; then
  sleep "$RAFTLOG_RUN_SECONDS"
else
  wait -n "${pids[@]}" || true
  echo "run: a node exited; stopping the others" >&2
fi
