// PartitionLog: locking, append/roll, sync, reads and log-start maintenance.
// Recovery on open is in log_recovery.cc; the on-disk format in segment.h.
#include "storage/partition_log.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "storage/log_checkpoint.h"
#include "storage/log_entry_format.h"
#include "storage/log_recovery.h"
#include "storage/record_batch_header.h"
#include "storage/segment.h"

namespace raftlog::storage {

// All mutable state of a PartitionLog. Invariants (under mu):
//   segments non-empty, sorted by base offset, last one active (unsealed);
//   last_index == segments.back()->next_index() - 1;
//   next_offset == segments.back()->next_offset();
//   start.index <= last_index + 1, start.offset <= next_offset;
//   flushed_index <= last_index.
struct LogState {
  mutable absl::Mutex mu;
  std::vector<std::unique_ptr<Segment>> segments ABSL_GUARDED_BY(mu);
  LogStart start ABSL_GUARDED_BY(mu);
  RaftIndex last_index ABSL_GUARDED_BY(mu);
  Term last_term ABSL_GUARDED_BY(mu);
  Offset next_offset ABSL_GUARDED_BY(mu);
  RaftIndex flushed_index ABSL_GUARDED_BY(mu);
  Offset flushed_offset ABSL_GUARDED_BY(mu);
  // Bumped by anything that rewrites the tail, so a Sync racing with it does
  // not claim entries it may not have covered.
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  int64_t last_sync_ms ABSL_GUARDED_BY(mu) = 0;
  absl::Status failed ABSL_GUARDED_BY(mu);
  // Append's scratch, kept between calls so that steady-state appends do not
  // allocate: the entries' frame headers, their encoded heads, and the pieces
  // (head, payload rest) written with one gather write per segment touched.
  // Payloads are never copied.
  std::vector<FrameHeader> append_headers ABSL_GUARDED_BY(mu);
  std::vector<FrameHead> append_heads ABSL_GUARDED_BY(mu);
  std::vector<std::span<const uint8_t>> append_pieces ABSL_GUARDED_BY(mu);
  // Serializes Sync calls (held without mu during fdatasync).
  absl::Mutex sync_mu ABSL_ACQUIRED_BEFORE(mu);
  // last_index as of the end of the latest critical section that held mu
  // exclusively (PublishLastIndexOnExit), so that last_index(), which Raft
  // hosts call around every append, needs no lock.
  std::atomic<int64_t> published_last_index{0};
};

// Declared right after every exclusive lock of st->mu: when the scope ends
// (before the unlock) publishes last_index for the lock-free last_index().
class PublishLastIndexOnExit {
 public:
  explicit PublishLastIndexOnExit(LogState* st) : st_(st) {}
  PublishLastIndexOnExit(const PublishLastIndexOnExit&) = delete;
  PublishLastIndexOnExit& operator=(const PublishLastIndexOnExit&) = delete;
  ~PublishLastIndexOnExit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    st_->published_last_index.store(st_->last_index.value(), std::memory_order_release);
  }

 private:
  LogState* const st_;
};

namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Index of the segment holding `offset` (the last with base <= offset).
size_t SegmentForOffset(const std::vector<std::unique_ptr<Segment>>& segs, Offset offset) {
  auto it = std::upper_bound(
      segs.begin(), segs.end(), offset,
      [](Offset o, const std::unique_ptr<Segment>& s) { return o < s->base_offset(); });
  return it == segs.begin() ? 0 : static_cast<size_t>(it - segs.begin() - 1);
}

size_t SegmentForIndex(const std::vector<std::unique_ptr<Segment>>& segs, RaftIndex index) {
  auto it = std::upper_bound(
      segs.begin(), segs.end(), index,
      [](RaftIndex i, const std::unique_ptr<Segment>& s) { return i < s->first_index(); });
  return it == segs.begin() ? 0 : static_cast<size_t>(it - segs.begin() - 1);
}

SegmentConfig ConfigFrom(const PartitionLogOptions& o) {
  return SegmentConfig{
      .index_interval_bytes = o.index_interval_bytes,
      .preallocate = o.preallocate,
      .preallocate_bytes = o.segment_bytes,
      .reserve_ahead_bytes =
          o.preallocate || o.fsync_policy == FsyncPolicy::kEveryAppend ? 0 : o.reserve_ahead_bytes,
      .write_buffer_bytes = o.write_buffer_bytes};
}

