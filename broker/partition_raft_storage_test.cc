// Tests of PartitionRaftStorage: the entry mapping, offsets assigned alike on
// every replica, conflict truncation, compaction/snapshots, restart, damaged
// raft-state, and conformance with raft::MemoryStorage under a seeded random
// sequence of appends, truncations, compactions and reopens.
#include "broker/partition_raft_storage.h"

#include <filesystem>
#include <fstream>
#include <random>

#include "broker/broker_test_util.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"

namespace raftlog::broker {
namespace {

using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::NodeId;
using raft::Term;
using testing::BaseOffsetOf;
using testing::MakeBatch;
using testing::TempDir;
using testing::WithoutBaseOffset;

ConfState ThreeVoters() { return ConfState{{NodeId(1), NodeId(2), NodeId(3)}, {}}; }

std::unique_ptr<PartitionRaftStorage> OpenOrDie(const std::string& dir,
                                                const ConfState& cs = ThreeVoters()) {
  auto s = PartitionRaftStorage::Open(dir, storage::PartitionLogOptions{}, cs);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

Entry E(uint64_t term, uint64_t index, EntryType type, std::string data) {
  return Entry{Term(term), LogIndex(index), type, std::move(data)};
}

std::vector<Entry> AllEntries(const raft::LogStorage& s) {
  auto e = s.Entries(s.FirstIndex(), s.LastIndex() + 1, UINT64_MAX);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : std::vector<Entry>{};
}

std::string ReadLogBytes(const storage::PartitionLog& log, storage::Offset from) {
  storage::ReadOptions o;
  o.max_bytes = 64 << 20;
  auto r = log.Read(from, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::string(r->batches.begin(), r->batches.end()) : std::string();
}

TEST(PartitionRaftStorageTest, NewGroupStartsEmptyWithBootstrapMembership) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->FirstIndex(), LogIndex(1));
  EXPECT_EQ(s->LastIndex(), LogIndex(0));
  auto t = s->TermAt(LogIndex(0));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, Term(0));
  auto init = s->GetInitialState();
  ASSERT_TRUE(init.ok());
  EXPECT_TRUE(init->hard_state.IsEmpty());
  EXPECT_EQ(init->conf_state, ThreeVoters());
  auto snap = s->GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->IsEmpty());
  EXPECT_EQ(snap->metadata.conf_state, ThreeVoters());
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/raft-state"));
}

TEST(PartitionRaftStorageTest, EntryTypesRoundTripAndDataGetsOffsets) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  const std::string b1 = MakeBatch(3, 1, /*proposed_base=*/777);
  const std::string b2 = MakeBatch(2, 2, /*proposed_base=*/0);
  const std::string cc =
      raft::EncodeConfChange({raft::ConfChangeType::kAddLearner, NodeId(4), "x"});
  std::vector<Entry> in = {E(1, 1, EntryType::kNoop, ""), E(1, 2, EntryType::kNormal, b1),
                           E(1, 3, EntryType::kConfChange, cc), E(2, 4, EntryType::kNormal, ""),
                           E(2, 5, EntryType::kNormal, b2)};
  ASSERT_TRUE(s->Append(in).ok());
  std::vector<Entry> out = AllEntries(*s);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].index, in[i].index);
    EXPECT_EQ(out[i].term, in[i].term);
    EXPECT_EQ(out[i].type, in[i].type);
  }
  // Non-data entries come back byte-identical.
  EXPECT_EQ(out[0].data, "");
  EXPECT_EQ(out[2].data, cc);
  EXPECT_EQ(out[3].data, "");
  // Data entries: identical but for the base offset the log assigned.
  EXPECT_EQ(WithoutBaseOffset(out[1].data), WithoutBaseOffset(b1));
  EXPECT_EQ(BaseOffsetOf(out[1].data), 0);
  EXPECT_EQ(WithoutBaseOffset(out[4].data), WithoutBaseOffset(b2));
  EXPECT_EQ(BaseOffsetOf(out[4].data), 3);
  EXPECT_EQ(s->log().next_offset(), storage::Offset(5));
  // A consumer read returns just the two batches.
  EXPECT_EQ(ReadLogBytes(s->log(), storage::Offset(0)),
            out[1].data.ToString() + out[4].data.ToString());
}

