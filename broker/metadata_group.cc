// The metadata group's storage + state machine, wired for the Node.
#include "broker/metadata_group.h"

#include <utility>

#include "broker/rocksdb_raft_storage.h"

namespace raftlog::broker {

MetadataApplier::MetadataApplier(std::unique_ptr<MetadataStateMachine> state,
                                 std::function<void(raft::LogIndex)> on_applied)
    : state_(std::move(state)), on_applied_(std::move(on_applied)) {}

absl::StatusOr<std::any> MetadataApplier::ApplyEntry(const raft::Entry& entry) {
  // Metadata commands are small: a copy is cheaper than a wider interface.
  const std::string bytes =
      entry.type == raft::EntryType::kNormal ? entry.data.ToString() : std::string();
  absl::StatusOr<ApplyResult> result = state_->Apply(entry.index, bytes);
  if (!result.ok()) return result.status();
  if (on_applied_) on_applied_(entry.index);
  return std::any(*std::move(result));
}

void MetadataApplier::NotifyRestored(raft::LogIndex index) {
  if (on_applied_) on_applied_(index);
}

absl::StatusOr<MetadataHost> OpenMetadataHost(const std::string& dir,
                                              const raft::ConfState& initial,
                                              std::function<void(raft::LogIndex)> on_applied,
                                              MetadataStateMachine** state) {
  absl::StatusOr<std::unique_ptr<RocksDbRaftStorage>> storage =
      RocksDbRaftStorage::Open(dir, initial);
  if (!storage.ok()) return storage.status();
  absl::StatusOr<std::unique_ptr<MetadataStateMachine>> sm =
      MetadataStateMachine::Open((*storage)->db(), (*storage)->state_cf());
  if (!sm.ok()) return sm.status();
  MetadataStateMachine* raw = sm->get();
  (*storage)->SetSnapshotSource(
      [raw](raft::LogIndex index) { return raw->SnapshotCovering(index); });
  (*storage)->SetSnapshotSink(
      [raw](const raft::Snapshot& snapshot) { return raw->Restore(snapshot.data); });
  auto applier = std::make_unique<MetadataApplier>(*std::move(sm), std::move(on_applied));
  if (state != nullptr) *state = applier->state();
  MetadataHost host;
  host.storage = *std::move(storage);
  host.state_machine = std::move(applier);
  return host;
}

}  // namespace raftlog::broker
