// Frame encoding: round trip, CRC coverage, header sanity checks, zero header.
#include "storage/log_entry_format.h"

#include "gtest/gtest.h"
#include "storage/big_endian.h"
#include "storage/crc32c.h"
#include "storage/log_test_util.h"

namespace raftlog::storage {
namespace {

FrameHeader DataHeader(size_t payload) {
  FrameHeader h;
  h.payload_length = static_cast<uint32_t>(payload);
  h.index = RaftIndex(42);
  h.term = Term(7);
  h.base_offset = Offset(1000);
  h.max_timestamp = 123456;
  h.offset_count = 3;
  h.type = EntryType::kData;
  return h;
}

TEST(LogEntryFormatTest, Crc32cCombineEqualsCrcOfConcatenation) {
  std::vector<uint8_t> data(5000);
  uint32_t x = 12345;
  for (uint8_t& b : data) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  for (size_t split :
       {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{1000}, size_t{4999}, size_t{5000}}) {
    const uint32_t a = Crc32c(data.data(), split);
    const uint32_t b = Crc32c(data.data() + split, data.size() - split);
    EXPECT_EQ(Crc32cCombine(a, b, data.size() - split), Crc32c(data.data(), data.size()))
        << "split " << split;
  }
}

TEST(LogEntryFormatTest, DerivedCrcEqualsComputedCrcForAValidBatch) {
  for (int records : {1, 3, 50}) {
    std::vector<uint8_t> batch = testing::MakeBatch(records, 123456, records, 300);
    std::vector<uint8_t> computed, derived;
    EncodeFrame(DataHeader(batch.size()), batch, &computed);
    EncodeFrame(DataHeader(batch.size()), batch, &derived, /*derive_crc=*/true);
    EXPECT_EQ(derived, computed);
    // A batch whose own CRC is wrong yields a frame that fails its check.
    batch.back() ^= 1;
    derived.clear();
    EncodeFrame(DataHeader(batch.size()), batch, &derived, /*derive_crc=*/true);
    EXPECT_FALSE(FrameCrcMatches(derived));
  }
}

// The gather form (head + the payload's rest, written without copying) is
// byte for byte the contiguous frame, for data and kRaft frames, short
// payloads, and with the CRC computed or derived from the batch CRC.
TEST(LogEntryFormatTest, FrameHeadPlusPayloadRestEqualsEncodeFrame) {
  struct Case {
    EntryType type;
    std::vector<uint8_t> payload;
  };
  std::vector<Case> cases;
  for (int records : {1, 7, 200}) {
    cases.push_back({EntryType::kData, testing::MakeBatch(records, 123456, records, 300)});
  }
  cases.push_back({EntryType::kRaft, {}});
  cases.push_back({EntryType::kRaft, {1, 2, 3}});
  cases.push_back({EntryType::kRaft, std::vector<uint8_t>(5000, 0xEE)});
  for (const Case& c : cases) {
    FrameHeader h = DataHeader(c.payload.size());
    if (c.type == EntryType::kRaft) {
      h.type = EntryType::kRaft;
      h.offset_count = 0;
      h.max_timestamp = -1;
    }
    for (bool derive : {false, true}) {
      std::vector<uint8_t> whole;
      EncodeFrame(h, c.payload, &whole, derive);
      FrameHead head;
      const size_t n = EncodeFrameHead(h, c.payload, &head, derive);
      ASSERT_GE(n, kFrameHeaderSize);
      ASSERT_LE(n, kFrameHeaderSize + c.payload.size());
      std::vector<uint8_t> gathered(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(n));
      gathered.insert(gathered.end(),
                      c.payload.begin() + static_cast<std::ptrdiff_t>(n - kFrameHeaderSize),
                      c.payload.end());
      EXPECT_EQ(gathered, whole) << "payload " << c.payload.size() << " derive " << derive;
      EXPECT_TRUE(FrameCrcMatches(gathered));
      // A data frame's head carries the patched base offset.
      if (c.type == EntryType::kData) {
        EXPECT_EQ(n, kMaxFrameHeadSize);
        EXPECT_EQ(LoadBigEndian<int64_t>(head.data() + kFrameHeaderSize), 1000);
      } else {
        EXPECT_EQ(n, kFrameHeaderSize);
      }
    }
  }
}

TEST(LogEntryFormatTest, RoundTripAndBaseOffsetPatched) {
  std::vector<uint8_t> batch = testing::MakeBatch(3, 123456);
  std::vector<uint8_t> frame;
  EncodeFrame(DataHeader(batch.size()), batch, &frame);
  ASSERT_EQ(frame.size(), kFrameHeaderSize + batch.size());
  absl::StatusOr<FrameHeader> h = DecodeFrameHeader(frame);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->index, RaftIndex(42));
  EXPECT_EQ(h->term, Term(7));
  EXPECT_EQ(h->base_offset, Offset(1000));
  EXPECT_EQ(h->next_offset(), Offset(1003));
  EXPECT_EQ(h->max_timestamp, 123456);
  EXPECT_EQ(h->type, EntryType::kData);
  EXPECT_EQ(h->frame_size(), frame.size());
  EXPECT_TRUE(FrameCrcMatches(frame));
  EXPECT_EQ(LoadBigEndian<int64_t>(frame.data() + kFrameHeaderSize), 1000);
}

TEST(LogEntryFormatTest, CrcCoversEveryByteButItself) {
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
  FrameHeader h;
  h.index = RaftIndex(1);
  h.term = Term(1);
  h.type = EntryType::kRaft;
  std::vector<uint8_t> frame;
  EncodeFrame(h, payload, &frame);
  for (size_t i = 4; i < frame.size(); ++i) {
    std::vector<uint8_t> bad = frame;
    bad[i] ^= 0x01;
    EXPECT_FALSE(FrameCrcMatches(bad)) << "byte " << i;
  }
  std::vector<uint8_t> bad = frame;
  bad[0] ^= 0x01;
  EXPECT_FALSE(FrameCrcMatches(bad));
}

TEST(LogEntryFormatTest, DecodeRejectsImpossibleHeaders) {
  std::vector<uint8_t> frame;
  FrameHeader raft;
  raft.index = RaftIndex(1);
  raft.term = Term(1);
  raft.type = EntryType::kRaft;
  EncodeFrame(raft, {}, &frame);
  ASSERT_TRUE(DecodeFrameHeader(frame).ok());
  auto mutate = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> f = frame;
    f[at] = v;
    return DecodeFrameHeader(f).status();
  };
  EXPECT_FALSE(mutate(frame_layout::kType, 9).ok());
  EXPECT_FALSE(mutate(frame_layout::kType, 0).ok());
  EXPECT_FALSE(mutate(frame_layout::kReserved + 1, 1).ok());
  EXPECT_FALSE(mutate(frame_layout::kPayloadLength, 0x7f).ok());  // > 64 MiB
  EXPECT_FALSE(mutate(frame_layout::kOffsetCount + 3, 1).ok());   // raft with offsets
  EXPECT_FALSE(mutate(frame_layout::kRaftIndex, 0x80).ok());      // negative index
  EXPECT_FALSE(DecodeFrameHeader(std::span<const uint8_t>(frame.data(), 47)).ok());
  std::vector<uint8_t> data;
  FrameHeader h = DataHeader(0);
  h.offset_count = 0;  // a data frame always takes offsets
  EncodeFrame(h, {}, &data);
  EXPECT_FALSE(DecodeFrameHeader(data).ok());
}

TEST(LogEntryFormatTest, ZeroHeaderIsTheCleanEndAndNeverAFrame) {
  std::vector<uint8_t> zeros(kFrameHeaderSize, 0);
  EXPECT_TRUE(IsZeroHeader(zeros));
  EXPECT_FALSE(DecodeFrameHeader(zeros).ok());
  EXPECT_FALSE(IsZeroHeader(std::span<const uint8_t>(zeros.data(), 10)));
  zeros[47] = 1;
  EXPECT_FALSE(IsZeroHeader(zeros));
}

}  // namespace
}  // namespace raftlog::storage
