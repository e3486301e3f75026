// Majority arithmetic, progress window and ReadOnly queue units.
#include "raft/quorum.h"

#include "gtest/gtest.h"
#include "raft/progress.h"
#include "raft/read_only.h"

namespace raftlog::raft {
namespace {

std::vector<NodeId> Ids(std::vector<uint64_t> v) {
  std::vector<NodeId> out;
  for (uint64_t i : v) out.push_back(NodeId(i));
  return out;
}

TEST(QuorumTest, CommittedValueIsMajorityMinimum) {
  auto v = Ids({1, 2, 3, 4, 5});
  std::map<NodeId, uint64_t> acked{{NodeId(1), 9}, {NodeId(2), 7}, {NodeId(3), 5}, {NodeId(4), 1}};
  EXPECT_EQ(QuorumValue(v, acked), 5u);            // 9, 7, 5 -> three voters hold >= 5.
  EXPECT_EQ(QuorumValue(Ids({1, 2}), acked), 7u);  // Two voters: both needed.
  EXPECT_EQ(QuorumValue(Ids({1}), acked), 9u);
  EXPECT_EQ(QuorumValue({}, acked), 0u);
  // Non-voters' acks do not count.
  std::map<NodeId, uint64_t> learner_only{{NodeId(9), 100}};
  EXPECT_EQ(QuorumValue(Ids({1, 2, 3}), learner_only), 0u);
}

TEST(QuorumTest, VoteTally) {
  auto v = Ids({1, 2, 3});
  EXPECT_EQ(TallyVotes(v, {{NodeId(1), true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(v, {{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kWon);
  EXPECT_EQ(TallyVotes(v, {{NodeId(1), true}, {NodeId(2), false}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(v, {{NodeId(1), true}, {NodeId(2), false}, {NodeId(3), false}}),
            VoteResult::kLost);
  EXPECT_EQ(TallyVotes(v, {{NodeId(1), true}, {NodeId(7), true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(Ids({1, 2, 3, 4}), {{NodeId(1), true}, {NodeId(2), true}}),
            VoteResult::kPending);
}

TEST(ProgressTest, InflightsWindow) {
  Inflights in(3);
  in.Add(LogIndex(2));
  in.Add(LogIndex(4));
  EXPECT_FALSE(in.Full());
  in.Add(LogIndex(6));
  EXPECT_TRUE(in.Full());
  in.FreeLE(LogIndex(4));
  EXPECT_EQ(in.Count(), 1);
  in.FreeLE(LogIndex(10));
  EXPECT_EQ(in.Count(), 0);
}

TEST(ProgressTest, StaleRejectionsAreIgnored) {
  Progress p(4);
  p.match = LogIndex(5);
  p.next = LogIndex(6);
  p.BecomeReplicate();
  p.OptimisticUpdate(LogIndex(9));
  EXPECT_FALSE(p.MaybeDecrTo(LogIndex(4), LogIndex(1)));  // Below match: stale.
  EXPECT_TRUE(p.MaybeDecrTo(LogIndex(7), LogIndex(7)));
  EXPECT_EQ(p.state, ProgressState::kProbe);
  EXPECT_EQ(p.next, LogIndex(7));
  // In probe only the answer to the latest probe (prev = next - 1) counts.
  EXPECT_FALSE(p.MaybeDecrTo(LogIndex(8), LogIndex(6)));
  EXPECT_TRUE(p.MaybeDecrTo(LogIndex(6), LogIndex(2)));
  EXPECT_EQ(p.next, LogIndex(6));  // Never below match + 1.
}

TEST(ProgressTest, UpdateAndPause) {
  Progress p(1);
  p.next = LogIndex(1);
  EXPECT_FALSE(p.IsPaused());
  p.probe_sent = true;
  EXPECT_TRUE(p.IsPaused());
  EXPECT_TRUE(p.MaybeUpdate(LogIndex(3)));
  EXPECT_FALSE(p.IsPaused());
  EXPECT_FALSE(p.MaybeUpdate(LogIndex(2)));  // Match never goes back.
  EXPECT_EQ(p.match, LogIndex(3));
  p.BecomeReplicate();
  p.inflights.Add(LogIndex(4));
  EXPECT_TRUE(p.IsPaused());
  p.BecomeSnapshot(LogIndex(10));
  EXPECT_TRUE(p.IsPaused());
  p.BecomeProbe();
  EXPECT_EQ(p.next, LogIndex(11));
}

TEST(ReadOnlyTest, ReleasesInOrderOnQuorumAck) {
  ReadOnly ro;
  auto v = Ids({1, 2, 3});
  const uint64_t s1 = ro.Add(LogIndex(5), NodeId(1), "a");
  const uint64_t s2 = ro.Add(LogIndex(6), NodeId(2), "b");
  EXPECT_TRUE(ro.Release(v, NodeId(1)).empty());
  ro.RecvAck(NodeId(2), s1);  // Ack for the first only.
  auto r = ro.Release(v, NodeId(1));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].ctx, "a");
  EXPECT_EQ(r[0].index, LogIndex(5));
  ro.RecvAck(NodeId(3), s2);
  r = ro.Release(v, NodeId(1));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].from, NodeId(2));
  EXPECT_EQ(ro.PendingCount(), 0u);
}

}  // namespace
}  // namespace raftlog::raft
