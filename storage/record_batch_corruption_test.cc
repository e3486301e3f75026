// One test per way a batch can be malformed: each must be rejected by
// ValidateBatch (and DecodeBatch) with a status naming the field and byte
// position, never a crash or an over-read (these also run under ASan/UBSan).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/record_batch.h"
#include "storage/record_batch_test_util.h"

namespace raftlog::storage {
namespace {

using testing::AppendRecord;
using testing::Assemble;
using testing::FixCrc;
using testing::MessageHas;
using testing::RawBatch;
using testing::RecordBody;

// Expects both ValidateBatch and DecodeBatch to fail with `code` and a
// message containing `needle`.
void ExpectRejected(const std::vector<uint8_t>& batch, absl::StatusCode code,
                    const std::string& needle, const ValidateOptions& options = {}) {
  const absl::Status v = VerifyBatch(batch, options);
  EXPECT_EQ(v.code(), code) << v;
  EXPECT_TRUE(MessageHas(v, needle)) << "message: " << v.message() << "\nwanted: " << needle;
  const absl::Status d = DecodeBatch(batch, options).status();
  EXPECT_EQ(d, v);
}

std::vector<uint8_t> ValidBatch(Compression c = Compression::kNone) {
  BatchBuilder b;
  b.set_compression(c);
  b.Add("key0", "value0", 1000);
  b.Add("key1", "value1", 1001);
  auto built = b.Build();
  EXPECT_TRUE(built.ok());
  return *built;
}

// Two records, given as bodies; header fields consistent with them.
RawBatch TwoRecords(const std::vector<uint8_t>& body0, const std::vector<uint8_t>& body1) {
  RawBatch raw;
  raw.records_count = 2;
  raw.last_offset_delta = 1;
  raw.max_timestamp = 1000;
  AppendRecord(&raw.records, body0);
  AppendRecord(&raw.records, body1);
  return raw;
}

TEST(BatchCorruptionTest, RawHelperBuildsValidBatch) {
  // Guards the helper every other test relies on.
  auto batch =
      Assemble(TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, -1, "", 0, "")));
  EXPECT_TRUE(VerifyBatch(batch).ok()) << VerifyBatch(batch);
}

TEST(BatchCorruptionTest, TruncatedHeader) {
  auto batch = ValidBatch();
  batch.resize(40);
  ExpectRejected(batch, absl::StatusCode::kOutOfRange, "shorter than the 61-byte header");
}

TEST(BatchCorruptionTest, BadMagic) {
  auto batch = ValidBatch();
  batch[16] = 3;
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument, "magic 3 at byte 16");
}

TEST(BatchCorruptionTest, CrcMismatch) {
  auto batch = ValidBatch();
  batch[batch.size() - 3] ^= 0x20;  // inside the last value
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument, "crc mismatch: byte 17 holds");
}

TEST(BatchCorruptionTest, CrcFieldItselfCorrupt) {
  auto batch = ValidBatch();
  batch[18] ^= 0x01;
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument, "crc mismatch");
}

TEST(BatchCorruptionTest, BatchLengthLargerThanBuffer) {
  auto batch = ValidBatch();
  batch.pop_back();
  ExpectRejected(batch, absl::StatusCode::kOutOfRange, "batchLength");
}

TEST(BatchCorruptionTest, BatchLengthSmallerThanBuffer) {
  auto batch = ValidBatch();
  batch.push_back(0);
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument, "(1 trailing)");
}

TEST(BatchCorruptionTest, RecordLengthPastEnd) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, 1, "k", 1, "v"));
  raw.records[0] = 0x7E;  // length 63, far more than the 19 bytes present
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: length 63 at byte 61 of the batch runs past the end");
}

TEST(BatchCorruptionTest, NegativeRecordLength) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, 1, "k", 1, "v"));
  raw.records[0] = 0x01;  // -1
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: length -1 at byte 61 of the batch is negative");
}

