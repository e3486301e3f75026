// Segment: append, seal, truncate, lookups and frame scanning over one segment.
// Recovery (building a Segment from files after a crash) is in log_recovery.cc.
#include "storage/segment.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "storage/write_behind_file.h"

namespace raftlog::storage {

std::string SegmentFileName(Offset base, const char* ext) {
  return absl::StrFormat("%020d%s", base.value(), ext);
}

std::optional<Offset> ParseSegmentFileName(const std::string& name, const char* ext) {
  const size_t ext_len = std::strlen(ext);
  if (name.size() != 20 + ext_len || name.compare(20, ext_len, ext) != 0) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return Offset(v);
}

absl::Status ScanFrames(const File& file, const std::string& path, uint64_t pos, uint64_t end,
                        const ScanOptions& options, const FrameVisitor& visit, uint64_t* stop_pos) {
  std::vector<uint8_t> buf;
  uint64_t buf_pos = pos;
  size_t buf_len = 0;
  auto corrupt = [&](uint64_t at, const std::string& why) {
    if (stop_pos != nullptr) *stop_pos = at;
    return absl::DataLossError(absl::StrFormat("%s at byte %d: %s", path, at, why));
  };
  // Makes [at, at + n) available in buf; false if the file is shorter.
  auto ensure = [&](uint64_t at, size_t n) -> absl::StatusOr<bool> {
    if (at >= buf_pos && at + n <= buf_pos + buf_len) return true;
    size_t want = std::max<uint64_t>(n, std::min<uint64_t>(options.chunk_bytes, end - at));
    if (buf.size() < want) buf.resize(want);
    absl::StatusOr<size_t> got = file.Read(at, std::span<uint8_t>(buf.data(), want));
    if (!got.ok()) return got.status();
    buf_pos = at;
    buf_len = *got;
    return buf_len >= n;
  };
  const bool need_payload = options.verify_crc || options.load_payload;
  while (pos < end) {
    if (end - pos < kFrameHeaderSize) {
      // A preallocated file may end in fewer zero bytes than a header.
      if (options.zero_header_is_end) {
        absl::StatusOr<bool> have = ensure(pos, end - pos);
        if (!have.ok()) return have.status();
        const uint8_t* p = buf.data() + (pos - buf_pos);
        if (*have && std::all_of(p, p + (end - pos), [](uint8_t b) { return b == 0; })) break;
      }
      return corrupt(pos, "partial frame header");
    }
    absl::StatusOr<bool> have = ensure(pos, kFrameHeaderSize);
    if (!have.ok()) return have.status();
    if (!*have) return corrupt(pos, "file shorter than expected");
    std::span<const uint8_t> header(buf.data() + (pos - buf_pos), kFrameHeaderSize);
    if (options.zero_header_is_end && IsZeroHeader(header)) break;
    absl::StatusOr<FrameHeader> h = DecodeFrameHeader(header);
    if (!h.ok()) return corrupt(pos, std::string(h.status().message()));
    if (h->frame_size() > end - pos) return corrupt(pos, "frame crosses end of data");
    std::span<const uint8_t> frame = header;
    if (need_payload) {
      have = ensure(pos, h->frame_size());
      if (!have.ok()) return have.status();
      if (!*have) return corrupt(pos, "file shorter than expected");
      frame = std::span<const uint8_t>(buf.data() + (pos - buf_pos), h->frame_size());
      if (options.verify_crc && !FrameCrcMatches(frame)) return corrupt(pos, "CRC mismatch");
    }
    if (!visit(*h, pos, frame)) {
      if (stop_pos != nullptr) *stop_pos = pos;
      return absl::OkStatus();
    }
    pos += h->frame_size();
  }
  if (stop_pos != nullptr) *stop_pos = pos;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Create(Env* env, const std::string& dir,
                                                         Offset base, RaftIndex first_index,
                                                         Term prev_term, const SegmentConfig& cfg,
                                                         int64_t now_ms) {
  auto open = [&](const char* ext) -> absl::StatusOr<std::unique_ptr<File>> {
    absl::StatusOr<std::unique_ptr<File>> f =
        env->OpenFile(dir + "/" + SegmentFileName(base, ext), /*create=*/true);
    if (!f.ok()) return f.status();
    absl::Status s = (*f)->Truncate(0);
    if (!s.ok()) return s;
    return f;
  };
  // Indexes first, .log last: a crash in between leaves orphan indexes,
  // which recovery deletes, never a .log without its indexes' owner.
  absl::StatusOr<std::unique_ptr<File>> index = open(kIndexExt);
  if (!index.ok()) return index.status();
  absl::StatusOr<std::unique_ptr<File>> time_index = open(kTimeIndexExt);
  if (!time_index.ok()) return time_index.status();
  absl::StatusOr<std::unique_ptr<File>> log = open(kLogExt);
  if (!log.ok()) return log.status();
  if (cfg.preallocate && cfg.preallocate_bytes > 0) {
    absl::Status s = (*log)->Allocate(0, cfg.preallocate_bytes);
    if (!s.ok() && s.code() != absl::StatusCode::kUnimplemented) return s;
  }
  SegmentState st;
  st.base_offset = base;
  st.first_index = first_index;
  st.next_index = first_index;
  st.next_offset = base;
  st.last_term = prev_term;
  st.roll_base_ms = now_ms;
  return std::make_unique<Segment>(
      env, dir, cfg, std::shared_ptr<File>(std::move(*log)),
      std::make_unique<OffsetIndex>(std::move(*index), std::vector<OffsetIndexEntry>{}),
      std::make_unique<TimeIndex>(std::move(*time_index), std::vector<TimeIndexEntry>{}), st);
}

Segment::Segment(Env* env, std::string dir, SegmentConfig cfg, std::shared_ptr<File> log,
                 std::unique_ptr<OffsetIndex> index, std::unique_ptr<TimeIndex> time_index,
                 SegmentState state)
    : env_(env),
      dir_(std::move(dir)),
      cfg_(cfg),
      log_(cfg.write_buffer_bytes > 0 && !state.sealed
               ? std::make_shared<WriteBehindFile>(std::move(log), state.size,
                                                   cfg.write_buffer_bytes)
               : std::move(log)),
      index_(std::move(index)),
      time_index_(std::move(time_index)),
      st_(state) {}

std::string Segment::log_path() const {
  return dir_ + "/" + SegmentFileName(st_.base_offset, kLogExt);
}

void Segment::ReserveAhead(uint64_t end) {
  const uint64_t step = cfg_.reserve_ahead_bytes;
  const uint64_t target =
      std::min((end + step - 1) / step * step, std::max(end, cfg_.preallocate_bytes));
  const uint64_t from = std::max(reserved_end_, st_.size);
  absl::Status s = log_->Reserve(from, target - from);
  // Unsupported: never try again for this segment. Any other failure (a
  // full disk) is for the write to report; a failed write's undo truncates,
  // which lowers reserved_end_ again.
  reserved_end_ = absl::IsUnimplemented(s) ? UINT64_MAX : target;
}

absl::Status Segment::Append(std::span<const std::span<const uint8_t>> pieces,
                             std::span<const FrameHeader> headers) {
  const SegmentState before = st_;
  if (cfg_.reserve_ahead_bytes > 0) {
    uint64_t end = st_.size;
    for (const std::span<const uint8_t>& p : pieces) end += p.size();
    if (end > reserved_end_) ReserveAhead(end);
  }
  absl::Status s = log_->Writev(st_.size, pieces);
  std::vector<OffsetIndexEntry>& new_index = new_index_;
  std::vector<TimeIndexEntry>& new_time = new_time_;
  new_index.clear();
  new_time.clear();
  if (s.ok()) {
    uint64_t pos = st_.size;
    int64_t last_ts = time_index_->empty() ? -1 : time_index_->back().timestamp;
    for (const FrameHeader& h : headers) {
      const bool first = (pos == 0);
      if (first || st_.bytes_since_index >= cfg_.index_interval_bytes) {
        const auto rel = static_cast<uint32_t>(h.base_offset - st_.base_offset);
        new_index.push_back({rel, static_cast<uint32_t>(pos), h.index, st_.max_timestamp});
        if (st_.max_timestamp > last_ts && !first) {
          new_time.push_back({st_.max_timestamp, rel});
          last_ts = st_.max_timestamp;
        }
        st_.bytes_since_index = 0;
      }
      st_.bytes_since_index += h.frame_size();
      st_.max_timestamp = std::max(st_.max_timestamp, h.max_timestamp);
      st_.next_offset = h.next_offset();
      st_.next_index = h.index + 1;
      st_.last_term = h.term;
      pos += h.frame_size();
    }
    st_.size = pos;
    const size_t old_index = index_->entries().size();
    s = index_->Append(new_index);
    if (s.ok()) {
      s = time_index_->Append(new_time);
      if (!s.ok()) index_->Truncate(old_index).IgnoreError();
    }
  }
  if (!s.ok()) {
    st_ = before;
    // Nothing half-written may survive as data: cut back to the old end.
    absl::Status undo = log_->Truncate(before.size);
    reserved_end_ = std::min(reserved_end_, before.size);
    if (undo.ok() && cfg_.preallocate && cfg_.preallocate_bytes > before.size) {
      log_->Allocate(before.size, cfg_.preallocate_bytes - before.size).IgnoreError();
    }
    if (!undo.ok()) {
      return absl::InternalError(
          absl::StrFormat("undo failed after write error (%s): %s", s.ToString(), undo.ToString()));
    }
    return s;
  }
  return absl::OkStatus();
}

absl::Status Segment::Seal(bool* sync_failed) {
  *sync_failed = false;
  absl::StatusOr<uint64_t> file_size = log_->Size();
  if (!file_size.ok()) return file_size.status();
  // A truncate to the current size still releases reserved blocks past it
  // (also those a crash left before recovery: reserved_end_ does not know them).
  if (*file_size != st_.size || cfg_.reserve_ahead_bytes > 0) {
    absl::Status s = log_->Truncate(st_.size);
    if (!s.ok()) return s;
    reserved_end_ = st_.size;
  }
  const int64_t last_ts = time_index_->empty() ? -1 : time_index_->back().timestamp;
  if (st_.max_timestamp > last_ts) {
    TimeIndexEntry e{st_.max_timestamp, static_cast<uint32_t>(st_.next_offset - st_.base_offset)};
    absl::Status s = time_index_->Append(std::span<const TimeIndexEntry>(&e, 1));
    if (!s.ok()) return s;
  }
  // Pending index entries are written first: a failure there (disk full) is
  // a write error, not a failed fsync.
  absl::Status s = index_->Flush();
  if (s.ok()) s = time_index_->Flush();
  if (s.ok()) s = log_->Flush();
  if (!s.ok()) return s;
  s = log_->Sync();
  if (s.ok()) s = index_->Sync();
  if (s.ok()) s = time_index_->Sync();
  if (!s.ok()) {
    *sync_failed = true;
    return s;
  }
  st_.sealed = true;
  return absl::OkStatus();
}

absl::Status Segment::TruncateAfter(RaftIndex last_kept, Term prev_term) {
  if (last_kept >= st_.next_index) return absl::OkStatus();
  // last_kept == next_index-1 cuts nothing but still (re)computes the tail
  // state: a sealed segment loaded on open does not know its last term.
  uint64_t cut = st_.size;
  SegmentState ns = st_;
  ns.sealed = false;
  ns.next_index = last_kept + 1;
  size_t keep_index = 0;
  if (last_kept < st_.first_index) {
    cut = 0;
    ns.next_offset = st_.base_offset;
    ns.last_term = prev_term;
    ns.max_timestamp = -1;
    ns.bytes_since_index = 0;
  } else {
    const std::vector<OffsetIndexEntry>& idx = index_->entries();
    size_t i = FindByIndex(idx, last_kept);
    uint64_t start = (i == idx.size()) ? 0 : idx[i].position;
    int64_t max_ts = (i == idx.size()) ? -1 : idx[i].max_timestamp_before;
    bool found = false;
    absl::Status s = Scan(start, ScanOptions{.verify_crc = false},
                          [&](const FrameHeader& h, uint64_t pos, std::span<const uint8_t>) {
                            if (h.index > last_kept) {
                              cut = pos;
                              found = true;
                              return false;
                            }
                            max_ts = std::max(max_ts, h.max_timestamp);
                            ns.next_offset = h.next_offset();
                            ns.last_term = h.term;
                            return true;
                          });
    if (!s.ok()) return s;
    if (!found && last_kept + 1 != st_.next_index) {
      return absl::InternalError("truncate: frame not found in " + log_path());
    }
    ns.max_timestamp = max_ts;
  }
  const std::vector<OffsetIndexEntry>& idx = index_->entries();
  while (keep_index < idx.size() && idx[keep_index].position < cut) ++keep_index;
  ns.bytes_since_index = keep_index == 0 ? 0 : cut - idx[keep_index - 1].position;
  ns.size = cut;
  const std::vector<TimeIndexEntry>& tix = time_index_->entries();
  size_t keep_time = 0;
  const auto rel_end = static_cast<uint32_t>(ns.next_offset - ns.base_offset);
  while (keep_time < tix.size() && tix[keep_time].relative_offset <= rel_end &&
         tix[keep_time].timestamp <= ns.max_timestamp) {
    ++keep_time;
  }
  absl::Status s = log_->Truncate(cut);
  reserved_end_ = std::min(reserved_end_, cut);
  if (s.ok() && cfg_.preallocate && cfg_.preallocate_bytes > cut) {
    absl::Status a = log_->Allocate(cut, cfg_.preallocate_bytes - cut);
    if (!a.ok() && a.code() != absl::StatusCode::kUnimplemented) s = a;
  }
  if (s.ok()) s = index_->Truncate(keep_index);
  if (s.ok()) s = time_index_->Truncate(keep_time);
  if (!s.ok()) return s;
  st_ = ns;
  return absl::OkStatus();
}

absl::Status Segment::RemoveFiles() {
  for (const char* ext : {kIndexExt, kTimeIndexExt, kLogExt}) {
    absl::Status s = env_->RemoveFile(dir_ + "/" + SegmentFileName(st_.base_offset, ext));
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return absl::OkStatus();
}

uint64_t Segment::ScanStartForOffset(Offset offset) const {
  const std::vector<OffsetIndexEntry>& idx = index_->entries();
  if (offset < st_.base_offset) return 0;
  const int64_t rel = std::min<int64_t>(offset - st_.base_offset, UINT32_MAX);
  size_t i = FindByOffset(idx, static_cast<uint32_t>(rel));
  return i == idx.size() ? 0 : idx[i].position;
}

uint64_t Segment::ScanStartForIndex(RaftIndex index) const {
  const std::vector<OffsetIndexEntry>& idx = index_->entries();
  size_t i = FindByIndex(idx, index);
  return i == idx.size() ? 0 : idx[i].position;
}

uint64_t Segment::ScanStartForTimestamp(int64_t ts) const {
  const std::vector<TimeIndexEntry>& tix = time_index_->entries();
  size_t i = FindBeforeTimestamp(tix, ts);
  if (i == tix.size()) return 0;
  return ScanStartForOffset(st_.base_offset + tix[i].relative_offset);
}

void ReadBuffer::Extend(size_t n) {
  if (size_ + n > cap_) {
    const size_t cap = std::max(size_ + n, 2 * cap_);
    auto bigger = std::make_unique_for_overwrite<uint8_t[]>(cap);
    if (size_ > 0) std::memcpy(bigger.get(), buf_.get(), size_);
    buf_ = std::move(bigger);
    cap_ = cap;
  }
  size_ += n;
}

absl::Status Segment::ReadBatches(ReadBuffer* buf, BatchCollector* c) const {
  // Scan from the last index entry at or before `from`. The next entry, if
  // any, starts a frame past `from`, so the frame holding `from` ends by its
  // position: reading up to there never needs a second pread for it.
  const std::vector<OffsetIndexEntry>& idx = index_->entries();
  size_t entry = idx.size();
  if (c->from >= st_.base_offset) {
    const int64_t rel = std::min<int64_t>(c->from - st_.base_offset, UINT32_MAX);
    entry = FindByOffset(idx, static_cast<uint32_t>(rel));
  }
  const uint64_t start = entry == idx.size() ? 0 : idx[entry].position;
  const size_t next_entry = entry == idx.size() ? 0 : entry + 1;
  const uint64_t holder_end =
      c->from >= st_.base_offset && next_entry < idx.size() ? idx[next_entry].position : start;
  const uint64_t end = st_.size;
  const size_t base = buf->size();  // file byte `start` is at buf->data()[base]
  uint64_t have_end = start;        // file bytes [start, have_end) are in buf
  const std::string path = log_path();
  auto corrupt = [&path](uint64_t at, const std::string& why) {
    return absl::DataLossError(absl::StrFormat("%s at byte %d: %s", path, at, why));
  };
  // What the rest of the read will probably need: the batches up to
  // max_bytes plus their frame headers (~1/32 for the smallest sensible
  // batches) and a little more, so most reads take a single pread.
  auto guess = [c]() -> uint64_t {
    const uint64_t left = std::min<uint64_t>(c->bytes < c->max_bytes ? c->max_bytes - c->bytes : 0,
                                             uint64_t{1} << 30);
    return left + left / 32 + 4096;
  };
  // Makes file bytes up to `upto` available, reading ahead to about `want`.
  auto fetch = [&](uint64_t frame_pos, uint64_t upto, uint64_t want) -> absl::Status {
    const uint64_t target = std::min(end, std::max(upto, have_end + want));
    const size_t n = static_cast<size_t>(target - have_end);
    const size_t at = buf->size();
    buf->Extend(n);
    absl::StatusOr<size_t> got = log_->Read(have_end, std::span<uint8_t>(buf->data() + at, n));
    if (!got.ok()) {
      buf->ShrinkTo(at);
      return got.status();
    }
    buf->ShrinkTo(at + *got);
    have_end += *got;
    if (have_end < upto) return corrupt(frame_pos, "file shorter than expected");
    return absl::OkStatus();
  };
  uint64_t pos = start;
  absl::Status s = fetch(start, std::min(end, start + kFrameHeaderSize),
                         std::max(holder_end - start, cfg_.index_interval_bytes + guess()));
  while (s.ok() && pos < end && !c->done) {
    if (end - pos < kFrameHeaderSize) return corrupt(pos, "partial frame header");
    if (pos + kFrameHeaderSize > have_end) {
      s = fetch(pos, pos + kFrameHeaderSize, guess());
      if (!s.ok()) break;
    }
    const size_t at = base + static_cast<size_t>(pos - start);
    absl::StatusOr<FrameHeader> h =
        DecodeFrameHeader(std::span<const uint8_t>(buf->data() + at, kFrameHeaderSize));
    if (!h.ok()) return corrupt(pos, std::string(h.status().message()));
    if (h->frame_size() > end - pos) return corrupt(pos, "frame crosses end of data");
    const bool wanted = h->type == EntryType::kData && h->next_offset() > c->from;
    if (wanted && (h->next_offset() > c->limit ||
                   (!c->batches.empty() && c->bytes + h->payload_length > c->max_bytes))) {
      c->done = true;
      break;
    }
    if (pos + h->frame_size() > have_end) {
      s = fetch(pos, pos + h->frame_size(), guess());
      if (!s.ok()) break;
    }
    if (!FrameCrcMatches(std::span<const uint8_t>(buf->data() + at, h->frame_size()))) {
      return corrupt(pos, "CRC mismatch");
    }
    if (wanted) {
      c->batches.push_back({at + kFrameHeaderSize, h->payload_length});
      c->bytes += h->payload_length;
      c->next_offset = h->next_offset();
      if (c->bytes >= c->max_bytes || c->next_offset >= c->limit) c->done = true;
    }
    pos += h->frame_size();
  }
  return s;
}

absl::Status Segment::Scan(uint64_t pos, const ScanOptions& options,
                           const FrameVisitor& visit) const {
  return ScanFrames(*log_, log_path(), pos, st_.size, options, visit);
}

}  // namespace raftlog::storage
