// Node: three in-process nodes whose messages go through a router that can
// cut links and drop stopped nodes; checks elections across many groups,
// replication with offsets, not-leader answers, leader crash and restart,
// catch-up by snapshot after compaction, leadership hand-off on shutdown,
// group commit of concurrent proposals, group removal, and commit notices
// held until the next append or tick.
#include "broker/node.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_format.h"
#include "broker/broker_test_util.h"
#include "broker/local_cluster_test_util.h"
#include "broker/raft_state_file.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::NodeId;
using testing::LocalCluster;
using testing::MakeBatch;
using testing::TempDir;
using testing::WaitFor;
using namespace std::chrono_literals;

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t id = 1; id <= 3; ++id) c_.Start(id);
  }
  LocalCluster c_{3};
};

TEST_F(NodeTest, ManyGroupsElectLeadersAndReplicateWithDenseOffsets) {
  constexpr GroupId kGroups = 20;
  for (GroupId g = 1; g <= kGroups; ++g) c_.EnsureGroupEverywhere(g);
  for (GroupId g = 1; g <= kGroups; ++g) {
    const uint64_t leader = c_.WaitForLeader(g);
    ASSERT_NE(leader, 0u);
    for (int i = 0; i < 3; ++i) {
      auto r = c_.Propose(leader, g, {MakeBatch(3, g * 100 + i), MakeBatch(2, g * 100 + i + 50)});
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->base_offsets.size(), 2u);
      EXPECT_EQ(r->base_offsets[0], i * 5);
      EXPECT_EQ(r->base_offsets[1], i * 5 + 3);
      EXPECT_EQ(r->indexes[1], r->indexes[0] + 1);
    }
  }
  for (GroupId g = 1; g <= kGroups; ++g) {
    ASSERT_TRUE(WaitFor([&] {
      for (uint64_t id = 1; id <= 3; ++id) {
        if (c_.node(id)->FindGroup(g)->high_watermark() != 15) return false;
      }
      return true;
    })) << "group "
        << g;
    const std::string want = c_.Committed(1, g);
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(c_.Committed(2, g), want);
    EXPECT_EQ(c_.Committed(3, g), want);
  }
  // Status shows every group, a leader with two followers and no lag.
  const uint64_t leader = c_.AgreedLeader(1);
  auto st = c_.node(leader)->Status({1}).value();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].raft.role, raft::Role::kLeader);
  ASSERT_EQ(st[0].followers.size(), 2u);
  EXPECT_EQ(st[0].high_watermark, 15);
  EXPECT_EQ(c_.node(1)->Status({}).value().size(), kGroups);
}

// The leader writes into each batch it proposes the base offset the log
// will assign (raft_group.h, StampPredictedOffsets), so no replica's tail
// cache copies a shared payload to stamp its offset; the stored bytes are
// the same on every replica.
TEST_F(NodeTest, ProposalsCarryTheirOffsetsSoNoReplicaRestampsAPayload) {
  c_.EnsureGroupEverywhere(1);
  const uint64_t leader = c_.WaitForLeader(1);
  ASSERT_NE(leader, 0u);
  // Placeholder base offsets (MakeBatch's 0): one proposal at a time, then
  // a burst all in flight at once.
  for (int i = 0; i < 5; ++i) {
    auto r = c_.Propose(leader, 1, {MakeBatch(3, i), MakeBatch(2, i + 50)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->base_offsets[1], i * 5 + 3);
  }
  std::vector<std::future<absl::StatusOr<ProposeResult>>> burst;
  for (int i = 0; i < 10; ++i) {
    auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
    burst.push_back(p->get_future());
    c_.node(leader)->Propose(1, {MakeBatch(2, 100 + i)},
                             [p](absl::StatusOr<ProposeResult> r) { p->set_value(std::move(r)); });
  }
  for (auto& f : burst) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  ASSERT_TRUE(WaitFor([&] {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (c_.node(id)->FindGroup(1)->high_watermark() != 45) return false;
    }
    return true;
  }));
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(c_.node(id)->FindGroup(1)->partition()->restamped_entries(), 0u) << "node " << id;
  }
  const std::string want = c_.Committed(1, 1);
  EXPECT_EQ(c_.Committed(2, 1), want);
  EXPECT_EQ(c_.Committed(3, 1), want);
}

