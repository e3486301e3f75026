// The pure part of `raftlogctl group reset-offsets`: parsing --topic specs
// and choosing each partition's new offset (kafka-consumer-groups rules).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace raftlog::cli {

// "orders" (every partition) or "orders:0,2" (those partitions).
struct TopicSpec {
  std::string topic;
  std::vector<int32_t> partitions;  // empty = all
};
absl::StatusOr<TopicSpec> ParseTopicSpec(const std::string& text);

enum class ResetMode { kEarliest, kLatest, kOffset, kTimestamp, kShiftBy };

// The offsets known for one partition when choosing its new offset.
struct PartitionOffsets {
  std::optional<int64_t> committed;  // the group's, if any
  int64_t earliest = 0;              // log start
  int64_t latest = 0;                // high watermark
  int64_t at_timestamp = -1;         // kTimestamp: first offset at/after it; -1 = none
};

// The new committed offset, always within [earliest, latest] (an offset
// outside is clamped, as Kafka does). kOffset takes `value` as the offset,
// kShiftBy as the shift (needs a committed offset: FailedPrecondition
// otherwise); kTimestamp with no record at/after the time gives latest.
absl::StatusOr<int64_t> NewOffset(ResetMode mode, int64_t value, const PartitionOffsets& p);

}  // namespace raftlog::cli