// Sets the failed state (first error wins) and returns it.
absl::Status Fail(LogState* st, const absl::Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) {
  if (st->failed.ok()) {
    st->failed = absl::InternalError(
        absl::StrFormat("partition log failed and must be reopened: %s", cause.ToString()));
  }
  return st->failed;
}

// Frame header of entry `index` (found via the sparse index), or DataLoss.
absl::StatusOr<FrameHeader> FindFrame(const LogState& st, RaftIndex index)
    ABSL_SHARED_LOCKS_REQUIRED(st.mu) {
  const Segment& seg = *st.segments[SegmentForIndex(st.segments, index)];
  std::optional<FrameHeader> found;
  // A lookup reads at most ~index_interval_bytes: keep the chunk small.
  absl::Status s = seg.Scan(seg.ScanStartForIndex(index), ScanOptions{.chunk_bytes = 8 << 10},
                            [&](const FrameHeader& h, uint64_t, std::span<const uint8_t>) {
                              if (h.index < index) return true;
                              if (h.index == index) found = h;
                              return false;
                            });
  if (!s.ok()) return s;
  if (!found) {
    return absl::DataLossError(
        absl::StrFormat("%s: entry %d missing", seg.log_path(), index.value()));
  }
  return *found;
}

absl::StatusOr<Term> TermLocked(const LogState& st, RaftIndex index)
    ABSL_SHARED_LOCKS_REQUIRED(st.mu) {
  if (index == st.start.index - 1) return st.start.prev_term;
  if (index < st.start.index - 1 || index > st.last_index) {
    return absl::OutOfRangeError(absl::StrFormat("no term for index %d: log holds [%d, %d]",
                                                 index.value(), st.start.index.value(),
                                                 st.last_index.value()));
  }
  if (index == st.last_index) return st.last_term;
  absl::StatusOr<FrameHeader> h = FindFrame(st, index);
  if (!h.ok()) return h.status();
  return h->term;
}

// Moves the log start forward: checkpoint first, then whole segments below it
// go (oldest first), so a crash in between leaves files recovery removes.
// The entries below the new start must be on disk before the start is, or
// a crash could leave a log whose start lies beyond its end (unopenable):
// with write-behind (or no fsync since) they may be only in memory.
absl::Status DropPrefixLocked(LogState* st, Env* env, const std::string& dir, const LogStart& ns)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) {
  if (ns.index - 1 > st->flushed_index) {
    Segment& active = *st->segments.back();
    if (absl::Status w = active.FlushData(); !w.ok()) return w;  // a write error: nothing lost
    if (absl::Status f = active.SyncWrittenData(); !f.ok()) return Fail(st, f);
    st->flushed_index = st->last_index;
    st->flushed_offset = st->next_offset;
  }
  absl::Status s = WriteLogStart(env, dir, ns);
  if (!s.ok()) return s;
  st->start = ns;
  bool removed = false;
  while (st->segments.size() > 1 && st->segments[1]->base_offset() <= ns.offset &&
         st->segments[1]->first_index() <= ns.index) {
    s = st->segments.front()->RemoveFiles();
    if (!s.ok()) return s;
    st->segments.erase(st->segments.begin());
    removed = true;
  }
  if (removed) return env->SyncDir(dir);
  return absl::OkStatus();
}

// Drops entries > last_kept, newest segments first; durable on OK. Errors
// are fatal (memory and disk may disagree), except a failure to write out
// held appends afterwards (disk full): the cut is done, not yet durable.
absl::Status TruncateLocked(LogState* st, Env* env, const std::string& dir, RaftIndex last_kept)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) {
  bool removed = false;
  absl::Status s;
  while (st->segments.size() > 1 && st->segments.back()->first_index() > last_kept) {
    s = st->segments.back()->RemoveFiles();
    if (!s.ok()) return Fail(st, s);
    st->segments.pop_back();
    removed = true;
  }
  if (removed) {
    s = env->SyncDir(dir);
    if (!s.ok()) return Fail(st, s);
  }
  Segment& active = *st->segments.back();
  s = active.TruncateAfter(last_kept, st->start.prev_term);
  if (!s.ok()) return Fail(st, s);
  st->last_index = active.next_index() - 1;
  st->last_term = active.empty() || st->last_index < st->start.index ? st->start.prev_term
                                                                     : active.state().last_term;
  st->next_offset = active.next_offset();
  ++st->generation;
  if (absl::Status w = active.FlushData(); !w.ok()) {
    st->flushed_index = std::min(st->flushed_index, st->last_index);
    st->flushed_offset = std::min(st->flushed_offset, st->next_offset);
    return w;
  }
  s = active.SyncWrittenData();
  if (!s.ok()) return Fail(st, s);
  st->flushed_index = st->last_index;
  st->flushed_offset = st->next_offset;
  return absl::OkStatus();
}

