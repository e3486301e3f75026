// Tests for ParseBatchHeader / BatchSize: field extraction, framing of
// batches inside a larger buffer, and each header-level rejection.
#include "storage/record_batch_header.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "storage/record_batch_builder.h"
#include "storage/record_batch_test_util.h"

namespace raftlog::storage {
namespace {

using testing::MessageHas;

std::vector<uint8_t> Sample(int64_t base_offset = 100, int records = 3) {
  BatchBuilder b;
  b.set_base_offset(base_offset).set_partition_leader_epoch(9).set_producer(11, 2, 33);
  for (int i = 0; i < records; ++i) b.Add("key", "value", 500 + i);
  auto built = b.Build();
  EXPECT_TRUE(built.ok());
  return *built;
}

TEST(BatchHeaderTest, ParsesEveryField) {
  const auto batch = Sample();
  auto h = ParseBatchHeader(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->base_offset, 100);
  EXPECT_EQ(h->batch_length, static_cast<int32_t>(batch.size() - 12));
  EXPECT_EQ(h->partition_leader_epoch, 9);
  EXPECT_EQ(h->magic, 2);
  EXPECT_EQ(h->crc, ComputeBatchCrc(batch));
  EXPECT_EQ(h->attributes, 0);
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->base_timestamp, 500);
  EXPECT_EQ(h->max_timestamp, 502);
  EXPECT_EQ(h->producer_id, 11);
  EXPECT_EQ(h->producer_epoch, 2);
  EXPECT_EQ(h->base_sequence, 33);
  EXPECT_EQ(h->records_count, 3);
  EXPECT_EQ(h->last_offset(), 102);
  EXPECT_EQ(h->next_offset(), 103);
  EXPECT_EQ(h->size_bytes(), batch.size());
  EXPECT_EQ(h->compression(), Compression::kNone);
}

TEST(BatchHeaderTest, FramesBatchesInOneBuffer) {
  auto a = Sample(0, 2);
  const auto b = Sample(2, 5);
  const size_t a_size = a.size();
  a.insert(a.end(), b.begin(), b.end());
  auto size = BatchSize(a);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, a_size);
  auto first = ParseBatchHeader(a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->records_count, 2);
  auto second = ParseBatchHeader(std::span(a).subspan(a_size));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->base_offset, 2);
  EXPECT_EQ(second->records_count, 5);
}

TEST(BatchHeaderTest, BatchSizeNeedsOnlySeventeenBytes) {
  const auto batch = Sample();
  auto size = BatchSize(std::span(batch).first(17));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, batch.size());
  EXPECT_EQ(BatchSize(std::span(batch).first(16)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(BatchHeaderTest, TruncatedHeaderIsOutOfRange) {
  const auto batch = Sample();
  for (size_t n : {size_t{0}, size_t{12}, size_t{60}}) {
    auto h = ParseBatchHeader(std::span(batch).first(n));
    EXPECT_EQ(h.status().code(), absl::StatusCode::kOutOfRange) << n;
    EXPECT_TRUE(MessageHas(h.status(), "61-byte header")) << h.status();
  }
}

TEST(BatchHeaderTest, PartialBatchIsOutOfRange) {
  const auto batch = Sample();
  auto h = ParseBatchHeader(std::span(batch).first(batch.size() - 1));
  EXPECT_EQ(h.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(MessageHas(h.status(), "batchLength")) << h.status();
}

TEST(BatchHeaderTest, BadMagic) {
  auto batch = Sample();
  batch[16] = 1;
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "magic 1 at byte 16")) << h.status();
  EXPECT_FALSE(BatchSize(batch).ok());
}

TEST(BatchHeaderTest, BatchLengthBelowMinimum) {
  auto batch = Sample();
  StoreBigEndian<int32_t>(batch.data() + 8, 48);
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "batchLength 48 at byte 8")) << h.status();
  StoreBigEndian<int32_t>(batch.data() + 8, -5);
  EXPECT_EQ(ParseBatchHeader(batch).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchHeaderTest, UnknownCompressionCodec) {
  auto batch = Sample();
  StoreBigEndian<int16_t>(batch.data() + 21, 6);
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "compression codec 6")) << h.status();
}

TEST(BatchHeaderTest, NegativeRecordCount) {
  auto batch = Sample();
  StoreBigEndian<int32_t>(batch.data() + 57, -1);
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "recordsCount -1 at byte 57")) << h.status();
}

TEST(BatchHeaderTest, LastOffsetDeltaTooSmall) {
  auto batch = Sample();
  StoreBigEndian<int32_t>(batch.data() + 23, 1);  // 3 records need >= 2
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "lastOffsetDelta 1 at byte 23")) << h.status();
  StoreBigEndian<int32_t>(batch.data() + 23, -2);
  EXPECT_FALSE(ParseBatchHeader(batch).ok());
}

TEST(BatchHeaderTest, LastOffsetDeltaGapAcceptedByCheapParse) {
  // Compaction may leave offsets unused; the cheap parse allows it
  // (ValidateBatch, for produced batches, does not).
  auto batch = Sample();
  StoreBigEndian<int32_t>(batch.data() + 23, 10);
  auto h = ParseBatchHeader(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->next_offset(), 111);
}

TEST(BatchHeaderTest, OffsetOverflow) {
  auto batch = Sample(std::numeric_limits<int64_t>::max() - 1);
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "overflows")) << h.status();
  EXPECT_TRUE(ParseBatchHeader(Sample(std::numeric_limits<int64_t>::max() - 2)).ok());
}

TEST(BatchHeaderTest, RecordCountTooLargeForBytes) {
  auto batch = Sample(0, 1);
  StoreBigEndian<int32_t>(batch.data() + 57, 1'000'000);
  StoreBigEndian<int32_t>(batch.data() + 23, 999'999);
  auto h = ParseBatchHeader(batch);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MessageHas(h.status(), "cannot fit")) << h.status();
}

TEST(BatchHeaderTest, AttributeAccessors) {
  BatchHeader h;
  h.attributes = 0x7C;  // zstd=4, LogAppendTime, transactional, control, delete horizon
  EXPECT_EQ(h.compression(), Compression::kZstd);
  EXPECT_EQ(h.timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_TRUE(h.is_transactional());
  EXPECT_TRUE(h.is_control());
  EXPECT_TRUE(h.has_delete_horizon());
  h.attributes = 0x03;
  EXPECT_EQ(h.compression(), Compression::kLz4);
  EXPECT_EQ(h.timestamp_type(), TimestampType::kCreateTime);
  EXPECT_FALSE(h.is_transactional() || h.is_control() || h.has_delete_horizon());
}

TEST(BatchHeaderTest, SetBaseOffsetWritesBigEndianAtByteZero) {
  auto batch = Sample();
  SetBaseOffset(batch, 0x0102030405060708);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(batch[i], i + 1);
  SetPartitionLeaderEpoch(batch, 0x0A0B0C0D);
  EXPECT_EQ(batch[12], 0x0A);
  EXPECT_EQ(batch[15], 0x0D);
  EXPECT_EQ(ComputeBatchCrc(batch), ParseBatchHeader(batch)->crc);
}

TEST(BatchHeaderDeathTest, SetBaseOffsetOnShortSpanAborts) {
  std::vector<uint8_t> tiny(20);
  EXPECT_DEATH(SetBaseOffset(tiny, 1), "shorter than the 61-byte header");
}

}  // namespace
}  // namespace raftlog::storage
