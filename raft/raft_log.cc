// RaftLog and Unstable: see raft_log.h.
#include "raft/raft_log.h"

#include <algorithm>

#include "raft/check.h"

namespace raftlog::raft {

// ---- Unstable ----

std::optional<LogIndex> Unstable::MaybeFirstIndex() const {
  if (snapshot) return snapshot->metadata.index + 1;
  return std::nullopt;
}

std::optional<LogIndex> Unstable::MaybeLastIndex() const {
  if (!entries.empty()) return offset + (entries.size() - 1);
  if (snapshot) return snapshot->metadata.index;
  return std::nullopt;
}

std::optional<Term> Unstable::MaybeTerm(LogIndex i) const {
  if (i < offset) {
    if (snapshot && snapshot->metadata.index == i) return snapshot->metadata.term;
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  if (entries.empty()) return std::nullopt;
  return entries[i.value() - offset.value()].term;
}

void Unstable::StableTo(LogIndex index, Term term) {
  if (index < offset || entries.empty()) return;
  auto t = MaybeTerm(index);
  // PITFALLS #16: the entry persisted must still be the one we hold.
  if (!t || *t != term) return;
  entries.erase(entries.begin(), entries.begin() + (index.value() - offset.value() + 1));
  offset = index + 1;
}

void Unstable::StableSnapTo(LogIndex index) {
  if (snapshot && snapshot->metadata.index == index) snapshot.reset();
}

void Unstable::Restore(const Snapshot& s) {
  offset = s.metadata.index + 1;
  entries.clear();
  snapshot = s;
}

void Unstable::TruncateAndAppend(const std::vector<Entry>& ents) {
  if (ents.empty()) return;
  const LogIndex after = ents.front().index;
  if (after == offset + entries.size()) {
    entries.insert(entries.end(), ents.begin(), ents.end());
  } else if (after <= offset) {
    // Replaces everything unstable; storage's suffix from `after` is
    // overwritten when the host persists these.
    offset = after;
    entries = ents;
  } else {
    entries.resize(after.value() - offset.value());
    entries.insert(entries.end(), ents.begin(), ents.end());
  }
}

std::vector<Entry> Unstable::Slice(LogIndex lo, LogIndex hi) const {
  RAFT_CHECK(offset <= lo && lo <= hi && hi <= offset + entries.size());
  return std::vector<Entry>(entries.begin() + (lo.value() - offset.value()),
                            entries.begin() + (hi.value() - offset.value()));
}

// ---- RaftLog ----

RaftLog::RaftLog(const LogStorage* storage) : storage_(storage) {
  unstable_.offset = storage_->LastIndex() + 1;
  committed_ = storage_->FirstIndex() - 1;
  applied_ = committed_;
}

LogIndex RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

LogIndex RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

Term RaftLog::LastTerm() const {
  auto t = TermAt(LastIndex());
  RAFT_CHECK(t.has_value());
  return *t;
}

LogIndex RaftLog::StableLastIndex() const {
  if (unstable_.snapshot) {
    return std::min(storage_->LastIndex(), unstable_.snapshot->metadata.index - 1);
  }
  return std::min(storage_->LastIndex(), unstable_.offset - 1);
}

std::optional<Term> RaftLog::TermAt(LogIndex i) const {
  const LogIndex dummy = FirstIndex() - 1;
  if (i < dummy || i > LastIndex()) return std::nullopt;
  if (auto t = unstable_.MaybeTerm(i)) return t;
  if (i >= unstable_.offset) return std::nullopt;
  auto t = storage_->TermAt(i);
  if (!t.ok()) return std::nullopt;
  return *t;
}

bool RaftLog::MatchTerm(LogIndex i, Term t) const {
  auto have = TermAt(i);
  return have.has_value() && *have == t;
}

bool RaftLog::IsUpToDate(LogIndex last_index, Term last_term) const {
  const Term my_term = LastTerm();
  return last_term > my_term || (last_term == my_term && last_index >= LastIndex());
}

std::optional<LogIndex> RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return std::nullopt;
}

std::optional<LogIndex> RaftLog::MaybeAppend(LogIndex prev_index, Term prev_term,
                                             LogIndex leader_commit, const std::vector<Entry>& ents,
                                             std::optional<LogIndex>* replaced_from) {
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const LogIndex last_new = prev_index + ents.size();
  if (auto ci = FindConflict(ents)) {
    // A conflict inside the committed prefix would mean two different
    // committed entries at one index: Log Matching is broken.
    RAFT_CHECK(*ci > committed_);
    if (replaced_from != nullptr && *ci <= LastIndex()) *replaced_from = *ci;
    const size_t from = ci->value() - (prev_index.value() + 1);
    Append(std::vector<Entry>(ents.begin() + from, ents.end()));
  }
  // PITFALLS #6: commit no further than this message verified.
  CommitTo(std::min(leader_commit, last_new));
  return last_new;
}

LogIndex RaftLog::Append(const std::vector<Entry>& ents) {
  if (ents.empty()) return LastIndex();
  RAFT_CHECK(ents.front().index > committed_);
  RAFT_CHECK(ents.front().index <= LastIndex() + 1);
  unstable_.TruncateAndAppend(ents);
  return LastIndex();
}

void RaftLog::CommitTo(LogIndex to) {
  if (committed_ >= to) return;  // Never decreases.
  RAFT_CHECK(to <= LastIndex());
  committed_ = to;
}

void RaftLog::AppliedTo(LogIndex i) {
  if (i == LogIndex(0)) return;
  RAFT_CHECK(i <= committed_ && i >= applied_);
  applied_ = i;
}

bool RaftLog::MaybeCommit(LogIndex max_index, Term term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::Restore(const Snapshot& s) {
  committed_ = s.metadata.index;
  unstable_.Restore(s);
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(LogIndex lo, LogIndex hi,
                                                  uint64_t max_bytes) const {
  if (lo < FirstIndex()) return StorageCompactedError();
  if (hi > LastIndex() + 1) return StorageUnavailableError();
  std::vector<Entry> out;
  if (lo >= hi) return out;
  if (lo < unstable_.offset) {
    const LogIndex shi = std::min(hi, unstable_.offset);
    auto stored = storage_->Entries(lo, shi, max_bytes);
    if (!stored.ok()) return stored.status();
    out = std::move(*stored);
    if (out.size() < shi.value() - lo.value()) return out;  // Size-limited.
  }
  if (hi > unstable_.offset) {
    auto u = unstable_.Slice(std::max(lo, unstable_.offset), hi);
    out.insert(out.end(), std::make_move_iterator(u.begin()), std::make_move_iterator(u.end()));
  }
  uint64_t size = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    size += EntrySize(out[i]);
    if (i > 0 && size > max_bytes) {
      out.resize(i);
      break;
    }
  }
  return out;
}

absl::StatusOr<std::vector<Entry>> RaftLog::EntriesFrom(LogIndex lo, uint64_t max_bytes) const {
  if (lo > LastIndex()) return std::vector<Entry>();
  return Slice(lo, LastIndex() + 1, max_bytes);
}

bool RaftLog::HasNextCommittedEntries() const {
  return !unstable_.snapshot && committed_ > applied_;
}

std::vector<Entry> RaftLog::NextCommittedEntries(uint64_t max_bytes) const {
  if (!HasNextCommittedEntries()) return {};
  auto ents = Slice(applied_ + 1, committed_ + 1, max_bytes);
  RAFT_CHECK(ents.ok());
  return std::move(*ents);
}

absl::StatusOr<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot) return *unstable_.snapshot;
  return storage_->GetSnapshot();
}

}  // namespace raftlog::raft