// Discards every segment and starts an empty log at (next_index,
// next_offset). Errors are fatal.
absl::Status ResetLocked(LogState* st, const PartitionLogOptions& o, const std::string& dir,
                         RaftIndex next_index, Term prev_term, Offset next_offset)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(st->mu) {
  // Newest first: a crash leaves a prefix of the old log, a valid state.
  while (!st->segments.empty()) {
    absl::Status s = st->segments.back()->RemoveFiles();
    if (!s.ok()) return Fail(st, s);
    st->segments.pop_back();
  }
  absl::Status s = o.env->SyncDir(dir);
  LogStart ns{next_offset, next_index, prev_term};
  if (s.ok()) s = WriteLogStart(o.env, dir, ns);
  if (!s.ok()) return Fail(st, s);
  absl::StatusOr<std::unique_ptr<Segment>> seg =
      Segment::Create(o.env, dir, next_offset, next_index, prev_term, ConfigFrom(o), o.clock());
  if (!seg.ok()) return Fail(st, seg.status());
  st->segments.push_back(std::move(*seg));
  s = o.env->SyncDir(dir);
  if (!s.ok()) return Fail(st, s);
  st->start = ns;
  st->last_index = next_index - 1;
  st->last_term = prev_term;
  st->next_offset = next_offset;
  st->flushed_index = st->last_index;
  st->flushed_offset = next_offset;
  ++st->generation;
  return absl::OkStatus();
}

}  // namespace

PartitionLog::PartitionLog(std::string dir, PartitionLogOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), state_(std::make_unique<LogState>()) {}

PartitionLog::~PartitionLog() = default;

absl::StatusOr<std::unique_ptr<PartitionLog>> PartitionLog::Open(const std::string& dir,
                                                                 PartitionLogOptions options,
                                                                 OpenReport* report) {
  if (options.env == nullptr) options.env = Env::Posix();
  if (!options.clock) options.clock = SystemNowMs;
  if (options.segment_bytes < 1024 || options.segment_bytes > (1ull << 31) ||
      options.index_interval_bytes == 0) {
    return absl::InvalidArgumentError(
        "segment_bytes must be in [1 KiB, 2 GiB] and index_interval_bytes > 0");
  }
  OpenReport local;
  if (report == nullptr) report = &local;
  const int64_t now = options.clock();
  absl::StatusOr<RecoveredLog> rec = RecoverLog(options.env, dir, ConfigFrom(options), now, report);
  if (!rec.ok()) return rec.status();
  // Everything recovered becomes durable now, so flushed == written holds.
  absl::Status s = rec->segments.back()->SyncData();
  if (!s.ok()) return s;
  std::unique_ptr<PartitionLog> log(new PartitionLog(dir, std::move(options)));
  LogState& st = *log->state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  st.segments = std::move(rec->segments);
  st.start = rec->start;
  st.last_index = rec->last_index;
  st.last_term = rec->last_term;
  st.next_offset = st.segments.back()->next_offset();
  st.flushed_index = st.last_index;
  st.flushed_offset = st.next_offset;
  st.last_sync_ms = now;
  return log;
}