TEST_F(NodeTest, FollowerAnswersNotLeaderWithTheLeadersId) {
  c_.EnsureGroupEverywhere(7);
  const uint64_t leader = c_.WaitForLeader(7);
  const uint64_t follower = leader == 1 ? 2 : 1;
  auto r = c_.Propose(follower, 7, {MakeBatch(1, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(raft::LeaderHint(r.status()), NodeId(leader)) << r.status();
  auto unknown = c_.Propose(leader, 99, {MakeBatch(1, 1)});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto bad = c_.Propose(leader, 7, {"not a record batch"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NodeTest, KilledLeaderIsReplacedAndRestartedNodeCatchesUp) {
  c_.EnsureGroupEverywhere(1);
  const uint64_t old_leader = c_.WaitForLeader(1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c_.Propose(old_leader, 1, {MakeBatch(2, i)}).ok());
  c_.Kill(old_leader);
  const uint64_t new_leader = c_.WaitForLeader(1);
  ASSERT_NE(new_leader, 0u);
  ASSERT_NE(new_leader, old_leader);
  for (int i = 10; i < 20; ++i) {
    auto r = c_.Propose(new_leader, 1, {MakeBatch(2, i)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->base_offsets[0], 2 * i);  // nothing committed before the crash was lost
  }
  c_.Start(old_leader);  // recovers from its directory
  ASSERT_TRUE(WaitFor([&] { return c_.node(old_leader)->FindGroup(1)->high_watermark() == 40; }));
  EXPECT_EQ(c_.Committed(old_leader, 1), c_.Committed(new_leader, 1));

  // Every replica's log checksums equal over the range all of them committed.
  ASSERT_TRUE(WaitFor([&] {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (c_.node(id)->Status({1}).value()[0].raft.commit !=
          c_.node(new_leader)->Status({1}).value()[0].raft.commit) {
        return false;
      }
    }
    return true;
  }));
  const LogIndex commit = c_.node(new_leader)->Status({1}).value()[0].raft.commit;
  auto want = c_.node(new_leader)->LogChecksumOf(1, LogIndex(1), commit);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_GE(want->entries, 20u);
  for (uint64_t id = 1; id <= 3; ++id) {
    auto sum = c_.node(id)->LogChecksumOf(1, LogIndex(1), commit);
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(sum->crc32c, want->crc32c) << "node " << id;
    EXPECT_EQ(sum->entries, want->entries);
  }
  // Past the commit index, or a group not hosted here: refused.
  EXPECT_TRUE(absl::IsOutOfRange(
      c_.node(new_leader)->LogChecksumOf(1, LogIndex(1), LogIndex(commit.value() + 1)).status()));
  EXPECT_TRUE(
      absl::IsNotFound(c_.node(new_leader)->LogChecksumOf(42, LogIndex(1), commit).status()));
}

TEST_F(NodeTest, ADamagedReplicaIsSetAsideAndRebuiltFromItsPeers) {
  // PITFALLS #15: a follower whose raft-state file is damaged does not stop
  // the node, does not serve or vote with what is left, keeps the evidence,
  // and is rebuilt (in amnesia recovery) once the group is asked for again.
  c_.EnsureGroupEverywhere(1);
  const uint64_t leader = c_.WaitForLeader(1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c_.Propose(leader, 1, {MakeBatch(2, i)}).ok());
  const uint64_t victim = leader % 3 + 1;
  ASSERT_TRUE(WaitFor([&] { return c_.node(victim)->FindGroup(1)->high_watermark() == 20; }));
  c_.Kill(victim);
  const std::string group_dir = absl::StrFormat("%s/groups/%020d", c_.dir(victim), 1);
  {
    std::fstream f(group_dir + "/" + kRaftStateFileName,
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(2);
    f.put('\x7f');
  }
  c_.Start(victim);  // starts: the damage is the group's, not the node's
  EXPECT_EQ(c_.node(victim)->FindGroup(1), nullptr);
  EXPECT_TRUE(std::filesystem::exists(group_dir + ".recovering"));
  int aside = 0;
  for (const auto& e : std::filesystem::directory_iterator(c_.dir(victim) + "/groups")) {
    if (e.path().filename().string().find(".damaged-") != std::string::npos) ++aside;
  }
  EXPECT_EQ(aside, 1);  // set aside, not deleted

  ASSERT_TRUE(c_.node(victim)->EnsureGroup(1, {NodeId(1), NodeId(2), NodeId(3)}).value());
  ASSERT_TRUE(WaitFor([&] {
    c_.node(victim)->FinishGroupRecoveries();
    return c_.node(victim)->FindGroup(1)->high_watermark() == 20 &&
           !std::filesystem::exists(group_dir + ".recovering");
  }));
  EXPECT_FALSE(c_.node(victim)->Status({1}).value()[0].raft.recovering);
  EXPECT_EQ(c_.Committed(victim, 1), c_.Committed(leader, 1));
  // A restart now opens the rebuilt replica normally.
  c_.Kill(victim);
  c_.Start(victim);
  ASSERT_NE(c_.node(victim)->FindGroup(1), nullptr);
  EXPECT_FALSE(c_.node(victim)->Status({1}).value()[0].raft.recovering);
}

TEST_F(NodeTest, LaggingNodeCatchesUpBySnapshotAfterTheOthersCompacted) {
  c_.EnsureGroupEverywhere(1);
  uint64_t leader = c_.WaitForLeader(1);
  const uint64_t lagging = leader == 3 ? 2 : 3;
  c_.Kill(lagging);
  leader = c_.WaitForLeader(1);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c_.Propose(leader, 1, {MakeBatch(1, i)}).ok());
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id == lagging) continue;
    ASSERT_TRUE(WaitFor([&] { return c_.node(id)->FindGroup(1)->high_watermark() == 20; }));
    auto first = c_.node(id)->CompactLog(1, LogIndex(0));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_GT(first->value(), 20u);
  }
  c_.Start(lagging);
  ASSERT_TRUE(WaitFor([&] { return c_.node(lagging)->FindGroup(1)->high_watermark() == 20; }));
  auto st = c_.node(lagging)->Status({1}).value();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_GT(st[0].first_index.value(), 20u);  // installed a snapshot, no old entries
  EXPECT_EQ(st[0].log_start_offset, 20);
  // And it takes new writes like the others.
  leader = c_.WaitForLeader(1);
  ASSERT_TRUE(c_.Propose(leader, 1, {MakeBatch(4, 99)}).ok());
  ASSERT_TRUE(WaitFor([&] { return c_.node(lagging)->FindGroup(1)->high_watermark() == 24; }));
}

TEST_F(NodeTest, PartitionedFollowerRejoinsWithoutDisruptingTheLeader) {
  c_.EnsureGroupEverywhere(1);
  const uint64_t leader = c_.WaitForLeader(1);
  const uint64_t f = leader == 3 ? 2 : 3;
  const raft::Term term = c_.node(leader)->Status({1}).value()[0].raft.term;
  c_.Cut(f, 1);
  c_.Cut(f, 2);
  c_.Cut(f, 3);
  std::this_thread::sleep_for(500ms);  // many election timeouts for the cut-off node
  ASSERT_TRUE(c_.Propose(leader, 1, {MakeBatch(1, 1)}).ok());
  c_.HealAll();
  ASSERT_TRUE(WaitFor([&] { return c_.node(f)->FindGroup(1)->high_watermark() == 1; }));
  // Pre-Vote: the rejoining node never bumped the term, the leader stayed.
  EXPECT_EQ(c_.node(leader)->Status({1}).value()[0].raft.term, term);
  EXPECT_TRUE(c_.node(leader)->FindGroup(1)->is_leader());
}

TEST_F(NodeTest, AProposalThatCannotCommitTimesOutWithOutcomeUnknown) {
  c_.EnsureGroupEverywhere(1);
  const uint64_t leader = c_.WaitForLeader(1);
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader) c_.Cut(leader, id);
  }
  auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
  auto f = p->get_future();
  c_.node(leader)->Propose(
      1, {MakeBatch(1, 1)}, [p](auto r) { p->set_value(std::move(r)); }, 300ms);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  const auto r = f.get();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  c_.HealAll();
}

TEST_F(NodeTest, AppendedRunsOnceTheLeadersOwnWriteIsDurableBeforeCommit) {
  c_.EnsureGroupEverywhere(1);
  uint64_t leader = c_.WaitForLeader(1);
  ASSERT_TRUE(c_.Propose(leader, 1, {MakeBatch(3, 1)}).ok());  // offsets 0..2
  // Cut off from both followers: the entry is written locally, never committed.
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader) c_.Cut(leader, id);
  }
  auto appended = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
  auto done = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
  auto fa = appended->get_future();
  auto fd = done->get_future();
  c_.node(leader)->Propose(
      1, {MakeBatch(2, 2)}, [done](auto r) { done->set_value(std::move(r)); }, 2s,
      [appended](auto r) { appended->set_value(std::move(r)); });
  ASSERT_EQ(fa.wait_for(10s), std::future_status::ready);
  absl::StatusOr<ProposeResult> a = fa.get();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->base_offsets.size(), 1u);
  EXPECT_EQ(a->base_offsets[0], 3);
  EXPECT_EQ(c_.node(leader)->FindGroup(1)->high_watermark(), 3);  // not committed
  ASSERT_EQ(fd.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(fd.get().status().code(), absl::StatusCode::kDeadlineExceeded);
  c_.HealAll();
}

