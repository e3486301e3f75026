// Regression tests from the Raft core review.
#include <algorithm>

#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::AppliedData;
using testing::Network;

// Ticks all nodes until 2 or 3 leads (at most 20 ticks); kNoNode if none.
NodeId TickUntilNewLeader(Network& net) {
  for (int i = 0; i < 20; ++i) {
    net.TickAll();
    for (uint64_t id : {2, 3}) {
      if (net.node(id).role() == Role::kLeader) return NodeId(id);
    }
  }
  return kNoNode;
}

// The new leader commits "y"; a lease read that node 1 (the isolated old
// leader, still believing it leads) starts afterwards must not miss it.
void ExpectNoStaleLeaseRead(Network& net, NodeId new_leader) {
  ASSERT_TRUE(net.node(new_leader.value()).Propose("y").ok());
  net.Stabilize();
  const LogIndex y_index = net.node(new_leader.value()).Status().commit;
  ASSERT_EQ(AppliedData(net, new_leader.value()), (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(net.node(1).ReadIndex("stale?").ok());
  net.Stabilize();
  for (const ReadState& rs : net.peer(1).read_states) {
    EXPECT_GE(rs.index, y_index) << "lease read served below a committed write";
  }
}

// PITFALLS #9. The leader's CheckQuorum round only notices a lost quorum up
// to two election timeouts after the last ack, while the followers' vote
// lease lasts one. With equal clocks and instant delivery, a new leader can
// be elected and commit a write while the old one still believes in its
// lease; a lease read on the old leader then misses that write.
TEST(ReviewTest, LeaseReadOnDeposedLeaderIsNotServed) {
  Network net(3, [](Config& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  net.TickAll();  // 2 and 3 ack a heartbeat in the leader's first round.
  net.Isolate(1);
  const NodeId new_leader = TickUntilNewLeader(net);
  ASSERT_NE(new_leader, kNoNode);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);  // Does not know yet.
  ExpectNoStaleLeaseRead(net, new_leader);
}

// TransferLeadership reset election_elapsed_, which also times CheckQuorum:
// a leader isolated just before a transfer kept counting acks from before
// the partition for almost two election timeouts, and served a stale lease
// read after a new leader had committed a write.
TEST(ReviewTest, TransferDoesNotExtendCheckQuorumRound) {
  Network net(3, [](Config& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
  ASSERT_TRUE(net.Elect(1));
  // Node 2 gets no entries from 1 (heartbeats only), so it lags and a
  // transfer to it waits for catch-up instead of sending TimeoutNow.
  net.SetFilter([](const Message& m) {
    return m.type == MessageType::kApp && m.from == NodeId(1) && m.to == NodeId(2);
  });
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Stabilize();
  net.TickAll();  // 2 and 3 ack a heartbeat.
  net.Isolate(1);
  for (int i = 0; i < 8; ++i) net.TickAll();
  ASSERT_TRUE(net.node(1).TransferLeadership(NodeId(2)).ok());
  const NodeId new_leader = TickUntilNewLeader(net);
  ASSERT_NE(new_leader, kNoNode);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);  // Does not know yet.
  ExpectNoStaleLeaseRead(net, new_leader);
}

// tests/sim FINDINGS #3. With pre-vote off, a candidate whose log is behind
// keeps sending higher-term vote requests. Rejecting them must not restart
// the up-to-date follower's election timer, or it never campaigns and the
// group has no leader for as long as the stale candidate keeps trying.
TEST(ReviewTest, RejectedHigherTermVoteDoesNotRestartElectionTimer) {
  testing::Solo s = testing::MakeSolo(3, testing::Voters({1, 2, 3}), testing::Ents(1, 1, 5),
                                      HardState{Term(1), kNoNode, LogIndex(0)}, [](Config& c) {
                                        c.pre_vote = false;
                                        c.check_quorum = false;
                                      });
  int ticks = 0;
  for (; ticks < 40 && s.node->role() != Role::kCandidate; ++ticks) {
    if (ticks % 9 == 0) {
      Message vote = testing::Msg(MessageType::kVote, 1, 3, 100 + ticks);
      vote.index = LogIndex(2);  // Behind node 3's log: rejected.
      vote.log_term = Term(1);
      ASSERT_TRUE(s.node->Step(vote).ok());
      ASSERT_EQ(s.node->Status().vote, kNoNode);
    }
    s.node->Tick();
    while (s.node->HasReady()) testing::Persist(s);
  }
  // The randomized timeout lies in [election_tick, 2 * election_tick).
  EXPECT_EQ(s.node->role(), Role::kCandidate);
  EXPECT_LT(ticks, 2 * testing::TestConfig(NodeId(3)).election_tick);
}

// Review finding: a crash that keeps entries but loses the hard state that
// carried their commit index. Node 3 holds C1 (add 4) and C2 (add 5) but its
// durable commit is 1. C2's leader had applied C1, so C1 is committed: the
// node must know it on restart, apply it before campaigning, and so never
// campaign under the older configuration {1,2,3}.
TEST(ReviewTest, RestartRecoversCommitOfConfChangeFollowedByAnother) {
  auto cc = [](uint64_t term, uint64_t index, uint64_t node) {
    return Entry{Term(term), LogIndex(index), EntryType::kConfChange,
                 EncodeConfChange(ConfChange{ConfChangeType::kAddVoter, NodeId(node), ""})};
  };
  testing::Solo s =
      testing::MakeSolo(3, testing::Voters({1, 2, 3}), {testing::E(1, 1), cc(1, 2, 4), cc(1, 3, 5)},
                        HardState{Term(1), kNoNode, LogIndex(1)});
  EXPECT_EQ(s.node->Status().commit, LogIndex(2));
  EXPECT_FALSE(s.node->Campaign().ok()) << "campaigned with C1 committed but unapplied";
  while (s.node->HasReady()) testing::Persist(s);
  const ConfState cs = s.node->conf_state();
  EXPECT_EQ(cs.voters.size(), 4u);
  EXPECT_NE(std::find(cs.voters.begin(), cs.voters.end(), NodeId(4)), cs.voters.end());
  EXPECT_EQ(std::find(cs.voters.begin(), cs.voters.end(), NodeId(5)), cs.voters.end());
}

// A lone uncommitted config change proves nothing about its own commit.
TEST(ReviewTest, RestartDoesNotCommitALoneConfChange) {
  testing::Solo s = testing::MakeSolo(
      3, testing::Voters({1, 2, 3}),
      {testing::E(1, 1),
       Entry{Term(1), LogIndex(2), EntryType::kConfChange,
             EncodeConfChange(ConfChange{ConfChangeType::kAddVoter, NodeId(4), ""})}},
      HardState{Term(1), kNoNode, LogIndex(1)});
  EXPECT_EQ(s.node->Status().commit, LogIndex(1));
}

}  // namespace
}  // namespace raftlog::raft
