// MemoryStorage and RaftLog (unstable tail over storage) units.
#include "raft/raft_log.h"

#include "gtest/gtest.h"
#include "raft/log_storage.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::E;
using testing::Ents;

TEST(MemoryStorageTest, AppendTruncateCompactSnapshot) {
  MemoryStorage st;
  EXPECT_EQ(st.FirstIndex(), LogIndex(1));
  EXPECT_EQ(st.LastIndex(), LogIndex(0));
  ASSERT_TRUE(st.Append(Ents(1, 1, 5)).ok());
  EXPECT_FALSE(st.Append({E(1, 9)}).ok());  // Gap.
  ASSERT_TRUE(st.Append({E(2, 4)}).ok());   // Replaces 4 and 5.
  EXPECT_EQ(st.LastIndex(), LogIndex(4));
  EXPECT_EQ(st.TermAt(LogIndex(4)).value(), Term(2));
  auto snap = st.CreateSnapshot(LogIndex(3), testing::Voters({1}), "d");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata.term, Term(1));
  EXPECT_FALSE(st.CreateSnapshot(LogIndex(2), {}, "").ok());  // Not newer.
  ASSERT_TRUE(st.Compact(LogIndex(3)).ok());
  EXPECT_EQ(st.FirstIndex(), LogIndex(4));
  EXPECT_TRUE(IsStorageCompacted(st.Entries(LogIndex(3), LogIndex(5), 100).status()));
  EXPECT_TRUE(IsStorageCompacted(st.TermAt(LogIndex(2)).status()));
  EXPECT_EQ(st.TermAt(LogIndex(3)).value(), Term(1));  // Dummy keeps the term.
  EXPECT_TRUE(IsStorageUnavailable(st.TermAt(LogIndex(9)).status()));
  EXPECT_TRUE(IsStorageUnavailable(st.Entries(LogIndex(4), LogIndex(9), 100).status()));
  // Size limit still returns at least one entry.
  ASSERT_TRUE(st.Append(Ents(2, 5, 6)).ok());
  EXPECT_EQ(st.Entries(LogIndex(4), LogIndex(7), 0).value().size(), 1u);
  // Installing a newer snapshot replaces everything.
  Snapshot s{SnapshotMetadata{LogIndex(10), Term(3), testing::Voters({1, 2})}, "x"};
  ASSERT_TRUE(st.ApplySnapshot(s).ok());
  EXPECT_EQ(st.FirstIndex(), LogIndex(11));
  EXPECT_EQ(st.LastIndex(), LogIndex(10));
  EXPECT_EQ(st.GetInitialState()->conf_state, testing::Voters({1, 2}));
  EXPECT_FALSE(st.ApplySnapshot(Snapshot{SnapshotMetadata{LogIndex(2), Term(1), {}}, ""}).ok());
}

TEST(RaftLogTest, UnstableOverridesStaleStorageSuffix) {
  MemoryStorage st;
  ASSERT_TRUE(st.Append(Ents(1, 1, 5)).ok());
  RaftLog log(&st);
  EXPECT_EQ(log.LastIndex(), LogIndex(5));
  log.Append({E(2, 4)});  // Truncates 4..5 in the view.
  EXPECT_EQ(log.LastIndex(), LogIndex(4));
  EXPECT_EQ(log.TermAt(LogIndex(4)), Term(2));
  EXPECT_EQ(log.StableLastIndex(), LogIndex(3));
  auto s = log.Slice(LogIndex(2), LogIndex(5), 1000);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[2].term, Term(2));
  log.StableTo(LogIndex(4), Term(1));  // Wrong term: ignored.
  EXPECT_EQ(log.UnstableEntries().size(), 1u);
  ASSERT_TRUE(st.Append(log.UnstableEntries()).ok());
  log.StableTo(LogIndex(4), Term(2));
  EXPECT_TRUE(log.UnstableEntries().empty());
  EXPECT_EQ(log.StableLastIndex(), LogIndex(4));
}

TEST(RaftLogTest, UpToDateComparesTermThenIndex) {
  MemoryStorage st;
  ASSERT_TRUE(st.Append({E(1, 1), E(3, 2)}).ok());
  RaftLog log(&st);
  EXPECT_TRUE(log.IsUpToDate(LogIndex(1), Term(4)));
  EXPECT_TRUE(log.IsUpToDate(LogIndex(2), Term(3)));
  EXPECT_FALSE(log.IsUpToDate(LogIndex(1), Term(3)));
  EXPECT_FALSE(log.IsUpToDate(LogIndex(9), Term(2)));
}

TEST(RaftLogTest, CommitOnlyForCurrentTermEntry) {
  MemoryStorage st;
  ASSERT_TRUE(st.Append({E(1, 1), E(2, 2)}).ok());
  RaftLog log(&st);
  EXPECT_FALSE(log.MaybeCommit(LogIndex(1), Term(2)));
  EXPECT_TRUE(log.MaybeCommit(LogIndex(2), Term(2)));
  EXPECT_EQ(log.committed(), LogIndex(2));
  EXPECT_FALSE(log.MaybeCommit(LogIndex(1), Term(1)));  // Never decreases.
}

TEST(StrongTypesTest, NotInterchangeable) {
  static_assert(!std::is_convertible_v<Term, LogIndex>);
  static_assert(!std::is_convertible_v<LogIndex, Term>);
  static_assert(!std::is_convertible_v<uint64_t, NodeId>);
  static_assert(!std::is_constructible_v<LogIndex, Term>);
  EXPECT_EQ(LogIndex(3) + 2, LogIndex(5));
  EXPECT_LT(Term(1), Term(2));
}

}  // namespace
}  // namespace raftlog::raft
