"""Network namespaces for the Jepsen-style harness: one namespace per node.

Layout of one run (id = 4 hex digits, all names start with "rlj-<id>-"):
  root namespace:  bridge rlj-<id>-br with address 10.77.<x>.1/24, so workers
                   in the root namespace reach every node; veth rlj-<id>-vN
                   (root side of node N) enslaved to the bridge; one iptables
                   FORWARD ACCEPT rule for the subnet, commented "rlj-<id>"
                   (the host's FORWARD policy may be DROP, e.g. with docker,
                   and br_netfilter sends bridged frames through it).
  namespace rlj-<id>-nN: lo up, veth rlj-<id>-pN with 10.77.<x>.(10+N)/24.

Partitions are iptables DROP rules inside the node namespaces (INPUT -s and
OUTPUT -d, in both nodes of a cut pair), so a cut is symmetric and leaves the
root namespace (the workers) connected to every node. Healing flushes them.

Invariants: everything created carries the rlj- prefix and is recorded in a
state file /run/rlj/<id>.json holding the owning PID; teardown is idempotent
and removes exactly what the run made; cleanup_stale() removes leftovers of
runs whose owner PID is gone (crashed harnesses), and nothing of live runs.
"""

import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time

PREFIX = "rlj-"
STATE_DIR = "/run/rlj"
SUBNET_BASE = "10.77"


class NetnsError(RuntimeError):
    pass


