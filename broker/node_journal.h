// NodeJournal: the node-wide write-ahead journal that makes partition
// groups durable with ONE fdatasync per round, whatever the number of
// groups written (docs/ARCHITECTURE.md, "durability": measured against one
// fdatasync per group, in parallel, and syncfs).
//
// Protocol (broker/node.cc): in a round every partition group writes its
// Ready's entries to its own segment log WITHOUT syncing; the same entries
// are added to the journal, and one Sync() (one pwrite + one fdatasync of
// the journal file) makes the whole round durable before any
// acknowledgement leaves. Segment logs are made durable later, in the
// background (checkpoint): when the journal file grows past a size or an
// age, it is rotated; once every log written while the old file(s) were
// current has been fsynced, those files are deleted. At start, before any
// group's RawNode is created, every record of every remaining journal file
// is replayed into its group's log (idempotently: entries already present
// with the same term are kept, a conflicting suffix is replaced, entries
// below the log start are skipped), the logs are fsynced and the journal
// starts afresh.
//
// Removing a group writes a kGroupRemoved record (synced) before its
// directory is deleted, so that replay never feeds an old incarnation's
// entries to a new group of the same id.
//
// File format (<dir>/<20-digit sequence>.journal), integers big-endian:
//   header:  8 bytes magic "RLJRNL01"
//   record:  u32 body_length | u32 crc32c(body) | body
//   body:    u8 kind (1 entries, 2 group removed) | u64 group
//            kind 1: u32 count, then per entry: u64 term | u64 index |
//                    u8 raft::EntryType | u32 data_length | data
// A record that fails any check (length, checksum, content; a zero-filled
// tail left by a crash included) ends the newest file: a torn last write,
// never acknowledged. In an older file (fully synced before it was rotated)
// it is DataLoss naming the file and position.
//
// Thread safety: Add*/Sync/Rotate from one thread (the node loop);
// RemoveFilesUpTo may run on another thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/env.h"

namespace raftlog::broker {

struct JournalRecord {
  enum class Kind : uint8_t { kEntries = 1, kGroupRemoved = 2 };
  Kind kind = Kind::kEntries;
  uint64_t group = 0;
  std::vector<raft::Entry> entries;  // kEntries
};

struct JournalReadReport {
  int files = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  // Non-empty if the newest file ended in a torn record that was cut.
  std::string torn_tail;
};

class NodeJournal {
 public:
  // Reads every record of the journal files in `dir`, oldest first (an
  // absent directory holds none).
  static absl::StatusOr<std::vector<JournalRecord>> ReadAll(storage::Env* env,
                                                            const std::string& dir,
                                                            JournalReadReport* report);

  // Deletes every journal file in `dir` and starts a new, empty one whose
  // sequence follows the highest seen. Call after ReadAll's records were
  // replayed and made durable elsewhere.
  static absl::StatusOr<std::unique_ptr<NodeJournal>> Restart(storage::Env* env,
                                                              const std::string& dir);

  // Buffers records for the next Sync().
  void AddEntries(uint64_t group, const std::vector<raft::Entry>& entries);
  void AddGroupRemoved(uint64_t group);
  bool HasPending() const { return !buffer_.empty(); }

  // Writes the buffered records with one write and fdatasyncs the file.
  // After a failure the journal is failed for good (never retry an fsync):
  // every later Sync returns the same error.
  absl::Status Sync();

  // Starts a new file for the records that follow (pending records must have
  // been synced). Returns the sequence of the file just closed.
  absl::StatusOr<uint64_t> Rotate();
  // Deletes the files with sequence <= `seq` (their records are durable in
  // the logs). Safe from another thread.
  absl::Status RemoveFilesUpTo(uint64_t seq);

  uint64_t current_file_bytes() const { return file_bytes_; }
  uint64_t current_sequence() const { return seq_; }
  uint64_t syncs() const { return syncs_; }

 private:
  NodeJournal(storage::Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  absl::Status OpenNewFile(uint64_t seq);
  std::string PathOf(uint64_t seq) const;

  storage::Env* env_;
  std::string dir_;
  uint64_t seq_ = 0;
  std::unique_ptr<storage::File> file_;
  uint64_t file_bytes_ = 0;
  std::string buffer_;
  absl::Status failed_;
  uint64_t syncs_ = 0;
};

}  // namespace raftlog::broker
