// RawNode API: config validation, the Ready cycle and Status.
#include "raft/raw_node.h"

#include "gtest/gtest.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::MakeSolo;
using testing::Network;
using testing::Persist;
using testing::Voters;

TEST(RawNodeTest, ConfigValidation) {
  MemoryStorage st;
  Config c = testing::TestConfig(NodeId(1));
  EXPECT_TRUE(c.Validate().ok());
  Config bad = c;
  bad.id = kNoNode;
  EXPECT_FALSE(RawNode::Create(bad, &st).ok());
  bad = c;
  bad.election_tick = 1;
  EXPECT_FALSE(bad.Validate().ok());
  bad = c;
  bad.max_inflight_msgs = 0;
  EXPECT_FALSE(bad.Validate().ok());
  bad = c;
  bad.snapshot_chunk_size = 0;
  EXPECT_FALSE(bad.Validate().ok());
  EXPECT_FALSE(RawNode::Create(c, nullptr).ok());
}

TEST(RawNodeTest, ReadyCycleAndNumbering) {
  auto s = MakeSolo(1, Voters({1}), {}, {});
  EXPECT_FALSE(s.node->HasReady());
  ASSERT_TRUE(s.node->Campaign().ok());
  ASSERT_TRUE(s.node->HasReady());
  Ready r1 = s.node->GetReady();
  EXPECT_EQ(r1.number, 1u);
  ASSERT_TRUE(r1.soft_state.has_value());
  EXPECT_EQ(r1.soft_state->role, Role::kLeader);
  EXPECT_TRUE(r1.MustSync());
  EXPECT_FALSE(s.node->HasReady());  // Outstanding until Advance.
  ASSERT_TRUE(s.storage->Append(r1.entries).ok());
  s.storage->SetHardState(*r1.hard_state);
  s.node->Advance(r1);
  Ready r2 = s.node->GetReady();
  EXPECT_EQ(r2.number, 2u);
  ASSERT_EQ(r2.committed_entries.size(), 1u);
  EXPECT_EQ(r2.committed_entries[0].type, EntryType::kNoop);
  s.node->Advance(r2);
  EXPECT_EQ(s.node->Status().applied, LogIndex(1));
  EXPECT_FALSE(s.node->HasReady());
}

TEST(RawNodeTest, StepRejectsMisaddressedMessages) {
  auto s = MakeSolo(1, Voters({1, 2, 3}), {}, {});
  EXPECT_EQ(s.node->Step(testing::Msg(MessageType::kHeartbeat, 2, 3, 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.node->Step(testing::Msg(MessageType::kHeartbeat, 0, 1, 1)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RawNodeTest, StatusShowsProgressOnLeader) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  RaftStatus st = net.node(1).Status();
  EXPECT_EQ(st.role, Role::kLeader);
  EXPECT_EQ(st.leader, NodeId(1));
  EXPECT_EQ(st.commit, LogIndex(2));
  ASSERT_EQ(st.progress.size(), 3u);
  for (uint64_t i : {1, 2, 3}) {
    EXPECT_EQ(st.progress.at(NodeId(i)).match, LogIndex(2));
    EXPECT_EQ(st.progress.at(NodeId(i)).next, LogIndex(3));
  }
  EXPECT_EQ(st.progress.at(NodeId(2)).state, ProgressState::kReplicate);
  EXPECT_TRUE(net.node(2).Status().progress.empty());
}

TEST(RawNodeTest, UnreachableFollowerFallsBackToProbe) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_EQ(net.node(1).Status().progress.at(NodeId(2)).state, ProgressState::kReplicate);
  net.node(1).ReportUnreachable(NodeId(2));
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(2)).state, ProgressState::kProbe);
}

}  // namespace
}  // namespace raftlog::raft
