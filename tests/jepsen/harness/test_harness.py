"""Tests of the harness pieces that need no cluster: schedule generation,
partition-rule computation, history merging, metrics parsing, plotting; and,
as root only, a real namespace test (TCP across namespaces blocked by a
partition and restored by heal, nothing left after teardown).

Run: /usr/bin/python3 -m pytest tests/jepsen/harness/test_harness.py
"""

import json
import os
import random
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from harness import cluster, nemesis, netns, plot, runner  # noqa: E402


# ---- schedule ----

def test_schedule_is_deterministic_per_seed_and_bounded():
    faults = ["kill-leader", "partition-leader", "pause"]
    a = nemesis.make_schedule(faults, 60, random.Random(7))
    b = nemesis.make_schedule(faults, 60, random.Random(7))
    c = nemesis.make_schedule(faults, 60, random.Random(8))
    assert a == b
    assert a != c
    assert len(a) >= 3
    prev_stop = 0
    for start, stop, f in a:
        assert f in faults
        assert start >= prev_stop + 4.0 - 1e-6  # quiet gap between windows
        assert 5.0 - 1e-6 <= stop - start <= 10.0 + 1e-6
        assert stop <= 60 - 2.0 + 1e-6  # ends before the tail
        prev_stop = stop


def test_schedule_uses_every_fault_before_repeating():
    faults = ["kill-leader", "pause", "wipe", "restart"]
    s = nemesis.make_schedule(faults, 200, random.Random(1))
    assert sorted(f for _, _, f in s[:4]) == sorted(faults)


def test_schedule_empty_and_too_short():
    assert nemesis.make_schedule([], 60, random.Random(1)) == []
    assert nemesis.make_schedule(["pause"], 8, random.Random(1)) == []


def test_parse_nemesis_aliases_and_errors():
    assert nemesis.parse_nemesis("kill,pause") == ["kill-leader", "kill-random", "pause"]
    assert nemesis.parse_nemesis("pause,pause") == ["pause"]
    assert nemesis.parse_nemesis("none") == []
    with pytest.raises(ValueError, match="unknown fault"):
        nemesis.parse_nemesis("kill-everything")


# ---- partitions ----

def test_cut_pairs_isolated_node():
    assert netns.cut_pairs([[1], [2, 3]], [1, 2, 3]) == [(1, 2), (1, 3)]


def test_cut_pairs_bridge_three_nodes():
    pairs = netns.cut_pairs([[1, 2], [2, 3]], [1, 2, 3])
    assert pairs == [(1, 3)]
    assert netns.reachable(pairs, 1, 2) and netns.reachable(pairs, 3, 2)
    assert not netns.reachable(pairs, 3, 1)


def test_cut_pairs_majority_minority_five():
    pairs = netns.cut_pairs([[1, 4], [2, 3, 5]], [1, 2, 3, 4, 5])
    assert len(pairs) == 2 * 3
    for a in (1, 4):
        for b in (2, 3, 5):
            assert not netns.reachable(pairs, a, b)
    assert netns.reachable(pairs, 1, 4) and netns.reachable(pairs, 2, 5)


def test_bridge_and_halves_groups():
    rng = random.Random(3)
    for n in (3, 5):
        nodes = list(range(1, n + 1))
        g = nemesis.bridge_groups(nodes, rng)
        common = set(g[0]) & set(g[1])
        assert len(common) == 1 and set(g[0]) | set(g[1]) == set(nodes)
        pairs = netns.cut_pairs(g, nodes)
        bridge = common.pop()
        assert all(bridge not in p for p in pairs) and pairs
        h = nemesis.random_halves(nodes, rng)
        assert len(h[0]) == n // 2 and sorted(h[0] + h[1]) == nodes


# ---- histories ----