TEST(NodeHooksTest, HighWatermarkHookFiresWhenAGroupsHighWatermarkAdvances) {
  std::mutex mu;
  std::map<uint64_t, std::set<GroupId>> advanced;  // node -> groups
  LocalCluster c(3);                               // stopped before the two above go
  c.Tweak([&](NodeOptions& o) {
    const uint64_t id = o.id.value();
    o.on_high_watermark = [&, id](GroupId g) {
      std::lock_guard<std::mutex> l(mu);
      advanced[id].insert(g);
    };
  });
  for (uint64_t id = 1; id <= 3; ++id) c.Start(id);
  c.EnsureGroupEverywhere(7);
  c.EnsureGroupEverywhere(8);
  const uint64_t leader = c.WaitForLeader(7);
  ASSERT_TRUE(c.Propose(leader, 7, {MakeBatch(1, 1)}).ok());
  // Every replica's high watermark moves once it learns the commit.
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    for (uint64_t id = 1; id <= 3; ++id) {
      if (!advanced[id].count(7)) return false;
    }
    return true;
  }));
  std::lock_guard<std::mutex> l(mu);
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(advanced[id].count(8), 0u) << id;
}

// Node's COMMIT NOTICES: after a commit the core sends each follower an
// append without entries that only carries the commit index. A partition
// group holds it: a closed loop of proposals sends about one per tick
// instead of one per proposal and follower, and a follower still learns the
// last commit at the next tick, well before the next heartbeat.
TEST(NodeCommitNoticeTest, HeldUntilTheNextAppendOrTickNeverLost) {
  LocalCluster c(3);
  c.Tweak([](NodeOptions& o) {
    o.tick_ms = 50;
    o.heartbeat_ticks = 20;  // 1 s: the tick's flush, not a heartbeat, must tell the followers
    o.election_ticks = 40;
  });
  for (uint64_t id = 1; id <= 3; ++id) c.Start(id);
  c.EnsureGroupEverywhere(1);
  const uint64_t leader = c.WaitForLeader(1);
  ASSERT_NE(leader, 0u);
  ASSERT_TRUE(c.Propose(leader, 1, {MakeBatch(1, 0)}).ok());
  const auto commit_of = [&](uint64_t id) {
    return c.node(id)->Status({1}).value()[0].raft.commit;
  };
  ASSERT_TRUE(WaitFor([&] {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (commit_of(id) != commit_of(leader)) return false;
    }
    return true;
  }));

  constexpr int kProposals = 30;
  const uint64_t empty_before = c.Routed(leader, raft::MessageType::kApp, false);
  const uint64_t full_before = c.Routed(leader, raft::MessageType::kApp, true);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= kProposals; ++i) {
    ASSERT_TRUE(c.Propose(leader, 1, {MakeBatch(1, i)}).ok());
  }
  const auto committed_at = std::chrono::steady_clock::now();
  const LogIndex last = commit_of(leader);
  // Every follower learns the last commit at the next tick (1 s before a
  // heartbeat would tell it).
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(WaitFor([&] { return commit_of(id) == last; })) << "node " << id;
  }
  const auto caught_up = std::chrono::steady_clock::now() - committed_at;
  EXPECT_LT(caught_up, 800ms);
  const uint64_t ticks =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count() /
                            50);
  const uint64_t empty = c.Routed(leader, raft::MessageType::kApp, false) - empty_before;
  const uint64_t full = c.Routed(leader, raft::MessageType::kApp, true) - full_before;
  EXPECT_GE(full, 2u * kProposals);  // every proposal replicated to both followers
  // At most one notice per follower per tick (plus one), not one per proposal.
  EXPECT_LE(empty, 2 * (ticks + 2)) << "ticks " << ticks;
  EXPECT_LT(empty, 2u * kProposals);
}

