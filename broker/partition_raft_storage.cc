// PartitionRaftStorage: mapping between raft entries and partition log
// entries, the Ready write path, and crash reconciliation at Open.
#include "broker/partition_raft_storage.h"

#include <cstring>
#include <span>
#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "storage/big_endian.h"
#include "storage/record_batch_header.h"

namespace raftlog::broker {
namespace {

storage::RaftIndex ToStorage(raft::LogIndex i) {
  return storage::RaftIndex(static_cast<int64_t>(i.value()));
}
storage::Term ToStorage(raft::Term t) { return storage::Term(static_cast<int64_t>(t.value())); }
raft::LogIndex ToRaft(storage::RaftIndex i) {
  return raft::LogIndex(static_cast<uint64_t>(i.value()));
}
raft::Term ToRaft(storage::Term t) { return raft::Term(static_cast<uint64_t>(t.value())); }

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool IsDataEntry(const raft::Entry& e) {
  return e.type == raft::EntryType::kNormal && !e.data.empty();
}

absl::StatusOr<raft::Entry> FromLogEntry(const storage::LogEntry& le) {
  raft::Entry e;
  e.index = ToRaft(le.index);
  e.term = ToRaft(le.term);
  if (le.type == storage::EntryType::kData) {
    e.type = raft::EntryType::kNormal;
    // From a char pointer: one memcpy (uint8_t iterators copy byte by byte).
    e.data = std::string_view(reinterpret_cast<const char*>(le.payload.data()), le.payload.size());
    return e;
  }
  if (le.payload.empty() || le.payload[0] > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    return absl::DataLossError(absl::StrFormat(
        "partition raft storage: entry %d has no valid raft type tag", le.index.value()));
  }
  e.type = static_cast<raft::EntryType>(le.payload[0]);
  e.data =
      std::string_view(reinterpret_cast<const char*>(le.payload.data()) + 1, le.payload.size() - 1);
  return e;
}

}  // namespace

PartitionRaftStorage::PartitionRaftStorage(std::string dir, storage::Env* env,
                                           std::unique_ptr<storage::PartitionLog> log,
                                           RaftState state)
    : dir_(std::move(dir)),
      env_(env),
      log_(std::move(log)),
      state_(std::move(state)),
      hard_state_(state_.hard_state) {}

absl::StatusOr<std::unique_ptr<PartitionRaftStorage>> PartitionRaftStorage::Open(
    const std::string& dir, storage::PartitionLogOptions log_options,
    const raft::ConfState& initial_conf_state) {
  storage::Env* env = log_options.env;
  if (absl::Status s = env->CreateDir(dir); !s.ok()) return s;
  absl::StatusOr<std::optional<RaftState>> state = ReadRaftState(env, dir);
  if (!state.ok()) return state.status();
  log_options.fsync_policy = storage::FsyncPolicy::kNever;
  storage::OpenReport report;
  absl::StatusOr<std::unique_ptr<storage::PartitionLog>> log =
      storage::PartitionLog::Open(dir + "/log", std::move(log_options), &report);
  if (!log.ok()) return log.status();
  // A cut tail is data this replica had written and no longer has (torn by
  // a crash, or corrupt): worth a line in the log, never silent.
  if (report.truncated_bytes > 0 || !report.foreign_files.empty()) {
    LOG(WARNING) << "partition log " << dir
                 << "/log recovered: " << absl::StrJoin(report.notes, "; ") << " ("
                 << report.truncated_bytes << " bytes cut from the tail)";
  } else if (!report.notes.empty()) {
    LOG(INFO) << "partition log " << dir << "/log: " << absl::StrJoin(report.notes, "; ");
  }
  RaftState st;
  if (state->has_value()) {
    st = **state;
  } else {
    // Only a brand-new group may lack the file.
    if ((*log)->last_index() >= (*log)->first_index() ||
        (*log)->first_index() != storage::RaftIndex(1)) {
      return absl::DataLossError(absl::StrFormat(
          "%s/%s is missing but the log holds entries [%d, %d]", dir, kRaftStateFileName,
          (*log)->first_index().value(), (*log)->last_index().value()));
    }
    st.conf_state = initial_conf_state;
    st.snapshot_next_offset = (*log)->next_offset();
    if (absl::Status s = WriteRaftState(env, dir, st); !s.ok()) return s;
  }
  std::unique_ptr<PartitionRaftStorage> p(
      new PartitionRaftStorage(dir, env, *std::move(log), std::move(st)));
  if (absl::Status s = p->Reconcile(); !s.ok()) return s;
  return p;
}

absl::Status PartitionRaftStorage::Reconcile() {
  const raft::LogIndex log_prev = ToRaft(log_->first_index()) - 1;
  if (state_.snapshot_index == log_prev) {
    absl::StatusOr<storage::Term> t = log_->TermAt(log_->first_index() - 1);
    if (!t.ok()) return t.status();
    if (ToRaft(*t) != state_.snapshot_term) {
      return absl::DataLossError(absl::StrFormat(
          "%s: snapshot term %d at index %d but the log start records term %d", dir_,
          state_.snapshot_term.value(), state_.snapshot_index.value(), t->value()));
    }
    return absl::OkStatus();
  }
  if (state_.snapshot_index < log_prev) {
    return absl::DataLossError(
        absl::StrFormat("%s: log starts after index %d, beyond the recorded snapshot index %d",
                        dir_, log_prev.value(), state_.snapshot_index.value()));
  }
  // raft-state is ahead of the log: a crash between writing it and cutting
  // the log. Keep the suffix if the log holds the snapshot's entry (Raft
  // paper 7: a matching entry keeps the entries after it); else restart.
  const storage::RaftIndex idx = ToStorage(state_.snapshot_index);
  if (idx <= log_->last_index()) {
    absl::StatusOr<storage::Term> t = log_->TermAt(idx);
    if (!t.ok()) return t.status();
    if (ToRaft(*t) == state_.snapshot_term) return log_->DropPrefixBeforeIndex(idx + 1);
  }
  return log_->ResetTo(idx + 1, ToStorage(state_.snapshot_term), state_.snapshot_next_offset);
}

absl::Status PartitionRaftStorage::WriteState(RaftState s) {
  s.hard_state = hard_state_;
  if (absl::Status st = WriteRaftState(env_, dir_, s); !st.ok()) return st;
  state_ = s;
  return absl::OkStatus();
}

// ---- raft::LogStorage ----

absl::StatusOr<raft::InitialState> PartitionRaftStorage::GetInitialState() const {
  return raft::InitialState{hard_state_, state_.conf_state};
}

raft::LogIndex PartitionRaftStorage::FirstIndex() const { return ToRaft(log_->first_index()); }
raft::LogIndex PartitionRaftStorage::LastIndex() const { return ToRaft(log_->last_index()); }

absl::StatusOr<std::vector<raft::Entry>> PartitionRaftStorage::Entries(raft::LogIndex lo,
                                                                       raft::LogIndex hi,
                                                                       uint64_t max_bytes) const {
  if (lo < FirstIndex()) return raft::StorageCompactedError();
  if (hi > LastIndex() + 1) return raft::StorageUnavailableError();
  if (lo > hi) return absl::InvalidArgumentError("partition raft storage: lo > hi");
  std::vector<raft::Entry> out;
  if (lo == hi) return out;
  if (std::optional<std::vector<raft::Entry>> cached = CachedEntries(lo, hi, max_bytes)) {
    return *std::move(cached);
  }
  // Stored payload sizes are <= EntrySize, so the log's byte limit returns
  // at least the entries that fit ours; trim to ours below.
  absl::StatusOr<std::vector<storage::LogEntry>> les =
      log_->ReadEntries(ToStorage(lo), ToStorage(hi), static_cast<size_t>(max_bytes));
  if (!les.ok()) return les.status();
  uint64_t size = 0;
  for (const storage::LogEntry& le : *les) {
    absl::StatusOr<raft::Entry> e = FromLogEntry(le);
    if (!e.ok()) return e.status();
    size += raft::EntrySize(*e);
    if (!out.empty() && size > max_bytes) break;
    out.push_back(*std::move(e));
  }
  return out;
}

std::optional<std::vector<raft::Entry>> PartitionRaftStorage::CachedEntries(
    raft::LogIndex lo, raft::LogIndex hi, uint64_t max_bytes) const {
  if (tail_.empty() || lo < tail_.front().index || hi > tail_.back().index + 1 ||
      tail_.back().index != LastIndex()) {
    return std::nullopt;
  }
  std::vector<raft::Entry> out;
  out.reserve(hi.value() - lo.value());
  uint64_t size = 0;
  for (size_t i = lo.value() - tail_.front().index.value(); i < tail_.size(); ++i) {
    const raft::Entry& e = tail_[i];
    if (e.index >= hi) break;
    size += raft::EntrySize(e);
    if (!out.empty() && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void PartitionRaftStorage::CacheAppended(std::vector<raft::Entry>& entries, size_t skip,
                                         storage::Offset first_offset) {
  if (!tail_.empty() && tail_.back().index + 1 != entries[skip].index) {
    tail_.clear();
    tail_bytes_ = 0;
  }
  int64_t next = first_offset.value();
  for (size_t i = skip; i < entries.size(); ++i) {
    raft::Entry& e = tail_.emplace_back(raft::Entry{entries[i].term, entries[i].index,
                                                    entries[i].type, std::move(entries[i].data)});
    tail_bytes_ += raft::EntrySize(e);
    if (IsDataEntry(e)) {
      // Validated by AppendUnsynced; the log stored the assigned base offset
      // in bytes 0..7 (outside the batch CRC).
      char base[8];
      storage::StoreBigEndian<int64_t>(reinterpret_cast<uint8_t*>(base), next);
      if (std::memcmp(e.data.data(), base, sizeof(base)) != 0) {
        // The payload is shared and immutable: a placeholder base offset
        // costs a copy (none when the proposer predicted the offset).
        std::string stamped(e.data.view());
        stamped.replace(0, sizeof(base), base, sizeof(base));
        e.data = std::move(stamped);
        tail_restamped_.fetch_add(1, std::memory_order_relaxed);
      }
      next += static_cast<int64_t>(storage::ParseBatchHeader(Bytes(e.data))->last_offset_delta) + 1;
    }
  }
  while (!tail_.empty() && (tail_.size() > kMaxTailEntries || tail_bytes_ > kMaxTailBytes)) {
    tail_bytes_ -= raft::EntrySize(tail_.front());
    tail_.pop_front();
  }
}

void PartitionRaftStorage::CacheReady(std::vector<raft::Entry>* take_from,
                                      const std::vector<raft::Entry>* copy_from) {
  if (!ready_append_) return;
  const ReadyAppend a = *ready_append_;
  ready_append_.reset();
  const std::vector<raft::Entry>& entries = take_from != nullptr ? *take_from : *copy_from;
  // Only the Ready just written, and only while nothing was written since.
  if (entries.size() <= a.skip || entries[a.skip].index != a.first ||
      entries.back().index != a.last || a.last != LastIndex()) {
    return;
  }
  if (take_from != nullptr) {
    CacheAppended(*take_from, a.skip, a.first_offset);
  } else {
    std::vector<raft::Entry> copy(copy_from->begin() + static_cast<ptrdiff_t>(a.skip),
                                  copy_from->end());
    CacheAppended(copy, 0, a.first_offset);
  }
}

void PartitionRaftStorage::AdoptReadyEntries(std::vector<raft::Entry>& entries) {
  CacheReady(&entries, nullptr);
}

void PartitionRaftStorage::ReleaseAppliedUpTo(raft::LogIndex applied) {
  while (!tail_.empty() && tail_.front().index <= applied) {
    tail_bytes_ -= raft::EntrySize(tail_.front());
    tail_.pop_front();
  }
}

absl::StatusOr<raft::Term> PartitionRaftStorage::TermAt(raft::LogIndex i) const {
  if (i + 1 < FirstIndex()) return raft::StorageCompactedError();
  if (i > LastIndex()) return raft::StorageUnavailableError();
  absl::StatusOr<storage::Term> t = log_->TermAt(ToStorage(i));
  if (!t.ok()) return t.status();
  return ToRaft(*t);
}

absl::StatusOr<raft::Snapshot> PartitionRaftStorage::GetSnapshot() const {
  raft::Snapshot snap;
  snap.metadata.index = state_.snapshot_index;
  snap.metadata.term = state_.snapshot_term;
  snap.metadata.conf_state = state_.conf_state;
  snap.data = EncodeSnapshotData(state_.snapshot_next_offset);
  return snap;
}

std::string PartitionRaftStorage::EncodeSnapshotData(storage::Offset next_offset) {
  uint8_t b[8];
  storage::StoreBigEndian<int64_t>(b, next_offset.value());
  return std::string(reinterpret_cast<const char*>(b), 8);
}

absl::StatusOr<storage::Offset> PartitionRaftStorage::DecodeSnapshotData(const std::string& data) {
  if (data.size() != 8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "partition snapshot data must be an 8-byte offset, got %d bytes", data.size()));
  }
  const int64_t v = storage::LoadBigEndian<int64_t>(reinterpret_cast<const uint8_t*>(data.data()));
  if (v < 0) return absl::InvalidArgumentError("partition snapshot offset is negative");
  return storage::Offset(v);
}

absl::StatusOr<storage::Offset> PartitionRaftStorage::NextOffsetAfter(raft::LogIndex index) const {
  if (!recent_.empty() && index >= recent_.front().index && index <= recent_.back().index) {
    return recent_[index.value() - recent_.front().index.value()].next_offset;
  }
  if (index + 1 == FirstIndex()) return state_.snapshot_next_offset;
  const storage::RaftIndex next = ToStorage(index) + 1;
  if (next > log_->last_index()) return log_->next_offset();
  absl::StatusOr<std::vector<storage::LogEntry>> les = log_->ReadEntries(next, next + 1, 1);
  if (!les.ok()) return les.status();
  return les->front().first_offset;
}

// ---- Write path ----

absl::Status PartitionRaftStorage::PersistReady(const raft::Ready& rd) {
  if (absl::Status s = WriteReady(rd); !s.ok()) return s;
  if (absl::Status s = SyncReady(); !s.ok()) return s;
  CacheReady(nullptr, &rd.entries);
  return FinishReady(rd);
}

absl::Status PartitionRaftStorage::WriteReady(const raft::Ready& rd) {
  if (rd.snapshot && !rd.snapshot->IsEmpty()) {
    if (absl::Status s = ApplySnapshot(*rd.snapshot); !s.ok()) return s;
  }
  caching_ = true;
  absl::Status s = AppendUnsynced(rd.entries);
  caching_ = false;
  return s;
}

absl::Status PartitionRaftStorage::SyncReady() {
  if (!unsynced_) return absl::OkStatus();
  if (absl::Status s = log_->Sync(); !s.ok()) return s;
  unsynced_ = false;
  return absl::OkStatus();
}

absl::Status PartitionRaftStorage::FinishReady(const raft::Ready& rd) {
  if (rd.hard_state) return SetHardState(*rd.hard_state);
  return absl::OkStatus();
}

absl::Status PartitionRaftStorage::ApplySnapshot(const raft::Snapshot& snap) {
  if (snap.metadata.index < state_.snapshot_index) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "partition raft storage: snapshot at %d is older than the current one at %d",
        snap.metadata.index.value(), state_.snapshot_index.value()));
  }
  absl::StatusOr<storage::Offset> next = DecodeSnapshotData(snap.data);
  if (!next.ok()) return next.status();
  RaftState s = state_;
  s.snapshot_index = snap.metadata.index;
  s.snapshot_term = snap.metadata.term;
  s.snapshot_next_offset = *next;
  s.conf_state = snap.metadata.conf_state;
  // raft-state first: Open redoes the ResetTo after a crash in between.
  if (absl::Status st = WriteState(s); !st.ok()) return st;
  recent_.clear();
  tail_.clear();
  tail_bytes_ = 0;
  ready_append_.reset();
  return log_->ResetTo(ToStorage(s.snapshot_index) + 1, ToStorage(s.snapshot_term), *next);
}

