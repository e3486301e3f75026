// Opening a partition log directory after a clean shutdown or a crash. Kept
// apart from the steady-state code (as Kafka's LogLoader is).
//
// What recovery trusts and checks (cost: index files + one bounded tail scan,
// never the whole log):
//  - Sealed segments (all but the last) were synced with their indexes when
//    sealed. Their .index is validated cheaply: whole entries, ordered, first
//    entry at byte 0, last entry inside the file and pointing at a frame whose
//    header has that Raft index and offset (one small read). A missing or bad
//    .index is rebuilt by a full CRC-checked scan of that segment; a bad
//    .timeindex is rebuilt from the .index plus the segment's tail. A sealed
//    segment that fails the scan is DataLoss (never cut: it was synced).
//  - The active (last) segment: its .index is trusted up to the last entry
//    whose frame verifies (CRC, Raft index, offset); from there every frame is
//    checked (CRC, Raft index +1, term not decreasing, offsets dense, batch
//    header consistent) and the file is cut at the first frame that is torn
//    (partial, bad header, CRC mismatch): an unsynced tail. Both its indexes
//    are then rewritten. An active segment left empty by this is deleted and
//    the previous segment becomes active. A whole CRC-valid frame that does
//    not continue the log cannot come from a torn write: that is DataLoss.
//    Known limit: a bit flip in a synced frame of this checked tail region
//    (at most index_interval_bytes plus the last write) is indistinguishable
//    from a torn write and is cut (reported in OpenReport), not refused.
//  - Orphan index files (no .log) and a leftover checkpoint temp file are
//    deleted; foreign files are reported and left alone.
//  - log-start.checkpoint (if any) moves the log start forward; segments
//    wholly below it are deleted (finishing an interrupted DropPrefix).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/env.h"
#include "storage/log_checkpoint.h"
#include "storage/partition_log.h"
#include "storage/segment.h"

namespace raftlog::storage {

struct RecoveredLog {
  std::vector<std::unique_ptr<Segment>> segments;  // by base offset; >= 1; last is active
  LogStart start;                                  // effective log start
  RaftIndex last_index;                            // of the whole log
  Term last_term;
};

absl::StatusOr<RecoveredLog> RecoverLog(Env* env, const std::string& dir, const SegmentConfig& cfg,
                                        int64_t now_ms, OpenReport* report);

}  // namespace raftlog::storage