TEST(PartitionRaftStorageTest, NonBatchNormalDataIsRejectedBeforeTouchingTheLog) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_TRUE(s->Append({E(1, 1, EntryType::kNormal, MakeBatch(1, 1)),
                         E(1, 2, EntryType::kNormal, MakeBatch(1, 2))})
                  .ok());
  // Would truncate index 2 if it were accepted.
  absl::Status st =
      s->Append({E(2, 2, EntryType::kNoop, ""), E(2, 3, EntryType::kNormal, "not a record batch")});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(s->LastIndex(), LogIndex(2));
  EXPECT_EQ(*s->TermAt(LogIndex(2)), Term(1));
  // Gaps and non-contiguous batches are rejected too.
  EXPECT_EQ(s->Append({E(1, 4, EntryType::kNoop, "")}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Append({E(1, 3, EntryType::kNoop, ""), E(1, 5, EntryType::kNoop, "")}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Leader and followers append the same prefix, whatever base offset the
// proposer wrote, so every replica assigns the same offsets and stores the
// same bytes.
TEST(PartitionRaftStorageTest, OffsetsAreDeterministicAcrossReplicas) {
  TempDir d1, d2, d3;
  auto leader = OpenOrDie(d1.path());
  auto f_from_storage = OpenOrDie(d2.path());
  auto f_from_proposal = OpenOrDie(d3.path());
  std::mt19937_64 rng(7);
  std::vector<Entry> proposed;
  proposed.push_back(E(1, 1, EntryType::kNoop, ""));
  for (uint64_t i = 2; i <= 60; ++i) {
    if (rng() % 7 == 0) {
      proposed.push_back(E(1, i, EntryType::kNoop, ""));
    } else {
      proposed.push_back(E(1, i, EntryType::kNormal,
                           MakeBatch(1 + rng() % 5, i, /*proposed_base=*/rng() % 100000)));
    }
  }
  // The leader appends in several Readys; followers get other chunkings.
  for (size_t i = 0; i < proposed.size(); i += 7) {
    std::vector<Entry> chunk(proposed.begin() + i,
                             proposed.begin() + std::min(proposed.size(), i + 7));
    ASSERT_TRUE(leader->Append(chunk).ok());
  }
  // Follower 2 receives what the leader reads back from its storage (as the
  // core sends once entries are stable); follower 3 the raw proposals.
  ASSERT_TRUE(f_from_storage->Append(AllEntries(*leader)).ok());
  for (size_t i = 0; i < proposed.size(); i += 11) {
    std::vector<Entry> chunk(proposed.begin() + i,
                             proposed.begin() + std::min(proposed.size(), i + 11));
    ASSERT_TRUE(f_from_proposal->Append(chunk).ok());
  }
  const std::string bytes = ReadLogBytes(leader->log(), storage::Offset(0));
  EXPECT_FALSE(bytes.empty());
  EXPECT_EQ(ReadLogBytes(f_from_storage->log(), storage::Offset(0)), bytes);
  EXPECT_EQ(ReadLogBytes(f_from_proposal->log(), storage::Offset(0)), bytes);
  EXPECT_EQ(AllEntries(*f_from_storage), AllEntries(*leader));
  EXPECT_EQ(AllEntries(*f_from_proposal), AllEntries(*leader));
  EXPECT_EQ(f_from_proposal->log().next_offset(), leader->log().next_offset());
}

TEST(PartitionRaftStorageTest, CommitAloneIsKeptLazilyTermAndVoteAreDurable) {
  TempDir dir;
  {
    auto s = OpenOrDie(dir.path());
    raft::Ready rd;
    rd.entries = {E(1, 1, EntryType::kNormal, MakeBatch(2, 1))};
    rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(0)};
    ASSERT_TRUE(s->PersistReady(rd).ok());
    EXPECT_EQ(s->state().hard_state, *rd.hard_state);  // term/vote change: written

    rd.entries = {E(1, 2, EntryType::kNormal, MakeBatch(3, 2))};
    rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(2)};
    ASSERT_TRUE(s->PersistReady(rd).ok());
    EXPECT_EQ(s->hard_state(), *rd.hard_state);
    EXPECT_EQ(s->state().hard_state.commit, LogIndex(0));  // commit alone: not written
    EXPECT_EQ(s->GetInitialState()->hard_state.commit, LogIndex(2));

    rd.entries.clear();
    rd.hard_state = raft::HardState{Term(2), raft::kNoNode, LogIndex(2)};
    ASSERT_TRUE(s->PersistReady(rd).ok());
    EXPECT_EQ(s->state().hard_state, *rd.hard_state);  // carries the latest commit too
  }
  auto s = OpenOrDie(dir.path());
  EXPECT_EQ(s->GetInitialState()->hard_state,
            (raft::HardState{Term(2), raft::kNoNode, LogIndex(2)}));
}

TEST(PartitionRaftStorageTest, NextOffsetAfterAnswersFromMemoryAndFromTheLog) {
  TempDir dir;
  std::vector<storage::Offset> next_after;  // by index - 1
  {
    auto s = OpenOrDie(dir.path());
    raft::Ready rd;
    rd.entries = {E(1, 1, EntryType::kNoop, ""), E(1, 2, EntryType::kNormal, MakeBatch(2, 1)),
                  E(1, 3, EntryType::kNormal, MakeBatch(5, 2)), E(1, 4, EntryType::kNoop, ""),
                  E(1, 5, EntryType::kNormal, MakeBatch(1, 3))};
    ASSERT_TRUE(s->PersistReady(rd).ok());
    const int64_t want[] = {0, 0, 2, 7, 7, 8};  // next offset after index 0..5
    for (uint64_t i = 0; i <= 5; ++i) {
      auto o = s->NextOffsetAfter(LogIndex(i));
      ASSERT_TRUE(o.ok()) << o.status();
      EXPECT_EQ(o->value(), want[i]) << "index " << i;
    }
    // A conflicting suffix replaces what was remembered.
    rd.entries = {E(2, 3, EntryType::kNormal, MakeBatch(3, 4))};
    ASSERT_TRUE(s->PersistReady(rd).ok());
    EXPECT_EQ(s->NextOffsetAfter(LogIndex(3))->value(), 5);
    EXPECT_EQ(s->NextOffsetAfter(LogIndex(2))->value(), 2);
  }
  // After a reopen the same answers come from the log itself.
  auto s = OpenOrDie(dir.path());
  EXPECT_EQ(s->NextOffsetAfter(LogIndex(0))->value(), 0);
  EXPECT_EQ(s->NextOffsetAfter(LogIndex(1))->value(), 0);
  EXPECT_EQ(s->NextOffsetAfter(LogIndex(2))->value(), 2);
  EXPECT_EQ(s->NextOffsetAfter(LogIndex(3))->value(), 5);
}

TEST(PartitionRaftStorageTest, ConflictingEntryReplacesItAndAllLater) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  std::vector<Entry> first;
  for (uint64_t i = 1; i <= 5; ++i) first.push_back(E(1, i, EntryType::kNormal, MakeBatch(2, i)));
  ASSERT_TRUE(s->Append(first).ok());
  EXPECT_EQ(s->log().next_offset(), storage::Offset(10));
  const std::string nb = MakeBatch(3, 100);
  ASSERT_TRUE(s->Append({E(2, 3, EntryType::kNoop, ""), E(2, 4, EntryType::kNormal, nb)}).ok());
  EXPECT_EQ(s->LastIndex(), LogIndex(4));
  EXPECT_EQ(*s->TermAt(LogIndex(2)), Term(1));
  EXPECT_EQ(*s->TermAt(LogIndex(3)), Term(2));
  EXPECT_EQ(*s->TermAt(LogIndex(4)), Term(2));
  EXPECT_TRUE(raft::IsStorageUnavailable(s->TermAt(LogIndex(5)).status()));
  std::vector<Entry> out = AllEntries(*s);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[2].type, EntryType::kNoop);
  // Offsets continue from the kept prefix (entries 1-2 hold offsets 0..3).
  EXPECT_EQ(BaseOffsetOf(out[3].data), 4);
  EXPECT_EQ(WithoutBaseOffset(out[3].data), WithoutBaseOffset(nb));
  EXPECT_EQ(s->log().next_offset(), storage::Offset(7));
  // Re-appending entries that are already there (same terms) is harmless.
  ASSERT_TRUE(s->Append({out[2], out[3]}).ok());
  EXPECT_EQ(AllEntries(*s), out);
}

