// Linearizable reads [6.4]: ReadIndex with a heartbeat round, forwarding from
// followers, no reads before the new leader's no-op commits (PITFALLS #2),
// no reads on a partitioned old leader, and lease reads (PITFALLS #9).
#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::MakeSolo;
using testing::Network;
using testing::Voters;

TEST(ReadIndexTest, LeaderReleasesReadAfterQuorumHeartbeat) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  const LogIndex commit = net.node(1).Status().commit;
  ASSERT_TRUE(net.node(1).ReadIndex("r1").ok());
  // Nothing is released before the heartbeat round completes.
  Ready rd = net.node(1).GetReady();
  EXPECT_TRUE(rd.read_states.empty());
  EXPECT_EQ(testing::OfType(rd, MessageType::kHeartbeat).size(), 2u);
  for (const Message& m : rd.messages) net.queue().push_back(m);
  net.node(1).Advance(rd);
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  EXPECT_EQ(net.peer(1).read_states[0], (ReadState{commit, "r1"}));
}

TEST(ReadIndexTest, OneAckIsEnoughInThreeNodes) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(3);
  ASSERT_TRUE(net.node(1).ReadIndex("r").ok());
  net.Stabilize();
  EXPECT_EQ(net.peer(1).read_states.size(), 1u);
}

TEST(ReadIndexTest, FollowerReadIsForwardedToLeader) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  ASSERT_TRUE(net.node(2).ReadIndex("f").ok());
  net.Stabilize();
  ASSERT_EQ(net.peer(2).read_states.size(), 1u);
  EXPECT_EQ(net.peer(2).read_states[0].request_ctx, "f");
  EXPECT_EQ(net.peer(2).read_states[0].index, net.node(1).Status().commit);
  EXPECT_TRUE(net.peer(1).read_states.empty());
}

TEST(ReadIndexTest, NoLeaderNoRead) {
  Network net(3);
  EXPECT_EQ(net.node(1).ReadIndex("x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReadIndexTest, PartitionedOldLeaderNeverServesRead) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(1);
  ASSERT_TRUE(net.node(1).ReadIndex("stale?").ok());
  net.Stabilize();
  EXPECT_TRUE(net.peer(1).read_states.empty());
  // The majority moves on and writes.
  for (int i = 0; i < 30 && net.Leader() == NodeId(1); ++i) {
    net.Tick(2);
    net.Tick(3);
    net.Stabilize();
  }
  const NodeId lead = net.node(2).leader();
  ASSERT_NE(lead, NodeId(1));
  ASSERT_NE(lead, kNoNode);
  ASSERT_TRUE(net.node(lead.value()).Propose("newer").ok());
  net.Stabilize();
  // The old leader keeps ticking alone: it steps down under CheckQuorum
  // and never answers the read.
  for (int i = 0; i < 25; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  net.Heal();
  net.TickAll(5);
  EXPECT_TRUE(net.peer(1).read_states.empty());
}

TEST(ReadIndexTest, NewLeaderWaitsForItsNoopBeforeServingReads) {
  Network net(3);
  // Acks to the new leader are lost, so its no-op cannot commit.
  net.SetFilter([](const Message& m) { return m.type == MessageType::kAppResp; });
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).ReadIndex("r").ok());
  net.TickAll(3);
  EXPECT_TRUE(net.peer(1).read_states.empty());
  EXPECT_EQ(net.node(1).Status().commit, LogIndex(0));
  net.SetFilter(nullptr);
  net.TickAll(3);
  ASSERT_EQ(net.peer(1).read_states.size(), 1u);
  // The read index covers the no-op of the leader's term.
  EXPECT_GE(net.peer(1).read_states[0].index, LogIndex(1));
}

TEST(ReadIndexTest, ReadOnSingleNodeIsImmediate) {
  auto s = MakeSolo(1, Voters({1}), {}, {});
  ASSERT_TRUE(s.node->Campaign().ok());
  testing::Persist(s);
  testing::Persist(s);
  ASSERT_TRUE(s.node->ReadIndex("solo").ok());
  Ready rd = testing::Persist(s);
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].index, LogIndex(1));
}

TEST(ReadIndexTest, LeaseBasedRequiresCheckQuorum) {
  Config c = testing::TestConfig(NodeId(1));
  c.read_only_option = ReadOnlyOption::kLeaseBased;
  c.check_quorum = false;
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  MemoryStorage st;
  EXPECT_FALSE(RawNode::Create(c, &st).ok());
}

TEST(ReadIndexTest, LeaseBasedReadNeedsNoRoundTrip) {
  Network net(3, [](Config& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).ReadIndex("lease").ok());
  Ready rd = net.node(1).GetReady();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_TRUE(rd.messages.empty());
  net.node(1).Advance(rd);
}

TEST(ReadIndexTest, NoLeaseReadsAfterTimeoutNow) {
  // TimeoutNow lets the target win despite vote leases, so the old leader's
  // lease no longer guarantees it is the only leader.
  Network net(3, [](Config& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
  ASSERT_TRUE(net.Elect(1));
  net.SetFilter([](const Message& m) { return m.type == MessageType::kTimeoutNow; });
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(2)).ok());
  net.Stabilize();
  for (int i = 0; i < 10; ++i) net.TickAll();  // Transfer aborted.
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  ASSERT_EQ(net.node(1).Status().lead_transferee, kNoNode);
  net.Isolate(1);
  ASSERT_TRUE(net.node(1).ReadIndex("after-transfer").ok());
  net.Stabilize();
  EXPECT_TRUE(net.peer(1).read_states.empty());  // Needs a quorum round now.
}

TEST(ReadIndexTest, ManyReadsShareOneHeartbeatRound) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.node(1).ReadIndex("r" + std::to_string(i)).ok());
  Ready rd = net.node(1).GetReady();
  EXPECT_EQ(testing::OfType(rd, MessageType::kHeartbeat).size(), 2u);  // One per follower.
  for (const Message& m : rd.messages) net.queue().push_back(m);
  net.node(1).Advance(rd);
  net.Stabilize();
  ASSERT_EQ(net.peer(1).read_states.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(net.peer(1).read_states[i].request_ctx, "r" + std::to_string(i));
  }
}

}  // namespace
}  // namespace raftlog::raft
