"""Faults (the nemesis) and their schedule.

Every fault is a start/stop pair; both are logged to nemesis.jsonl as
{"time": monotonic ns, "type": "start"|"stop", "fault": name, "detail": {..}}
(a fault window runs from a start to the next stop of the same fault).
make_schedule() is pure (seeded); Nemesis.run() executes a schedule against a
Cluster. Faults of a combined nemesis run one after another, never
overlapping, so that at most one node's disk is damaged at a time; faults
that destroy a node's data (corrupt, wipe) additionally wait until the
cluster has caught up from the previous fault, and are skipped (logged with
"skipped") if it does not within a bound.

Invariants: every fault's stop undoes what its start did (restarts the nodes
it stopped, heals the cuts it made, resumes what it paused); heal_all()
restores everything whatever state a fault left.
"""

import json
import time

FAULTS = [
    "kill-leader", "kill-random", "pause", "pause-then-kill", "partition-leader",
    "partition-follower", "partition-majority-minority", "partition-bridge",
    "partition-flapping", "transfer-leader", "restart", "power-loss", "corrupt", "wipe",
]
# Fault sets by alias.
ALIASES = {
    "none": [],
    "kill": ["kill-leader", "kill-random"],
    "partition": ["partition-leader", "partition-follower", "partition-majority-minority",
                  "partition-bridge", "partition-flapping"],
    "disk": ["power-loss", "corrupt", "wipe"],
    "all": FAULTS,
}
DATA_DESTROYING = {"corrupt", "wipe"}


def parse_nemesis(spec):
    """"kill-leader,partition" -> ordered unique fault names; ValueError on
    an unknown name."""
    out = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        names = ALIASES.get(part, [part])
        for n in names:
            if n not in FAULTS:
                raise ValueError(f"unknown fault {n!r}; known: {', '.join(FAULTS)}; "
                                 f"aliases: {', '.join(sorted(ALIASES))}")
            if n not in out:
                out.append(n)
    return out


def make_schedule(faults, duration_s, rng, quiet=(4.0, 6.0), window=(5.0, 10.0),
                  tail=2.0):
    """[(start_s, stop_s, fault)] relative to the run start: a quiet gap, a
    fault window, a quiet gap, ... Faults cycle through a shuffled order so
    each is used before any repeats. Every window ends by duration - tail."""
    if not faults:
        return []
    out = []
    order = []
    t = rng.uniform(*quiet)
    while True:
        w = rng.uniform(*window)
        if t + w > duration_s - tail:
            # a shorter last window if at least the minimum fits
            w = duration_s - tail - t
            if w < window[0]:
                break
        if not order:
            order = list(faults)
            rng.shuffle(order)
        out.append((round(t, 3), round(t + w, 3), order.pop(0)))
        t += w + rng.uniform(*quiet)
    return out


def random_halves(nodes, rng):
    ns = list(nodes)
    rng.shuffle(ns)
    k = len(ns) // 2
    return [sorted(ns[:k]), sorted(ns[k:])]


def bridge_groups(nodes, rng):
    """Two sides that both see one bridge node: 3 nodes -> [[a,b],[b,c]],
    5 nodes -> [[a,b,c],[c,d,e]]."""
    ns = list(nodes)
    rng.shuffle(ns)
    mid = len(ns) // 2
    return [sorted(ns[:mid + 1]), sorted(ns[mid:])]