TEST(PartitionRaftStorageTest, RestartRecoversStateEntriesAndTerms) {
  TempDir dir;
  std::vector<Entry> before;
  raft::Ready rd;
  rd.entries = {E(1, 1, EntryType::kNoop, ""), E(1, 2, EntryType::kNormal, MakeBatch(4, 2)),
                E(3, 3, EntryType::kNormal, MakeBatch(1, 3))};
  rd.hard_state = raft::HardState{Term(3), NodeId(2), LogIndex(2)};
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s->PersistReady(rd).ok());
    before = AllEntries(*s);
  }
  // The bootstrap membership passed on reopen is ignored: the file rules.
  auto s = OpenOrDie(dir.path(), ConfState{{NodeId(9)}, {}});
  auto init = s->GetInitialState();
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(init->hard_state, *rd.hard_state);
  EXPECT_EQ(init->conf_state, ThreeVoters());
  EXPECT_EQ(s->FirstIndex(), LogIndex(1));
  EXPECT_EQ(s->LastIndex(), LogIndex(3));
  EXPECT_EQ(AllEntries(*s), before);
  EXPECT_EQ(*s->TermAt(LogIndex(3)), Term(3));
  EXPECT_EQ(s->log().next_offset(), storage::Offset(5));
}

TEST(PartitionRaftStorageTest, CorruptRaftStateIsDataLossNotMissing) {
  TempDir dir;
  {
    auto s = OpenOrDie(dir.path());
    raft::Ready rd;
    rd.entries = {E(1, 1, EntryType::kNormal, MakeBatch(1, 1))};
    rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(1)};
    ASSERT_TRUE(s->PersistReady(rd).ok());
  }
  const std::string path = dir.path() + "/raft-state";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[10] = static_cast<char>(bytes[10] ^ 1);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto s = PartitionRaftStorage::Open(dir.path(), {}, ThreeVoters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  // A missing file beside a non-empty log is DataLoss as well: only a
  // brand-new group may lack it.
  std::filesystem::remove(path);
  s = PartitionRaftStorage::Open(dir.path(), {}, ThreeVoters());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
}

