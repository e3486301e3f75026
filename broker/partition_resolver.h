// PartitionResolver: topic name + partition number -> the partition's Raft
// group id and the topic's max.message.bytes, from this node's applied
// metadata (MetadataStateMachine). Read on every produce, fetch and offset
// lookup, so topics are cached; a cached topic is used only while the
// metadata's applied index is the one it was read at (any applied command
// may have changed it), so the answer is never older than a fresh read
// would be.
//
// CONSISTENCY: local metadata, not a linearizable read (a node may lag the
// controller by a few entries); the partition's own Raft group decides
// whether this node may serve it.
//
// THREADS: any thread. The state may be set after construction (it exists
// only once the Node has opened the metadata group); until then Resolve is
// Unavailable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/metadata_state_machine.h"
#include "broker/transport.h"

namespace raftlog::broker {

struct PartitionTarget {
  GroupId group = 0;
  int64_t max_message_bytes = 0;  // the topic's effective max.message.bytes
};

class PartitionResolver {
 public:
  explicit PartitionResolver(MetadataStateMachine* state = nullptr) : state_(state) {}

  void SetState(MetadataStateMachine* state) { state_.store(state, std::memory_order_release); }
  MetadataStateMachine* state() const { return state_.load(std::memory_order_acquire); }

  // NotFound (unknown topic, or partition out of its range), Unavailable
  // (no metadata yet), or the metadata read error.
  absl::StatusOr<PartitionTarget> Resolve(const std::string& topic, int32_t partition);

 private:
  struct CachedTopic {
    uint64_t applied = 0;         // metadata applied index it was read at
    std::vector<GroupId> groups;  // by partition number
    int64_t max_message_bytes = 0;
  };

  std::atomic<MetadataStateMachine*> state_;
  std::mutex mu_;  // guards cache_
  std::unordered_map<std::string, std::shared_ptr<const CachedTopic>> cache_;
};

}  // namespace raftlog::broker
