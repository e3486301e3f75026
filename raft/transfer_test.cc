// Leadership transfer [3.10]: TimeoutNow to an up-to-date target, catching a
// lagging target up first, refusing proposals meanwhile, aborting after an
// election timeout.
#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::AppliedData;
using testing::Delivered;
using testing::Network;

TEST(TransferTest, TransferToUpToDateFollower) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  const Term t = net.node(1).term();
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(2)).ok());
  net.Stabilize();
  EXPECT_EQ(net.node(2).role(), Role::kLeader);
  EXPECT_EQ(net.node(2).term(), t + 1);
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(1).leader(), NodeId(2));
  EXPECT_EQ(Delivered(net, MessageType::kTimeoutNow, 1, 2).size(), 1u);
}

TEST(TransferTest, LaggingTargetIsCaughtUpFirst) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(net.node(1).Propose("v" + std::to_string(i)).ok());
    net.Stabilize();
  }
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(3)).ok());
  net.Stabilize();
  EXPECT_TRUE(Delivered(net, MessageType::kTimeoutNow, 1, 3).empty());
  net.Heal();
  net.TickAll(1);
  EXPECT_EQ(net.node(3).role(), Role::kLeader);
  ASSERT_TRUE(net.node(3).Propose("after").ok());
  net.Stabilize();
  net.TickAll(1);
  auto want = AppliedData(net, 3);
  EXPECT_EQ(want.size(), 6u);
  EXPECT_EQ(AppliedData(net, 1), want);
}

TEST(TransferTest, ProposalsRefusedDuringTransferAndAbortAfterTimeout) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(3)).ok());
  EXPECT_EQ(net.node(1).Status().lead_transferee, NodeId(3));
  EXPECT_EQ(net.node(1).Propose("x").code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 10; ++i) net.TickAll();
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).Status().lead_transferee, kNoNode);
  EXPECT_TRUE(net.node(1).Propose("x").ok());
}

TEST(TransferTest, TargetMustBeAVoter) {
  Network net(testing::Voters({1, 2}, {3}));
  ASSERT_TRUE(net.Elect(1));
  EXPECT_EQ(net.node(1).TransferLeadership(NodeId(3)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LeaderHint(net.node(2).TransferLeadership(NodeId(2))), NodeId(1));
  EXPECT_TRUE(net.node(1).TransferLeadership(NodeId(1)).ok());  // Already leader.
}

TEST(TransferTest, TimeoutNowOverridesVoteLease) {
  // Followers that just heard from the leader still vote for the target.
  Network net(5);
  ASSERT_TRUE(net.Elect(1));
  net.TickAll(1);
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(4)).ok());
  net.Stabilize();
  EXPECT_EQ(net.node(4).role(), Role::kLeader);
}

}  // namespace
}  // namespace raftlog::raft