absl::Status PartitionRaftStorage::Append(const std::vector<raft::Entry>& entries) {
  if (absl::Status s = AppendUnsynced(entries); !s.ok()) return s;
  return SyncReady();  // The one fsync of these entries.
}

absl::Status PartitionRaftStorage::AppendUnsynced(const std::vector<raft::Entry>& entries) {
  ready_append_.reset();
  if (entries.empty()) return absl::OkStatus();
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != entries[i - 1].index + 1) {
      return absl::InvalidArgumentError("partition raft storage: append of non-contiguous entries");
    }
  }
  for (const raft::Entry& e : entries) {
    if (IsDataEntry(e)) {
      if (absl::StatusOr<storage::BatchHeader> h = storage::ParseBatchHeader(Bytes(e.data));
          !h.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("partition raft storage: normal entry %d is not a record batch: %s",
                            e.index.value(), h.status().message()));
      }
    }
  }
  const raft::LogIndex first = FirstIndex();
  if (entries.front().index > LastIndex() + 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("partition raft storage: append at %d leaves a gap after %d",
                        entries.front().index.value(), LastIndex().value()));
  }
  size_t skip = 0;
  if (entries.front().index < first) {
    // Entries already covered by the snapshot are dropped.
    skip = first.value() - entries.front().index.value();
    if (skip >= entries.size()) return absl::OkStatus();
  }
  const raft::LogIndex first_new = entries[skip].index;
  if (first_new <= LastIndex()) {
    // Conflict: the new entry replaces the one at its index and all later.
    while (!recent_.empty() && recent_.back().index >= first_new) recent_.pop_back();
    while (!tail_.empty() && tail_.back().index >= first_new) {
      tail_bytes_ -= raft::EntrySize(tail_.back());
      tail_.pop_back();
    }
    unsynced_ = true;
    if (absl::Status s = log_->TruncateSuffix(ToStorage(first_new) - 1); !s.ok()) return s;
  }
  std::vector<std::string> tagged;  // Owns kRaft payloads (tag byte + data).
  tagged.reserve(entries.size() - skip);
  std::vector<storage::AppendEntry> out;
  out.reserve(entries.size() - skip);
  for (size_t i = skip; i < entries.size(); ++i) {
    const raft::Entry& e = entries[i];
    storage::AppendEntry ae;
    ae.index = ToStorage(e.index);
    ae.term = ToStorage(e.term);
    if (IsDataEntry(e)) {
      ae.type = storage::EntryType::kData;
      ae.payload = Bytes(e.data);
    } else {
      std::string& t = tagged.emplace_back();
      t.reserve(e.data.size() + 1);
      t.push_back(static_cast<char>(e.type));
      t.append(e.data.view());
      ae.type = storage::EntryType::kRaft;
      ae.payload = Bytes(t);
    }
    out.push_back(ae);
  }
  unsynced_ = true;
  absl::StatusOr<storage::AppendResult> r = log_->Append(out);
  if (!r.ok()) {
    tail_.clear();
    tail_bytes_ = 0;
    return r.status();
  }
  RememberAppended(entries, skip, r->first_offset);
  if (caching_) {
    // Cached when the host hands the entries over (AdoptReadyEntries).
    ready_append_ = ReadyAppend{skip, entries[skip].index, entries.back().index, r->first_offset};
  } else {
    tail_.clear();  // it must end at LastIndex()
    tail_bytes_ = 0;
  }
  return absl::OkStatus();
}

