// Tests for Kafka zigzag varints: known encodings, round trips at the edges,
// truncation and overlong rejection without over-reading.
#include "storage/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace raftlog::storage {
namespace {

std::vector<uint8_t> Varint(int32_t v) {
  std::vector<uint8_t> out;
  AppendVarint(&out, v);
  return out;
}

std::vector<uint8_t> Varlong(int64_t v) {
  std::vector<uint8_t> out;
  AppendVarlong(&out, v);
  return out;
}

TEST(VarintTest, ZigZag) {
  EXPECT_EQ(ZigZagEncode32(0), 0u);
  EXPECT_EQ(ZigZagEncode32(-1), 1u);
  EXPECT_EQ(ZigZagEncode32(1), 2u);
  EXPECT_EQ(ZigZagEncode32(-2), 3u);
  EXPECT_EQ(ZigZagEncode32(std::numeric_limits<int32_t>::max()), 0xFFFFFFFEu);
  EXPECT_EQ(ZigZagEncode32(std::numeric_limits<int32_t>::min()), 0xFFFFFFFFu);
  EXPECT_EQ(ZigZagDecode32(0xFFFFFFFFu), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(ZigZagEncode64(std::numeric_limits<int64_t>::min()), ~uint64_t{0});
  EXPECT_EQ(ZigZagDecode64(~uint64_t{0}), std::numeric_limits<int64_t>::min());
}

TEST(VarintTest, KnownEncodings) {
  EXPECT_EQ(Varint(0), (std::vector<uint8_t>{0x00}));
  EXPECT_EQ(Varint(-1), (std::vector<uint8_t>{0x01}));
  EXPECT_EQ(Varint(1), (std::vector<uint8_t>{0x02}));
  EXPECT_EQ(Varint(63), (std::vector<uint8_t>{0x7E}));
  EXPECT_EQ(Varint(64), (std::vector<uint8_t>{0x80, 0x01}));
  EXPECT_EQ(Varint(-65), (std::vector<uint8_t>{0x81, 0x01}));
  EXPECT_EQ(Varint(300), (std::vector<uint8_t>{0xD8, 0x04}));
  EXPECT_EQ(Varint(std::numeric_limits<int32_t>::min()),
            (std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}));
  EXPECT_EQ(Varlong(std::numeric_limits<int64_t>::min()).size(), 10u);
  EXPECT_EQ(Varlong(std::numeric_limits<int64_t>::min()).back(), 0x01);
}

TEST(VarintTest, SizesMatchEncodings) {
  for (int32_t v : {0, 1, -1, 63, 64, -64, -65, 8191, 8192, 1 << 20, -(1 << 27),
                    std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(VarintSize(v), Varint(v).size()) << v;
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1} << 40, -(int64_t{1} << 62),
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    EXPECT_EQ(VarlongSize(v), Varlong(v).size()) << v;
  }
}

TEST(VarintTest, RoundTripsEdges) {
  for (int64_t base : {int64_t{0}, int64_t{1} << 7, int64_t{1} << 14, int64_t{1} << 21,
                       int64_t{1} << 28, int64_t{1} << 31}) {
    for (int64_t d = -2; d <= 2; ++d) {
      for (int64_t sign : {1, -1}) {
        const int64_t w = sign * (base + d);
        if (w >= std::numeric_limits<int32_t>::min() && w <= std::numeric_limits<int32_t>::max()) {
          const int32_t v = static_cast<int32_t>(w);
          auto bytes = Varint(v);
          int32_t got = 0;
          size_t n = 0;
          ASSERT_EQ(DecodeVarint(bytes, &got, &n), VarintStatus::kOk) << v;
          EXPECT_EQ(got, v);
          EXPECT_EQ(n, bytes.size());
        }
        auto bytes = Varlong(w);
        int64_t got = 0;
        size_t n = 0;
        ASSERT_EQ(DecodeVarlong(bytes, &got, &n), VarintStatus::kOk) << w;
        EXPECT_EQ(got, w);
        EXPECT_EQ(n, bytes.size());
      }
    }
  }
  for (int64_t v : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    auto bytes = Varlong(v);
    int64_t got = 0;
    size_t n = 0;
    ASSERT_EQ(DecodeVarlong(bytes, &got, &n), VarintStatus::kOk);
    EXPECT_EQ(got, v);
  }
}

TEST(VarintTest, DecodeStopsAtFirstTerminator) {
  const std::vector<uint8_t> bytes = {0x02, 0xFF, 0xFF};
  int32_t v = 0;
  size_t n = 0;
  ASSERT_EQ(DecodeVarint(bytes, &v, &n), VarintStatus::kOk);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(n, 1u);
}

TEST(VarintTest, TruncatedNeverReadsPastSpan) {
  // The continuation bit promises more bytes, but the span ends. The vector
  // holds an extra terminator that must not be read.
  const std::vector<uint8_t> bytes = {0x80, 0x80, 0x00};
  int32_t v = 123;
  size_t n = 99;
  EXPECT_EQ(DecodeVarint(std::span(bytes).first(2), &v, &n), VarintStatus::kTruncated);
  EXPECT_EQ(v, 123);
  EXPECT_EQ(n, 99u);
  int64_t l = 0;
  EXPECT_EQ(DecodeVarlong(std::span(bytes).first(2), &l, &n), VarintStatus::kTruncated);
  EXPECT_EQ(DecodeVarint(std::span<const uint8_t>(), &v, &n), VarintStatus::kTruncated);
}

TEST(VarintTest, RejectsOverlongVarint) {
  const std::vector<uint8_t> six = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  int32_t v = 0;
  size_t n = 0;
  EXPECT_EQ(DecodeVarint(six, &v, &n), VarintStatus::kOverlong);
  // Five bytes, but the last one carries bits beyond 32.
  const std::vector<uint8_t> wide = {0xFF, 0xFF, 0xFF, 0xFF, 0x1F};
  EXPECT_EQ(DecodeVarint(wide, &v, &n), VarintStatus::kOverlong);
  // Non-canonical but within 5 bytes and 32 bits: accepted (as Kafka does).
  const std::vector<uint8_t> padded = {0x82, 0x80, 0x00};
  ASSERT_EQ(DecodeVarint(padded, &v, &n), VarintStatus::kOk);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(n, 3u);
}

TEST(VarintTest, RejectsOverlongVarlong) {
  std::vector<uint8_t> eleven(10, 0x80);
  eleven.push_back(0x00);
  int64_t v = 0;
  size_t n = 0;
  EXPECT_EQ(DecodeVarlong(eleven, &v, &n), VarintStatus::kOverlong);
  std::vector<uint8_t> wide(9, 0xFF);
  wide.push_back(0x02);  // bit 64
  EXPECT_EQ(DecodeVarlong(wide, &v, &n), VarintStatus::kOverlong);
}

}  // namespace
}  // namespace raftlog::storage
