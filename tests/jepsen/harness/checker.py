#!/usr/bin/python3
"""Checker of a Jepsen-style run folder (issue 9; formats: helpers' jepsen-spec).

check(run_dir) reads run.json, history.jsonl, nemesis.jsonl (optional) and
replicas.json (optional), runs every check below, writes results.json and
results.txt into the folder and returns the results dict ("valid": bool).

Checks (each reports a count and up to 10 examples):
  history               well-formedness: unparsable lines other than a final
                        partial one, completions without an invoke
  lost-writes           an acknowledged send missing from a final read that was
                        invoked after the ack and covers its offset; partitions
                        without a successful final read ("final read incomplete");
                        values below a read's log_start are "unverifiable" (not a
                        failure)
  wrong-offsets         an acknowledged send whose value is read (read or poll)
                        only at other positions than the one its ack named
  gaps                  offsets of one partition inside one poll, or inside one
                        final read (which must also span log_start..hwm-1), not dense
  duplicates            a value seen at two positions; fails only with idempotence
  inconsistent-offsets  two readers/pollers see different values at one offset
  order                 one producer's acked sends to one partition (in invoke
                        order) at offsets that do not increase
  polls                 within one consumer and one assignment epoch (between
                        assign/revoke events) a partition's offsets go back or
                        skip between polls (skips are allowed after a poll that
                        did not succeed)
  committed-offsets     per (group, partition): acked commit values going back in
                        real time; fetched offsets going back in real time; a fetch
                        below a commit acked before it was invoked (lost, e.g.
                        after a crash); a fetch returning a value no commit had
                        been invoked with; a consumer resuming (first poll of a
                        partition in an epoch) beyond every offset committed so far
                        (records skipped)
  phantom-reads         a value read that no send invoked, or whose send failed
  topics                a topic listed after its delete was acked; a topic missing
                        from a list invoked after its create was acked and before
                        any (not failed) delete of it that could still apply
  divergent-replicas    replicas.json: per group every replica's crc32c equal,
                        none null; "not run" when the file is absent (a failure
                        only when run.json has "expect_replicas": true)
  availability          share of completed ops that were ok: overall, per fault
                        window (by invoke time) and outside windows; never fails

Real-time order: op A precedes op B when A's completion time < B's invoke time.
An invoke without a completion (worker killed) counts as "info" (unknown) that
never completes. Every check is a sort or a sweep: O(n log n) in history size.
"""

import bisect
import json
import os
import sys
from collections import defaultdict

INF = float("inf")
MAX_EXAMPLES = 10
COMPLETIONS = ("ok", "fail", "info")
CHECK_ORDER = [
    "history", "lost-writes", "wrong-offsets", "gaps", "duplicates",
    "inconsistent-offsets", "order", "polls", "committed-offsets",
    "phantom-reads", "topics", "divergent-replicas", "availability",
]


# ---------------------------------------------------------------- helpers


class Op:
    """One operation: an invoke and its completion (None when it never came)."""
    __slots__ = ("process", "f", "op", "inv", "comp", "type", "t0", "t1", "seq")

    def __init__(self, process, f, op, inv, seq):
        self.process = process
        self.f = f
        self.op = op
        self.inv = inv
        self.comp = None
        self.type = "info"
        self.t0 = inv.get("time", 0)
        self.t1 = INF
        self.seq = seq

    def ref(self):
        """A short reference for examples."""
        return {"process": self.process, "f": self.f, "op": self.op, "type": self.type}


class Check:
    """Counts and examples of one check, by kind of anomaly."""

    def __init__(self, name):
        self.name = name
        self.counts = defaultdict(int)
        self.examples = defaultdict(list)
        self.extra = {}
        self.status = None  # None: "OK"/"FAIL" from the failing counts
        self.valid = None  # with a status: whether the check holds
        self.failing = None  # kinds that fail the check; None = all kinds
        self.note = ""

    def add(self, kind, example=None, n=1):
        self.counts[kind] += n
        if example is not None and len(self.examples[kind]) < MAX_EXAMPLES:
            ex = {"kind": kind}
            ex.update(example)
            self.examples[kind].append(ex)

    def failures(self):
        kinds = self.counts if self.failing is None else self.failing
        return sum(self.counts.get(k, 0) for k in kinds)

    def result(self):
        if self.status is None:
            valid = self.failures() == 0
            status = "OK" if valid else "FAIL"
        else:
            status = self.status
            valid = self.valid
        # Up to MAX_EXAMPLES examples in all, taken round-robin over kinds.
        pools = [list(v) for k, v in sorted(self.examples.items())]
        picked = []
        while len(picked) < MAX_EXAMPLES and any(pools):
            for pool in pools:
                if pool and len(picked) < MAX_EXAMPLES:
                    picked.append(pool.pop(0))
        r = {"status": status, "valid": valid, "count": sum(self.counts.values()),
             "counts": dict(sorted(self.counts.items())), "examples": picked}
        if self.note:
            r["note"] = self.note
        r.update(self.extra)
        return r


