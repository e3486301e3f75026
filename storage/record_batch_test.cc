// Round-trip and golden-bytes tests for BatchBuilder / DecodeBatch, plus the
// in-place patches of fields outside the CRC.
#include "storage/record_batch.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "storage/crc32c.h"
#include "storage/record_batch_test_util.h"

namespace raftlog::storage {
namespace {

// Two records built from the spec by hand:
//   record 0: key "k", value "v", timestamp 1000, no headers
//   record 1: null key, empty value, timestamp 1002, header ("h", null)
// producer id 5, epoch 1, base sequence 0, base offset 0, no compression.
const std::vector<uint8_t> kGolden = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // baseOffset 0
    0x00, 0x00, 0x00, 0x44,                          // batchLength 68 (80 - 12)
    0x00, 0x00, 0x00, 0x00,                          // partitionLeaderEpoch 0
    0x02,                                            // magic 2
    0xFC, 0x80, 0x6D, 0x3A,                          // crc: CRC-32C of bytes 21..79
    0x00, 0x00,                                      // attributes: none, CreateTime
    0x00, 0x00, 0x00, 0x01,                          // lastOffsetDelta 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,  // baseTimestamp 1000
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xEA,  // maxTimestamp 1002
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // producerId 5
    0x00, 0x01,                                      // producerEpoch 1
    0x00, 0x00, 0x00, 0x00,                          // baseSequence 0
    0x00, 0x00, 0x00, 0x02,                          // recordsCount 2
    // record 0 (61..69)
    0x10,        // length 8 (zigzag 16)
    0x00,        // attributes
    0x00,        // timestampDelta 0
    0x00,        // offsetDelta 0
    0x02, 0x6B,  // keyLength 1, "k"
    0x02, 0x76,  // valueLength 1, "v"
    0x00,        // headerCount 0
    // record 1 (70..79)
    0x12,        // length 9 (zigzag 18)
    0x00,        // attributes
    0x04,        // timestampDelta 2
    0x02,        // offsetDelta 1
    0x01,        // keyLength -1: null
    0x00,        // valueLength 0: empty
    0x02,        // headerCount 1
    0x02, 0x68,  // header keyLength 1, "h"
    0x01,        // header valueLength -1: null
};

BatchBuilder GoldenBuilder() {
  BatchBuilder b;
  b.set_producer(5, 1, 0);
  b.Add("k", "v", 1000);
  const RecordHeader h{"h", std::nullopt};
  b.Add(std::nullopt, "", 1002, std::span(&h, 1));
  return b;
}

TEST(RecordBatchTest, GoldenCrcIsCrc32cOfAttributesOnward) {
  ASSERT_EQ(kGolden.size(), 80u);
  const uint32_t crc = Crc32c(kGolden.data() + 21, kGolden.size() - 21);
  EXPECT_EQ(crc, LoadBigEndian<uint32_t>(kGolden.data() + 17));
}

TEST(RecordBatchTest, BuilderMatchesGoldenBytes) {
  auto built = GoldenBuilder().Build();
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_EQ(built->size(), kGolden.size());
  for (size_t i = 0; i < kGolden.size(); ++i) {
    EXPECT_EQ((*built)[i], kGolden[i]) << "byte " << i;
  }
}

TEST(RecordBatchTest, DecodesGoldenBytes) {
  auto records = DecodeBatch(kGolden);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  const Record& r0 = (*records)[0];
  EXPECT_EQ(r0.offset, 0);
  EXPECT_EQ(r0.timestamp, 1000);
  EXPECT_EQ(r0.key, "k");
  EXPECT_EQ(r0.value, "v");
  EXPECT_TRUE(r0.headers.empty());
  const Record& r1 = (*records)[1];
  EXPECT_EQ(r1.offset, 1);
  EXPECT_EQ(r1.timestamp, 1002);
  EXPECT_EQ(r1.key, std::nullopt);
  ASSERT_TRUE(r1.value.has_value());
  EXPECT_EQ(*r1.value, "");
  ASSERT_EQ(r1.headers.size(), 1u);
  EXPECT_EQ(r1.headers[0].key, "h");
  EXPECT_EQ(r1.headers[0].value, std::nullopt);

  auto header = ValidateBatch(kGolden);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->producer_id, 5);
  EXPECT_EQ(header->producer_epoch, 1);
  EXPECT_EQ(header->base_sequence, 0);
  EXPECT_EQ(header->max_timestamp, 1002);
  EXPECT_EQ(header->next_offset(), 2);
}

