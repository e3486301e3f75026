// End-to-end: a 3-node Raft group of raft::RawNode, each over its own
// PartitionRaftStorage in a temp dir, messages delivered in-process by a tiny
// loop that follows raw_node.h's Ready contract. Proposes record batches and
// checks every replica's partition log holds identical bytes at identical
// offsets; restarts a node from disk and checks it catches up, by log
// replication and, after the leader compacted, by snapshot.
#include <deque>
#include <map>
#include <memory>

#include "broker/broker_test_util.h"
#include "broker/partition_raft_storage.h"
#include "gtest/gtest.h"
#include "raft/config.h"
#include "raft/raw_node.h"

namespace raftlog::broker {
namespace {

using raft::LogIndex;
using raft::Message;
using raft::NodeId;
using testing::MakeBatch;
using testing::TempDir;

raft::ConfState Voters() { return raft::ConfState{{NodeId(1), NodeId(2), NodeId(3)}, {}}; }

struct Replica {
  TempDir dir;
  std::unique_ptr<PartitionRaftStorage> storage;
  std::unique_ptr<raft::RawNode> node;  // null while down
  LogIndex applied;
  uint64_t applied_records = 0;  // records in applied data entries
};

class Cluster {
 public:
  Cluster() {
    for (uint64_t id = 1; id <= 3; ++id) {
      replicas_[id] = std::make_unique<Replica>();
      Start(id);
    }
  }

  void Start(uint64_t id) {
    Replica& r = *replicas_.at(id);
    auto s = PartitionRaftStorage::Open(r.dir.path(), storage::PartitionLogOptions{}, Voters());
    ASSERT_TRUE(s.ok()) << s.status();
    r.storage = *std::move(s);
    raft::Config c;
    c.id = NodeId(id);
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    // The commit on disk may lag (PartitionRaftStorage keeps commit-only
    // changes lazily); restart no later than it and skip re-applied entries.
    c.applied = std::min(r.applied, r.storage->hard_state().commit);
    c.max_size_per_msg = 16 << 10;  // several kApp messages per catch-up
    c.seed = id;
    auto n = raft::RawNode::Create(c, r.storage.get());
    ASSERT_TRUE(n.ok()) << n.status();
    r.node = *std::move(n);
  }

  // Crash: the node and its open files go; only what is on disk stays.
  void Stop(uint64_t id) {
    Replica& r = *replicas_.at(id);
    r.node.reset();
    r.storage.reset();
  }

  Replica& replica(uint64_t id) { return *replicas_.at(id); }
  raft::RawNode& node(uint64_t id) { return *replicas_.at(id)->node; }

  // One Ready of `id`, handled in the contract's order.
  bool ProcessReady(uint64_t id) {
    Replica& r = *replicas_.at(id);
    if (!r.node || !r.node->HasReady()) return false;
    raft::Ready rd = r.node->GetReady();
    for (Message& m : rd.messages) queue_.push_back(std::move(m));
    absl::Status s = r.storage->PersistReady(rd);
    EXPECT_TRUE(s.ok()) << s;  // fatal in a real host
    for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
    if (rd.snapshot && !rd.snapshot->IsEmpty()) r.applied = rd.snapshot->metadata.index;
    for (const raft::Entry& e : rd.committed_entries) {
      if (e.index <= r.applied) continue;  // applied before a restart
      if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
        auto h = storage::ParseBatchHeader(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(e.data.data()), e.data.size()));
        EXPECT_TRUE(h.ok());
        if (h.ok()) r.applied_records += h->last_offset_delta + 1;
      }
      r.applied = e.index;
    }
    r.node->Advance(rd);
    return true;
  }

  void Stabilize() {
    for (int steps = 0; steps < 100000; ++steps) {
      bool moved = false;
      for (auto& [id, r] : replicas_) moved |= ProcessReady(id);
      while (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        moved = true;
        Replica& to = *replicas_.at(m.to.value());
        if (!to.node) continue;  // down: lost
        absl::Status s = to.node->Step(std::move(m));
        EXPECT_TRUE(s.ok()) << s;
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "cluster did not stabilize";
  }

  void TickAll(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, r] : replicas_) {
        if (r->node) r->node->Tick();
      }
      Stabilize();
    }
  }

  uint64_t Leader() {
    for (auto& [id, r] : replicas_) {
      if (r->node && r->node->role() == raft::Role::kLeader) return id;
    }
    return 0;
  }

 private:
  std::map<uint64_t, std::unique_ptr<Replica>> replicas_;
  std::deque<Message> queue_;
};