def _run(args, check=True, timeout=20, capture=True):
    try:
        p = subprocess.run(args, capture_output=capture, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise NetnsError(f"command timed out after {timeout}s: {' '.join(args)}") from e
    if check and p.returncode != 0:
        raise NetnsError(f"command failed ({p.returncode}): {' '.join(args)}: "
                         f"{(p.stderr or '').strip()}")
    return p


def check_environment():
    """Raises NetnsError with a clear message if we cannot build namespaces."""
    if os.geteuid() != 0:
        raise NetnsError("the Jepsen harness needs root (network namespaces, veth pairs, "
                         "iptables); run it with sudo or as root")
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            raise NetnsError(f"`{tool}` not found on PATH (Debian: apt-get install "
                             f"{'iproute2' if tool == 'ip' else 'iptables'})")


# ---- pure helpers (unit tested without root) ----

def node_ip(octet, node):
    return f"{SUBNET_BASE}.{octet}.{10 + node}"


def cut_pairs(groups, nodes):
    """Pairs (a, b), a < b, of nodes to cut so that traffic flows only inside
    each group of `groups` (a list of node lists). A node in several groups
    (a bridge) reaches all of them. Nodes in no group are isolated from all."""
    member = {n: set() for n in nodes}
    for gi, g in enumerate(groups):
        for n in g:
            member[n].add(gi)
    pairs = []
    for i, a in enumerate(sorted(nodes)):
        for b in sorted(nodes)[i + 1:]:
            if not (member[a] & member[b]):
                pairs.append((a, b))
    return pairs


def reachable(pairs, a, b):
    """True if a and b are not directly cut by `pairs`."""
    return (min(a, b), max(a, b)) not in set(pairs)


class Network:
    """The namespaces, veths, bridge and rules of one run."""

    def __init__(self, nodes, run_id=None, octet=None, rng=None):
        self.nodes = list(nodes)
        self.run_id = run_id or "%04x" % random.SystemRandom().randrange(0x10000)
        self.octet = octet
        self.rng = rng or random.Random()
        self.cuts = set()  # current cut pairs
        self.created = False

    # names
    @property
    def tag(self):
        return f"{PREFIX}{self.run_id}"

    def ns(self, node):
        return f"{self.tag}-n{node}"

    def bridge(self):
        return f"{self.tag}-br"

    def ip(self, node):
        return node_ip(self.octet, node)

    def gateway(self):
        return f"{SUBNET_BASE}.{self.octet}.1"

    def subnet(self):
        return f"{SUBNET_BASE}.{self.octet}.0/24"

    def state_path(self):
        return os.path.join(STATE_DIR, f"{self.run_id}.json")

    def _pick_octet(self):
        used = set()
        out = _run(["ip", "-4", "addr", "show"]).stdout + _run(["ip", "-4", "route"]).stdout
        for m in re.finditer(r"10\.77\.(\d+)\.", out):
            used.add(int(m.group(1)))
        free = [o for o in range(100, 250) if o not in used]
        if not free:
            raise NetnsError("no free 10.77.x.0/24 subnet (100..249 all in use)")
        return random.SystemRandom().choice(free)

    def create(self):
        check_environment()
        cleanup_stale()
        if self.octet is None:
            self.octet = self._pick_octet()
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(self.state_path(), "w") as f:
            json.dump({"pid": os.getpid(), "start": _proc_stat(os.getpid())[1],
                       "octet": self.octet, "nodes": self.nodes,
                       "created": time.time()}, f)
        self.created = True
        br = self.bridge()
        _run(["ip", "link", "add", br, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.gateway()}/24", "dev", br])
        _run(["ip", "link", "set", br, "up"])
        _run(["iptables", "-I", "FORWARD", "1", "-s", self.subnet(), "-d", self.subnet(),
              "-m", "comment", "--comment", self.tag, "-j", "ACCEPT"])
        for n in self.nodes:
            ns, root_if, ns_if = self.ns(n), f"{self.tag}-v{n}", f"{self.tag}-p{n}"
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", root_if, "type", "veth", "peer", "name", ns_if])
            _run(["ip", "link", "set", ns_if, "netns", ns])
            _run(["ip", "link", "set", root_if, "master", br])
            _run(["ip", "link", "set", root_if, "up"])
            _run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"])
            _run(["ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.ip(n)}/24", "dev",
                  ns_if])
            _run(["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"])
            _run(["ip", "netns", "exec", ns, "ip", "route", "add", "default", "via",
                  self.gateway()])
        return self

    # ---- partitions ----

    def _rule(self, action, node, chain, flag, peer_ip):
        return ["ip", "netns", "exec", self.ns(node), "iptables", "-w", "5", action, chain,
                flag, peer_ip, "-j", "DROP"]

    def cut(self, a, b):
        """Drops all traffic between nodes a and b (both directions)."""
        key = (min(a, b), max(a, b))
        if key in self.cuts:
            return
        for x, y in (key, key[::-1]):
            _run(self._rule("-A", x, "INPUT", "-s", self.ip(y)))
            _run(self._rule("-A", x, "OUTPUT", "-d", self.ip(y)))
        self.cuts.add(key)

    def uncut(self, a, b):
        key = (min(a, b), max(a, b))
        for x, y in (key, key[::-1]):
            _run(self._rule("-D", x, "INPUT", "-s", self.ip(y)), check=False)
            _run(self._rule("-D", x, "OUTPUT", "-d", self.ip(y)), check=False)
        self.cuts.discard(key)

    def partition(self, groups):
        """Heals, then cuts so traffic flows only within each group."""
        self.heal()
        pairs = cut_pairs(groups, self.nodes)
        for a, b in pairs:
            self.cut(a, b)
        return pairs

    def heal(self):
        for n in self.nodes:
            for chain in ("INPUT", "OUTPUT"):
                _run(["ip", "netns", "exec", self.ns(n), "iptables", "-w", "5", "-F", chain],
                     check=False)
        self.cuts.clear()

    def exec_prefix(self, node):
        return ["ip", "netns", "exec", self.ns(node)]

    def teardown(self):
        """Deletes everything this run made. Idempotent."""
        _delete_run(self.run_id)
        self.created = False


# ---- teardown of a run by id (also used for stale leftovers) ----

def _list_netns():
    p = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def _list_links():
    p = _run(["ip", "-o", "link", "show"], check=False)
    out = []
    for line in p.stdout.splitlines():
        m = re.match(r"\d+: ([^:@]+)[@:]", line)
        if m:
            out.append(m.group(1))
    return out


def _forward_rules():
    p = _run(["iptables", "-S", "FORWARD"], check=False)
    return [line for line in p.stdout.splitlines() if "--comment" in line and PREFIX in line]


def _kill_ns_processes(ns):
    p = _run(["ip", "netns", "pids", ns], check=False)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGCONT)
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete_run(run_id):
    tag = f"{PREFIX}{run_id}"
    for ns in _list_netns():
        if ns.startswith(tag + "-"):
            _kill_ns_processes(ns)
            _run(["ip", "netns", "del", ns], check=False)
    for link in _list_links():
        if link.startswith(tag + "-"):
            _run(["ip", "link", "del", link], check=False)
    for rule in _forward_rules():
        if f"--comment {tag} " in rule + " " or f'--comment "{tag}"' in rule:
            args = rule.split()
            args[0] = "-D"
            _run(["iptables"] + args, check=False)
    try:
        os.unlink(os.path.join(STATE_DIR, f"{run_id}.json"))
    except FileNotFoundError:
        pass


def _proc_stat(pid):
    """(state, start time in clock ticks) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _pid_alive(pid, start=None):
    """True if `pid` runs (not a zombie) and, when given, started at `start`
    (so a recycled PID does not keep a dead run's leftovers alive)."""
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return start is None or st[1] == start


def live_run_ids():
    ids = set()
    if not os.path.isdir(STATE_DIR):
        return ids
    for name in os.listdir(STATE_DIR):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(STATE_DIR, name)) as f:
                st = json.load(f)
            pid, start = st["pid"], st.get("start")
        except (OSError, ValueError, KeyError):
            continue
        if _pid_alive(pid, start):
            ids.add(name[:-5])
    return ids


def leftovers():
    """Names of rlj- namespaces, links and FORWARD rules that exist now."""
    return ([n for n in _list_netns() if n.startswith(PREFIX)] +
            [link for link in _list_links() if link.startswith(PREFIX)] + _forward_rules())


def cleanup_stale():
    """Removes rlj- leftovers of runs whose harness process is gone."""
    live = live_run_ids()
    ids = set()
    for name in leftovers():
        m = re.search(r"rlj-([0-9a-f]{4})", name)
        if m:
            ids.add(m.group(1))
    if os.path.isdir(STATE_DIR):
        ids |= {n[:-5] for n in os.listdir(STATE_DIR) if n.endswith(".json")}
    removed = sorted(ids - live)
    for run_id in removed:
        _delete_run(run_id)
    return removed
