// Codec figures: CRC-32C GB/s (table, SSE4.2 crc32 in 3 streams, and the path
// in use), and encode / verify / decode MB/s of 16 KiB batches of 1 KiB records
// per compression codec, each set against the raw 16 KiB write() rate (is the
// codec slower than the disk?).
#include <string>
#include <vector>

#include "bench/storage/bench_util.h"
#include "storage/crc32c.h"
#include "storage/record_batch.h"

namespace raftlog::bench {
namespace {

using storage::BatchBuilder;
using storage::Compression;

constexpr size_t kRecordBytes = 1 << 10;
constexpr size_t kBatchBytes = 16 << 10;

enum class CrcPath { kTable, kCrc32Instruction, kHardware };

double CrcGBps(CrcPath path, uint64_t total) {
  std::vector<uint8_t> buf(1 << 20);
  std::mt19937_64 rng(3);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  uint32_t crc = 0;
  Stopwatch sw;
  for (uint64_t done = 0; done < total; done += buf.size()) {
    switch (path) {
      case CrcPath::kTable:
        crc = storage::crc32c_internal::ExtendPortable(crc, buf.data(), buf.size());
        break;
      case CrcPath::kCrc32Instruction:
        crc = storage::crc32c_internal::ExtendCrc32Instruction(crc, buf.data(), buf.size());
        break;
      case CrcPath::kHardware:
        crc = storage::crc32c_internal::ExtendHardware(crc, buf.data(), buf.size());
        break;
    }
  }
  const double seconds = sw.Seconds();
  if (crc == 0x12345678) std::printf(" ");  // keep the loop observable
  return static_cast<double>(total) / (1 << 30) / seconds;
}

// Values for one batch: as many 1 KiB records as fit in ~16 KiB.
std::vector<std::string> BatchValues() {
  std::mt19937_64 rng(5);
  std::vector<std::string> values;
  for (size_t used = 0; used + kRecordBytes + 16 <= kBatchBytes - 61; used += kRecordBytes + 16) {
    values.push_back(RecordValue(rng, kRecordBytes));
  }
  return values;
}

}  // namespace

void RunCodecBench(const BenchConfig& config, const RawBaseline& raw) {
  std::printf("crc32c\n");
  const uint64_t crc_bytes = 2ull << 30;
  const double portable = CrcGBps(CrcPath::kTable, crc_bytes);
  Report("crc32c table (slicing-by-8)", portable, "GB/s");
  if (storage::crc32c_internal::HardwareAvailable()) {
    Report("crc32c SSE4.2 crc32, 3 interleaved streams",
           CrcGBps(CrcPath::kCrc32Instruction, crc_bytes), "GB/s", portable, "table");
    Report("crc32c as used (AVX-512 VPCLMULQDQ fold if available)",
           CrcGBps(CrcPath::kHardware, crc_bytes), "GB/s", portable, "table");
  }

  const std::vector<std::string> values = BatchValues();
  std::printf("codec: 16 KiB batches of %zu x 1 KiB records (vs raw 16 KiB write)\n",
              values.size());
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
    const std::string name(storage::CompressionName(c));
    BatchBuilder builder;
    builder.set_compression(c);
    const uint64_t logical = values.size() * kRecordBytes;
    const uint64_t iterations = std::max<uint64_t>(1, config.codec_bytes / logical);
    std::vector<uint8_t> batch;
    Stopwatch encode;
    for (uint64_t i = 0; i < iterations; ++i) {
      builder.Clear();
      for (size_t r = 0; r < values.size(); ++r) {
        builder.Add(std::nullopt, values[r], 1'700'000'000'000 + static_cast<int64_t>(r));
      }
      auto built = builder.Build();
      if (!built.ok()) std::abort();
      batch = std::move(*built);
    }
    const double encode_s = encode.Seconds();
    Stopwatch verify;
    for (uint64_t i = 0; i < iterations; ++i) {
      if (!storage::VerifyBatch(batch).ok()) std::abort();
    }
    const double verify_s = verify.Seconds();
    Stopwatch decode;
    for (uint64_t i = 0; i < iterations; ++i) {
      if (!storage::DecodeBatch(batch).ok()) std::abort();
    }
    const double decode_s = decode.Seconds();
    // MB/s of record payload (uncompressed), the rate producers care about.
    const uint64_t total = iterations * logical;
    Report(name + " encode (BatchBuilder), payload", MBps(total, encode_s), "MB/s", raw.write_16k,
           "raw write");
    Report(name + " verify (VerifyBatch), payload", MBps(total, verify_s), "MB/s", raw.write_16k,
           "raw write");
    Report(name + " decode (DecodeBatch), payload", MBps(total, decode_s), "MB/s", raw.write_16k,
           "raw write");
    std::printf("  %-52s %10zu bytes\n", (name + " batch size on the wire").c_str(), batch.size());
  }
}

}  // namespace raftlog::bench
