// Tests of ChecksumLogRange (log_checksum.h): equal logs agree, any change of
// an entry's payload, term or position changes the sum, ranges are checked,
// and chunked reads give the same sum as one read.
#include "broker/log_checksum.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/log_storage.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

using raft::Entry;
using raft::LogIndex;
using raft::MemoryStorage;
using raft::Term;

std::vector<Entry> MakeEntries(uint64_t first, uint64_t last, uint64_t term, size_t size = 16) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i) {
    out.push_back({Term(term), LogIndex(i), raft::EntryType::kNormal,
                   std::string(size, static_cast<char>('a' + i % 26))});
  }
  return out;
}

TEST(LogChecksumTest, IdenticalLogsAgreeAndCountEntries) {
  MemoryStorage a, b;
  ASSERT_TRUE(a.Append(MakeEntries(1, 50, 2)).ok());
  ASSERT_TRUE(b.Append(MakeEntries(1, 50, 2)).ok());
  absl::StatusOr<LogChecksum> sa = ChecksumLogRange(a, LogIndex(10), LogIndex(40));
  absl::StatusOr<LogChecksum> sb = ChecksumLogRange(b, LogIndex(10), LogIndex(40));
  ASSERT_TRUE(sa.ok()) << sa.status();
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_EQ(sa->crc32c, sb->crc32c);
  EXPECT_EQ(sa->entries, 31u);
  EXPECT_EQ(sa->from, LogIndex(10));
  EXPECT_EQ(sa->to, LogIndex(40));
}

TEST(LogChecksumTest, MatchesTheDocumentedLayout) {
  MemoryStorage a;
  ASSERT_TRUE(a.Append({{Term(3), LogIndex(1), raft::EntryType::kNormal, "xyz"}}).ok());
  const unsigned char prefix[16] = {1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};
  const uint32_t expected = storage::Crc32cExtend(storage::Crc32c(prefix, 16), "xyz", 3);
  absl::StatusOr<LogChecksum> s = ChecksumLogRange(a, LogIndex(1), LogIndex(1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->crc32c, expected);
}

TEST(LogChecksumTest, ADifferentPayloadOrTermChangesTheSum) {
  MemoryStorage base, payload, term;
  ASSERT_TRUE(base.Append(MakeEntries(1, 20, 2)).ok());
  std::vector<Entry> p = MakeEntries(1, 20, 2);
  std::string flipped = p[7].data.ToString();
  flipped[3] ^= 1;
  p[7].data = std::move(flipped);
  ASSERT_TRUE(payload.Append(p).ok());
  std::vector<Entry> t = MakeEntries(1, 20, 2);
  for (size_t i = 12; i < t.size(); ++i) t[i].term = Term(3);
  ASSERT_TRUE(term.Append(t).ok());
  const uint32_t want = ChecksumLogRange(base, LogIndex(1), LogIndex(20))->crc32c;
  EXPECT_NE(ChecksumLogRange(payload, LogIndex(1), LogIndex(20))->crc32c, want);
  EXPECT_NE(ChecksumLogRange(term, LogIndex(1), LogIndex(20))->crc32c, want);
  // The ranges that exclude the difference still agree.
  EXPECT_EQ(ChecksumLogRange(term, LogIndex(1), LogIndex(12))->crc32c,
            ChecksumLogRange(base, LogIndex(1), LogIndex(12))->crc32c);
}

TEST(LogChecksumTest, ReadsLargeRangesInChunks) {
  // 12 MiB of entries: more than one 4 MiB chunk; the sum equals the one
  // computed entry by entry.
  MemoryStorage a;
  ASSERT_TRUE(a.Append(MakeEntries(1, 48, 5, 256 << 10)).ok());
  uint32_t crc = 0;
  for (uint64_t i = 1; i <= 48; ++i) {
    absl::StatusOr<LogChecksum> one = ChecksumLogRange(a, LogIndex(i), LogIndex(i));
    ASSERT_TRUE(one.ok());
    absl::StatusOr<std::vector<Entry>> e = a.Entries(LogIndex(i), LogIndex(i + 1), 1 << 30);
    ASSERT_TRUE(e.ok());
    unsigned char hdr[16];
    for (int k = 0; k < 8; ++k) hdr[k] = static_cast<unsigned char>(i >> (8 * k));
    for (int k = 0; k < 8; ++k) hdr[8 + k] = static_cast<unsigned char>(uint64_t{5} >> (8 * k));
    crc = storage::Crc32cExtend(crc, hdr, 16);
    crc = storage::Crc32cExtend(crc, (*e)[0].data.data(), (*e)[0].data.size());
  }
  absl::StatusOr<LogChecksum> all = ChecksumLogRange(a, LogIndex(1), LogIndex(48));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->entries, 48u);
  EXPECT_EQ(all->crc32c, crc);
}

TEST(LogChecksumTest, RangesOutsideTheLogAreOutOfRange) {
  MemoryStorage a;
  ASSERT_TRUE(a.Append(MakeEntries(1, 30, 1)).ok());
  ASSERT_TRUE(a.Compact(LogIndex(9)).ok());  // first index is now 10
  EXPECT_TRUE(absl::IsOutOfRange(ChecksumLogRange(a, LogIndex(5), LogIndex(20)).status()));
  EXPECT_TRUE(absl::IsOutOfRange(ChecksumLogRange(a, LogIndex(10), LogIndex(31)).status()));
  EXPECT_TRUE(absl::IsOutOfRange(ChecksumLogRange(a, LogIndex(20), LogIndex(19)).status()));
  EXPECT_TRUE(absl::IsOutOfRange(ChecksumLogRange(a, LogIndex(0), LogIndex(0)).status()));
  EXPECT_TRUE(ChecksumLogRange(a, LogIndex(10), LogIndex(30)).ok());
}

}  // namespace
}  // namespace raftlog::broker