TEST(PartitionRaftStorageTest, CompactionMovesTheLogStartAndSnapshotDescribesIt) {
  TempDir dir, fdir;
  auto s = OpenOrDie(dir.path());
  std::vector<Entry> in;
  for (uint64_t i = 1; i <= 6; ++i) {
    in.push_back(i == 3 ? E(2, i, EntryType::kNoop, "")
                        : E(i < 3 ? 1 : 2, i, EntryType::kNormal, MakeBatch(2, i)));
  }
  ASSERT_TRUE(s->Append(in).ok());
  const ConfState cs{{NodeId(1), NodeId(2)}, {NodeId(3)}};
  ASSERT_TRUE(s->Compact(LogIndex(3), cs).ok());
  EXPECT_EQ(s->FirstIndex(), LogIndex(4));
  EXPECT_EQ(*s->TermAt(LogIndex(3)), Term(2));
  EXPECT_TRUE(raft::IsStorageCompacted(s->TermAt(LogIndex(2)).status()));
  EXPECT_TRUE(raft::IsStorageCompacted(s->Entries(LogIndex(3), LogIndex(5), 1000).status()));
  auto snap = s->GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata.index, LogIndex(3));
  EXPECT_EQ(snap->metadata.term, Term(2));
  EXPECT_EQ(snap->metadata.conf_state, cs);
  // Entries 1, 2 hold offsets 0..3; entry 3 is a no-op; entry 4 starts at 4.
  EXPECT_EQ(*PartitionRaftStorage::DecodeSnapshotData(snap->data), storage::Offset(4));
  EXPECT_EQ(s->GetInitialState()->conf_state, cs);
  const std::vector<Entry> kept = AllEntries(*s);

  // Reopen: same answers.
  s.reset();
  s = OpenOrDie(dir.path());
  EXPECT_EQ(s->FirstIndex(), LogIndex(4));
  EXPECT_EQ(*s->GetSnapshot(), *snap);
  EXPECT_EQ(AllEntries(*s), kept);

  // A follower installs the snapshot, then gets the rest: same offsets.
  auto f = OpenOrDie(fdir.path());
  raft::Ready rd;
  rd.snapshot = *snap;
  rd.entries = kept;
  rd.hard_state = raft::HardState{Term(2), NodeId(1), LogIndex(6)};
  ASSERT_TRUE(f->PersistReady(rd).ok());
  EXPECT_EQ(f->FirstIndex(), LogIndex(4));
  EXPECT_EQ(*f->TermAt(LogIndex(3)), Term(2));
  EXPECT_EQ(AllEntries(*f), kept);
  EXPECT_EQ(ReadLogBytes(f->log(), storage::Offset(4)), ReadLogBytes(s->log(), storage::Offset(4)));
  EXPECT_EQ(f->log().next_offset(), s->log().next_offset());
  f.reset();
  f = OpenOrDie(fdir.path());
  EXPECT_EQ(*f->GetSnapshot(), *snap);
  EXPECT_EQ(f->GetInitialState()->hard_state, *rd.hard_state);
}

// A crash after raft-state recorded a compaction but before the log was cut:
// Open finishes the cut (keeping the matching suffix); if the log does not
// hold the snapshot's entry (snapshot install), Open restarts the log there.
TEST(PartitionRaftStorageTest, OpenFinishesACutInterruptedByACrash) {
  TempDir dir;
  std::vector<Entry> in;
  for (uint64_t i = 1; i <= 5; ++i) in.push_back(E(1, i, EntryType::kNormal, MakeBatch(1, i)));
  RaftState st;
  {
    auto s = OpenOrDie(dir.path());
    ASSERT_TRUE(s->Append(in).ok());
    st = s->state();
  }
  st.snapshot_index = LogIndex(2);
  st.snapshot_term = Term(1);
  st.snapshot_next_offset = storage::Offset(2);
  ASSERT_TRUE(WriteRaftState(storage::Env::Posix(), dir.path(), st).ok());
  {
    auto s = OpenOrDie(dir.path());
    EXPECT_EQ(s->FirstIndex(), LogIndex(3));
    EXPECT_EQ(s->LastIndex(), LogIndex(5));
    EXPECT_EQ(*s->TermAt(LogIndex(2)), Term(1));
    EXPECT_EQ(s->log().log_start_offset(), storage::Offset(2));
  }
  // Snapshot from a later term the log does not match: the log restarts.
  st.snapshot_index = LogIndex(9);
  st.snapshot_term = Term(4);
  st.snapshot_next_offset = storage::Offset(20);
  ASSERT_TRUE(WriteRaftState(storage::Env::Posix(), dir.path(), st).ok());
  auto s = OpenOrDie(dir.path());
  EXPECT_EQ(s->FirstIndex(), LogIndex(10));
  EXPECT_EQ(s->LastIndex(), LogIndex(9));
  EXPECT_EQ(*s->TermAt(LogIndex(9)), Term(4));
  EXPECT_EQ(s->log().next_offset(), storage::Offset(20));
  ASSERT_TRUE(s->Append({E(4, 10, EntryType::kNormal, MakeBatch(2, 10))}).ok());
  EXPECT_EQ(BaseOffsetOf(AllEntries(*s)[0].data), 20);
}

