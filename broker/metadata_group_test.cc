// The metadata group hosted by Nodes: commands proposed on the leader come
// back with the state machine's outcome (also a deterministic rejection);
// every replica applies them; ReadIndex from a follower sees a write
// acknowledged before it; a restart applies nothing twice and nothing
// misses; a replica that fell behind a compaction catches up by restoring
// the state machine's snapshot; without a quorum a read is refused in time.
#include "broker/metadata_group.h"

#include <array>
#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "broker/local_cluster_test_util.h"
#include "broker/metadata_commands_test_util.h"
#include "broker/metadata_host_test_util.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::NodeId;
using testing::LocalCluster;
using testing::WaitFor;
using namespace std::chrono_literals;

class MetadataGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_.Tweak([this](NodeOptions& o) {
      const uint64_t id = o.id.value();
      testing::HostMetadataGroup(o, state_, [this, id](LogIndex) { ++notified_[id]; });
    });
    for (uint64_t id = 1; id <= 3; ++id) c_.Start(id);
  }

  MetadataStateMachine& state(uint64_t id) { return *state_[id]; }

  // Proposes `cmd` on the metadata leader; the state machine's outcome.
  absl::StatusOr<ApplyResult> Run(const mdpb::MetadataCommand& cmd) {
    const uint64_t leader = c_.WaitForLeader(kMetadataGroup);
    absl::StatusOr<ProposeResult> r = c_.Propose(leader, kMetadataGroup, {cmd.SerializeAsString()});
    if (!r.ok()) return r.status();
    if (r->outcomes.size() != 1) return absl::InternalError("want one outcome");
    return std::any_cast<ApplyResult>(r->outcomes[0]);
  }

  absl::StatusOr<LogIndex> ReadIndex(uint64_t on) {
    auto p = std::make_shared<std::promise<absl::StatusOr<LogIndex>>>();
    auto f = p->get_future();
    c_.node(on)->ReadIndex(
        kMetadataGroup, [p](absl::StatusOr<LogIndex> r) { p->set_value(std::move(r)); }, 2s);
    if (f.wait_for(10s) != std::future_status::ready) return absl::DeadlineExceededError("hung");
    return f.get();
  }

  void RegisterAll() {
    for (uint64_t id = 1; id <= 3; ++id) {
      absl::StatusOr<ApplyResult> r = Run(testing::Register(id));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_TRUE(r->status.ok()) << r->status;
    }
  }

  // Declared before the cluster: the nodes' loop threads use them until the
  // cluster is destroyed.
  std::map<uint64_t, MetadataStateMachine*> state_;
  std::array<std::atomic<int>, 4> notified_{};  // by node id (1..3)
  LocalCluster c_{3};
};

TEST_F(MetadataGroupTest, ProposalsReturnTheStateMachinesOutcomeOnEveryReplica) {
  RegisterAll();
  absl::StatusOr<ApplyResult> created = Run(testing::CreateTopic("orders", 3, 3));
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(created->status.ok()) << created->status;
  ASSERT_TRUE(created->topic.has_value());
  EXPECT_EQ(created->topic->partition_count(), 3);

  absl::StatusOr<ApplyResult> again = Run(testing::CreateTopic("orders", 3, 3));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status.code(), absl::StatusCode::kAlreadyExists) << again->status;
  EXPECT_GT(again->index, created->index);

  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(WaitFor([&] { return state(id).applied_index() >= again->index; })) << id;
    absl::StatusOr<mdpb::Topic> t = state(id).GetTopic("orders");
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->SerializeAsString(), created->topic->SerializeAsString());
    EXPECT_GT(notified_[id].load(), 0);
  }
}

