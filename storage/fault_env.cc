// FaultInjectingEnv; see fault_env.h.
#include "storage/fault_env.h"

#include <algorithm>

namespace raftlog::storage {

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectingEnv* env, std::unique_ptr<File> base)
      : env_(env), base_(std::move(base)) {}

  absl::Status Write(uint64_t pos, std::span<const uint8_t> data) override {
    size_t prefix = 0;
    absl::Status fault = env_->OnWrite(&prefix);
    if (!fault.ok()) {
      prefix = std::min(prefix, data.size());
      if (prefix > 0) {
        absl::Status s = base_->Write(pos, data.subspan(0, prefix));
        if (!s.ok()) return s;
      }
      return fault;
    }
    return base_->Write(pos, data);
  }
  // One Writev is one write for the fault schedule; a failing one writes the
  // first `prefix` bytes of the concatenation of the pieces.
  absl::Status Writev(uint64_t pos, std::span<const std::span<const uint8_t>> pieces) override {
    size_t prefix = 0;
    absl::Status fault = env_->OnWrite(&prefix);
    if (fault.ok()) return base_->Writev(pos, pieces);
    std::vector<std::span<const uint8_t>> head;
    for (size_t i = 0; i < pieces.size() && prefix > 0; ++i) {
      const size_t take = std::min(prefix, pieces[i].size());
      head.push_back(pieces[i].subspan(0, take));
      prefix -= take;
    }
    if (!head.empty()) {
      absl::Status s = base_->Writev(pos, head);
      if (!s.ok()) return s;
    }
    return fault;
  }
  absl::StatusOr<size_t> Read(uint64_t pos, std::span<uint8_t> out) const override {
    return base_->Read(pos, out);
  }
  absl::Status Truncate(uint64_t size) override {
    absl::Status s = env_->OnTruncate();
    if (!s.ok()) return s;
    return base_->Truncate(size);
  }
  absl::Status Sync() override {
    absl::Status s = env_->OnSync();
    if (s.code() == absl::StatusCode::kCancelled) return absl::OkStatus();  // skipped
    if (!s.ok()) return s;
    return base_->Sync();
  }
  absl::StatusOr<uint64_t> Size() const override { return base_->Size(); }
  absl::Status Allocate(uint64_t pos, uint64_t len) override { return base_->Allocate(pos, len); }
  absl::Status Reserve(uint64_t pos, uint64_t len) override { return base_->Reserve(pos, len); }

 private:
  FaultInjectingEnv* const env_;
  const std::unique_ptr<File> base_;
};

void FaultInjectingEnv::FailNthWrite(int n, absl::Status error, size_t prefix_bytes) {
  absl::MutexLock l(&mu_);
  write_countdown_ = n;
  write_error_ = std::move(error);
  write_prefix_ = prefix_bytes;
}

void FaultInjectingEnv::SetDiskFull(bool full, size_t prefix_bytes) {
  absl::MutexLock l(&mu_);
  disk_full_ = full;
  disk_full_prefix_ = prefix_bytes;
}

void FaultInjectingEnv::FailNthSync(int n) {
  absl::MutexLock l(&mu_);
  sync_countdown_ = n;
}

void FaultInjectingEnv::SetTruncateFails(bool fails) {
  absl::MutexLock l(&mu_);
  truncate_fails_ = fails;
}

void FaultInjectingEnv::SetSkipSyncs(bool skip) {
  absl::MutexLock l(&mu_);
  skip_syncs_ = skip;
}

int64_t FaultInjectingEnv::writes() const {
  absl::MutexLock l(&mu_);
  return writes_;
}
int64_t FaultInjectingEnv::syncs() const {
  absl::MutexLock l(&mu_);
  return syncs_;
}
int64_t FaultInjectingEnv::dir_syncs() const {
  absl::MutexLock l(&mu_);
  return dir_syncs_;
}

absl::StatusOr<std::unique_ptr<File>> FaultInjectingEnv::OpenFile(const std::string& path,
                                                                  bool create) {
  absl::StatusOr<std::unique_ptr<File>> f = base_->OpenFile(path, create);
  if (!f.ok()) return f.status();
  return std::unique_ptr<File>(std::make_unique<FaultFile>(this, std::move(*f)));
}

absl::Status FaultInjectingEnv::SyncDir(const std::string& dir) {
  {
    absl::MutexLock l(&mu_);
    ++dir_syncs_;
    if (skip_syncs_) return absl::OkStatus();
  }
  return base_->SyncDir(dir);
}

absl::Status FaultInjectingEnv::OnWrite(size_t* prefix_bytes) {
  absl::MutexLock l(&mu_);
  ++writes_;
  if (disk_full_) {
    *prefix_bytes = disk_full_prefix_;
    return absl::ResourceExhaustedError("injected: no space left on device");
  }
  if (write_countdown_ > 0 && --write_countdown_ == 0) {
    *prefix_bytes = write_prefix_;
    return write_error_;
  }
  return absl::OkStatus();
}

// Returns Cancelled to mean "skip the real sync, report success".
absl::Status FaultInjectingEnv::OnSync() {
  absl::MutexLock l(&mu_);
  ++syncs_;
  if (sync_countdown_ > 0 && --sync_countdown_ == 0) {
    return absl::InternalError("injected: fdatasync failed (EIO)");
  }
  if (skip_syncs_) return absl::CancelledError("skip");
  return absl::OkStatus();
}

absl::Status FaultInjectingEnv::OnTruncate() {
  absl::MutexLock l(&mu_);
  if (truncate_fails_) return absl::InternalError("injected: ftruncate failed");
  return absl::OkStatus();
}

}  // namespace raftlog::storage
