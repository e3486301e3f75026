// RocksDbRaftStorage: the metadata Raft group's storage (DESIGN.md decision
// 4): its Raft log, hard state and snapshot metadata, and the column family
// the metadata state machine keeps its state in, all in one RocksDB database.
//
// LAYOUT: one RocksDB database in a directory, column families
//   "raft_log"  key = 8-byte big-endian index (so key order = index order),
//               value = u64 term | u8 type (raft::EntryType) | data | crc.
//   "raft_meta" "format_version" = u32 version (1) | crc
//               "hard_state"     = u64 term | u64 vote | u64 commit | crc
//               "snapshot"       = u64 index | u64 term | u32 V | u32 L |
//                                  u64 ids[V + L] (voters, learners) | crc
//   "state"     owned by the metadata state machine (db(), state_cf()).
// Integers are big-endian; crc is the CRC-32C (u32) of the key bytes followed
// by the value bytes before it, so a damaged value, or a value under the
// wrong key, is DataLoss naming the key, never misread (PITFALLS #15).
//
// INVARIANTS (hold after every committed WriteBatch, hence after any crash):
//   - the log holds exactly the indexes [FirstIndex(), LastIndex()], with
//     FirstIndex() == snapshot index + 1 (checked at Open);
//   - the term of entry FirstIndex()-1 is the recorded snapshot term, so
//     TermAt(FirstIndex()-1) stays answerable;
//   - a brand-new store holds the "empty" snapshot at index 0 carrying the
//     bootstrap membership, as PartitionRaftStorage and MemoryStorage do.
// Snapshot DATA is never stored here: GetSnapshot() asks the SnapshotSource
// for it (it may be large: a checkpoint of the state column family), and an
// installed snapshot is handed to the SnapshotSink before its metadata is
// recorded. The sink's writes are not in our batch: after a crash between
// the two the state may be ahead of the recorded snapshot, so the state
// machine must keep its own applied index atomically with its state
// (PITFALLS #5) and tell the core (Config::applied).
//
// OPEN: an absent or empty directory becomes a new store; a database whose
// families are all empty (creation crashed before the first batch) is
// initialised too. Anything else lacking our format version is refused.
//
// WRITE PATH (GroupStorage): WriteReady puts rd.snapshot's metadata (after
// calling the sink; the core hands a snapshot only when its log does not
// hold the snapshot's entry, so the whole log is dropped, as
// MemoryStorage::ApplySnapshot does), rd.entries (an entry at an existing
// index deletes it and every later one first) and rd.hard_state (commit kept
// as given) into ONE WriteBatch, written with sync=false. SyncReady makes it
// durable with one WAL fsync (DB::FlushWAL(true)). FinishReady has nothing
// left to do: the hard state went into the same atomic batch, which is
// stronger than raw_node.h's ordered contract (snapshot, entries, hard state
// either all survive a crash or none does). Compact writes its batch with
// sync=true. The WAL is always on (never WriteOptions::disableWAL): it is
// what makes a batch, across all column families, atomic and durable. Any
// failed write or sync puts the store in a failed state: every later write
// returns the error (a failed fsync is never retried).
//
// THREAD SAFETY: one writer thread at a time (WriteReady/SyncReady/
// FinishReady/Compact, as group_storage.h prescribes). Readers (every
// LogStorage method) may run on other threads at the same time: the cached
// bounds, hard state and snapshot metadata are guarded by a mutex that the
// writer holds while committing a batch, and a read takes its RocksDB view
// (iterator or Get) under it, so it sees the log as of one committed batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/group_storage.h"
#include "raft/raw_node.h"
#include "raft/types.h"
#include "rocksdb/db.h"

