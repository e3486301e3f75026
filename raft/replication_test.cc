// Log replication [3.5]: batching, the not-leader answer, the split between
// messages that may leave before the fsync and those that wait [10.2.1],
// commitment rules [3.6.2] (paper figure 8), follower truncation and commit
// bounds (PITFALLS #6), fast back-off and (term, index) acks (PITFALLS #16).
#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::App;
using testing::AppliedData;
using testing::Delivered;
using testing::E;
using testing::Ents;
using testing::MakeSolo;
using testing::Network;
using testing::OfType;
using testing::Persist;
using testing::Voters;

TEST(ReplicationTest, ProposalsAreAppliedEverywhereInOrder) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(net.node(1).Propose("v" + std::to_string(i)).ok());
    net.Stabilize();
  }
  net.TickAll(1);  // Heartbeat carries the final commit index.
  std::vector<std::string> want;
  for (int i = 0; i < 10; ++i) want.push_back("v" + std::to_string(i));
  for (NodeId id : net.ids()) EXPECT_EQ(AppliedData(net, id.value()), want) << id;
}

TEST(ReplicationTest, ProposalsBeforeGetReadyGoOutAsOneAppend) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.node(1).Propose("p" + std::to_string(i)).ok());
  ASSERT_TRUE(net.node(1).ProposeBatch({"b0", "b1"}).ok());
  Ready rd = net.node(1).GetReady();
  EXPECT_EQ(rd.entries.size(), 7u);
  auto apps = OfType(rd, MessageType::kApp);
  ASSERT_EQ(apps.size(), 2u);  // One per follower.
  for (const Message& m : apps) EXPECT_EQ(m.entries.size(), 7u);
  net.node(1).Advance(rd);
}

TEST(ReplicationTest, ProposalOnFollowerNamesTheLeader) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  absl::Status s = net.node(2).Propose("x");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "not leader; leader is 1");
  EXPECT_EQ(LeaderHint(s), NodeId(1));

  Network fresh(3);
  absl::Status u = fresh.node(2).Propose("x");
  EXPECT_EQ(u.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(u.message(), "not leader; leader unknown");
  EXPECT_EQ(LeaderHint(u), std::nullopt);
  EXPECT_EQ(LeaderHint(absl::OkStatus()), std::nullopt);
}

TEST(ReplicationTest, LeaderAppendsLeaveBeforeFsyncFollowerAcksAfter) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  Ready rd = net.node(1).GetReady();
  EXPECT_EQ(OfType(rd, MessageType::kApp).size(), 2u);
  EXPECT_EQ(rd.messages.size(), 2u);  // kApp may go before the fsync.
  EXPECT_TRUE(rd.messages_after_persist.empty());
  ASSERT_TRUE(net.storage(1).Append(rd.entries).ok());
  net.node(1).Advance(rd);
  ASSERT_TRUE(net.node(2).Step(rd.messages[0]).ok());
  Ready f = net.node(2).GetReady();
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_TRUE(f.messages.empty());
  ASSERT_EQ(f.messages_after_persist.size(), 1u);  // The ack waits.
  EXPECT_EQ(f.messages_after_persist[0].type, MessageType::kAppResp);
  net.node(2).Advance(f);
}

TEST(ReplicationTest, SingleNodeCommitsOnlyAfterPersist) {
  auto s = MakeSolo(1, Voters({1}), {}, {});
  ASSERT_TRUE(s.node->Campaign().ok());
  Persist(s);  // Term, vote and the no-op.
  Persist(s);  // Apply the no-op.
  ASSERT_EQ(s.node->role(), Role::kLeader);
  ASSERT_TRUE(s.node->Propose("x").ok());
  Ready rd = s.node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.committed_entries.empty());  // Not durable yet.
  EXPECT_EQ(s.node->Status().commit, LogIndex(1));
  ASSERT_TRUE(s.storage->Append(rd.entries).ok());
  s.node->Advance(rd);
  EXPECT_EQ(s.node->Status().commit, LogIndex(2));
  Ready rd2 = s.node->GetReady();
  ASSERT_EQ(rd2.committed_entries.size(), 1u);
  EXPECT_EQ(rd2.committed_entries[0].data, "x");
  // Committed entries never exceed what is durable.
  EXPECT_LE(rd2.committed_entries.back().index, s.storage->LastIndex());
  s.node->Advance(rd2);
}

