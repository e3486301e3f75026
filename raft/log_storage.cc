// MemoryStorage and the storage error helpers.
#include "raft/log_storage.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace raftlog::raft {

namespace {
constexpr char kCompacted[] = "raft storage: requested index is compacted";
constexpr char kUnavailable[] = "raft storage: requested index is unavailable";
}  // namespace

absl::Status StorageCompactedError() { return absl::OutOfRangeError(kCompacted); }
bool IsStorageCompacted(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == kCompacted;
}
absl::Status StorageUnavailableError() { return absl::NotFoundError(kUnavailable); }
bool IsStorageUnavailable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kNotFound && s.message() == kUnavailable;
}

MemoryStorage::MemoryStorage() : ents_(1) {}

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{hard_state_, snapshot_.metadata.conf_state};
}

LogIndex MemoryStorage::FirstIndex() const { return ents_[0].index + 1; }
LogIndex MemoryStorage::LastIndex() const { return ents_[0].index + (ents_.size() - 1); }

absl::StatusOr<std::vector<Entry>> MemoryStorage::Entries(LogIndex lo, LogIndex hi,
                                                          uint64_t max_bytes) const {
  const LogIndex offset = ents_[0].index;
  if (lo <= offset) return StorageCompactedError();
  if (hi > LastIndex() + 1) return StorageUnavailableError();
  if (lo > hi) return absl::InvalidArgumentError("raft storage: lo > hi");
  std::vector<Entry> out;
  uint64_t size = 0;
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = ents_[i.value() - offset.value()];
    size += EntrySize(e);
    if (!out.empty() && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> MemoryStorage::TermAt(LogIndex i) const {
  const LogIndex offset = ents_[0].index;
  if (i < offset) return StorageCompactedError();
  if (i > LastIndex()) return StorageUnavailableError();
  return ents_[i.value() - offset.value()].term;
}

absl::StatusOr<Snapshot> MemoryStorage::GetSnapshot() const { return snapshot_; }

void MemoryStorage::SetConfState(const ConfState& cs) { snapshot_.metadata.conf_state = cs; }
void MemoryStorage::SetHardState(const HardState& hs) { hard_state_ = hs; }

absl::Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index != entries[i - 1].index + 1) {
      return absl::InvalidArgumentError("raft storage: append of non-contiguous entries");
    }
  }
  const LogIndex first = FirstIndex();
  LogIndex first_new = entries.front().index;
  if (first_new > LastIndex() + 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("raft storage: append at %d leaves a gap after %d", first_new.value(),
                        LastIndex().value()));
  }
  size_t skip = 0;
  if (first_new < first) {
    // Entries already covered by the snapshot are dropped.
    skip = first.value() - first_new.value();
    if (skip >= entries.size()) return absl::OkStatus();
    first_new = first;
  }
  const size_t pos = first_new.value() - ents_[0].index.value();
  ents_.resize(pos);
  ents_.insert(ents_.end(), entries.begin() + skip, entries.end());
  return absl::OkStatus();
}

absl::Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  if (snap.metadata.index < snapshot_.metadata.index) {
    return absl::FailedPreconditionError("raft storage: snapshot is older than the current one");
  }
  snapshot_ = snap;
  ents_.assign(1, Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, ""});
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryStorage::CreateSnapshot(LogIndex index, const ConfState& cs,
                                                       std::string data) {
  if (index <= snapshot_.metadata.index) {
    return absl::FailedPreconditionError("raft storage: snapshot index is not newer");
  }
  if (index > LastIndex()) {
    return absl::InvalidArgumentError("raft storage: snapshot index beyond last index");
  }
  if (index < ents_[0].index) return StorageCompactedError();
  snapshot_.metadata.index = index;
  snapshot_.metadata.term = ents_[index.value() - ents_[0].index.value()].term;
  snapshot_.metadata.conf_state = cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

absl::Status MemoryStorage::Compact(LogIndex index) {
  const LogIndex offset = ents_[0].index;
  if (index <= offset) return StorageCompactedError();
  if (index > LastIndex()) {
    return absl::InvalidArgumentError("raft storage: compact beyond last index");
  }
  const size_t n = index.value() - offset.value();
  Entry dummy{ents_[n].term, ents_[n].index, EntryType::kNormal, ""};
  ents_.erase(ents_.begin(), ents_.begin() + n);
  ents_[0] = std::move(dummy);
  return absl::OkStatus();
}

}  // namespace raftlog::raft
