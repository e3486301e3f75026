// Helpers shared by the partition-log tests: temporary directories, test
// batches built with the codec's BatchBuilder, and file surgery (copy,
// truncate, flip a byte) to simulate crashes and corruption.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/partition_log.h"

namespace raftlog::storage::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A valid RecordBatch v2 with `records` records (values "v<tag>-<i>",
// padded to `value_bytes`), all with `timestamp_ms`. Base offset 0.
std::vector<uint8_t> MakeBatch(int records, int64_t timestamp_ms, int tag = 0,
                               size_t value_bytes = 8);

// The values of the records in concatenated batch bytes, and their offsets.
struct DecodedRecords {
  std::vector<int64_t> offsets;
  std::vector<std::string> values;
};
DecodedRecords DecodeAll(const std::vector<uint8_t>& batches);

// Options for tests: fsync policy never, small segments, injected clock.
PartitionLogOptions TestOptions(Env* env, int64_t* clock_ms);

// File surgery.
std::vector<uint8_t> ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& data);
void CopyDir(const std::string& from, const std::string& to);
uint64_t FileSize(const std::string& path);
void TruncateFile(const std::string& path, uint64_t size);
void FlipByte(const std::string& path, uint64_t pos);
std::vector<std::string> ListFiles(const std::string& dir);
std::string SegmentLogPath(const std::string& dir, int64_t base);

}  // namespace raftlog::storage::testing
