// GroupStateMachine: what a Raft group hosted by a Node applies its committed
// entries to, when it has more state than its log (the metadata group; a
// partition's log IS its state and needs none).
//
// CONTRACT (called on the node's loop thread only):
//   - ApplyEntry gets every committed entry in index order, exactly once per
//     index above applied_index() at the time the group was opened (the host
//     starts the Raft core at min(commit, applied_index())). Entries that are
//     not the application's (the leader's empty entry, membership changes)
//     come too, so the applied index can move past them.
//   - Its returned value is the entry's outcome for the proposer (std::any,
//     the concrete type is the state machine's: ProposeResult::outcomes).
//     A non-OK status is an infrastructure failure: the host stops the group.
//   - Snapshots are installed through the group's storage (its snapshot
//     sink), not through this interface; NotifyRestored tells the state
//     machine one was installed at `index`.
#pragma once

#include <any>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace raftlog::broker {

class GroupStateMachine {
 public:
  virtual ~GroupStateMachine() = default;
  virtual raft::LogIndex applied_index() const = 0;
  virtual absl::StatusOr<std::any> ApplyEntry(const raft::Entry& entry) = 0;
  virtual void NotifyRestored(raft::LogIndex index) = 0;
};

}  // namespace raftlog::broker
