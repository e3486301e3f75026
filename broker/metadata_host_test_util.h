// HostMetadataGroup: makes a test node (LocalCluster, NodeOptions) host the
// metadata group of a 3-node cluster (voters 1, 2, 3) in
// <data_dir>/metadata, publishing its state machine in states[id] for the
// test to read (set when the node starts).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "broker/metadata_group.h"
#include "broker/node.h"

namespace raftlog::broker::testing {

inline void HostMetadataGroup(NodeOptions& o, std::map<uint64_t, MetadataStateMachine*>& states,
                              std::function<void(raft::LogIndex)> on_applied = nullptr) {
  const uint64_t id = o.id.value();
  o.metadata_voters = raft::ConfState{{raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)}, {}};
  o.open_metadata = [&states, id, dir = o.data_dir + "/metadata",
                     on_applied = std::move(on_applied)](const raft::ConfState& conf) {
    return OpenMetadataHost(dir, conf, on_applied, &states[id]);
  };
}

}  // namespace raftlog::broker::testing
