// FaultInjectingEnv: an Env wrapper for tests that makes chosen calls fail the
// way disks do: the Nth write (Write or Writev) fails (optionally after writing a prefix: a short
// write), every write fails (disk full, ENOSPC -> ResourceExhausted), the Nth
// fdatasync fails, truncate fails. It also counts calls and can turn fsyncs
// into no-ops so that tests run fast. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"

namespace raftlog::storage {

class FaultInjectingEnv final : public Env {
 public:
  explicit FaultInjectingEnv(Env* base = Env::Posix()) : base_(base) {}

  // The `n`th Write from now (1 = the next one) fails with `error` after
  // writing the first `prefix_bytes` bytes of its data (0 = nothing written).
  void FailNthWrite(int n, absl::Status error, size_t prefix_bytes = 0);
  // Every Write fails with ResourceExhausted (after writing `prefix_bytes`)
  // until cleared.
  void SetDiskFull(bool full, size_t prefix_bytes = 0);
  // The `n`th file Sync from now fails with an I/O error.
  void FailNthSync(int n);
  // Truncate fails while set.
  void SetTruncateFails(bool fails);
  // Sync and SyncDir succeed without touching the disk (counted anyway).
  void SetSkipSyncs(bool skip);

  int64_t writes() const;
  int64_t syncs() const;
  int64_t dir_syncs() const;

  absl::StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  absl::StatusOr<bool> FileExists(const std::string& path) override {
    return base_->FileExists(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  absl::Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  absl::Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  absl::Status SyncDir(const std::string& dir) override;

 private:
  friend class FaultFile;
  // Decides the fate of one write: OK, or an error plus how many bytes to
  // write before failing.
  absl::Status OnWrite(size_t* prefix_bytes);
  absl::Status OnSync();
  absl::Status OnTruncate();

  Env* const base_;
  mutable absl::Mutex mu_;
  int write_countdown_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
  size_t write_prefix_ ABSL_GUARDED_BY(mu_) = 0;
  bool disk_full_ ABSL_GUARDED_BY(mu_) = false;
  size_t disk_full_prefix_ ABSL_GUARDED_BY(mu_) = 0;
  int sync_countdown_ ABSL_GUARDED_BY(mu_) = 0;
  bool truncate_fails_ ABSL_GUARDED_BY(mu_) = false;
  bool skip_syncs_ ABSL_GUARDED_BY(mu_) = false;
  int64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dir_syncs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace raftlog::storage
