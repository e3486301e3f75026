// Kafka-compatible partitioning: murmur2 matches Kafka's Utils.murmur2 on the
// values of Kafka's own UtilsTest, and keys map to partitions as Kafka's
// default partitioner maps them (toPositive(murmur2) % n).
#include "client/partitioner.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace raftlog::client {
namespace {

TEST(PartitionerTest, Murmur2MatchesKafka) {
  const std::map<std::string, int32_t> cases = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (const auto& [key, want] : cases) EXPECT_EQ(Murmur2(key), want) << key;
}

TEST(PartitionerTest, KeysMapLikeKafkasDefaultPartitioner) {
  // toPositive(-973932308) = 1173551340; % 7 = 1173551340 - 7*167650191 = 3.
  EXPECT_EQ(PartitionForKey("21", 7), static_cast<int32_t>((-973932308 & 0x7fffffff) % 7));
  EXPECT_EQ(PartitionForKey("abc", 10), 479470107 % 10);
  EXPECT_EQ(PartitionForKey("anything", 1), 0);
  for (int n = 1; n < 50; ++n) {
    const int32_t p = PartitionForKey("key-" + std::to_string(n), n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
  }
}

}  // namespace
}  // namespace raftlog::client
