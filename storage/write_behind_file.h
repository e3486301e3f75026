// WriteBehindFile: a File that gathers small appends at its end in memory
// and writes them to the file it wraps in one gather write once they would
// exceed `capacity` bytes, or at Sync.
//
// Why: a node hosting many partitions writes a few small frames to each
// active segment per round. One pwritev per segment per round costs a
// syscall, a page-cache lookup and (on ext4) an inode timestamp update each
// time; gathering them makes that cost per `capacity` bytes instead of per
// round. Appends of kWriteThroughBytes or more are never copied into the
// buffer: they go to the file at once, behind what is held, in the same
// gather write (copying ~1 MiB costs ~15-25% of writing it, measured; a
// syscall saved is worth only a few us). Use it only where the bytes are
// durable elsewhere until Sync (the node journal) or where losing unsynced
// bytes on a crash is accepted anyway (the file's own Sync has not been
// called for them): buffered bytes are lost by a process crash, not only by
// a power failure.
//
// Invariants (L = the logical end: what Size() reports at least):
//   - the wrapped file holds the file's bytes [0, base_); the buffer holds
//     [base_, base_ + buffer_.size()) == [base_, L); bytes the wrapped file
//     may hold at or beyond base_ (a preallocation, or part of a failed
//     write) are never read as data and are overwritten by the next flush;
//   - Read sees exactly what a plain file would after the same writes;
//   - Sync writes the buffer out, then fdatasyncs: the File contract holds;
//   - a failed write keeps every byte it had accepted before (in the buffer
//     or the file): a caller's undo (Truncate to its old end) works without
//     touching the disk, so a full disk stays a recoverable error;
//   - after a successful Flush or Sync the buffer's memory is released (an
//     idle partition holds none).
// Thread safety: one writer (Write/Writev/Truncate/Allocate/Reserve) at a time, as
// for any File; Read, Size and Sync may run concurrently with it and with
// each other (an internal mutex guards the buffer; disk reads happen outside
// it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"

namespace raftlog::storage {

class WriteBehindFile final : public File {
 public:
  // An append at least this large is written at once (with what is held)
  // instead of being copied into the buffer.
  static constexpr size_t kWriteThroughBytes = 64 << 10;

  // `size` is the wrapped file's current logical size: where buffered
  // appends start.
  WriteBehindFile(std::shared_ptr<File> file, uint64_t size, size_t capacity);
  // Writes out what is buffered (errors are dropped: call Sync to see them).
  ~WriteBehindFile() override;

  absl::Status Write(uint64_t pos, std::span<const uint8_t> data) override;
  absl::Status Writev(uint64_t pos, std::span<const std::span<const uint8_t>> pieces) override;
  absl::StatusOr<size_t> Read(uint64_t pos, std::span<uint8_t> out) const override;
  absl::Status Truncate(uint64_t size) override;
  absl::Status Flush() override;
  absl::Status Sync() override;
  absl::Status SyncWritten() override { return file_->Sync(); }
  absl::StatusOr<uint64_t> Size() const override;
  absl::Status Allocate(uint64_t pos, uint64_t len) override;
  absl::Status Reserve(uint64_t pos, uint64_t len) override;

  // Bytes held in memory now (for tests and metrics).
  size_t buffered_bytes() const;

 private:
  // Writes the buffer (and `extra`, which continues it) at base_. On
  // success the buffer is empty and base_ moved past both; on failure
  // nothing of ours changed.
  absl::Status FlushLocked(std::span<const std::span<const uint8_t>> extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<File> file_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  uint64_t base_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> buffer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace raftlog::storage
