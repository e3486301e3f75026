// MetadataStateMachine: the metadata Raft group's (group 0) state machine:
// broker registry, topic registry with partition assignment, consumer-group
// committed offsets and producer-id allocation, kept as serialized protos
// (proto/raftlog/metadata/v1/metadata.proto) in the "state" column family of
// the RocksDbRaftStorage database. No networking, no clocks, no randomness.
//
// LAYOUT of the state column family (integers big-endian):
//   "applied_index"                 u64: last log index applied
//   "broker/" u64 node id           Broker
//   "topic/" name                   Topic
//   "topic_id/" 16-byte id          the topic's name (ids are unique)
//   "offset/" group \0 topic \0 u32 partition   CommittedOffset
//   "counters"                      Counters (producer ids, partition group ids)
// Group ids may not contain '\0' and topic names cannot, so the offset keys of
// one group form one prefix and sort by (topic, partition); a group exists in
// this state exactly while it has an offset key (DeleteGroupOffsets removes
// them all, DeleteTopic those of the topic), there is no separate group record.
//
// INVARIANTS:
//   - Apply is deterministic: its result and its writes depend only on the
//     command bytes, the log index and the column family's content (no clock,
//     no random source, no in-memory state); records are serialized
//     deterministically. Same commands => byte-identical column family.
//   - Every Apply writes the change AND "applied_index" in ONE WriteBatch
//     (PITFALLS #5), so after any crash the state is exactly the state after
//     applied_index(). A command rejected by validation (bad input, topic
//     exists, unknown topic...) is still consumed: only the applied index
//     changes, and every replica rejects it the same way.
//   - Apply(index) with index <= applied_index() does nothing (already
//     applied, e.g. replay after a restart or after restoring a snapshot that
//     was ahead of its Raft snapshot index); the host should still start the
//     Raft core with Config::applied = applied_index().
//   - Writes use sync=false with the WAL on: a crash may lose a suffix of
//     applies (never part of one), which the host re-applies from the Raft
//     log. The storage's fsyncs (SyncReady, Compact) flush our WAL records
//     too, since the column families share one WAL.
//
// SNAPSHOTS: DESIGN.md names RocksDB checkpoints as the eventual form. Here a
// snapshot is a full scan of the state column family (taken from one RocksDB
// snapshot, so consistent) into one self-describing, checksummed string,
// which is simpler to ship over the wire and small for metadata:
//   "RLMDSNAP" | u32 version (1) | u64 applied index | u64 entry count |
//   entries (u32 key len | key | u32 value len | value, keys ascending) |
//   u32 CRC-32C of every byte before it.
// Restore verifies all of it before touching anything, then replaces the
// column family's content in one WriteBatch (DeleteRange + puts).
//
// THREAD SAFETY: Apply and Restore from one thread at a time (the apply
// loop). The read methods may run concurrently with them: each reads one
// RocksDB view, so it sees the state before or after a whole batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "raft/types.h"
#include "raftlog/metadata/v1/metadata.pb.h"
#include "rocksdb/db.h"

namespace raftlog::broker {

namespace mdpb = ::raftlog::metadata::v1;

// Validation limits (Kafka's where Kafka has one).
inline constexpr size_t kMaxTopicNameLength = 249;
inline constexpr int32_t kMaxPartitionsPerTopic = 10000;
inline constexpr size_t kMaxGroupIdLength = 255;
inline constexpr size_t kMaxOffsetMetadataBytes = 4096;  // offset.metadata.max.bytes
inline constexpr int32_t kMaxProducerIdBlock = 1 << 20;
inline constexpr size_t kTopicIdBytes = 16;

// The outcome of applying one log entry.
struct ApplyResult {
  raft::LogIndex index;
  // OK, or the deterministic application-level rejection (InvalidArgument,
  // NotFound, AlreadyExists, FailedPrecondition) recorded as applied anyway.
  absl::Status status;
  // index <= applied_index() when Apply was called: nothing was done.
  bool already_applied = false;
  // On success, the record the command created or changed:
  std::optional<mdpb::Topic> topic;    // CreateTopic, AlterTopicConfig, CreatePartitions
  std::optional<mdpb::Broker> broker;  // RegisterBroker, BrokerHeartbeat, FenceBroker
  std::optional<mdpb::ProducerIdBlock> producer_ids;  // AllocateProducerIds
  // DeleteGroupOffsets: how many committed offsets it deleted (0: none).
  std::optional<int64_t> deleted_offsets;
};

// One consumer group with committed offsets (ListCommittedGroups).
struct CommittedGroup {
  std::string group;
  int32_t partitions = 0;       // (topic, partition)s with a committed offset
  int32_t max_generation = -1;  // highest generation a commit recorded (-1: simple consumers)
  int64_t last_commit_time_ms = 0;
};

class MetadataStateMachine {
 public:
  // Loads the applied index from `state_cf` of `db` (both must outlive this
  // object; RocksDbRaftStorage::db()/state_cf()). DataLoss if it is damaged.
  static absl::StatusOr<std::unique_ptr<MetadataStateMachine>> Open(
      rocksdb::DB* db, rocksdb::ColumnFamilyHandle* state_cf);