TEST(BatchCorruptionTest, NegativeKeyLengthOtherThanMinusOne) {
  auto batch =
      Assemble(TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, -2, "k", 1, "v")));
  // Record 1 starts at 61 + 9; its keyLength sits after length, attributes,
  // timestampDelta and offsetDelta: byte 74.
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 1: keyLength -2 at byte 74 of the batch is negative (only -1");
}

TEST(BatchCorruptionTest, NegativeValueLengthOtherThanMinusOne) {
  auto batch =
      Assemble(TwoRecords(RecordBody(0, 0, 1, "k", -7, "vvvv"), RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 0: valueLength -7 at byte 67 of the batch is negative");
}

TEST(BatchCorruptionTest, NullHeaderKey) {
  std::vector<uint8_t> body = RecordBody(0, 0, 1, "k", 1, "v", /*header_count=*/1);
  AppendVarint(&body, -1);  // header key null: not allowed
  AppendVarint(&body, -1);
  auto batch = Assemble(TwoRecords(body, RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 0: header keyLength -1 at byte 70 of the batch is negative (it may not "
                 "be null)");
}

TEST(BatchCorruptionTest, KeyLengthPastRecordEnd) {
  std::vector<uint8_t> body = RecordBody(0, 0, 1, "k", 1, "v");
  body[3] = 0x14;  // keyLength 10 with 4 bytes left in the record
  auto batch = Assemble(TwoRecords(body, RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 0: keyLength 10 at byte 65 of the batch runs past the record end");
}

TEST(BatchCorruptionTest, RecordCountLargerThanRecords) {
  // Values long enough that the cheap header check (7 bytes per record) passes.
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 10, "vvvvvvvvvv"),
                            RecordBody(0, 1, 1, "k", 10, "vvvvvvvvvv"));
  raw.records_count = 3;
  raw.last_offset_delta = 2;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "recordsCount 3 at byte 57 but only 2 records found in the batch (ending at "
                 "byte 97)");
}

TEST(BatchCorruptionTest, RecordCountSmallerThanRecords) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, 1, "k", 1, "v"));
  raw.records_count = 1;
  raw.last_offset_delta = 0;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "9 trailing bytes at byte 70 of the batch after all 1 records");
}

TEST(BatchCorruptionTest, TrailingBytesAfterRecords) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, 1, "k", 1, "v"));
  raw.records.push_back(0x00);
  raw.records.push_back(0x00);
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "2 trailing bytes at byte 79 of the batch");
}

TEST(BatchCorruptionTest, RecordLengthLeavesBytesUnread) {
  std::vector<uint8_t> body = RecordBody(0, 0, 1, "k", 1, "v");
  body.push_back(0x00);  // one byte more than the fields use
  auto batch = Assemble(TwoRecords(body, RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 0: length 9 at byte 61 of the batch leaves 1 bytes unread");
}

TEST(BatchCorruptionTest, FieldRunsPastRecordLength) {
  std::vector<uint8_t> body = RecordBody(0, 0, 1, "k", 1, "v");
  body.pop_back();  // header count missing: the record ends early
  RawBatch raw;
  AppendRecord(&raw.records, body);
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: headerCount at byte 69 of the batch runs past the record end");
}

TEST(BatchCorruptionTest, OverlongVarint) {
  std::vector<uint8_t> body = {0x00};  // attributes
  body.insert(body.end(), 10, 0x80);   // timestampDelta: 11 bytes
  body.push_back(0x00);
  body.insert(body.end(), {0x00, 0x01, 0x01, 0x00});  // offsetDelta, key, value, headers
  RawBatch raw;
  AppendRecord(&raw.records, body);
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: timestampDelta at byte 63 of the batch is an overlong varint");
}

TEST(BatchCorruptionTest, OverlongRecordLengthVarint) {
  RawBatch raw;
  raw.records = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00};
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: length at byte 61 of the batch is an overlong varint");
}

TEST(BatchCorruptionTest, OffsetDeltaMismatch) {
  auto batch =
      Assemble(TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 5, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 1: offsetDelta 5 at byte 73 of the batch should be 1");
}

TEST(BatchCorruptionTest, LastOffsetDeltaNotCountMinusOne) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 1, 1, "k", 1, "v"));
  raw.last_offset_delta = 4;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "lastOffsetDelta 4 at byte 23 should be recordsCount - 1 = 1");
}

