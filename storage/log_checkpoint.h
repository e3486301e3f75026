// The log-start checkpoint: a small file recording where the log starts when
// that is not simply "the first frame of the first segment" (after
// DropPrefix*, retention, or ResetTo for a snapshot install). Written
// atomically (write temp + fsync + rename + fsync dir), so it is either the
// old or the new value after a crash, never a mix.
//
// Format of "log-start.checkpoint" (36 bytes, big-endian):
//    0 u32 magic 0x524C5343 ("RLSC")
//    4 u32 version 1
//    8 i64 start_offset   first readable offset (may be mid-batch)
//   16 i64 start_index    first readable Raft index
//   24 i64 prev_term      term of entry start_index - 1 (0 if none)
//   32 u32 crc            CRC-32C of bytes [0, 32)
// A file that fails these checks is DataLoss: it is never treated as absent.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "storage/env.h"
#include "storage/log_types.h"

namespace raftlog::storage {

inline constexpr char kLogStartCheckpointName[] = "log-start.checkpoint";

struct LogStart {
  Offset offset;
  RaftIndex index{1};
  Term prev_term;
  friend bool operator==(const LogStart&, const LogStart&) = default;
};

// nullopt if the file does not exist.
absl::StatusOr<std::optional<LogStart>> ReadLogStart(Env* env, const std::string& dir);
absl::Status WriteLogStart(Env* env, const std::string& dir, const LogStart& start);

}  // namespace raftlog::storage
