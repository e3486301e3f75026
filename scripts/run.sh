#!/usr/bin/env bash
# The main job: install what is missing, build, and run raftlog's demo.
# Until the server lands this runs the storage demo (a partition log written,
# rolled, read back by offset and timestamp, truncated and reopened).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$root/build"
exec "$root/build/storage/raftlog-storage-demo" "$@"
