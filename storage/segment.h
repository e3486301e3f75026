// Segment: one data file of the partition log plus its two sparse indexes.
//
// ============================== ON-DISK FORMAT ==============================
// A partition directory holds:
//   NNNNNNNNNNNNNNNNNNNN.log        frames (below); N = 20-digit zero-padded
//                                   base offset of the segment
//   NNNNNNNNNNNNNNNNNNNN.index      sparse offset/Raft-index index
//   NNNNNNNNNNNNNNNNNNNN.timeindex  sparse time index
//   log-start.checkpoint            the log start (log_checkpoint.h)
// Any other file is foreign: reported in OpenReport, ignored, never deleted.
// All integers are big-endian (as in Kafka's RecordBatch).
//
// .log: a sequence of frames, one per log entry, densely packed from byte 0:
//    0 u32 crc            CRC-32C (Castagnoli) of bytes [4, 48 + payload_length)
//    4 u32 payload_length <= 64 MiB
//    8 i64 raft_index     dense, +1 per frame, across segments
//   16 i64 term           never decreases
//   24 i64 base_offset    data: the batch's base offset (also bytes 0..7 of
//                         the payload); kRaft: the log's next offset there
//   32 i64 max_timestamp  data: the batch's maxTimestamp; kRaft: -1
//   40 u32 offset_count   data: lastOffsetDelta + 1 (>= 1); kRaft: 0
//   44 u8  type           1 = data (RecordBatch v2), 2 = kRaft (opaque)
//   45 u8[3] reserved     zero
//   48 payload            data: the RecordBatch v2 exactly as appended, with
//                         its base offset assigned by the log; kRaft: opaque
// Offsets are dense: each data frame's base_offset is the previous data
// frame's base_offset + offset_count. A 48-byte all-zero header marks the
// clean end of a preallocated file (a real header never is all zero: its
// type byte is 1 or 2).
// The active segment's .log may also hold disk blocks reserved past its
// size (reserve_ahead_bytes: fallocate KEEP_SIZE); they are not part of the
// file's contents, and sealing (or any truncation) releases them.
//
// .index: 24-byte entries, one for the first frame and then one for the
// first frame after every index_interval_bytes of frames:
//    0 u32 relative_offset        log next offset at the frame, minus base
//    4 u32 position               byte position of the frame in .log
//    8 i64 raft_index             of the frame (finds entries by Raft index)
//   16 i64 max_timestamp_before   max batch timestamp of earlier frames of
//                                 this segment, -1 if none
// .timeindex: 12-byte entries (i64 timestamp, u32 relative_offset), added at
// .index points when the timestamp grows, plus one when the segment is sealed:
// every batch of the segment whose base offset < base + relative_offset has
// maxTimestamp <= timestamp. So the last entry of a sealed segment holds its
// largest timestamp.
//
// Segment naming: a segment is rolled only before a data entry and only if
// the active segment already holds a data entry, so every segment but the
// first starts with a data frame at its base offset and base offsets strictly
// increase: two segments can never share a name even though kRaft entries take
// no offsets. segment[k+1].base == segment[k]'s next offset, and
// segment[k+1]'s first Raft index == segment[k]'s last + 1.
//
// Durability: frames are fdatasync'ed per the fsync policy. Sealing a segment
// (on roll) cuts it to its real length and syncs it and both indexes before
// the next segment file is created (and the directory synced), so a sealed
// segment is always complete and its indexes trustworthy after a crash. The
// active segment's indexes are not synced in steady state, and are written
// in ~4 KiB batches of entries: their files may lag the .log (recovery
// trusts whatever prefix matches the data and re-walks the rest).
//
// Torn tail: only the active (last) segment can end in a partial or
// unsynced frame. Recovery (log_recovery.h) verifies it from its last index
// entry that matches the data, frame by frame (header sanity, CRC, Raft index
// contiguity, term order, offset density), cuts the file at the first frame
// that fails, and rebuilds the active indexes. Frames before the cut are never
// changed. A frame failing its CRC inside a sealed segment, or before the
// verified point, is never taken for the end of the log: reads report DataLoss
// with file name and byte position.
// ============================================================================
//
// Thread safety: none; PartitionLog serializes (writer lock for mutations,
// reader lock for reads, which only use const methods).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/env.h"
#include "storage/log_entry_format.h"
#include "storage/log_types.h"
#include "storage/offset_index.h"

