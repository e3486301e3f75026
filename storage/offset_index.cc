// Index file encoding, validation and lookups; see offset_index.h.
#include "storage/offset_index.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "storage/big_endian.h"

namespace raftlog::storage {

void EncodeOffsetIndexEntry(const OffsetIndexEntry& e, std::vector<uint8_t>* out) {
  size_t at = out->size();
  out->resize(at + kOffsetIndexEntrySize);
  uint8_t* p = out->data() + at;
  StoreBigEndian<uint32_t>(p, e.relative_offset);
  StoreBigEndian<uint32_t>(p + 4, e.position);
  StoreBigEndian<int64_t>(p + 8, e.index.value());
  StoreBigEndian<int64_t>(p + 16, e.max_timestamp_before);
}

void EncodeTimeIndexEntry(const TimeIndexEntry& e, std::vector<uint8_t>* out) {
  size_t at = out->size();
  out->resize(at + kTimeIndexEntrySize);
  uint8_t* p = out->data() + at;
  StoreBigEndian<int64_t>(p, e.timestamp);
  StoreBigEndian<uint32_t>(p + 8, e.relative_offset);
}

absl::Status DecodeOffsetIndex(std::span<const uint8_t> bytes, std::vector<OffsetIndexEntry>* out) {
  out->clear();
  const size_t n = bytes.size() / kOffsetIndexEntrySize;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = bytes.data() + i * kOffsetIndexEntrySize;
    OffsetIndexEntry e;
    e.relative_offset = LoadBigEndian<uint32_t>(p);
    e.position = LoadBigEndian<uint32_t>(p + 4);
    e.index = RaftIndex(LoadBigEndian<int64_t>(p + 8));
    e.max_timestamp_before = LoadBigEndian<int64_t>(p + 16);
    if (out->empty()) {
      if (e.position != 0 || e.relative_offset != 0 || e.index.value() < 1) {
        return absl::InvalidArgumentError("offset index: first entry is not the first frame");
      }
    } else {
      const OffsetIndexEntry& prev = out->back();
      if (e.position <= prev.position || e.index <= prev.index ||
          e.relative_offset < prev.relative_offset ||
          e.max_timestamp_before < prev.max_timestamp_before) {
        return absl::InvalidArgumentError(
            absl::StrFormat("offset index: entry %d out of order", i));
      }
    }
    out->push_back(e);
  }
  if (bytes.size() % kOffsetIndexEntrySize != 0) {
    return absl::InvalidArgumentError("offset index: partial trailing entry");
  }
  return absl::OkStatus();
}

absl::Status DecodeTimeIndex(std::span<const uint8_t> bytes, std::vector<TimeIndexEntry>* out) {
  out->clear();
  const size_t n = bytes.size() / kTimeIndexEntrySize;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = bytes.data() + i * kTimeIndexEntrySize;
    TimeIndexEntry e;
    e.timestamp = LoadBigEndian<int64_t>(p);
    e.relative_offset = LoadBigEndian<uint32_t>(p + 8);
    if (!out->empty() &&
        (e.timestamp <= out->back().timestamp || e.relative_offset < out->back().relative_offset)) {
      return absl::InvalidArgumentError(absl::StrFormat("time index: entry %d out of order", i));
    }
    out->push_back(e);
  }
  if (bytes.size() % kTimeIndexEntrySize != 0) {
    return absl::InvalidArgumentError("time index: partial trailing entry");
  }
  return absl::OkStatus();
}

template <typename T>
void IndexFile<T>::Encode(const T& e, std::vector<uint8_t>* out) {
  if constexpr (std::is_same_v<T, OffsetIndexEntry>) {
    EncodeOffsetIndexEntry(e, out);
  } else {
    EncodeTimeIndexEntry(e, out);
  }
}

template <typename T>
absl::Status IndexFile<T>::Append(std::span<const T> entries) {
  if (entries.empty()) return absl::OkStatus();
  const size_t old = entries_.size();
  entries_.insert(entries_.end(), entries.begin(), entries.end());
  if ((entries_.size() - written_) * kSize < kFlushBytes) return absl::OkStatus();
  absl::Status s = Flush();
  if (!s.ok()) entries_.resize(std::min(old, entries_.size()));
  return s;
}

template <typename T>
absl::Status IndexFile<T>::Flush() {
  if (written_ >= entries_.size()) return absl::OkStatus();
  std::vector<uint8_t> buf;
  buf.reserve((entries_.size() - written_) * kSize);
  for (size_t i = written_; i < entries_.size(); ++i) Encode(entries_[i], &buf);
  const uint64_t end = written_ * kSize;
  absl::Status s = file_->Write(end, buf);
  if (!s.ok()) {
    file_->Truncate(end).IgnoreError();  // best effort; the index is rebuildable
    return s;
  }
  written_ = entries_.size();
  return absl::OkStatus();
}

template <typename T>
absl::Status IndexFile<T>::Truncate(size_t n) {
  if (n >= entries_.size()) return absl::OkStatus();
  entries_.resize(n);
  if (n >= written_) return absl::OkStatus();  // only pending entries went
  written_ = n;
  return file_->Truncate(n * kSize);
}

template <typename T>
absl::Status IndexFile<T>::Rewrite(std::vector<T> entries) {
  std::vector<uint8_t> buf;
  buf.reserve(entries.size() * kSize);
  for (const T& e : entries) Encode(e, &buf);
  entries_ = std::move(entries);
  written_ = 0;
  absl::Status s = file_->Truncate(0);
  if (s.ok()) s = file_->Write(0, buf);
  if (s.ok()) written_ = entries_.size();
  return s;
}

template class IndexFile<OffsetIndexEntry>;
template class IndexFile<TimeIndexEntry>;

size_t FindByOffset(const std::vector<OffsetIndexEntry>& entries, uint32_t rel) {
  auto it =
      std::upper_bound(entries.begin(), entries.end(), rel,
                       [](uint32_t r, const OffsetIndexEntry& e) { return r < e.relative_offset; });
  return it == entries.begin() ? entries.size() : static_cast<size_t>(it - entries.begin() - 1);
}

size_t FindByIndex(const std::vector<OffsetIndexEntry>& entries, RaftIndex i) {
  auto it = std::upper_bound(entries.begin(), entries.end(), i,
                             [](RaftIndex r, const OffsetIndexEntry& e) { return r < e.index; });
  return it == entries.begin() ? entries.size() : static_cast<size_t>(it - entries.begin() - 1);
}

size_t FindBeforeTimestamp(const std::vector<TimeIndexEntry>& entries, int64_t ts) {
  auto it = std::lower_bound(entries.begin(), entries.end(), ts,
                             [](const TimeIndexEntry& e, int64_t t) { return e.timestamp < t; });
  return it == entries.begin() ? entries.size() : static_cast<size_t>(it - entries.begin() - 1);
}

}  // namespace raftlog::storage
