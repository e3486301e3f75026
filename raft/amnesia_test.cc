// A replica that lost its disk but kept its identity (PITFALLS #14) and
// Config::recovering: without it, the amnesiac votes for a candidate that
// lacks a committed entry and the entry is lost; with it, the replica takes
// no part in elections until it has caught up, then records a vote for the
// leader it follows so it cannot vote twice in that term.
#include <string>

#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::Network;
using testing::Voters;

bool LogHas(Network& net, uint64_t id, const std::string& data) {
  const LogIndex last = net.storage(id).LastIndex();
  auto ents = net.storage(id).Entries(net.storage(id).FirstIndex(), last + 1, 1 << 30);
  if (!ents.ok()) return false;
  for (const Entry& e : *ents) {
    if (e.data == data) return true;
  }
  return false;
}

// Node 1 leads; an entry "x" commits on {1, 2} while 3 is cut off; then 2
// loses its disk and restarts empty and 1 crashes (isolated). Returns the
// network with 2 and 3 left to elect among themselves.
void CommitOnOneTwoThenWipeTwo(Network& net, bool recovering) {
  ASSERT_TRUE(net.Elect(1));
  net.Cut(1, 3);
  net.Cut(3, 1);
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  ASSERT_TRUE(LogHas(net, 1, "x"));
  ASSERT_TRUE(LogHas(net, 2, "x"));
  ASSERT_FALSE(LogHas(net, 3, "x"));
  ASSERT_GE(net.node(1).commit_index(), net.storage(1).LastIndex());  // "x" is committed
  net.AddNode(NodeId(2), Voters({1, 2, 3}), [&](Config& c) { c.recovering = recovering; });
  net.Heal();
  net.Isolate(1);
}

TEST(AmnesiaTest, WithoutRecoveryAnAmnesiacVoteLosesACommittedEntry) {
  // The hazard this feature exists for, shown on the unprotected core.
  Network net(3);
  CommitOnOneTwoThenWipeTwo(net, /*recovering=*/false);
  for (int i = 0; i < 100 && net.Leader() != NodeId(3); ++i) {
    net.TickAll();
    net.Stabilize();
  }
  ASSERT_EQ(net.Leader(), NodeId(3));
  EXPECT_FALSE(LogHas(net, 3, "x"));
  EXPECT_FALSE(LogHas(net, 2, "x"));  // committed, acknowledged, and gone
}

TEST(AmnesiaTest, ARecoveringReplicaNeitherVotesNorCampaigns) {
  Network net(3);
  CommitOnOneTwoThenWipeTwo(net, /*recovering=*/true);
  for (int i = 0; i < 100; ++i) {
    net.TickAll();
    net.Stabilize();
  }
  // 3 cannot win without 2's vote, and 2 never campaigns.
  EXPECT_NE(net.node(3).role(), Role::kLeader);
  EXPECT_NE(net.node(2).role(), Role::kLeader);
  EXPECT_NE(net.node(2).role(), Role::kCandidate);
  EXPECT_NE(net.node(2).role(), Role::kPreCandidate);
  EXPECT_TRUE(net.node(2).Status().recovering);
  EXPECT_EQ(net.node(2).Status().vote, kNoNode);
  EXPECT_FALSE(net.node(2).Campaign().ok());

  // 1 comes back: it is the only electable node; "x" survives everywhere.
  net.Heal();
  for (int i = 0; i < 200 && !(net.Leader() != kNoNode && !net.node(2).Status().recovering); ++i) {
    net.TickAll();
    net.Stabilize();
  }
  ASSERT_EQ(net.Leader(), NodeId(1));
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_TRUE(LogHas(net, id, "x")) << "node " << id;
  // Caught up: recovery ended with a durable vote for the leader of the term.
  const RaftStatus st = net.node(2).Status();
  EXPECT_FALSE(st.recovering);
  EXPECT_EQ(st.vote, NodeId(1));
  EXPECT_EQ(net.storage(2).hard_state().vote, NodeId(1));
  EXPECT_EQ(net.storage(2).hard_state().term, net.node(1).term());
}

TEST(AmnesiaTest, AfterCatchingUpTheReplicaVotesAndCanLeadAgain) {
  Network net(3);
  CommitOnOneTwoThenWipeTwo(net, /*recovering=*/true);
  net.Heal();
  for (int i = 0; i < 200 && (net.Leader() == kNoNode || net.node(2).Status().recovering); ++i) {
    net.TickAll();
    net.Stabilize();
  }
  ASSERT_FALSE(net.node(2).Status().recovering);
  // Leadership can move to 2 now (it votes and campaigns normally).
  net.Isolate(1);
  for (int i = 0; i < 200 && (net.Leader() == kNoNode || net.Leader() == NodeId(1)); ++i) {
    net.TickAll();
    net.Stabilize();
  }
  const NodeId lead = net.Leader();
  ASSERT_TRUE(lead == NodeId(2) || lead == NodeId(3)) << lead.value();
  EXPECT_TRUE(LogHas(net, lead.value(), "x"));
  ASSERT_TRUE(net.node(lead.value()).Propose("y").ok());
  net.Stabilize();
  EXPECT_TRUE(LogHas(net, 2, "y"));
  EXPECT_TRUE(LogHas(net, 3, "y"));
}

TEST(AmnesiaTest, AnIdleLeaderRepairsAWipedFollowerThroughHeartbeats) {
  // No new proposal after the wipe: the heartbeat response (commit beyond
  // the follower's log) is what tells the leader to re-probe it.
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  const LogIndex last = net.storage(1).LastIndex();
  net.AddNode(NodeId(2), Voters({1, 2, 3}), [](Config& c) { c.recovering = true; });
  ASSERT_EQ(net.storage(2).LastIndex(), LogIndex(0));
  for (int i = 0; i < 5; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  EXPECT_EQ(net.storage(2).LastIndex(), last);
  EXPECT_TRUE(LogHas(net, 2, "x"));
  EXPECT_FALSE(net.node(2).Status().recovering);
  EXPECT_EQ(net.storage(1).LastIndex(), last);  // no entry was needed for it
}

TEST(AmnesiaTest, ARecoveringReplicaIgnoresTimeoutNow) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.AddNode(NodeId(2), Voters({1, 2, 3}), [](Config& c) { c.recovering = true; });
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.from = NodeId(1);
  m.to = NodeId(2);
  m.term = net.node(1).term();
  ASSERT_TRUE(net.node(2).Step(m).ok());
  net.Stabilize();
  EXPECT_EQ(net.Leader(), NodeId(1));
  EXPECT_EQ(net.node(2).role(), Role::kFollower);
}

}  // namespace
}  // namespace raftlog::raft
