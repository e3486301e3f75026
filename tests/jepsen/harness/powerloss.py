#!/usr/bin/python3
"""Power loss for a killed raftlogd: cut its files back to what it fsynced.

A kill -9 leaves every write() in the page cache, so a restarted node would see
bytes that a real power cut loses, and bugs that depend on them stay hidden.
raftlogd runs with the LD_PRELOAD shim tests/jepsen/synctrack (see its
README.md), which logs per file: the size at open, the size at every
fsync/fdatasync (and syncfs), renames, unlinks, truncations and directory
fsyncs. After the process is dead, `cut_to_synced` replays those logs and
truncates each file to the length it had last made durable.

Model (what a power cut may do on ext4, data=ordered, and what we do):
- File contents: bytes appended after the file's last fsync/fdatasync may be
  lost (delayed allocation writes them back later; the on-disk size follows).
  We always lose them: every tracked file is truncated to its synced length.
  A file's bytes that existed when it was first opened since the last cut
  count as durable (by induction: that cut left only durable bytes). Logs of
  several incarnations since the last cut (a kill -9 or clean restart with
  no cut in between) replay in start order with the state carried over, so
  bytes a killed incarnation left unsynced stay undurable until synced.
- New files: a file created by this incarnation whose directory entry was
  never made durable may vanish. model="ext4" (default): ext4 commits all
  earlier metadata operations (creates, renames, unlinks) in one journal
  transaction at any fsync, so a creation survives if ANY sync call follows
  it in the log; otherwise the file is removed. model="posix": only an
  fsync of the parent directory after the creation keeps it (what POSIX
  promises; stricter than ext4).
- Renames and unlinks are kept as done: the replaced or removed bytes are
  gone, so they cannot be undone. Those not followed by a durability point
  (by the same model) are listed in the summary as `undurable_renames` /
  `undurable_unlinks`: a finding, not a cut.
- Not modelled: overwrites inside the synced length (the shim records
  lengths, not contents), torn sectors, the ext4 5 s commit timer (we lose
  at least as much as ext4 could), mkdir without a parent fsync, writes
  through mmap, files written by another process.
- sync_file_range(WAIT_AFTER) writes data but neither the file size nor the
  disk cache; it counts as a sync only with trust_sync_file_range=True.
"""

import glob
import json
import os

SO_NAME = "libraftlog_synctrack.so"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def find_shim(so_path=None):
    """The shim's path: so_path, $RAFTLOG_SYNCTRACK_SO, <repo>/build/..., or
    any <repo>/build*/tests/jepsen/synctrack/ (newest first)."""
    candidates = []
    if so_path:
        candidates.append(so_path)
    if os.environ.get("RAFTLOG_SYNCTRACK_SO"):
        candidates.append(os.environ["RAFTLOG_SYNCTRACK_SO"])
    candidates.append(os.path.join(REPO, "build", "tests", "jepsen", "synctrack", SO_NAME))
    others = glob.glob(os.path.join(REPO, "build*", "tests", "jepsen", "synctrack", SO_NAME))
    candidates += sorted(others, key=os.path.getmtime, reverse=True)
    for c in candidates:
        if os.path.isfile(c):
            return os.path.abspath(c)
    raise FileNotFoundError(
        "%s not found (build target raftlog_synctrack; tried %s)" % (SO_NAME, candidates))


def preload_env(track_dir, data_dir, so_path=None, preload_before=None):
    """Environment variables to add to raftlogd's environment.

    preload_before: libraries that must come first in LD_PRELOAD (an ASan
    build needs its runtime first). Creates track_dir."""
    os.makedirs(track_dir, exist_ok=True)
    so = find_shim(so_path)
    preload = ([preload_before] if preload_before else []) + [so]
    return {
        "LD_PRELOAD": ":".join(preload),
        "RAFTLOG_SYNCTRACK_DIR": os.path.realpath(track_dir),
        # The shim compares resolved paths; realpath works before the data
        # dir exists (raftlogd may create it).
        "RAFTLOG_SYNCTRACK_ROOT": os.path.realpath(data_dir),
    }