TEST_F(MetadataGroupTest, ReadIndexOnAFollowerSeesEveryAcknowledgedWrite) {
  RegisterAll();
  const uint64_t leader = c_.WaitForLeader(kMetadataGroup);
  const uint64_t follower = leader == 1 ? 2 : 1;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<ApplyResult> r = Run(testing::CreateTopic("t" + std::to_string(i), 1, 3, i + 1));
    ASSERT_TRUE(r.ok() && r->status.ok());
    absl::StatusOr<LogIndex> read = ReadIndex(follower);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_GE(*read, r->index);
    // Answered only once applied: the local read sees the topic at once.
    EXPECT_GE(state(follower).applied_index(), r->index);
    EXPECT_TRUE(state(follower).GetTopic("t" + std::to_string(i)).ok());
  }
}

TEST_F(MetadataGroupTest, ReadIndexWithoutAQuorumFailsInTime) {
  const uint64_t leader = c_.WaitForLeader(kMetadataGroup);
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader) c_.Kill(id);
  }
  absl::StatusOr<LogIndex> read = ReadIndex(leader);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(read.status()) || absl::IsUnavailable(read.status()))
      << read.status();
}

TEST_F(MetadataGroupTest, RestartAppliesNothingTwiceAndMissesNothing) {
  RegisterAll();
  absl::StatusOr<ApplyResult> pids = Run(testing::AllocPids(100));
  ASSERT_TRUE(pids.ok() && pids->status.ok());
  const int64_t first = pids->producer_ids->first();
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(WaitFor([&] { return state(id).applied_index() >= pids->index; }));
  }
  for (uint64_t id = 1; id <= 3; ++id) c_.Kill(id);
  for (uint64_t id = 1; id <= 3; ++id) c_.Start(id);
  // Had the restart re-applied the allocation, the next block would skip 100.
  absl::StatusOr<ApplyResult> next = Run(testing::AllocPids(10));
  ASSERT_TRUE(next.ok() && next->status.ok()) << next.status();
  EXPECT_EQ(next->producer_ids->first(), first + 100);
  absl::StatusOr<std::vector<mdpb::Broker>> brokers = state(1).ListBrokers();
  ASSERT_TRUE(brokers.ok());
  EXPECT_EQ(brokers->size(), 3u);
}

TEST_F(MetadataGroupTest, LaggingReplicaCatchesUpByRestoringASnapshot) {
  RegisterAll();
  const uint64_t lagging = c_.WaitForLeader(kMetadataGroup) == 3 ? 2 : 3;
  c_.Kill(lagging);
  LogIndex last;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<ApplyResult> r = Run(testing::CreateTopic("s" + std::to_string(i), 2, 2, i + 1));
    ASSERT_TRUE(r.ok() && r->status.ok()) << (r.ok() ? r->status : r.status());
    last = r->index;
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id == lagging) continue;
    ASSERT_TRUE(WaitFor([&] { return state(id).applied_index() >= last; }));
    absl::StatusOr<LogIndex> first = c_.node(id)->CompactLog(kMetadataGroup, LogIndex(0));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_GT(*first, last);
  }
  c_.Start(lagging);
  ASSERT_TRUE(WaitFor([&] { return state(lagging).applied_index() >= last; }));
  absl::StatusOr<std::vector<mdpb::Topic>> topics = state(lagging).ListTopics();
  ASSERT_TRUE(topics.ok());
  EXPECT_EQ(topics->size(), 10u);
  absl::StatusOr<std::vector<GroupStatusInfo>> st = c_.node(lagging)->Status({kMetadataGroup});
  ASSERT_TRUE(st.ok());
  EXPECT_GT((*st)[0].first_index, last);  // installed a snapshot, no old entries
  // It then applies new commands like the others.
  absl::StatusOr<ApplyResult> after = Run(testing::DeleteTopic("s0"));
  ASSERT_TRUE(after.ok() && after->status.ok());
  ASSERT_TRUE(WaitFor([&] { return state(lagging).applied_index() >= after->index; }));
  EXPECT_TRUE(absl::IsNotFound(state(lagging).GetTopic("s0").status()));
}

}  // namespace
}  // namespace raftlog::broker
