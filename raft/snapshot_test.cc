// Snapshots [5]: chunked InstallSnapshot to a follower whose needed entries
// are compacted, gap handling, stale snapshots (no rollback), keeping a
// matching suffix vs discarding a conflicting log (PITFALLS #7), restart.
#include "gtest/gtest.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/testing/test_util.h"

namespace raftlog::raft {
namespace {

using testing::App;
using testing::AppliedData;
using testing::Delivered;
using testing::Ents;
using testing::MakeSolo;
using testing::Msg;
using testing::Network;
using testing::OfType;
using testing::Persist;
using testing::Voters;

Message Chunk(uint64_t from, uint64_t to, uint64_t term, SnapshotMetadata meta,
              const std::string& data, uint64_t off, uint64_t len) {
  Message m = Msg(MessageType::kSnapshot, from, to, term);
  m.snapshot = std::move(meta);
  m.snapshot_offset = off;
  m.snapshot_total_size = data.size();
  m.snapshot_data = data.substr(off, len);
  m.snapshot_done = off + len >= data.size();
  return m;
}

// Leader 1 with node 3 cut off; 10 entries; the leader snapshots and
// compacts everything applied.
Network LaggingFollowerCluster(std::string data) {
  Network net(3, [](Config& c) { c.snapshot_chunk_size = 16; });
  EXPECT_TRUE(net.Elect(1));
  net.Isolate(3);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(net.node(1).Propose("v" + std::to_string(i)).ok());
    net.Stabilize();
  }
  const LogIndex applied = net.peer(1).applied_index;
  EXPECT_TRUE(net.storage(1).CreateSnapshot(applied, net.node(1).conf_state(), data).ok());
  EXPECT_TRUE(net.storage(1).Compact(applied).ok());
  return net;
}

TEST(SnapshotTest, LaggingFollowerReceivesSnapshotInChunks) {
  const std::string data(100, 's');
  Network net = LaggingFollowerCluster(data);
  net.Heal();
  net.TickAll(3);
  ASSERT_EQ(net.peer(3).installed_snapshots.size(), 1u);
  EXPECT_EQ(net.peer(3).installed_snapshots[0].data, data);
  auto chunks = Delivered(net, MessageType::kSnapshot, 1, 3);
  ASSERT_EQ(chunks.size(), 7u);  // ceil(100 / 16)
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].snapshot_offset, 16 * i);
    EXPECT_EQ(chunks[i].snapshot_done, i + 1 == chunks.size());
  }
  EXPECT_EQ(Delivered(net, MessageType::kSnapshotResp, 3, 1).size(), 6u);
  // Replication continues after the snapshot.
  ASSERT_TRUE(net.node(1).Propose("after").ok());
  net.Stabilize();
  net.TickAll(1);
  EXPECT_EQ(AppliedData(net, 3), std::vector<std::string>{"after"});
  EXPECT_EQ(net.node(1).Status().progress.at(NodeId(3)).state, ProgressState::kReplicate);
  EXPECT_EQ(net.storage(3).LastIndex(), net.storage(1).LastIndex());
}

TEST(SnapshotTest, LostChunkRestartsTransferAfterTimeout) {
  const std::string data(100, 'z');
  Network net = LaggingFollowerCluster(data);
  net.Heal();
  int seen = 0;
  net.SetFilter([&seen](const Message& m) {
    return m.type == MessageType::kSnapshot && m.snapshot_offset == 32 && seen++ == 0;
  });
  net.TickAll(30);
  ASSERT_EQ(net.peer(3).installed_snapshots.size(), 1u);
  EXPECT_EQ(net.peer(3).installed_snapshots[0].data, data);
  // The transfer began again from offset 0.
  int starts = 0;
  for (const Message& m : Delivered(net, MessageType::kSnapshot, 1, 3)) {
    starts += m.snapshot_offset == 0;
  }
  EXPECT_GE(starts, 2);
}

