// Membership changes [4]: validation, one change at a time, a committed
// entry of the leader's term first (PITFALLS #1), learners and promotion,
// a removed leader stepping down and a removed server not disrupting [4.2.3].
#include "raft/conf_change.h"

#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::AppliedData;
using testing::Network;
using testing::Voters;

ConfChange CC(ConfChangeType t, uint64_t id) { return ConfChange{t, NodeId(id), ""}; }

TEST(ConfChangeTest, EncodeDecodeRoundTrip) {
  ConfChange cc{ConfChangeType::kAddLearner, NodeId(0x0102030405060708ULL), "addr:1"};
  auto d = DecodeConfChange(EncodeConfChange(cc));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, cc);
  EXPECT_FALSE(DecodeConfChange("short").ok());
  std::string bad = EncodeConfChange(cc);
  bad[0] = 9;
  EXPECT_FALSE(DecodeConfChange(bad).ok());
}

TEST(ConfChangeTest, Validation) {
  ConfState cs = Voters({1, 2}, {3});
  EXPECT_TRUE(ValidateConfChange(cs, CC(ConfChangeType::kAddVoter, 3)).ok());  // Promote.
  EXPECT_TRUE(ValidateConfChange(cs, CC(ConfChangeType::kAddVoter, 4)).ok());
  EXPECT_FALSE(ValidateConfChange(cs, CC(ConfChangeType::kAddVoter, 1)).ok());
  EXPECT_FALSE(ValidateConfChange(cs, CC(ConfChangeType::kAddLearner, 3)).ok());
  EXPECT_TRUE(ValidateConfChange(cs, CC(ConfChangeType::kAddLearner, 2)).ok());  // Demote.
  EXPECT_EQ(ValidateConfChange(cs, CC(ConfChangeType::kRemoveNode, 9)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(ValidateConfChange(cs, CC(ConfChangeType::kAddVoter, 0)).ok());
  ConfState one = Voters({1});
  EXPECT_FALSE(ValidateConfChange(one, CC(ConfChangeType::kRemoveNode, 1)).ok());
  EXPECT_FALSE(ValidateConfChange(one, CC(ConfChangeType::kAddLearner, 1)).ok());

  ApplyToConfState(cs, CC(ConfChangeType::kAddVoter, 3));
  EXPECT_EQ(cs, Voters({1, 2, 3}));
  ApplyToConfState(cs, CC(ConfChangeType::kAddLearner, 1));
  EXPECT_EQ(cs, Voters({2, 3}, {1}));
  ApplyToConfState(cs, CC(ConfChangeType::kRemoveNode, 1));
  EXPECT_EQ(cs, Voters({2, 3}));
}

TEST(ConfChangeTest, LeaderMustCommitAnEntryOfItsTermFirst) {
  Network net(3);
  net.SetFilter([](const Message& m) { return m.type == MessageType::kAppResp; });
  ASSERT_TRUE(net.Elect(1));
  absl::Status s = net.node(1).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  net.SetFilter(nullptr);
  net.TickAll(2);
  EXPECT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4)).ok());
}

TEST(ConfChangeTest, OnlyOneChangeInFlight) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddLearner, 4)).ok());
  EXPECT_EQ(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddLearner, 5)).code(),
            absl::StatusCode::kFailedPrecondition);
  net.Stabilize();
  EXPECT_EQ(net.node(1).conf_state(), Voters({1, 2, 3}, {4}));
  EXPECT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddLearner, 5)).ok());
}

TEST(ConfChangeTest, ConfChangeOnFollowerIsRefused) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  absl::Status s = net.node(2).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4));
  EXPECT_EQ(LeaderHint(s), NodeId(1));
}