namespace raftlog::storage {

// "00000000000000000042" + ext (".log", ".index", ".timeindex").
std::string SegmentFileName(Offset base, const char* ext);
// Parses a segment file name; nullopt if `name` is not <20 digits><ext>.
std::optional<Offset> ParseSegmentFileName(const std::string& name, const char* ext);

inline constexpr char kLogExt[] = ".log";
inline constexpr char kIndexExt[] = ".index";
inline constexpr char kTimeIndexExt[] = ".timeindex";

// Called for each frame; `frame` spans the header and, if the scan loaded it,
// the payload (frame.size() == h.frame_size() then). Return false to stop.
using FrameVisitor =
    std::function<bool(const FrameHeader& h, uint64_t pos, std::span<const uint8_t> frame)>;

struct ScanOptions {
  bool verify_crc = true;     // also implies loading payloads
  bool load_payload = false;  // pass full frames to the visitor
  bool zero_header_is_end = false;
  size_t chunk_bytes = 64 << 10;
};

// Visits frames of `file` from byte `pos` up to `end`. Stops OK at `end`, at a
// zero header if allowed, or when the visitor returns false. A bad header, a
// frame crossing `end`, or a CRC mismatch is DataLoss "<path> at byte N: why".
// *stop_pos (if given) is set to where scanning stopped: the position of the
// failing frame, of the frame the visitor declined, or the end.
absl::Status ScanFrames(const File& file, const std::string& path, uint64_t pos, uint64_t end,
                        const ScanOptions& options, const FrameVisitor& visit,
                        uint64_t* stop_pos = nullptr);

// A growable byte buffer for reads: unlike std::vector it does not zero-fill
// what pread is about to overwrite. Release() hands the bytes to the caller.
class ReadBuffer {
 public:
  uint8_t* data() { return buf_.get(); }
  const uint8_t* data() const { return buf_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  // Grows the buffer by `n` uninitialized bytes (may move the data).
  void Extend(size_t n);
  // Drops bytes from the end (new_size <= size()).
  void ShrinkTo(size_t new_size) { size_ = new_size; }
  std::unique_ptr<uint8_t[]> Release() {
    size_ = cap_ = 0;
    return std::move(buf_);
  }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// State of a PartitionLog::Read across segments: its bounds going in, the
// batches found so far coming out (as positions in the ReadBuffer).
struct BatchCollector {
  Offset from;           // return batches holding offsets >= from...
  Offset limit;          // ...whose offsets are all below limit...
  size_t max_bytes = 0;  // ...stopping before exceeding max_bytes (first batch always whole)
  struct Span {
    size_t pos;  // in the ReadBuffer
    size_t len;
  };
  std::vector<Span> batches;  // RecordBatch bytes (frame headers excluded)
  size_t bytes = 0;           // sum of batches[i].len
  Offset next_offset;         // after the last batch found (from, if none)
  bool done = false;          // a bound was reached: read no further segment
};

struct SegmentConfig {
  uint32_t index_interval_bytes = 4096;
  bool preallocate = false;
  uint64_t preallocate_bytes = 0;  // the log's segment_bytes
  // > 0: before an append that passes the reserved end, reserve the active
  // segment's disk blocks (File::Reserve: the file size is unchanged) up to
  // the next multiple of this, but not past max(preallocate_bytes, the
  // append's end). Sealing releases what was not used.
  uint64_t reserve_ahead_bytes = 0;
  // > 0: the active segment's appends gather in memory up to this many
  // bytes before one write (write_behind_file.h; PartitionLogOptions).
  size_t write_buffer_bytes = 0;
};

// Everything known about a segment's contents; filled by Create, recovery,
// and kept up to date by Append/Truncate.
struct SegmentState {
  Offset base_offset;
  RaftIndex first_index;  // index of the first frame (or the next, if empty)
  RaftIndex next_index;   // last frame's index + 1
  Offset next_offset;     // offset after the last batch
  Term last_term;         // term of the last frame (prev term if empty)
  uint64_t size = 0;      // bytes of valid frames == logical end of .log
  int64_t max_timestamp = -1;
  int64_t roll_base_ms = 0;  // age origin for segment_ms
  uint64_t bytes_since_index = 0;
  bool sealed = false;
};

class Segment {
 public:
  // Creates fresh files (existing ones are truncated). The caller syncs the dir.
  static absl::StatusOr<std::unique_ptr<Segment>> Create(Env* env, const std::string& dir,
                                                         Offset base, RaftIndex first_index,
                                                         Term prev_term, const SegmentConfig& cfg,
                                                         int64_t now_ms);
  // Used by recovery with validated parts.
  Segment(Env* env, std::string dir, SegmentConfig cfg, std::shared_ptr<File> log,
          std::unique_ptr<OffsetIndex> index, std::unique_ptr<TimeIndex> time_index,
          SegmentState state);

  const SegmentState& state() const { return st_; }
  Offset base_offset() const { return st_.base_offset; }
  RaftIndex first_index() const { return st_.first_index; }
  RaftIndex next_index() const { return st_.next_index; }
  Offset next_offset() const { return st_.next_offset; }
  uint64_t size() const { return st_.size; }
  bool empty() const { return st_.next_index == st_.first_index; }
  bool has_data() const { return st_.next_offset > st_.base_offset; }
  bool sealed() const { return st_.sealed; }
  std::string log_path() const;
  const std::vector<OffsetIndexEntry>& index_entries() const { return index_->entries(); }
  const std::vector<TimeIndexEntry>& time_entries() const { return time_index_->entries(); }
  std::shared_ptr<File> log_file() const { return log_; }

  // Writes encoded frames (whose headers are `headers`, in order) at the end
  // with one gather write: the frames are the concatenation of `pieces`
  // (e.g. each frame's head from EncodeFrameHead, then its payload).
  // On error the file and indexes are cut back; the segment is unchanged
  // unless the returned status is kInternal with "undo failed" (fatal).
  absl::Status Append(std::span<const std::span<const uint8_t>> pieces,
                      std::span<const FrameHeader> headers);
  absl::Status SyncData() { return log_->Sync(); }
  // SyncData in two steps: writing out held appends (a failure is a write
  // error: nothing lost), then the fdatasync alone.
  absl::Status FlushData() { return log_->Flush(); }
  absl::Status SyncWrittenData() { return log_->SyncWritten(); }
  // Cuts preallocation and releases reserved blocks, adds the final time
  // entry, syncs data and indexes.
  // *sync_failed tells a failed fsync (fatal to the log) from a failed write
  // (e.g. disk full; the segment is then left active and unchanged).
  absl::Status Seal(bool* sync_failed);
  // Drops frames with index > last_kept (last_kept >= first_index()-1).
  // `prev_term` is the log's term before this segment (used when emptied).
  absl::Status TruncateAfter(RaftIndex last_kept, Term prev_term);
  // Deletes the files: indexes first, then .log.
  absl::Status RemoveFiles();

  // Byte position to start scanning from to find the frame holding `offset`
  // / the frame with Raft index `index` (from the sparse index).
  uint64_t ScanStartForOffset(Offset offset) const;
  uint64_t ScanStartForIndex(RaftIndex index) const;
  // Scan start for the first batch with max timestamp >= ts (time index).
  uint64_t ScanStartForTimestamp(int64_t ts) const;

  // The read path of PartitionLog::Read: appends to `buf` this segment's
  // frames from the indexed one at or before c->from, read with one pread
  // sized from c->max_bytes (another only if a frame runs past it), checks
  // each frame's header and CRC (DataLoss "<file> at byte N: why", as
  // ScanFrames), and records in `c` the data batches to return. A frame that
  // is not returned because a bound stops the read is not CRC-checked.
  absl::Status ReadBatches(ReadBuffer* buf, BatchCollector* c) const;

  // ScanFrames over this segment's valid bytes [pos, size()).
  absl::Status Scan(uint64_t pos, const ScanOptions& options, const FrameVisitor& visit) const;

 private:
  // Reserves blocks for an append ending at `end` (reserve_ahead_bytes).
  void ReserveAhead(uint64_t end);

  Env* const env_;
  const std::string dir_;
  const SegmentConfig cfg_;
  std::shared_ptr<File> log_;  // shared with Sync running outside the lock
  std::unique_ptr<OffsetIndex> index_;
  std::unique_ptr<TimeIndex> time_index_;
  SegmentState st_;
  // File bytes below this are known to be reserved or written (reserve_ahead_bytes).
  uint64_t reserved_end_ = 0;
  // Index entries being added by Append; members so appends do not allocate.
  std::vector<OffsetIndexEntry> new_index_;
  std::vector<TimeIndexEntry> new_time_;
};

}  // namespace raftlog::storage
