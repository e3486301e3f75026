#!/usr/bin/python3
"""Tests of the power-loss and disk-corruption tools (issue 9).

Run: /usr/bin/python3 -m pytest -q tests/jepsen/harness/test_powerloss.py
Needs gcc (the shim is built from source when no build dir holds it). The
end-to-end tests need raftlogd and raftlogctl: $RAFTLOGD / $RAFTLOGCTL, else
<repo>/build/{broker/raftlogd,cli/raftlogctl}, else any <repo>/build*/ copy;
they bind 127.0.0.1:7401 and stop every process they start by PID.
"""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
from harness import corrupt, powerloss  # noqa: E402

REPO = powerloss.REPO
SRC = os.path.join(REPO, "tests", "jepsen", "synctrack", "synctrack.c")
PY = "/usr/bin/python3"


@pytest.fixture(scope="session")
def shim(tmp_path_factory):
    try:
        return powerloss.find_shim()
    except FileNotFoundError:
        out = str(tmp_path_factory.mktemp("shim") / powerloss.SO_NAME)
        subprocess.run(["gcc", "-std=c11", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
                        "-Wall", "-Wextra", "-Werror", SRC, "-o", out, "-ldl"], check=True)
        return out


def run_traced(shim, track, data, script):
    env = dict(os.environ)
    env.update(powerloss.preload_env(str(track), str(data), so_path=shim))
    subprocess.run([PY, "-c", textwrap.dedent(script)], env=env, cwd=str(data), check=True,
                   timeout=60)


def sizes(data):
    out = {}
    for root, _, names in os.walk(data):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, data)] = os.path.getsize(p)
    return out


# ---- the shim and the replay ------------------------------------------------------

SCRIPT = """
import os
def w(fd, n, c=b"x"): os.write(fd, c * n)
# a: created, 100 synced, 50 more unsynced.
a = os.open("a", os.O_RDWR | os.O_CREAT, 0o644); w(a, 100); os.fsync(a); w(a, 50)
# b: 30 synced (fdatasync), 20 more, then renamed to sub/c; sub fsynced.
b = os.open("b", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); w(b, 30); os.fdatasync(b); w(b, 20)
os.rename("b", "sub/c")
# old: existed before (40 bytes); opened relative to a dir fd, 10 appended.
d = os.open("sub", os.O_RDONLY)
o = os.open("old", os.O_WRONLY | os.O_APPEND, dir_fd=d); w(o, 10)
os.fsync(d)
# g: 100 synced, cut to 60, then written to 80: durable 60.
g = os.open("g", os.O_RDWR | os.O_CREAT, 0o644); w(g, 100); os.fsync(g)
os.ftruncate(g, 60); os.lseek(g, 0, os.SEEK_END); w(g, 20)
# h: synced, then unlinked: no record left.
h = os.open("h", os.O_RDWR | os.O_CREAT, 0o644); w(h, 10); os.fsync(h); os.unlink("h")
# s: libc fopen("w"), written, never synced, but later syncs follow.
import ctypes
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
fp = libc.fopen(b"s", b"w"); libc.fputs(b"hello", ctypes.c_void_p(fp)); libc.fclose(ctypes.c_void_p(fp))
os.fsync(a)   # a now durable at 150
w(a, 7)       # and 7 more unsynced
# late: created after the last sync: its directory entry may not exist.
late = os.open("late", os.O_WRONLY | os.O_CREAT, 0o644); w(late, 33)
"""


def test_cut_restores_synced_lengths(shim, tmp_path):
    data, track = tmp_path / "data", tmp_path / "track"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "old").write_bytes(b"o" * 40)  # before the traced process
    run_traced(shim, track, data, SCRIPT)
    before = sizes(data)
    assert before == {"a": 157, "sub/c": 50, "sub/old": 50, "g": 80, "s": 5, "late": 33}
    logs = glob.glob(str(track / "*.log"))
    assert len(logs) == 1
    s = powerloss.cut_to_synced(str(track), str(data))
    assert sizes(data) == {"a": 150, "sub/c": 30, "sub/old": 40, "g": 60, "s": 0}
    assert s["files_removed"] == 1 and s["removed"][0]["path"] == "late"
    assert s["files_cut"] == 5
    assert s["bytes_dropped"] == (157 - 150) + (50 - 30) + 10 + 20 + 5 + 33
    # Every rename and unlink was followed by a sync (ext4: a journal commit).
    assert s["undurable_renames"] == [] and s["undurable_unlinks"] == []
    # The logs are reset for the next incarnation; the summary is kept.
    assert glob.glob(str(track / "*.log")) == []
    assert json.loads((track / "cuts.jsonl").read_text().splitlines()[-1])["bytes_dropped"] == \
        s["bytes_dropped"]
    # A second cut with no new records changes nothing.
    s2 = powerloss.cut_to_synced(str(track), str(data))
    assert s2["records"] == 0 and s2["bytes_dropped"] == 0


