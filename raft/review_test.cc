// Regression tests from the Raft core review.
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

}  // namespace
}  // namespace raftlog::raft