TEST(SnapshotTest, FollowerRejectsChunkAfterGap) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  SnapshotMetadata meta{LogIndex(10), Term(1), Voters({1, 2, 3})};
  const std::string data(40, 'd');
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, data, 0, 16)).ok());
  Ready r1 = Persist(s);
  auto a1 = OfType(r1, MessageType::kSnapshotResp);
  ASSERT_EQ(a1.size(), 1u);
  EXPECT_FALSE(a1[0].reject);
  EXPECT_EQ(a1[0].snapshot_offset, 16u);
  // Offset 32 arrives: 16..32 is missing.
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, data, 32, 8)).ok());
  Ready r2 = Persist(s);
  auto a2 = OfType(r2, MessageType::kSnapshotResp);
  ASSERT_EQ(a2.size(), 1u);
  EXPECT_TRUE(a2[0].reject);
  EXPECT_FALSE(r2.snapshot.has_value());
  // The partial state was dropped: continuing at 16 is refused too.
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, data, 16, 16)).ok());
  EXPECT_TRUE(OfType(Persist(s), MessageType::kSnapshotResp)[0].reject);
  // From the beginning it works.
  for (uint64_t off : {0, 16, 32}) {
    ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, data, off, 16)).ok());
  }
  Ready done = Persist(s);
  ASSERT_TRUE(done.snapshot.has_value());
  EXPECT_EQ(done.snapshot->data, data);
  EXPECT_EQ(done.snapshot->metadata, meta);
  auto ack = OfType(done, MessageType::kAppResp);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].index, LogIndex(10));
  EXPECT_TRUE(done.messages.empty());  // The ack waits for the install.
  EXPECT_EQ(s.storage->FirstIndex(), LogIndex(11));
  EXPECT_EQ(s.node->Status().applied, LogIndex(10));
}

TEST(SnapshotTest, SnapshotBetweenGetReadyAndAdvanceWinsOverOlderConfChange) {
  // Node 2 is handed an AddLearner(4) entry to apply; before it advances, a
  // snapshot whose membership already removed 4 again is installed.
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  std::vector<Entry> ents = Ents(1, 1, 2);
  ents[1].type = EntryType::kConfChange;
  ents[1].data = EncodeConfChange(ConfChange{ConfChangeType::kAddLearner, NodeId(4), ""});
  ASSERT_TRUE(s.node->Step(testing::App(1, 2, 1, 0, 0, ents, 2)).ok());
  Ready rd = s.node->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  ASSERT_TRUE(s.storage->Append(rd.entries).ok());
  s.storage->SetHardState(*rd.hard_state);
  SnapshotMetadata meta{LogIndex(9), Term(1), Voters({1, 2, 3})};
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, "s", 0, 1)).ok());
  s.node->Advance(rd);
  EXPECT_EQ(s.node->conf_state(), Voters({1, 2, 3}));
  Ready snap = Persist(s);
  ASSERT_TRUE(snap.snapshot.has_value());
  EXPECT_EQ(s.node->Status().applied, LogIndex(9));
  EXPECT_EQ(s.node->conf_state(), Voters({1, 2, 3}));
}

TEST(SnapshotTest, StaleSnapshotDoesNotRollBack) {
  auto s =
      MakeSolo(2, Voters({1, 2, 3}), Ents(1, 1, 5), HardState{Term(1), NodeId(1), LogIndex(5)});
  SnapshotMetadata meta{LogIndex(3), Term(1), Voters({1, 2, 3})};
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, "abc", 0, 3)).ok());
  Ready rd = Persist(s);
  EXPECT_FALSE(rd.snapshot.has_value());
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(5));
  EXPECT_EQ(s.node->Status().commit, LogIndex(5));
  auto ack = OfType(rd, MessageType::kAppResp);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].index, LogIndex(5));
}

// A snapshot that discards the log also withdraws unsent acknowledgements
// of entries past it: the persisted state will not hold them.
TEST(SnapshotTest, SnapshotDiscardingTheLogWithdrawsUnsentAcksBeyondIt) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), {}, {});
  ASSERT_TRUE(s.node->Step(App(1, 2, 1, 0, 0, Ents(1, 1, 6), 0)).ok());  // Ack of 6 queued.
  SnapshotMetadata meta{LogIndex(4), Term(2), Voters({1, 2, 3})};
  ASSERT_TRUE(s.node->Step(Chunk(3, 2, 2, meta, "abc", 0, 3)).ok());
  Ready rd = Persist(s);
  ASSERT_TRUE(rd.snapshot.has_value());
  for (const Message& ack : OfType(rd, MessageType::kAppResp)) {
    EXPECT_LE(ack.index, LogIndex(4)) << DebugString(ack);
  }
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(4));
}

