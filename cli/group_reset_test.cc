// Unit tests of reset-offsets planning (cli/group_reset.h).
#include "cli/group_reset.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::cli {
namespace {

using ::testing::ElementsAre;

TEST(ParseTopicSpec, TopicAndPartitions) {
  absl::StatusOr<TopicSpec> s = ParseTopicSpec("orders");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->topic, "orders");
  EXPECT_TRUE(s->partitions.empty());
  s = ParseTopicSpec("orders:2,0,2");
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(s->partitions, ElementsAre(0, 2));
  EXPECT_FALSE(ParseTopicSpec(":1").ok());
  EXPECT_FALSE(ParseTopicSpec("orders:").ok());
  EXPECT_FALSE(ParseTopicSpec("orders:x").ok());
  EXPECT_FALSE(ParseTopicSpec("orders:-1").ok());
}

TEST(NewOffset, EveryModeClampedToTheLog) {
  PartitionOffsets p;
  p.committed = 5;
  p.earliest = 2;
  p.latest = 10;
  p.at_timestamp = 7;
  EXPECT_EQ(*NewOffset(ResetMode::kEarliest, 0, p), 2);
  EXPECT_EQ(*NewOffset(ResetMode::kLatest, 0, p), 10);
  EXPECT_EQ(*NewOffset(ResetMode::kOffset, 4, p), 4);
  EXPECT_EQ(*NewOffset(ResetMode::kOffset, 1, p), 2);
  EXPECT_EQ(*NewOffset(ResetMode::kOffset, 99, p), 10);
  EXPECT_EQ(*NewOffset(ResetMode::kTimestamp, 0, p), 7);
  p.at_timestamp = -1;
  EXPECT_EQ(*NewOffset(ResetMode::kTimestamp, 0, p), 10);
  EXPECT_EQ(*NewOffset(ResetMode::kShiftBy, -2, p), 3);
  EXPECT_EQ(*NewOffset(ResetMode::kShiftBy, -20, p), 2);
  EXPECT_EQ(*NewOffset(ResetMode::kShiftBy, 20, p), 10);
  p.committed.reset();
  EXPECT_TRUE(absl::IsFailedPrecondition(NewOffset(ResetMode::kShiftBy, 1, p).status()));
}

}  // namespace
}  // namespace raftlog::cli
