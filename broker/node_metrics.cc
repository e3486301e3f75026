// Node metrics collector: see node_metrics.h.
#include "broker/node_metrics.h"

#include <string>

namespace raftlog::broker {
namespace {

double RoleValue(raft::Role r) {
  switch (r) {
    case raft::Role::kFollower:
      return 0;
    case raft::Role::kPreCandidate:
      return 1;
    case raft::Role::kCandidate:
      return 2;
    case raft::Role::kLeader:
      return 3;
  }
  return 0;
}

}  // namespace

absl::StatusOr<MetricsRegistry::CollectorId> RegisterNodeMetrics(
    MetricsRegistry& registry, Node* node, std::function<std::vector<PeerStats>()> peer_stats) {
  const MetricType G = MetricType::kGauge, C = MetricType::kCounter;
  std::vector<MetricFamilyInfo> families{
      {"raftlog_group_role", "Raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader", G},
      {"raftlog_group_term", "Current Raft term", G},
      {"raftlog_group_commit_index", "Highest index known committed", G},
      {"raftlog_group_applied_index", "Highest index applied", G},
      {"raftlog_group_last_index", "Last index in the local log", G},
      {"raftlog_group_leader", "Leader node id (0 = unknown)", G},
      {"raftlog_group_follower_lag", "Entries a follower is behind, as its leader sees it", G},
      {"raftlog_partition_high_watermark", "First offset not yet committed", G},
      {"raftlog_partition_log_end_offset", "Next offset to be assigned locally", G},
      {"raftlog_node_groups", "Raft groups hosted on this node", G},
      {"raftlog_node_groups_led", "Raft groups this node leads", G},
      {"raftlog_node_groups_failed", "Raft groups stopped after a storage error", G},
      {"raftlog_node_rounds_total", "Ready rounds run by the node loop", C},
      {"raftlog_node_readys_total", "Readys handled", C},
      {"raftlog_node_synced_readys_total", "Readys that needed a write/fsync", C},
      {"raftlog_node_ticks_total", "Logical clock ticks", C},
      {"raftlog_node_journal_syncs_total", "Rounds made durable by one journal fdatasync", C},
      {"raftlog_node_checkpoints_total", "Journal checkpoints completed", C},
      {"raftlog_transport_peer_connected", "1 if the stream to the peer is up", G},
      {"raftlog_transport_batches_sent_total", "Message batches sent to the peer", C},
      {"raftlog_transport_messages_dropped_total", "Messages to the peer dropped", C},
  };
  return registry.AddCollector(std::move(families), [node, peer_stats](MetricSampleSink& sink) {
    int led = 0, failed = 0;
    const std::vector<GroupStatusInfo> groups =
        node->Status({}).value_or(std::vector<GroupStatusInfo>{});
    for (const GroupStatusInfo& g : groups) {
      const MetricLabels l{{"group", std::to_string(g.group)}};
      sink.Add("raftlog_group_role", l, RoleValue(g.raft.role));
      sink.Add("raftlog_group_term", l, static_cast<double>(g.raft.term.value()));
      sink.Add("raftlog_group_commit_index", l, static_cast<double>(g.raft.commit.value()));
      sink.Add("raftlog_group_applied_index", l, static_cast<double>(g.raft.applied.value()));
      sink.Add("raftlog_group_last_index", l, static_cast<double>(g.raft.last_index.value()));
      sink.Add("raftlog_group_leader", l, static_cast<double>(g.raft.leader.value()));
      for (const FollowerStatus& f : g.followers) {
        sink.Add("raftlog_group_follower_lag",
                 {{"group", std::to_string(g.group)}, {"follower", std::to_string(f.node.value())}},
                 static_cast<double>(f.lag));
      }
      if (g.group != kMetadataGroup) {
        sink.Add("raftlog_partition_high_watermark", l, static_cast<double>(g.high_watermark));
        sink.Add("raftlog_partition_log_end_offset", l, static_cast<double>(g.log_end_offset));
      }
      if (g.raft.role == raft::Role::kLeader) ++led;
      if (!g.failure.empty()) ++failed;
    }
    sink.Add("raftlog_node_groups", {}, static_cast<double>(groups.size()));
    sink.Add("raftlog_node_groups_led", {}, led);
    sink.Add("raftlog_node_groups_failed", {}, failed);
    const NodeCounters c = node->Counters();
    sink.Add("raftlog_node_rounds_total", {}, static_cast<double>(c.rounds));
    sink.Add("raftlog_node_readys_total", {}, static_cast<double>(c.readys));
    sink.Add("raftlog_node_synced_readys_total", {}, static_cast<double>(c.synced_readys));
    sink.Add("raftlog_node_ticks_total", {}, static_cast<double>(c.ticks));
    sink.Add("raftlog_node_journal_syncs_total", {}, static_cast<double>(c.journal_syncs));
    sink.Add("raftlog_node_checkpoints_total", {}, static_cast<double>(c.checkpoints));
    if (peer_stats) {
      for (const PeerStats& p : peer_stats()) {
        const MetricLabels l{{"peer", std::to_string(p.id.value())}};
        sink.Add("raftlog_transport_peer_connected", l, p.connected ? 1 : 0);
        sink.Add("raftlog_transport_batches_sent_total", l, static_cast<double>(p.batches_sent));
        sink.Add("raftlog_transport_messages_dropped_total", l,
                 static_cast<double>(p.messages_dropped));
      }
    }
  });
}

}  // namespace raftlog::broker
