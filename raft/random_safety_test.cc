// A small seeded randomized check of the safety properties over the test
// network: message loss, duplication and reordering, partitions, restarts,
// snapshots with compaction. Asserts Election Safety (one leader per term)
// and State Machine Safety (no two nodes apply different entries at one
// index) [3.6.3]. The full simulator with a linearizability checker is in
// tests/sim/; this one is small enough to run with the unit tests.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"

namespace raftlog::raft {
namespace {

using testing::Network;

class RandomSafety : public ::testing::TestWithParam<uint64_t> {};

TEST_P(RandomSafety, ElectionAndStateMachineSafety) {
  std::mt19937_64 rng(GetParam());
  auto pick = [&](uint64_t n) { return rng() % n; };
  const bool pre_vote = GetParam() % 2 == 0;
  Network net(5, [&](Config& c) {
    c.seed = GetParam();
    c.pre_vote = pre_vote;
    c.check_quorum = pre_vote;
    c.max_size_per_msg = 64;
    c.max_inflight_msgs = 4;
    c.snapshot_chunk_size = 7;
  });
  std::map<Term, NodeId> leader_of_term;
  std::map<LogIndex, Entry> chosen;  // Index -> entry applied by anyone.
  std::map<NodeId, size_t> seen_applied;
  std::map<NodeId, LogIndex> last_commit;
  int proposals = 0;

  auto check = [&]() {
    for (NodeId id : net.ids()) {
      RawNode& n = net.node(id.value());
      if (n.role() == Role::kLeader) {
        auto [it, inserted] = leader_of_term.emplace(n.term(), id);
        ASSERT_EQ(it->second, id) << "two leaders in term " << n.term();
      }
      auto& applied = net.peer(id.value()).applied;
      for (size_t i = seen_applied[id]; i < applied.size(); ++i) {
        const Entry& e = applied[i];
        auto [it, inserted] = chosen.emplace(e.index, e);
        ASSERT_EQ(it->second, e) << "node " << id << " applied a different entry at " << e.index;
      }
      seen_applied[id] = applied.size();
      const LogIndex c = n.Status().commit;
      ASSERT_GE(c, last_commit[id]) << "commit went backwards on " << id;
      last_commit[id] = c;
    }
  };

  for (int step = 0; step < 3000; ++step) {
    const uint64_t r = pick(100);
    const uint64_t id = 1 + pick(5);
    if (r < 25) {
      net.Tick(id);
    } else if (r < 70) {
      auto& q = net.queue();
      if (!q.empty()) {
        const size_t i = pick(std::min<size_t>(q.size(), 4));  // Mild reordering.
        Message m = q[i];
        q.erase(q.begin() + i);
        const uint64_t fate = pick(20);
        if (fate == 0) continue;        // Lost.
        if (fate == 1) q.push_back(m);  // Duplicated.
        net.Deliver(m);
      }
    } else if (r < 85) {
      net.ProcessReady(NodeId(id));
    } else if (r < 91) {
      const NodeId lead = net.Leader();
      if (lead != kNoNode) (void)net.node(lead.value()).Propose("p" + std::to_string(proposals++));
    } else if (r < 92) {
      // Crash in the middle of a Ready: the messages allowed to leave before
      // the fsync have left, nothing was persisted.
      if (net.node(id).HasReady()) {
        Ready rd = net.node(id).GetReady();
        for (const Message& m : rd.messages) net.queue().push_back(m);
        net.Restart(id);
        // The commit index is volatile [3.8]: it may restart lower.
        last_commit.erase(NodeId(id));
      }
    } else if (r < 94) {
      net.Heal();
      if (pick(2) == 0) net.Isolate(1 + pick(5));
    } else if (r < 95) {
      while (net.ProcessReady(NodeId(id))) {
      }
      net.Restart(id);
      last_commit.erase(NodeId(id));
    } else if (r < 97) {
      // Snapshot + compaction at the applied index.
      while (net.ProcessReady(NodeId(id))) {
      }
      auto& p = net.peer(id);
      MemoryStorage& st = *p.storage;
      if (p.applied_index >= st.FirstIndex() + 2) {
        ASSERT_TRUE(st.CreateSnapshot(p.applied_index, p.node->conf_state(),
                                      "snap@" + std::to_string(p.applied_index.value()))
                        .ok());
        ASSERT_TRUE(st.Compact(p.applied_index).ok());
      }
    } else if (r < 98) {
      (void)net.node(id).Campaign();
    } else if (r < 99) {
      // Demote a voter to learner or promote a learner back.
      const NodeId lead = net.Leader();
      if (lead != kNoNode) {
        RawNode& l = net.node(lead.value());
        const ConfState cs = l.conf_state();
        ConfChange cc;
        cc.node = NodeId(id);
        cc.type = std::find(cs.learners.begin(), cs.learners.end(), cc.node) != cs.learners.end()
                      ? ConfChangeType::kAddVoter
                      : ConfChangeType::kAddLearner;
        if (cc.type == ConfChangeType::kAddVoter || cs.voters.size() > 3) {
          (void)l.ProposeConfChange(cc);
        }
      }
    } else {
      const NodeId lead = net.Leader();
      if (lead != kNoNode) (void)net.node(lead.value()).TransferLeadership(NodeId(id));
    }
    check();
    if (HasFatalFailure()) return;
  }
  // Heal and let the cluster converge: everyone applies the same log.
  net.Heal();
  // Without Pre-Vote, nodes with stale logs may disrupt several rounds.
  auto converged = [&] {
    const NodeId lead = net.Leader();
    if (lead == kNoNode) return false;
    const LogIndex commit = net.node(lead.value()).Status().commit;
    for (NodeId id : net.ids()) {
      if (net.node(id.value()).leader() != lead) return false;
      if (net.peer(id.value()).applied_index != commit) return false;
    }
    return true;
  };
  for (int i = 0; i < 1000 && !converged(); ++i) net.TickAll();
  check();
  if (net.Leader() == kNoNode) {
    for (NodeId id : net.ids()) {
      auto st = net.node(id.value()).Status();
      std::printf(
          "node %lu role %s term %lu vote %lu lead %lu commit %lu applied %lu last %lu voters %zu "
          "learners %zu\n",
          (unsigned long)id.value(), std::string(RoleName(st.role)).c_str(),
          (unsigned long)st.term.value(), (unsigned long)st.vote.value(),
          (unsigned long)st.leader.value(), (unsigned long)st.commit.value(),
          (unsigned long)st.applied.value(), (unsigned long)st.last_index.value(),
          st.conf_state.voters.size(), st.conf_state.learners.size());
    }
    size_t n = net.delivered().size();
    for (size_t i = n > 30 ? n - 30 : 0; i < n; ++i)
      std::printf("%s\n", DebugString(net.delivered()[i]).c_str());
  }
  ASSERT_NE(net.Leader(), kNoNode);
  const LogIndex commit = net.node(net.Leader().value()).Status().commit;
  size_t ccs = 0, snaps = 0;
  for (auto& [i, e] : chosen) ccs += e.type == EntryType::kConfChange;
  for (NodeId id : net.ids()) snaps += net.peer(id.value()).installed_snapshots.size();
  if (getenv("RAFT_RANDOM_VERBOSE")) {
    std::printf("seed %lu: leaders %zu chosen %zu conf changes %zu snapshots %zu\n",
                static_cast<unsigned long>(GetParam()), leader_of_term.size(), chosen.size(), ccs,
                snaps);
  }

  for (NodeId id : net.ids()) {
    EXPECT_EQ(net.node(id.value()).Status().commit, commit) << id;
    EXPECT_EQ(net.peer(id.value()).applied_index, commit) << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomSafety, ::testing::Range<uint64_t>(1, 101));

}  // namespace
}  // namespace raftlog::raft
