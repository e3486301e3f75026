// The sparse index files of a segment: OffsetIndex (<base>.index: offset,
// byte position and Raft index of every ~index_interval_bytes-th frame) and
// TimeIndex (<base>.timeindex: timestamp -> offset). Entry layouts are in the
// format description at the top of storage/segment.h. Indexes are not
// checksummed: they are derived data, validated on open and rebuilt from the
// segment when they do not fit it.
//
// Invariants (checked by Decode*): OffsetIndex entries have strictly
// increasing position and Raft index and non-decreasing relative offset; the
// first entry is the segment's first frame (position 0). TimeIndex entries
// have strictly increasing timestamp and non-decreasing relative offset.
// Not thread-safe: the owner (Segment, under the log's lock) serializes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "storage/env.h"
#include "storage/log_types.h"

namespace raftlog::storage {

struct OffsetIndexEntry {
  uint32_t relative_offset = 0;       // log next offset at this frame, minus segment base
  uint32_t position = 0;              // byte position of the frame in the .log file
  RaftIndex index;                    // Raft index of the frame
  int64_t max_timestamp_before = -1;  // max batch timestamp of frames before it
  friend bool operator==(const OffsetIndexEntry&, const OffsetIndexEntry&) = default;
};

struct TimeIndexEntry {
  // Every batch of the segment with base offset < base + relative_offset has
  // max timestamp <= timestamp.
  int64_t timestamp = -1;
  uint32_t relative_offset = 0;
  friend bool operator==(const TimeIndexEntry&, const TimeIndexEntry&) = default;
};

inline constexpr size_t kOffsetIndexEntrySize = 24;
inline constexpr size_t kTimeIndexEntrySize = 12;

void EncodeOffsetIndexEntry(const OffsetIndexEntry& e, std::vector<uint8_t>* out);
void EncodeTimeIndexEntry(const TimeIndexEntry& e, std::vector<uint8_t>* out);

// Decodes index file bytes into `out` (the longest valid prefix). Returns OK
// if all bytes formed valid entries, else InvalidArgument naming the first
// problem (partial trailing entry, order violation).
absl::Status DecodeOffsetIndex(std::span<const uint8_t> bytes, std::vector<OffsetIndexEntry>* out);
absl::Status DecodeTimeIndex(std::span<const uint8_t> bytes, std::vector<TimeIndexEntry>* out);

// One index file plus its entries in memory. T is OffsetIndexEntry or
// TimeIndexEntry.
template <typename T>
class IndexFile {
 public:
  // `entries` must be what `file` holds.
  IndexFile(std::unique_ptr<File> file, std::vector<T> entries)
      : file_(std::move(file)), entries_(std::move(entries)), written_(entries_.size()) {}
  // Writes pending entries (best effort: the active index is rebuildable).
  ~IndexFile() { Flush().IgnoreError(); }
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  const std::vector<T>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  const T& back() const { return entries_.back(); }

  // Appends entries to memory at once and to the file in writes of about
  // kFlushBytes (Flush/Sync write the rest): one small write per append
  // would cost more than the frame write itself. So the file may lag memory
  // by a few KiB of entries until Sync: harmless, as only the active
  // segment's index is ever unsynced and recovery trusts any prefix of it
  // that matches the data and re-walks the rest. On a write error the file
  // is cut back to what it held and the new entries are dropped from memory.
  absl::Status Append(std::span<const T> entries);
  // Writes pending entries to the file (not synced).
  absl::Status Flush();
  // Keeps the first n entries (file truncated accordingly).
  absl::Status Truncate(size_t n);
  // Replaces the whole file contents with `entries`.
  absl::Status Rewrite(std::vector<T> entries);
  // Flush, then fdatasync.
  absl::Status Sync() {
    absl::Status s = Flush();
    return s.ok() ? file_->Sync() : s;
  }

 private:
  static constexpr size_t kSize =
      std::is_same_v<T, OffsetIndexEntry> ? kOffsetIndexEntrySize : kTimeIndexEntrySize;
  static void Encode(const T& e, std::vector<uint8_t>* out);

  static constexpr size_t kFlushBytes = 4096;

  std::unique_ptr<File> file_;
  std::vector<T> entries_;
  size_t written_ = 0;  // entries_[0, written_) are in the file
};

using OffsetIndex = IndexFile<OffsetIndexEntry>;
using TimeIndex = IndexFile<TimeIndexEntry>;

// Lookups on sorted entries; return entries.size() when none qualifies.
// Last entry with relative_offset <= rel.
size_t FindByOffset(const std::vector<OffsetIndexEntry>& entries, uint32_t rel);
// Last entry with index <= i.
size_t FindByIndex(const std::vector<OffsetIndexEntry>& entries, RaftIndex i);
// Last entry with timestamp < ts.
size_t FindBeforeTimestamp(const std::vector<TimeIndexEntry>& entries, int64_t ts);

}  // namespace raftlog::storage
