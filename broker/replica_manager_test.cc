// ReplicaManager on three in-process nodes sharing a metadata group: a
// created topic's partition groups appear exactly on their replicas and
// elect leaders; leadership moves to the preferred leaders; a deleted
// topic's groups and directories disappear, also on a node that was down
// when it was deleted; a group the local metadata does not know yet is
// never removed; the metadata log is compacted past its threshold.
#include "broker/replica_manager.h"

#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_format.h"
#include "broker/local_cluster_test_util.h"
#include "broker/metadata_commands_test_util.h"
#include "broker/metadata_group.h"
#include "broker/metadata_host_test_util.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::NodeId;
using testing::LocalCluster;
using testing::WaitFor;
using namespace std::chrono_literals;

class ReplicaManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.Tweak([this](NodeOptions& o) {
      testing::HostMetadataGroup(o, state_);
      o.recovering = o.id == raft::NodeId(wiped_);
    });
    for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  }
  void TearDown() override {
    for (uint64_t id = 1; id <= 3; ++id) managers_[id].reset();
  }

  void StartNode(uint64_t id) {
    c_.Start(id);
    ReplicaManagerOptions o;
    o.leader_balance_interval = 0ms;  // the tests call RunOnce(true) themselves
    o.metadata_compact_entries = compact_entries_;
    o.on_recovered = [this, id] {
      ++recovered_calls_[id];
      return true;
    };
    managers_[id] = std::make_unique<ReplicaManager>(c_.node(id).get(), state_[id], o);
  }
  void KillNode(uint64_t id) {
    managers_[id].reset();
    c_.Kill(id);
  }

  ApplyResult Run(const mdpb::MetadataCommand& cmd) {
    const uint64_t leader = c_.WaitForLeader(kMetadataGroup);
    absl::StatusOr<ProposeResult> r = c_.Propose(leader, kMetadataGroup, {cmd.SerializeAsString()});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return ApplyResult{};
    ApplyResult a = std::any_cast<ApplyResult>(r->outcomes.at(0));
    EXPECT_TRUE(a.status.ok()) << a.status;
    for (uint64_t id = 1; id <= 3; ++id) {
      if (c_.node(id) == nullptr) continue;
      EXPECT_TRUE(WaitFor([&] { return state_[id]->applied_index() >= a.index; }));
    }
    return a;
  }

  void ReconcileAll(bool balance = false) {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (!managers_[id]) continue;
      ReconcileReport r = managers_[id]->RunOnce(balance);
      EXPECT_TRUE(r.status.ok()) << "node " << id << ": " << r.status;
    }
  }

  std::string GroupDir(uint64_t node, GroupId g) {
    return absl::StrFormat("%s/groups/%020d", c_.dir(node), g);
  }

  uint64_t compact_entries_ = 10000;
  uint64_t wiped_ = 0;  // started with NodeOptions::recovering
  std::map<uint64_t, int> recovered_calls_;
  LocalCluster c_{3};
  std::map<uint64_t, MetadataStateMachine*> state_;
  std::map<uint64_t, std::unique_ptr<ReplicaManager>> managers_;
};

TEST_F(ReplicaManagerTest, PartitionsAppearOnTheirReplicasAndLeadersMoveToPreferred) {
  for (uint64_t id = 1; id <= 3; ++id) Run(testing::Register(id));
  // 6 partitions, RF 2: each node holds 4 replicas and prefers to lead 2.
  ApplyResult created = Run(testing::CreateTopic("orders", 6, 2));
  ASSERT_TRUE(created.topic.has_value());
  ReconcileAll();
  std::map<GroupId, uint64_t> preferred;
  for (const mdpb::Partition& p : created.topic->partitions()) {
    preferred[p.group_id()] = p.replicas(0);
    for (uint64_t id = 1; id <= 3; ++id) {
      const bool replica = std::count(p.replicas().begin(), p.replicas().end(), id) > 0;
      EXPECT_EQ(c_.node(id)->FindGroup(p.group_id()) != nullptr, replica)
          << "group " << p.group_id() << " node " << id;
    }
  }
  std::map<uint64_t, int> preferred_per_node;
  for (const auto& [g, n] : preferred) ++preferred_per_node[n];
  EXPECT_EQ(preferred_per_node, (std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}}));

  // Balancing hands every partition to its preferred leader.
  const auto leader_of = [&](GroupId g) -> uint64_t {
    for (uint64_t id = 1; id <= 3; ++id) {
      auto grp = c_.node(id)->FindGroup(g);
      if (grp && grp->is_leader()) return id;
    }
    return 0;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        ReconcileAll(/*balance=*/true);
        for (const auto& [g, n] : preferred) {
          if (leader_of(g) != n) return false;
        }
        return true;
      },
      20s));
  // A balanced cluster stays put.
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(managers_[id]->RunOnce(true).transferred.empty());
  }
}

