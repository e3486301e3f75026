#!/bin/bash
# The container health check of a raftlogd node (HEALTHCHECK in deploy/Dockerfile):
# healthy when the node's metrics endpoint answers, the node knows the leader
# of the metadata Raft group (it has joined the cluster) and none of its Raft
# groups has stopped on a storage error. Uses bash's /dev/tcp only, so the
# image needs no curl. Exit 0 healthy, 1 not (the reason on stdout, which
# `docker inspect` shows).
set -u
port="${RAFTLOG_METRICS_ADDR:-0.0.0.0:9100}"
port="${port##*:}"
if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
  echo "metrics endpoint 127.0.0.1:$port does not answer"
  exit 1
fi
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
metrics="$(timeout 3 cat <&3)"
exec 3<&-
if ! grep -Eq '^raftlog_group_leader\{group="0"\} [1-9]' <<<"$metrics"; then
  echo "no known metadata leader (not joined, or an election is running)"
  exit 1
fi
if ! grep -q '^raftlog_node_groups_failed 0$' <<<"$metrics"; then
  echo "a Raft group stopped on a storage error: $(grep '^raftlog_node_groups_failed' <<<"$metrics")"
  exit 1
fi
echo "ok: $(grep -E '^raftlog_node_groups(_led)? ' <<<"$metrics" | tr '\n' ' ')"
