// How a node that starts on an EMPTY data directory joins its cluster
// (PITFALLS #14: losing a disk while keeping the node id).
//
// An empty directory is either a brand-new cluster member or a node whose
// disk was lost (wiped, replaced) under its old id. The second has forgotten
// its votes and the entries it acknowledged, so it must not vote until it has
// caught up (raft::Config::recovering, Node::BeginRecovery). The node cannot
// tell the two apart alone; its peers can (NodeAdmin.Identity, answered as
// soon as a server listens):
//   - a peer of the same cluster that has data -> kReplacement;
//   - a majority of the cluster (this node included) answered without data,
//     and none with -> kNewCluster (every member is new);
//   - otherwise undecided: keep asking (a lone empty node whose peers are
//     all down must not guess).
// The decision is made durable as a marker file in the data directory
// (RECOVERING) before the node starts, so a restart in the middle of the
// recovery resumes it; the marker is removed when the recovery ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace raftlog::broker {

enum class EmptyDirectoryStart { kNewCluster, kReplacement };

struct PeerIdentityAnswer {
  raft::NodeId node;
  bool has_data = false;
};

// The rule above. `answers`: peers of this cluster that answered (others are
// unreachable or of another cluster); `cluster_size` counts this node.
std::optional<EmptyDirectoryStart> DecideEmptyDirectoryStart(
    size_t cluster_size, const std::vector<PeerIdentityAnswer>& answers);

struct StartupProbeOptions {
  std::string cluster_id;
  raft::NodeId self;
  std::map<raft::NodeId, std::string> peers;  // every member, self included
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds rpc_timeout{1000};
  // Polled between rounds; true aborts the probe (Cancelled).
  std::function<bool()> stop;
};

// Asks every other peer's NodeAdmin.Identity, round after round, until the
// rule decides. Logs who it is waiting for every 10 s.
absl::StatusOr<EmptyDirectoryStart> ProbePeersFromEmptyDirectory(const StartupProbeOptions& o);

// The marker file "<data_dir>/RECOVERING" (written with fsync of the file and
// the directory; removal also syncs the directory).
inline constexpr char kRecoveringMarkerFileName[] = "RECOVERING";
absl::StatusOr<bool> RecoveringMarkerExists(const std::string& data_dir);
absl::Status WriteRecoveringMarker(const std::string& data_dir);
absl::Status RemoveRecoveringMarker(const std::string& data_dir);

}  // namespace raftlog::broker