absl::Status PartitionRaftStorage::ReplayEntries(const std::vector<raft::Entry>& entries) {
  size_t i = 0;
  while (i < entries.size() && entries[i].index < FirstIndex()) ++i;
  for (; i < entries.size() && entries[i].index <= LastIndex(); ++i) {
    absl::StatusOr<raft::Term> t = TermAt(entries[i].index);
    if (!t.ok()) return t.status();
    if (*t != entries[i].term) break;  // conflict: replace from here
  }
  if (i == entries.size()) return absl::OkStatus();
  if (entries[i].index > LastIndex() + 1) {
    return absl::DataLossError(absl::StrFormat(
        "%s: journal replay would leave a gap: log ends at %d, journal continues at %d", dir_,
        LastIndex().value(), entries[i].index.value()));
  }
  return AppendUnsynced(
      std::vector<raft::Entry>(entries.begin() + static_cast<long>(i), entries.end()));
}

void PartitionRaftStorage::RememberAppended(const std::vector<raft::Entry>& entries, size_t skip,
                                            storage::Offset first_offset) {
  constexpr size_t kMaxRecent = 1 << 14;
  if (!recent_.empty() && recent_.back().index + 1 != entries[skip].index) recent_.clear();
  int64_t next = first_offset.value();
  for (size_t i = skip; i < entries.size(); ++i) {
    const raft::Entry& e = entries[i];
    if (IsDataEntry(e)) {
      // Validated by AppendUnsynced before the append.
      next += static_cast<int64_t>(storage::ParseBatchHeader(Bytes(e.data))->last_offset_delta) + 1;
    }
    recent_.push_back({e.index, storage::Offset(next)});
  }
  while (recent_.size() > kMaxRecent) recent_.pop_front();
}

