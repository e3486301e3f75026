// The metadata Raft group (group 0) as a Node hosts it: RocksDbRaftStorage
// for its log, MetadataStateMachine applied on the same database, and the
// storage's snapshot hooks wired to the state machine (a snapshot is the
// state machine's checksummed dump; installing one restores it).
//
// INVARIANTS: the state machine lives inside the group (destroyed before the
// storage whose database it uses); the MetadataStateMachine* handed out for
// reads stays valid for the Node's lifetime (group 0 is never removed).
// `on_applied` runs on the node's loop thread after every apply or restore
// and must not block (it typically wakes a watcher thread).
#pragma once

#include <any>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "broker/group_state_machine.h"
#include "broker/metadata_state_machine.h"
#include "broker/node.h"
#include "raft/types.h"

namespace raftlog::broker {

// Feeds committed metadata entries to a MetadataStateMachine. Entries that
// are not commands (the leader's empty entry, membership changes) are
// applied as empty commands: rejected, but they move the applied index.
class MetadataApplier final : public GroupStateMachine {
 public:
  MetadataApplier(std::unique_ptr<MetadataStateMachine> state,
                  std::function<void(raft::LogIndex)> on_applied);

  raft::LogIndex applied_index() const override { return state_->applied_index(); }
  // The outcome is a broker::ApplyResult.
  absl::StatusOr<std::any> ApplyEntry(const raft::Entry& entry) override;
  void NotifyRestored(raft::LogIndex index) override;

  MetadataStateMachine* state() { return state_.get(); }

 private:
  std::unique_ptr<MetadataStateMachine> state_;
  std::function<void(raft::LogIndex)> on_applied_;
};

// Opens (or creates) the metadata group's database in `dir` with bootstrap
// membership `initial`, for NodeOptions::open_metadata. `*state` receives
// the state machine for reads on any thread.
absl::StatusOr<MetadataHost> OpenMetadataHost(const std::string& dir,
                                              const raft::ConfState& initial,
                                              std::function<void(raft::LogIndex)> on_applied,
                                              MetadataStateMachine** state);

}  // namespace raftlog::broker