TEST(ConfChangeTest, LearnerReplicatesDoesNotVoteAndIsPromotedWhenCaughtUp) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.AddNode(NodeId(4), Voters({1, 2, 3}));
  net.Isolate(4);
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddLearner, 4)).ok());
  net.Stabilize();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(net.node(1).Propose("v" + std::to_string(i)).ok());
    net.Stabilize();
  }
  // Lagging learner: promotion refused.
  EXPECT_EQ(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4)).code(),
            absl::StatusCode::kFailedPrecondition);
  net.Heal();
  net.TickAll(3);
  EXPECT_EQ(AppliedData(net, 4), AppliedData(net, 1));
  EXPECT_EQ(net.node(4).conf_state(), Voters({1, 2, 3}, {4}));
  EXPECT_FALSE(net.node(4).Campaign().ok());  // Learners never campaign.
  auto st = net.node(1).Status();
  EXPECT_TRUE(st.progress.at(NodeId(4)).is_learner);
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4)).ok());
  net.Stabilize();
  net.TickAll(1);
  for (uint64_t i : {1, 2, 3, 4}) EXPECT_EQ(net.node(i).conf_state(), Voters({1, 2, 3, 4})) << i;
  EXPECT_FALSE(net.node(1).Status().progress.at(NodeId(4)).is_learner);
}

TEST(ConfChangeTest, LearnerDoesNotCountTowardsQuorum) {
  Network net(Voters({1, 2}, {3}));
  ASSERT_TRUE(net.Elect(1));
  const LogIndex commit = net.node(1).Status().commit;
  net.Isolate(2);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(3)).match, net.node(1).Status().last_index);
  EXPECT_EQ(net.node(1).Status().commit, commit);
}

TEST(ConfChangeTest, AddedVoterChangesQuorumSize) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.AddNode(NodeId(4), Voters({1, 2, 3}));
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddVoter, 4)).ok());
  net.Stabilize();
  ASSERT_EQ(net.node(1).conf_state(), Voters({1, 2, 3, 4}));
  // 4 voters: a quorum is 3; with two down nothing commits.
  net.Isolate(3);
  net.Isolate(4);
  const LogIndex commit = net.node(1).Status().commit;
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  EXPECT_EQ(net.node(1).Status().commit, commit);
}

TEST(ConfChangeTest, RemovedLeaderStepsDownAfterCommit) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kRemoveNode, 1)).ok());
  EXPECT_EQ(net.node(1).role(), Role::kLeader);  // Not yet committed.
  net.Stabilize();
  net.TickAll(1);
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(2).conf_state(), Voters({2, 3}));
  for (int i = 0; i < 40 && net.Leader() == kNoNode; ++i) net.TickAll();
  const NodeId lead = net.Leader();
  ASSERT_TRUE(lead == NodeId(2) || lead == NodeId(3));
  ASSERT_TRUE(net.node(lead.value()).Propose("after").ok());
  net.Stabilize();
  net.TickAll(1);
  EXPECT_EQ(AppliedData(net, 2), std::vector<std::string>{"after"});
  EXPECT_FALSE(net.node(1).Campaign().ok());
}

TEST(ConfChangeTest, RemovedServerDoesNotDisruptCluster) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  // Node 3 is cut off before it learns it was removed.
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kRemoveNode, 3)).ok());
  net.Stabilize();
  ASSERT_EQ(net.node(1).conf_state(), Voters({1, 2}));
  const Term t = net.node(1).term();
  for (int i = 0; i < 50; ++i) {
    net.Tick(3);
    net.Stabilize();
  }
  net.Heal();
  for (int i = 0; i < 50; ++i) net.TickAll();
  EXPECT_EQ(net.Leader(), NodeId(1));
  EXPECT_EQ(net.node(1).term(), t);
  EXPECT_EQ(net.node(2).term(), t);
}

TEST(ConfChangeTest, RestartReplaysCommittedConfChanges) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.AddNode(NodeId(4), Voters({1, 2, 3}));
  ASSERT_TRUE(net.node(1).ProposeConfChange(CC(ConfChangeType::kAddLearner, 4)).ok());
  net.Stabilize();
  net.TickAll(1);
  net.Restart(2);
  EXPECT_EQ(net.node(2).conf_state(), Voters({1, 2, 3}, {4}));
}

}  // namespace
}  // namespace raftlog::raft
