// ReplicaManager: makes this node's partition replicas follow the applied
// metadata, on every node (the metadata decides, each node acts locally):
//   - RECONCILE: every partition whose replicas include this node gets its
//     Raft group (Node::EnsureGroup with the partition's replicas as voters);
//     a hosted group that the metadata no longer names is stopped and its
//     directory deleted (Node::RemoveGroup: a deleted topic's disk is freed).
//   - PREFERRED LEADERS: a partition led here whose preferred leader
//     (replicas[0]) is another registered, unfenced broker that has the whole
//     log (match == last index, recently active) gets its leadership handed
//     to it, so leaders spread evenly again after a node returns (Kafka's
//     auto.leader.rebalance, decided per partition by its current leader).
//   - AMNESIA RECOVERY (Node::recovering(), startup_probe.h): ends once the
//     metadata group has caught up, a pass has reconciled the replicas from
//     metadata applied at least that far, and every hosted group has caught
//     up too; then `on_recovered` runs (it removes the marker file and calls
//     Node::EndRecovery; on failure it is tried again next pass).
//   - METADATA LOG: once the metadata group holds more than
//     `metadata_compact_entries` applied entries, its log prefix is dropped
//     (the state machine's snapshot covers it).
//
// SAFETY OF REMOVAL: the local metadata may lag (a node back from a long
// sleep). A group is removed only if its id is below the applied state's
// next_partition_group_id: its creation has been applied here, so its
// absence from every topic means it was deleted. A group created by a
// command not applied here yet has an id at or above that counter and is
// kept. Counters are read before topics, so the check stays on the safe
// side while applies continue.
//
// THREADS: one background thread, woken by Notify() (the metadata group's
// on_applied callback: cheap, never blocks) and at least every
// `resync_interval`; passes are at least `min_pass_interval` apart so a
// burst of applies (offset commits) costs one pass. Stop() joins it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "broker/metadata_state_machine.h"
#include "broker/node.h"

namespace raftlog::broker {

struct ReplicaManagerOptions {
  std::chrono::milliseconds resync_interval{1000};
  std::chrono::milliseconds min_pass_interval{50};
  // How often partitions led here are checked for their preferred leader;
  // 0 disables balancing.
  std::chrono::milliseconds leader_balance_interval{5000};
  uint64_t metadata_compact_entries = 10000;
  // Ends amnesia recovery; returns false to be called again later.
  std::function<bool()> on_recovered;
};

struct ReconcileReport {
  std::vector<GroupId> created;
  std::vector<GroupId> removed;
  std::vector<GroupId> transferred;  // leadership handed to the preferred leader
  bool recovery_ended = false;       // amnesia recovery ended in this pass
  absl::Status status;               // the first failure of the pass (it goes on)
};

class ReplicaManager {
 public:
  // `node` and `state` (the node's metadata state machine) must outlive this.
  ReplicaManager(Node* node, MetadataStateMachine* state, ReplicaManagerOptions options = {});
  ~ReplicaManager();
  ReplicaManager(const ReplicaManager&) = delete;
  ReplicaManager& operator=(const ReplicaManager&) = delete;

  void Start();
  void Stop();
  // Something was applied to the metadata: run a pass soon. Any thread.
  void Notify();

  // One pass now, on the caller's thread (tests; the background thread runs
  // the same). `balance_leaders` also checks preferred leaders.
  ReconcileReport RunOnce(bool balance_leaders);

 private:
  void Loop();
  // Partition groups this node should host: group id -> voters.
  absl::StatusOr<std::map<GroupId, std::vector<raft::NodeId>>> Desired(
      uint64_t& next_group_id, std::map<GroupId, raft::NodeId>& preferred) const;
  void BalanceLeaders(const std::map<GroupId, raft::NodeId>& preferred, ReconcileReport& report);
  void MaybeCompactMetadata(ReconcileReport& report);
  // See AMNESIA RECOVERY; `applied_before` is the metadata applied index read
  // before this pass read the desired replicas.
  void MaybeEndRecovery(raft::LogIndex applied_before, ReconcileReport& report);

  Node* const node_;
  MetadataStateMachine* const state_;
  const ReplicaManagerOptions options_;
  // The metadata group's commit index when it was first seen caught up.
  std::optional<raft::LogIndex> metadata_recovered_at_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace raftlog::broker