TEST(ReplicationTest, LeaderCountsItselfOnlyAfterItsOwnFsync) {
  Network net(5);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(4);
  net.Isolate(5);
  const LogIndex before = net.node(1).Status().commit;
  ASSERT_TRUE(net.node(1).Propose("x").ok());
  Ready rd = net.node(1).GetReady();  // Not persisted yet.
  for (const Message& m : rd.messages) net.Deliver(m);
  for (uint64_t f : {2, 3}) {
    while (net.ProcessReady(NodeId(f))) {
    }
  }
  while (!net.queue().empty()) {
    Message m = net.queue().front();
    net.queue().pop_front();
    net.Deliver(m);
  }
  // Nodes 2 and 3 acked; without the leader's own durable copy that is 2 of 5.
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(2)).match, before + 1);
  EXPECT_EQ(net.node(1).Status().commit, before);
  ASSERT_TRUE(net.storage(1).Append(rd.entries).ok());
  net.node(1).Advance(rd);
  EXPECT_EQ(net.node(1).Status().commit, before + 1);
}

// Raft paper figure 8 / dissertation figure 3.7, built step by step.
TEST(ReplicationTest, OldTermEntryIsNotCommittedByCountingReplicas) {
  Network net(5, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
    c.max_size_per_msg = 1;  // One entry per kApp, so single entries can be dropped.
  });
  ASSERT_TRUE(net.Elect(1));  // Term 1, no-op at index 1 committed everywhere.
  net.TickAll(1);
  // (a) S1 replicates index 2 (term 1) to S2 only.
  for (uint64_t i : {3, 4, 5}) net.Cut(1, i);
  ASSERT_TRUE(net.node(1).Propose("old").ok());
  net.Stabilize();
  ASSERT_EQ(net.storage(2).LastIndex(), LogIndex(2));
  ASSERT_EQ(net.node(1).Status().commit, LogIndex(1));
  // (b) S1 crashes; S5 wins term 2 with S3, S4; its no-op (index 2, term 2)
  // reaches nobody.
  net.Heal();
  net.Isolate(1);
  net.Restart(1);
  net.Cut(5, 2);
  net.SetFilter(
      [](const Message& m) { return m.from == NodeId(5) && m.type == MessageType::kApp; });
  ASSERT_TRUE(net.Elect(5));
  ASSERT_EQ(net.node(5).term(), Term(2));
  // (c) S5 crashes; S1 comes back and wins term 3 with S2, S3; it replicates
  // index 2 (term 1) to S3 but nothing of term 3 gets out.
  net.Heal();
  net.Isolate(5);
  net.Cut(1, 4);
  net.SetFilter([&net](const Message& m) {
    if (m.type != MessageType::kApp) return false;
    // A probe to a node lacking index 2 passes: it is rejected anyway.
    if (net.storage(m.to.value()).LastIndex() < LogIndex(2)) return false;
    for (const Entry& e : m.entries) {
      if (e.index >= LogIndex(3)) return true;
    }
    return false;
  });
  ASSERT_FALSE(net.Elect(1));  // Term 2: S3 already voted for S5...
  ASSERT_TRUE(net.Elect(1));   // ...term 3 it wins.
  ASSERT_EQ(net.node(1).term(), Term(3));
  for (uint64_t i : {1, 2, 3}) {
    ASSERT_EQ(net.storage(i).TermAt(LogIndex(2)).value(), Term(1)) << i;
  }
  // Index 2 is on a majority (S1, S2, S3) but is from term 1: not committed.
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(3)).match, LogIndex(2));
  EXPECT_EQ(net.node(1).Status().commit, LogIndex(1));
  // (d) S1 crashes; S5 can legitimately win (its last term 2 > 1) and
  // overwrite index 2. Had it been committed, that would lose it.
  net.Heal();
  net.Isolate(1);
  net.Restart(5);
  ASSERT_FALSE(net.Elect(5));  // Term 3: S2 and S3 voted for S1.
  ASSERT_TRUE(net.Elect(5));   // Term 4: S2, S3, S4.
  net.TickAll(2);
  for (uint64_t i : {2, 3, 4, 5}) {
    EXPECT_EQ(net.storage(i).TermAt(LogIndex(2)).value(), Term(2)) << i;
    for (const Entry& e : net.peer(i).applied) EXPECT_NE(e.data, "old");
  }
}

TEST(ReplicationTest, FollowerTruncatesOnlyARealConflict) {
  // Follower: 1..3 term 1, then 4..5 term 2 from a deposed leader.
  std::vector<Entry> log = Ents(1, 1, 3);
  for (const Entry& e : Ents(2, 4, 5)) log.push_back(e);
  auto s = MakeSolo(2, Voters({1, 2, 3}), log, HardState{Term(2), kNoNode, LogIndex(3)});
  // Leader of term 3 has index 4 of term 3.
  ASSERT_TRUE(s.node->Step(App(1, 2, 3, 3, 1, {E(3, 4, "new")}, 3)).ok());
  Ready rd = Persist(s);
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].term, Term(3));
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(4));
  EXPECT_EQ(s.storage->TermAt(LogIndex(4)).value(), Term(3));
  auto resp = OfType(rd, MessageType::kAppResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].index, LogIndex(4));
}