// Group commit: one Ready's entries cost exactly one log fsync, however many
// there are; a hard state adds the raft-state file's fsync and a dir fsync.
TEST(PartitionRaftStorageTest, OneLogFsyncPerReady) {
  TempDir dir;
  storage::FaultInjectingEnv env;
  storage::PartitionLogOptions opts;
  opts.env = &env;
  auto s = PartitionRaftStorage::Open(dir.path(), opts, ThreeVoters());
  ASSERT_TRUE(s.ok()) << s.status();
  raft::Ready rd;
  for (uint64_t i = 1; i <= 20; ++i) {
    rd.entries.push_back(E(1, i, EntryType::kNormal, MakeBatch(2, i)));
  }
  int64_t syncs = env.syncs(), dir_syncs = env.dir_syncs();
  ASSERT_TRUE((*s)->PersistReady(rd).ok());
  EXPECT_EQ(env.syncs() - syncs, 1);
  EXPECT_EQ(env.dir_syncs() - dir_syncs, 0);

  rd.entries = {E(1, 21, EntryType::kNoop, ""), E(1, 22, EntryType::kNormal, MakeBatch(1, 22))};
  rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(21)};
  syncs = env.syncs();
  dir_syncs = env.dir_syncs();
  ASSERT_TRUE((*s)->PersistReady(rd).ok());
  EXPECT_EQ(env.syncs() - syncs, 2);  // log + raft-state.tmp
  EXPECT_EQ(env.dir_syncs() - dir_syncs, 1);
}

// A failed log fsync is fatal: PersistReady returns it, the hard state of
// that Ready is not written (commit never exceeds the durable log), and the
// storage refuses every later write.
TEST(PartitionRaftStorageTest, FailedFsyncIsFatal) {
  TempDir dir;
  storage::FaultInjectingEnv env;
  storage::PartitionLogOptions opts;
  opts.env = &env;
  {
    auto s = PartitionRaftStorage::Open(dir.path(), opts, ThreeVoters());
    ASSERT_TRUE(s.ok()) << s.status();
    raft::Ready rd;
    rd.entries = {E(1, 1, EntryType::kNormal, MakeBatch(1, 1))};
    rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(1)};
    ASSERT_TRUE((*s)->PersistReady(rd).ok());

    env.FailNthSync(1);
    rd.entries = {E(1, 2, EntryType::kNormal, MakeBatch(1, 2))};
    rd.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(2)};
    EXPECT_FALSE((*s)->PersistReady(rd).ok());
    EXPECT_FALSE((*s)->log().health().ok());
    EXPECT_EQ((*s)->state().hard_state.commit, LogIndex(1));
    rd.entries = {E(1, 3, EntryType::kNoop, "")};
    rd.hard_state.reset();
    EXPECT_FALSE((*s)->PersistReady(rd).ok());
  }
  // Reopen recovers what was durable; the commit on disk is the old one.
  auto s = OpenOrDie(dir.path());
  EXPECT_EQ(s->GetInitialState()->hard_state.commit, LogIndex(1));
  EXPECT_GE(s->LastIndex(), LogIndex(1));
}

// ---- Conformance with raft::MemoryStorage ----

void ExpectSameStatusKind(const absl::Status& a, const absl::Status& b, const std::string& what) {
  EXPECT_EQ(a.ok(), b.ok()) << what << ": " << a << " vs " << b;
  EXPECT_EQ(raft::IsStorageCompacted(a), raft::IsStorageCompacted(b)) << what;
  EXPECT_EQ(raft::IsStorageUnavailable(a), raft::IsStorageUnavailable(b)) << what;
}