TEST(BatchCorruptionTest, EmptyBatch) {
  RawBatch raw;
  raw.records_count = 0;
  raw.last_offset_delta = -1;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument, "recordsCount at byte 57 is 0");
}

TEST(BatchCorruptionTest, HeaderCountMoreThanRecordHolds) {
  auto batch = Assemble(TwoRecords(RecordBody(0, 0, 1, "k", 1, "v", /*header_count=*/100),
                                   RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "record 0: headerCount 100 at byte 69 of the batch is more than the record can "
                 "hold");
}

TEST(BatchCorruptionTest, NegativeHeaderCount) {
  auto batch = Assemble(TwoRecords(RecordBody(0, 0, 1, "k", 1, "v", /*header_count=*/-1),
                                   RecordBody(0, 1, 1, "k", 1, "v")));
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument, "headerCount -1 at byte 69");
}

TEST(BatchCorruptionTest, TimestampOverflow) {
  RawBatch raw;
  raw.base_timestamp = std::numeric_limits<int64_t>::max() - 1;
  raw.max_timestamp = raw.base_timestamp;
  AppendRecord(&raw.records, RecordBody(5, 0, 1, "k", 1, "v"));
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: baseTimestamp 9223372036854775806 + timestampDelta 5 overflows");
}

TEST(BatchCorruptionTest, MaxTimestampMismatch) {
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(7, 1, 1, "k", 1, "v"));
  raw.max_timestamp = 1000;  // the second record is at 1007
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "maxTimestamp 1000 at byte 35 differs from the largest record timestamp 1007");
  ValidateOptions lenient;
  lenient.check_max_timestamp = false;
  EXPECT_TRUE(VerifyBatch(Assemble(raw), lenient).ok());
}

TEST(BatchCorruptionTest, CompactedBatchNeedsAllowCompacted) {
  // Offsets 0 and 3 of 0..4 survive compaction; maxTimestamp (1009) was the
  // dropped last record's.
  RawBatch raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(2, 3, 1, "j", 1, "w"));
  raw.last_offset_delta = 4;
  raw.max_timestamp = 1009;
  const auto batch = Assemble(raw);
  ExpectRejected(batch, absl::StatusCode::kInvalidArgument,
                 "lastOffsetDelta 4 at byte 23 should be recordsCount - 1 = 1");
  ValidateOptions compacted;
  compacted.allow_compacted = true;
  auto records = DecodeBatch(batch, compacted);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].offset, 3);
  EXPECT_EQ((*records)[1].timestamp, 1002);

  RawBatch empty;
  empty.records_count = 0;
  empty.last_offset_delta = 4;
  EXPECT_TRUE(VerifyBatch(Assemble(empty), compacted).ok());
}

TEST(BatchCorruptionTest, CompactedOffsetsMustIncreaseWithinRange) {
  ValidateOptions compacted;
  compacted.allow_compacted = true;
  RawBatch raw = TwoRecords(RecordBody(0, 2, 1, "k", 1, "v"), RecordBody(0, 2, 1, "j", 1, "w"));
  raw.last_offset_delta = 4;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 1: offsetDelta 2 at byte 73 of the batch should be above the previous (2)",
                 compacted);
  raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(0, 5, 1, "j", 1, "w"));
  raw.last_offset_delta = 4;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument, "and at most lastOffsetDelta 4",
                 compacted);
  raw = TwoRecords(RecordBody(0, 0, 1, "k", 1, "v"), RecordBody(9, 1, 1, "j", 1, "w"));
  raw.last_offset_delta = 1;
  raw.max_timestamp = 1005;  // below record 1's 1009
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "maxTimestamp 1005 at byte 35 is below the largest record timestamp 1009",
                 compacted);
}

TEST(BatchCorruptionTest, BadCompressionCodec) {
  RawBatch raw;
  raw.attributes = 7;
  AppendRecord(&raw.records, RecordBody(0, 0, 1, "k", 1, "v"));
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "attributes 0x0007 at byte 21 name compression codec 7");
}