def _int(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _key(v):
    """A hashable form of a record value (values are strings by the spec)."""
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return json.dumps(v, sort_keys=True)


def _read_jsonl(path):
    """Parses a JSON Lines file. Returns (objects, malformed line numbers other
    than the last non-empty line, whether the last non-empty line was
    unparsable, i.e. a partial line from a killed writer)."""
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", errors="replace")
    lines = data.split("\n")
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    out, malformed, partial = [], [], False
    loads = json.JSONDecoder().decode
    for i in range(last + 1):
        raw = lines[i]
        if not raw.strip():
            continue
        try:
            obj = loads(raw)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            if i == last:
                partial = True
            else:
                malformed.append(i + 1)
            continue
        out.append(obj)
    return out, malformed, partial


def _load_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- history


class History:
    """Ops of a history, plus assign/revoke events, in time order."""

    def __init__(self, events, chk):
        events.sort(key=lambda e: e["time"] if isinstance(e.get("time"), (int, float)) else 0)
        self.ops = []
        self.stream = defaultdict(list)  # process -> [("epoch", ev) | ("poll", Op)]
        open_ops = {}
        for idx, ev in enumerate(events):
            typ = ev.get("type")
            proc = ev.get("process")
            f = ev.get("f")
            if not isinstance(ev.get("time"), (int, float)):
                chk.add("event without time", {"line": ev})
                continue
            if typ == "invoke":
                key = (proc, ev.get("op"))
                if key in open_ops:
                    chk.add("op id reused while outstanding",
                            {"process": proc, "op": ev.get("op"), "time": ev["time"]})
                o = Op(proc, f, ev.get("op"), ev, len(self.ops))
                open_ops[key] = o
                self.ops.append(o)
            elif typ in COMPLETIONS:
                if f in ("assign", "revoke") and "op" not in ev:
                    self.stream[proc].append(("epoch", ev))
                    continue
                key = (proc, ev.get("op"))
                o = open_ops.pop(key, None)
                if o is None:
                    chk.add("completion without invoke",
                            {"process": proc, "op": ev.get("op"), "f": f, "time": ev["time"]})
                    continue
                if f is not None and f != o.f:
                    chk.add("completion f differs from invoke",
                            {"process": proc, "op": o.op, "invoke_f": o.f, "f": f})
                o.comp = ev
                o.type = typ
                o.t1 = ev["time"]
                if o.f == "poll":
                    self.stream[proc].append(("poll", o))
            else:
                chk.add("unknown event type", {"event": ev})
        self.incomplete = len(open_ops)
        for o in open_ops.values():
            if o.f == "poll":
                self.stream[o.process].append(("poll", o))
        self.by_f = defaultdict(list)
        for o in self.ops:
            self.by_f[o.f].append(o)


# ---------------------------------------------------------------- the checker


class Checker:
    def __init__(self, run_dir):
        self.dir = run_dir
        self.checks = {n: Check(n) for n in CHECK_ORDER}
        self.notes = []
        try:
            self.run = _load_json(os.path.join(run_dir, "run.json"))
        except (OSError, ValueError) as e:
            self.run = {}
            self.notes.append("run.json unreadable (%s): defaults used" % e)
        self.idempotence = bool(self.run.get("idempotence", True))
        self.base = self.run.get("start_time")

    def rel(self, t):
        """Seconds since the run's start, for examples."""
        if t is None or t == INF or self.base is None:
            return None if t == INF else t
        return round((t - self.base) / 1e9, 3)

    # -------------------------------------------------------------- loading

    def load(self):
        chk = self.checks["history"]
        path = os.path.join(self.dir, "history.jsonl")
        if not os.path.exists(path):
            chk.add("history.jsonl missing", {"path": path})
            events, malformed, partial = [], [], False
        else:
            events, malformed, partial = _read_jsonl(path)
        for ln in malformed:
            chk.add("unparsable line", {"line": ln})
        chk.extra["events"] = len(events)
        chk.extra["partial_last_line_skipped"] = partial
        if self.base is None and events:
            self.base = min(e.get("time", 0) for e in events
                            if isinstance(e.get("time"), (int, float)))
        self.h = History(events, chk)
        chk.extra["ops"] = len(self.h.ops)
        chk.extra["incomplete_ops"] = self.h.incomplete

    # -------------------------------------------------------------- data

    def collect(self):
        """Sends, observations (value at (partition, offset)) from reads and
        polls, and the final reads per partition."""
        h = self.h
        hist = self.checks["history"]
        self.sends = {}  # value -> Op
        for o in h.by_f["send"]:
            v = _key(o.inv.get("value"))
            if v in self.sends:
                hist.add("send value not unique", {"value": v, "process": o.process})
                prev = self.sends[v]
                rank = {"ok": 2, "info": 1, "fail": 0}
                if rank[o.type] <= rank[prev.type]:
                    continue
            self.sends[v] = o
        # Observations.
        self.at = {}  # (p, o) -> value
        self.at_src = {}  # (p, o) -> first source
        self.conflicts = {}  # (p, o) -> {value: source}
        self.pos = {}  # value -> (p, o, source) first position
        self.extra_pos = {}  # value -> {(p, o): source} other positions
        self.reads = defaultdict(list)  # p -> [read info dict]
        gaps = self.checks["gaps"]
        bad_records = 0
        for o in h.by_f["read"]:
            if o.type != "ok":
                continue
            p = _int(o.inv.get("partition", o.comp.get("partition")))
            recs = o.comp.get("value") or []
            src = (o.process, "read", o.op)
            vals = set()
            offs = []
            for r in recs:
                if not isinstance(r, (list, tuple)) or len(r) < 2 or _int(r[0]) is None:
                    bad_records += 1
                    continue
                off, v = int(r[0]), _key(r[1])
                offs.append(off)
                vals.add(v)
                self._observe(p, off, v, src)
            ls = _int(o.comp.get("log_start"))
            hwm = _int(o.comp.get("high_watermark"))
            self.reads[p].append({"op": o, "t0": o.t0, "log_start": ls, "hwm": hwm,
                                  "vals": vals})
            self._dense(gaps, "read", o, p, offs, ls, hwm)
        for o in h.by_f["poll"]:
            if o.type != "ok":
                continue
            src = (o.process, "poll", o.op)
            per_p = {}
            for r in o.comp.get("value") or []:
                if (not isinstance(r, (list, tuple)) or len(r) < 3 or _int(r[0]) is None
                        or _int(r[1]) is None):
                    bad_records += 1
                    continue
                p, off, v = int(r[0]), int(r[1]), _key(r[2])
                per_p.setdefault(p, []).append(off)
                self._observe(p, off, v, src)
            o.comp["_per_p"] = per_p
            for p, offs in per_p.items():
                self._dense(gaps, "poll", o, p, offs, None, None)
        if bad_records:
            hist.add("malformed record in read/poll", {"count": bad_records}, bad_records)

    def _observe(self, p, off, v, src):
        key = (p, off)
        cur = self.at.get(key)
        if cur is None and key not in self.at:
            self.at[key] = v
            self.at_src[key] = src
        elif cur != v:
            c = self.conflicts.get(key)
            if c is None:
                c = self.conflicts[key] = {cur: self.at_src[key]}
            c.setdefault(v, src)
        first = self.pos.get(v)
        if first is None:
            self.pos[v] = (p, off, src)
        elif (first[0], first[1]) != key:
            self.extra_pos.setdefault(v, {}).setdefault(key, src)

    def _dense(self, chk, what, o, p, offs, log_start, hwm):
        for i in range(1, len(offs)):
            if offs[i] != offs[i - 1] + 1:
                chk.add("%s not dense" % what,
                        {"process": o.process, "op": o.op, "partition": p,
                         "after": offs[i - 1], "next": offs[i], "time_s": self.rel(o.t1)})
                break
        if what != "read":
            return
        if offs and log_start is not None and offs[0] != log_start:
            chk.add("read does not start at log_start",
                    {"process": o.process, "op": o.op, "partition": p,
                     "log_start": log_start, "first": offs[0]})
        if hwm is not None:
            if offs:
                short = offs[-1] != hwm - 1
            else:
                short = hwm > (log_start if log_start is not None else 0)
            if short:
                chk.add("read does not end at high_watermark-1",
                        {"process": o.process, "op": o.op, "partition": p,
                         "high_watermark": hwm, "last": offs[-1] if offs else None})

    # -------------------------------------------------------------- checks

    def _send_pos(self, o):
        """(partition, offset) an ok send's ack named; offset None if absent."""
        p = _int(o.comp.get("partition", o.inv.get("partition")))
        off = _int(o.comp.get("offset"))
        if off is not None and off < 0:
            off = None
        return p, off

    def check_lost(self):
        chk = self.checks["lost-writes"]
        sends_p = set()
        acked = found = unverifiable = 0
        for o in self.h.by_f["send"]:
            p = _int(o.inv.get("partition"))
            if p is not None:
                sends_p.add(p)
        if not self.h.by_f["send"] and not self.h.by_f["read"]:
            chk.note = "no sends and no reads: nothing to check"
            return
        required = set(sends_p)
        nparts = _int(self.run.get("partitions"))
        if nparts:
            required.update(range(nparts))
        for o in self.h.by_f["read"]:
            p = _int(o.inv.get("partition"))
            if p is not None:
                required.add(p)
        for p in sorted(required):
            if not self.reads.get(p):
                chk.add("final read incomplete", {"partition": p,
                                                   "reason": "no successful read of the partition"})
        for v, o in self.sends.items():
            if o.type != "ok":
                continue
            acked += 1
            p, off = self._send_pos(o)
            reads = self.reads.get(p)
            if not reads:
                continue  # counted per partition above
            in_any = any(v in r["vals"] for r in reads)
            covering = [r for r in reads if r["t0"] > o.t1]
            missing = [r for r in covering if v not in r["vals"]
                       and (off is None or r["log_start"] is None or off >= r["log_start"])]
            if missing:
                r = missing[0]
                chk.add("lost", {"value": v, "partition": p, "offset": off,
                                 "acked_s": self.rel(o.t1),
                                 "missed_by": r["op"].ref(), "log_start": r["log_start"],
                                 "high_watermark": r["hwm"], "seen_by_other_read": in_any})
            elif in_any:
                found += 1
            elif covering:
                unverifiable += 1
                if len(chk.extra.setdefault("unverifiable_examples", [])) < MAX_EXAMPLES:
                    chk.extra["unverifiable_examples"].append(
                        {"value": v, "partition": p, "offset": off,
                         "log_start": covering[0]["log_start"]})
            else:
                chk.add("final read incomplete",
                        {"value": v, "partition": p, "offset": off,
                         "reason": "no read of the partition invoked after the ack"})
        chk.extra.update({"acked": acked, "found": found, "unverifiable": unverifiable})

    def check_wrong_offsets(self):
        chk = self.checks["wrong-offsets"]
        checked = 0
        for v, o in self.sends.items():
            if o.type != "ok":
                continue
            first = self.pos.get(v)
            if first is None:
                continue
            p, off = self._send_pos(o)
            positions = {(first[0], first[1])}
            more = self.extra_pos.get(v)
            if more:
                positions.update(more)
            checked += 1
            wrong_p = any(pp != p for pp, _ in positions)
            if wrong_p or (off is not None and (p, off) not in positions):
                chk.add("wrong partition" if wrong_p else "wrong offset",
                        {"value": v, "acked": [p, off], "read_at": [list(x) for x in sorted(positions)[:5]],
                         "seen_by": list(first[2])})
        chk.extra["checked"] = checked

    def check_duplicates(self):
        chk = self.checks["duplicates"]
        for v, more in self.extra_pos.items():
            first = self.pos[v]
            positions = sorted({(first[0], first[1])} | set(more))
            chk.add("duplicate", {"value": v, "positions": [list(x) for x in positions[:5]],
                                  "count": len(positions)})
        chk.extra["idempotence"] = self.idempotence
        if not self.idempotence:
            chk.failing = []
            chk.note = "idempotence off: duplicates counted, not failing"

    def check_inconsistent(self):
        chk = self.checks["inconsistent-offsets"]
        for (p, off), vals in self.conflicts.items():
            chk.add("different values at one offset",
                    {"partition": p, "offset": off,
                     "values": {str(v): list(s) for v, s in list(vals.items())[:5]}})
        chk.extra["positions_seen"] = len(self.at)

    def check_phantom(self):
        chk = self.checks["phantom-reads"]
        for v, (p, off, src) in self.pos.items():
            o = self.sends.get(v)
            if o is None:
                chk.add("never sent", {"value": v, "partition": p, "offset": off,
                                       "seen_by": list(src)})
            elif o.type == "fail":
                chk.add("send failed", {"value": v, "partition": p, "offset": off,
                                        "seen_by": list(src), "send": o.ref(),
                                        "error": o.comp.get("error")})
        chk.extra["values_seen"] = len(self.pos)

    def check_order(self):
        chk = self.checks["order"]
        seqs = defaultdict(list)  # (process, partition) -> [(t0, seq, offset, value)]
        for o in self.h.by_f["send"]:
            if o.type != "ok":
                continue
            p, off = self._send_pos(o)
            if off is None:
                continue
            seqs[(o.process, p)].append((o.t0, o.seq, off, _key(o.inv.get("value"))))
        for (proc, p), lst in seqs.items():
            lst.sort()
            for a, b in zip(lst, lst[1:]):
                if b[2] <= a[2]:
                    chk.add("out of order", {"process": proc, "partition": p,
                                             "earlier": {"value": a[3], "offset": a[2]},
                                             "later": {"value": b[3], "offset": b[2]}})
        chk.extra["producer_partitions"] = len(seqs)

    def _group_of(self):
        g = {}
        for o in self.h.ops:
            grp = o.inv.get("group")
            if grp is not None and o.process not in g:
                g[o.process] = grp
        return g

    def _commit_values(self):
        """(op, group, partition, value) of every commit op's value entry."""
        for o in self.h.by_f["commit"]:
            val = o.inv.get("value")
            if not isinstance(val, dict):
                continue
            g = o.inv.get("group")
            for k, c in val.items():
                p, c = _int(k), _int(c)
                if p is not None and c is not None:
                    yield o, g, p, c

    def _commit_index(self):
        """(group, partition) -> sorted invoke times and prefix max of commit
        values (every commit, whatever its outcome: an upper bound)."""
        idx = defaultdict(list)
        for o, g, p, c in self._commit_values():
            idx[(g, p)].append((o.t0, c))
        out = {}
        for key, lst in idx.items():
            lst.sort()
            times, pmax, m = [], [], -1
            for t, c in lst:
                m = max(m, c)
                times.append(t)
                pmax.append(m)
            out[key] = (times, pmax)
        return out

    def check_polls(self):
        chk = self.checks["polls"]
        cchk = self.checks["committed-offsets"]
        group_of = self._group_of()
        commits = self._commit_index()
        polls = 0
        for proc, stream in self.h.stream.items():
            epoch, kind = 0, None
            last = {}
            relaxed = set()
            grp = group_of.get(proc)
            for what, x in stream:
                if what == "epoch":
                    epoch += 1
                    kind = x.get("f")
                    last = {}
                    relaxed = set()
                    continue
                o = x
                if o.type != "ok":
                    relaxed = set(last)
                    continue
                polls += 1
                for p, offs in o.comp.get("_per_p", {}).items():
                    first = offs[0]
                    prev = last.get(p)
                    if prev is not None:
                        if first <= prev:
                            chk.add("went back", {"process": proc, "partition": p, "epoch": epoch,
                                                  "previous_last": prev, "first": first,
                                                  "op": o.op, "time_s": self.rel(o.t1)})
                        elif first != prev + 1 and p not in relaxed:
                            chk.add("skipped", {"process": proc, "partition": p, "epoch": epoch,
                                                "previous_last": prev, "first": first,
                                                "op": o.op, "time_s": self.rel(o.t1)})
                    elif kind != "revoke" and grp is not None and (grp, p) in commits:
                        times, pmax = commits[(grp, p)]
                        i = bisect.bisect_left(times, o.t1)
                        if i > 0 and first > pmax[i - 1]:
                            cchk.add("resume skipped records",
                                     {"process": proc, "group": grp, "partition": p,
                                      "first_polled": first,
                                      "max_commit_invoked_before": pmax[i - 1],
                                      "op": o.op, "time_s": self.rel(o.t1)})
                    relaxed.discard(p)
                    last[p] = offs[-1]
        chk.extra["polls_checked"] = polls

    def check_committed(self):
        chk = self.checks["committed-offsets"]
        commits = defaultdict(list)  # (g, p) -> [Op, value]
        first_invoke = {}  # (g, p, value) -> earliest invoke of a not-failed commit
        parts = defaultdict(set)
        for o, g, p, c in self._commit_values():
            parts[g].add(p)
            commits[(g, p)].append((o, c))
            if o.type != "fail":
                key = (g, p, c)
                if key not in first_invoke or o.t0 < first_invoke[key]:
                    first_invoke[key] = o.t0
        fetches = defaultdict(list)  # (g, p) -> [(Op, value)]
        for o in self.h.by_f["fetch-offsets"]:
            if o.type != "ok":
                continue
            g = o.inv.get("group")
            res = o.comp.get("value")
            if not isinstance(res, dict):
                res = {}
            for k in res:
                if _int(k) is not None:
                    parts[g].add(_int(k))
            o.comp["_res"] = res
        for o in self.h.by_f["fetch-offsets"]:
            if o.type != "ok":
                continue
            g = o.inv.get("group")
            res = {_int(k): _int(v) for k, v in o.comp["_res"].items()}
            for p in parts[g]:
                v = res.get(p)
                fetches[(g, p)].append((o, -1 if v is None else v))

        def sweep(g, p, writers, readers, kind, what):
            """For each reader B: the max value of writers completed before B
            was invoked must be <= B's value."""
            done = sorted(((o.t1, c, o) for o, c in writers), key=lambda x: x[0])
            i, best, best_op = 0, -1, None
            for o, c in sorted(readers, key=lambda x: x[0].t0):
                while i < len(done) and done[i][0] < o.t0:
                    if done[i][1] > best:
                        best, best_op = done[i][1], done[i][2]
                    i += 1
                if c < best:
                    chk.add(kind, {"group": g, "partition": p, what: best,
                                   "earlier": best_op.ref(), "later": o.ref(),
                                   "later_value": c, "time_s": self.rel(o.t0)})

        nfetch = ncommit = 0
        for (g, p), lst in commits.items():
            ok = [(o, c) for o, c in lst if o.type == "ok"]
            ncommit += len(ok)
            sweep(g, p, ok, ok, "acked commit went back", "acked_before")
        for (g, p), lst in fetches.items():
            nfetch += len(lst)
            sweep(g, p, lst, lst, "fetched offset went back", "fetched_before")
            ok = [(o, c) for o, c in commits.get((g, p), []) if o.type == "ok"]
            sweep(g, p, ok, lst, "fetch below acked commit (lost)", "acked_before")
            for o, c in lst:
                if c < 0:
                    continue
                t = first_invoke.get((g, p, c))
                if t is None or t >= o.t1:
                    chk.add("fetched a value never committed",
                            {"group": g, "partition": p, "value": c, "fetch": o.ref(),
                             "time_s": self.rel(o.t0)})
        chk.extra.update({"acked_commits": ncommit, "fetch_results": nfetch})

    def check_topics(self):
        chk = self.checks["topics"]
        creates = defaultdict(list)
        deletes = defaultdict(list)
        for o in self.h.by_f["create-topic"]:
            creates[o.inv.get("value")].append(o)
        for o in self.h.by_f["delete-topic"]:
            deletes[o.inv.get("value")].append(o)
        lists = sorted((o for o in self.h.by_f["list-topics"] if o.type == "ok"),
                       key=lambda o: o.t0)
        list_t0 = [o.t0 for o in lists]
        sets = [set(o.comp.get("value") or []) for o in lists]
        create_inv = {n: sorted(o.t0 for o in lst) for n, lst in creates.items()}
        del_ack = {n: sorted(o.t1 for o in lst if o.type == "ok") for n, lst in deletes.items()}
        # Deleted topics that come back.
        for lo, names in zip(lists, sets):
            for n in names:
                acks = del_ack.get(n)
                if not acks:
                    continue
                i = bisect.bisect_left(acks, lo.t0)
                if i == 0:
                    continue
                d = acks[i - 1]
                ci = create_inv.get(n, [])
                j = bisect.bisect_right(ci, d)
                if j < len(ci) and ci[j] < lo.t1:
                    continue  # re-created after the delete
                chk.add("deleted topic listed", {"topic": n, "deleted_s": self.rel(d),
                                                 "list": lo.ref(), "list_s": self.rel(lo.t0)})
        # Created topics that go missing.
        for n, lst in creates.items():
            dels = [o for o in deletes.get(n, []) if o.type != "fail"]
            for c in lst:
                if c.type != "ok":
                    continue
                until = min((d.t0 for d in dels if d.t1 > c.t1), default=INF)
                i = bisect.bisect_right(list_t0, c.t1)
                j = bisect.bisect_left(list_t0, until) if until != INF else len(lists)
                for k in range(i, j):
                    if lists[k].t1 >= until:
                        continue  # concurrent with the delete: may see it done
                    if n not in sets[k]:
                        chk.add("created topic missing",
                                {"topic": n, "created_s": self.rel(c.t1),
                                 "list": lists[k].ref(), "list_s": self.rel(list_t0[k])})
        chk.extra.update({"lists": len(lists), "topics_created": len(creates)})
        if not lists and not creates:
            chk.note = "no topic operations: nothing to check"

    def check_replicas(self):
        chk = self.checks["divergent-replicas"]
        path = os.path.join(self.dir, "replicas.json")
        expect = bool(self.run.get("expect_replicas", False))
        if not os.path.exists(path):
            chk.status, chk.valid = "NOT RUN", not expect
            chk.note = "replicas.json absent" + (" but run.json expects it" if expect else "")
            return
        try:
            data = _load_json(path)
            groups = data.get("groups")
            if not isinstance(groups, list):
                raise ValueError("no groups list")
        except (OSError, ValueError, AttributeError) as e:
            chk.add("replicas.json unreadable", {"error": str(e)})
            return
        if not groups and expect:
            chk.add("no groups compared", {"reason": "replicas.json lists no group"})
        for g in groups:
            reps = g.get("replicas") or {}
            info = {k: v for k, v in g.items() if k != "replicas"}
            nulls = sorted(str(n) for n, c in reps.items() if c is None)
            if nulls:
                chk.add("replica unreadable", dict(info, nodes=nulls, replicas=reps))
            crcs = {c for c in reps.values() if c is not None}
            if len(crcs) > 1:
                chk.add("checksums differ", dict(info, replicas=reps))
        chk.extra["groups"] = len(groups)

    def check_availability(self):
        chk = self.checks["availability"]
        chk.status, chk.valid = "INFO", True
        ops = [o for o in self.h.ops]
        ops.sort(key=lambda o: o.t0)
        t0s = [o.t0 for o in ops]

        def summary(sel):
            n = ok = 0
            by_f = defaultdict(lambda: [0, 0])
            for o in sel:
                n += 1
                good = o.type == "ok"
                ok += good
                e = by_f[o.f]
                e[0] += 1
                e[1] += good
            return {"ops": n, "ok": ok, "availability": round(ok / n, 4) if n else None,
                    "by_f": {f: {"ops": a, "ok": b, "availability": round(b / a, 4)}
                             for f, a, b in ((f, e[0], e[1]) for f, e in sorted(by_f.items()))}}

        windows = []
        path = os.path.join(self.dir, "nemesis.jsonl")
        if os.path.exists(path):
            evs, malformed, _ = _read_jsonl(path)
            evs.sort(key=lambda e: e.get("time", 0))
            open_w = {}
            for e in evs:
                fault, t = e.get("fault"), e.get("time")
                if not isinstance(t, (int, float)):
                    continue
                if e.get("type") == "start":
                    if fault in open_w:  # a start without a stop: closes at the next start
                        windows.append(dict(open_w.pop(fault), stop=t))
                    open_w[fault] = {"fault": fault, "start": t, "detail": e.get("detail")}
                elif e.get("type") == "stop" and fault in open_w:
                    windows.append(dict(open_w.pop(fault), stop=t))
            end = self.run.get("end_time") or (max(t0s) + 1 if t0s else 0)
            for w in open_w.values():
                windows.append(dict(w, stop=end, unterminated=True))
            windows.sort(key=lambda w: w["start"])
        else:
            chk.note = "nemesis.jsonl absent: no fault windows"
        res_w = []
        covered = [False] * len(ops)
        for w in windows:
            i = bisect.bisect_left(t0s, w["start"])
            j = bisect.bisect_left(t0s, w["stop"])
            skipped = isinstance(w.get("detail"), dict) and "skipped" in w["detail"]
            if not skipped:
                for k in range(i, j):
                    covered[k] = True
            s = summary(ops[i:j])
            s.update({"fault": w["fault"], "start_s": self.rel(w["start"]),
                      "stop_s": self.rel(w["stop"]), "detail": w.get("detail")})
            if skipped:
                s["skipped"] = True
            if w.get("unterminated"):
                s["unterminated"] = True
            res_w.append(s)
        chk.extra["overall"] = summary(ops)
        chk.extra["outside_windows"] = summary(o for o, c in zip(ops, covered) if not c)
        chk.extra["windows"] = res_w

    # -------------------------------------------------------------- driver

    def run_all(self):
        self.load()
        self.collect()
        self.check_lost()
        self.check_wrong_offsets()
        self.check_duplicates()
        self.check_inconsistent()
        self.check_order()
        self.check_polls()
        self.check_committed()
        self.check_phantom()
        self.check_topics()
        self.check_replicas()
        self.check_availability()
        checks = {n: self.checks[n].result() for n in CHECK_ORDER}
        return {
            "valid": all(c["valid"] for c in checks.values()),
            "run_dir": os.path.abspath(self.dir),
            "run": self.run,
            "failed": [n for n in CHECK_ORDER if not checks[n]["valid"]],
            "checks": checks,
            "notes": self.notes,
        }


# ---------------------------------------------------------------- output


def _short(x, width=200):
    s = json.dumps(x, sort_keys=True, default=str)
    return s if len(s) <= width else s[:width - 3] + "..."


def format_text(res):
    run = res.get("run") or {}
    out = ["raftlog Jepsen-style check of %s" % res["run_dir"],
           "workload=%s nemesis=%s nodes=%s idempotence=%s" % (
               run.get("workload"), run.get("nemesis"), run.get("nodes"),
               run.get("idempotence")),
           "RESULT: %s" % ("VALID" if res["valid"] else "INVALID (%s)" % ", ".join(res["failed"])),
           ""]
    for n in CHECK_ORDER:
        c = res["checks"][n]
        counts = ", ".join("%s: %d" % kv for kv in c["counts"].items()) or "no anomalies"
        extra = {k: v for k, v in c.items()
                 if k not in ("status", "valid", "count", "counts", "examples", "note",
                              "unverifiable_examples", "windows", "overall", "outside_windows")}
        if n == "availability":
            line = "[%-4s] %s (reported, never failing)" % (c["status"], n)
        else:
            line = "[%-4s] %-21s count=%d (%s)" % (c["status"], n, c["count"], counts)
        if extra:
            line += " " + _short(extra, 300)
        out.append(line)
        if c.get("note"):
            out.append("       note: " + c["note"])
        for ex in c["examples"][:MAX_EXAMPLES]:
            out.append("       e.g. " + _short(ex, 400))
        for ex in c.get("unverifiable_examples", [])[:MAX_EXAMPLES]:
            out.append("       unverifiable: " + _short(ex))
        if n == "availability":
            def av(s):
                a = s["availability"]
                return "%s ok of %s ops (%s)" % (s["ok"], s["ops"],
                                                 "-" if a is None else "%.1f%%" % (100 * a))
            out.append("       overall: " + av(c["overall"]))
            out.append("       outside fault windows: " + av(c["outside_windows"]))
            for w in c["windows"]:
                out.append("       %s [%s s .. %s s]%s: %s" % (
                    w["fault"], w["start_s"], w["stop_s"],
                    " (skipped)" if w.get("skipped") else "", av(w)))
    for note in res.get("notes", []):
        out.append("note: " + note)
    return "\n".join(out) + "\n"


def check(run_dir):
    """Checks the run folder, writes results.json and results.txt into it and
    returns the results (top-level "valid": bool)."""
    res = Checker(run_dir).run_all()
    with open(os.path.join(run_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, sort_keys=False, default=str)
        f.write("\n")
    with open(os.path.join(run_dir, "results.txt"), "w", encoding="utf-8") as f:
        f.write(format_text(res))
    return res


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python3 -m harness.checker RUN_DIR\n"
              "Checks RUN_DIR, writes results.json and results.txt there; exit 0 if valid, "
              "1 if not, 2 on usage errors.", file=sys.stderr)
        return 2
    if not os.path.isdir(argv[0]):
        print("checker: %s: not a directory" % argv[0], file=sys.stderr)
        return 2
    res = check(argv[0])
    sys.stdout.write(format_text(res))
    return 0 if res["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