void ExpectConforms(const PartitionRaftStorage& p, const raft::MemoryStorage& m,
                    std::mt19937_64& rng, const std::string& ctx) {
  SCOPED_TRACE(ctx);
  ASSERT_EQ(p.FirstIndex(), m.FirstIndex());
  ASSERT_EQ(p.LastIndex(), m.LastIndex());
  // Term and vote are durable at once; commit alone may lag after a reopen.
  const raft::HardState ph = p.GetInitialState()->hard_state, mh = m.GetInitialState()->hard_state;
  EXPECT_EQ(ph.term, mh.term);
  EXPECT_EQ(ph.vote, mh.vote);
  EXPECT_LE(ph.commit, mh.commit);
  EXPECT_EQ(p.GetInitialState()->conf_state, m.GetInitialState()->conf_state);
  EXPECT_EQ(p.GetSnapshot()->metadata, m.GetSnapshot()->metadata);
  const uint64_t first = p.FirstIndex().value(), last = p.LastIndex().value();
  for (uint64_t i = first > 2 ? first - 2 : 0; i <= last + 1; ++i) {
    auto a = p.TermAt(LogIndex(i));
    auto b = m.TermAt(LogIndex(i));
    ExpectSameStatusKind(a.status(), b.status(), "TermAt " + std::to_string(i));
    if (a.ok() && b.ok()) {
      EXPECT_EQ(*a, *b) << "TermAt " << i;
    }
  }
  // Whole log: equal modulo base offsets, and offsets dense from the
  // snapshot's next offset.
  auto pe = p.Entries(p.FirstIndex(), p.LastIndex() + 1, UINT64_MAX);
  auto me = m.Entries(m.FirstIndex(), m.LastIndex() + 1, UINT64_MAX);
  ASSERT_TRUE(pe.ok() && me.ok());
  ASSERT_EQ(pe->size(), me->size());
  int64_t next = PartitionRaftStorage::DecodeSnapshotData(p.GetSnapshot()->data)->value();
  for (size_t i = 0; i < pe->size(); ++i) {
    const Entry& x = (*pe)[i];
    const Entry& y = (*me)[i];
    EXPECT_EQ(x.index, y.index);
    EXPECT_EQ(x.term, y.term);
    EXPECT_EQ(x.type, y.type);
    if (x.type == EntryType::kNormal && !x.data.empty()) {
      EXPECT_EQ(WithoutBaseOffset(x.data), WithoutBaseOffset(y.data));
      EXPECT_EQ(BaseOffsetOf(x.data), next) << "entry " << x.index;
      auto h = storage::ParseBatchHeader(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(x.data.data()), x.data.size()));
      ASSERT_TRUE(h.ok());
      next += h->last_offset_delta + 1;
    } else {
      EXPECT_EQ(x.data, y.data);
    }
  }
  EXPECT_EQ(p.log().next_offset(), storage::Offset(next));
  // Random windows with random byte limits: same entries returned.
  for (int k = 0; k < 8; ++k) {
    const uint64_t lo = first - 1 + rng() % (last - first + 3);
    const uint64_t hi = lo + rng() % 6;
    const uint64_t max_bytes = rng() % 3 == 0 ? UINT64_MAX : rng() % 400;
    auto a = p.Entries(LogIndex(lo), LogIndex(hi), max_bytes);
    auto b = m.Entries(LogIndex(lo), LogIndex(hi), max_bytes);
    ExpectSameStatusKind(a.status(), b.status(), "Entries");
    if (a.ok() && b.ok()) {
      ASSERT_EQ(a->size(), b->size()) << lo << ".." << hi << " max " << max_bytes;
      for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].index, (*b)[i].index);
    }
  }
}

// The tail cache (entries WriteReady appended, until released) answers
// Entries() exactly as the files do: a replica written through WriteReady
// agrees with one written through Append (no cache) under random appends,
// conflicts, compactions, releases and byte limits.
TEST(PartitionRaftStorageTest, TailCacheAnswersLikeTheFiles) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TempDir cached_dir, plain_dir;
    std::mt19937_64 rng(seed);
    auto cached = OpenOrDie(cached_dir.path());
    auto plain = OpenOrDie(plain_dir.path());
    ASSERT_NE(cached, nullptr);
    ASSERT_NE(plain, nullptr);
    uint64_t term = 1;
    uint64_t payload_seed = 0;
    size_t max_cached = 0;
    for (int step = 0; step < 200; ++step) {
      const int op = static_cast<int>(rng() % 10);
      const uint64_t first = plain->FirstIndex().value(), last = plain->LastIndex().value();
      if (op < 7) {
        if (rng() % 4 == 0) ++term;
        const uint64_t start = rng() % 4 == 0 ? first + rng() % (last - first + 2) : last + 1;
        const uint64_t t = std::max(term, plain->TermAt(LogIndex(start - 1))->value());
        raft::Ready rd;
        const int n = 1 + static_cast<int>(rng() % 5);
        for (int i = 0; i < n; ++i) {
          Entry e{Term(t), LogIndex(start + i), EntryType::kNormal, ""};
          switch (rng() % 5) {
            case 0:
              e.type = EntryType::kNoop;
              break;
            case 1:
              break;  // empty kNormal
            default:
              e.data = MakeBatch(1 + rng() % 4, ++payload_seed, rng() % 1000);
          }
          rd.entries.push_back(std::move(e));
        }
        ASSERT_TRUE(cached->WriteReady(rd).ok());
        ASSERT_TRUE(cached->SyncReady().ok());
        ASSERT_TRUE(plain->Append(rd.entries).ok());
        // As the node does, mostly; without it the files answer.
        if (rng() % 4 != 0) {
          cached->AdoptReadyEntries(rd.entries);
          for (const Entry& e : rd.entries) ASSERT_TRUE(e.data.empty());  // moved, not copied
        }
        max_cached = std::max(max_cached, cached->cached_entries());
      } else if (op < 9 && last >= first) {
        cached->ReleaseAppliedUpTo(LogIndex(first + rng() % (last - first + 1)));
      } else if (last >= first) {
        const LogIndex idx(first + rng() % (last - first + 1));
        ASSERT_TRUE(cached->Compact(idx, ThreeVoters()).ok());
        ASSERT_TRUE(plain->Compact(idx, ThreeVoters()).ok());
      }
      ASSERT_EQ(cached->FirstIndex(), plain->FirstIndex());
      ASSERT_EQ(cached->LastIndex(), plain->LastIndex());
      const uint64_t f = plain->FirstIndex().value(), l = plain->LastIndex().value();
      for (int probe = 0; probe < 4; ++probe) {
        const uint64_t lo = f + rng() % (l - f + 2);
        const uint64_t hi = lo + rng() % (l + 2 - lo);
        const uint64_t max_bytes = rng() % 2 ? UINT64_MAX : rng() % 400;
        auto want = plain->Entries(LogIndex(lo), LogIndex(hi), max_bytes);
        auto got = cached->Entries(LogIndex(lo), LogIndex(hi), max_bytes);
        ASSERT_TRUE(want.ok()) << want.status();
        ASSERT_TRUE(got.ok()) << got.status();
        ASSERT_EQ(*got, *want) << "step " << step << " [" << lo << ", " << hi << ") max "
                               << max_bytes;
      }
    }
    EXPECT_GT(max_cached, 0u);  // the cache was used
    cached->ReleaseAppliedUpTo(cached->LastIndex());
    EXPECT_EQ(cached->cached_entries(), 0u);
  }
}

