// Test helpers; see log_test_util.h.
#include "storage/log_test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "storage/record_batch_builder.h"
#include "storage/record_batch_reader.h"

namespace raftlog::storage::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  // tmpfs when available: these tests create and delete thousands of small
  // files, and on VM disks mounted with `discard` each unlink/ftruncate costs
  // about a millisecond. RAFTLOG_TEST_TMPDIR overrides.
  fs::path base = fs::temp_directory_path();
  if (const char* env = std::getenv("RAFTLOG_TEST_TMPDIR"); env != nullptr && *env != '\0') {
    base = env;
  } else if (access("/dev/shm", W_OK) == 0) {
    base = "/dev/shm";
  }
  std::string tmpl = (base / "raftlog-log-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* p = mkdtemp(buf.data());
  if (p == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = p == nullptr ? tmpl : std::string(p);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<uint8_t> MakeBatch(int records, int64_t timestamp_ms, int tag, size_t value_bytes) {
  BatchBuilder b;
  for (int i = 0; i < records; ++i) {
    std::string v = absl::StrFormat("v%d-%d", tag, i);
    if (v.size() < value_bytes) v.resize(value_bytes, '.');
    b.Add(std::nullopt, v, timestamp_ms);
  }
  absl::StatusOr<std::vector<uint8_t>> out = b.Build();
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<uint8_t>();
}

DecodedRecords DecodeAll(const std::vector<uint8_t>& batches) {
  DecodedRecords out;
  size_t pos = 0;
  while (pos < batches.size()) {
    std::span<const uint8_t> rest(batches.data() + pos, batches.size() - pos);
    absl::StatusOr<BatchHeader> h = ParseBatchHeader(rest);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) break;
    std::span<const uint8_t> batch = rest.subspan(0, h->size_bytes());
    EXPECT_TRUE(VerifyBatch(batch).ok());
    absl::StatusOr<std::vector<Record>> recs = DecodeBatch(batch);
    EXPECT_TRUE(recs.ok()) << recs.status();
    if (!recs.ok()) break;
    for (const Record& r : *recs) {
      out.offsets.push_back(r.offset);
      out.values.push_back(r.value.value_or("<null>"));
    }
    pos += h->size_bytes();
  }
  return out;
}

PartitionLogOptions TestOptions(Env* env, int64_t* clock_ms) {
  PartitionLogOptions o;
  o.env = env;
  o.segment_bytes = 1024;
  o.index_interval_bytes = 128;
  o.segment_ms = 0;
  o.fsync_policy = FsyncPolicy::kNever;
  o.clock = [clock_ms] { return *clock_ms; };
  return o;
}

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void CopyDir(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) {
    fs::copy_file(e.path(), fs::path(to) / e.path().filename(),
                  fs::copy_options::overwrite_existing);
  }
}

uint64_t FileSize(const std::string& path) { return fs::file_size(path); }

void TruncateFile(const std::string& path, uint64_t size) { fs::resize_file(path, size); }

void FlipByte(const std::string& path, uint64_t pos) {
  std::vector<uint8_t> d = ReadFileBytes(path);
  ASSERT_LT(pos, d.size());
  d[pos] ^= 0x5a;
  WriteFileBytes(path, d);
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string SegmentLogPath(const std::string& dir, int64_t base) {
  return absl::StrFormat("%s/%020d.log", dir, base);
}

}  // namespace raftlog::storage::testing
