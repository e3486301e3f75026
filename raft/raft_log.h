// RaftLog: the node's view of its log [3.5]: the durable part read through
// LogStorage plus the Unstable tail (entries and possibly a snapshot not yet
// acknowledged as persisted through Advance), with the commit and applied
// indexes.
//
// Layout: storage holds [storage.FirstIndex(), unstable.offset); Unstable
// holds [offset, LastIndex()]. An index >= offset is read from Unstable even
// if storage still has an older (overwritten) copy of it.
// Invariants: applied <= committed <= LastIndex();
//             FirstIndex() - 1 <= applied (compaction only below applied).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftlog::raft {

// Entries (and a snapshot) that the host has not yet reported durable.
// Invariant: entries[i].index == offset + i; if snapshot is set, offset ==
// snapshot->metadata.index + 1.
class Unstable {
 public:
  std::optional<LogIndex> MaybeFirstIndex() const;
  std::optional<LogIndex> MaybeLastIndex() const;
  std::optional<Term> MaybeTerm(LogIndex i) const;

  // The host persisted entries up to (index, term). Ignored unless the entry
  // at index still has that term (it may have been overwritten meanwhile).
  void StableTo(LogIndex index, Term term);
  void StableSnapTo(LogIndex index);
  void Restore(const Snapshot& s);
  void TruncateAndAppend(const std::vector<Entry>& ents);
  // Entries [lo, hi); requires offset <= lo <= hi <= last + 1.
  std::vector<Entry> Slice(LogIndex lo, LogIndex hi) const;

  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;
  LogIndex offset;
};

class RaftLog {
 public:
  explicit RaftLog(const LogStorage* storage);

  LogIndex FirstIndex() const;
  LogIndex LastIndex() const;
  Term LastTerm() const;
  // Highest index that is durable (in storage and not overwritten).
  LogIndex StableLastIndex() const;
  // Term of entry i; std::nullopt if compacted or beyond the last index.
  std::optional<Term> TermAt(LogIndex i) const;
  Term TermOrZero(LogIndex i) const { return TermAt(i).value_or(Term(0)); }
  bool MatchTerm(LogIndex i, Term t) const;
  // Candidate's log (last index, last term) is at least as up-to-date as
  // ours [3.6.1].
  bool IsUpToDate(LogIndex last_index, Term last_term) const;

  // AppendEntries consistency check and append [3.5]. If our entry at
  // prev_index has prev_term, appends the entries that are new, truncating
  // only at the first real conflict (an entry at the same index with a
  // different term), never because a stale or reordered message is shorter
  // (PITFALLS #6); advances commit to min(leader_commit, prev_index +
  // len(ents)), the last index this message verified. Returns that index, or
  // nullopt on a mismatch. If it replaced entries we held (a conflict),
  // `*replaced_from` (when given) is set to the first replaced index.
  std::optional<LogIndex> MaybeAppend(LogIndex prev_index, Term prev_term, LogIndex leader_commit,
                                      const std::vector<Entry>& ents,
                                      std::optional<LogIndex>* replaced_from = nullptr);
  // Appends at the tail (leader). Returns the new last index.
  LogIndex Append(const std::vector<Entry>& ents);
  // First index among ents whose term differs from ours or that we lack;
  // nullopt if all are present.
  std::optional<LogIndex> FindConflict(const std::vector<Entry>& ents) const;

  void CommitTo(LogIndex to);
  void AppliedTo(LogIndex i);
  void StableTo(LogIndex i, Term t) { unstable_.StableTo(i, t); }
  void StableSnapTo(LogIndex i) { unstable_.StableSnapTo(i); }
  // Leader: commit to max_index if that entry has term `term` [3.6.2].
  bool MaybeCommit(LogIndex max_index, Term term);
  void Restore(const Snapshot& s);

  // Entries [lo, hi), at most max_bytes (at least one).
  absl::StatusOr<std::vector<Entry>> Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const;
  absl::StatusOr<std::vector<Entry>> EntriesFrom(LogIndex lo, uint64_t max_bytes) const;
  // Committed entries not yet applied (none while a snapshot is pending).
  std::vector<Entry> NextCommittedEntries(uint64_t max_bytes) const;
  bool HasNextCommittedEntries() const;
  const std::vector<Entry>& UnstableEntries() const { return unstable_.entries; }
  const std::optional<Snapshot>& UnstableSnapshot() const { return unstable_.snapshot; }
  // The latest snapshot (unstable one first, else storage's).
  absl::StatusOr<Snapshot> GetSnapshot() const;

  LogIndex committed() const { return committed_; }
  LogIndex applied() const { return applied_; }
  const LogStorage* storage() const { return storage_; }
  // Restart only: the host's applied index.
  void SetApplied(LogIndex i) { applied_ = i; }

 private:
  const LogStorage* storage_;
  Unstable unstable_;
  // Invariant: applied_ <= committed_ <= LastIndex().
  LogIndex committed_;
  LogIndex applied_;
};

}  // namespace raftlog::raft