std::vector<Record> SampleRecords(int n) {
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    Record r;
    r.timestamp = 1'700'000'000'000 + (i * 37 % 11) - 5;  // not monotonic
    if (i % 5 != 0) r.key = "key-" + std::to_string(i);
    if (i % 7 != 3)
      r.value = std::string(static_cast<size_t>(i % 300), static_cast<char>('a' + i % 26));
    for (int h = 0; h < i % 3; ++h) {
      r.headers.push_back(RecordHeader{
          "hdr" + std::to_string(h),
          h == 1 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i))});
    }
    out.push_back(std::move(r));
  }
  return out;
}

class RoundTripTest : public ::testing::TestWithParam<Compression> {};

TEST_P(RoundTripTest, ManyRecordsWithNullsEmptiesAndHeaders) {
  const std::vector<Record> input = SampleRecords(1000);
  BatchBuilder b;
  b.set_base_offset(4242).set_compression(GetParam()).set_producer(77, 3, 900);
  for (const Record& r : input) b.Add(r);
  auto built = b.Build();
  ASSERT_TRUE(built.ok()) << built.status();

  auto header = ValidateBatch(*built);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->compression(), GetParam());
  EXPECT_EQ(header->records_count, 1000);
  EXPECT_EQ(header->base_offset, 4242);
  EXPECT_EQ(header->last_offset(), 4242 + 999);
  EXPECT_EQ(header->base_timestamp, input[0].timestamp);

  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    Record want = input[i];
    want.offset = 4242 + static_cast<int64_t>(i);
    EXPECT_EQ((*decoded)[i], want) << "record " << i;
  }
  if (GetParam() != Compression::kNone) {
    EXPECT_LT(built->size(), b.records_bytes()) << "compressible input should shrink";
  }
}

// DecodeBatchViews yields what DecodeBatch does, with views that stay valid
// after the struct is moved (compressed batches point into `decompressed`).
TEST_P(RoundTripTest, ViewsMatchOwnedDecode) {
  const std::vector<Record> input = SampleRecords(300);
  BatchBuilder b;
  b.set_base_offset(10).set_compression(GetParam());
  for (const Record& r : input) b.Add(r);
  auto built = b.Build();
  ASSERT_TRUE(built.ok()) << built.status();
  auto owned = DecodeBatch(*built);
  ASSERT_TRUE(owned.ok()) << owned.status();

  DecodedBatchViews first;
  ASSERT_TRUE(DecodeBatchViews(*built, {}, first).ok());
  EXPECT_EQ(first.decompressed.empty(), GetParam() == Compression::kNone);
  const DecodedBatchViews views = std::move(first);
  EXPECT_EQ(views.header.base_offset, 10);
  ASSERT_EQ(views.records.size(), owned->size());
  const auto own = [](const std::optional<std::string_view>& v) {
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  };
  for (size_t i = 0; i < owned->size(); ++i) {
    const RecordView& v = views.records[i];
    const Record& r = (*owned)[i];
    EXPECT_EQ(v.offset, r.offset);
    EXPECT_EQ(v.timestamp, r.timestamp);
    EXPECT_EQ(own(v.key), r.key) << "record " << i;
    EXPECT_EQ(own(v.value), r.value) << "record " << i;
    EXPECT_EQ(v.headers, r.headers) << "record " << i;
  }
}

// The view decoder checks the CRC as DecodeBatch does, and leaves no
// records behind when it fails, even in a reused struct.
TEST_P(RoundTripTest, ViewsRejectACorruptByte) {
  BatchBuilder b;
  b.set_compression(GetParam());
  for (int i = 0; i < 20; ++i) b.Add("k", std::string(100, 'a' + i % 26), 1000 + i);
  auto built = b.Build();
  ASSERT_TRUE(built.ok()) << built.status();
  DecodedBatchViews views;
  ASSERT_TRUE(DecodeBatchViews(*built, {}, views).ok());
  ASSERT_EQ(views.records.size(), 20u);
  std::vector<uint8_t> bad = *built;
  bad[bad.size() - 3] ^= 0x01;
  const absl::Status s = DecodeBatchViews(bad, {}, views);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("crc mismatch"), std::string_view::npos) << s;
  EXPECT_TRUE(views.records.empty());
}

TEST_P(RoundTripTest, SingleEmptyRecord) {
  BatchBuilder b;
  b.set_compression(GetParam());
  b.Add(std::nullopt, std::nullopt, -1);
  auto built = b.Build();
  ASSERT_TRUE(built.ok()) << built.status();
  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ((*decoded)[0].key, std::nullopt);
  EXPECT_EQ((*decoded)[0].value, std::nullopt);
  EXPECT_EQ((*decoded)[0].timestamp, -1);
}

INSTANTIATE_TEST_SUITE_P(Codecs, RoundTripTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(RecordBatchTest, LargeValueSurvives) {
  BatchBuilder b;
  const std::string big(3 << 20, 'x');  // varint lengths of 4 bytes
  b.Add("k", big, 5);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0].value, big);
}

