// Config validation.
#include "raft/config.h"

namespace raftlog::raft {

absl::Status Config::Validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("config: id must be non-zero");
  if (heartbeat_tick < 1) return absl::InvalidArgumentError("config: heartbeat_tick must be >= 1");
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("config: election_tick must be > heartbeat_tick");
  }
  if (max_inflight_msgs < 1) {
    return absl::InvalidArgumentError("config: max_inflight_msgs must be >= 1");
  }
  if (snapshot_chunk_size < 1) {
    return absl::InvalidArgumentError("config: snapshot_chunk_size must be >= 1");
  }
  if (read_only_option == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return absl::InvalidArgumentError(
        "config: lease-based reads require check_quorum (PITFALLS #9)");
  }
  return absl::OkStatus();
}

}  // namespace raftlog::raft
