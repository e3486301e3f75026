// Chained CRC-32C over a range of Raft log entries (log_checksum.h).
#include "broker/log_checksum.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

constexpr uint64_t kChunkBytes = 4u << 20;

uint32_t ExtendU64(uint32_t crc, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  return storage::Crc32cExtend(crc, b, sizeof(b));
}

}  // namespace

absl::StatusOr<LogChecksum> ChecksumLogRange(const raft::LogStorage& log, raft::LogIndex from,
                                             raft::LogIndex to) {
  if (from.value() == 0 || from > to || from < log.FirstIndex() || to > log.LastIndex()) {
    return absl::OutOfRangeError(
        absl::StrFormat("range [%d, %d] is not inside this replica's log [%d, %d]", from.value(),
                        to.value(), log.FirstIndex().value(), log.LastIndex().value()));
  }
  LogChecksum sum{from, to, 0, 0};
  raft::LogIndex next = from;
  while (next <= to) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        log.Entries(next, raft::LogIndex(to.value() + 1), kChunkBytes);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) {
      return absl::InternalError(absl::StrFormat("no entry at index %d", next.value()));
    }
    for (const raft::Entry& e : *entries) {
      if (e.index != next) {
        return absl::DataLossError(absl::StrFormat("expected entry %d, the log returned %d",
                                                   next.value(), e.index.value()));
      }
      sum.crc32c = ExtendU64(sum.crc32c, e.index.value());
      sum.crc32c = ExtendU64(sum.crc32c, e.term.value());
      sum.crc32c = storage::Crc32cExtend(sum.crc32c, e.data.data(), e.data.size());
      ++sum.entries;
      next = raft::LogIndex(next.value() + 1);
    }
  }
  return sum;
}

}  // namespace raftlog::broker