def test_posix_model_needs_directory_fsync(shim, tmp_path):
    data, track = tmp_path / "data", tmp_path / "track"
    data.mkdir()
    run_traced(shim, track, data, """
        import os
        for n in ("x", "y"):
            fd = os.open(n, os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"z" * 64); os.fsync(fd)
        d = os.open(".", os.O_RDONLY); os.fsync(d)        # covers x and y
        fd = os.open("z", os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"z" * 64); os.fsync(fd)
        os.rename("x", "x2")                              # no directory fsync after it
    """)
    files, renames, _ = powerloss.replay(powerloss.read_logs(str(track)), model="posix")
    root = os.path.realpath(data)
    assert renames == [[root + "/x", root + "/x2"]]
    s = powerloss.cut_to_synced(str(track), str(data), model="posix")
    # z was fsynced but its directory never was: POSIX may lose its entry.
    assert sizes(data) == {"x2": 64, "y": 64}
    assert [r["path"] for r in s["removed"]] == ["z"]


def test_ext4_model_keeps_fsynced_new_file(shim, tmp_path):
    data, track = tmp_path / "data", tmp_path / "track"
    data.mkdir()
    run_traced(shim, track, data, """
        import os
        fd = os.open("z", os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"z" * 64); os.fsync(fd)
        os.write(fd, b"more")
    """)
    s = powerloss.cut_to_synced(str(track), str(data))
    assert sizes(data) == {"z": 64} and s["bytes_dropped"] == 4


