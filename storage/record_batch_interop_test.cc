// Interoperability: batches encoded by another Kafka client. The byte vectors
// are the RecordBatch v2 test vectors published with the Go client Sarama
// (record_test.go), produced by its independent encoder, CRC and LZ4 library.
// They check our layout, CRC range and LZ4 frame decoding against a second
// implementation rather than against our own builder.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/record_batch.h"
#include "storage/record_batch_test_util.h"

namespace raftlog::storage {
namespace {

using testing::MessageHas;

// Header shared by the one-record vectors; crc, batchLength and attributes
// are filled per vector.
std::vector<uint8_t> Header(uint8_t length, const std::vector<uint8_t>& crc, uint8_t attributes) {
  std::vector<uint8_t> h = {
      0, 0,          0, 0,      0,   0,   0,  0,   // baseOffset 0
      0, 0,          0, length,                    // batchLength
      0, 0,          0, 0,                         // partitionLeaderEpoch
      2,                                           // magic
      0, 0,          0, 0,                         // crc (set below)
      0, attributes,                               // attributes
      0, 0,          0, 0,                         // lastOffsetDelta 0
      0, 0,          1, 88,     141, 205, 89, 56,  // baseTimestamp 1479847795000
      0, 0,          0, 0,      0,   0,   0,  0,   // maxTimestamp 0 (Sarama leaves it unset)
      0, 0,          0, 0,      0,   0,   0,  0,   // producerId 0
      0, 0,                                        // producerEpoch 0
      0, 0,          0, 0,                         // baseSequence 0
      0, 0,          0, 1,                         // recordsCount 1
  };
  for (size_t i = 0; i < 4; ++i) h[17 + i] = crc[i];
  return h;
}

// The one record: timestampDelta 5, key {1,2,3,4}, value {5,6,7}, one header
// key {8,9,10} value {11,12}.
const std::vector<uint8_t> kRecord = {40, 0, 10, 0, 8, 1, 2,  3, 4,  6, 5,
                                      6,  7, 2,  6, 8, 9, 10, 4, 11, 12};

std::vector<uint8_t> Uncompressed() {
  auto b = Header(70, {84, 121, 97, 253}, 0);
  b.insert(b.end(), kRecord.begin(), kRecord.end());
  return b;
}

std::vector<uint8_t> Lz4() {
  auto b = Header(89, {169, 74, 119, 197}, 3);
  // LZ4 frame: 4 MiB blocks, content checksum, one uncompressed block.
  const std::vector<uint8_t> frame = {4,  34, 77, 24, 100, 112, 185, 21, 0,  0,  128, 40, 0, 10,
                                      0,  8,  1,  2,  3,   4,   6,   5,  6,  7,  2,   6,  8, 9,
                                      10, 4,  11, 12, 0,   0,   0,   0,  12, 59, 239, 146};
  b.insert(b.end(), frame.begin(), frame.end());
  return b;
}

ValidateOptions Lenient() {
  ValidateOptions o;
  o.check_max_timestamp = false;  // Sarama's maxTimestamp 0 is not the record's
  return o;
}

void ExpectTheRecord(const std::vector<Record>& records) {
  ASSERT_EQ(records.size(), 1u);
  const Record& r = records[0];
  EXPECT_EQ(r.offset, 0);
  EXPECT_EQ(r.timestamp, 1479847795005);
  EXPECT_EQ(r.key, std::string("\x01\x02\x03\x04"));
  EXPECT_EQ(r.value, std::string("\x05\x06\x07"));
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].key, std::string("\x08\x09\x0a"));
  EXPECT_EQ(r.headers[0].value, std::string("\x0b\x0c"));
}

TEST(RecordBatchInteropTest, SaramaUncompressed) {
  const auto batch = Uncompressed();
  ASSERT_EQ(batch.size(), 82u);
  auto records = DecodeBatch(batch, Lenient());
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectTheRecord(*records);
  // With the default strict check, the unset maxTimestamp is reported.
  const absl::Status strict = VerifyBatch(batch);
  EXPECT_EQ(strict.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(strict, "maxTimestamp 0 at byte 35")) << strict;
}

TEST(RecordBatchInteropTest, SaramaLz4) {
  const auto batch = Lz4();
  auto records = DecodeBatch(batch, Lenient());
  ASSERT_TRUE(records.ok()) << records.status();
  ExpectTheRecord(*records);
}

TEST(RecordBatchInteropTest, SaramaEmptyAndControlBatches) {
  // 61-byte batches with no records: the header parses (a compacted log may
  // hold such batches), the CRC matches, the produce-path check refuses them.
  std::vector<uint8_t> empty = Header(49, {89, 95, 183, 221}, 0);
  StoreBigEndian<int64_t>(empty.data() + 27, 0);  // baseTimestamp 0
  StoreBigEndian<int32_t>(empty.data() + 57, 0);  // recordsCount 0
  auto h = ParseBatchHeader(empty);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->records_count, 0);
  EXPECT_EQ(ComputeBatchCrc(empty), h->crc);
  EXPECT_TRUE(MessageHas(VerifyBatch(empty), "is 0: a batch needs a record"));

  std::vector<uint8_t> control = empty;
  StoreBigEndian<uint32_t>(control.data() + 17, 0x512E43D9);  // Sarama's {81, 46, 67, 217}
  control[22] = 32;                                           // attributes: control
  auto c = ParseBatchHeader(control);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->is_control());
  EXPECT_EQ(ComputeBatchCrc(control), c->crc);
}

TEST(RecordBatchInteropTest, SaramaGzipAndSnappyAreUnimplementedButCrcChecks) {
  auto gzip = Header(95, {231, 74, 206, 165}, 1);
  const std::vector<uint8_t> gz = {
      31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0,  234, 255, 40,  0,   10, 0,   8,  1, 2, 3,
      4,  6,   5, 6, 7, 2, 6,   8,   9, 10,  4, 11, 12, 3,   0,   173, 201, 88, 103, 21, 0, 0, 0};
  gzip.insert(gzip.end(), gz.begin(), gz.end());
  ASSERT_TRUE(ParseBatchHeader(gzip).ok());
  EXPECT_EQ(ComputeBatchCrc(gzip), ParseBatchHeader(gzip)->crc);
  EXPECT_EQ(VerifyBatch(gzip, Lenient()).code(), absl::StatusCode::kUnimplemented);

  auto snappy = Header(72, {21, 0, 159, 97}, 2);
  const std::vector<uint8_t> sn = {21, 80, 40, 0, 10, 0, 8, 1,  2, 3,  4, 6,
                                   5,  6,  7,  2, 6,  8, 9, 10, 4, 11, 12};
  snappy.insert(snappy.end(), sn.begin(), sn.end());
  EXPECT_EQ(ComputeBatchCrc(snappy), ParseBatchHeader(snappy)->crc);
  EXPECT_EQ(VerifyBatch(snappy, Lenient()).code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace raftlog::storage
