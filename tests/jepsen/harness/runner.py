"""One Jepsen-style run: cluster + workload + nemesis + recovery + final reads.

Sequence: build the namespaces, start the nodes, create the topic (raftlogctl),
start the workers (root namespace, histories in <run>/workers/), run the
fault schedule, heal everything, let the workers drain, wait (bounded) until
every group has a leader and every replica has caught up, run the final
readers, collect replica checksums (replicas.json), merge the histories
(history.jsonl), write run.json, then call the checker and the plot.

Invariants: whatever happens (exception, SIGINT, SIGTERM) the finally block
stops every worker and node this run started, by PID, and deletes the
namespaces, veths, bridge and iptables rule; an atexit hook repeats that as a
last resort. Every wait is bounded.
"""

import atexit
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback

from harness import cluster as cluster_mod
from harness import nemesis as nemesis_mod
from harness import netns

WORKLOADS = ["log", "offsets", "topics", "none"]
TOPIC = "jepsen"


class HarnessError(RuntimeError):
    pass


class Config:
    def __init__(self, **kw):
        self.workload = "log"
        self.nemesis = ["kill-leader"]
        self.time_s = 60.0
        self.nodes = 3
        self.seed = None
        self.out = None
        self.raftlogd = None
        self.worker = None
        self.raftlogctl = None
        self.partitions = 3
        self.replication = 3
        self.producers = 3
        self.consumers = 2
        self.rate = 100
        self.idempotence = True
        self.drain_ms = 10000
        self.final_read_s = 30.0
        self.recovery_s = 90.0
        self.quiet = (4.0, 6.0)
        self.window = (5.0, 10.0)
        self.node_flags = {}
        self.__dict__.update(kw)


def default_run_dir(root, workload, nemesis):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "+".join(nemesis) if nemesis else "none"
    if len(name) > 60:
        name = f"{len(nemesis)}-faults"
    return os.path.join(root, "build", "jepsen", f"{stamp}-{workload}-{name}")


# ---- histories ----

def read_history(path):
    """Events of one JSONL history; unparsable lines (a worker killed mid-
    line) are skipped and counted. Returns (events, skipped)."""
    events, skipped = [], 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(e, dict) and "time" in e:
                events.append(e)
            else:
                skipped += 1
    return events, skipped


def merge_histories(paths):
    """Every event of `paths`, sorted by time (stable: one file's order is kept
    among equal times). Returns (events, skipped lines)."""
    merged, skipped = [], 0
    for i, p in enumerate(sorted(paths)):
        ev, sk = read_history(p)
        skipped += sk
        merged.extend((e["time"], i, j, e) for j, e in enumerate(ev))
    merged.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in merged], skipped


def write_jsonl(path, events):
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


# ---- workers ----

class Workers:
    def __init__(self, tools, run_dir, log):
        self.tools = tools
        self.dir = os.path.join(run_dir, "workers")
        os.makedirs(self.dir, exist_ok=True)
        self.procs = {}  # name -> Popen
        self.log = log

    def start(self, name, args):
        if self.tools.worker is None:
            raise HarnessError("jepsen_worker is not built (tests/jepsen/worker); "
                               "pass --worker or build target jepsen_worker")
        history = os.path.join(self.dir, f"{name}.jsonl")
        with open(os.path.join(self.dir, f"{name}.log"), "a") as out:
            p = subprocess.Popen([self.tools.worker] + args + [f"--history={history}"],
                                 stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = p
        return p

    def wait(self, names, timeout):
        """Waits for the named workers; SIGTERM (they write info for what is
        outstanding) then SIGKILL the ones still running. {name: exit code}."""
        deadline = time.monotonic() + timeout
        codes = {}
        for name in names:
            p = self.procs[name]
            try:
                codes[name] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"worker {name} still running after {timeout:.0f}s; SIGTERM")
                p.terminate()
                try:
                    codes[name] = p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    codes[name] = p.wait(timeout=5)
        return codes

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def worker_plan(cfg, bootstrap, seed):
    """[(name, args)] of the workload's clients."""
    common = [f"--bootstrap={bootstrap}", f"--duration-ms={int(cfg.time_s * 1000)}",
              f"--drain-ms={cfg.drain_ms}"]
    plan = []
    if cfg.workload == "log":
        for i in range(cfg.producers):
            plan.append((f"producer-{i}", ["produce", f"--process={i}", f"--topic={TOPIC}",
                                           f"--partitions={cfg.partitions}",
                                           f"--rate={cfg.rate}", "--acks=all",
                                           f"--idempotence={str(cfg.idempotence).lower()}",
                                           f"--seed={seed * 1000 + i}"] + common))
        for i in range(cfg.consumers):
            p = 10 + i
            plan.append((f"consumer-{i}", ["consume", f"--process={p}", f"--topic={TOPIC}",
                                           "--group=jepsen-log", "--commit=sync",
                                           f"--seed={seed * 1000 + p}"] + common))
    elif cfg.workload == "offsets":
        for i in range(3):
            p = 20 + i
            # One group per worker: each worker commits its own strictly
            # increasing sequence, so only one writer per (group, partition).
            plan.append((f"offsets-{i}", ["offsets", f"--process={p}", f"--topic={TOPIC}",
                                          f"--group=jepsen-offsets-{i}",
                                          f"--partitions={cfg.partitions}",
                                          f"--seed={seed * 1000 + p}"] + common))
    elif cfg.workload == "topics":
        for i in range(2):
            p = 30 + i
            plan.append((f"topics-{i}", ["topics", f"--process={p}", f"--topic={TOPIC}",
                                         f"--seed={seed * 1000 + p}"] + common))
    return plan


