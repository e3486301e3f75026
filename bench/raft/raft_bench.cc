// raft_bench: commits per second of a 3-node Raft group with no I/O
// (MemoryStorage, messages handed over immediately, one thread), with and
// without proposal batching, and the CPU cost per committed entry.
//
//   raft_bench [--seconds=S per case] [--payload=BYTES]
//
// Each case proposes `batch` entries on the leader, then runs Ready cycles on
// all nodes until the group is quiescent (everything committed and applied
// on the leader), and repeats. Storage is compacted every 64Ki entries so
// memory stays flat. Prints one line per case and the batched/unbatched
// ratio. The harness checks that every proposed entry commits exactly once.
// On a shared machine wall-clock rates understate the core; the CPU-time
// figures (CLOCK_PROCESS_CPUTIME_ID) are the ones to compare.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/raw_node.h"

namespace {

using raftlog::raft::Config;
using raftlog::raft::ConfState;
using raftlog::raft::EntryType;
using raftlog::raft::LogIndex;
using raftlog::raft::Message;
using raftlog::raft::NodeId;
using raftlog::raft::RawNode;
using raftlog::raft::Ready;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "raft_bench: %s\n", what.c_str());
  std::exit(1);
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Group {
 public:
  explicit Group(int n) {
    ConfState cs;
    for (int i = 1; i <= n; ++i) cs.voters.push_back(NodeId(static_cast<uint64_t>(i)));
    for (int i = 1; i <= n; ++i) {
      auto node = std::make_unique<Node>();
      node->storage.SetConfState(cs);
      Config c;
      c.id = NodeId(static_cast<uint64_t>(i));
      c.seed = static_cast<uint64_t>(i);
      c.max_inflight_msgs = 4096;
      auto rn = RawNode::Create(c, &node->storage);
      if (!rn.ok()) Die("RawNode::Create: " + std::string(rn.status().message()));
      node->raft = std::move(*rn);
      nodes_[static_cast<uint64_t>(i)] = std::move(node);
    }
    if (!nodes_[1]->raft->Campaign().ok()) Die("campaign failed");
    for (int i = 0; i < 100 && nodes_[1]->raft->role() != raftlog::raft::Role::kLeader; ++i) {
      Pump();
    }
    if (nodes_[1]->raft->role() != raftlog::raft::Role::kLeader) Die("no leader");
    Pump();
    applied_at_start_ = applied_normal_;
  }

  RawNode& leader() { return *nodes_[1]->raft; }
  uint64_t committed() const { return applied_normal_ - applied_at_start_; }

  // Runs Ready cycles and delivers messages until nothing is left to do.
  void Pump() {
    for (int round = 0; round < 1000; ++round) {
      bool progress = false;
      for (auto& [id, n] : nodes_) {
        while (n->raft->HasReady()) {
          Ready rd = n->raft->GetReady();
          for (Message& m : rd.messages) queue_.push_back(std::move(m));
          if (rd.snapshot && !n->storage.ApplySnapshot(*rd.snapshot).ok()) Die("ApplySnapshot");
          if (!rd.entries.empty() && !n->storage.Append(rd.entries).ok()) Die("Append");
          if (rd.hard_state) n->storage.SetHardState(*rd.hard_state);
          for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
          for (const auto& e : rd.committed_entries) {
            n->applied = e.index.value();
            if (id == 1 && e.type == EntryType::kNormal && !e.data.empty()) ++applied_normal_;
          }
          n->raft->Advance(rd);
          MaybeCompact(*n);
          progress = true;
        }
      }
      while (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        (void)nodes_[m.to.value()]->raft->Step(std::move(m));
        progress = true;
      }
      if (!progress) return;
    }
    Die("group did not quiesce");
  }

 private:
  struct Node {
    raftlog::raft::MemoryStorage storage;
    std::unique_ptr<RawNode> raft;
    uint64_t applied = 0;
  };

  void MaybeCompact(Node& n) {
    const uint64_t first = n.storage.FirstIndex().value();
    if (n.applied < first + 65536) return;
    if (!n.storage.CreateSnapshot(LogIndex(n.applied), n.raft->conf_state(), "").ok()) {
      Die("CreateSnapshot");
    }
    if (!n.storage.Compact(LogIndex(n.applied - 1024)).ok()) Die("Compact");
  }

  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
  std::deque<Message> queue_;
  uint64_t applied_normal_ = 0;
  uint64_t applied_at_start_ = 0;
};

struct CaseResult {
  double entries_per_sec = 0;
  double cpu_ns_per_entry = 0;
  uint64_t entries = 0;
};

CaseResult RunCase(int batch, double seconds, size_t payload) {
  Group g(3);
  const std::string data(payload, 'x');
  uint64_t proposed = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int r = 0; r < 64; ++r) {  // check the clock every 64 cycles
      for (int i = 0; i < batch; ++i) {
        if (!g.leader().Propose(data).ok()) Die("Propose failed");
      }
      proposed += static_cast<uint64_t>(batch);
      g.Pump();
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double cpu = CpuSeconds() - cpu_start;
  if (g.committed() != proposed) {
    Die("committed " + std::to_string(g.committed()) + " of " + std::to_string(proposed));
  }
  CaseResult r;
  r.entries = proposed;
  r.entries_per_sec = static_cast<double>(proposed) / elapsed;
  r.cpu_ns_per_entry = cpu * 1e9 / static_cast<double>(proposed);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  size_t payload = 64;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) {
      seconds = std::atof(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--payload=", 10) == 0) {
      payload = static_cast<size_t>(std::atol(argv[i] + 10));
    } else {
      std::fprintf(stderr, "usage: raft_bench [--seconds=S] [--payload=BYTES]\n");
      return 2;
    }
  }
  std::printf(
      "3-node group, in-memory, messages delivered immediately, one thread, %zu-byte "
      "entries, %.1f s per case\n",
      payload, seconds);
  std::map<int, CaseResult> results;
  for (int batch : {1, 16, 256}) {
    CaseResult r = RunCase(batch, seconds, payload);
    results[batch] = r;
    std::printf(
        "  %4d proposal(s) per Ready cycle: %10.0f entries/s wall, %6.0f ns CPU/entry "
        "(= %.2fM entries per CPU-second), %llu entries\n",
        batch, r.entries_per_sec, r.cpu_ns_per_entry, 1e3 / r.cpu_ns_per_entry,
        static_cast<unsigned long long>(r.entries));
    std::fflush(stdout);
  }
  std::printf("batched (256) / unbatched (1): %.1fx wall throughput, %.1fx CPU per entry\n",
              results[256].entries_per_sec / results[1].entries_per_sec,
              results[1].cpu_ns_per_entry / results[256].cpu_ns_per_entry);
  return 0;
}
