// File access for the partition log, behind a small interface in the manner of
// leveldb's Env: the log never calls the OS directly, so tests can inject
// faults (fault_env.h) and a future in-memory Env can stand in for disks.
//
// Contract: every call returns a Status; an I/O error never aborts. Write,
// Writev and Read are positional (pwrite/pwritev/pread) so several readers may
// share a File with one writer. Sync is fdatasync: after it returns OK every byte written to the
// file before the call, and its size, are durable. A failed Sync leaves the
// file in an unknown state (the caller must not retry it and expect the data
// to be safe; see PartitionLog's failed state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raftlog::storage {

class File {
 public:
  virtual ~File() = default;

  // Writes all of `data` at byte position `pos`. A short write is an error
  // (ResourceExhausted for a full disk); some prefix may have been written.
  virtual absl::Status Write(uint64_t pos, std::span<const uint8_t> data) = 0;
  // Writes the concatenation of `pieces` at `pos` (gather write: no copy into
  // one buffer). Same contract as Write: all bytes or an error, after which
  // some prefix of the concatenation may have been written.
  virtual absl::Status Writev(uint64_t pos, std::span<const std::span<const uint8_t>> pieces) = 0;
  // Reads up to out.size() bytes at `pos`; returns how many were read (fewer
  // only at end of file).
  virtual absl::StatusOr<size_t> Read(uint64_t pos, std::span<uint8_t> out) const = 0;
  // Sets the file size (shrinks or extends with zeros).
  virtual absl::Status Truncate(uint64_t size) = 0;
  // Writes out whatever this File holds in memory (write_behind_file.h);
  // no fsync. A failure is a write error: nothing accepted is lost.
  virtual absl::Status Flush() { return absl::OkStatus(); }
  // fdatasync (after a Flush).
  virtual absl::Status Sync() = 0;
  // fdatasync of what was written to the file, without a Flush first: with
  // a Flush before it, a Sync whose failure can only be the fdatasync's.
  virtual absl::Status SyncWritten() { return Sync(); }
  virtual absl::StatusOr<uint64_t> Size() const = 0;
  // Reserves disk blocks for [pos, pos+len) and extends the file size to at
  // least pos+len; new bytes read as zeros. May be unsupported (Unimplemented).
  virtual absl::Status Allocate(uint64_t pos, uint64_t len) = 0;
  // Reserves disk blocks for [pos, pos+len) without changing the file size
  // (fallocate FALLOC_FL_KEEP_SIZE): nothing becomes readable, a crash
  // leaves the file as it was; the next Truncate (to any size, even the
  // current one) releases what lies past the size. May be unsupported
  // (Unimplemented).
  virtual absl::Status Reserve(uint64_t /*pos*/, uint64_t /*len*/) {
    return absl::UnimplementedError("Reserve unsupported");
  }
};

class Env {
 public:
  virtual ~Env() = default;

  // Opens `path` for reading and writing, creating it if `create` (an
  // existing file is kept as is).
  virtual absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) = 0;
  virtual absl::StatusOr<bool> FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual absl::Status CreateDir(const std::string& dir) = 0;  // OK if it exists
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // rename(2): atomically replaces `to`.
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  // fsync of the directory itself, making creates/renames/removes durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;

  // The process-wide POSIX implementation (pread/pwrite/fdatasync, O_CLOEXEC).
  static Env* Posix();
};

// Whole-file helpers built on Env.
absl::StatusOr<std::vector<uint8_t>> ReadWholeFile(Env* env, const std::string& path);
// Write-temp + fsync + rename + fsync dir: after OK, `path` holds `data` and
// survives a crash; a crash before leaves the old contents.
absl::Status WriteFileAtomically(Env* env, const std::string& dir, const std::string& name,
                                 std::span<const uint8_t> data);

}  // namespace raftlog::storage