absl::StatusOr<AppendResult> PartitionLog::Append(std::span<const AppendEntry> entries) {
  LogState& st = *state_;
  AppendResult result;
  bool need_sync = false;
  {
    absl::MutexLock l(&st.mu);
    PublishLastIndexOnExit publish(&st);
    if (!st.failed.ok()) return st.failed;
    result.first_index = st.last_index + 1;
    result.last_index = st.last_index;
    result.first_offset = result.next_offset = st.next_offset;
    if (entries.empty()) return result;
    // Validate everything before writing anything.
    RaftIndex expect = st.last_index + 1;
    Term term = st.last_term;
    // Scratch kept between calls, unless a huge call grew it.
    constexpr size_t kKeepEntries = 1024;
    if (st.append_headers.capacity() > std::max(entries.size(), kKeepEntries)) {
      st.append_headers = {};
      st.append_heads = {};
      st.append_pieces = {};
    }
    std::vector<FrameHeader>& headers = st.append_headers;
    headers.clear();
    headers.reserve(entries.size());
    Offset next = st.next_offset;
    for (const AppendEntry& e : entries) {
      if (e.index != expect) {
        return absl::InvalidArgumentError(
            absl::StrFormat("append: raft index %d is not contiguous (expected %d)",
                            e.index.value(), expect.value()));
      }
      if (e.term < term) {
        return absl::InvalidArgumentError(
            absl::StrFormat("append: term %d at index %d is below previous term %d", e.term.value(),
                            e.index.value(), term.value()));
      }
      if (e.payload.size() > kMaxFramePayload) {
        return absl::InvalidArgumentError("append: entry larger than 64 MiB");
      }
      FrameHeader h;
      h.index = e.index;
      h.term = e.term;
      h.type = e.type;
      h.payload_length = static_cast<uint32_t>(e.payload.size());
      h.base_offset = next;
      if (e.type == EntryType::kData) {
        absl::StatusOr<BatchHeader> b = ParseBatchHeader(e.payload);
        if (!b.ok()) {
          return absl::InvalidArgumentError(
              absl::StrFormat("append: index %d: %s", e.index.value(), b.status().message()));
        }
        if (b->size_bytes() != e.payload.size() || b->last_offset_delta < 0) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "append: index %d: payload must be exactly one batch with >= 1 offset",
              e.index.value()));
        }
        h.offset_count = static_cast<uint32_t>(b->last_offset_delta) + 1;
        h.max_timestamp = b->max_timestamp;
      } else if (e.type != EntryType::kRaft) {
        return absl::InvalidArgumentError("append: unknown entry type");
      }
      next = next + h.offset_count;
      term = e.term;
      ++expect;
      headers.push_back(h);
    }

    // Write, rolling before a data entry when the active segment is full or
    // old. One write per segment touched.
    const RaftIndex orig_last = st.last_index;
    const int64_t now = options_.clock();
    // Frames [batch_begin, i) are encoded and not yet written: their heads
    // are heads[batch_begin, i), their bytes pieces[piece_begin, end),
    // pending_bytes in all. Both vectors are sized up front: the pieces
    // point into heads, which must not move.
    std::vector<FrameHead>& heads = st.append_heads;
    std::vector<std::span<const uint8_t>>& pieces = st.append_pieces;
    heads.resize(entries.size());
    pieces.clear();
    pieces.reserve(2 * entries.size());
    uint64_t pending_bytes = 0;
    bool pending_data = false;  // a data frame is pending
    size_t batch_begin = 0;
    size_t piece_begin = 0;
    auto flush = [&](size_t end) -> absl::Status {
      st.mu.AssertHeld();  // called only below, under the lock
      if (batch_begin == end) return absl::OkStatus();
      absl::Status s = st.segments.back()->Append(
          std::span<const std::span<const uint8_t>>(pieces.data() + piece_begin,
                                                    pieces.size() - piece_begin),
          std::span<const FrameHeader>(headers.data() + batch_begin, end - batch_begin));
      if (!s.ok()) return s;
      st.last_index = headers[end - 1].index;
      st.last_term = headers[end - 1].term;
      st.next_offset = st.segments.back()->next_offset();
      pending_bytes = 0;
      pending_data = false;
      batch_begin = end;
      piece_begin = pieces.size();
      return absl::OkStatus();
    };
    absl::Status s;
    for (size_t i = 0; i < entries.size() && s.ok(); ++i) {
      const FrameHeader& h = headers[i];
      const Segment& active = *st.segments.back();
      if (h.type == EntryType::kData && (active.has_data() || pending_data)) {
        const uint64_t size_after = active.size() + pending_bytes + h.frame_size();
        const bool full = size_after > options_.segment_bytes;
        const bool old =
            options_.segment_ms > 0 && now - active.state().roll_base_ms >= options_.segment_ms;
        const bool offsets_full = h.next_offset() - active.base_offset() > INT32_MAX;
        if (full || old || offsets_full) {
          s = flush(i);
          if (s.ok()) {
            bool sync_failed = false;
            absl::Status seal = st.segments.back()->Seal(&sync_failed);
            if (sync_failed) return Fail(&st, seal);
            s = seal;
          }
          if (s.ok()) {
            st.flushed_index = st.last_index;
            st.flushed_offset = st.next_offset;
            absl::StatusOr<std::unique_ptr<Segment>> seg =
                Segment::Create(options_.env, dir_, st.next_offset, st.last_index + 1, st.last_term,
                                ConfigFrom(options_), now);
            if (seg.ok()) {
              st.segments.push_back(std::move(*seg));
              absl::Status ds = options_.env->SyncDir(dir_);
              if (!ds.ok()) return Fail(&st, ds);
            } else {
              // E.g. no space for the new files: not fatal, undone below.
              for (const char* ext : {kLogExt, kIndexExt, kTimeIndexExt}) {
                options_.env->RemoveFile(dir_ + "/" + SegmentFileName(st.next_offset, ext))
                    .IgnoreError();
              }
              s = seg.status();
            }
          }
        }
      }
      if (s.ok()) {
        const std::span<const uint8_t> payload = entries[i].payload;
        const size_t n = EncodeFrameHead(h, payload, &heads[i], options_.trust_batch_crc);
        pieces.emplace_back(heads[i].data(), n);
        if (payload.size() > n - kFrameHeaderSize) {
          pieces.push_back(payload.subspan(n - kFrameHeaderSize));
        }
        pending_bytes += h.frame_size();
        pending_data = pending_data || h.type == EntryType::kData;
      }
    }
    if (s.ok()) s = flush(entries.size());
    if (!s.ok()) {
      if (absl::IsInternal(s)) return Fail(&st, s);
      // Undo what earlier writes of this call left (only after a roll).
      if (st.last_index != orig_last) {
        absl::Status u = TruncateLocked(&st, options_.env, dir_, orig_last);
        if (!u.ok()) return u;
      }
      return s;
    }
    result.last_index = st.last_index;
    result.next_offset = st.next_offset;
    need_sync = options_.fsync_policy == FsyncPolicy::kEveryAppend ||
                (options_.fsync_policy == FsyncPolicy::kInterval &&
                 now - st.last_sync_ms >= options_.fsync_interval_ms);
  }
  if (need_sync) {
    absl::Status s = Sync();
    if (!s.ok()) return s;
  }
  return result;
}