TEST(ReplicationTest, StaleOrDuplicateAppendDoesNotTruncate) {
  auto s =
      MakeSolo(2, Voters({1, 2, 3}), Ents(1, 1, 5), HardState{Term(1), NodeId(1), LogIndex(0)});
  // A delayed message from the same leader carrying only index 2.
  for (int rep = 0; rep < 2; ++rep) {
    ASSERT_TRUE(s.node->Step(App(1, 2, 1, 1, 1, {E(1, 2)}, 0)).ok());
    Ready rd = Persist(s);
    EXPECT_TRUE(rd.entries.empty());
    EXPECT_EQ(s.storage->LastIndex(), LogIndex(5));
    auto resp = OfType(rd, MessageType::kAppResp);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_FALSE(resp[0].reject);
    EXPECT_EQ(resp[0].index, LogIndex(2));  // Only what this message verified.
  }
}

TEST(ReplicationTest, FollowerCommitIsBoundedByVerifiedPrefix) {
  // Follower 1..5 term 1; the leader (term 2) has something else at 4..5.
  auto s = MakeSolo(2, Voters({1, 2, 3}), Ents(1, 1, 5), HardState{Term(1), kNoNode, LogIndex(0)});
  // Leader commit is 5 but this message only verifies up to index 3.
  ASSERT_TRUE(s.node->Step(App(1, 2, 2, 2, 1, {E(1, 3)}, 5)).ok());
  Ready rd = Persist(s);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->commit, LogIndex(3));
  EXPECT_EQ(s.node->Status().commit, LogIndex(3));
  // A heartbeat claiming more than our log cannot push commit past it either.
  Message hb = testing::Msg(MessageType::kHeartbeat, 1, 2, 2);
  hb.commit = LogIndex(3);
  ASSERT_TRUE(s.node->Step(hb).ok());
  EXPECT_EQ(s.node->Status().commit, LogIndex(3));
}

TEST(ReplicationTest, RejectCarriesConflictTermAndItsFirstIndex) {
  std::vector<Entry> log = Ents(1, 1, 3);
  for (const Entry& e : Ents(2, 4, 9)) log.push_back(e);
  auto s = MakeSolo(2, Voters({1, 2, 3}), log, HardState{Term(2), kNoNode, LogIndex(3)});
  ASSERT_TRUE(s.node->Step(App(1, 2, 3, 8, 3, {}, 3)).ok());
  Ready rd = Persist(s);
  auto resp = OfType(rd, MessageType::kAppResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
  EXPECT_EQ(resp[0].reject_hint_term, Term(2));
  EXPECT_EQ(resp[0].reject_hint, LogIndex(4));
  // Too short a log: hint is last + 1.
  ASSERT_TRUE(s.node->Step(App(1, 2, 3, 20, 3, {}, 3)).ok());
  Ready rd2 = Persist(s);
  auto resp2 = OfType(rd2, MessageType::kAppResp);
  ASSERT_EQ(resp2.size(), 1u);
  EXPECT_TRUE(resp2[0].reject);
  EXPECT_EQ(resp2[0].reject_hint_term, Term(0));
  EXPECT_EQ(resp2[0].reject_hint, LogIndex(10));
}

TEST(ReplicationTest, FastBackoffSkipsAWholeTermPerRoundTrip) {
  Network net(3, [](Config& c) { c.pre_vote = false; });
  // Leader-to-be (1) and node 3: 1..10 term 1, 11..20 term 3.
  // Node 2: 1..10 term 1, 11..60 term 2 (never committed).
  std::vector<Entry> good = Ents(1, 1, 10);
  for (const Entry& e : Ents(3, 11, 20)) good.push_back(e);
  std::vector<Entry> bad = Ents(1, 1, 10);
  for (const Entry& e : Ents(2, 11, 60)) bad.push_back(e);
  for (uint64_t i : {1, 3}) {
    ASSERT_TRUE(net.storage(i).Append(good).ok());
    net.storage(i).SetHardState(HardState{Term(3), kNoNode, LogIndex(10)});
  }
  ASSERT_TRUE(net.storage(2).Append(bad).ok());
  net.storage(2).SetHardState(HardState{Term(3), kNoNode, LogIndex(10)});
  for (uint64_t i : {1, 2, 3}) net.Restart(i);
  ASSERT_TRUE(net.Elect(1));
  net.TickAll(1);
  size_t rejects = 0;
  for (const Message& m : Delivered(net, MessageType::kAppResp, 2, 1)) rejects += m.reject;
  EXPECT_EQ(rejects, 1u);  // Without the hint it would take ten.
  EXPECT_EQ(net.storage(2).LastIndex(), net.storage(1).LastIndex());
  EXPECT_EQ(net.storage(2).TermAt(LogIndex(15)).value(), Term(3));
}

TEST(ReplicationTest, DurabilityAckIsTiedToTermAndIndex) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  // Leader of term 1 sends 1..3.
  ASSERT_TRUE(s.node->Step(App(1, 2, 1, 0, 0, Ents(1, 1, 3), 0)).ok());
  Ready a = s.node->GetReady();
  ASSERT_EQ(a.entries.size(), 3u);
  // Before the host acknowledges, a leader of term 2 overwrites index 2..
  ASSERT_TRUE(s.node->Step(App(3, 2, 2, 1, 1, {E(2, 2, "x")}, 0)).ok());
  ASSERT_TRUE(s.storage->Append(a.entries).ok());
  s.node->Advance(a);  // Acks (3, term 1), which no longer exists.
  Ready b = Persist(s);
  // The overwriting entry is still unstable and handed out again.
  ASSERT_FALSE(b.entries.empty());
  EXPECT_EQ(b.entries.back().index, LogIndex(2));
  EXPECT_EQ(b.entries.back().term, Term(2));
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(2));
  EXPECT_EQ(s.storage->TermAt(LogIndex(2)).value(), Term(2));
  EXPECT_FALSE(s.node->HasReady());
}