  // Use Open(); only it can name PrivateTag.
 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  MetadataStateMachine(PrivateTag, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* state_cf,
                       uint64_t applied);
  MetadataStateMachine(const MetadataStateMachine&) = delete;
  MetadataStateMachine& operator=(const MetadataStateMachine&) = delete;

  // Applies the serialized MetadataCommand at log `index`. A non-OK StatusOr
  // is an infrastructure failure (RocksDB read/write error, damaged stored
  // record): nothing was applied and the host must stop applying. Undecodable
  // bytes are a deterministic rejection (result.status InvalidArgument).
  absl::StatusOr<ApplyResult> Apply(raft::LogIndex index, const std::string& command_bytes);

  raft::LogIndex applied_index() const { return raft::LogIndex(applied_index_.load()); }

  // ---- Reads (from the local state; linearizability is the caller's job) ----
  // All topics, by name.
  absl::StatusOr<std::vector<mdpb::Topic>> ListTopics() const;
  // NotFound if there is no such topic.
  absl::StatusOr<mdpb::Topic> GetTopic(absl::string_view name) const;
  // All registered brokers (fenced ones too), by node id.
  absl::StatusOr<std::vector<mdpb::Broker>> ListBrokers() const;
  // The group's committed offsets by (topic, partition); empty if none.
  absl::StatusOr<std::vector<mdpb::CommittedOffset>> GetCommittedOffsets(
      absl::string_view group) const;
  // Every group with at least one committed offset, by group id (from one
  // consistent view).
  absl::StatusOr<std::vector<CommittedGroup>> ListCommittedGroups() const;
  // The allocation counters. Group ids below next_partition_group_id were
  // allocated by an applied command: such a group that no topic names any
  // more belonged to a deleted topic (or removed partitions).
  absl::StatusOr<mdpb::Counters> GetCounters() const;
  // Replicas hosted per registered broker over all topics (0 for a broker
  // with none): the `existing` input of AssignReplicas.
  absl::StatusOr<std::map<uint64_t, int64_t>> ReplicaCountsByBroker() const;

  // ---- Snapshots (format in the file comment) ----
  // The whole state as of applied_index() (it may be ahead of a Raft
  // snapshot index: the receiver then skips the entries it already holds).
  absl::StatusOr<std::string> Snapshot() const;
  // Snapshot() for RocksDbRaftStorage::SnapshotSource: Unavailable (the core
  // retries) if the state has not applied `index` yet, since a snapshot
  // behind its index would make the receiver miss entries (PITFALLS #7).
  absl::StatusOr<std::string> SnapshotCovering(raft::LogIndex index) const;
  // Replaces the whole state with `snapshot`. DataLoss (nothing changed) if
  // it is damaged; FailedPrecondition for an unknown version.
  absl::Status Restore(const std::string& snapshot);
  // The applied index a snapshot carries, after the same checks as Restore.
  static absl::StatusOr<raft::LogIndex> SnapshotAppliedIndex(const std::string& snapshot);

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  std::atomic<uint64_t> applied_index_;
};

// ---- Validation and configuration helpers (pure) ----

// OK if `name` is a legal topic name: 1..249 characters of [a-zA-Z0-9._-],
// not "." or "..". InvalidArgument naming the problem otherwise.
absl::Status ValidateTopicName(absl::string_view name);

// OK if `key` is a supported topic config and `value` is in range:
//   retention.ms, retention.bytes   -1 (unlimited) or >= 0
//   segment.bytes                   >= 1048576 (1 MiB)
//   segment.ms                      >= 1
//   cleanup.policy                  delete | compact
//   max.message.bytes               1 .. 67108864 (64 MiB)
// Integers are plain decimal ("-1", "1000"), no spaces or '+'.
absl::Status ValidateTopicConfig(absl::string_view key, absl::string_view value);

// Kafka's defaults for every supported config key.
const std::map<std::string, std::string>& DefaultTopicConfigs();

// The topic's effective configs: its explicitly set keys over the defaults
// (defaults are applied at describe time, never stored).
std::map<std::string, std::string> EffectiveTopicConfigs(const mdpb::Topic& topic);

// Places `replication_factor` replicas of each of `partitions` partitions on
// `live_brokers` (distinct ids) Kafka style: brokers are ordered by their
// `existing` replica count (missing = 0), then id, so the least loaded lead
// first; partition p's preferred leader is broker (p mod n) in that order and
// its followers follow at a shift that rotates every n partitions, so
// replicas and preferred leaders are both balanced and a partition's replicas
// are distinct. Deterministic. InvalidArgument if partitions < 1, rf < 1, rf
// > number of brokers, or a broker id is 0 or repeated. The partitions are
// numbered first_partition .. first_partition + partitions - 1 (CreatePartitions
// passes the current count).
absl::StatusOr<std::vector<mdpb::PartitionAssignment>> AssignReplicas(
    int32_t partitions, int32_t replication_factor, const std::vector<uint64_t>& live_brokers,
    const std::map<uint64_t, int64_t>& existing = {}, int32_t first_partition = 0);

}  // namespace raftlog::broker
