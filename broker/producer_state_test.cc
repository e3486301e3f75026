// ProducerStateTable: Kafka's idempotence rules: duplicates of the last 5
// batches are recognised with their offsets, gaps and reorderings are out of
// order, an older epoch is fenced, a new epoch restarts at 0, sequences
// wrap, and batches without a producer id are never checked.
#include "broker/producer_state.h"

#include <limits>

#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

ProducerBatch B(int64_t pid, int16_t epoch, int32_t first, int32_t last, int64_t base) {
  return ProducerBatch{pid, epoch, first, last, base, base + (last - first), 0};
}

TEST(ProducerStateTest, NewThenDuplicateWithTheOriginalOffsets) {
  ProducerStateTable t;
  EXPECT_EQ(t.Check(7, 0, 0, 4).verdict, ProducerVerdict::kNew);
  t.Record(B(7, 0, 0, 4, 100));
  EXPECT_EQ(t.Check(7, 0, 5, 9).verdict, ProducerVerdict::kNew);
  t.Record(B(7, 0, 5, 9, 200));
  ProducerCheck dup = t.Check(7, 0, 0, 4);
  ASSERT_EQ(dup.verdict, ProducerVerdict::kDuplicate);
  EXPECT_EQ(dup.duplicate_of.base_offset, 100);
  EXPECT_EQ(dup.duplicate_of.last_offset, 104);
  EXPECT_EQ(t.Check(7, 0, 5, 9).duplicate_of.base_offset, 200);
}

TEST(ProducerStateTest, OnlyTheLastFiveBatchesAreKept) {
  ProducerStateTable t;
  for (int i = 0; i < 6; ++i) t.Record(B(1, 0, i * 10, i * 10 + 9, i * 100));
  EXPECT_EQ(t.Check(1, 0, 0, 9).verdict, ProducerVerdict::kOutOfOrder);  // evicted
  for (int i = 1; i < 6; ++i) {
    EXPECT_EQ(t.Check(1, 0, i * 10, i * 10 + 9).verdict, ProducerVerdict::kDuplicate) << i;
  }
}

TEST(ProducerStateTest, GapsAndReorderingAreOutOfOrder) {
  ProducerStateTable t;
  t.Record(B(1, 0, 0, 9, 0));
  ProducerCheck gap = t.Check(1, 0, 11, 20);
  EXPECT_EQ(gap.verdict, ProducerVerdict::kOutOfOrder);
  EXPECT_NE(gap.message.find("expected 10"), std::string::npos) << gap.message;
  EXPECT_EQ(t.Check(1, 0, 5, 9).verdict, ProducerVerdict::kOutOfOrder);  // overlaps, not equal
}

TEST(ProducerStateTest, EpochsFenceAndRestart) {
  ProducerStateTable t;
  t.Record(B(1, 3, 0, 9, 0));
  EXPECT_EQ(t.Check(1, 2, 10, 19).verdict, ProducerVerdict::kFencedEpoch);
  EXPECT_EQ(t.Check(1, 4, 10, 19).verdict, ProducerVerdict::kOutOfOrder);
  EXPECT_EQ(t.Check(1, 4, 0, 9).verdict, ProducerVerdict::kNew);
  t.Record(B(1, 4, 0, 9, 50));
  EXPECT_EQ(t.Check(1, 3, 10, 19).verdict, ProducerVerdict::kFencedEpoch);
  EXPECT_EQ(t.Check(1, 4, 0, 9).duplicate_of.base_offset, 50);
}

TEST(ProducerStateTest, SequencesWrapAndUnknownProducersStartAnywhere) {
  ProducerStateTable t;
  const int32_t max = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(t.Check(9, 0, max - 1, max).verdict, ProducerVerdict::kNew);
  t.Record(B(9, 0, max - 1, max, 0));
  EXPECT_EQ(t.Check(9, 0, 0, 3).verdict, ProducerVerdict::kNew);
  EXPECT_EQ(t.Check(-1, 0, 0, 0).verdict, ProducerVerdict::kNew);
  t.Record(B(-1, 0, 0, 0, 1));
  EXPECT_EQ(t.producers(), 1u);
}

}  // namespace
}  // namespace raftlog::broker