namespace raftlog::broker {

struct RocksDbRaftStorageOptions {
  // RocksDB memtable size per column family.
  uint64_t write_buffer_size = 4 << 20;
};

class RocksDbRaftStorage : public GroupStorage {
 public:
  // Produces the snapshot data for the state as of `index` (the snapshot
  // index, FirstIndex()-1). absl::UnavailableError makes the core retry.
  using SnapshotSource = std::function<absl::StatusOr<std::string>(raft::LogIndex)>;
  // Restores the application from an installed snapshot (data included).
  using SnapshotSink = std::function<absl::Status(const raft::Snapshot&)>;

  static constexpr uint32_t kFormatVersion = 1;
  static constexpr char kLogFamily[] = "raft_log";
  static constexpr char kMetaFamily[] = "raft_meta";
  static constexpr char kStateFamily[] = "state";

  // Opens the store in `dir`, creating it if `dir` is missing or empty: a new
  // store is durably initialised with membership `initial_conf_state`
  // (ignored otherwise). FailedPrecondition if `dir` holds anything that is
  // not our store (unrelated files, another RocksDB database) or an unknown
  // format version; DataLoss if our records are damaged or inconsistent.
  static absl::StatusOr<std::unique_ptr<RocksDbRaftStorage>> Open(
      const std::string& dir, const raft::ConfState& initial_conf_state,
      const RocksDbRaftStorageOptions& options = {});

  ~RocksDbRaftStorage() override;
  RocksDbRaftStorage(const RocksDbRaftStorage&) = delete;
  RocksDbRaftStorage& operator=(const RocksDbRaftStorage&) = delete;

  // ---- raft::LogStorage ----
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::LogIndex i) const override;
  raft::LogIndex FirstIndex() const override;
  raft::LogIndex LastIndex() const override;
  // Metadata at FirstIndex()-1 plus the source's data (none for the empty
  // snapshot at index 0).
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override;

  // ---- GroupStorage ----
  absl::Status WriteReady(const raft::Ready& rd) override;
  absl::Status SyncReady() override;
  absl::Status FinishReady(const raft::Ready& rd) override;
  absl::Status Compact(raft::LogIndex index, const raft::ConfState& conf_state) override;

  // Snapshot hooks of the metadata state machine. Defaults: empty data; a
  // sink that accepts everything.
  void SetSnapshotSource(SnapshotSource source);
  void SetSnapshotSink(SnapshotSink sink);

  // The database and the state machine's column family. Writes to the other
  // families through db() break this class's invariants (tests only).
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* state_cf() const { return state_cf_; }
  rocksdb::ColumnFamilyHandle* log_cf() const { return log_cf_; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return meta_cf_; }
  raft::HardState hard_state() const;
  raft::SnapshotMetadata snapshot_metadata() const;
  const std::string& dir() const { return dir_; }

  // The raft_log key of `index` (8 bytes, big-endian).
  static std::string LogKey(raft::LogIndex index);

 private:
  RocksDbRaftStorage(std::string dir, std::unique_ptr<rocksdb::DB> db,
                     std::vector<rocksdb::ColumnFamilyHandle*> handles);
  // Reads and checks format version, hard state, snapshot and log bounds.
  absl::Status Load(const raft::ConfState& initial_conf_state);
  // Reads entry `index` (which must exist) through `ro`.
  absl::StatusOr<raft::Entry> ReadEntry(const rocksdb::ReadOptions& ro, raft::LogIndex index) const;

  const std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // Owned; destroyed before db_.
  rocksdb::ColumnFamilyHandle* log_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_cf_ = nullptr;
  absl::Status failed_;  // Writer thread only: first failed write or sync.

  mutable absl::Mutex mu_;
  raft::LogIndex first_ ABSL_GUARDED_BY(mu_);
  raft::LogIndex last_ ABSL_GUARDED_BY(mu_);
  raft::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  raft::SnapshotMetadata snapshot_ ABSL_GUARDED_BY(mu_);
  SnapshotSource source_ ABSL_GUARDED_BY(mu_);
  SnapshotSink sink_ ABSL_GUARDED_BY(mu_);
};

}  // namespace raftlog::broker