// The tail cache shares an entry's payload when its bytes 0..7 already hold
// the offset the log assigned (a proposer that predicted it), and caches a
// stamped copy otherwise, leaving the shared bytes unchanged.
TEST(PartitionRaftStorageTest, TailCacheSharesPayloadsAndCopiesOnlyToStampAnOffset) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_NE(s, nullptr);
  raft::Ready rd;
  rd.entries = {E(1, 1, EntryType::kNormal, MakeBatch(3, 1, /*proposed_base=*/0)),
                E(1, 2, EntryType::kNormal, MakeBatch(2, 2, /*proposed_base=*/3)),
                E(1, 3, EntryType::kNormal, MakeBatch(2, 3, /*proposed_base=*/777))};
  const std::vector<Entry> proposed = rd.entries;  // shares the payloads
  ASSERT_TRUE(s->WriteReady(rd).ok());
  ASSERT_TRUE(s->SyncReady().ok());
  s->AdoptReadyEntries(rd.entries);
  ASSERT_EQ(s->cached_entries(), 3u);
  EXPECT_EQ(s->restamped_entries(), 1u);
  auto cached = s->Entries(LogIndex(1), LogIndex(4), UINT64_MAX);
  ASSERT_TRUE(cached.ok());
  ASSERT_EQ(cached->size(), 3u);
  EXPECT_EQ((*cached)[0].data.data(), proposed[0].data.data());  // shared
  EXPECT_EQ((*cached)[1].data.data(), proposed[1].data.data());
  EXPECT_NE((*cached)[2].data.data(), proposed[2].data.data());  // stamped copy
  EXPECT_EQ(BaseOffsetOf((*cached)[2].data), 5);
  EXPECT_EQ(BaseOffsetOf(proposed[2].data), 777);  // the shared bytes never change
  EXPECT_EQ(WithoutBaseOffset((*cached)[2].data), WithoutBaseOffset(proposed[2].data));
  // The cache serves what the files hold.
  s->ReleaseAppliedUpTo(LogIndex(3));
  ASSERT_EQ(s->cached_entries(), 0u);
  EXPECT_EQ(AllEntries(*s), *cached);
}