TEST_F(NodeTest, ShutdownHandsLeadershipAway) {
  for (GroupId g = 1; g <= 6; ++g) c_.EnsureGroupEverywhere(g);
  for (GroupId g = 1; g <= 6; ++g) ASSERT_NE(c_.WaitForLeader(g), 0u);
  // Make node 1 lead everything first.
  for (GroupId g = 1; g <= 6; ++g) {
    const uint64_t l = c_.AgreedLeader(g);
    if (l != 1) {
      ASSERT_TRUE(c_.node(l)->TransferLeader(g, NodeId(1)).ok());
    }
  }
  ASSERT_TRUE(WaitFor([&] {
    for (GroupId g = 1; g <= 6; ++g) {
      if (c_.AgreedLeader(g) != 1) return false;
    }
    return true;
  }));
  c_.node(1)->Shutdown(3s);
  // Hand-off, not election: node 1 had already lost every leadership when it
  // stopped. Nothing else deposes a live, connected leader; without the
  // hand-off it would still call itself leader here.
  for (GroupId g = 1; g <= 6; ++g) {
    EXPECT_FALSE(c_.node(1)->FindGroup(g)->is_leader()) << "group " << g;
  }
  c_.Kill(1);
  for (GroupId g = 1; g <= 6; ++g) {
    const uint64_t l = c_.WaitForLeader(g);
    EXPECT_TRUE(l == 2 || l == 3) << "group " << g;
  }
}

