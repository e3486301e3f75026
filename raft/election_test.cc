// Leader election [3.4], Pre-Vote and CheckQuorum [9.6, 6.2], vote leases
// [4.2.3] and the persistence of votes [3.8] (PITFALLS #3, #8).
#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::App;
using testing::MakeSolo;
using testing::Msg;
using testing::Network;
using testing::OfType;
using testing::Persist;
using testing::Voters;

TEST(ElectionTest, ElectsOneLeaderOnTimeout) {
  Network net(3);
  for (int i = 0; i < 30 && net.Leader() == kNoNode; ++i) net.TickAll();
  NodeId lead = net.Leader();
  ASSERT_NE(lead, kNoNode);
  int leaders = 0;
  for (NodeId id : net.ids()) {
    if (net.node(id.value()).role() == Role::kLeader) ++leaders;
    EXPECT_EQ(net.node(id.value()).leader(), lead);
    EXPECT_EQ(net.node(id.value()).term(), net.node(lead.value()).term());
  }
  EXPECT_EQ(leaders, 1);
}

TEST(ElectionTest, NewLeaderCommitsNoopOfItsTerm) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  for (NodeId id : net.ids()) {
    const auto& applied = net.peer(id.value()).applied;
    ASSERT_EQ(applied.size(), 1u);
    EXPECT_EQ(applied[0].type, EntryType::kNoop);
    EXPECT_EQ(applied[0].term, net.node(1).term());
  }
}

TEST(ElectionTest, ElectionIsDeterministicForASeed) {
  auto run = [] {
    Network net(5);
    for (int i = 0; i < 40; ++i) net.TickAll();
    std::vector<std::string> trace;
    for (const Message& m : net.delivered()) trace.push_back(DebugString(m));
    return trace;
  };
  auto a = run();
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, run());
}

TEST(ElectionTest, CandidateVoteRequestsWaitForPersistence) {
  auto s = MakeSolo(1, Voters({1, 2, 3}), {}, {}, [](Config& c) { c.pre_vote = false; });
  ASSERT_TRUE(s.node->Campaign().ok());
  Ready rd = s.node->GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term(1));
  EXPECT_EQ(rd.hard_state->vote, NodeId(1));  // Self-vote is persisted...
  EXPECT_TRUE(rd.messages.empty());           // ...before any request leaves.
  EXPECT_EQ(OfType(rd, MessageType::kVote).size(), 2u);
  EXPECT_EQ(rd.messages_after_persist.size(), 2u);
}