absl::Status PartitionLog::Sync() {
  LogState& st = *state_;
  absl::MutexLock sync_lock(&st.sync_mu);
  std::shared_ptr<File> file;
  RaftIndex target_index;
  Offset target_offset;
  uint64_t generation;
  {
    absl::ReaderMutexLock l(&st.mu);
    if (!st.failed.ok()) return st.failed;
    if (st.flushed_index >= st.last_index) return absl::OkStatus();
    file = st.segments.back()->log_file();
    target_index = st.last_index;
    target_offset = st.next_offset;
    generation = st.generation;
  }
  // Without mu: readers and the appender go on. Held appends (everything
  // up to target_index) are written first; failing that (disk full) loses
  // nothing and fails nothing. Only then the fdatasync, whose failure is
  // fatal: not Sync, which would write out appends made meanwhile and could
  // fail for them.
  if (absl::Status w = file->Flush(); !w.ok()) return w;
  absl::Status s = file->SyncWritten();
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!s.ok()) return Fail(&st, s);
  st.last_sync_ms = options_.clock();
  if (generation == st.generation && target_index > st.flushed_index) {
    st.flushed_index = std::min(target_index, st.last_index);
    st.flushed_offset = std::min(target_offset, st.next_offset);
  }
  return absl::OkStatus();
}

absl::Status PartitionLog::MaybeSync() {
  {
    absl::ReaderMutexLock l(&state_->mu);
    if (!state_->failed.ok()) return state_->failed;
    if (options_.fsync_policy != FsyncPolicy::kInterval ||
        options_.clock() - state_->last_sync_ms < options_.fsync_interval_ms) {
      return absl::OkStatus();
    }
  }
  return Sync();
}