class Nemesis:
    def __init__(self, cluster, tools, rng, path, topic=None, partitions=0, log=print):
        self.c = cluster
        self.net = cluster.net
        self.tools = tools
        self.rng = rng
        self.path = path
        self.topic = topic
        self.partitions = partitions
        self.log = log
        self.active = None  # (fault, state) while a window is open
        self.events = []
        self.errors = []  # faults that could not be applied (harness problems)

    # ---- logging ----
    def event(self, typ, fault, detail):
        e = {"time": time.monotonic_ns(), "type": typ, "fault": fault, "detail": detail}
        self.events.append(e)
        with open(self.path, "a") as f:
            f.write(json.dumps(e, default=str) + "\n")
        self.log(f"nemesis {typ:5s} {fault} {json.dumps(detail, default=str)}")

    # ---- targets ----
    def nodes(self):
        return sorted(self.c.nodes)

    def leader_target(self):
        """(group, leader) of a random group that has a leader now; the
        metadata group (0) is one of the candidates."""
        view = self.c.view()
        groups = self.c.groups(view)
        self.rng.shuffle(groups)
        for g in groups:
            leader = self.c.leader_in(view, g)
            if leader is not None:
                return g, leader
        return None, self.rng.choice(self.nodes())

    def random_node(self):
        return self.rng.choice(self.nodes())

    def minority(self):
        k = self.rng.randint(1, (len(self.nodes()) - 1) // 2)
        return sorted(self.rng.sample(self.nodes(), k))

    # ---- faults: start returns a state dict (logged), stop undoes it ----
    def start(self, fault, until):
        fn = getattr(self, "_start_" + fault.replace("-", "_"))
        return fn(until)

    def stop(self, fault, st):
        fn = getattr(self, "_stop_" + fault.replace("-", "_"), None)
        return fn(st) if fn else self._stop_default(st)

    def _stop_default(self, st):
        for n in st.get("down", []):
            self.c.start(n)
        for n in st.get("paused", []):
            self.c.resume(n)
        if st.get("cuts"):
            self.net.heal()
        return {"restarted": st.get("down", []), "resumed": st.get("paused", []),
                "healed": bool(st.get("cuts"))}

    def _start_kill_leader(self, until):
        g, n = self.leader_target()
        self.c.kill(n)
        return {"node": n, "group": g, "down": [n]}

    def _start_kill_random(self, until):
        ns = self.minority()
        for n in ns:
            self.c.kill(n)
        return {"nodes": ns, "down": ns}

    def _start_pause(self, until):
        n = self.random_node()
        self.c.pause(n)
        return {"node": n, "paused": [n]}

    def _start_pause_then_kill(self, until):
        g, n = self.leader_target()
        self.c.pause(n)
        self._sleep_until(time.monotonic() + (until - time.monotonic()) / 2)
        self.c.kill(n)  # SIGKILL ends a stopped process too
        return {"node": n, "group": g, "down": [n], "killed_at": time.monotonic_ns()}

    def _partition(self, groups, **extra):
        pairs = self.net.partition(groups)
        d = {"groups": groups, "cuts": [list(p) for p in pairs]}
        d.update(extra)
        return d

    def _start_partition_leader(self, until):
        g, n = self.leader_target()
        return self._partition([[n], [m for m in self.nodes() if m != n]], group=g, node=n)

    def _start_partition_follower(self, until):
        g, leader = self.leader_target()
        n = self.rng.choice([m for m in self.nodes() if m != leader])
        return self._partition([[n], [m for m in self.nodes() if m != n]], group=g,
                               leader=leader, node=n)

    def _start_partition_majority_minority(self, until):
        return self._partition(random_halves(self.nodes(), self.rng))

    def _start_partition_bridge(self, until):
        groups = bridge_groups(self.nodes(), self.rng)
        bridge = sorted(set(groups[0]) & set(groups[1]))
        return self._partition(groups, bridge=bridge)

    def _start_partition_flapping(self, until):
        flaps = 0
        while time.monotonic() < until - 0.5:
            if flaps % 2 == 0:
                if self.rng.random() < 0.5:
                    self.net.partition(random_halves(self.nodes(), self.rng))
                else:
                    n = self.random_node()
                    self.net.partition([[n], [m for m in self.nodes() if m != n]])
            else:
                self.net.heal()
            flaps += 1
            self._sleep_until(min(until - 0.5, time.monotonic() + self.rng.uniform(0.5, 2.0)))
        return {"flaps": flaps, "cuts": True}

    def _transfer_once(self):
        if self.tools.worker is None and self.tools.raftlogctl and self.topic:
            return self._transfer_with_ctl()
        view = self.c.view()
        groups = self.c.groups(view)
        if not groups:
            return {"error": "no groups visible"}
        g = self.rng.choice(groups)
        leader = self.c.leader_in(view, g)
        replicas = [n for n, gs in view.items() if g in gs and n != leader]
        if leader is None or not replicas:
            return {"group": g, "error": "no leader or no other replica"}
        to = self.rng.choice(replicas)
        if self.tools.worker:
            rc, out, err = self.tools.run_worker(
                ["transfer-leader", f"--group={g}", f"--to={to}",
                 f"--node={self.c.addr(leader)}", f"--bootstrap={self.c.bootstrap()}"],
                timeout=10)
            return {"group": g, "from": leader, "to": to, "rc": rc, "error": err[-200:]}
        return {"group": g, "from": leader, "to": to, "rc": None,
                "error": "jepsen_worker not built; transfer not sent"}

    def _transfer_with_ctl(self):
        """Fallback without the worker: a partition of the run's topic, via
        raftlogctl (no metadata-group transfers this way)."""
        rc, desc, err = self.tools.ctl(self.c.bootstrap(), ["topic", "describe", self.topic,
                                                            "--timeout", "5s"], timeout=10)
        if rc != 0 or not desc:
            return {"error": f"describe failed: {err[-200:]}"}
        parts = [p for p in desc.get("partitions", []) if p.get("leader")]
        if not parts:
            return {"error": "no partition has a leader"}
        p = self.rng.choice(parts)
        others = [r for r in p.get("replicas", []) if r != p["leader"]]
        if not others:
            return {"partition": p["partition"], "error": "no other replica"}
        to = self.rng.choice(others)
        rc, out, err = self.tools.ctl(self.c.bootstrap(), [
            "partition", "transfer-leader", self.topic, "-p", str(p["partition"]), "--to",
            str(to), "--timeout", "5s"], timeout=10)
        return {"partition": p["partition"], "from": p["leader"], "to": to, "rc": rc,
                "leader": (out or {}).get("leader"), "error": err[-200:]}

    def _start_transfer_leader(self, until):
        transfers = []
        while time.monotonic() < until - 0.5 and len(transfers) < 50:
            transfers.append(self._transfer_once())
            self._sleep_until(min(until - 0.5, time.monotonic() + self.rng.uniform(1.0, 2.5)))
        return {"transfers": transfers}

    def _start_restart(self, until):
        n = self.random_node()
        rc = self.c.terminate(n)
        return {"node": n, "exit_code": rc, "down": [n]}

    def _start_power_loss(self, until):
        n = self.random_node()
        summary = self.c.power_loss(n)
        if isinstance(summary, dict):  # keep the event line short; cuts.jsonl has it all
            summary = {k: (v[:10] if isinstance(v, list) else v) for k, v in summary.items()}
        return {"node": n, "cut": summary, "down": [n]}

    def _gate(self, fault, timeout=20.0):
        """Waits (bounded) until every replica is close to its leader; returns
        a reason to skip or None."""
        deadline = time.monotonic() + timeout
        problems = []
        while time.monotonic() < deadline:
            problems = self.c.health(tolerance=500)
            if not problems:
                return None
            time.sleep(0.5)
        return f"cluster not caught up before {fault}: " + "; ".join(problems[:4])

    def _start_corrupt(self, until):
        from harness import corrupt  # noqa: deferred: optional module of another author
        n = self.random_node()
        # A clean stop, so the damage lands in bytes the node made durable
        # (damage to never-synced bytes proves nothing); with the synctrack
        # shim loaded, corrupt also keeps below each file's synced length.
        rc = self.c.terminate(n)
        track = self.c.track_dir(n) if self.c.powerloss is not None else None
        if self.rng.random() < 0.5:
            how, res = "flip_bits", corrupt.flip_bits(self.c.data_dir(n), self.rng, 4,
                                                      track_dir=track)
        else:
            how, res = "truncate_segment", corrupt.truncate_segment(self.c.data_dir(n), self.rng,
                                                                    track_dir=track)
        return {"node": n, "exit_code": rc, "how": how, "result": res, "down": [n]}

    def _start_wipe(self, until):
        n = self.random_node()
        self.c.wipe(n)
        return {"node": n, "down": [n]}

    # ---- running ----
    def _sleep_until(self, t):
        while True:
            left = t - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def run(self, schedule, t0, stop_flag=lambda: False):
        """Runs `schedule` ([(start_s, stop_s, fault)]) relative to monotonic
        time t0 (seconds). Returns the number of windows run."""
        count = 0
        crashed_seen = set()
        for start_s, stop_s, fault in schedule:
            self._sleep_until(t0 + start_s)
            if stop_flag():
                break
            for n in self.c.exited_unexpectedly():
                if n not in crashed_seen:
                    crashed_seen.add(n)
                    self.log(f"nemesis: node {n} exited by itself (exit code "
                             f"{self.c.nodes[n].proc.returncode}); see nodes/{n}.log")
            until = t0 + stop_s
            if fault in DATA_DESTROYING:
                reason = self._gate(fault, timeout=max(1.0, min(20.0, until - time.monotonic())))
                if reason:
                    self.event("start", fault, {"skipped": reason})
                    self.event("stop", fault, {"skipped": True})
                    continue
            self.event("start", fault, {"planned_s": round(stop_s - start_s, 3)})
            try:
                st = self.start(fault, until)
                self.active = (fault, st)
            except Exception as e:  # a fault that cannot be applied is logged, then healed
                msg = f"{fault}: {type(e).__name__}: {e}"
                self.errors.append(msg)
                self.event("stop", fault, {"error": msg})
                self.heal_all()
                continue
            self._sleep_until(until)
            self.active = None
            detail = {"start": {k: v for k, v in st.items() if k not in ("down", "paused")}}
            # who leads each group at the end of the window (before healing)
            view = self.c.view()
            detail["leaders_in_window"] = {str(g): self.c.leader_in(view, g)
                                           for g in self.c.groups(view)}
            detail.update(self.stop(fault, st))
            self.event("stop", fault, detail)
            count += 1
        return count

    def heal_all(self):
        """Undoes every fault: heal cuts, resume paused, start stopped nodes."""
        if self.active is not None:
            fault, st = self.active
            self.active = None
            try:
                self.event("stop", fault, dict(self.stop(fault, st), aborted=True))
            except Exception as e:
                self.log(f"nemesis: stopping {fault} failed: {e}")
        self.net.heal()
        for n in self.nodes():
            if self.c.nodes[n].paused:
                self.c.resume(n)
            if not self.c.running(n):
                self.c.start(n)
