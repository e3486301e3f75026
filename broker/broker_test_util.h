// Helpers for broker/ unit tests: a self-deleting temp directory (under
// /dev/shm when writable, for speed) and record-batch construction.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "storage/record_batch_builder.h"

namespace raftlog::broker::testing {

class TempDir {
 public:
  TempDir() {
    std::string base = "/dev/shm";
    if (access(base.c_str(), W_OK) != 0) base = std::filesystem::temp_directory_path().string();
    std::string tmpl = base + "/raftlog-broker-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* p = mkdtemp(buf.data());
    EXPECT_NE(p, nullptr);
    path_ = p ? p : tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A RecordBatch v2 of `records` records whose values derive from `seed`; the
// base offset is set to `proposed_base` (the log ignores and replaces it).
inline std::string MakeBatch(int records, uint64_t seed, int64_t proposed_base = 0) {
  storage::BatchBuilder b;
  b.set_base_offset(proposed_base);
  for (int i = 0; i < records; ++i) {
    const std::string key = "k" + std::to_string(seed % 7);
    const std::string value = "v" + std::to_string(seed) + "-" + std::to_string(i);
    b.Add(key, value, /*timestamp=*/1700000000000 + static_cast<int64_t>(seed));
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = b.Build();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return {};
  return std::string(bytes->begin(), bytes->end());
}

// The big-endian base offset in bytes 0..7 of a batch.
inline int64_t BaseOffsetOf(std::string_view batch) {
  int64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(batch[i]);
  return v;
}

// The batch with its base offset zeroed, to compare batches modulo offset.
inline std::string WithoutBaseOffset(std::string_view bytes) {
  std::string batch(bytes);
  for (int i = 0; i < 8 && i < static_cast<int>(batch.size()); ++i) batch[i] = 0;
  return batch;
}

}  // namespace raftlog::broker::testing