absl::Status PartitionLog::TruncateSuffix(RaftIndex last_kept) {
  LogState& st = *state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!st.failed.ok()) return st.failed;
  if (last_kept >= st.last_index) return absl::OkStatus();
  if (last_kept < st.start.index - 1) {
    return absl::OutOfRangeError(absl::StrFormat("truncate after %d: below the log start index %d",
                                                 last_kept.value(), st.start.index.value()));
  }
  if (last_kept < st.start.index) {
    // Nothing visible stays. Frames below a mid-batch log start would give
    // the next batch an offset below the start: restart empty at the start.
    return ResetLocked(&st, options_, dir_, st.start.index, st.start.prev_term, st.start.offset);
  }
  return TruncateLocked(&st, options_.env, dir_, last_kept);
}

absl::Status PartitionLog::DropPrefixBeforeIndex(RaftIndex index) {
  LogState& st = *state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!st.failed.ok()) return st.failed;
  if (index <= st.start.index) return absl::OkStatus();
  if (index > st.last_index + 1) {
    return absl::OutOfRangeError(absl::StrFormat("drop prefix before %d: log ends at %d",
                                                 index.value(), st.last_index.value()));
  }
  LogStart ns;
  ns.index = index;
  if (index == st.last_index + 1) {
    ns.offset = st.next_offset;
  } else {
    absl::StatusOr<FrameHeader> h = FindFrame(st, index);
    if (!h.ok()) return h.status();
    ns.offset = h->base_offset;
  }
  absl::StatusOr<Term> t = TermLocked(st, index - 1);
  if (!t.ok()) return t.status();
  ns.prev_term = *t;
  ns.offset = std::max(ns.offset, st.start.offset);
  return DropPrefixLocked(&st, options_.env, dir_, ns);
}

absl::Status PartitionLog::DropPrefixBeforeOffset(Offset offset) {
  LogState& st = *state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!st.failed.ok()) return st.failed;
  if (offset <= st.start.offset) return absl::OkStatus();
  if (offset > st.next_offset) {
    return absl::OutOfRangeError(absl::StrFormat("drop prefix before offset %d: log end is %d",
                                                 offset.value(), st.next_offset.value()));
  }
  LogStart ns;
  ns.offset = offset;
  ns.index = st.last_index + 1;
  if (offset < st.next_offset) {
    // The data entry holding `offset` stays; everything before it goes.
    const Segment& seg = *st.segments[SegmentForOffset(st.segments, offset)];
    bool found = false;
    absl::Status s = seg.Scan(seg.ScanStartForOffset(offset), ScanOptions{},
                              [&](const FrameHeader& h, uint64_t, std::span<const uint8_t>) {
                                if (h.type != EntryType::kData || h.next_offset() <= offset) {
                                  return true;
                                }
                                ns.index = h.index;
                                found = true;
                                return false;
                              });
    if (!s.ok()) return s;
    if (!found) return absl::DataLossError(seg.log_path() + ": batch for offset not found");
  }
  ns.index = std::max(ns.index, st.start.index);
  absl::StatusOr<Term> t = TermLocked(st, ns.index - 1);
  if (!t.ok()) return t.status();
  ns.prev_term = *t;
  return DropPrefixLocked(&st, options_.env, dir_, ns);
}

absl::Status PartitionLog::ResetTo(RaftIndex next_index, Term prev_term, Offset next_offset) {
  LogState& st = *state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!st.failed.ok()) return st.failed;
  if (next_index.value() < 1 || prev_term.value() < 0 || next_offset.value() < 0) {
    return absl::InvalidArgumentError("reset: negative index, term or offset");
  }
  return ResetLocked(&st, options_, dir_, next_index, prev_term, next_offset);
}