def test_shim_is_inert_without_env_and_keeps_errno(shim, tmp_path):
    env = dict(os.environ, LD_PRELOAD=shim)
    out = subprocess.run([PY, "-c", textwrap.dedent("""
        import errno, os
        try:
            os.open("/nonexistent/dir/f", os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            print(e.errno == errno.ENOENT)
        try:
            os.fsync(12345)
        except OSError as e:
            print(e.errno == errno.EBADF)
    """)], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["True", "True"]
    track = tmp_path / "track"
    env.update(powerloss.preload_env(str(track), str(tmp_path / "data"), so_path=shim))
    out = subprocess.run([PY, "-c", "import os\ntry:\n os.rename('/nonexistent/a', '/nonexistent/b')\n"
                          "except OSError as e:\n print(e.errno)"], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "2"


def test_parse_skips_torn_lines(tmp_path):
    (tmp_path / "1-1.log").write_text("O 1 0 0 /d/a\nF 10 /d/a\nF 2")
    recs = powerloss.read_logs(str(tmp_path))
    assert recs == [("O", True, False, 0, "/d/a"), ("F", 10, "/d/a")]


# ---- corrupt.py --------------------------------------------------------------------

def make_layout(data):
    log = data / "groups" / ("%020d" % 3) / "log"
    log.mkdir(parents=True)
    (log / ("%020d.log" % 0)).write_bytes(bytes(1000))
    (log / ("%020d.log" % 500)).write_bytes(bytes(300))
    (log / ("%020d.index" % 0)).write_bytes(bytes(240))
    (data / "metadata").mkdir()
    (data / "metadata" / "000004.log").write_bytes(bytes(500))
    (data / "journal").mkdir()
    (data / "journal" / ("%020d.journal" % 1)).write_bytes(bytes(500))
    return log


def test_flip_bits_only_in_segments(tmp_path):
    log = make_layout(tmp_path)
    before = {p: open(p, "rb").read() for p in glob.glob(str(tmp_path / "**" / "*"), recursive=True)
              if os.path.isfile(p)}
    flips = corrupt.flip_bits(str(tmp_path), random.Random(7), 40)
    assert len(flips) == 40 and len(set(flips)) == 40
    for path, off, bit in flips:
        assert path.endswith(".log") and os.path.dirname(path) == str(log)
        assert open(path, "rb").read()[off] & (1 << bit)
    changed = {p for p, b in before.items() if open(p, "rb").read() != b}
    assert changed <= {str(log / ("%020d.log" % 0)), str(log / ("%020d.log" % 500))}
    assert sum(bin(b).count("1") for p in changed for b in open(p, "rb").read()) == 40
    # sealed_only never touches the last segment of a partition.
    flips = corrupt.flip_bits(str(tmp_path), random.Random(8), 30, sealed_only=True)
    assert {p for p, _, _ in flips} == {str(log / ("%020d.log" % 0))}


def test_corruption_stays_below_synced_length(shim, tmp_path):
    data, track = tmp_path / "data", tmp_path / "track"
    log = make_layout(data)
    seg = "%020d.log" % 500
    run_traced(shim, track, log, f"""
        import os
        fd = os.open("{seg}", os.O_WRONLY | os.O_APPEND); os.write(fd, b"u" * 700)
    """)
    rng = random.Random(3)
    for _ in range(20):
        for path, off, _ in corrupt.flip_bits(str(data), rng, 5, track_dir=str(track)):
            if path.endswith(seg):
                assert off < 300
        res = corrupt.truncate_segment(str(data), rng, track_dir=str(track))
        assert res is not None and res[2] < res[1]
        if res[0].endswith(seg):
            assert res[2] < 300
        # Put the file back to full length for the next round.
        with open(res[0], "ab") as f:
            f.write(bytes(res[1] - res[2]))
    assert corrupt.truncate_segment(str(tmp_path / "nothing"), rng) is None


# ---- end to end: raftlogd ----------------------------------------------------------

def find_binary(env_name, rel):
    if os.environ.get(env_name):
        return os.environ[env_name]
    for c in [os.path.join(REPO, "build", rel)] + sorted(
            glob.glob(os.path.join(REPO, "build*", rel)), key=os.path.getmtime, reverse=True):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


RAFTLOGD = find_binary("RAFTLOGD", "broker/raftlogd")
RAFTLOGCTL = find_binary("RAFTLOGCTL", "cli/raftlogctl")
ADDR = "127.0.0.1:7401"
PARTITIONS = 16
BATCH = 50
# Kill/cut/restart cycles per mode; the test command runs 2 (about 80 s for
# the four modes), RAFTLOG_POWERLOSS_CYCLES=4 or more for a longer soak.
CYCLES = int(os.environ.get("RAFTLOG_POWERLOSS_CYCLES", "2"))
needs_binaries = pytest.mark.skipif(RAFTLOGD is None or RAFTLOGCTL is None,
                                    reason="raftlogd/raftlogctl not built")


class Node:
    """One single-node raftlogd under the shim; stopped by PID."""

    def __init__(self, tmp, shim, sync_mode="journal", model="ext4"):
        self.data, self.track = str(tmp / "data"), str(tmp / "track")
        self.model = model  # powerloss model of the cuts
        self.log = str(tmp / "node.log")
        self.shim, self.sync_mode = shim, sync_mode
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.update(powerloss.preload_env(self.track, self.data, so_path=self.shim))
        with open(self.log, "a") as out:
            out.write("=== start\n")
            out.flush()
            self.proc = subprocess.Popen(
                [RAFTLOGD, "--id=1", "--addr=" + ADDR, "--peers=1=" + ADDR,
                 "--data-dir=" + self.data, "--sync-mode=" + self.sync_mode],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "raftlogd exited: see " + self.log
            try:
                if ctl("cluster", "status", timeout=10, check=False,
                       deadline="2s").returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.3)
        raise AssertionError("raftlogd not ready in 40 s: see " + self.log)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.proc = None


def ctl(*args, stdin=None, timeout=60, check=True, deadline="10s"):
    r = subprocess.run([RAFTLOGCTL, "--brokers=" + ADDR, "--timeout=" + deadline] + list(args),
                       input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("raftlogctl %s: exit %d: %s" % (args, r.returncode, r.stderr))
    return r


def consume_all(topic):
    """Every record of the topic (records of unknown fate included)."""
    r = ctl("consume", topic, "--from-beginning", "--idle-timeout=3s", "--format=json",
            timeout=120)
    return [json.loads(line)["value"] for line in r.stdout.splitlines() if line.strip()]


def load_then_kill(node, topic, acked, tag, load_s):
    """One producer loop per partition, each running `raftlogctl produce
    --acks=all` on batches of BATCH records; a batch is acknowledged when
    its run exits 0. After load_s the node is killed -9 in mid-load (runs in
    flight then fail; their records are of unknown fate). Returns the number
    of acknowledged batches."""
    lock = threading.Lock()
    stop = threading.Event()
    done = [0]
    running = {}  # partition -> the raftlogctl in flight

    def loop(p):
        for k in range(10000):
            vals = ["%s-%d-%d-%d" % (tag, p, k, i) for i in range(BATCH)]
            with lock:
                if stop.is_set():
                    return
                proc = subprocess.Popen(
                    [RAFTLOGCTL, "--brokers=" + ADDR, "--timeout=5s", "produce", topic,
                     "--acks=all", "--partition=%d" % p], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                running[p] = proc
            try:
                proc.communicate("\n".join(vals) + "\n", timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with lock:
                running.pop(p, None)
                if proc.returncode != 0:
                    return
                acked.extend(vals)
                done[0] += 1

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in range(PARTITIONS)]
    for t in threads:
        t.start()
    time.sleep(load_s)
    node.kill9()
    # The producers in flight would wait out their 30 s delivery timeout:
    # their records are of unknown fate anyway, so stop them (by PID).
    with lock:
        stop.set()
        for proc in running.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    for t in threads:
        t.join(timeout=70)
    assert not any(t.is_alive() for t in threads)
    return done[0]


def cycle(node, topic, acked, tag, load_s=3.0):
    """Load, kill -9 in mid-load, cut to the synced lengths, restart, and
    check every acknowledged record is readable exactly once. Returns the
    cut summary."""
    t0 = time.monotonic()
    batches = load_then_kill(node, topic, acked, tag, load_s)
    assert batches > 0, "no batch was acknowledged: see " + node.log
    t1 = time.monotonic()
    summary = powerloss.cut_to_synced(node.track, node.data, model=node.model)
    node.start()
    t2 = time.monotonic()
    got = consume_all(topic)
    print("\n  %s: %d batches acked (%d records in all), load+kill %.1fs, cut+restart "
          "%.1fs, consume %.1fs, dropped %s" % (
              tag, batches, len(acked), t1 - t0, t2 - t1, time.monotonic() - t2,
              json.dumps({t: v["bytes"] for t, v in sorted(summary["by_type"].items())})))
    missing = sorted(set(acked) - set(got))
    assert not missing, "acknowledged records lost after power loss: %d, e.g. %s; cut %s" % (
        len(missing), missing[:5], json.dumps(summary["by_type"]))
    assert len(got) == len(set(got)), "duplicates after power loss"
    return summary


def print_summary(label, summaries):
    total = {}
    for s in summaries:
        for t, v in s["by_type"].items():
            e = total.setdefault(t, {"files": 0, "bytes": 0})
            e["files"] += v["files"]
            e["bytes"] += v["bytes"]
    print("\n%s: %d cuts, dropped %s, removed files %d, undurable renames %d" % (
        label, len(summaries), json.dumps(total, sort_keys=True),
        sum(s["files_removed"] for s in summaries),
        sum(len(s["undurable_renames"]) for s in summaries)))
    return total


@needs_binaries
@pytest.mark.parametrize("sync_mode,model", [("journal", "ext4"), ("per-group", "ext4"),
                                              ("syncfs", "ext4"), ("journal", "posix")])
def test_raftlogd_keeps_acknowledged_records_after_power_loss(shim, tmp_path, sync_mode, model):
    node = Node(tmp_path, shim, sync_mode, model)
    try:
        node.start()
        # The broker registers itself a moment after it serves: retry.
        for attempt in range(60):
            r = ctl("topic", "create", "pl", "-p", str(PARTITIONS), "-r", "1", timeout=60,
                    check=attempt == 59)
            if r.returncode == 0:
                break
            time.sleep(0.5)
        acked, summaries = [], []
        for c in range(CYCLES):
            summaries.append(cycle(node, "pl", acked, tag="c%d" % c))
        print_summary("sync-mode=%s model=%s" % (sync_mode, model), summaries)
        # The shim must have seen raftlogd's files, or the cut proves nothing.
        # (Whether a kill lands while journaled entries are still unsynced in
        # the segment logs is timing: the summary above shows it.)
        for s in summaries:
            assert s["tracked_by_type"].get("segment-log", 0) >= PARTITIONS, s["tracked_by_type"]
            assert s["tracked_by_type"].get("rocksdb-wal", 0) >= 1, s["tracked_by_type"]
            if sync_mode == "journal":
                assert s["tracked_by_type"].get("node-journal", 0) >= 1, s["tracked_by_type"]
        with open(node.log) as f:
            log = f.read()
        assert "Check failed" not in log and "DataLoss" not in log.replace("DataLossError", "")
    finally:
        node.stop()