TEST_F(NodeTest, ConcurrentProposalsShareFsyncRounds) {
  c_.EnsureGroupEverywhere(1);
  const uint64_t leader = c_.WaitForLeader(1);
  const NodeCounters before = c_.node(leader)->Counters();
  constexpr int kProposals = 300;
  std::vector<std::future<absl::StatusOr<ProposeResult>>> futures;
  for (int i = 0; i < kProposals; ++i) {
    auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
    futures.push_back(p->get_future());
    c_.node(leader)->Propose(1, {MakeBatch(1, i)}, [p](auto r) { p->set_value(std::move(r)); });
  }
  std::set<int64_t> offsets;
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status();
    offsets.insert(r->base_offsets[0]);
  }
  EXPECT_EQ(offsets.size(), static_cast<size_t>(kProposals));  // distinct...
  EXPECT_EQ(*offsets.rbegin(), kProposals - 1);                // ...and dense
  const NodeCounters after = c_.node(leader)->Counters();
  EXPECT_LT(after.synced_readys - before.synced_readys, static_cast<uint64_t>(kProposals));
}

TEST_F(NodeTest, RemoveGroupStopsItAndDeletesItsData) {
  c_.EnsureGroupEverywhere(5);
  const uint64_t leader = c_.WaitForLeader(5);
  ASSERT_TRUE(c_.Propose(leader, 5, {MakeBatch(3, 1)}).ok());
  const std::string dir = c_.dir(1) + "/groups/00000000000000000005";
  ASSERT_TRUE(std::filesystem::exists(dir));
  ASSERT_TRUE(c_.node(1)->RemoveGroup(5).ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(c_.node(1)->FindGroup(5), nullptr);
  EXPECT_EQ(c_.node(1)->RemoveGroup(5).code(), absl::StatusCode::kNotFound);
  // A restart does not bring it back.
  c_.Kill(1);
  c_.Start(1);
  EXPECT_EQ(c_.node(1)->FindGroup(5), nullptr);
}

TEST_F(NodeTest, EnsureGroupIsIdempotentAndValidates) {
  auto r = c_.node(1)->EnsureGroup(3, {NodeId(1), NodeId(2), NodeId(3)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r);
  r = c_.node(1)->EnsureGroup(3, {NodeId(1), NodeId(2), NodeId(3)});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(c_.node(1)->EnsureGroup(0, {NodeId(1)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c_.node(1)->EnsureGroup(4, {NodeId(1), NodeId(1)}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Journal mode (the default): acknowledged entries whose segment writes were
// lost (simulated by cutting the unsynced tail of the active segment file
// after a crash) come back from the journal at restart. One-voter groups, so
// no peer can hand the entries back instead.
TEST(NodeJournalReplayTest, LostSegmentTailsAreReplayedFromTheJournal) {
  LocalCluster c(1);
  c.Tweak([](NodeOptions& o) { o.journal_max_direct_groups = 0; });  // journal every round
  c.Start(1);
  for (GroupId g = 1; g <= 3; ++g) c.EnsureGroupEverywhere(g, {1});
  std::map<GroupId, std::string> before;
  for (GroupId g = 1; g <= 3; ++g) {
    ASSERT_NE(c.WaitForLeader(g), 0u);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.Propose(1, g, {MakeBatch(3, g * 1000 + i)}).ok());
    ASSERT_TRUE(WaitFor([&] { return c.node(1)->FindGroup(g)->high_watermark() == 90; }));
    before[g] = c.Committed(1, g);
  }
  c.Kill(1);
  // "Power loss": each group's active segment keeps only its first 100 bytes.
  for (GroupId g = 1; g <= 3; ++g) {
    const std::string log_dir = c.dir(1) + absl::StrFormat("/groups/%020d/log", g);
    for (const auto& e : std::filesystem::directory_iterator(log_dir)) {
      if (e.path().extension() == ".log") std::filesystem::resize_file(e.path(), 100);
    }
  }
  c.Start(1);
  for (GroupId g = 1; g <= 3; ++g) {
    ASSERT_NE(c.WaitForLeader(g), 0u);
    ASSERT_TRUE(WaitFor([&] { return c.node(1)->FindGroup(g)->high_watermark() == 90; }))
        << "group " << g;
    EXPECT_EQ(c.Committed(1, g), before[g]) << "group " << g;
  }
}

TEST(NodeJournalReplayTest, ARemovedGroupsEntriesNeverReachItsSuccessor) {
  LocalCluster c(1);
  c.Tweak([](NodeOptions& o) { o.journal_max_direct_groups = 0; });
  c.Start(1);
  c.EnsureGroupEverywhere(4, {1});
  ASSERT_NE(c.WaitForLeader(4), 0u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(1, 4, {MakeBatch(2, i)}).ok());
  ASSERT_TRUE(c.node(1)->RemoveGroup(4).ok());
  c.EnsureGroupEverywhere(4, {1});  // a new group with the same id
  ASSERT_NE(c.WaitForLeader(4), 0u);
  ASSERT_TRUE(c.Propose(1, 4, {MakeBatch(1, 99)}).ok());
  c.Kill(1);
  c.Start(1);  // replays a journal holding both incarnations' entries
  ASSERT_NE(c.WaitForLeader(4), 0u);
  ASSERT_TRUE(WaitFor([&] { return c.node(1)->FindGroup(4)->high_watermark() == 1; }));
  EXPECT_EQ(c.node(1)->FindGroup(4)->partition_log()->next_offset().value(), 1);
}

// Rounds that write few groups fsync those logs directly; rounds that write
// many go through the journal; a group with journaled entries not yet
// checkpointed stays on the journal even in a small round.
TEST(NodeJournalReplayTest, SmallRoundsSyncDirectlyManyGroupsUseTheJournal) {
  LocalCluster c(1);
  c.Tweak([](NodeOptions& o) {
    o.journal_max_direct_groups = 2;
    o.journal_rotate_ms = 3600 * 1000;  // no checkpoint during the test
  });
  c.Start(1);
  for (GroupId g = 1; g <= 8; ++g) c.EnsureGroupEverywhere(g, {1});
  for (GroupId g = 1; g <= 8; ++g) ASSERT_NE(c.WaitForLeader(g), 0u);
  // The elections' no-ops may have been journaled together: checkpoint them.
  ASSERT_TRUE(c.node(1)->Checkpoint().ok());
  const uint64_t j0 = c.node(1)->Counters().journal_syncs;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(1, 1, {MakeBatch(1, i)}).ok());
  EXPECT_EQ(c.node(1)->Counters().journal_syncs, j0);  // one group at a time: direct
  // Eight groups at once: journaled (a round of more than two groups).
  std::vector<std::future<absl::StatusOr<ProposeResult>>> fs;
  for (int round = 0; round < 20; ++round) {
    for (GroupId g = 1; g <= 8; ++g) {
      auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
      fs.push_back(p->get_future());
      c.node(1)->Propose(g, {MakeBatch(1, round)}, [p](auto r) { p->set_value(std::move(r)); });
    }
  }
  for (auto& f : fs) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  const uint64_t j1 = c.node(1)->Counters().journal_syncs;
  EXPECT_GT(j1, j0);
  // Group 1 now has entries only the journal holds durably: even alone it
  // keeps using the journal (a direct write could be undone by replay).
  ASSERT_TRUE(c.Propose(1, 1, {MakeBatch(1, 99)}).ok());
  EXPECT_GT(c.node(1)->Counters().journal_syncs, j1);
}

TEST(NodeJournalReplayTest, CheckpointSyncsTheLogsAndDropsOldJournalFiles) {
  LocalCluster c(1);
  c.Tweak([](NodeOptions& o) {
    o.journal_max_direct_groups = 0;
    o.journal_rotate_ms = 20;
  });
  c.Start(1);
  for (GroupId g = 1; g <= 3; ++g) c.EnsureGroupEverywhere(g, {1});
  for (GroupId g = 1; g <= 3; ++g) ASSERT_NE(c.WaitForLeader(g), 0u);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.Propose(1, 1 + i % 3, {MakeBatch(2, i)}).ok());
    if (i % 10 == 9) std::this_thread::sleep_for(30ms);  // let rotations happen
  }
  ASSERT_TRUE(WaitFor([&] { return c.node(1)->Counters().checkpoints >= 2; }));
  // Old files go once checkpointed: only the current one (and perhaps the
  // one being checkpointed) remain.
  ASSERT_TRUE(WaitFor([&] {
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(c.dir(1) + "/journal")) {
      files += e.path().extension() == ".journal";
    }
    return files <= 2;
  }));
  c.Kill(1);
  c.Start(1);
  for (GroupId g = 1; g <= 3; ++g) {
    ASSERT_NE(c.WaitForLeader(g), 0u);
    const int64_t want = g == 1 ? 28 : 26;  // 14 or 13 batches of 2
    ASSERT_TRUE(WaitFor([&] { return c.node(1)->FindGroup(g)->high_watermark() == want; }))
        << "group " << g;
  }
}

TEST(NodeLifecycleTest, StatusIsUnavailableBeforeStartAndAfterStop) {
  TempDir dir;
  NodeOptions o;
  o.id = NodeId(1);
  o.data_dir = dir.path();
  Node n(std::move(o));
  EXPECT_EQ(n.Status({}).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(n.Start().ok());
  EXPECT_TRUE(n.Status({}).ok());
  n.Stop();
  EXPECT_EQ(n.Status({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(n.EnsureGroup(1, {NodeId(1)}).status().code(), absl::StatusCode::kUnavailable);
}

class NodeSyncModeTest : public ::testing::TestWithParam<SyncMode> {};

TEST_P(NodeSyncModeTest, ReplicatesAndRecovers) {
  LocalCluster c(3, GetParam());
  for (uint64_t id = 1; id <= 3; ++id) c.Start(id);
  for (GroupId g = 1; g <= 4; ++g) c.EnsureGroupEverywhere(g);
  for (GroupId g = 1; g <= 4; ++g) {
    const uint64_t leader = c.WaitForLeader(g);
    ASSERT_NE(leader, 0u);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(leader, g, {MakeBatch(2, i)}).ok());
  }
  const uint64_t leader = c.AgreedLeader(1);
  c.Kill(leader);
  c.Start(leader);
  for (GroupId g = 1; g <= 4; ++g) {
    ASSERT_TRUE(WaitFor([&] { return c.node(leader)->FindGroup(g)->high_watermark() == 10; }))
        << "group " << g;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, NodeSyncModeTest,
                         ::testing::Values(SyncMode::kJournal, SyncMode::kPerGroup,
                                           SyncMode::kSyncfs));

}  // namespace
}  // namespace raftlog::broker
