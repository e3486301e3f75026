"""A raftlogd cluster of 3 or 5 nodes, each in its own network namespace.

Node N listens on <ip N>:7001 (peers and clients) with metrics on <ip N>:9100,
keeps data in <run>/data/nN and appends its output to <run>/nodes/N.log (a
harness marker line before every start). Node state is read from the nodes'
Prometheus endpoints (role, term, leader, commit/last index and follower lag
per Raft group), so this module needs neither the worker nor raftlogctl;
replica checksums and first indexes need `jepsen_worker status/checksum`.

Invariants: every process this module starts is a Popen it keeps, signalled
by PID only; stop_all() ends them all (SIGCONT, SIGTERM, then SIGKILL after a
bound) and is idempotent; every wait is bounded in time.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

PORT = 7001
METRICS_PORT = 9100

# Faster than the defaults (100 ms ticks, 1 s elections, 9 s broker session)
# so that faults and recoveries fit in short runs.
DEFAULT_FLAGS = {
    "tick-ms": "50",
    "election-ticks": "10",
    "heartbeat-ticks": "2",
    "broker-session-timeout-ms": "4000",
    "broker-heartbeat-interval-ms": "500",
}

ROLE_LEADER = 3

_SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\}\s+(\S+)$')


def parse_metrics(text):
    """Per-group Raft state from a /metrics body:
    {group: {"role","term","commit_index","applied_index","last_index",
             "leader","high_watermark","lag": {follower: n}}}."""
    groups = {}
    names = {
        "raftlog_group_role": "role", "raftlog_group_term": "term",
        "raftlog_group_commit_index": "commit_index",
        "raftlog_group_applied_index": "applied_index",
        "raftlog_group_last_index": "last_index", "raftlog_group_leader": "leader",
        "raftlog_partition_high_watermark": "high_watermark",
    }
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())
        if not m:
            continue
        name, labels, value = m.groups()
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if "group" not in lab:
            continue
        g = groups.setdefault(int(lab["group"]), {"lag": {}})
        if name == "raftlog_group_follower_lag" and "follower" in lab:
            g["lag"][int(lab["follower"])] = int(float(value))
        elif name in names:
            g[names[name]] = int(float(value))
    return groups


class Node:
    def __init__(self, node_id):
        self.id = node_id
        self.proc = None
        self.paused = False
        self.starts = 0


class Cluster:
    def __init__(self, net, raftlogd, run_dir, flags=None, powerloss=None, log=print):
        self.net = net
        self.raftlogd = raftlogd
        self.run_dir = run_dir
        self.flags = dict(DEFAULT_FLAGS)
        self.flags.update(flags or {})
        self.powerloss = powerloss  # the harness.powerloss module, or None
        self.log = log
        self.nodes = {n: Node(n) for n in net.nodes}
        self.replica_count = {}  # group -> most replicas seen hosting it
        os.makedirs(os.path.join(run_dir, "nodes"), exist_ok=True)
        os.makedirs(os.path.join(run_dir, "data"), exist_ok=True)

    # ---- addresses ----
    def addr(self, n):
        return f"{self.net.ip(n)}:{PORT}"

    def bootstrap(self):
        return ",".join(self.addr(n) for n in self.nodes)

    def peers(self):
        return ",".join(f"{n}={self.addr(n)}" for n in self.nodes)

    def data_dir(self, n):
        return os.path.join(self.run_dir, "data", f"n{n}")

    def track_dir(self, n):
        return os.path.join(self.run_dir, "synctrack", f"n{n}")

    def log_path(self, n):
        return os.path.join(self.run_dir, "nodes", f"{n}.log")

    # ---- process control ----
    def running(self, n):
        p = self.nodes[n].proc
        return p is not None and p.poll() is None

    def up(self, n):
        """Running and not paused."""
        return self.running(n) and not self.nodes[n].paused

    def start(self, n):
        if self.running(n):
            return
        node = self.nodes[n]
        os.makedirs(self.data_dir(n), exist_ok=True)
        env = dict(os.environ)
        if self.powerloss is not None:
            os.makedirs(self.track_dir(n), exist_ok=True)
            env.update(self.powerloss.preload_env(self.track_dir(n), self.data_dir(n)))
        args = self.net.exec_prefix(n) + [
            self.raftlogd, f"--id={n}", f"--addr={self.addr(n)}", f"--peers={self.peers()}",
            f"--data-dir={self.data_dir(n)}",
            f"--metrics-addr={self.net.ip(n)}:{METRICS_PORT}"
        ] + [f"--{k}={v}" for k, v in sorted(self.flags.items())]
        with open(self.log_path(n), "a") as out:
            out.write(f"=== harness: start #{node.starts + 1} of node {n} at "
                      f"{time.monotonic_ns()} ns: {' '.join(args)}\n")
            out.flush()
            node.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        node.paused = False
        node.starts += 1

    def start_all(self):
        for n in self.nodes:
            self.start(n)

    def _signal(self, n, sig):
        p = self.nodes[n].proc
        if p is not None and p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self, n):
        """kill -9 and reap."""
        self._signal(n, signal.SIGKILL)
        p = self.nodes[n].proc
        if p is not None:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.nodes[n].paused = False

    def pause(self, n):
        self._signal(n, signal.SIGSTOP)
        self.nodes[n].paused = True

    def resume(self, n):
        self._signal(n, signal.SIGCONT)
        self.nodes[n].paused = False

    def terminate(self, n, timeout=15.0):
        """SIGTERM (graceful: the node hands its leaderships away), SIGKILL
        after `timeout`. Returns the exit code or None."""
        p = self.nodes[n].proc
        if p is None or p.poll() is not None:
            return None if p is None else p.returncode
        self.resume(n)
        self._signal(n, signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.log(f"node {n} did not exit {timeout}s after SIGTERM; SIGKILL")
            self.kill(n)
            return None

    def restart(self, n):
        self.terminate(n)
        self.start(n)

    def wipe(self, n):
        """Empty disk: kill -9, delete the data dir (and sync records)."""
        self.kill(n)
        shutil.rmtree(self.data_dir(n), ignore_errors=True)
        shutil.rmtree(self.track_dir(n), ignore_errors=True)

    def power_loss(self, n):
        """kill -9, then cut the node's files back to their fsynced lengths."""
        if self.powerloss is None:
            raise RuntimeError("power-loss needs harness/powerloss.py and nodes started "
                               "with its preload environment")
        self.kill(n)
        return self.powerloss.cut_to_synced(self.track_dir(n), self.data_dir(n))

    def stop_all(self, timeout=8.0):
        for n in self.nodes:
            self.resume(n)
            self._signal(n, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for n, node in self.nodes.items():
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(n)

    def exited_unexpectedly(self):
        """Nodes whose process ended although the harness did not stop it."""
        return [n for n, node in self.nodes.items()
                if node.proc is not None and node.proc.poll() is not None
                and node.proc.returncode not in (-signal.SIGKILL, -signal.SIGTERM, 0)]

    # ---- observation ----
    def metrics(self, n, timeout=1.0):
        if not self.up(n):
            return None
        url = f"http://{self.net.ip(n)}:{METRICS_PORT}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return parse_metrics(r.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return None

    def view(self):
        """{node: groups} for every node that answered. Also records the
        most replicas each group was ever seen with (replica_count)."""
        out = {}
        for n in self.nodes:
            m = self.metrics(n)
            if m is not None:
                out[n] = m
        for g in {g for groups in out.values() for g in groups}:
            k = sum(1 for groups in out.values() if g in groups)
            self.replica_count[g] = max(self.replica_count.get(g, 0), k)
        return out

    @staticmethod
    def leader_in(view, group):
        """The node that claims leadership of `group` with the highest term."""
        best = None
        for n, groups in view.items():
            g = groups.get(group)
            if g and g.get("role") == ROLE_LEADER:
                if best is None or g.get("term", 0) > best[1]:
                    best = (n, g.get("term", 0))
        return None if best is None else best[0]

    def leader_of(self, group):
        return self.leader_in(self.view(), group)

    def metadata_leader(self):
        return self.leader_of(0)

    def groups(self, view=None):
        view = self.view() if view is None else view
        return sorted({g for groups in view.values() for g in groups})

    def wait_leaders(self, timeout=30.0, groups=None, min_groups=1):
        """Waits until every group (default: every group any node hosts, at
        least `min_groups`) has a leader. Returns {group: leader} or raises."""
        deadline = time.monotonic() + timeout
        last = {}
        while True:
            view = self.view()
            gs = groups if groups is not None else self.groups(view)
            last = {g: self.leader_in(view, g) for g in gs}
            if len(gs) >= min_groups and all(v is not None for v in last.values()):
                return last
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no leader within {timeout}s for groups "
                                   f"{[g for g, v in last.items() if v is None] or '(none known)'}")
            time.sleep(0.25)

    def health(self, view=None, tolerance=0):
        """Problems preventing 'recovered' (empty list = recovered): a node down
        or not answering, a group without a leader, a replica more than
        `tolerance` entries from its leader (commit or last index), or a
        leader reporting a follower lag above it."""
        view = self.view() if view is None else view
        problems = []
        for n in self.nodes:
            if n not in view:
                problems.append(f"node {n} not answering")
        for g in self.groups(view):
            leader = self.leader_in(view, g)
            if leader is None:
                problems.append(f"group {g}: no leader")
                continue
            lg = view[leader][g]
            for n, groups in view.items():
                r = groups.get(g)
                if r is None:
                    continue
                if (abs(r.get("commit_index", -1) - lg.get("commit_index", -1)) > tolerance or
                        abs(r.get("last_index", -1) - lg.get("last_index", -1)) > tolerance):
                    problems.append(f"group {g}: node {n} at commit {r.get('commit_index')} "
                                    f"last {r.get('last_index')}, leader {leader} at commit "
                                    f"{lg.get('commit_index')} last {lg.get('last_index')}")
            for f, lag in lg.get("lag", {}).items():
                if lag > tolerance:
                    problems.append(f"group {g}: leader {leader} sees follower {f} lag {lag}")
        # every group has as many replicas as it ever had (a wiped node must
        # have recreated its replicas)
        for g in self.groups(view):
            hosts = sorted(n for n, groups in view.items() if g in groups)
            if len(hosts) < self.replica_count.get(g, 0):
                problems.append(f"group {g}: replicas on {hosts} only, "
                                f"had {self.replica_count[g]}")
        return problems

    def wait_recovered(self, timeout=60.0, stable=1.0):
        """Waits until health() is empty for `stable` seconds. Returns the
        seconds it took; raises TimeoutError with the last problems."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        ok_since = None
        problems = []
        while time.monotonic() < deadline:
            problems = self.health()
            if not problems:
                ok_since = ok_since or time.monotonic()
                if time.monotonic() - ok_since >= stable:
                    return time.monotonic() - t0
            else:
                ok_since = None
            time.sleep(0.3)
        raise TimeoutError(f"cluster not recovered within {timeout}s: " +
                           "; ".join(problems[:8]))


class Tools:
    """The client binaries: jepsen_worker (optional until built) and raftlogctl."""

    def __init__(self, worker=None, raftlogctl=None):
        self.worker = worker if worker and os.access(worker, os.X_OK) else None
        self.raftlogctl = raftlogctl if raftlogctl and os.access(raftlogctl, os.X_OK) else None

    def run_worker(self, args, timeout=15.0):
        """Runs `jepsen_worker <args>`; returns (exit code, parsed stdout JSON
        or None, stderr)."""
        if self.worker is None:
            raise RuntimeError("jepsen_worker not built (tests/jepsen/worker)")
        return _run_json([self.worker] + args, timeout)

    def ctl(self, brokers, args, timeout=40.0):
        if self.raftlogctl is None:
            raise RuntimeError("raftlogctl not built (cli/)")
        return _run_json([self.raftlogctl, "--brokers", brokers, "--format", "json"] + args,
                         timeout)


def _run_json(cmd, timeout):
    """Runs a tool that prints one JSON document: (exit code, parsed stdout
    or None, stderr). Exit code 124 when it did not finish in `timeout`."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 124, None, f"timed out after {timeout}s"
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = None
    return p.returncode, out, p.stderr.strip()
