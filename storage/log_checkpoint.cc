// Log-start checkpoint file; see log_checkpoint.h.
#include "storage/log_checkpoint.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"

namespace raftlog::storage {

namespace {
constexpr uint32_t kMagic = 0x524C5343;
constexpr uint32_t kVersion = 1;
constexpr size_t kSize = 36;
}  // namespace

absl::StatusOr<std::optional<LogStart>> ReadLogStart(Env* env, const std::string& dir) {
  const std::string path = dir + "/" + kLogStartCheckpointName;
  absl::StatusOr<bool> exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<LogStart>();
  absl::StatusOr<std::vector<uint8_t>> data = ReadWholeFile(env, path);
  if (!data.ok()) return data.status();
  const uint8_t* p = data->data();
  if (data->size() != kSize || LoadBigEndian<uint32_t>(p) != kMagic ||
      LoadBigEndian<uint32_t>(p + 4) != kVersion ||
      LoadBigEndian<uint32_t>(p + 32) != Crc32c(p, 32)) {
    return absl::DataLossError(
        absl::StrFormat("%s: corrupt checkpoint (%d bytes)", path, data->size()));
  }
  LogStart s;
  s.offset = Offset(LoadBigEndian<int64_t>(p + 8));
  s.index = RaftIndex(LoadBigEndian<int64_t>(p + 16));
  s.prev_term = Term(LoadBigEndian<int64_t>(p + 24));
  if (s.offset.value() < 0 || s.index.value() < 1 || s.prev_term.value() < 0) {
    return absl::DataLossError(path + ": checkpoint values out of range");
  }
  return std::optional<LogStart>(s);
}

absl::Status WriteLogStart(Env* env, const std::string& dir, const LogStart& start) {
  std::vector<uint8_t> buf(kSize);
  uint8_t* p = buf.data();
  StoreBigEndian<uint32_t>(p, kMagic);
  StoreBigEndian<uint32_t>(p + 4, kVersion);
  StoreBigEndian<int64_t>(p + 8, start.offset.value());
  StoreBigEndian<int64_t>(p + 16, start.index.value());
  StoreBigEndian<int64_t>(p + 24, start.prev_term.value());
  StoreBigEndian<uint32_t>(p + 32, Crc32c(p, 32));
  return WriteFileAtomically(env, dir, kLogStartCheckpointName, buf);
}

}  // namespace raftlog::storage
