#!/usr/bin/python3
"""raftlog's Jepsen-style suite: command line (see docs/JEPSEN.md).

  jepsen.py run --workload log --nemesis kill-leader,partition-leader --time 60 --nodes 3
  jepsen.py suite --short | --full
  jepsen.py check RUN_DIR        re-run the checker on a run folder
  jepsen.py plot RUN_DIR         re-draw plot.png
  jepsen.py cleanup              remove rlj- namespaces/links/rules of dead runs

Exit codes: 0 every run passed, 1 a run failed (checker found the history
invalid, the cluster did not recover, final reads failed, or the harness
failed), 2 usage error. Needs root (network namespaces, iptables).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from harness import nemesis as nemesis_mod  # noqa: E402
from harness import netns, runner  # noqa: E402

# The short suite (README test command): 4 runs of 45 s, under 5 minutes.
SHORT = [
    ("log", "kill-leader,kill-random,wipe", 3),
    ("log", "partition-leader,partition-majority-minority,partition-bridge", 3),
    ("log", "pause,pause-then-kill,power-loss,corrupt", 3),
    ("offsets", "kill-leader,partition-majority-minority", 3),
]
SHORT_TIME = 45


def full_matrix():
    """(workload, nemesis, nodes, seconds) of the full suite."""
    m = [("log", f, 3, 60) for f in nemesis_mod.FAULTS]
    m += [("log", "partition-bridge,partition-majority-minority,kill-leader", 5, 90),
          ("log", "all", 5, 180),
          ("log-no-idempotence", "kill-leader,partition-leader,pause", 3, 60)]
    m += [("offsets", f, 3, 60) for f in
          ["kill-leader", "partition-majority-minority", "pause", "restart", "power-loss",
           "all"]]
    m += [("topics", f, 3, 60) for f in
          ["kill-leader", "partition-leader", "partition-majority-minority", "restart", "all"]]
    return m


def find_binaries(args):
    b = args.build or os.path.join(REPO, "build")
    return (args.raftlogd or os.path.join(b, "broker", "raftlogd"),
            args.worker or os.path.join(b, "tests", "jepsen", "worker", "jepsen_worker"),
            args.raftlogctl or os.path.join(b, "cli", "raftlogctl"))


def make_config(args, workload, nemesis, nodes, seconds, out):
    raftlogd, worker, ctl = find_binaries(args)
    idem = not getattr(args, "no_idempotence", False)
    if workload == "log-no-idempotence":
        workload, idem = "log", False
    flags = {}
    for kv in getattr(args, "node_flag", None) or []:
        k, _, v = kv.partition("=")
        flags[k.lstrip("-")] = v
    return runner.Config(workload=workload, nemesis=nemesis_mod.parse_nemesis(nemesis),
                         time_s=float(seconds), nodes=nodes, seed=args.seed, out=out,
                         raftlogd=raftlogd, worker=worker, raftlogctl=ctl,
                         partitions=args.partitions, rate=args.rate, idempotence=idem,
                         node_flags=flags)


def cmd_run(args):
    out = args.out or runner.default_run_dir(REPO, args.workload,
                                             nemesis_mod.parse_nemesis(args.nemesis))
    cfg = make_config(args, args.workload, args.nemesis, args.nodes, args.time, out)
    s = runner.run(cfg)
    print(f"\n{'PASS' if s['ok'] else 'FAIL'}  {s['run_dir']}  (seed {s['seed']}, "
          f"valid={s['valid']})")
    for e in s["errors"]:
        print(f"  - {e}")
    return 0 if s["ok"] else 1


def cmd_suite(args):
    if args.full:
        matrix = full_matrix()
    else:
        matrix = [(w, n, k, SHORT_TIME) for w, n, k in SHORT]
    if args.time:
        matrix = [(w, n, k, args.time) for w, n, k, _ in matrix]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suite_dir = args.out or os.path.join(REPO, "build", "jepsen",
                                         f"suite-{'full' if args.full else 'short'}-{stamp}")
    os.makedirs(suite_dir, exist_ok=True)
    results = []
    t_start = time.monotonic()
    for i, (workload, nem, nodes, seconds) in enumerate(matrix):
        name = f"{i:02d}-{workload}-{nem.replace(',', '+')}-n{nodes}"[:100]
        out = os.path.join(suite_dir, name)
        print(f"\n=== [{i + 1}/{len(matrix)}] {workload} / {nem} / {nodes} nodes / {seconds}s")
        try:
            cfg = make_config(args, workload, nem, nodes, seconds, out)
            s = runner.run(cfg)
        except (runner.HarnessError, netns.NetnsError) as e:
            s = {"run_dir": out, "ok": False, "valid": None, "seed": args.seed,
                 "errors": [str(e)]}
            print(f"harness error: {e}")
        results.append({"workload": workload, "nemesis": nem, "nodes": nodes,
                        "time_s": seconds, **s})
        with open(os.path.join(suite_dir, "suite.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
    lines = [f"suite {'full' if args.full else 'short'}: {len(results)} runs in "
             f"{time.monotonic() - t_start:.0f}s; {sum(r['ok'] for r in results)} passed"]
    for r in results:
        lines.append(f"{'PASS' if r['ok'] else 'FAIL'}  {r['workload']:8s} {r['nemesis']:55s} "
                     f"n={r['nodes']} seed={r['seed']} valid={r['valid']}  "
                     f"{os.path.basename(r['run_dir'])}")
        for e in r["errors"]:
            lines.append(f"      - {e}")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(suite_dir, "summary.txt"), "w") as f:
        f.write(text)
    print("\n" + text + f"(summary: {suite_dir}/summary.txt)")
    return 0 if all(r["ok"] for r in results) else 1


def cmd_check(args):
    v = runner.check_run(args.run_dir)
    txt = os.path.join(args.run_dir, "results.txt")
    if os.path.exists(txt):
        print(open(txt).read())
    return 0 if v is True else 1


def cmd_plot(args):
    from harness import plot
    print(plot.plot(args.run_dir))
    return 0


def cmd_cleanup(args):
    netns.check_environment()
    removed = netns.cleanup_stale()
    print(f"removed leftovers of runs {removed}" if removed else "nothing stale")
    left = netns.leftovers()
    if left:
        print("still present (live runs):", left)
    return 0


def add_common(p):
    p.add_argument("--seed", type=int, help="seed of the fault schedule and workers")
    p.add_argument("--build", help="build directory with the binaries (default <repo>/build)")
    p.add_argument("--raftlogd", help="raftlogd binary")
    p.add_argument("--worker", help="jepsen_worker binary")
    p.add_argument("--raftlogctl", help="raftlogctl binary")
    p.add_argument("--partitions", type=int, default=3, help="topic partitions (default 3)")
    p.add_argument("--rate", type=int, default=100, help="sends/s per producer (default 100)")
    p.add_argument("--node-flag", action="append", metavar="KEY=VALUE",
                   help="extra raftlogd flag for every node (repeatable)")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="jepsen.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one run")
    r.add_argument("--workload", choices=runner.WORKLOADS, default="log")
    r.add_argument("--nemesis", default="kill-leader",
                   help="comma list of faults or aliases (%s; aliases %s)" % (
                       ", ".join(nemesis_mod.FAULTS), ", ".join(sorted(nemesis_mod.ALIASES))))
    r.add_argument("--time", type=float, default=60, help="seconds of load and faults")
    r.add_argument("--nodes", type=int, choices=[3, 5], default=3)
    r.add_argument("--out", help="run folder (default <repo>/build/jepsen/<stamp>-...)")
    r.add_argument("--no-idempotence", action="store_true", help="producers without idempotence")
    add_common(r)
    s = sub.add_parser("suite", help="the short or the full matrix")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--short", action="store_true")
    g.add_argument("--full", action="store_true")
    s.add_argument("--time", type=float, help="override every run's seconds")
    s.add_argument("--out", help="suite folder")
    add_common(s)
    c = sub.add_parser("check", help="re-run the checker on a run folder")
    c.add_argument("run_dir")
    pl = sub.add_parser("plot", help="re-draw plot.png of a run folder")
    pl.add_argument("run_dir")
    sub.add_parser("cleanup", help="remove leftovers of crashed runs")
    args = ap.parse_args(argv)
    if args.cmd in ("run", "suite"):
        runner.install_signal_handlers()
        try:
            if args.cmd == "run":
                nemesis_mod.parse_nemesis(args.nemesis)
            netns.check_environment()
        except (ValueError, netns.NetnsError) as e:
            print(f"jepsen: {e}", file=sys.stderr)
            return 2
    try:
        return {"run": cmd_run, "suite": cmd_suite, "check": cmd_check, "plot": cmd_plot,
                "cleanup": cmd_cleanup}[args.cmd](args)
    except runner.HarnessError as e:
        print(f"jepsen: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