TEST_F(ReplicaManagerTest, DeletedTopicsGroupsAndDataDisappearAlsoOnANodeThatWasDown) {
  for (uint64_t id = 1; id <= 3; ++id) Run(testing::Register(id));
  ApplyResult created = Run(testing::CreateTopic("gone", 3, 3));
  ReconcileAll();
  std::vector<GroupId> groups;
  for (const mdpb::Partition& p : created.topic->partitions()) groups.push_back(p.group_id());
  for (GroupId g : groups) {
    ASSERT_NE(c_.WaitForLeader(g), 0u);
    ASSERT_TRUE(std::filesystem::exists(GroupDir(3, g)));
  }
  KillNode(3);
  Run(testing::DeleteTopic("gone"));
  ReconcileAll();
  for (uint64_t id = 1; id <= 2; ++id) {
    for (GroupId g : groups) {
      EXPECT_EQ(c_.node(id)->FindGroup(g), nullptr);
      EXPECT_FALSE(std::filesystem::exists(GroupDir(id, g))) << GroupDir(id, g);
    }
  }
  // Node 3 comes back with the groups on disk; once its metadata has caught
  // up, its manager removes them too.
  StartNode(3);
  for (GroupId g : groups) EXPECT_NE(c_.node(3)->FindGroup(g), nullptr);
  ASSERT_TRUE(WaitFor([&] { return !state_[3]->GetTopic("gone").ok(); }));
  ReconcileReport r = managers_[3]->RunOnce(false);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(std::set<GroupId>(r.removed.begin(), r.removed.end()),
            std::set<GroupId>(groups.begin(), groups.end()));
  for (GroupId g : groups) EXPECT_FALSE(std::filesystem::exists(GroupDir(3, g)));
}

TEST_F(ReplicaManagerTest, AWipedNodeRecoversItsReplicasThenEndsItsRecovery) {
  for (uint64_t id = 1; id <= 3; ++id) Run(testing::Register(id));
  ApplyResult created = Run(testing::CreateTopic("kept", 3, 3));
  ReconcileAll();
  std::vector<GroupId> groups;
  for (const mdpb::Partition& p : created.topic->partitions()) groups.push_back(p.group_id());
  for (GroupId g : groups) ASSERT_NE(c_.WaitForLeader(g), 0u);
  // Node 3 loses its disk and comes back empty, in recovery.
  KillNode(3);
  std::filesystem::remove_all(c_.dir(3));
  std::filesystem::create_directories(c_.dir(3));
  wiped_ = 3;
  StartNode(3);
  EXPECT_TRUE(c_.node(3)->recovering());
  ASSERT_TRUE(WaitFor(
      [&] {
        managers_[3]->RunOnce(false);
        return !c_.node(3)->recovering();
      },
      30s));
  EXPECT_EQ(recovered_calls_[3], 1);
  // Every replica assigned to it is back and caught up; none recovering.
  auto status = c_.node(3)->Status({});
  ASSERT_TRUE(status.ok());
  std::set<GroupId> hosted;
  for (const GroupStatusInfo& g : *status) {
    hosted.insert(g.group);
    EXPECT_FALSE(g.raft.recovering) << "group " << g.group;
  }
  for (GroupId g : groups) EXPECT_TRUE(hosted.count(g)) << "group " << g;
  EXPECT_TRUE(hosted.count(kMetadataGroup));
  // The healthy nodes never were in recovery.
  EXPECT_EQ(recovered_calls_[1], 0);
  EXPECT_FALSE(c_.node(1)->recovering());
}

TEST_F(ReplicaManagerTest, AGroupTheLocalMetadataDoesNotKnowYetIsKept) {
  // As if created by a command this node has not applied yet: its id is
  // beyond the local counter.
  ASSERT_TRUE(c_.node(1)->EnsureGroup(500, {NodeId(1), NodeId(2), NodeId(3)}).ok());
  ReconcileReport r = managers_[1]->RunOnce(false);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(r.removed.empty());
  EXPECT_NE(c_.node(1)->FindGroup(500), nullptr);
}

TEST_F(ReplicaManagerTest, BackgroundThreadActsOnNotifyAndCompactsTheMetadataLog) {
  for (uint64_t id = 1; id <= 3; ++id) KillNode(id);
  compact_entries_ = 20;
  for (uint64_t id = 1; id <= 3; ++id) StartNode(id);
  for (uint64_t id = 1; id <= 3; ++id) managers_[id]->Start();
  for (uint64_t id = 1; id <= 3; ++id) Run(testing::Register(id));
  ApplyResult created = Run(testing::CreateTopic("bg", 2, 3));
  for (uint64_t id = 1; id <= 3; ++id) managers_[id]->Notify();
  for (const mdpb::Partition& p : created.topic->partitions()) {
    for (uint64_t id = 1; id <= 3; ++id) {
      EXPECT_TRUE(WaitFor([&] { return c_.node(id)->FindGroup(p.group_id()) != nullptr; }));
    }
  }
  for (int i = 0; i < 30; ++i) Run(testing::AllocPids(1));
  for (uint64_t id = 1; id <= 3; ++id) {
    managers_[id]->Notify();
    EXPECT_TRUE(WaitFor([&] {
      auto st = c_.node(id)->Status({kMetadataGroup});
      return st.ok() && (*st)[0].first_index > LogIndex(20);
    })) << "node "
        << id;
  }
}

}  // namespace
}  // namespace raftlog::broker