absl::StatusOr<int> PartitionLog::ApplyRetention(Offset upper_bound) {
  LogState& st = *state_;
  absl::MutexLock l(&st.mu);
  PublishLastIndexOnExit publish(&st);
  if (!st.failed.ok()) return st.failed;
  const int64_t now = options_.clock();
  uint64_t total = 0;
  for (const auto& seg : st.segments) total += seg->size();
  int deleted = 0;
  while (st.segments.size() > 1) {
    const Segment& oldest = *st.segments[0];
    const Segment& next = *st.segments[1];
    if (next.base_offset() > upper_bound) break;
    // Kafka's rule: delete while the log stays at or above retention_bytes.
    const bool by_size = options_.retention_bytes >= 0 &&
                         total >= oldest.size() + static_cast<uint64_t>(options_.retention_bytes);
    const bool by_age = options_.retention_ms >= 0 && oldest.state().max_timestamp >= 0 &&
                        now - oldest.state().max_timestamp > options_.retention_ms;
    if (!by_size && !by_age) break;
    const uint64_t size = oldest.size();
    LogStart ns = st.start;
    if (next.first_index() > ns.index || next.base_offset() > ns.offset) {
      absl::StatusOr<Term> t = TermLocked(st, next.first_index() - 1);
      if (!t.ok()) return t.status();
      ns = LogStart{std::max(next.base_offset(), st.start.offset),
                    std::max(next.first_index(), st.start.index), *t};
      if (ns.index != next.first_index()) ns.prev_term = st.start.prev_term;
    }
    absl::Status s = DropPrefixLocked(&st, options_.env, dir_, ns);
    if (!s.ok()) return s;
    total -= size;
    ++deleted;
  }
  return deleted;
}