TEST(SnapshotTest, SnapshotWithMatchingEntryKeepsSuffix) {
  auto s =
      MakeSolo(2, Voters({1, 2, 3}), Ents(1, 1, 10), HardState{Term(1), NodeId(1), LogIndex(2)});
  SnapshotMetadata meta{LogIndex(5), Term(1), Voters({1, 2, 3})};
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 1, meta, "abc", 0, 3)).ok());
  Ready rd = Persist(s);
  EXPECT_FALSE(rd.snapshot.has_value());
  EXPECT_EQ(s.node->Status().commit, LogIndex(5));
  EXPECT_EQ(s.node->Status().last_index, LogIndex(10));
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(10));
}

TEST(SnapshotTest, SnapshotWithConflictingEntryDiscardsLog) {
  auto s = MakeSolo(2, Voters({1, 2, 3}), Ents(1, 1, 10), HardState{Term(2), kNoNode, LogIndex(2)});
  SnapshotMetadata meta{LogIndex(5), Term(2), Voters({1, 2, 3, 4})};
  ASSERT_TRUE(s.node->Step(Chunk(1, 2, 2, meta, "abc", 0, 3)).ok());
  Ready rd = Persist(s);
  ASSERT_TRUE(rd.snapshot.has_value());
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_EQ(s.storage->FirstIndex(), LogIndex(6));
  EXPECT_EQ(s.storage->LastIndex(), LogIndex(5));
  auto st = s.node->Status();
  EXPECT_EQ(st.commit, LogIndex(5));
  EXPECT_EQ(st.last_index, LogIndex(5));
  EXPECT_EQ(st.conf_state, Voters({1, 2, 3, 4}));
  EXPECT_EQ(rd.hard_state->commit, LogIndex(5));
}

TEST(SnapshotTest, RestartRestoresFromSnapshotAndHardState) {
  MemoryStorage st;
  Snapshot snap;
  snap.metadata = SnapshotMetadata{LogIndex(5), Term(2), Voters({1, 2})};
  snap.data = "state";
  ASSERT_TRUE(st.ApplySnapshot(snap).ok());
  ASSERT_TRUE(st.Append(Ents(2, 6, 7)).ok());
  st.SetHardState(HardState{Term(2), NodeId(1), LogIndex(7)});
  Config c = testing::TestConfig(NodeId(1));
  c.applied = LogIndex(5);
  auto n = RawNode::Create(c, &st);
  ASSERT_TRUE(n.ok()) << n.status();
  auto status = (*n)->Status();
  EXPECT_EQ(status.term, Term(2));
  EXPECT_EQ(status.vote, NodeId(1));
  EXPECT_EQ(status.commit, LogIndex(7));
  EXPECT_EQ(status.applied, LogIndex(5));
  EXPECT_EQ(status.conf_state, Voters({1, 2}));
  ASSERT_TRUE((*n)->HasReady());
  Ready rd = (*n)->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].index, LogIndex(6));
  EXPECT_FALSE(rd.hard_state.has_value());
  (*n)->Advance(rd);
}

TEST(SnapshotTest, RestartAfterTornPersistOfSnapshotAndHardState) {
  // Crash after the snapshot became durable but before the hard state did.
  MemoryStorage st;
  st.SetConfState(Voters({1, 2, 3}));
  ASSERT_TRUE(st.Append(Ents(1, 1, 4)).ok());
  st.SetHardState(HardState{Term(1), NodeId(2), LogIndex(3)});
  Snapshot snap{SnapshotMetadata{LogIndex(9), Term(3), Voters({1, 2, 3})}, "s"};
  ASSERT_TRUE(st.ApplySnapshot(snap).ok());
  Config c = testing::TestConfig(NodeId(1));
  c.applied = LogIndex(3);
  auto n = RawNode::Create(c, &st);
  ASSERT_TRUE(n.ok()) << n.status();
  auto status = (*n)->Status();
  EXPECT_EQ(status.commit, LogIndex(9));
  EXPECT_EQ(status.applied, LogIndex(9));
  EXPECT_EQ(status.term, Term(3));  // Never below the log's last term.
  EXPECT_EQ(status.vote, kNoNode);
}

TEST(SnapshotTest, RestartRejectsInconsistentState) {
  MemoryStorage st;
  st.SetConfState(Voters({1}));
  st.SetHardState(HardState{Term(1), kNoNode, LogIndex(3)});  // Commit beyond log.
  EXPECT_EQ(RawNode::Create(testing::TestConfig(NodeId(1)), &st).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace raftlog::raft
