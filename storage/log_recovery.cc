// Crash recovery on open; the rules are in log_recovery.h, the format in
// segment.h.
#include "storage/log_recovery.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {

namespace {

struct FoundFiles {
  bool log = false;
  bool index = false;
  bool time = false;
};

// A segment's parts before it becomes a Segment.
struct Loaded {
  std::shared_ptr<File> log;
  std::unique_ptr<OffsetIndex> index;
  std::unique_ptr<TimeIndex> time;
  SegmentState st;
};

// The running state of a frame-by-frame check.
struct Chain {
  std::optional<RaftIndex> expect_index;  // unset: accept the first frame's
  Offset next_offset;
  Term last_term;
  int64_t max_ts = -1;
  uint64_t bytes_since_index = 0;
  bool force_index = true;  // next frame gets an index entry
  std::vector<OffsetIndexEntry> new_entries;
  std::string bad;  // why the chain broke, if it did
  // The break is a whole, CRC-valid frame that does not continue the log
  // (wrong index, term, offset or batch header). A torn write cannot produce
  // that, so recovery treats it as corruption, not as a tail to cut.
  bool valid_frame_out_of_chain = false;
};

std::string Path(const std::string& dir, Offset base, const char* ext) {
  return dir + "/" + SegmentFileName(base, ext);
}

// A data frame's payload must be the batch its header describes.
absl::Status CheckBatch(const FrameHeader& h, std::span<const uint8_t> frame) {
  if (h.type != EntryType::kData) return absl::OkStatus();
  std::span<const uint8_t> payload = frame.subspan(kFrameHeaderSize);
  absl::StatusOr<BatchHeader> b = ParseBatchHeader(payload);
  if (!b.ok()) return b.status();
  if (b->size_bytes() != payload.size() || b->base_offset != h.base_offset.value() ||
      static_cast<int64_t>(b->last_offset_delta) + 1 != h.offset_count ||
      b->max_timestamp != h.max_timestamp) {
    return absl::InvalidArgumentError("batch header disagrees with frame header");
  }
  return absl::OkStatus();
}

// Checks frames from `pos` to `end` continue `chain`, adding index entries.
// tolerant: a bad frame ends the scan (torn tail) instead of being DataLoss.
absl::Status WalkChain(const File& file, const std::string& path, Offset base, uint64_t pos,
                       uint64_t end, uint32_t interval, bool tolerant, Chain* c,
                       uint64_t* end_pos) {
  FrameVisitor visit = [&](const FrameHeader& h, uint64_t at, std::span<const uint8_t> frame) {
    if (c->expect_index && h.index != *c->expect_index) {
      c->bad = absl::StrFormat("raft index %d where %d expected", h.index.value(),
                               c->expect_index->value());
    } else if (h.term < c->last_term) {
      c->bad = absl::StrFormat("term %d after term %d", h.term.value(), c->last_term.value());
    } else if (h.base_offset != c->next_offset) {
      c->bad = absl::StrFormat("offset %d where %d expected", h.base_offset.value(),
                               c->next_offset.value());
    } else if (absl::Status s = CheckBatch(h, frame); !s.ok()) {
      c->bad = std::string(s.message());
    }
    if (!c->bad.empty()) {
      c->valid_frame_out_of_chain = true;
      return false;
    }
    if (c->force_index || c->bytes_since_index >= interval) {
      c->new_entries.push_back({static_cast<uint32_t>(h.base_offset - base),
                                static_cast<uint32_t>(at), h.index, c->max_ts});
      c->bytes_since_index = 0;
      c->force_index = false;
    }
    c->bytes_since_index += h.frame_size();
    c->max_ts = std::max(c->max_ts, h.max_timestamp);
    c->expect_index = h.index + 1;
    c->next_offset = h.next_offset();
    c->last_term = h.term;
    return true;
  };
  ScanOptions opts{.verify_crc = true, .load_payload = true, .zero_header_is_end = tolerant};
  absl::Status s = ScanFrames(file, path, pos, end, opts, visit, end_pos);
  if (!s.ok()) {
    if (!absl::IsDataLoss(s) || !tolerant) return s;
    c->bad = std::string(s.message());
    return absl::OkStatus();
  }
  if (!c->bad.empty() && !tolerant) {
    return absl::DataLossError(absl::StrFormat("%s at byte %d: %s", path, *end_pos, c->bad));
  }
  return absl::OkStatus();
}

// Time index entries implied by offset index entries (see segment.h), plus a
// final one covering the whole segment if `final_rel` is given.
std::vector<TimeIndexEntry> DeriveTimeIndex(const std::vector<OffsetIndexEntry>& idx,
                                            int64_t max_ts, std::optional<uint32_t> final_rel) {
  std::vector<TimeIndexEntry> out;
  int64_t last = -1;
  for (size_t i = 1; i < idx.size(); ++i) {
    if (idx[i].max_timestamp_before > last) {
      out.push_back({idx[i].max_timestamp_before, idx[i].relative_offset});
      last = idx[i].max_timestamp_before;
    }
  }
  if (final_rel && max_ts > last) out.push_back({max_ts, *final_rel});
  return out;
}

absl::StatusOr<std::vector<uint8_t>> ReadIfExists(Env* env, const std::string& path, bool exists) {
  if (!exists) return std::vector<uint8_t>();
  return ReadWholeFile(env, path);
}

absl::StatusOr<std::unique_ptr<File>> OpenFile(Env* env, const std::string& path) {
  return env->OpenFile(path, /*create=*/true);
}

// Reads the frame at `pos` and checks CRC and batch consistency.
absl::StatusOr<FrameHeader> VerifyFrameAt(const File& f, uint64_t pos, uint64_t end) {
  std::optional<FrameHeader> got;
  absl::Status s = ScanFrames(f, "", pos, end, ScanOptions{.verify_crc = true},
                              [&](const FrameHeader& h, uint64_t, std::span<const uint8_t> fr) {
                                if (CheckBatch(h, fr).ok()) got = h;
                                return false;
                              });
  if (!s.ok()) return s;
  if (!got) return absl::DataLossError("bad frame");
  return *got;
}

absl::StatusOr<Loaded> LoadSealed(Env* env, const std::string& dir, const SegmentConfig& cfg,
                                  Offset base, Offset next_base, const FoundFiles& ff,
                                  OpenReport* report) {
  const std::string log_path = Path(dir, base, kLogExt);
  absl::StatusOr<std::unique_ptr<File>> log = OpenFile(env, log_path);
  if (!log.ok()) return log.status();
  absl::StatusOr<uint64_t> size = (*log)->Size();
  if (!size.ok()) return size.status();
  if (*size == 0) return absl::DataLossError(log_path + ": sealed segment is empty");
  const auto next_rel = static_cast<uint32_t>(next_base - base);

  absl::StatusOr<std::vector<uint8_t>> raw =
      ReadIfExists(env, Path(dir, base, kIndexExt), ff.index);
  if (!raw.ok()) return raw.status();
  std::vector<OffsetIndexEntry> entries;
  bool good = DecodeOffsetIndex(*raw, &entries).ok() && !entries.empty() &&
              entries.back().position < *size && entries.back().relative_offset <= next_rel;
  if (good) {
    std::optional<FrameHeader> h;
    absl::Status s = ScanFrames(**log, log_path, entries.back().position, *size,
                                ScanOptions{.verify_crc = false},
                                [&](const FrameHeader& fh, uint64_t, std::span<const uint8_t>) {
                                  h = fh;
                                  return false;
                                });
    good = s.ok() && h && h->index == entries.back().index &&
           h->base_offset == base + entries.back().relative_offset;
  }
  bool rebuilt = false;
  if (!good) {
    Chain c;
    c.next_offset = base;
    uint64_t end_pos = 0;
    absl::Status s =
        WalkChain(**log, log_path, base, 0, *size, cfg.index_interval_bytes, false, &c, &end_pos);
    if (!s.ok()) return s;
    if (c.next_offset != next_base) {
      return absl::DataLossError(
          absl::StrFormat("%s: ends at offset %d but next segment starts at %d", log_path,
                          c.next_offset.value(), next_base.value()));
    }
    entries = std::move(c.new_entries);
    rebuilt = true;
    report->notes.push_back(absl::StrFormat("rebuilt index of sealed segment %s", log_path));
    ++report->indexes_rebuilt;
  }
  absl::StatusOr<std::unique_ptr<File>> index_file = OpenFile(env, Path(dir, base, kIndexExt));
  if (!index_file.ok()) return index_file.status();
  std::unique_ptr<OffsetIndex> index;
  if (rebuilt) {
    index = std::make_unique<OffsetIndex>(std::move(*index_file), std::vector<OffsetIndexEntry>{});
    absl::Status s = index->Rewrite(entries);
    if (s.ok()) s = index->Sync();
    if (!s.ok()) return s;
  } else {
    index = std::make_unique<OffsetIndex>(std::move(*index_file), entries);
  }

  raw = ReadIfExists(env, Path(dir, base, kTimeIndexExt), ff.time);
  if (!raw.ok()) return raw.status();
  std::vector<TimeIndexEntry> times;
  bool time_good = !rebuilt && ff.time && DecodeTimeIndex(*raw, &times).ok() &&
                   (times.empty() || times.back().relative_offset <= next_rel);
  absl::StatusOr<std::unique_ptr<File>> time_file = OpenFile(env, Path(dir, base, kTimeIndexExt));
  if (!time_file.ok()) return time_file.status();
  auto time = std::make_unique<TimeIndex>(std::move(*time_file), times);
  if (!time_good) {
    // The max timestamp of the part after the last index entry needs a scan.
    int64_t max_ts = entries.back().max_timestamp_before;
    absl::Status s =
        ScanFrames(**log, log_path, entries.back().position, *size, ScanOptions{.verify_crc = true},
                   [&](const FrameHeader& h, uint64_t, std::span<const uint8_t>) {
                     max_ts = std::max(max_ts, h.max_timestamp);
                     return true;
                   });
    if (!s.ok()) return s;
    s = time->Rewrite(DeriveTimeIndex(entries, max_ts, next_rel));
    if (s.ok()) s = time->Sync();
    if (!s.ok()) return s;
    if (!rebuilt) {
      report->notes.push_back(absl::StrFormat("rebuilt time index of sealed segment %s", log_path));
      ++report->indexes_rebuilt;
    }
  }
  Loaded l;
  l.st.base_offset = base;
  l.st.first_index = entries.front().index;
  l.st.next_offset = next_base;
  l.st.size = *size;
  l.st.max_timestamp = time->empty() ? -1 : time->back().timestamp;
  l.st.bytes_since_index = *size - entries.back().position;
  l.st.sealed = true;
  l.log = std::shared_ptr<File>(std::move(*log));
  l.index = std::move(index);
  l.time = std::move(time);
  return l;
}

// Finds next_index and last_term of a sealed segment from its last index entry.
absl::Status ScanSealedTail(const std::string& path, Loaded* l) {
  const OffsetIndexEntry& e = l->index->back();
  Chain c;
  c.expect_index = e.index;
  c.next_offset = l->st.base_offset + e.relative_offset;
  c.force_index = false;
  uint64_t end_pos = 0;
  absl::Status s = WalkChain(*l->log, path, l->st.base_offset, e.position, l->st.size, UINT32_MAX,
                             false, &c, &end_pos);
  if (!s.ok()) return s;
  if (c.next_offset != l->st.next_offset) {
    return absl::DataLossError(path + ": sealed segment tail does not reach the next segment");
  }
  l->st.next_index = *c.expect_index;
  l->st.last_term = c.last_term;
  return absl::OkStatus();
}

absl::StatusOr<Loaded> RecoverActive(Env* env, const std::string& dir, const SegmentConfig& cfg,
                                     Offset base, std::optional<RaftIndex> expect_first,
                                     RaftIndex default_first, Term prev_term, int64_t now_ms,
                                     const FoundFiles& ff, OpenReport* report) {
  const std::string log_path = Path(dir, base, kLogExt);
  absl::StatusOr<std::unique_ptr<File>> log = OpenFile(env, log_path);
  if (!log.ok()) return log.status();
  absl::StatusOr<uint64_t> size = (*log)->Size();
  if (!size.ok()) return size.status();

  absl::StatusOr<std::vector<uint8_t>> raw =
      ReadIfExists(env, Path(dir, base, kIndexExt), ff.index);
  if (!raw.ok()) return raw.status();
  std::vector<OffsetIndexEntry> entries;
  const bool index_clean = DecodeOffsetIndex(*raw, &entries).ok();
  const size_t loaded = entries.size();
  // Trust the index up to its last entry that matches the data.
  while (!entries.empty()) {
    const OffsetIndexEntry& e = entries.back();
    bool ok = e.position < *size && (!expect_first || entries.front().index == *expect_first);
    if (ok) {
      absl::StatusOr<FrameHeader> h = VerifyFrameAt(**log, e.position, *size);
      ok = h.ok() && h->index == e.index && h->base_offset == base + e.relative_offset;
    }
    if (ok) break;
    entries.pop_back();
  }
  if (!ff.index || !index_clean || entries.size() != loaded) {
    report->notes.push_back(absl::StrFormat("index of active segment %s: kept %d of %d entries",
                                            log_path, entries.size(), loaded));
    ++report->indexes_rebuilt;
  }
  Chain c;
  uint64_t start = 0;
  if (entries.empty()) {
    c.expect_index = expect_first;
    c.next_offset = base;
    c.last_term = prev_term;
  } else {
    // Re-walk from the last trusted entry (it is re-added by the walk).
    const OffsetIndexEntry e = entries.back();
    entries.pop_back();
    start = e.position;
    c.expect_index = e.index;
    c.next_offset = base + e.relative_offset;
    c.max_ts = e.max_timestamp_before;
  }
  uint64_t cut = start;
  absl::Status s =
      WalkChain(**log, log_path, base, start, *size, cfg.index_interval_bytes, true, &c, &cut);
  if (!s.ok()) return s;
  if (c.valid_frame_out_of_chain) {
    return absl::DataLossError(absl::StrFormat(
        "%s at byte %d: a valid frame that does not continue the log (%s); refusing to cut it",
        log_path, cut, c.bad));
  }
  if (!c.bad.empty()) {
    report->notes.push_back(absl::StrFormat("cut torn tail of %s at byte %d (%d bytes): %s",
                                            log_path, cut, *size - cut, c.bad));
    report->truncated_bytes += *size - cut;
  }
  if (cut != *size) {
    s = (*log)->Truncate(cut);
    if (s.ok()) s = (*log)->Sync();
    if (!s.ok()) return s;
  }
  if (cfg.preallocate && cfg.preallocate_bytes > cut) {
    (*log)->Allocate(cut, cfg.preallocate_bytes - cut).IgnoreError();
  }
  entries.insert(entries.end(), c.new_entries.begin(), c.new_entries.end());

  Loaded l;
  l.st.base_offset = base;
  l.st.first_index = entries.empty() ? expect_first.value_or(default_first) : entries[0].index;
  l.st.next_index = c.expect_index.value_or(l.st.first_index);
  l.st.next_offset = c.next_offset;
  l.st.last_term = c.last_term;
  l.st.size = cut;
  l.st.max_timestamp = c.max_ts;
  l.st.roll_base_ms = now_ms;
  l.st.bytes_since_index = c.bytes_since_index;
  absl::StatusOr<std::unique_ptr<File>> index_file = OpenFile(env, Path(dir, base, kIndexExt));
  if (!index_file.ok()) return index_file.status();
  absl::StatusOr<std::unique_ptr<File>> time_file = OpenFile(env, Path(dir, base, kTimeIndexExt));
  if (!time_file.ok()) return time_file.status();
  l.index = std::make_unique<OffsetIndex>(std::move(*index_file), std::vector<OffsetIndexEntry>{});
  l.time = std::make_unique<TimeIndex>(std::move(*time_file), std::vector<TimeIndexEntry>{});
  std::vector<TimeIndexEntry> times = DeriveTimeIndex(entries, c.max_ts, std::nullopt);
  s = l.index->Rewrite(std::move(entries));
  if (s.ok()) s = l.time->Rewrite(std::move(times));
  if (!s.ok()) return s;
  l.log = std::shared_ptr<File>(std::move(*log));
  return l;
}

absl::Status RemoveSegmentFiles(Env* env, const std::string& dir, Offset base) {
  for (const char* ext : {kIndexExt, kTimeIndexExt, kLogExt}) {
    absl::Status s = env->RemoveFile(Path(dir, base, ext));
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RecoveredLog> RecoverLog(Env* env, const std::string& dir, const SegmentConfig& cfg,
                                        int64_t now_ms, OpenReport* report) {
  absl::Status s = env->CreateDir(dir);
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok()) return names.status();
  std::map<Offset, FoundFiles> found;
  bool dir_changed = false;
  for (const std::string& name : *names) {
    if (std::optional<Offset> b = ParseSegmentFileName(name, kLogExt)) {
      found[*b].log = true;
    } else if (std::optional<Offset> b = ParseSegmentFileName(name, kIndexExt)) {
      found[*b].index = true;
    } else if (std::optional<Offset> b = ParseSegmentFileName(name, kTimeIndexExt)) {
      found[*b].time = true;
    } else if (name == kLogStartCheckpointName) {
    } else if (name == std::string(kLogStartCheckpointName) + ".tmp") {
      s = env->RemoveFile(dir + "/" + name);
      if (!s.ok()) return s;
      dir_changed = true;
    } else {
      report->foreign_files.push_back(name);
      report->notes.push_back(absl::StrFormat("ignored foreign file %s/%s", dir, name));
    }
  }
  for (auto it = found.begin(); it != found.end();) {
    if (!it->second.log) {
      // Orphan indexes: a crash while creating or deleting a segment.
      s = RemoveSegmentFiles(env, dir, it->first);
      if (!s.ok()) return s;
      report->notes.push_back(
          absl::StrFormat("removed orphan index files of segment %d", it->first.value()));
      dir_changed = true;
      it = found.erase(it);
    } else {
      ++it;
    }
  }
  absl::StatusOr<std::optional<LogStart>> ckpt = ReadLogStart(env, dir);
  if (!ckpt.ok()) return ckpt.status();

  RecoveredLog out;
  std::vector<Offset> bases;
  for (const auto& [b, ff] : found) bases.push_back(b);
  std::vector<Loaded> loaded;
  for (size_t k = 0; k + 1 < bases.size(); ++k) {
    absl::StatusOr<Loaded> l =
        LoadSealed(env, dir, cfg, bases[k], bases[k + 1], found[bases[k]], report);
    if (!l.ok()) return l.status();
    if (k > 0 && l->st.first_index <= loaded.back().st.first_index) {
      return absl::DataLossError(Path(dir, bases[k], kLogExt) +
                                 ": Raft index does not follow previous segment");
    }
    if (k > 0) loaded.back().st.next_index = l->st.first_index;
    loaded.push_back(std::move(*l));
  }
  while (!bases.empty()) {
    const Offset base = bases.back();
    std::optional<RaftIndex> expect_first;
    // Frames below a mid-segment log start may have older terms than the
    // checkpoint's prev_term, so the first segment's chain starts at term 0.
    Term prev_term(0);
    if (!loaded.empty()) {
      s = ScanSealedTail(Path(dir, loaded.back().st.base_offset, kLogExt), &loaded.back());
      if (!s.ok()) return s;
      if (loaded.back().st.next_offset != base) {
        return absl::DataLossError(Path(dir, base, kLogExt) + ": offset gap before segment");
      }
      expect_first = loaded.back().st.next_index;
      prev_term = loaded.back().st.last_term;
    }
    RaftIndex default_first = ckpt->has_value() ? (*ckpt)->index : RaftIndex(1);
    absl::StatusOr<Loaded> l = RecoverActive(env, dir, cfg, base, expect_first, default_first,
                                             prev_term, now_ms, found[base], report);
    if (!l.ok()) return l.status();
    if (l->st.size > 0 || loaded.empty()) {
      loaded.push_back(std::move(*l));
      break;
    }
    // An empty last segment after a crash during roll: drop it; the previous
    // one becomes active again.
    l->log.reset();
    s = RemoveSegmentFiles(env, dir, base);
    if (!s.ok()) return s;
    report->notes.push_back(absl::StrFormat("removed empty last segment %d", base.value()));
    dir_changed = true;
    bases.pop_back();
    if (!loaded.empty()) loaded.pop_back();  // re-recovered as the active segment
  }

  if (loaded.empty()) {
    LogStart st = ckpt->value_or(LogStart{Offset(0), RaftIndex(1), Term(0)});
    absl::StatusOr<std::unique_ptr<Segment>> seg =
        Segment::Create(env, dir, st.offset, st.index, st.prev_term, cfg, now_ms);
    if (!seg.ok()) return seg.status();
    out.segments.push_back(std::move(*seg));
    dir_changed = true;
  } else {
    for (Loaded& l : loaded) {
      out.segments.push_back(std::make_unique<Segment>(
          env, dir, cfg, std::move(l.log), std::move(l.index), std::move(l.time), l.st));
    }
  }

  // The log start: the checkpoint moves it forward from the first segment.
  const Segment& first = *out.segments.front();
  LogStart start{first.base_offset(), first.first_index(), Term(0)};
  if (ckpt->has_value()) {
    const LogStart& c = **ckpt;
    if (c.index >= start.index) start = c;
  }
  while (out.segments.size() > 1 && out.segments[1]->base_offset() <= start.offset &&
         out.segments[1]->first_index() <= start.index) {
    s = out.segments.front()->RemoveFiles();
    if (!s.ok()) return s;
    report->notes.push_back(absl::StrFormat("removed segment %d below the log start",
                                            out.segments.front()->base_offset().value()));
    out.segments.erase(out.segments.begin());
    dir_changed = true;
  }
  const Segment& last = *out.segments.back();
  if (start.index > last.next_index() || start.offset > last.next_offset()) {
    return absl::DataLossError(absl::StrFormat(
        "%s: log start (index %d, offset %d) beyond the log end (index %d, offset %d)", dir,
        start.index.value(), start.offset.value(), last.next_index().value(),
        last.next_offset().value()));
  }
  out.start = start;
  out.last_index = last.next_index() - 1;
  out.last_term = last.empty() ? start.prev_term : last.state().last_term;
  if (out.last_index < start.index) out.last_term = start.prev_term;
  if (dir_changed) {
    s = env->SyncDir(dir);
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace raftlog::storage