namespace {

// The body of Read/ReadView: collects into `c` (with the frames in `buf`) the
// batches to return.
absl::Status ReadLocked(const LogState& st, Offset from, const ReadOptions& options,
                        ReadBuffer* buf, BatchCollector* c) ABSL_SHARED_LOCKS_REQUIRED(st.mu) {
  if (!st.failed.ok()) return st.failed;
  if (from < st.start.offset) {
    return absl::OutOfRangeError(absl::StrFormat("offset %d is below the log start offset %d",
                                                 from.value(), st.start.offset.value()));
  }
  if (from > st.next_offset) {
    return absl::OutOfRangeError(absl::StrFormat("offset %d is beyond the log end offset %d",
                                                 from.value(), st.next_offset.value()));
  }
  c->from = from;
  c->limit = std::min(options.max_offset.value_or(st.next_offset), st.next_offset);
  c->max_bytes = options.max_bytes;
  c->next_offset = from;
  c->done = from >= c->limit;
  for (size_t i = SegmentForOffset(st.segments, from); i < st.segments.size() && !c->done; ++i) {
    absl::Status s = st.segments[i]->ReadBatches(buf, c);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BatchView> PartitionLog::ReadView(Offset from, const ReadOptions& options) const {
  const LogState& st = *state_;
  ReadBuffer buf;
  BatchCollector c;
  BatchView v;
  {
    absl::ReaderMutexLock l(&st.mu);
    absl::Status s = ReadLocked(st, from, options, &buf, &c);
    if (!s.ok()) return s;
    v.log_start_offset = st.start.offset;
    v.log_end_offset = st.next_offset;
  }
  v.data_size = buf.size();
  v.data = buf.Release();
  v.batches.reserve(c.batches.size());
  for (const BatchCollector::Span& b : c.batches) {
    v.batches.emplace_back(v.data.get() + b.pos, b.len);
  }
  v.batches_bytes = c.bytes;
  v.next_offset = c.next_offset;
  return v;
}

absl::StatusOr<ReadResult> PartitionLog::Read(Offset from, const ReadOptions& options) const {
  const LogState& st = *state_;
  // The frames are read into a per-thread buffer kept between calls (so a
  // steady stream of reads does not allocate and fault in fresh pages twice
  // per call), then the batches are copied out once.
  thread_local ReadBuffer scratch;
  scratch.ShrinkTo(0);
  BatchCollector c;
  ReadResult r;
  {
    absl::ReaderMutexLock l(&st.mu);
    absl::Status s = ReadLocked(st, from, options, &scratch, &c);
    if (!s.ok()) return s;
    r.log_start_offset = st.start.offset;
    r.log_end_offset = st.next_offset;
  }
  r.batches.reserve(c.bytes);
  for (const BatchCollector::Span& b : c.batches) {
    r.batches.insert(r.batches.end(), scratch.data() + b.pos, scratch.data() + b.pos + b.len);
  }
  r.batch_count = static_cast<int>(c.batches.size());
  r.next_offset = c.next_offset;
  if (scratch.capacity() > (8u << 20)) scratch.Release();  // do not pin a huge read
  return r;
}

absl::StatusOr<std::vector<LogEntry>> PartitionLog::ReadEntries(RaftIndex from,
                                                                RaftIndex to_exclusive,
                                                                size_t max_bytes) const {
  const LogState& st = *state_;
  absl::ReaderMutexLock l(&st.mu);
  if (!st.failed.ok()) return st.failed;
  if (from < st.start.index || to_exclusive > st.last_index + 1 || from > to_exclusive) {
    return absl::OutOfRangeError(absl::StrFormat("entries [%d, %d) not in log [%d, %d]",
                                                 from.value(), to_exclusive.value(),
                                                 st.start.index.value(), st.last_index.value()));
  }
  std::vector<LogEntry> out;
  size_t bytes = 0;
  bool done = from >= to_exclusive;
  for (size_t i = SegmentForIndex(st.segments, from); i < st.segments.size() && !done; ++i) {
    const Segment& seg = *st.segments[i];
    absl::Status s = seg.Scan(
        seg.ScanStartForIndex(from),
        ScanOptions{.verify_crc = true,
                    .load_payload = true,
                    .chunk_bytes = std::clamp<size_t>(max_bytes / 4, 16 << 10, 256 << 10)},
        [&](const FrameHeader& h, uint64_t, std::span<const uint8_t> frame) {
          if (h.index < from) return true;
          if (h.index >= to_exclusive || (!out.empty() && bytes + h.payload_length > max_bytes)) {
            done = true;
            return false;
          }
          LogEntry e;
          e.index = h.index;
          e.term = h.term;
          e.type = h.type;
          e.payload.assign(frame.begin() + kFrameHeaderSize, frame.end());
          e.first_offset = h.base_offset;
          e.next_offset = h.next_offset();
          bytes += h.payload_length;
          out.push_back(std::move(e));
          return true;
        });
    if (!s.ok()) return s;
  }
  return out;
}

absl::StatusOr<Term> PartitionLog::TermAt(RaftIndex index) const {
  const LogState& st = *state_;
  absl::ReaderMutexLock l(&st.mu);
  if (!st.failed.ok()) return st.failed;
  return TermLocked(st, index);
}

absl::StatusOr<std::optional<Offset>> PartitionLog::OffsetForTimestamp(int64_t timestamp_ms) const {
  const LogState& st = *state_;
  absl::ReaderMutexLock l(&st.mu);
  if (!st.failed.ok()) return st.failed;
  for (const auto& seg : st.segments) {
    if (seg->state().max_timestamp < timestamp_ms || seg->next_offset() <= st.start.offset) {
      continue;
    }
    std::optional<Offset> found;
    const Offset start = st.start.offset;
    absl::Status s = seg->Scan(seg->ScanStartForTimestamp(timestamp_ms), ScanOptions{},
                               [&](const FrameHeader& h, uint64_t, std::span<const uint8_t>) {
                                 if (h.type != EntryType::kData || h.next_offset() <= start ||
                                     h.max_timestamp < timestamp_ms) {
                                   return true;
                                 }
                                 found = std::max(h.base_offset, start);
                                 return false;
                               });
    if (!s.ok()) return s;
    if (found) return found;
  }
  return std::optional<Offset>();
}

RaftIndex PartitionLog::first_index() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->start.index;
}
RaftIndex PartitionLog::last_index() const {
  return RaftIndex(state_->published_last_index.load(std::memory_order_acquire));
}
Term PartitionLog::last_term() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->last_term;
}
Offset PartitionLog::log_start_offset() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->start.offset;
}
Offset PartitionLog::next_offset() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->next_offset;
}
RaftIndex PartitionLog::flushed_index() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->flushed_index;
}
Offset PartitionLog::flushed_offset() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->flushed_offset;
}
size_t PartitionLog::segment_count() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->segments.size();
}
uint64_t PartitionLog::size_bytes() const {
  absl::ReaderMutexLock l(&state_->mu);
  uint64_t total = 0;
  for (const auto& seg : state_->segments) total += seg->size();
  return total;
}
absl::Status PartitionLog::health() const {
  absl::ReaderMutexLock l(&state_->mu);
  return state_->failed;
}

}  // namespace raftlog::storage
