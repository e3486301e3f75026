// Node metrics: registers a collector on a MetricsRegistry that, per scrape,
// reads the node's status once and emits per-group and per-node series:
//   raftlog_group_role{group}                 0 follower, 1 pre-candidate, 2 candidate, 3 leader
//   raftlog_group_term{group}, raftlog_group_commit_index{group},
//   raftlog_group_applied_index{group}, raftlog_group_last_index{group}
//   raftlog_group_leader{group}               leader node id (0 unknown)
//   raftlog_group_follower_lag{group,follower} entries behind (leader only)
//   raftlog_partition_high_watermark{group}, raftlog_partition_log_end_offset{group}
//   raftlog_node_groups, raftlog_node_groups_led, raftlog_node_groups_failed
//   raftlog_node_rounds_total, raftlog_node_readys_total,
//   raftlog_node_synced_readys_total (the group-commit ratio is
//   synced_readys / rounds), raftlog_node_ticks_total,
//   raftlog_node_journal_syncs_total, raftlog_node_checkpoints_total
//   raftlog_transport_peer_connected{peer}, raftlog_transport_batches_sent_total{peer},
//   raftlog_transport_messages_dropped_total{peer}
// Scrapes cost one loop-thread status pass; Prometheus scrapes every few
// seconds, so this is cheap even with 1,000 groups.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/metrics.h"
#include "broker/node.h"
#include "broker/transport.h"

namespace raftlog::broker {

// Registers the collector; `node` must outlive its removal (RemoveCollector
// with the returned id before the node goes).
absl::StatusOr<MetricsRegistry::CollectorId> RegisterNodeMetrics(
    MetricsRegistry& registry, Node* node, std::function<std::vector<PeerStats>()> peer_stats);

}  // namespace raftlog::broker
