// A decoded Kafka record: what a producer sends and a consumer receives.
// Invariant: a key/value of std::nullopt is Kafka's null (length -1), which is
// distinct from an empty string (length 0); header keys are never null.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raftlog::storage {

struct RecordHeader {
  std::string key;
  std::optional<std::string> value;

  friend bool operator==(const RecordHeader&, const RecordHeader&) = default;
};

struct Record {
  int64_t offset = 0;     // absolute: baseOffset + offsetDelta
  int64_t timestamp = 0;  // absolute: baseTimestamp + timestampDelta
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<RecordHeader> headers;

  friend bool operator==(const Record&, const Record&) = default;
};

}  // namespace raftlog::storage
