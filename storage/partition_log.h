// PartitionLog: the segmented, append-only log of ONE partition, which is also
// that partition's Raft log (DESIGN.md decision 2: no second copy).
//
// Every entry has a Raft index and term. Data entries (EntryType::kData) carry
// exactly one Kafka RecordBatch v2, stored byte for byte as given except the
// base offset, which the log assigns from its tail (next_offset) and patches in
// place (outside the batch CRC). Other entries (EntryType::kRaft: no-op,
// config change, anything opaque to storage) carry opaque bytes and take no
// offsets. Invariants, checked on every append and on recovery:
//   - Raft indexes are dense and contiguous over all entries: first_index() ..
//     last_index(); terms never decrease along the log.
//   - Offsets are dense over data entries: log_start_offset() .. next_offset().
//   - flushed <= written: flushed_index() <= last_index(). What the caller
//     treats as committed must be <= flushed_index() (the log cannot check it).
// The on-disk format (segment files, indexes, checkpoint) is documented at the
// top of storage/segment.h; crash recovery is in storage/log_recovery.h.
//
// Thread safety: one appender at a time (Append, TruncateSuffix, DropPrefix*,
// ResetTo, ApplyRetention must come from one thread or be serialized by the
// caller); any number of concurrent readers (Read, ReadEntries, TermAt,
// OffsetForTimestamp, accessors) on other threads while the appender works.
// Sync/MaybeSync may run on a separate thread (e.g. a group-commit thread);
// the fsync itself runs without blocking readers or the appender. Readers
// hold a shared lock while they pread; the appender holds the exclusive lock
// while it pwrites (page cache), and also across the fsyncs of a segment roll,
// TruncateSuffix, DropPrefix*, ResetTo and ApplyRetention (rare operations).
// (All state is guarded by one absl::Mutex in partition_log.cc, with clang
// thread-safety annotations.)
// Contract for the Raft host: acknowledge an entry only once flushed_index()
// covers it (kEveryAppend: when Append returns; otherwise after Sync()).
//
// Cost of Open: every sealed segment's .index/.timeindex file is read
// (~24 bytes per index_interval_bytes of data, 0.6% of the log at the default
// 4 KiB) plus one frame header per sealed segment; only the active segment's
// tail after its last index entry is scanned and CRC-checked. Corruption in
// sealed data is found when it is read (DataLoss with file and byte position).
//
// Errors: every call returns a Status. A failed fsync, or a failed attempt to
// undo a failed write, is fatal to the object: it enters a failed state and
// every later call returns that error (never retry an fsync: "fsyncgate").
// Reopen from disk to recover what was durable.
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
#include "storage/log_types.h"