TEST(RecordBatchTest, AttributesFlagsRoundTrip) {
  BatchBuilder b;
  b.set_transactional(true).set_control(true).set_timestamp_type(TimestampType::kLogAppendTime);
  b.Add("a", "b", 10);
  b.Add("a", "b", 30);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  auto h = ValidateBatch(*built);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->is_transactional());
  EXPECT_TRUE(h->is_control());
  EXPECT_FALSE(h->has_delete_horizon());
  EXPECT_EQ(h->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(h->attributes, 0x38);
  // LogAppendTime: every record reports the batch's maxTimestamp.
  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[0].timestamp, 30);
  EXPECT_EQ((*decoded)[1].timestamp, 30);
}

TEST(RecordBatchTest, PatchingOffsetAndEpochKeepsCrcValid) {
  auto built = GoldenBuilder().Build();
  ASSERT_TRUE(built.ok());
  std::vector<uint8_t> batch = *built;
  const std::vector<uint8_t> crc_before(batch.begin() + 17, batch.begin() + 21);
  SetBaseOffset(batch, 1'000'000'007);
  SetPartitionLeaderEpoch(batch, 42);
  EXPECT_EQ(std::vector<uint8_t>(batch.begin() + 17, batch.begin() + 21), crc_before);
  auto h = ValidateBatch(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->base_offset, 1'000'000'007);
  EXPECT_EQ(h->partition_leader_epoch, 42);
  auto decoded = DecodeBatch(batch);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[1].offset, 1'000'000'008);
  // Bytes from the CRC on are untouched.
  EXPECT_TRUE(std::equal(batch.begin() + 16, batch.end(), built->begin() + 16));
}

TEST(RecordBatchTest, PatchingCompressedBatchKeepsCrcValid) {
  BatchBuilder b;
  b.set_compression(Compression::kZstd);
  for (const Record& r : SampleRecords(50)) b.Add(r);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  SetBaseOffset(*built, 99);
  EXPECT_TRUE(VerifyBatch(*built).ok());
}

TEST(RecordBatchTest, SetMaxTimestampStampsLogAppendTimeAndFixesCrc) {
  auto built = GoldenBuilder().Build();
  ASSERT_TRUE(built.ok());
  std::vector<uint8_t> batch = *built;
  SetMaxTimestamp(batch, TimestampType::kLogAppendTime, 5555);
  EXPECT_NE(LoadBigEndian<uint32_t>(batch.data() + 17),
            LoadBigEndian<uint32_t>(built->data() + 17));
  auto h = ValidateBatch(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(h->max_timestamp, 5555);
  EXPECT_EQ(h->attributes, 0x08);
  auto decoded = DecodeBatch(batch);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[0].timestamp, 5555);
  EXPECT_EQ((*decoded)[1].timestamp, 5555);
  // Back to CreateTime with the true maximum: identical to the original.
  SetMaxTimestamp(batch, TimestampType::kCreateTime, 1002);
  EXPECT_EQ(batch, *built);
}

TEST(RecordBatchTest, BuildWithoutRecordsFails) {
  BatchBuilder b;
  EXPECT_EQ(b.Build().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RecordBatchTest, BuildWithGzipIsUnimplemented) {
  BatchBuilder b;
  b.set_compression(Compression::kGzip).Add("k", "v", 1);
  EXPECT_EQ(b.Build().status().code(), absl::StatusCode::kUnimplemented);
  b.set_compression(Compression::kSnappy);
  EXPECT_EQ(b.Build().status().code(), absl::StatusCode::kUnimplemented);
}

TEST(RecordBatchTest, TimestampDeltaOverflowRejectedByBuilder) {
  BatchBuilder b;
  b.Add("k", "v", std::numeric_limits<int64_t>::min());
  b.Add("k", "v", std::numeric_limits<int64_t>::max());
  auto built = b.Build();
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(testing::MessageHas(built.status(), "overflows")) << built.status();
}

TEST(RecordBatchTest, ClearAllowsReuse) {
  BatchBuilder b = GoldenBuilder();
  b.Clear();
  EXPECT_EQ(b.record_count(), 0);
  b.Add("x", "y", 7);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ((*decoded)[0].key, "x");
  EXPECT_EQ(ValidateBatch(*built)->producer_id, 5);  // settings are kept
}

TEST(RecordBatchTest, NegativeTimestampDeltas) {
  BatchBuilder b;
  b.Add("a", "1", 5000);
  b.Add("b", "2", 1000);  // earlier than the base
  b.Add("c", "3", 9000);
  auto built = b.Build();
  ASSERT_TRUE(built.ok());
  auto h = ValidateBatch(*built);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->base_timestamp, 5000);
  EXPECT_EQ(h->max_timestamp, 9000);
  auto decoded = DecodeBatch(*built);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[1].timestamp, 1000);
}

}  // namespace
}  // namespace raftlog::storage
