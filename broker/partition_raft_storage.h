// PartitionRaftStorage: raft::LogStorage over a storage::PartitionLog, for
// one partition's Raft group (DESIGN.md decision 2: the partition log IS the
// Raft log), plus the host's write path for a Ready (PersistReady).
//
// Directory layout: <dir>/raft-state (raft_state_file.h: hard state and
// snapshot metadata) and <dir>/log/ (the PartitionLog). The log gets its own
// subdirectory so that PartitionLog::Open does not report raft-state as a
// foreign file on every open.
//
// ENTRY MAPPING (raft::Entry <-> storage::AppendEntry):
//   - kNormal with non-empty data: the data MUST be one RecordBatch v2
//     (ParseBatchHeader succeeds; PersistReady returns InvalidArgument
//     otherwise, before touching the log). Stored as storage kData; the log
//     assigns its base offset from its tail. Entries() returns the stored
//     bytes: identical to the proposed data EXCEPT bytes 0..7 (the base
//     offset), which hold the assigned offset. The base offset is outside the
//     batch CRC, so the batch stays valid. Every replica appends the same
//     prefix of entries, so every replica assigns the same offsets; the
//     proposer's base offset is ignored.
//   - kNoop, kConfChange, and kNormal with empty data: stored as storage
//     kRaft (no offsets) with payload = 1 tag byte (the raft::EntryType
//     value) + data; read back as that type and data, byte-identical.
//
// SNAPSHOT SEMANTICS: a partition needs no snapshot data blob: the log below
// the snapshot index is the state, and compaction (Compact) drops a log
// prefix. Invariant (checked at Open): the snapshot index recorded in
// raft-state == log first_index()-1, and its term == log TermAt(that index).
// GetSnapshot() returns metadata {index = FirstIndex()-1, term, conf state as
// of that index} and data = the 8-byte big-endian offset of the first record
// after that index (a follower installing it must restart its log there).
// An index-0 snapshot is "empty" (IsEmpty()) and carries only the bootstrap
// membership, as MemoryStorage does. Crash safety: raft-state is written
// BEFORE the log is cut (Compact: DropPrefixBeforeIndex; snapshot install:
// ResetTo); Open redoes the cut if raft-state is ahead of the log. Direct
// retention on the log would move first_index without a matching ConfState,
// so the log is exposed only const; retention is a gap (see report).
//
// WRITE PATH (step 2 of raw_node.h's Ready contract, split as GroupStorage
// says: WriteReady, SyncReady, FinishReady; PersistReady runs all three):
// snapshot (raft-state, then ResetTo), entries (TruncateSuffix on conflict:
// an entry at an existing index replaces it and all later ones; then Append,
// unsynced), ONE log fsync for the whole Ready (the log runs with
// FsyncPolicy::kNever), then the hard state. raft-state is rewritten (three
// fsyncs: file, rename, directory) only when term or vote changed; a change
// of commit alone is kept in memory and written with the next raft-state
// write (raw_node.h: the core restarts from a safe commit floor), so the
// steady-state cost of a Ready is the one log fsync. Any error is fatal to
// this replica: a failed fsync puts the PartitionLog in its failed state; the
// host must stop the replica and reopen from disk.
//
// TAIL CACHE: the entries WriteReady appended are also kept in memory, in
// the form Entries() returns (a data entry's bytes 0..7 hold its assigned
// base offset), until the host releases them once applied
// (ReleaseAppliedUpTo). Entries() serves a range wholly inside the cache
// from it, so applying what was just committed reads nothing back from the
// files (no pread, frame scan or decode). Invariant: the cache is
// contiguous and ends at LastIndex() whenever Entries() uses it; it is cut
// with the log (conflict, snapshot, compaction) and bounded (kMaxTailBytes /
// kMaxTailEntries, oldest dropped first), so an idle, fully applied group
// holds none. The cache gets a Ready's entries only when the host hands
// them over after the write (AdoptReadyEntries moves the entries,
// PersistReady copies them; either way the payloads are shared, not copied,
// raft::Payload being immutable); until then, or if the host never does,
// the cache does not end at LastIndex() and Entries() reads the files. A
// data entry whose bytes 0..7 do not already hold the assigned offset (a
// proposer's placeholder) is cached as a stamped copy of its payload: the
// shared bytes are never changed in place.
//
// Thread safety: none beyond PartitionLog's (one host thread drives a group).
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/group_storage.h"
#include "broker/raft_state_file.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "raft/types.h"
#include "storage/partition_log.h"