namespace raftlog::storage {

enum class FsyncPolicy {
  kEveryAppend,  // Append returns after fdatasync of what it wrote.
  kInterval,     // Append syncs when fsync_interval_ms passed since the last sync.
  kNever,        // Only explicit Sync() calls (and segment rolls) fsync.
};

struct PartitionLogOptions {
  Env* env = Env::Posix();
  // Roll to a new segment when the active one would exceed this many bytes...
  uint64_t segment_bytes = 128ull << 20;
  // ...or when its first entry is older than this (by `clock`). 0 = never.
  int64_t segment_ms = 7ll * 24 * 3600 * 1000;
  // A sparse index entry every this many bytes of frames (Kafka's
  // index.interval.bytes). The first frame of a segment is always indexed.
  uint32_t index_interval_bytes = 4096;
  // Retention (ApplyRetention): total bytes of all segments (-1 = unlimited)
  // and age of a segment's newest batch max timestamp (-1 = unlimited).
  int64_t retention_bytes = -1;
  int64_t retention_ms = -1;
  FsyncPolicy fsync_policy = FsyncPolicy::kEveryAppend;
  int64_t fsync_interval_ms = 10;
  // Preallocate each new active segment to segment_bytes (fallocate). On VMs
  // where the first write to fresh pages is much slower than a rewrite, this
  // moves that cost out of the append path, and fdatasync need not journal
  // a size change. The file is cut to its real length when sealed.
  bool preallocate = false;
  // With fsync_policy kNever or kInterval and preallocate off: disk blocks
  // of the active segment are reserved ahead of its end in steps of this
  // many bytes (fallocate FALLOC_FL_KEEP_SIZE). The file size, and so what a
  // reader or recovery after a crash sees, is unchanged; sealing and
  // truncation release the unused rest. Page-cache appends then skip the
  // block allocation that makes a write to a new file slow on these VMs
  // (fsync off, 16 KiB appends: ~0.90x -> ~1.0x of a raw write() loop to a
  // new file; docs/BENCHMARKS.md). At most this much disk is held ahead per
  // active segment. Not with kEveryAppend: whole-segment preallocation made
  // fsync-per-16 KiB appends 15-20% slower (each fdatasync also writes out
  // the conversion of unwritten blocks). 0 = off.
  uint64_t reserve_ahead_bytes = 1ull << 20;
  // The caller guarantees every data payload passed ValidateBatch (its
  // RecordBatch CRC is right), so Append derives each frame CRC from the
  // batch CRC in O(log n) instead of a CRC pass over the payload (with the
  // folding CRC-32C, ~5-10% of the append cost at 1 MiB batches on AVX-512
  // CPUs; ~0.3 us either way at 16 KiB). Same bytes on disk when the
  // promise holds; if it does not, the batch fails its frame CRC on read
  // (DataLoss) and recovery may cut it as a torn tail if it lies in the
  // active segment.
  bool trust_batch_crc = false;
  // > 0: appends to the active segment gather in memory up to this many
  // bytes and reach the file in one write when the next would not fit, at
  // Sync, at roll and at close (storage/write_behind_file.h); an append of
  // 64 KiB or more is not copied but written at once, behind what is held.
  // Reads see them at once. Saves a write syscall per small append where
  // many logs take small appends, and the per-write cost of the page cache
  // for a single log (fsync off, 16 KiB appends: 64 KiB of buffer made them
  // 1.24x a raw write() loop instead of 0.86x; docs/BENCHMARKS.md); the
  // price: bytes not yet Synced are lost by a process crash too, not only
  // by a power failure, and up to this much memory per active log until
  // Sync. So use it only where they are durable elsewhere (raftlogd's node
  // journal) or their loss is accepted (fsync policy kNever). 0 = every
  // append is written at once.
  size_t write_buffer_bytes = 0;
  // Milliseconds since the epoch; injected for tests (segment age, retention,
  // fsync interval). Default: system clock.
  std::function<int64_t()> clock = nullptr;
};

// One entry to append. `payload` must stay valid for the Append call only.
struct AppendEntry {
  RaftIndex index{};
  Term term{};
  EntryType type = EntryType::kData;
  std::span<const uint8_t> payload{};
};

struct AppendResult {
  RaftIndex first_index{};  // index range appended, inclusive
  RaftIndex last_index{};
  Offset first_offset{};  // offset range assigned to data entries: [first, next)
  Offset next_offset{};   // == first_offset when no data entry was appended
};

// One stored entry, as the Raft layer reads it back.
struct LogEntry {
  RaftIndex index;
  Term term;
  EntryType type = EntryType::kData;
  // Data: the batch bytes (with its assigned base offset); kRaft: opaque bytes.
  std::vector<uint8_t> payload;
  // Data entries: the offsets the batch holds, [first_offset, next_offset).
  // kRaft entries: first_offset == next_offset == log next offset at that point.
  Offset first_offset;
  Offset next_offset;
};

struct ReadOptions {
  // Stop before a batch that would make the result exceed this; the first
  // batch is always returned whole, even if larger (Kafka fetch semantics).
  size_t max_bytes = 1 << 20;
  // Exclusive upper bound on offsets returned (e.g. the high watermark): a
  // batch is returned only if all its offsets are below it. Unset = log end.
  std::optional<Offset> max_offset = std::nullopt;
};

struct ReadResult {
  // Concatenated stored RecordBatch v2 bytes, byte-exact, in offset order.
  std::vector<uint8_t> batches;
  int batch_count = 0;
  Offset next_offset;       // offset after the last returned batch (== from if none)
  Offset log_start_offset;  // at the time of the read
  Offset log_end_offset;    // next_offset() at the time of the read
};

// The zero-copy form of ReadResult (PartitionLog::ReadView): the frames as
// read from the segment file(s), and where each returned batch lies in them,
// so a caller can writev/send the batches without copying them again.
struct BatchView {
  std::unique_ptr<uint8_t[]> data;  // frame bytes as read (headers included)
  size_t data_size = 0;
  // Each returned RecordBatch v2, byte-exact, in offset order; points into
  // `data`, so valid while it lives (moving the BatchView keeps it valid).
  std::vector<std::span<const uint8_t>> batches;
  size_t batches_bytes = 0;  // sum of the batch sizes
  Offset next_offset;        // as in ReadResult
  Offset log_start_offset;
  Offset log_end_offset;
};

// Result of finding a problem at open that was repaired or ignored.
struct OpenReport {
  // Human-readable notes (one per finding): torn tail cut at byte N of file F,
  // index rebuilt, foreign file ignored...
  std::vector<std::string> notes;
  // Files in the directory that are not ours; they are ignored, never deleted.
  std::vector<std::string> foreign_files;
  uint64_t truncated_bytes = 0;  // cut from the active segment's torn tail
  int indexes_rebuilt = 0;
};

struct LogState;

class PartitionLog {
 public:
  // Opens the log in `dir` (created if missing), recovering after a crash
  // (see log_recovery.h). Fails with DataLoss if something fsynced is corrupt
  // in a way recovery must not guess about.
  static absl::StatusOr<std::unique_ptr<PartitionLog>> Open(const std::string& dir,
                                                            PartitionLogOptions options,
                                                            OpenReport* report = nullptr);
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // ---- Writing (one appender) ----