def test_merge_histories_sorts_and_skips_torn_lines(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text('{"process":0,"type":"invoke","f":"send","op":1,"time":10}\n'
                 '{"process":0,"type":"ok","f":"send","op":1,"time":30}\n')
    b.write_text('{"process":1,"type":"invoke","f":"send","op":1,"time":20}\n'
                 '{"process":1,"type":"info","f":"send","op":1,"time":30}\n'
                 '{"process":1,"type":"invo')  # a worker killed mid-line
    events, skipped = runner.merge_histories([str(b), str(a)])
    assert skipped == 1
    assert [e["time"] for e in events] == [10, 20, 30, 30]
    # equal times keep file order (a before b): stable and deterministic
    assert [e["process"] for e in events[2:]] == [0, 1]


def test_worker_plan_log_workload():
    cfg = runner.Config(workload="log", time_s=30, producers=3, consumers=2)
    plan = runner.worker_plan(cfg, "10.77.1.11:7001", 5)
    names = [n for n, _ in plan]
    assert names == ["producer-0", "producer-1", "producer-2", "consumer-0", "consumer-1"]
    procs = [next(a for a in args if a.startswith("--process=")) for _, args in plan]
    assert len(set(procs)) == len(procs)
    assert all("--duration-ms=30000" in args for _, args in plan)
    assert "--idempotence=true" in plan[0][1]


def test_worker_plan_offsets_one_writer_per_group():
    cfg = runner.Config(workload="offsets", time_s=30)
    plan = runner.worker_plan(cfg, "10.77.1.11:7001", 5)
    groups = [next(a for a in args if a.startswith("--group=")) for _, args in plan]
    assert len(plan) == 3 and len(set(groups)) == 3


# ---- metrics / health ----

METRICS = """# HELP raftlog_group_role Raft role
raftlog_group_role{group="0"} 3
raftlog_group_term{group="0"} 4
raftlog_group_commit_index{group="0"} 17
raftlog_group_last_index{group="0"} 17
raftlog_group_leader{group="0"} 2
raftlog_group_follower_lag{group="0",follower="1"} 0
raftlog_group_follower_lag{group="0",follower="3"} 5
raftlog_group_role{group="7"} 0
raftlog_partition_high_watermark{group="7"} 120
raftlog_node_groups 2
"""


def test_parse_metrics():
    g = cluster.parse_metrics(METRICS)
    assert set(g) == {0, 7}
    assert g[0]["role"] == cluster.ROLE_LEADER and g[0]["term"] == 4
    assert g[0]["lag"] == {1: 0, 3: 5}
    assert g[7]["high_watermark"] == 120


def test_health_reports_lag_and_missing_leader():
    class Net:
        nodes = [1, 2, 3]

    c = cluster.Cluster.__new__(cluster.Cluster)
    c.nodes = {1: None, 2: None, 3: None}
    c.replica_count = {0: 3, 7: 3}
    lead = cluster.parse_metrics(METRICS)
    foll = {0: {"role": 0, "term": 4, "commit_index": 17, "last_index": 17, "lag": {}},
            7: {"role": 0, "lag": {}}}
    view = {1: foll, 2: lead, 3: foll}
    problems = c.health(view)
    assert any("follower 3 lag 5" in p for p in problems)
    assert any("group 7: no leader" in p for p in problems)
    assert c.health(view, tolerance=10) == ["group 7: no leader"]
    # a replica gone (a wiped node that did not recreate it) is a problem
    del foll[7]
    assert c.health(view, tolerance=10) == ["group 7: no leader",
                                            "group 7: replicas on [2] only, had 3"]


# ---- plot ----

def test_plot_writes_png(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"start_time": 0, "end_time": 5 * 10**9,
                                                   "workload": "log", "nemesis": "pause"}))
    hist = []
    for i in range(50):
        t = i * 10**8
        hist.append({"process": 0, "type": "invoke", "f": "send", "op": i, "time": t})
        hist.append({"process": 0, "type": ["ok", "info", "fail"][i % 3], "f": "send",
                     "op": i, "time": t + 5 * 10**6})
    runner.write_jsonl(str(tmp_path / "history.jsonl"), hist)
    runner.write_jsonl(str(tmp_path / "nemesis.jsonl"), [
        {"time": 10**9, "type": "start", "fault": "pause", "detail": {}},
        {"time": 2 * 10**9, "type": "stop", "fault": "pause", "detail": {}}])
    ops = plot.operations(hist)
    assert len(ops) == 50 and abs((ops[0][1] - ops[0][0]) - 5 * 10**6) == 0
    assert plot.fault_windows(json.loads(line) for line in
                              (tmp_path / "nemesis.jsonl").read_text().splitlines()) == \
        [(10**9, 2 * 10**9, "pause")]
    path = plot.plot(str(tmp_path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ---- real namespaces (root only) ----

def _connect(net, src, dst, port):
    code = ("import socket,sys;s=socket.socket();s.settimeout(1.0);"
            f"sys.exit(s.connect_ex(('{net.ip(dst)}',{port})))")
    return subprocess.run(net.exec_prefix(src) + [sys.executable, "-c", code],
                          timeout=10).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and iptables")
def test_netns_partition_and_heal():
    net = netns.Network([1, 2, 3])
    servers = []
    try:
        net.create()
        port = 7555
        for n in (1, 2, 3):
            code = ("import socket,time;s=socket.socket();"
                    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                    f"s.bind(('{net.ip(n)}',{port}));s.listen(16);"
                    "[s.accept() for _ in range(100)]")
            servers.append(subprocess.Popen(net.exec_prefix(n) + [sys.executable, "-c", code]))
        time.sleep(0.7)
        assert _connect(net, 1, 2, port) and _connect(net, 3, 1, port)
        # the root namespace (workers) reaches every node
        for n in (1, 2, 3):
            s = socket.create_connection((net.ip(n), port), timeout=2)
            s.close()
        net.partition([[1, 2], [2, 3]])  # bridge: 1-3 cut
        assert not _connect(net, 1, 3, port)
        assert not _connect(net, 3, 1, port)
        assert _connect(net, 1, 2, port) and _connect(net, 3, 2, port)
        socket.create_connection((net.ip(1), port), timeout=2).close()  # root still reaches
        net.heal()
        assert _connect(net, 1, 3, port) and _connect(net, 3, 1, port)
    finally:
        for p in servers:
            p.kill()
            p.wait()
        net.teardown()
    assert [x for x in netns.leftovers() if net.tag in x] == []
    assert not os.path.exists(net.state_path())


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and iptables")
def test_cleanup_stale_removes_dead_runs_only():
    dead = netns.Network([1], run_id="dea0")
    live = netns.Network([1])
    try:
        dead.create()
        # pretend the harness that made it crashed: its state names a dead PID
        p = subprocess.Popen(["true"])
        p.wait()
        with open(dead.state_path(), "w") as f:
            json.dump({"pid": p.pid}, f)
        live.create()  # create() runs cleanup_stale() first
        names = netns.leftovers()
        assert not [x for x in names if "rlj-dea0" in x]
        assert [x for x in names if live.tag in x]
    finally:
        live.teardown()
        dead.teardown()
