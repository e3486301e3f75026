#!/usr/bin/python3
"""Disk faults for a stopped raftlogd: bit flips and truncated segments.

Only partition segment files are touched: <data>/groups/<20-digit group
id>/log/<20-digit base offset>.log (storage/segment.h, broker/data_dir.h).
Never the indexes (raftlogd rebuilds stale ones, so damage there tests
little), the node journal, raft-state, node.meta or RocksDB (metadata/).

Call these only while the node is stopped. Bytes a node never fsynced may
legitimately be lost or garbage after a crash, so damage there proves
nothing: after powerloss.cut_to_synced every remaining byte is synced; if the
node was only killed, pass track_dir (the synctrack logs, before the cut
resets them) and the faults stay below each file's synced length.

What raftlogd must do (docs/ARCHITECTURE.md, storage/): a flip in a sealed
segment is DataLoss on read, never silently wrong data; in the active
segment's checked tail it is indistinguishable from a torn write and is cut
and reported, then Raft repairs the replica from its peers. A truncated
segment is cut or rebuilt on open the same way. Either way: no acknowledged
record may be lost from the cluster, none may be served altered.
"""

import os
import re

from . import powerloss

_DIGITS20 = re.compile(r"^\d{20}$")
_SEGMENT = re.compile(r"^\d{20}\.log$")


def segment_files(data_dir):
    """{group dir name: [segment paths sorted by base offset]} for every
    partition group under data_dir."""
    groups = os.path.join(data_dir, "groups")
    out = {}
    if not os.path.isdir(groups):
        return out
    for g in sorted(os.listdir(groups)):
        log_dir = os.path.join(groups, g, "log")
        if not _DIGITS20.match(g) or not os.path.isdir(log_dir):
            continue
        segs = sorted(n for n in os.listdir(log_dir) if _SEGMENT.match(n))
        if segs:
            out[g] = [os.path.join(log_dir, n) for n in segs]
    return out


def _limits(data_dir, track_dir, sealed_only):
    """[(path, usable length)] of eligible segment files with length > 0."""
    synced = {}
    if track_dir is not None:
        files, _, _ = powerloss.replay(powerloss.read_logs(track_dir))
        synced = {p: f.synced for p, f in files.items()}
    out = []
    for segs in segment_files(data_dir).values():
        for i, path in enumerate(segs):
            if sealed_only and i == len(segs) - 1:
                continue
            size = os.path.getsize(path)
            real = os.path.realpath(path)
            if real in synced:
                size = min(size, synced[real])
            if size > 0:
                out.append((path, size))
    return out


def flip_bits(data_dir, rng, count, track_dir=None, sealed_only=False):
    """Flips `count` distinct bits, chosen uniformly over the bytes of the
    eligible segment files (below their synced length if track_dir is given;
    sealed_only: never the last segment of a partition). Returns
    [(file, offset, bit)] in the order applied; fewer if the files hold
    fewer than `count` bits, none if there are no segment files."""
    files = _limits(data_dir, track_dir, sealed_only)
    total = sum(n for _, n in files)
    chosen = set()
    for _ in range(min(count, total * 8)):
        for _attempt in range(100):
            pos = rng.randrange(total)
            bit = rng.randrange(8)
            for path, n in files:
                if pos < n:
                    break
                pos -= n
            if (path, pos, bit) not in chosen:
                chosen.add((path, pos, bit))
                break
    flips = sorted(chosen)
    rng.shuffle(flips)
    for path, off, bit in flips:
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ (1 << bit)]))
            f.flush()
            os.fsync(f.fileno())
    return flips


def truncate_segment(data_dir, rng, track_dir=None, sealed_only=False, max_cut=None):
    """Cuts the tail of one segment file chosen uniformly among the eligible
    ones: new size uniform in [max(0, old - max_cut), old - 1] (max_cut None:
    anywhere in [0, old - 1]), old = the usable length as in flip_bits.
    Returns (file, old_size, new_size), or None if no segment qualifies."""
    files = _limits(data_dir, track_dir, sealed_only)
    if not files:
        return None
    path, usable = files[rng.randrange(len(files))]
    old = os.path.getsize(path)
    low = 0 if max_cut is None else max(0, usable - max_cut)
    new = rng.randrange(low, usable)
    os.truncate(path, new)
    return (path, old, new)
