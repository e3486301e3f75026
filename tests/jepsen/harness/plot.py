"""plot.png of a run: operation latency and throughput over time, with the
nemesis' fault windows shaded.

Top: every completed operation's latency (completion time - invoke time,
log scale) as a point coloured by outcome (ok / info / fail), and the p50 and
p99 of ok latencies per second. Bottom: completions per second by outcome.
Times are seconds since run.json's start_time (monotonic ns, as in the
histories). An operation is its invoke plus the completion with the same
(process, op); histories without "op" fall back to (process, f) order.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ok": "#2a9d3c", "info": "#e0a000", "fail": "#d62728"}
FAULT_COLORS = ["#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                "#ff7f0e", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]


def _read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def operations(history):
    """[(invoke_ns, complete_ns, type, f)] pairing invokes with completions."""
    pending = {}
    ops = []
    for e in history:
        typ = e.get("type")
        key = (e.get("process"), e.get("op")) if "op" in e else (e.get("process"), e.get("f"))
        if typ == "invoke":
            pending[key] = e
        elif typ in COLORS and key in pending:
            inv = pending.pop(key)
            ops.append((inv["time"], e["time"], typ, e.get("f")))
    return ops


def fault_windows(nemesis):
    """[(start_ns, stop_ns, fault)]; a start without a stop ends at None."""
    open_ = {}
    out = []
    for e in nemesis:
        f = e.get("fault")
        if e.get("type") == "start":
            open_.setdefault(f, []).append(e["time"])
        elif e.get("type") == "stop" and open_.get(f):
            out.append((open_[f].pop(0), e["time"], f))
    for f, starts in open_.items():
        out.extend((s, None, f) for s in starts)
    return sorted(out, key=lambda w: w[0])


def _percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def plot(run_dir, path=None):
    run = {}
    if os.path.exists(os.path.join(run_dir, "run.json")):
        with open(os.path.join(run_dir, "run.json")) as f:
            run = json.load(f)
    history = _read_jsonl(os.path.join(run_dir, "history.jsonl"))
    nemesis = _read_jsonl(os.path.join(run_dir, "nemesis.jsonl"))
    ops = operations(history)
    times = [o[0] for o in ops] + [e["time"] for e in nemesis]
    t0 = run.get("start_time") or (min(times) if times else 0)
    t_end = max([o[1] for o in ops] + [e["time"] for e in nemesis] + [run.get("end_time") or t0])

    def s(ns):
        return (ns - t0) / 1e9

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(13, 8), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 2]})
    title = (f"raftlog jepsen: workload={run.get('workload', '?')} "
             f"nemesis={run.get('nemesis', '?')} nodes={run.get('nodes', '?')} "
             f"seed={run.get('seed', '?')}")
    fig.suptitle(title, fontsize=11)

    # fault windows
    fault_names = sorted({w[2] for w in fault_windows(nemesis)})
    fcolor = {f: FAULT_COLORS[i % len(FAULT_COLORS)] for i, f in enumerate(fault_names)}
    labelled = set()
    for start, stop, f in fault_windows(nemesis):
        end = s(stop) if stop is not None else s(t_end)
        for ax in (ax1, ax2):
            ax.axvspan(s(start), end, color=fcolor[f], alpha=0.15,
                       label=(f"fault: {f}" if ax is ax1 and f not in labelled else None))
        labelled.add(f)

    # latency scatter
    for typ in ("ok", "info", "fail"):
        xs = [s(o[1]) for o in ops if o[2] == typ]
        ys = [max((o[1] - o[0]) / 1e6, 0.01) for o in ops if o[2] == typ]
        if xs:
            ax1.scatter(xs, ys, s=3, color=COLORS[typ], alpha=0.5, label=f"{typ} ({len(xs)})",
                        linewidths=0, rasterized=True)
    # p50/p99 of ok per second
    buckets = {}
    for o in ops:
        if o[2] == "ok":
            buckets.setdefault(int(s(o[1])), []).append((o[1] - o[0]) / 1e6)
    secs = sorted(buckets)
    if secs:
        p50 = [_percentile(sorted(buckets[k]), 0.5) for k in secs]
        p99 = [_percentile(sorted(buckets[k]), 0.99) for k in secs]
        ax1.plot([k + 0.5 for k in secs], p50, color="black", lw=1, label="ok p50 / s")
        ax1.plot([k + 0.5 for k in secs], p99, color="black", lw=1, ls="--", label="ok p99 / s")
    ax1.set_yscale("log")
    ax1.set_ylabel("latency (ms)")
    ax1.grid(True, which="both", alpha=0.3)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(loc="upper left", fontsize=8, ncol=3, markerscale=3)

    # throughput
    n = int(s(t_end)) + 1 if ops else 1
    for typ in ("ok", "info", "fail"):
        counts = [0] * max(n, 1)
        for o in ops:
            if o[2] == typ:
                k = int(s(o[1]))
                if 0 <= k < len(counts):
                    counts[k] += 1
        if any(counts):
            ax2.step(range(len(counts)), counts, where="post", color=COLORS[typ], label=typ)
    ax2.set_ylabel("completions / s")
    ax2.set_xlabel("time since start (s)")
    ax2.set_xlim(min(0.0, s(min(times))) if times else 0.0, max(s(t_end), 1.0))
    ax2.grid(True, alpha=0.3)
    if ops:
        ax2.legend(loc="upper left", fontsize=8)
    else:
        ax2.text(0.5, 0.5, "no operations in history.jsonl", transform=ax2.transAxes,
                 ha="center")
    fig.tight_layout()
    path = path or os.path.join(run_dir, "plot.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
