// Writes the seed corpus for record_batch_fuzzer into a directory: valid
// batches of each codec and feature, and broken ones (each with a correct
// CRC where that lets the fuzzer reach the deeper checks). Run once by hand:
//   record_batch_corpus_gen storage/fuzz/corpus
// Output is deterministic, so regenerating leaves the files unchanged.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "storage/big_endian.h"
#include "storage/record_batch.h"
#include "storage/varint.h"

namespace {

using namespace raftlog::storage;  // NOLINT(build/namespaces): a small tool

std::string g_dir;
int g_written = 0;

void Write(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::ofstream f(g_dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ++g_written;
}

void FixCrc(std::vector<uint8_t>* b) {
  StoreBigEndian<uint32_t>(b->data() + batch_layout::kCrc, ComputeBatchCrc(*b));
}

std::vector<uint8_t> Build(Compression c, int records, bool headers, bool flags = false) {
  BatchBuilder b;
  b.set_compression(c).set_base_offset(0).set_producer(1000, 0, 0);
  if (flags) {
    b.set_transactional(true).set_timestamp_type(TimestampType::kLogAppendTime);
  }
  for (int i = 0; i < records; ++i) {
    std::vector<RecordHeader> hs;
    if (headers) hs = {{"trace", "abc"}, {"null", std::nullopt}};
    std::optional<std::string> key;
    if (i % 3 != 0) key = "key" + std::to_string(i);
    std::optional<std::string> value;
    if (i % 4 != 1)
      value = std::string(static_cast<size_t>(i % 40), static_cast<char>('a' + i % 26));
    b.Add(key, value, 1'700'000'000'000 + i * 3 - (i % 2), hs);
  }
  auto built = b.Build();
  if (!built.ok()) {
    std::fprintf(stderr, "build failed: %s\n", std::string(built.status().message()).c_str());
    std::exit(1);
  }
  return *built;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];

  // Valid batches.
  Write("valid_none_1", Build(Compression::kNone, 1, false));
  Write("valid_none_headers_5", Build(Compression::kNone, 5, true));
  Write("valid_none_flags", Build(Compression::kNone, 3, false, true));
  Write("valid_none_100", Build(Compression::kNone, 100, false));
  Write("valid_lz4_20", Build(Compression::kLz4, 20, true));
  Write("valid_zstd_20", Build(Compression::kZstd, 20, true));
  Write("valid_zstd_flags", Build(Compression::kZstd, 4, false, true));
  Write("valid_lz4_1", Build(Compression::kLz4, 1, false));

  // Broken batches.
  const auto base = Build(Compression::kNone, 3, true);
  {
    auto b = base;
    b.resize(40);
    Write("bad_truncated_header", b);
  }
  {
    auto b = base;
    b.pop_back();
    Write("bad_truncated_body", b);
  }
  {
    auto b = base;
    b[16] = 1;
    Write("bad_magic", b);
  }
  {
    auto b = base;
    b[b.size() - 2] ^= 0x40;
    Write("bad_crc", b);
  }
  {
    auto b = base;
    b.push_back(0);
    Write("bad_trailing_byte", b);
  }
  {
    auto b = base;
    StoreBigEndian<int32_t>(b.data() + batch_layout::kRecordsCount, 2);
    StoreBigEndian<int32_t>(b.data() + batch_layout::kLastOffsetDelta, 1);
    FixCrc(&b);
    Write("bad_count_small", b);
  }
  {
    auto b = base;
    b[batch_layout::kRecords + 4] = 0x03;  // record 0 keyLength -2 (its key is null: 0x01)
    FixCrc(&b);
    Write("bad_key_length", b);
  }
  {
    auto b = base;
    b[batch_layout::kRecords] = 0x7F;  // record length: continuation into attributes
    FixCrc(&b);
    Write("bad_record_length", b);
  }
  {
    auto b = base;
    StoreBigEndian<int16_t>(b.data() + batch_layout::kAttributes, 6);
    FixCrc(&b);
    Write("bad_codec", b);
  }
  {
    auto b = base;
    StoreBigEndian<int16_t>(b.data() + batch_layout::kAttributes, 1);
    FixCrc(&b);
    Write("bad_gzip", b);
  }
  {
    auto b = Build(Compression::kZstd, 20, true);
    for (size_t i = batch_layout::kRecords + 8; i < b.size(); i += 5) b[i] ^= 0x5A;
    FixCrc(&b);
    Write("bad_zstd_payload", b);
  }
  {
    auto b = Build(Compression::kLz4, 20, true);
    for (size_t i = batch_layout::kRecords + 12; i < b.size(); i += 7) b[i] ^= 0x5A;
    FixCrc(&b);
    Write("bad_lz4_payload", b);
  }
  {
    // An overlong varint as the first record's length.
    std::vector<uint8_t> b(base.begin(), base.begin() + batch_layout::kRecords);
    for (int i = 0; i < 11; ++i) b.push_back(0x80);
    b.push_back(0x00);
    StoreBigEndian<int32_t>(b.data() + batch_layout::kBatchLength,
                            static_cast<int32_t>(b.size() - batch_layout::kLogOverhead));
    StoreBigEndian<int32_t>(b.data() + batch_layout::kRecordsCount, 1);
    StoreBigEndian<int32_t>(b.data() + batch_layout::kLastOffsetDelta, 0);
    FixCrc(&b);
    Write("bad_overlong_varint", b);
  }
  {
    // Two batches back to back: the header parses, full validation refuses.
    auto b = base;
    b.insert(b.end(), base.begin(), base.end());
    Write("bad_two_batches", b);
  }
  Write("bad_empty", {});

  // Batches from another client (Sarama's published test vectors, also used
  // by record_batch_interop_test): maxTimestamp is unset, so only the lenient
  // check accepts them; the LZ4 one has 4 MiB blocks and a content checksum.
  const std::vector<uint8_t> sarama_header = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,   70,  0,  0,  0, 0, 2, 84, 121, 97, 253,
      0, 0, 0, 0, 0, 0, 0, 0, 1, 88, 141, 205, 89, 56, 0, 0, 0, 0,  0,   0,  0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,   0,   0,  0,  0, 0, 0, 0,  1};
  const std::vector<uint8_t> sarama_record = {40, 0, 10, 0, 8, 1, 2,  3, 4,  6, 5,
                                              6,  7, 2,  6, 8, 9, 10, 4, 11, 12};
  {
    auto b = sarama_header;
    b.insert(b.end(), sarama_record.begin(), sarama_record.end());
    Write("interop_sarama_none", b);
  }
  {
    auto b = sarama_header;
    b[11] = 89;
    const uint8_t crc[4] = {169, 74, 119, 197};
    for (int i = 0; i < 4; ++i) b[17 + i] = crc[i];
    b[22] = 3;
    const std::vector<uint8_t> frame = {4,  34, 77, 24, 100, 112, 185, 21, 0,  0,  128, 40, 0, 10,
                                        0,  8,  1,  2,  3,   4,   6,   5,  6,  7,  2,   6,  8, 9,
                                        10, 4,  11, 12, 0,   0,   0,   0,  12, 59, 239, 146};
    b.insert(b.end(), frame.begin(), frame.end());
    Write("interop_sarama_lz4", b);
  }
  std::printf("wrote %d files to %s\n", g_written, g_dir.c_str());
  return 0;
}