TEST(BatchCorruptionTest, GzipAndSnappyUnimplemented) {
  for (int16_t codec : {1, 2}) {
    RawBatch raw;
    raw.attributes = codec;
    raw.records = {0x1f, 0x8b, 0x08, 0x00};
    ExpectRejected(Assemble(raw), absl::StatusCode::kUnimplemented, "is not supported");
  }
}

class CompressedCorruptionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressedCorruptionTest, CorruptPayload) {
  auto batch = ValidBatch(GetParam());
  // Overwrite the middle of the compressed stream, keep the CRC consistent so
  // the decompressor (not the CRC) must catch it.
  for (size_t i = 61 + 6; i < batch.size(); ++i) batch[i] = 0xEE;
  FixCrc(&batch);
  const absl::Status s = VerifyBatch(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(MessageHas(
      s, "records at byte 61 (" + std::string(CompressionName(GetParam())) + " compressed"))
      << s;
}

TEST_P(CompressedCorruptionTest, TruncatedPayload) {
  auto batch = ValidBatch(GetParam());
  batch.resize(batch.size() - 4);
  StoreBigEndian<int32_t>(batch.data() + 8, static_cast<int32_t>(batch.size() - 12));
  FixCrc(&batch);
  EXPECT_EQ(VerifyBatch(batch).code(), absl::StatusCode::kInvalidArgument) << VerifyBatch(batch);
}

TEST_P(CompressedCorruptionTest, DecompressionBombCapped) {
  BatchBuilder b;
  b.set_compression(GetParam());
  b.Add("k", std::string(4 << 20, '\0'), 1);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  ASSERT_LT(built->size(), 64u << 10);  // tiny on the wire
  ValidateOptions options;
  options.max_decompressed_bytes = 1 << 20;
  ExpectRejected(*built, absl::StatusCode::kResourceExhausted, "limit", options);
  EXPECT_TRUE(VerifyBatch(*built).ok());  // the default 64 MiB cap admits it
}

TEST_P(CompressedCorruptionTest, RecordErrorReportsDecompressedPosition) {
  std::vector<uint8_t> records;
  AppendRecord(&records, RecordBody(0, 3, 1, "k", 1, "v"));  // offsetDelta should be 0
  auto packed = Compress(GetParam(), records);
  ASSERT_TRUE(packed.ok());
  RawBatch raw;
  raw.attributes = static_cast<int16_t>(GetParam());
  raw.records = *packed;
  ExpectRejected(Assemble(raw), absl::StatusCode::kInvalidArgument,
                 "record 0: offsetDelta 3 at byte 3 of the decompressed records should be 0");
}

INSTANTIATE_TEST_SUITE_P(Lz4AndZstd, CompressedCorruptionTest,
                         ::testing::Values(Compression::kLz4, Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(BatchCorruptionTest, EveryTruncationOfValidBatchRejected) {
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
    const auto batch = ValidBatch(c);
    for (size_t n = 0; n < batch.size(); ++n) {
      std::vector<uint8_t> prefix(batch.begin(), batch.begin() + static_cast<long>(n));
      EXPECT_FALSE(VerifyBatch(prefix).ok()) << "codec " << CompressionName(c) << " len " << n;
    }
  }
}

TEST(BatchCorruptionTest, EverySingleBitFlipRejectedOrHarmless) {
  // Flips inside the CRC range must be caught; flips in baseOffset,
  // batchLength, epoch or magic either fail the header checks or (baseOffset,
  // epoch) legitimately still validate.
  const auto batch = ValidBatch();
  for (size_t i = 0; i < batch.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = batch;
      copy[i] ^= static_cast<uint8_t>(1 << bit);
      const bool ok = VerifyBatch(copy).ok();
      const bool outside_crc = i < 8 || (i >= 12 && i < 16);
      if (!outside_crc) {
        EXPECT_FALSE(ok) << "byte " << i << " bit " << bit;
      }
    }
  }
}

}  // namespace
}  // namespace raftlog::storage
