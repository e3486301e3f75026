// Index files: encoding, validation of order and partial entries, lookups,
// append/truncate/rewrite against a real file; segment file names.
#include "storage/offset_index.h"

#include "gtest/gtest.h"
#include "storage/log_test_util.h"
#include "storage/segment.h"

namespace raftlog::storage {
namespace {

std::vector<OffsetIndexEntry> Sample() {
  return {{0, 0, RaftIndex(5), -1},
          {4, 300, RaftIndex(8), 100},
          {4, 420, RaftIndex(9), 100},  // a kRaft frame: same offset, next index
          {9, 800, RaftIndex(12), 250}};
}

std::vector<uint8_t> Encode(const std::vector<OffsetIndexEntry>& es) {
  std::vector<uint8_t> out;
  for (const auto& e : es) EncodeOffsetIndexEntry(e, &out);
  return out;
}

TEST(OffsetIndexTest, DecodeRoundTripAndValidation) {
  std::vector<uint8_t> bytes = Encode(Sample());
  ASSERT_EQ(bytes.size(), 4 * kOffsetIndexEntrySize);
  std::vector<OffsetIndexEntry> out;
  ASSERT_TRUE(DecodeOffsetIndex(bytes, &out).ok());
  EXPECT_EQ(out, Sample());
  // Partial trailing entry: the valid prefix is returned with an error.
  bytes.push_back(0);
  EXPECT_FALSE(DecodeOffsetIndex(bytes, &out).ok());
  EXPECT_EQ(out.size(), 4u);
  // Out of order positions / indexes / offsets.
  for (int field = 0; field < 3; ++field) {
    std::vector<OffsetIndexEntry> es = Sample();
    if (field == 0) es[3].position = 420;
    if (field == 1) es[3].index = RaftIndex(9);
    if (field == 2) es[3].relative_offset = 3;
    EXPECT_FALSE(DecodeOffsetIndex(Encode(es), &out).ok()) << field;
    EXPECT_EQ(out.size(), 3u);
  }
  std::vector<OffsetIndexEntry> es = Sample();
  es[0].position = 8;  // the first entry must be the first frame
  EXPECT_FALSE(DecodeOffsetIndex(Encode(es), &out).ok());
}

TEST(OffsetIndexTest, Lookups) {
  const std::vector<OffsetIndexEntry> es = Sample();
  EXPECT_EQ(FindByOffset(es, 0), 0u);
  EXPECT_EQ(FindByOffset(es, 3), 0u);
  EXPECT_EQ(FindByOffset(es, 4), 2u);  // last entry with that offset
  EXPECT_EQ(FindByOffset(es, 100), 3u);
  EXPECT_EQ(FindByIndex(es, RaftIndex(4)), es.size());
  EXPECT_EQ(FindByIndex(es, RaftIndex(5)), 0u);
  EXPECT_EQ(FindByIndex(es, RaftIndex(10)), 2u);
  EXPECT_EQ(FindByIndex(es, RaftIndex(12)), 3u);
  const std::vector<TimeIndexEntry> ts = {{100, 4}, {250, 9}};
  EXPECT_EQ(FindBeforeTimestamp(ts, 100), ts.size());
  EXPECT_EQ(FindBeforeTimestamp(ts, 101), 0u);
  EXPECT_EQ(FindBeforeTimestamp(ts, 1000), 1u);
}

TEST(OffsetIndexTest, TimeIndexDecode) {
  std::vector<uint8_t> bytes;
  EncodeTimeIndexEntry({100, 4}, &bytes);
  EncodeTimeIndexEntry({250, 9}, &bytes);
  std::vector<TimeIndexEntry> out;
  ASSERT_TRUE(DecodeTimeIndex(bytes, &out).ok());
  EXPECT_EQ(out, (std::vector<TimeIndexEntry>{{100, 4}, {250, 9}}));
  EncodeTimeIndexEntry({250, 12}, &bytes);  // timestamps must grow
  EXPECT_FALSE(DecodeTimeIndex(bytes, &out).ok());
}

TEST(OffsetIndexTest, FileAppendTruncateRewrite) {
  testing::TempDir dir;
  const std::string path = dir.file("x.index");
  absl::StatusOr<std::unique_ptr<File>> f = Env::Posix()->OpenFile(path, true);
  ASSERT_TRUE(f.ok());
  OffsetIndex index(std::move(*f), {});
  std::vector<OffsetIndexEntry> es = Sample();
  ASSERT_TRUE(index.Append(std::span<const OffsetIndexEntry>(es.data(), 2)).ok());
  ASSERT_TRUE(index.Append(std::span<const OffsetIndexEntry>(es.data() + 2, 2)).ok());
  // Small appends are written in batches: in memory at once, in the file
  // on Flush/Sync (or once ~4 KiB of entries are pending).
  EXPECT_EQ(index.entries(), es);
  EXPECT_EQ(testing::FileSize(path), 0u);
  ASSERT_TRUE(index.Flush().ok());
  EXPECT_EQ(testing::ReadFileBytes(path), Encode(es));
  ASSERT_TRUE(index.Truncate(1).ok());
  EXPECT_EQ(testing::FileSize(path), kOffsetIndexEntrySize);
  ASSERT_TRUE(index.Rewrite(es).ok());
  EXPECT_EQ(testing::ReadFileBytes(path), Encode(es));
  EXPECT_EQ(index.entries(), es);
  // Truncating only pending entries leaves the file alone.
  ASSERT_TRUE(index.Append(std::span<const OffsetIndexEntry>(es.data(), 1)).ok());
  ASSERT_TRUE(index.Truncate(es.size()).ok());
  EXPECT_EQ(testing::ReadFileBytes(path), Encode(es));
  ASSERT_TRUE(index.Sync().ok());
  EXPECT_EQ(testing::ReadFileBytes(path), Encode(es));
}

TEST(OffsetIndexTest, FileWritesOnceAboutFourKiBArePending) {
  testing::TempDir dir;
  const std::string path = dir.file("x.index");
  absl::StatusOr<std::unique_ptr<File>> f = Env::Posix()->OpenFile(path, true);
  ASSERT_TRUE(f.ok());
  std::vector<OffsetIndexEntry> all;
  {
    OffsetIndex index(std::move(*f), {});
    for (uint32_t i = 0; i < 400; ++i) {
      OffsetIndexEntry e{i, i * 100, RaftIndex(i + 1), -1};
      all.push_back(e);
      ASSERT_TRUE(index.Append(std::span<const OffsetIndexEntry>(&e, 1)).ok());
    }
    EXPECT_GT(testing::FileSize(path), 0u);
    EXPECT_LT(testing::FileSize(path), all.size() * kOffsetIndexEntrySize);
  }  // the destructor writes the rest
  EXPECT_EQ(testing::ReadFileBytes(path), Encode(all));
}

TEST(SegmentNameTest, TwentyDigitBaseOffset) {
  EXPECT_EQ(SegmentFileName(Offset(0), kLogExt), "00000000000000000000.log");
  EXPECT_EQ(SegmentFileName(Offset(1234567), kTimeIndexExt), "00000000000001234567.timeindex");
  EXPECT_EQ(ParseSegmentFileName("00000000000001234567.index", kIndexExt), Offset(1234567));
  EXPECT_FALSE(ParseSegmentFileName("00000000000001234567.index", kLogExt));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000123456.log", kLogExt));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000123456x.log", kLogExt));
  EXPECT_FALSE(ParseSegmentFileName("99999999999999999999.log", kLogExt));  // > int64
}

}  // namespace
}  // namespace raftlog::storage