def parse_line(line):
    """One log line -> tuple, or None if malformed (e.g. a torn last line)."""
    if not line.endswith("\n") or len(line) < 3 or line[1] != " ":
        return None
    kind, rest = line[0], line[2:-1]
    try:
        if kind == "O":
            created, trunc, size, path = rest.split(" ", 3)
            return ("O", created == "1", trunc == "1", int(size), path)
        if kind in "FWA":
            size, path = rest.split(" ", 1)
            return (kind, int(size), path)
        if kind in "DU":
            return (kind, rest)
        if kind == "T":
            newlen, oldsize, path = rest.split(" ", 2)
            return ("T", int(newlen), int(oldsize), path)
        if kind == "R":
            n, paths = rest.split(" ", 1)
            n = int(n)
            if n <= 0 or n >= len(paths):
                return None
            return ("R", paths[:n], paths[n:])
    except ValueError:
        return None
    return None


def read_logs(track_dir):
    """Every parsed record of every process log, log by log in name order
    (names start with the process's start time, so this is incarnation
    order; raftlogd is one process per data dir at a time)."""
    records = []
    for name in sorted(os.listdir(track_dir)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(track_dir, name), "r", errors="replace") as f:
            for line in f:
                r = parse_line(line)
                if r is not None:
                    records.append(r)
    return records


def file_type(rel):
    """Coarse type of a path relative to the data dir, for the summary."""
    base = os.path.basename(rel)
    parts = rel.split(os.sep)
    if parts[0] == "metadata":
        if base.endswith(".log"):
            return "rocksdb-wal"
        if base.endswith(".sst"):
            return "rocksdb-sst"
        if base.startswith("MANIFEST"):
            return "rocksdb-manifest"
        if base == "LOG" or base.startswith("LOG.old"):
            return "rocksdb-info-log"
        return "rocksdb-other"
    if parts[0] == "journal":
        return "node-journal"
    if parts[0] == "groups":
        if base.endswith(".log"):
            return "segment-log"
        if base.endswith(".timeindex"):
            return "segment-timeindex"
        if base.endswith(".index"):
            return "segment-index"
        if base.startswith("raft-state"):
            return "raft-state"
        if base.endswith(".checkpoint") or base.endswith(".checkpoint.tmp"):
            return "log-start-checkpoint"
        return "group-other"
    if base == "LOCK":
        return "node-lock"
    return "node-other"


class _File:
    """Replay state of one path: its synced length, and whether its
    directory entry is durable (false only for files this incarnation
    created and no durability point has covered yet)."""
    __slots__ = ("synced", "entry_durable")

    def __init__(self, synced, entry_durable):
        self.synced = synced
        self.entry_durable = entry_durable


def replay(records, model="ext4", trust_sync_file_range=False):
    """Replays records in order; returns (files: path -> _File, undurable
    renames [[old, new]], undurable unlinks [path])."""
    if model not in ("ext4", "posix"):
        raise ValueError("model must be ext4 or posix")
    files = {}
    pending = []  # [kind, paths, set of parent dirs still to be fsynced]

    def sync_point(dir_synced=None):
        # ext4: any sync commits every earlier metadata operation. posix: a
        # directory fsync makes the operations on that directory durable.
        if model == "ext4":
            for f in files.values():
                f.entry_durable = True
            pending.clear()
            return
        if dir_synced is None:
            return
        for p, f in files.items():
            if os.path.dirname(p) == dir_synced:
                f.entry_durable = True
        for op in pending:
            op[2].discard(dir_synced)
        pending[:] = [op for op in pending if op[2]]

    for r in records:
        kind = r[0]
        if kind == "O":
            _, created, trunc, size, path = r
            f = files.get(path)
            if f is None:
                # First open in this incarnation: what exists is durable.
                files[path] = _File(0 if created else size, not created)
            elif trunc:
                f.synced = 0
        elif kind in "FWA":
            if kind == "W" and not trust_sync_file_range:
                continue
            _, size, path = r
            f = files.get(path)
            if f is None:  # opened in a way the shim does not see
                files[path] = _File(size, True)
            else:
                f.synced = size
            sync_point()
        elif kind == "D":
            sync_point(dir_synced=r[1])
        elif kind == "R":
            _, old, new = r
            f = files.pop(old, None)
            files.pop(new, None)
            if f is not None:
                files[new] = f  # keeps its synced length and entry state
            pending.append(["R", [old, new], {os.path.dirname(old), os.path.dirname(new)}])
        elif kind == "U":
            files.pop(r[1], None)
            pending.append(["U", [r[1]], {os.path.dirname(r[1])}])
        elif kind == "T":
            _, newlen, oldsize, path = r
            f = files.get(path)
            if f is None:
                files[path] = _File(min(newlen, oldsize), True)
            else:
                f.synced = min(f.synced, newlen)
    renames = [op[1] for op in pending if op[0] == "R"]
    unlinks = [op[1][0] for op in pending if op[0] == "U"]
    return files, renames, unlinks