  // Appends entries in order with one write per segment touched and at most
  // one fsync (per the policy). entries[0].index must be last_index()+1, the
  // rest contiguous, terms non-decreasing (InvalidArgument otherwise); a data
  // payload must be exactly one batch whose header parses (ParseBatchHeader)
  // with >= 1 offset (InvalidArgument). The batch CRC and records are not
  // checked here: the broker runs ValidateBatch before proposing. A segment
  // roll inside the call seals (fsyncs) the full segment. On a write error
  // (e.g. disk full: ResourceExhausted) nothing of this call stays visible or
  // on disk; if undoing it fails, the log enters the failed state.
  absl::StatusOr<AppendResult> Append(std::span<const AppendEntry> entries);
  absl::StatusOr<AppendResult> Append(const AppendEntry& entry) {
    return Append(std::span<const AppendEntry>(&entry, 1));
  }

  // fdatasync everything written so far (group commit: many appends, one
  // fsync). After OK, flushed_index() >= last_index() at the time of the call.
  absl::Status Sync();
  // Syncs if the policy is kInterval and the interval has passed.
  absl::Status MaybeSync();

  // Drops every entry with index > `last_kept` (Raft conflict resolution); may
  // remove whole later segments. Durable when it returns (fsyncs). Requires
  // first_index()-1 <= last_kept (OutOfRange otherwise); a no-op if
  // last_kept >= last_index(). last_kept == first_index()-1 empties the log
  // and restarts it at (first_index(), log_start_offset()) as ResetTo does.
  absl::Status TruncateSuffix(RaftIndex last_kept);

  // Makes everything below `offset` unreadable and records the new log start
  // durably (checkpoint file). Offset may be mid-batch (Kafka DeleteRecords);
  // whole segments entirely below it are deleted. Requires offset <= next_offset().
  absl::Status DropPrefixBeforeOffset(Offset offset);
  // The same by Raft index (snapshot compaction): entries < `index` go;
  // requires index <= last_index()+1.
  absl::Status DropPrefixBeforeIndex(RaftIndex index);

  // Discards the whole log and restarts it empty so that the next entry
  // appended gets index `next_index` and the next batch offset `next_offset`;
  // Term(next_index-1) then returns `prev_term` (snapshot install).
  absl::Status ResetTo(RaftIndex next_index, Term prev_term, Offset next_offset);

  // Deletes whole old segments (never the active one) beyond retention_bytes
  // or older than retention_ms, and only those entirely below `upper_bound`
  // (pass the high watermark / snapshot offset: retention must not eat
  // uncommitted entries). Returns the number of segments deleted.
  absl::StatusOr<int> ApplyRetention(Offset upper_bound);

  // ---- Reading (any thread) ----

  // Batches from the one containing `from` (Kafka semantics). from ==
  // next_offset() gives an empty result; from > next_offset() is OutOfRange
  // naming the log end; from < log_start_offset() is OutOfRange naming the
  // start. Corruption is DataLoss naming file and byte position.
  // Cost: one pread per segment touched, of about max_bytes plus frame
  // headers (another only if a frame runs past it), a CRC check per frame
  // and one copy into the result.
  absl::StatusOr<ReadResult> Read(Offset from, const ReadOptions& options = {}) const;
  // Read without the copy: the same batches, as spans into the read buffer.
  absl::StatusOr<BatchView> ReadView(Offset from, const ReadOptions& options = {}) const;

  // Entries with index in [from, to_exclusive), stopping once `max_bytes` of
  // payload is exceeded (at least one entry). Range must lie within
  // [first_index(), last_index()+1] (OutOfRange otherwise).
  absl::StatusOr<std::vector<LogEntry>> ReadEntries(RaftIndex from, RaftIndex to_exclusive,
                                                    size_t max_bytes = SIZE_MAX) const;

  // Term of entry `index`, for index in [first_index()-1, last_index()];
  // first_index()-1 answers the term recorded at the log start (0 if none).
  absl::StatusOr<Term> TermAt(RaftIndex index) const;

  // First offset whose batch has max timestamp >= `timestamp_ms`; nullopt if
  // none (Kafka ListOffsets by time).
  absl::StatusOr<std::optional<Offset>> OffsetForTimestamp(int64_t timestamp_ms) const;

  // ---- Accessors (consistent snapshots under the lock) ----
  RaftIndex first_index() const;  // == last_index()+1 when empty
  RaftIndex last_index() const;
  Term last_term() const;
  Offset log_start_offset() const;
  Offset next_offset() const;  // log end offset
  RaftIndex flushed_index() const;
  Offset flushed_offset() const;
  size_t segment_count() const;
  uint64_t size_bytes() const;  // all segment data files
  // OK, or the error that put the log into the failed state.
  absl::Status health() const;
  const std::string& dir() const { return dir_; }

 private:
  PartitionLog(std::string dir, PartitionLogOptions options);

  std::string dir_;
  PartitionLogOptions options_;
  std::unique_ptr<LogState> state_;  // defined in partition_log.cc
};

}  // namespace raftlog::storage