absl::Status PartitionRaftStorage::SetHardState(const raft::HardState& hs) {
  const bool must_persist = hs.term != hard_state_.term || hs.vote != hard_state_.vote;
  hard_state_ = hs;
  if (!must_persist) return absl::OkStatus();
  return WriteState(state_);
}

absl::Status PartitionRaftStorage::Compact(raft::LogIndex index,
                                           const raft::ConfState& conf_state) {
  if (index < FirstIndex() || index > LastIndex()) {
    return absl::OutOfRangeError(
        absl::StrFormat("partition raft storage: compact to %d outside [%d, %d]", index.value(),
                        FirstIndex().value(), LastIndex().value()));
  }
  absl::StatusOr<raft::Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  absl::StatusOr<storage::Offset> next = NextOffsetAfter(index);
  if (!next.ok()) return next.status();
  RaftState s = state_;
  s.snapshot_index = index;
  s.snapshot_term = *term;
  s.snapshot_next_offset = *next;
  s.conf_state = conf_state;
  // raft-state first: Open redoes the cut after a crash in between.
  if (absl::Status st = WriteState(s); !st.ok()) return st;
  while (!recent_.empty() && recent_.front().index < index) recent_.pop_front();
  ReleaseAppliedUpTo(index);
  ready_append_.reset();
  return log_->DropPrefixBeforeIndex(ToStorage(index) + 1);
}

}  // namespace raftlog::broker
