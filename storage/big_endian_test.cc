// Tests for big-endian loads/stores: byte order, sign handling, unaligned use.
#include "storage/big_endian.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace raftlog::storage {
namespace {

TEST(BigEndianTest, StoresMostSignificantByteFirst) {
  uint8_t b[9] = {};
  StoreBigEndian<uint32_t>(b + 1, 0x01020304u);  // unaligned on purpose
  EXPECT_EQ(b[1], 0x01);
  EXPECT_EQ(b[2], 0x02);
  EXPECT_EQ(b[3], 0x03);
  EXPECT_EQ(b[4], 0x04);
  EXPECT_EQ(LoadBigEndian<uint32_t>(b + 1), 0x01020304u);
}

TEST(BigEndianTest, SignedRoundTrips) {
  uint8_t b[8];
  StoreBigEndian<int64_t>(b, -2);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(b[i], 0xFF);
  EXPECT_EQ(b[7], 0xFE);
  EXPECT_EQ(LoadBigEndian<int64_t>(b), -2);
  StoreBigEndian<int16_t>(b, -300);
  EXPECT_EQ(b[0], 0xFE);
  EXPECT_EQ(b[1], 0xD4);
  EXPECT_EQ(LoadBigEndian<int16_t>(b), -300);
  StoreBigEndian<int8_t>(b, -1);
  EXPECT_EQ(b[0], 0xFF);
  EXPECT_EQ(LoadBigEndian<int8_t>(b), -1);
}

TEST(BigEndianTest, Int64Extremes) {
  uint8_t b[8];
  StoreBigEndian<int64_t>(b, INT64_MIN);
  EXPECT_EQ(b[0], 0x80);
  EXPECT_EQ(LoadBigEndian<int64_t>(b), INT64_MIN);
  StoreBigEndian<int64_t>(b, INT64_MAX);
  EXPECT_EQ(b[0], 0x7F);
  EXPECT_EQ(LoadBigEndian<int64_t>(b), INT64_MAX);
}

}  // namespace
}  // namespace raftlog::storage
