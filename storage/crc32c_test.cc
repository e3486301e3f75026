// Tests for CRC-32C: RFC 3720 / well-known vectors, Extend composition, and
// agreement of the SSE4.2 and table implementations on every length and
// alignment up to 300 bytes, and on random buffers around the three-lane
// block sizes (3 x 256 and 3 x 4096 bytes) up to 1 MiB.
#include "storage/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace raftlog::storage {
namespace {

TEST(Crc32cTest, Rfc3720Vectors) {
  std::vector<uint8_t> buf(32, 0);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x8A9136AAu);
  std::fill(buf.begin(), buf.end(), 0xFF);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x113FDB5Cu);
}

TEST(Crc32cTest, CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c(s.data(), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_internal::ExtendPortable(0, s.data(), s.size()), 0xE3069283u);
}

TEST(Crc32cTest, EmptyIsZero) { EXPECT_EQ(Crc32c("", 0), 0u); }

TEST(Crc32cTest, ExtendComposes) {
  const std::string s = "hello, commit log world";
  const uint32_t whole = Crc32c(s.data(), s.size());
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(Crc32cExtend(Crc32c(s.data(), cut), s.data() + cut, s.size() - cut), whole) << cut;
  }
}

TEST(Crc32cTest, DetectsSingleBitFlip) {
  std::vector<uint8_t> buf(100, 0x5A);
  const uint32_t before = Crc32c(buf.data(), buf.size());
  buf[50] ^= 0x01;
  EXPECT_NE(Crc32c(buf.data(), buf.size()), before);
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  if (!crc32c_internal::HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(42);
  std::vector<uint8_t> buf(300 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 16; ++align) {
    for (size_t len = 0; len <= 300; ++len) {
      const uint8_t* p = buf.data() + align;
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(crc32c_internal::ExtendHardware(seed, p, len),
                crc32c_internal::ExtendPortable(seed, p, len))
          << "align " << align << " len " << len;
    }
  }
}

// The hardware paths: the crc32 instruction in blocks of three 256- or
// 4096-byte lanes joined with shift tables, and (on CPUs with AVX-512
// VPCLMULQDQ, inputs >= 1 KiB) carry-less multiply folding of 256-byte
// blocks. Compare both with the table implementation around every block
// boundary and on random large inputs, with random seeds and alignments,
// and in two pieces (Extend).
TEST(Crc32cTest, HardwarePathsMatchPortable) {
  if (!crc32c_internal::HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937_64 rng(1234);
  std::vector<uint8_t> buf((1 << 20) + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  std::vector<size_t> lengths;
  for (size_t block : {size_t{256}, size_t{3 * 256}, size_t{1024}, size_t{3 * 4096}}) {
    for (size_t k = 1; k <= 5; ++k) {
      for (size_t d = 0; d <= 16; ++d) {
        lengths.push_back(k * block + d);
        lengths.push_back(k * block - d);
      }
    }
  }
  for (int i = 0; i < 200; ++i) lengths.push_back(static_cast<size_t>(rng() % (1 << 20)));
  for (int i = 0; i < 200; ++i) lengths.push_back(static_cast<size_t>(rng() % 5000));
  lengths.push_back(1 << 20);
  using Fn = uint32_t (*)(uint32_t, const void*, size_t);
  for (Fn fn : {&crc32c_internal::ExtendHardware, &crc32c_internal::ExtendCrc32Instruction}) {
    for (size_t len : lengths) {
      const size_t align = static_cast<size_t>(rng() % 64);
      const uint8_t* p = buf.data() + align;
      const uint32_t seed = static_cast<uint32_t>(rng());
      const uint32_t want = crc32c_internal::ExtendPortable(seed, p, len);
      ASSERT_EQ(fn(seed, p, len), want) << "align " << align << " len " << len;
      const size_t cut = len == 0 ? 0 : static_cast<size_t>(rng() % len);
      ASSERT_EQ(fn(fn(seed, p, cut), p + cut, len - cut), want)
          << "align " << align << " len " << len << " cut " << cut;
    }
    // Known values through the long paths.
    std::vector<uint8_t> zeros(1 << 20, 0);
    EXPECT_EQ(fn(0, zeros.data(), zeros.size()),
              crc32c_internal::ExtendPortable(0, zeros.data(), zeros.size()));
    std::string nines;
    for (int i = 0; i < 200; ++i) nines += "123456789";
    EXPECT_EQ(fn(0, nines.data(), nines.size()),
              crc32c_internal::ExtendPortable(0, nines.data(), nines.size()));
  }
}

// A single corrupted byte anywhere in a large buffer (in any lane) changes
// the CRC.
TEST(Crc32cTest, LargeBufferDetectsFlipInEveryLane) {
  std::vector<uint8_t> buf(3 * 4096 * 2 + 100, 0xA5);
  const uint32_t before = Crc32c(buf.data(), buf.size());
  for (size_t at : {size_t{0}, size_t{4095}, size_t{4096}, size_t{8192}, size_t{12287},
                    size_t{20000}, buf.size() - 1}) {
    buf[at] ^= 0x10;
    EXPECT_NE(Crc32c(buf.data(), buf.size()), before) << at;
    EXPECT_EQ(Crc32c(buf.data(), buf.size()),
              crc32c_internal::ExtendPortable(0, buf.data(), buf.size()))
        << at;
    buf[at] ^= 0x10;
  }
}

TEST(Crc32cTest, DispatchMatchesPortable) {
  std::vector<uint8_t> buf(4096);
  std::mt19937 rng(7);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(Crc32c(buf.data(), buf.size()),
            crc32c_internal::ExtendPortable(0, buf.data(), buf.size()));
}

}  // namespace
}  // namespace raftlog::storage