namespace raftlog::broker {

class PartitionRaftStorage : public GroupStorage {
 public:
  // Opens the group's storage in `dir` (created if missing). A brand-new
  // group (no raft-state file and an empty log) is initialised durably with
  // membership `initial_conf_state` (ignored otherwise). A missing raft-state
  // beside a non-empty log, or a corrupt raft-state, is DataLoss.
  // `log_options.fsync_policy` is overridden with kNever (see WRITE PATH).
  static absl::StatusOr<std::unique_ptr<PartitionRaftStorage>> Open(
      const std::string& dir, storage::PartitionLogOptions log_options,
      const raft::ConfState& initial_conf_state);

  // ---- raft::LogStorage ----
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::LogIndex i) const override;
  raft::LogIndex FirstIndex() const override;
  raft::LogIndex LastIndex() const override;
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override;

  // ---- GroupStorage (host write path) ----
  absl::Status WriteReady(const raft::Ready& rd) override;
  absl::Status SyncReady() override;
  absl::Status FinishReady(const raft::Ready& rd) override;
  // Drops entries <= `index` (which must be in [FirstIndex(), LastIndex()]
  // and applied by the host); `conf_state` is the membership as of `index`.
  absl::Status Compact(raft::LogIndex index, const raft::ConfState& conf_state) override;

  // Persists rd.snapshot, rd.entries and rd.hard_state durably, in that
  // order (WriteReady + SyncReady + FinishReady); on OK the host may send
  // rd.messages_after_persist.
  absl::Status PersistReady(const raft::Ready& rd);
  // The pieces of the write path, also usable alone (tests, tools).
  absl::Status ApplySnapshot(const raft::Snapshot& snap);
  absl::Status Append(const std::vector<raft::Entry>& entries);  // Syncs once.
  // Durable at once if term or vote changed; commit alone is kept lazily.
  absl::Status SetHardState(const raft::HardState& hs);

  // Journal replay (broker/node_journal.h): makes the log hold `entries`
  // (contiguous), idempotently: entries below the log start are skipped,
  // entries already present with the same term are kept, the first one that
  // differs or is missing replaces the suffix from there. Not synced.
  // DataLoss if the entries would leave a gap after the log's last index.
  absl::Status ReplayEntries(const std::vector<raft::Entry>& entries);
  // After WriteReady(rd) (and its sync) succeeded: moves the payloads of
  // rd.entries into the tail cache (TAIL CACHE), leaving those entries'
  // `data` empty (index, term and type stay). Call it
  // before any other write to this storage; a call for another Ready, or
  // after another write, caches nothing (always safe).
  void AdoptReadyEntries(std::vector<raft::Entry>& entries);
  // Drops cached entries (TAIL CACHE) with index <= `applied`.
  void ReleaseAppliedUpTo(raft::LogIndex applied);
  // Entries in the tail cache (tests).
  size_t cached_entries() const { return tail_.size(); }
  // Data entries the tail cache had to copy to stamp their base offset
  // (the proposer's offset was a placeholder; tests, metrics).
  // Readable from any thread.
  uint64_t restamped_entries() const { return tail_restamped_.load(std::memory_order_relaxed); }
  // fsyncs the partition log; safe on another thread than the writer
  // (PartitionLog's contract), used by the journal checkpoint.
  absl::Status SyncLog() { return log_->Sync(); }