def wait_brokers(c, tools, n, timeout):
    """Waits until `raftlogctl cluster status` shows n registered, unfenced,
    reachable brokers (topic creation needs them all for RF = n)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        rc, out, err = tools.ctl(c.bootstrap(), ["cluster", "status", "--timeout", "5s"],
                                 timeout=15)
        if rc == 0 and out:
            alive = [x for x in out.get("nodes", []) if x.get("status") == "alive"]
            if len(alive) >= n:
                return
            last = [(x.get("node_id"), x.get("status")) for x in out.get("nodes", [])]
        else:
            last = err[-200:]
        time.sleep(0.5)
    raise HarnessError(f"brokers not all registered and alive within {timeout}s: {last}")


# ---- replica checksums ----

def collect_replicas(c, tools, log):
    """replicas.json content: per partition group, the checksum of the range
    every replica has committed ([max first_index, min commit_index])."""
    out = {"groups": []}
    if tools.worker is None:
        out["error"] = "jepsen_worker not built: no checksums"
        return out
    view = c.view()
    groups = [g for g in c.groups(view) if g != 0]
    for g in groups:
        hosts = sorted(n for n, gs in view.items() if g in gs)
        statuses = {}
        for n in hosts:
            rc, st, err = tools.run_worker(["status", f"--node={c.addr(n)}",
                                            f"--bootstrap={c.bootstrap()}"], timeout=10)
            if rc == 0 and st:
                for gs in st.get("groups", []):
                    if gs.get("group") == g:
                        statuses[n] = gs
        entry = {"group": g, "replicas": {str(n): None for n in hosts}}
        if len(statuses) != len(hosts):
            entry["error"] = f"status missing from nodes {sorted(set(hosts) - set(statuses))}"
            out["groups"].append(entry)
            continue
        lo = max(s.get("first_index", 0) for s in statuses.values())
        hi = min(s.get("commit_index", 0) for s in statuses.values())
        entry["from_index"], entry["to_index"] = lo, hi
        errors = {}
        for n in hosts:
            rc, cs, err = tools.run_worker(["checksum", f"--node={c.addr(n)}", f"--group={g}",
                                            f"--from={lo}", f"--to={hi}",
                                            f"--bootstrap={c.bootstrap()}"], timeout=20)
            if rc == 0 and cs and "crc32c" in cs:
                entry["replicas"][str(n)] = cs["crc32c"]
                entry.setdefault("entries", cs.get("entries"))
            else:
                errors[str(n)] = err[-300:] or f"exit {rc}"
        if errors:
            entry["errors"] = errors
        out["groups"].append(entry)
    return out


# ---- cleanup on any exit ----

_active = []  # callables that undo what the current run made


def _cleanup_all():
    while _active:
        fn = _active.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            print(f"jepsen: cleanup step failed: {e}", file=sys.stderr)


atexit.register(_cleanup_all)


def _on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)


def _load_optional(name, needed_for):
    try:
        return __import__(f"harness.{name}", fromlist=[name])
    except ImportError as e:
        raise HarnessError(f"fault {needed_for} needs tests/jepsen/harness/{name}.py "
                           f"(not importable: {e})") from e


# ---- the run ----

def run(cfg, log=print):
    """Runs one configuration. Returns a summary dict with "run_dir",
    "valid" (checker verdict or None), "ok" (the run passed) and "errors"."""
    seed = cfg.seed if cfg.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
    rng = random.Random(seed)
    run_dir = cfg.out
    os.makedirs(run_dir, exist_ok=True)
    for f in ("nemesis.jsonl", "history.jsonl"):
        if os.path.exists(os.path.join(run_dir, f)):
            raise HarnessError(f"{run_dir} already holds a run ({f}); choose another --out")
    logf = open(os.path.join(run_dir, "harness.log"), "a")

    def say(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        log(line)
        logf.write(line + "\n")
        logf.flush()

    powerloss = _load_optional("powerloss", "power-loss") if "power-loss" in cfg.nemesis else None
    if "corrupt" in cfg.nemesis:
        _load_optional("corrupt", "corrupt")
    tools = cluster_mod.Tools(cfg.worker, cfg.raftlogctl)
    if cfg.workload != "none" and tools.worker is None:
        raise HarnessError(f"workload {cfg.workload} needs jepsen_worker; not found at "
                           f"{cfg.worker}")
    if not (cfg.raftlogd and os.access(cfg.raftlogd, os.X_OK)):
        raise HarnessError(f"raftlogd not found at {cfg.raftlogd} (build it or pass --raftlogd)")

    schedule = nemesis_mod.make_schedule(cfg.nemesis, cfg.time_s, rng, cfg.quiet, cfg.window)
    info = {"workload": cfg.workload, "nemesis": ",".join(cfg.nemesis) or "none",
            "nodes": cfg.nodes, "idempotence": cfg.idempotence, "topic": TOPIC,
            "partitions": cfg.partitions, "replication_factor": cfg.replication,
            "seed": seed, "time_s": cfg.time_s,
            "schedule": [{"start_s": a, "stop_s": b, "fault": f} for a, b, f in schedule],
            "raftlogd": cfg.raftlogd, "worker": tools.worker, "node_flags": None,
            "errors": []}
    say(f"run {run_dir}: workload={cfg.workload} nemesis={info['nemesis']} "
        f"nodes={cfg.nodes} time={cfg.time_s}s seed={seed}")

    net = netns.Network(list(range(1, cfg.nodes + 1)))
    c = None
    workers = None
    nem = None
    summary = {"run_dir": run_dir, "seed": seed, "valid": None, "ok": False, "errors": []}
    try:
        _active.append(net.teardown)
        net.create()
        info["run_id"], info["subnet"] = net.run_id, net.subnet()
        say(f"namespaces {net.tag}-n1..n{cfg.nodes} on {net.subnet()}")
        c = cluster_mod.Cluster(net, cfg.raftlogd, run_dir, cfg.node_flags, powerloss, log=say)
        info["node_flags"] = c.flags
        info["addresses"] = {str(n): c.addr(n) for n in c.nodes}
        _active.append(c.stop_all)
        c.start_all()
        leaders = c.wait_leaders(timeout=30, groups=[0])
        say(f"metadata leader: node {leaders[0]}")

        if cfg.workload != "none" or tools.raftlogctl:
            if tools.raftlogctl is None:
                raise HarnessError("raftlogctl not built (needed to create the topic)")
            wait_brokers(c, tools, cfg.nodes, timeout=30)
            rc, out, err = tools.ctl(c.bootstrap(), ["topic", "create", TOPIC, "-p",
                                                     str(cfg.partitions), "-r",
                                                     str(cfg.replication), "--timeout", "30s"])
            if rc != 0:
                raise HarnessError(f"topic create failed (exit {rc}): {err}")
            leaders = c.wait_leaders(timeout=30, min_groups=1 + cfg.partitions)
            say(f"topic {TOPIC}: {cfg.partitions} partitions RF {cfg.replication}; "
                f"group leaders {leaders}")

        workers = Workers(tools, run_dir, say)
        _active.append(workers.stop_all)
        plan = worker_plan(cfg, c.bootstrap(), seed)
        t0 = time.monotonic()
        info["start_time"] = time.monotonic_ns()
        for name, args in plan:
            workers.start(name, args)
        say(f"workers: {', '.join(n for n, _ in plan) or 'none'}; schedule: "
            f"{len(schedule)} fault windows")

        nem = nemesis_mod.Nemesis(c, tools, random.Random(seed + 1),
                                  os.path.join(run_dir, "nemesis.jsonl"), TOPIC,
                                  cfg.partitions, log=say)
        open(nem.path, "a").close()
        _active.append(nem.heal_all)
        windows = nem.run(schedule, t0)
        nem.heal_all()
        _active.remove(nem.heal_all)
        info["errors"] += nem.errors
        nem._sleep_until(t0 + cfg.time_s)
        info["end_time"] = time.monotonic_ns()
        say(f"faults done ({windows} windows); healed; waiting for workers to drain")
        codes = workers.wait([n for n, _ in plan], timeout=cfg.drain_ms / 1000 + 15)
        info["worker_exit_codes"] = codes

        try:
            took = c.wait_recovered(timeout=cfg.recovery_s)
            info["recovered"], info["recovery_s"] = True, round(took, 2)
            say(f"recovered in {took:.1f}s: every group has a leader, replicas caught up")
        except TimeoutError as e:
            info["recovered"], info["recovery_error"] = False, str(e)
            info["errors"].append(f"recovery: {e}")
            say(f"NOT RECOVERED: {e}")
        info["groups_after"] = {str(g): l for g, l in
                                {g: c.leader_of(g) for g in c.groups()}.items()}

        if cfg.workload == "log":
            readers = []
            for i in range(2):
                p = 100 + i
                name = f"reader-{i}"
                workers.start(name, ["read-all", f"--process={p}", f"--topic={TOPIC}",
                                     f"--bootstrap={c.bootstrap()}",
                                     f"--duration-ms={int(cfg.final_read_s * 1000)}",
                                     f"--drain-ms={cfg.drain_ms}", f"--seed={seed * 1000 + p}"])
                readers.append(name)
            rcodes = workers.wait(readers, timeout=cfg.final_read_s + cfg.drain_ms / 1000 + 15)
            info["final_reads_ok"] = all(v == 0 for v in rcodes.values())
            info["reader_exit_codes"] = rcodes
            if not info["final_reads_ok"]:
                info["errors"].append(f"final reads did not complete: {rcodes}")
            say(f"final readers: {rcodes}")

        replicas = collect_replicas(c, tools, say)
        with open(os.path.join(run_dir, "replicas.json"), "w") as f:
            json.dump(replicas, f, indent=1)
        info["node_starts"] = {str(n): node.starts for n, node in c.nodes.items()}
        info["nodes_crashed"] = c.exited_unexpectedly()
        if info["nodes_crashed"]:
            info["errors"].append(f"nodes exited by themselves: {info['nodes_crashed']}")
    except KeyboardInterrupt as e:
        summary["errors"].append(f"interrupted ({e})")
        info["errors"].append(f"interrupted ({e})")
        say("interrupted; cleaning up")
    except (HarnessError, netns.NetnsError, TimeoutError, OSError, RuntimeError) as e:
        summary["errors"].append(f"{type(e).__name__}: {e}")
        info["errors"].append(f"harness: {type(e).__name__}: {e}")
        say(f"HARNESS ERROR: {e}")
        logf.write(traceback.format_exc())
    finally:
        if nem is not None and nem.heal_all in _active:
            _active.remove(nem.heal_all)  # the nodes are stopped below anyway
        if workers is not None:
            workers.stop_all()
            _active.remove(workers.stop_all)
        if c is not None:
            c.stop_all()
            _active.remove(c.stop_all)
        net.teardown()
        _active.remove(net.teardown)
        left = [x for x in netns.leftovers() if net.tag in x]
        if left:
            info["errors"].append(f"teardown left {left}")

    paths = [os.path.join(run_dir, "workers", f) for f in
             sorted(os.listdir(os.path.join(run_dir, "workers")))
             if f.endswith(".jsonl")] if os.path.isdir(os.path.join(run_dir, "workers")) else []
    events, skipped = merge_histories(paths)
    write_jsonl(os.path.join(run_dir, "history.jsonl"), events)
    info["history_events"], info["history_skipped_lines"] = len(events), skipped
    info.setdefault("start_time", time.monotonic_ns())
    info.setdefault("end_time", time.monotonic_ns())
    with open(os.path.join(run_dir, "run.json"), "w") as f:
        json.dump(info, f, indent=1, default=str)
    say(f"history: {len(events)} events ({skipped} unparsable lines skipped)")

    summary["errors"] = info["errors"]
    summary["valid"] = check_run(run_dir, say)
    plot_run(run_dir, say)
    # A run passes when the harness saw no problem (recovery, final reads,
    # node crashes, fault errors) and the checker did not find the history
    # invalid (None: no checker or no verdict, reported but not a failure).
    summary["ok"] = not info["errors"] and summary["valid"] is not False
    say(f"run {'PASSED' if summary['ok'] else 'FAILED'}: valid={summary['valid']} "
        f"errors={len(info['errors'])}")
    logf.close()
    return summary


def check_run(run_dir, say=print):
    """Runs the checker if it exists. Returns its verdict: True, False, or
    None (no checker / unknown)."""
    try:
        from harness import checker
    except ImportError as e:
        say(f"checker not available ({e}); history left unchecked")
        return None
    try:
        res = checker.check(run_dir)
    except Exception as e:
        say(f"checker raised {type(e).__name__}: {e}")
        with open(os.path.join(run_dir, "harness.log"), "a") as f:
            f.write(traceback.format_exc())
        return False
    valid = None
    if isinstance(res, dict):
        valid = res.get("valid", res.get("valid?"))
    say(f"checker: valid={valid} (results.txt)")
    return valid if isinstance(valid, bool) else None


def plot_run(run_dir, say=print):
    try:
        from harness import plot
        path = plot.plot(run_dir)
        say(f"plot: {path}")
    except Exception as e:  # a missing plot must not hide the verdict
        say(f"plot failed: {type(e).__name__}: {e}")