def cut_to_synced(track_dir, data_dir, model="ext4", trust_sync_file_range=False,
                  reset=True):
    """Cuts every tracked file under data_dir to its synced length (see the
    module doc). The process must be dead. Resets the logs for the next
    incarnation (unless reset=False) and appends the summary to
    <track_dir>/cuts.jsonl. Returns the summary:
      {"model", "records", "files_tracked", "tracked_by_type": {type: files},
       "files_cut", "bytes_dropped",
       "files_removed", "by_type": {type: {"files", "bytes"}},
       "cuts": [{"path", "type", "old_size", "new_size"}],
       "removed": [{"path", "type", "size"}],
       "undurable_renames": [[old, new]], "undurable_unlinks": [path],
       "shorter_than_synced": [{"path", "size", "synced"}]}"""
    root = os.path.realpath(data_dir)
    records = read_logs(track_dir)
    files, renames, unlinks = replay(records, model, trust_sync_file_range)
    summary = {"model": model, "records": len(records), "files_tracked": len(files),
               "files_cut": 0, "bytes_dropped": 0, "files_removed": 0, "by_type": {},
               "tracked_by_type": {},
               "cuts": [], "removed": [], "undurable_renames": renames,
               "undurable_unlinks": unlinks, "shorter_than_synced": []}

    def account(ftype, nbytes):
        t = summary["by_type"].setdefault(ftype, {"files": 0, "bytes": 0})
        t["files"] += 1
        t["bytes"] += nbytes
        summary["bytes_dropped"] += nbytes

    for path in sorted(files):
        f = files[path]
        if not (path == root or path.startswith(root + os.sep)):
            continue
        tracked = summary["tracked_by_type"]
        ftype = file_type(os.path.relpath(path, root))
        tracked[ftype] = tracked.get(ftype, 0) + 1
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        rel = os.path.relpath(path, root)
        ftype = file_type(rel)
        if not f.entry_durable:
            os.unlink(path)
            summary["files_removed"] += 1
            summary["removed"].append({"path": rel, "type": ftype, "size": st.st_size})
            account(ftype, st.st_size)
            continue
        if st.st_size > f.synced:
            os.truncate(path, f.synced)
            summary["files_cut"] += 1
            summary["cuts"].append({"path": rel, "type": ftype, "old_size": st.st_size,
                                    "new_size": f.synced})
            account(ftype, st.st_size - f.synced)
        elif st.st_size < f.synced:
            summary["shorter_than_synced"].append({"path": rel, "size": st.st_size,
                                                   "synced": f.synced})
    if reset:
        for name in os.listdir(track_dir):
            if name.endswith(".log"):
                os.unlink(os.path.join(track_dir, name))
    with open(os.path.join(track_dir, "cuts.jsonl"), "a") as out:
        out.write(json.dumps(summary, sort_keys=True) + "\n")
    return summary