  // Offset of the first record after entry `index`, for index in
  // [FirstIndex()-1, LastIndex()]: the high watermark when `index` is the
  // commit index, and the base offset of entry index+1. Recently appended
  // entries are answered from memory; older ones by an index lookup.
  absl::StatusOr<storage::Offset> NextOffsetAfter(raft::LogIndex index) const;

  // Encodes/decodes the snapshot data blob (the next offset after the index).
  static std::string EncodeSnapshotData(storage::Offset next_offset);
  static absl::StatusOr<storage::Offset> DecodeSnapshotData(const std::string& data);

  const storage::PartitionLog& log() const { return *log_; }
  // As last written to raft-state (commit may lag hard_state()).
  const RaftState& state() const { return state_; }
  // The latest hard state given to SetHardState/FinishReady.
  const raft::HardState& hard_state() const { return hard_state_; }
  const std::string& dir() const { return dir_; }

 private:
  PartitionRaftStorage(std::string dir, storage::Env* env,
                       std::unique_ptr<storage::PartitionLog> log, RaftState state);
  // Writes raft-state with `s`, taking commit from hard_state_.
  absl::Status WriteState(RaftState s);
  // Appends without syncing; records the offsets in recent_.
  absl::Status AppendUnsynced(const std::vector<raft::Entry>& entries);
  // Makes the log start agree with state_ after a crash between the
  // raft-state write and the log cut.
  absl::Status Reconcile();
  // Next offset after each recently appended entry, index-ascending and
  // contiguous (bounded; the oldest are dropped first).
  struct RecentEntry {
    raft::LogIndex index;
    storage::Offset next_offset;
  };
  void RememberAppended(const std::vector<raft::Entry>& entries, size_t skip,
                        storage::Offset first_offset);
  // Adds entries[skip..] (just appended at `first_offset`) to the tail
  // cache, moving their payloads out of `entries` (a move of a shared
  // pointer; a copy only to stamp a placeholder base offset).
  void CacheAppended(std::vector<raft::Entry>& entries, size_t skip, storage::Offset first_offset);
  // The tail cache for the entries of the Ready last given to WriteReady
  // (AdoptReadyEntries), copying them if `copy_from` is set.
  void CacheReady(std::vector<raft::Entry>* take_from, const std::vector<raft::Entry>* copy_from);
  // Serves Entries(lo, hi, max_bytes) from the tail cache if it holds the
  // whole range.
  std::optional<std::vector<raft::Entry>> CachedEntries(raft::LogIndex lo, raft::LogIndex hi,
                                                        uint64_t max_bytes) const;

  std::string dir_;
  storage::Env* env_;
  std::unique_ptr<storage::PartitionLog> log_;
  RaftState state_;             // As last written to raft-state.
  raft::HardState hard_state_;  // Latest; commit may be ahead of state_'s.
  bool unsynced_ = false;       // WriteReady appended since the last sync.
  std::deque<RecentEntry> recent_;
  // TAIL CACHE (see above).
  static constexpr uint64_t kMaxTailBytes = 1ull << 20;
  static constexpr size_t kMaxTailEntries = 4096;
  std::deque<raft::Entry> tail_;
  uint64_t tail_bytes_ = 0;
  std::atomic<uint64_t> tail_restamped_{0};
  // WriteReady is appending: AppendUnsynced notes what it appended in
  // ready_append_, for AdoptReadyEntries.
  bool caching_ = false;
  struct ReadyAppend {
    size_t skip;  // entries of the Ready below the log start, not appended
    raft::LogIndex first;
    raft::LogIndex last;
    storage::Offset first_offset;
  };
  // Set by WriteReady's append, reset by any other write (and when used).
  std::optional<ReadyAppend> ready_append_;
};

}  // namespace raftlog::broker
