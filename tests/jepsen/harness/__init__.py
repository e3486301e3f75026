"""raftlog's Jepsen-style fault-injection harness (issue 9).

Modules: netns (namespaces, veths, partitions), cluster (raftlogd processes),
nemesis (faults and their schedule), runner (one run), plot (PNG), checker
(history analysis), powerloss and corrupt (disk faults). Entry point:
tests/jepsen/jepsen.py; interfaces: docs/JEPSEN.md.
"""
