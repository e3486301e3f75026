// PartitionIdempotence: deduplication of idempotent producers' batches for
// one partition group (issue 6), on the node's loop thread.
//
// STATE: `committed_` is the producer table of the log up to the applied
// index, the same on every replica (built from a bounded scan of the log
// tail when the group opens, then from every applied entry), so a retry
// that reaches a NEW leader is still recognised. On the leader,
// `tentative_` adds the batches of its pending (proposed, not yet applied)
// proposals, rebuilt from committed_ + pending whenever it may be stale
// (an apply of producer batches, a leadership change). A proposal stays
// pending here until its index is applied (by then committed_ holds it, or
// another term's entry replaced it) even if its caller gave up waiting
// (timeout): its entry may still commit, so a retry must not be stored
// again meanwhile.
//
// PLAN for a produce request on the leader (its batches in order):
//   - all new: propose them all;
//   - a prefix already in the log + new rest: answer the prefix with its
//     original offsets and propose only the rest (kDuplicatePrefix; all
//     duplicates = nothing to propose);
//   - exactly the batches of one pending proposal (a retry while the first
//     attempt is still in flight): wait for that proposal (kAttach);
//   - otherwise out of order / fenced epoch: rejected, nothing stored.
// A leader answers Unavailable (retry) until it has applied the entries of
// earlier terms (its first entry of the term), since before that its
// committed_ may miss batches that are already in its log.
//
// LIMIT: the tail scan at open reads at most kScanEntries entries /
// kScanBytes bytes, so a producer silent for longer than that is unknown
// after a restart (it may then start at any sequence, as with Kafka's
// expired producer state).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/group_storage.h"
#include "broker/producer_state.h"
#include "raft/types.h"

namespace raftlog::broker {

class PartitionRaftStorage;

struct IdempotentPlan {
  enum class Kind { kProposeAll, kDuplicatePrefix, kAttach, kReject };
  Kind kind = Kind::kProposeAll;
  // kDuplicatePrefix: base offsets of the leading batches already in the
  // log; the batches from duplicate_base_offsets.size() on are new.
  std::vector<int64_t> duplicate_base_offsets;
  raft::LogIndex attach_to;  // kAttach: the pending proposal (its last index)
  absl::Status rejection;    // kReject
  // The producer batches of the entries to propose (for OnProposed).
  std::vector<ProducerBatch> new_batches;
};

class PartitionIdempotence {
 public:
  static constexpr uint64_t kScanEntries = 20000;
  static constexpr uint64_t kScanBytes = 16ull << 20;

  // Builds committed_ from the log entries up to `applied`.
  absl::Status LoadTail(const GroupStorage& storage, raft::LogIndex applied);
  // An applied entry (every replica), with its batch's real base offset.
  void OnApplied(const raft::Entry& entry, PartitionRaftStorage& storage);
  // Leadership changed; `last_index` is the log end when this replica
  // became leader (its term's first entry).
  void OnRoleChange(bool is_leader, raft::LogIndex last_index);

  // Whether `entries` carry producer ids at all (else no plan is needed).
  static bool AnyIdempotent(const std::vector<std::string>& entries);
  IdempotentPlan Plan(const std::vector<std::string>& entries, raft::LogIndex applied);
  // The plan's new batches were proposed as the proposal ending at `last`.
  void OnProposed(raft::LogIndex last, std::vector<ProducerBatch> batches);
  // A snapshot was installed: pending proposals up to `index` are gone.
  void OnSnapshot(raft::LogIndex index);
  // Whether the proposal ending at `last` is still pending here.
  bool IsPending(raft::LogIndex last) const { return pending_.count(last) > 0; }

  const ProducerStateTable& committed() const { return committed_; }

 private:
  void EnsureTentative();

  ProducerStateTable committed_;
  ProducerStateTable tentative_;
  bool tentative_valid_ = false;
  std::map<raft::LogIndex, std::vector<ProducerBatch>> pending_;  // by proposal last index
  raft::LogIndex ready_index_;  // leader: applied must reach it before planning
  bool is_leader_ = false;
};

// The producer fields of the RecordBatch v2 in `bytes` (producer_id -1 if
// none or unparsable); offsets from the batch header.
ProducerBatch ProducerBatchOf(std::string_view bytes);

}  // namespace raftlog::broker