TEST(ElectionTest, RestartedNodeDoesNotVoteTwiceInATerm) {
  auto s = MakeSolo(1, Voters({1, 2, 3}), {}, {}, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  Message v2 = Msg(MessageType::kVote, 2, 1, 5);
  ASSERT_TRUE(s.node->Step(v2).ok());
  Ready rd = Persist(s);
  ASSERT_EQ(OfType(rd, MessageType::kVoteResp).size(), 1u);
  EXPECT_FALSE(OfType(rd, MessageType::kVoteResp)[0].reject);
  EXPECT_TRUE(rd.messages.empty());  // The grant waits for the fsync.
  EXPECT_EQ(s.storage->hard_state().vote, NodeId(2));

  // Crash and restart from storage.
  auto restarted = RawNode::Create(testing::TestConfig(NodeId(1)), s.storage.get());
  ASSERT_TRUE(restarted.ok());
  s.node = std::move(*restarted);
  EXPECT_EQ(s.node->term(), Term(5));
  Message v3 = Msg(MessageType::kVote, 3, 1, 5);
  ASSERT_TRUE(s.node->Step(v3).ok());
  Ready rd2 = Persist(s);
  auto resp = OfType(rd2, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
  EXPECT_EQ(s.node->Status().vote, NodeId(2));
}

TEST(ElectionTest, VoteOnlyForUpToDateLog) {
  // [3.6.1] Our last entry is term 2; a candidate whose last term is 1 loses.
  auto s =
      MakeSolo(1, Voters({1, 2, 3}), {testing::E(1, 1), testing::E(2, 2)},
               HardState{Term(2), kNoNode, LogIndex(0)}, [](Config& c) { c.check_quorum = false; });
  Message v = Msg(MessageType::kVote, 2, 1, 3);
  v.index = LogIndex(5);
  v.log_term = Term(1);
  ASSERT_TRUE(s.node->Step(v).ok());
  Ready rd = Persist(s);
  ASSERT_EQ(OfType(rd, MessageType::kVoteResp).size(), 1u);
  EXPECT_TRUE(OfType(rd, MessageType::kVoteResp)[0].reject);
  EXPECT_EQ(s.node->Status().vote, kNoNode);
}

TEST(ElectionTest, PreVoteRequestDoesNotChangeTermOrVote) {
  auto s = MakeSolo(1, Voters({1, 2, 3}), {}, HardState{Term(3), NodeId(2), LogIndex(0)});
  Message pv = Msg(MessageType::kPreVote, 3, 1, 4);
  ASSERT_TRUE(s.node->Step(pv).ok());
  Ready rd = Persist(s);
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_EQ(s.node->term(), Term(3));
  EXPECT_EQ(s.node->Status().vote, NodeId(2));
  auto resp = OfType(rd, MessageType::kPreVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);  // Granted: term 4 > 3, log up to date.
  EXPECT_EQ(resp[0].term, Term(4));
}

TEST(ElectionTest, PreCandidateDoesNotBumpTermOrVote) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  const Term t = net.node(1).term();
  net.Isolate(3);
  const NodeId vote3 = net.node(3).Status().vote;
  for (int i = 0; i < 100; ++i) net.TickAll();
  EXPECT_EQ(net.node(3).term(), t);
  EXPECT_EQ(net.node(3).Status().vote, vote3);
  EXPECT_EQ(net.node(3).role(), Role::kPreCandidate);
  net.Heal();
  net.TickAll(5);
  // The rejoining node did not disrupt: same leader, same term.
  EXPECT_EQ(net.Leader(), NodeId(1));
  EXPECT_EQ(net.node(1).term(), t);
  EXPECT_EQ(net.node(3).leader(), NodeId(1));
}

TEST(ElectionTest, FollowerInLeaseIgnoresVoteRequests) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  const Term t = net.node(2).term();
  // Node 3 (pretending to have timed out) asks node 2 for a real vote.
  Message v = Msg(MessageType::kVote, 3, 2, t.value() + 1);
  v.index = LogIndex(100);
  v.log_term = t;
  ASSERT_TRUE(net.node(2).Step(v).ok());
  EXPECT_EQ(net.node(2).term(), t);
  EXPECT_FALSE(net.node(2).HasReady());  // No answer at all.
}

TEST(ElectionTest, PartitionedLeaderStepsDownUnderCheckQuorum) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(1);
  // Within one election timeout the leader may still count the acks it got
  // before the partition; after two it must have stepped down.
  for (int i = 0; i < 20; ++i) net.TickAll();
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(1).leader(), kNoNode);
}

TEST(ElectionTest, LeaderWithLiveQuorumStaysLeader) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(3);
  for (int i = 0; i < 50; ++i) net.TickAll();
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
}

TEST(ElectionTest, StaleLeaderLearnsNewTermAndStepsDown) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(1);
  for (int i = 0;
       i < 50 && net.node(2).role() != Role::kLeader && net.node(3).role() != Role::kLeader; ++i) {
    net.Tick(2);
    net.Tick(3);
    net.Stabilize();
  }
  const uint64_t new_leader = net.node(2).role() == Role::kLeader ? 2 : 3;
  ASSERT_EQ(net.node(new_leader).role(), Role::kLeader);
  EXPECT_GT(net.node(new_leader).term(), net.node(1).term());
  net.Heal();
  net.TickAll(2);  // 1's heartbeat is answered with the newer term.
  EXPECT_EQ(net.node(1).role(), Role::kFollower);
  EXPECT_EQ(net.node(1).leader(), NodeId(new_leader));
}