// AdoptReadyEntries caches the Ready just written, by moving its payloads;
// for any other Ready, or after another write, it caches nothing and leaves
// the entries alone. PersistReady caches a copy.
TEST(PartitionRaftStorageTest, AdoptReadyEntriesTakesOnlyTheReadyJustWritten) {
  TempDir dir;
  auto s = OpenOrDie(dir.path());
  ASSERT_NE(s, nullptr);
  raft::Ready rd;
  rd.entries = {E(1, 1, EntryType::kNormal, MakeBatch(3, 1, 0)), E(1, 2, EntryType::kNoop, ""),
                E(1, 3, EntryType::kNormal, MakeBatch(2, 2, 0))};
  const std::vector<Entry> written = rd.entries;
  ASSERT_TRUE(s->WriteReady(rd).ok());
  ASSERT_TRUE(s->SyncReady().ok());
  EXPECT_EQ(s->cached_entries(), 0u);  // not before the hand-over
  s->AdoptReadyEntries(rd.entries);
  EXPECT_EQ(s->cached_entries(), 3u);
  EXPECT_TRUE(rd.entries[0].data.empty());
  EXPECT_EQ(rd.entries[2].index, LogIndex(3));  // index and term stay
  auto cached = s->Entries(LogIndex(1), LogIndex(4), UINT64_MAX);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ((*cached)[2].data.size(), written[2].data.size());
  EXPECT_EQ(BaseOffsetOf((*cached)[2].data), 3);  // offsets assigned as stored
  EXPECT_EQ(WithoutBaseOffset((*cached)[2].data), WithoutBaseOffset(written[2].data));
  s->ReleaseAppliedUpTo(LogIndex(3));

  // A Ready written before another write is not adopted.
  raft::Ready stale;
  stale.entries = {E(1, 4, EntryType::kNormal, MakeBatch(1, 3, 0))};
  ASSERT_TRUE(s->WriteReady(stale).ok());
  ASSERT_TRUE(s->Append({E(1, 5, EntryType::kNoop, "")}).ok());
  s->AdoptReadyEntries(stale.entries);
  EXPECT_EQ(s->cached_entries(), 0u);
  EXPECT_FALSE(stale.entries[0].data.empty());
  // Nor one that is not the Ready written last.
  raft::Ready next;
  next.entries = {E(1, 6, EntryType::kNoop, "")};
  ASSERT_TRUE(s->WriteReady(next).ok());
  s->AdoptReadyEntries(stale.entries);
  EXPECT_EQ(s->cached_entries(), 0u);
  EXPECT_FALSE(stale.entries[0].data.empty());
  s->AdoptReadyEntries(next.entries);  // used up by the call above
  EXPECT_EQ(s->cached_entries(), 0u);
  EXPECT_EQ(AllEntries(*s).size(), 6u);

  // PersistReady caches a copy.
  raft::Ready copied;
  copied.entries = {E(1, 7, EntryType::kNormal, MakeBatch(2, 4, 0))};
  ASSERT_TRUE(s->PersistReady(copied).ok());
  EXPECT_EQ(s->cached_entries(), 1u);
  EXPECT_FALSE(copied.entries[0].data.empty());
}

TEST(PartitionRaftStorageTest, ConformsToMemoryStorageUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TempDir dir;
    std::mt19937_64 rng(seed);
    auto p = OpenOrDie(dir.path());
    raft::MemoryStorage m;
    m.SetConfState(ThreeVoters());
    uint64_t term = 1;
    uint64_t payload_seed = 0;
    for (int step = 0; step < 150; ++step) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 7) {
        // Append at a random point in [FirstIndex, LastIndex + 1]: a plain
        // append or a conflict. Terms never decrease along the log.
        if (rng() % 4 == 0) ++term;
        const uint64_t first = m.FirstIndex().value(), last = m.LastIndex().value();
        const uint64_t start = rng() % 3 == 0 ? first + rng() % (last - first + 2) : last + 1;
        const uint64_t prev_term = m.TermAt(LogIndex(start - 1)).value().value();
        const uint64_t t = std::max(term, prev_term);
        std::vector<Entry> ents;
        const int n = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i) {
          Entry e{Term(t), LogIndex(start + i), EntryType::kNormal, ""};
          switch (rng() % 6) {
            case 0:
              e.type = EntryType::kNoop;
              break;
            case 1:
              e.type = EntryType::kConfChange;
              e.data = raft::EncodeConfChange(
                  {raft::ConfChangeType::kAddLearner, NodeId(4 + rng() % 5), "ctx"});
              break;
            case 2:
              break;  // empty kNormal
            default:
              e.data = MakeBatch(1 + rng() % 4, ++payload_seed, rng() % 1000);
          }
          ents.push_back(std::move(e));
        }
        ASSERT_TRUE(p->Append(ents).ok());
        ASSERT_TRUE(m.Append(ents).ok());
      } else if (op == 7) {
        raft::HardState hs{Term(term), NodeId(1 + rng() % 3), m.LastIndex()};
        ASSERT_TRUE(p->SetHardState(hs).ok());
        m.SetHardState(hs);
      } else if (op == 8 && m.LastIndex() >= m.FirstIndex()) {
        // Compact a prefix (membership recorded with it).
        const uint64_t first = m.FirstIndex().value(), last = m.LastIndex().value();
        const LogIndex idx(first + rng() % (last - first + 1));
        const ConfState cs{{NodeId(1), NodeId(2), NodeId(3)}, {NodeId(4 + rng() % 5)}};
        ASSERT_TRUE(p->Compact(idx, cs).ok());
        ASSERT_TRUE(m.CreateSnapshot(idx, cs, "").ok());
        ASSERT_TRUE(m.Compact(idx).ok());
      } else if (op == 9) {
        p.reset();
        p = OpenOrDie(dir.path());
        ASSERT_NE(p, nullptr);
      }
      ExpectConforms(*p, m, rng, "step " + std::to_string(step));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace raftlog::broker