// Proposes `count` batches through the leader, a few per Ready.
uint64_t ProposeBatches(Cluster& c, uint64_t leader, int count, uint64_t seed0) {
  uint64_t records = 0;
  for (int i = 0; i < count; ++i) {
    const int n = 1 + static_cast<int>((seed0 + i) % 4);
    records += n;
    absl::Status s = c.node(leader).Propose(MakeBatch(n, seed0 + i, /*proposed_base=*/0));
    EXPECT_TRUE(s.ok()) << s;
    if (i % 5 == 4) c.Stabilize();
  }
  c.Stabilize();
  return records;
}

std::string ReadAll(const storage::PartitionLog& log, storage::Offset from) {
  storage::ReadOptions o;
  o.max_bytes = 64 << 20;
  auto r = log.Read(from, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::string(r->batches.begin(), r->batches.end()) : std::string();
}

void ExpectReplicasIdentical(Cluster& c, uint64_t expected_records, storage::Offset from) {
  const std::string want = ReadAll(c.replica(1).storage->log(), from);
  EXPECT_FALSE(want.empty());
  for (uint64_t id = 1; id <= 3; ++id) {
    SCOPED_TRACE("replica " + std::to_string(id));
    const Replica& r = c.replica(id);
    EXPECT_EQ(r.storage->log().next_offset(), storage::Offset(expected_records));
    EXPECT_EQ(r.storage->LastIndex(), c.replica(1).storage->LastIndex());
    EXPECT_EQ(r.storage->hard_state().commit, r.storage->LastIndex());
    EXPECT_EQ(ReadAll(r.storage->log(), from), want);
  }
}

TEST(PartitionRaftClusterTest, ReplicasStoreIdenticalBytesAndARestartedNodeCatchesUp) {
  Cluster c;
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Stabilize();
  ASSERT_EQ(c.Leader(), 1u);

  uint64_t records = ProposeBatches(c, 1, 100, 1);
  ExpectReplicasIdentical(c, records, storage::Offset(0));
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(c.replica(id).applied_records, records);
  // The log reads back as dense offsets: every batch's base offset follows
  // the previous one.
  {
    const std::string bytes = ReadAll(c.replica(2).storage->log(), storage::Offset(0));
    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    int64_t next = 0;
    int batches = 0;
    while (!rest.empty()) {
      auto h = storage::ParseBatchHeader(rest);
      ASSERT_TRUE(h.ok()) << h.status();
      EXPECT_EQ(h->base_offset, next);
      next = h->last_offset() + 1;
      const size_t size = static_cast<size_t>(h->batch_length) + 12;
      ASSERT_LE(size, rest.size());
      rest = rest.subspan(size);
      ++batches;
    }
    EXPECT_EQ(batches, 100);
    EXPECT_EQ(next, static_cast<int64_t>(records));
  }

  // Node 3 crashes; the others go on; it restarts from disk and catches up.
  c.Stop(3);
  records += ProposeBatches(c, 1, 30, 1000);
  c.Start(3);
  c.TickAll(5);
  ExpectReplicasIdentical(c, records, storage::Offset(0));
  EXPECT_EQ(c.replica(3).applied_records, c.replica(1).applied_records);
}

TEST(PartitionRaftClusterTest, NodeBehindTheLeadersLogStartCatchesUpBySnapshot) {
  Cluster c;
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Stabilize();
  ASSERT_EQ(c.Leader(), 1u);
  uint64_t records = ProposeBatches(c, 1, 20, 1);
  c.Stop(3);
  records += ProposeBatches(c, 1, 20, 500);
  // Leader and node 2 compact past everything node 3 has.
  for (uint64_t id : {1u, 2u}) {
    Replica& r = c.replica(id);
    ASSERT_TRUE(r.storage->Compact(r.applied - 3, Voters()).ok());
  }
  const LogIndex snap_index = c.replica(1).storage->FirstIndex() - 1;
  c.Start(3);
  c.TickAll(5);
  Replica& r3 = c.replica(3);
  EXPECT_EQ(r3.storage->FirstIndex(), snap_index + 1);
  EXPECT_EQ(r3.storage->GetSnapshot()->metadata.index, snap_index);
  EXPECT_EQ(r3.storage->LastIndex(), c.replica(1).storage->LastIndex());
  // Offsets after the snapshot match the leader byte for byte.
  const storage::Offset start = c.replica(1).storage->log().log_start_offset();
  EXPECT_EQ(r3.storage->log().log_start_offset(), start);
  ExpectReplicasIdentical(c, records, start);
  // And it survives another restart.
  c.Stop(3);
  c.Start(3);
  EXPECT_EQ(c.replica(3).storage->FirstIndex(), snap_index + 1);
  records += ProposeBatches(c, 1, 5, 900);
  c.TickAll(3);
  ExpectReplicasIdentical(c, records, start);
}

}  // namespace
}  // namespace raftlog::broker
