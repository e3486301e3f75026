// Tests for batch compression: round trips per codec, corrupt and truncated
// payloads, the decompression-size cap, and unimplemented codecs.
#include "storage/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace raftlog::storage {
namespace {

std::vector<uint8_t> Sample(size_t n) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(1);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i % 64 < 32) ? 'a' + i % 7 : rng());
  return v;
}

class CodecTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CodecTest, RoundTrips) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{200000}}) {
    const auto input = Sample(n);
    auto packed = Compress(GetParam(), input);
    ASSERT_TRUE(packed.ok()) << packed.status();
    auto unpacked = Decompress(GetParam(), *packed);
    ASSERT_TRUE(unpacked.ok()) << unpacked.status();
    EXPECT_EQ(*unpacked, input) << n;
  }
}

TEST_P(CodecTest, CapStopsDecompressionBomb) {
  const std::vector<uint8_t> zeros(1 << 20, 0);
  auto packed = Compress(GetParam(), zeros);
  ASSERT_TRUE(packed.ok());
  auto capped = Decompress(GetParam(), *packed, (1 << 20) - 1);
  EXPECT_EQ(capped.status().code(), absl::StatusCode::kResourceExhausted) << capped.status();
  auto exact = Decompress(GetParam(), *packed, 1 << 20);
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->size(), size_t{1} << 20);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

class RealCodecTest : public ::testing::TestWithParam<Compression> {};

TEST_P(RealCodecTest, TruncatedPayloadIsError) {
  auto packed = Compress(GetParam(), Sample(5000));
  ASSERT_TRUE(packed.ok());
  for (size_t keep : {size_t{0}, size_t{3}, packed->size() / 2, packed->size() - 1}) {
    auto r = Decompress(GetParam(), std::span(*packed).first(keep));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << keep << r.status();
  }
}

TEST_P(RealCodecTest, GarbageIsError) {
  const std::vector<uint8_t> garbage = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};
  auto r = Decompress(GetParam(), garbage);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(CompressionName(GetParam())), std::string::npos)
      << r.status();
}

INSTANTIATE_TEST_SUITE_P(Lz4AndZstd, RealCodecTest,
                         ::testing::Values(Compression::kLz4, Compression::kZstd),
                         [](const auto& info) { return std::string(CompressionName(info.param)); });

TEST(CompressionTest, ZstdFramesConcatenate) {
  auto a = Compress(Compression::kZstd, Sample(100));
  auto b = Compress(Compression::kZstd, Sample(300));
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<uint8_t> both = *a;
  both.insert(both.end(), b->begin(), b->end());
  auto r = Decompress(Compression::kZstd, both);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 400u);
}

TEST(CompressionTest, Lz4UsesIndependent64KBlocksLikeKafka) {
  auto packed = Compress(Compression::kLz4, Sample(10));
  ASSERT_TRUE(packed.ok());
  ASSERT_GE(packed->size(), 7u);
  // Magic 0x184D2204 little-endian, then FLG: version 01, block independence
  // set, no block checksum, no content size, no content checksum; BD: 64 KiB.
  EXPECT_EQ((*packed)[0], 0x04);
  EXPECT_EQ((*packed)[3], 0x18);
  EXPECT_EQ((*packed)[4], 0x60);
  EXPECT_EQ((*packed)[5], 0x40);
}

TEST(CompressionTest, GzipAndSnappyUnimplemented) {
  for (Compression c : {Compression::kGzip, Compression::kSnappy}) {
    EXPECT_EQ(Compress(c, Sample(10)).status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_EQ(Decompress(c, Sample(10)).status().code(), absl::StatusCode::kUnimplemented);
  }
}

TEST(CompressionTest, UnknownCodecRejected) {
  EXPECT_EQ(Decompress(static_cast<Compression>(6), Sample(10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompressionName(static_cast<Compression>(6)), "unknown");
}

TEST(CompressionTest, NoneRespectsCap) {
  EXPECT_EQ(Decompress(Compression::kNone, Sample(100), 99).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace raftlog::storage