TEST(ElectionTest, ThreeNodeWithoutPreVoteStillElects) {
  Network net(3, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  ASSERT_TRUE(net.Elect(2));
  EXPECT_EQ(net.node(1).leader(), NodeId(2));
  EXPECT_EQ(net.node(2).term(), Term(1));
}

TEST(ElectionTest, CandidateStepsDownOnLeaderOfSameTerm) {
  auto s = MakeSolo(1, Voters({1, 2, 3}), {}, {}, [](Config& c) { c.pre_vote = false; });
  ASSERT_TRUE(s.node->Campaign().ok());
  Persist(s);
  ASSERT_EQ(s.node->role(), Role::kCandidate);
  ASSERT_TRUE(s.node->Step(App(2, 1, 1, 0, 0, {}, 0)).ok());
  EXPECT_EQ(s.node->role(), Role::kFollower);
  EXPECT_EQ(s.node->leader(), NodeId(2));
  EXPECT_EQ(s.node->Status().vote, NodeId(1));  // Vote of term 1 is kept.
}

// Two candidates of one term that voted for themselves (the third voter is
// gone) cannot win it; the lower id tries the next term at its next tick
// instead of a full randomized election timeout later.
TEST(ElectionTest, SplitVoteIsRetriedAtTheNextTick) {
  Network net(3, [](Config& c) { c.check_quorum = false; });
  ASSERT_TRUE(net.Elect(3));
  const Term term = net.node(3).term();
  net.Isolate(3);
  // Both start within one round trip: each grants the other's pre-vote
  // (neither has voted in the next term yet), then votes for itself.
  ASSERT_TRUE(net.node(1).Campaign().ok());
  ASSERT_TRUE(net.node(2).Campaign().ok());
  net.Stabilize();
  ASSERT_EQ(net.node(1).role(), Role::kCandidate);
  ASSERT_EQ(net.node(2).role(), Role::kCandidate);
  ASSERT_EQ(net.node(1).term(), term + 1);
  ASSERT_EQ(net.node(2).term(), term + 1);

  net.TickAll(1);
  EXPECT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).term(), term + 2);
  EXPECT_EQ(net.node(2).leader(), NodeId(1));
}

// Which of two split candidates retries at once: the one whose log is more
// up to date, on equal logs the lower id; the other waits its full timeout.
TEST(ElectionTest, SplitVoteRetryGoesToTheNewerLogThenTheLowerId) {
  struct Case {
    uint64_t rival;
    uint64_t rival_index, rival_log_term;
    bool retries_now;
  };
  // Node 2's log ends at index 2, term 2.
  const Case cases[] = {
      {3, 2, 2, true},   // equal logs, rival has the higher id
      {1, 2, 2, false},  // equal logs, rival has the lower id
      {1, 1, 1, true},   // rival's log is older
      {3, 3, 2, false},  // rival's log is newer
      {3, 1, 3, false},  // rival's last term is newer
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rival * 100 + c.rival_index * 10 + c.rival_log_term);
    auto s = MakeSolo(2, Voters({1, 2, 3}), {testing::E(1, 1), testing::E(2, 2)},
                      HardState{Term(2), kNoNode, LogIndex(0)}, [](Config& cfg) {
                        cfg.pre_vote = false;
                        cfg.check_quorum = false;
                      });
    ASSERT_TRUE(s.node->Campaign().ok());
    Persist(s);
    ASSERT_EQ(s.node->role(), Role::kCandidate);
    ASSERT_EQ(s.node->term(), Term(3));
    Message v = Msg(MessageType::kVote, c.rival, 2, 3);
    v.index = LogIndex(c.rival_index);
    v.log_term = Term(c.rival_log_term);
    ASSERT_TRUE(s.node->Step(v).ok());
    Ready rd = Persist(s);
    ASSERT_EQ(OfType(rd, MessageType::kVoteResp).size(), 1u);
    EXPECT_TRUE(OfType(rd, MessageType::kVoteResp)[0].reject);  // Voted for itself.
    s.node->Tick();
    EXPECT_EQ(s.node->term(), c.retries_now ? Term(4) : Term(3));
  }
}

}  // namespace
}  // namespace raftlog::raft
