// LogStorage: the read-only view of the host's durable Raft state that the
// core consults (the shape of etcd's raft.Storage), and MemoryStorage, an
// in-memory implementation for tests, the simulator and benchmarks.
//
// The core never writes storage. The host writes it while handling a Ready
// (see raw_node.h) and only then calls Advance; so everything LogStorage
// returns is durable. Index layout: entries (FirstIndex()-1, LastIndex()] are
// retrievable, the entry at FirstIndex()-1 is the last one covered by the
// snapshot (its term stays answerable through TermAt()).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace raftlog::raft {

// Error for an index below FirstIndex() (entries compacted into a snapshot).
absl::Status StorageCompactedError();
bool IsStorageCompacted(const absl::Status& s);
// Error for an index above LastIndex().
absl::Status StorageUnavailableError();
bool IsStorageUnavailable(const absl::Status& s);

struct InitialState {
  HardState hard_state;
  // Membership as of the latest snapshot. The core replays conf-change
  // entries in (snapshot index, Config::applied] on top of it.
  ConfState conf_state;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;
  // Entries [lo, hi), at most max_bytes in total (EntrySize) but always at
  // least one entry if lo < hi. StorageCompactedError if lo < FirstIndex();
  // StorageUnavailableError if hi > LastIndex() + 1.
  virtual absl::StatusOr<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                                     uint64_t max_bytes) const = 0;
  // Term of entry i, for i in [FirstIndex()-1, LastIndex()].
  virtual absl::StatusOr<Term> TermAt(LogIndex i) const = 0;
  virtual LogIndex FirstIndex() const = 0;
  virtual LogIndex LastIndex() const = 0;
  // Most recent snapshot (empty Snapshot if none). absl::UnavailableError if
  // it is temporarily not ready; the core retries later.
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;
};

// In-memory LogStorage. Not thread-safe (neither is anything in raft/).
class MemoryStorage : public LogStorage {
 public:
  MemoryStorage();

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                             uint64_t max_bytes) const override;
  absl::StatusOr<Term> TermAt(LogIndex i) const override;
  LogIndex FirstIndex() const override;
  LogIndex LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  // Bootstrap: sets the membership of the (empty) initial snapshot at index
  // 0. Every member of a new group uses the same ConfState. A node joining an
  // existing group uses the group's current membership (without itself; e.g.
  // sent along in ConfChange::context): the log's config changes replayed on
  // top of it give the same result, since each sets a node's role outright.
  void SetConfState(const ConfState& cs);
  void SetHardState(const HardState& hs);
  HardState hard_state() const { return hard_state_; }

  // Appends entries; an entry whose index already exists replaces it and
  // everything after it (the core only sends such truncations on a real
  // conflict). InvalidArgument on a gap or a non-contiguous batch.
  absl::Status Append(const std::vector<Entry>& entries);
  // Replaces the whole state with snapshot `snap` (a Ready's snapshot). Error
  // if snap is older than the current snapshot.
  absl::Status ApplySnapshot(const Snapshot& snap);
  // Records a snapshot the application made at applied index `index`
  // (<= LastIndex()); does not compact. Error if index <= current snapshot.
  absl::StatusOr<Snapshot> CreateSnapshot(LogIndex index, const ConfState& cs, std::string data);
  // Drops entries up to and including `index` (<= LastIndex()). The host
  // should compact only up to a snapshot it created, so that a follower
  // needing the dropped entries can be sent that snapshot.
  absl::Status Compact(LogIndex index);

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  // ents_[0] is a dummy entry holding the index/term of the last compacted
  // entry. Invariant: ents_ non-empty, indexes contiguous.
  std::vector<Entry> ents_;
};

}  // namespace raftlog::raft
