// RaftGroup: one Raft group hosted by a node: its storage, its RawNode, the
// proposals waiting for commit, and the figures other threads may read
// without locking (role, leader, commit, high watermark) as atomics.
//
// Threads: everything but the atomics and partition_log() is touched only by
// the node's loop thread (and its storage by one sync-pool worker at a time
// while the loop waits for the round). Other threads hold a
// std::shared_ptr<RaftGroup> so a removed group stays valid while they read.
//
// Invariants: pending_ is keyed by the last index of each proposal, ascending;
// a proposal succeeds when its last entry is applied with the term it was
// proposed in (Log Matching then covers its earlier entries) and fails when
// an entry of another term is applied at that index. A read (ReadIndex) is
// answered only once applied_ has reached its confirmed read index, so what
// the caller then reads locally reflects every write acknowledged before the
// read began.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/group_state_machine.h"
#include "broker/group_storage.h"
#include "broker/idempotence.h"
#include "broker/partition_raft_storage.h"
#include "broker/transport.h"
#include "raft/raw_node.h"

namespace raftlog::broker {

inline constexpr GroupId kMetadataGroup = 0;

// What a committed proposal reports: one (index, base offset, outcome) per
// entry; base offsets are -1 for groups that are not partitions, outcomes
// are empty unless the group has a GroupStateMachine (the metadata group's
// hold a broker::ApplyResult).
struct ProposeResult {
  std::vector<raft::LogIndex> indexes;
  std::vector<int64_t> base_offsets;
  std::vector<std::any> outcomes;
};
using ProposeCallback = std::function<void(absl::StatusOr<ProposeResult>)>;
// A linearizable read barrier's answer: the read index, reached by applied.
using ReadIndexCallback = std::function<void(absl::StatusOr<raft::LogIndex>)>;

class RaftGroup {
 public:
  // `partition` is the same object as `storage` for partition groups and
  // null for the metadata group; `state_machine` (may be null) is applied
  // every committed entry and is destroyed before the storage.
  RaftGroup(GroupId id, std::unique_ptr<GroupStorage> storage, PartitionRaftStorage* partition,
            std::unique_ptr<raft::RawNode> node,
            std::unique_ptr<GroupStateMachine> state_machine = nullptr);
  ~RaftGroup();  // Fails pending proposals ("group stopped").
  RaftGroup(const RaftGroup&) = delete;
  RaftGroup& operator=(const RaftGroup&) = delete;

  GroupId id() const { return id_; }
  raft::RawNode& node() { return *node_; }
  GroupStorage& storage() { return *storage_; }
  bool is_partition() const { return partition_ != nullptr; }
  PartitionRaftStorage* partition() { return partition_; }
  GroupStateMachine* state_machine() { return state_machine_.get(); }

  // ---- loop thread ----
  // Proposes entries; `done` runs on the loop thread once all are committed
  // (or the proposal is known to be lost, or after `timeout` with its
  // outcome unknown).
  // `appended` (optional; acks=1) runs once the entries are durable in
  // this leader's own log, with the same result `done` would carry, before
  // they are known committed; it is not called if the proposal fails first.
  void Propose(std::vector<std::string> entries, ProposeCallback done,
               std::chrono::milliseconds timeout = std::chrono::seconds(30),
               ProposeCallback appended = nullptr);
  // After a Ready's entries were made durable: runs the `appended`
  // callbacks of the proposals they completed.
  void NotifyAppended(const raft::Ready& rd);
  // Asks for a linearizable read barrier [6.4]: `done` gets the read index
  // once this replica has applied it, or Unavailable (no leader known) or
  // DeadlineExceeded (leadership lost or the quorum unreachable: no answer
  // within `timeout`; safe to retry).
  void ReadIndex(ReadIndexCallback done, std::chrono::milliseconds timeout);
  // Step 4 of the Ready contract for this group: applies committed entries
  // to the state machine, resolves proposals and reads, moves applied and
  // the high watermark. Errors are storage errors (fatal).
  absl::Status Apply(const raft::Ready& rd);
  // Fails every pending proposal and read with `why` (group stopped or failed).
  void FailPending(const absl::Status& why);
  // Fails, with DEADLINE_EXCEEDED "outcome unknown", proposals older than
  // their timeout (e.g. a deposed leader cut off from the new one: its entry
  // is neither committed nor overwritten while it stays cut off), and reads
  // older than theirs.
  void ExpirePending(std::chrono::steady_clock::time_point now);
  bool has_pending() const { return !pending_.empty() || !reads_.empty(); }
  // Refreshes the atomics below from the RawNode.
  void PublishStatus();
  // Marks the group failed (storage error): it takes no more work.
  void Fail(absl::Status why);
  const absl::Status& failure() const { return failure_; }
  raft::LogIndex applied() const { return applied_; }
  // Whether the node's loop has this group in its list of groups that may
  // have a Ready (node.cc, ROUND CANDIDATES); the node's bookkeeping.
  bool round_candidate() const { return round_candidate_; }
  void set_round_candidate(bool v) { round_candidate_ = v; }

