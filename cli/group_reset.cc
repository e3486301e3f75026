// Topic specs and new offsets for `raftlogctl group reset-offsets`.
#include "cli/group_reset.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace raftlog::cli {

absl::StatusOr<TopicSpec> ParseTopicSpec(const std::string& text) {
  TopicSpec spec;
  const size_t colon = text.find(':');
  spec.topic = text.substr(0, colon);
  if (spec.topic.empty()) {
    return absl::InvalidArgumentError("--topic \"" + text + "\": no topic name");
  }
  if (colon == std::string::npos) return spec;
  for (absl::string_view p : absl::StrSplit(text.substr(colon + 1), ',')) {
    int32_t n = 0;
    if (!absl::SimpleAtoi(p, &n) || n < 0) {
      return absl::InvalidArgumentError("--topic \"" + text +
                                        "\": partitions must be like orders:0,2");
    }
    spec.partitions.push_back(n);
  }
  std::sort(spec.partitions.begin(), spec.partitions.end());
  spec.partitions.erase(std::unique(spec.partitions.begin(), spec.partitions.end()),
                        spec.partitions.end());
  return spec;
}

absl::StatusOr<int64_t> NewOffset(ResetMode mode, int64_t value, const PartitionOffsets& p) {
  int64_t target = 0;
  switch (mode) {
    case ResetMode::kEarliest:
      target = p.earliest;
      break;
    case ResetMode::kLatest:
      target = p.latest;
      break;
    case ResetMode::kOffset:
      target = value;
      break;
    case ResetMode::kTimestamp:
      target = p.at_timestamp < 0 ? p.latest : p.at_timestamp;
      break;
    case ResetMode::kShiftBy:
      if (!p.committed.has_value()) {
        return absl::FailedPreconditionError("no committed offset to shift");
      }
      target = *p.committed + value;
      break;
  }
  return std::clamp(target, p.earliest, std::max(p.earliest, p.latest));
}

}  // namespace raftlog::cli
