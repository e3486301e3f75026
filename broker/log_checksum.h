// Checksum of a range of a Raft log, so that replicas of one group can be
// compared (the fault-injection suite's "divergent replicas" check, exposed
// by NodeAdmin.LogChecksum).
//
// The CRC-32C is chained over every entry in [from, to] in index order: the
// entry's index and term as 8-byte little-endian integers, then its payload.
// Two replicas whose entries in the range are identical get the same value;
// the entry type is not covered (it follows from the payload's origin).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftlog::broker {

struct LogChecksum {
  raft::LogIndex from;
  raft::LogIndex to;
  uint64_t entries = 0;
  uint32_t crc32c = 0;
};

// Reads [from, to] from `log` in bounded chunks. OutOfRange unless
// FirstIndex() <= from <= to <= LastIndex() (the caller bounds `to` by the
// commit index); storage errors as returned by Entries().
absl::StatusOr<LogChecksum> ChecksumLogRange(const raft::LogStorage& log, raft::LogIndex from,
                                             raft::LogIndex to);

}  // namespace raftlog::broker