  // ---- any thread ----
  bool is_leader() const { return is_leader_.load(std::memory_order_acquire); }
  raft::NodeId leader() const { return raft::NodeId(leader_.load(std::memory_order_acquire)); }
  // The term this replica is in (as of the last round).
  uint64_t term() const { return term_.load(std::memory_order_acquire); }
  // First offset not yet known committed (partition groups; 0 otherwise).
  int64_t high_watermark() const { return high_watermark_.load(std::memory_order_acquire); }
  // Read-only view of the partition log (partition groups only); safe for
  // concurrent readers.
  const storage::PartitionLog* partition_log() const {
    return partition_ ? &partition_->log() : nullptr;
  }

 private:
  struct Pending {
    raft::Term term;
    raft::LogIndex first;
    ProposeCallback done;
    std::chrono::steady_clock::time_point deadline;
    ProposeCallback appended;  // null once called (or never wanted)
    // Idempotent retries of exactly these batches that arrived while they
    // were pending: answered with the same result.
    std::vector<ProposeCallback> retries;
  };
  struct PendingRead {
    ReadIndexCallback done;
    std::chrono::steady_clock::time_point deadline;
    std::optional<raft::LogIndex> index;  // set once the leader confirmed it
  };
  // Resolves pending proposals whose last index is <= `index`, given the
  // term of the applied entry at each.
  void ResolveUpTo(const raft::Entry& applied_entry);
  absl::StatusOr<ProposeResult> ResultFor(raft::LogIndex first, raft::LogIndex last);
  // Resolves one proposal: its callback, its retries, the producer state.
  void Finish(Pending& p, absl::StatusOr<ProposeResult> result);
  // Answers the reads whose confirmed index applied_ has reached.
  void AnswerReads();
  // Partition groups: writes into bytes 0..7 of each proposed batch the base
  // offset the log will assign it if the log still ends as predicted, so
  // that every replica's tail cache can share the payload instead of
  // copying it to stamp the offset (partition_raft_storage.h, TAIL CACHE).
  // Returns the offset after the last batch, or -1 if nothing is known (the
  // batches are then left as they are). Only a hint: the log assigns the
  // real offsets whatever the bytes say.
  int64_t StampPredictedOffsets(std::vector<std::string>& entries);

  const GroupId id_;
  std::unique_ptr<GroupStorage> storage_;
  PartitionRaftStorage* partition_;
  std::unique_ptr<raft::RawNode> node_;
  std::unique_ptr<GroupStateMachine> state_machine_;
  std::unique_ptr<PartitionIdempotence> idempotence_;  // partition groups
  std::map<raft::LogIndex, Pending> pending_;          // by last index
  // State machine outcomes of applied entries a pending proposal covers,
  // until it is resolved.
  std::map<raft::LogIndex, std::any> outcomes_;
  std::map<uint64_t, PendingRead> reads_;  // by request number (the read's context)
  uint64_t next_read_ = 1;
  raft::LogIndex applied_;
  absl::Status failure_;
  bool round_candidate_ = false;
  // The offset after the last batch this node proposed, valid while the log
  // still ends at `index` in `term` (StampPredictedOffsets).
  struct OffsetPrediction {
    raft::Term term;
    raft::LogIndex index;
    int64_t next = -1;
  };
  OffsetPrediction predicted_;

  std::atomic<bool> is_leader_{false};
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<int64_t> high_watermark_{0};
};

}  // namespace raftlog::broker