// The acknowledgement of a suffix must not leave in the Ready whose
// persisted log no longer holds it: a new leader's conflicting entries
// arrived before that Ready was taken (found by the simulator).
TEST(ReplicationTest, AckOfASuffixOverwrittenBeforeItsReadyIsNotSent) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  ASSERT_TRUE(s.node->Step(App(1, 2, 1, 0, 0, Ents(1, 1, 3), 0)).ok());   // Ack of 3 queued.
  ASSERT_TRUE(s.node->Step(App(3, 2, 2, 0, 0, {E(2, 1, "x")}, 0)).ok());  // Replaces 1..3.
  Ready rd = Persist(s);
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].term, Term(2));
  auto acks = OfType(rd, MessageType::kAppResp);
  ASSERT_EQ(acks.size(), 1u);  // Only the ack of what this Ready persists.
  EXPECT_EQ(acks[0].to, NodeId(3));
  EXPECT_EQ(acks[0].term, Term(2));
  EXPECT_EQ(acks[0].index, LogIndex(1));
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(1));
}

// Appending more of the same leader's entries keeps the earlier ack.
TEST(ReplicationTest, AcksOfAGrowingLogAllLeave) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  ASSERT_TRUE(s.node->Step(App(1, 2, 1, 0, 0, Ents(1, 1, 2), 0)).ok());
  ASSERT_TRUE(s.node->Step(App(1, 2, 1, 2, 1, Ents(1, 3, 4), 0)).ok());
  Ready rd = Persist(s);
  auto acks = OfType(rd, MessageType::kAppResp);
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].index, LogIndex(2));
  EXPECT_EQ(acks[1].index, LogIndex(4));
}

TEST(ReplicationTest, LaggingFollowerCatchesUpThroughProbing) {
  Network net(3);
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(3);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(net.node(1).Propose("v" + std::to_string(i)).ok());
    net.Stabilize();
  }
  net.Heal();
  net.TickAll(3);
  EXPECT_EQ(AppliedData(net, 3), AppliedData(net, 1));
  EXPECT_EQ(AppliedData(net, 3).size(), 20u);
  auto st = net.node(1).Status();
  EXPECT_EQ(st.progress.at(NodeId(3)).state, ProgressState::kReplicate);
  EXPECT_EQ(st.progress.at(NodeId(3)).match, st.last_index);
}

TEST(ReplicationTest, InflightWindowLimitsPipelining) {
  Network net(3, [](Config& c) {
    c.max_inflight_msgs = 2;
    c.max_size_per_msg = 1;
  });
  ASSERT_TRUE(net.Elect(1));
  net.Isolate(2);  // 2 stops acking; 3 keeps the quorum.
  // Put 2 in replicate state first, then propose many entries at once.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.node(1).Propose("x").ok());
  Ready rd = net.node(1).GetReady();
  size_t to2 = 0;
  for (const Message& m : rd.messages) to2 += m.to == NodeId(2);
  EXPECT_EQ(to2, 2u);  // Window of 2 kApp messages, one entry each.
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(2)).inflight, 2);
  ASSERT_TRUE(net.storage(1).Append(rd.entries).ok());
  net.node(1).Advance(rd);
}

}  // namespace
}  // namespace raftlog::raft
