// WriteBehindFile: see write_behind_file.h for the contract and invariants.
#include "storage/write_behind_file.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace raftlog::storage {
namespace {

uint64_t TotalSize(std::span<const std::span<const uint8_t>> pieces) {
  uint64_t n = 0;
  for (std::span<const uint8_t> p : pieces) n += p.size();
  return n;
}

}  // namespace

WriteBehindFile::WriteBehindFile(std::shared_ptr<File> file, uint64_t size, size_t capacity)
    : file_(std::move(file)), capacity_(capacity), base_(size) {}

WriteBehindFile::~WriteBehindFile() {
  absl::MutexLock l(&mu_);
  FlushLocked({}).IgnoreError();
}

absl::Status WriteBehindFile::FlushLocked(std::span<const std::span<const uint8_t>> extra) {
  const uint64_t extra_bytes = TotalSize(extra);
  if (buffer_.empty() && extra_bytes == 0) return absl::OkStatus();
  absl::Status s;
  if (buffer_.empty()) {
    s = file_->Writev(base_, extra);
  } else if (extra.empty()) {
    s = file_->Write(base_, buffer_);
  } else {
    std::vector<std::span<const uint8_t>> pieces;
    pieces.reserve(extra.size() + 1);
    pieces.emplace_back(buffer_);
    pieces.insert(pieces.end(), extra.begin(), extra.end());
    s = file_->Writev(base_, pieces);
  }
  if (!s.ok()) return s;  // a prefix may be on disk past base_: never read, overwritten later
  base_ += buffer_.size() + extra_bytes;
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status WriteBehindFile::Write(uint64_t pos, std::span<const uint8_t> data) {
  const std::span<const uint8_t> one[] = {data};
  return Writev(pos, one);
}

absl::Status WriteBehindFile::Writev(uint64_t pos,
                                     std::span<const std::span<const uint8_t>> pieces) {
  const uint64_t total = TotalSize(pieces);
  absl::MutexLock l(&mu_);
  const uint64_t end = base_ + buffer_.size();
  if (pos == end) {
    // Too large to hold, or to be worth a copy: out with what is held.
    if (total >= kWriteThroughBytes || buffer_.size() + total > capacity_) {
      return FlushLocked(pieces);
    }
    if (buffer_.capacity() < capacity_) buffer_.reserve(capacity_);
    for (std::span<const uint8_t> p : pieces) buffer_.insert(buffer_.end(), p.begin(), p.end());
    return absl::OkStatus();
  }
  // Not an append at the end (rare: no caller in the log does it): write
  // what is buffered, then write through.
  if (absl::Status s = FlushLocked({}); !s.ok()) return s;
  if (absl::Status s = file_->Writev(pos, pieces); !s.ok()) return s;
  base_ = std::max(base_, pos + total);
  return absl::OkStatus();
}

absl::StatusOr<size_t> WriteBehindFile::Read(uint64_t pos, std::span<uint8_t> out) const {
  const uint64_t want_end = pos + out.size();
  uint64_t base;
  uint64_t end;
  {
    absl::MutexLock l(&mu_);
    base = base_;
    end = base_ + buffer_.size();
    const uint64_t from = std::max(pos, base);
    const uint64_t to = std::min(want_end, end);
    if (from < to) {
      std::memcpy(out.data() + (from - pos), buffer_.data() + (from - base), to - from);
    }
  }
  // Bytes below `base` are on disk and cannot change under a reader (a
  // flush only moves the base up; cutting them is a writer's job).
  if (pos < base) {
    const size_t n = static_cast<size_t>(std::min(want_end, base) - pos);
    absl::StatusOr<size_t> r = file_->Read(pos, out.subspan(0, n));
    if (!r.ok()) return r.status();
    if (*r < n) return *r;  // the file ends early: what a plain read would say
  }
  if (want_end <= end) return out.size();
  const size_t got = static_cast<size_t>(std::max(pos, end) - pos);
  // Past the buffered end: whatever the file has there (e.g. preallocated
  // zeros), as a plain read would.
  absl::StatusOr<size_t> r = file_->Read(pos + got, out.subspan(got));
  if (!r.ok()) return r.status();
  return got + *r;
}

absl::Status WriteBehindFile::Truncate(uint64_t size) {
  absl::MutexLock l(&mu_);
  const uint64_t end = base_ + buffer_.size();
  if (size < base_) {
    if (absl::Status s = file_->Truncate(size); !s.ok()) return s;  // nothing of ours changed
    buffer_.clear();
    base_ = size;
    return absl::OkStatus();
  }
  if (size > end) {  // extends with zeros: as a plain file, on disk
    if (absl::Status s = FlushLocked({}); !s.ok()) return s;
    if (absl::Status s = file_->Truncate(size); !s.ok()) return s;
    base_ = size;  // appends go on from the new end
    return absl::OkStatus();
  }
  // Inside the buffer: nothing written is cut on disk; what the file holds
  // from base_ on (preallocation, a failed write's prefix) goes.
  buffer_.resize(static_cast<size_t>(size - base_));
  return file_->Truncate(base_);
}

absl::Status WriteBehindFile::Flush() {
  absl::MutexLock l(&mu_);
  if (absl::Status s = FlushLocked({}); !s.ok()) return s;
  std::vector<uint8_t>().swap(buffer_);  // idle until the next append: hold no memory
  return absl::OkStatus();
}

absl::Status WriteBehindFile::Sync() {
  if (absl::Status s = Flush(); !s.ok()) return s;
  return file_->Sync();
}

absl::StatusOr<uint64_t> WriteBehindFile::Size() const {
  uint64_t end;
  {
    absl::MutexLock l(&mu_);
    end = base_ + buffer_.size();
  }
  absl::StatusOr<uint64_t> on_disk = file_->Size();
  if (!on_disk.ok()) return on_disk.status();
  return std::max(*on_disk, end);
}

absl::Status WriteBehindFile::Allocate(uint64_t pos, uint64_t len) {
  return file_->Allocate(pos, len);
}

absl::Status WriteBehindFile::Reserve(uint64_t pos, uint64_t len) {
  return file_->Reserve(pos, len);
}

size_t WriteBehindFile::buffered_bytes() const {
  absl::MutexLock l(&mu_);
  return buffer_.size();
}

}  // namespace raftlog::storage
