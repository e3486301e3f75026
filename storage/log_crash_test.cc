// THE crash test: after some synced batches, one more (unsynced) write is cut
// at every byte position, as a crash could leave it, and the log reopened.
// Every synced batch must be intact, no partial entry visible, and the log
// appendable with the right indexes and offsets. Three kinds of tail: the
// cut file ends at the cut (plain), is followed by zeros (preallocated file),
// or by garbage (a torn sector). Index files are alternately taken from
// before and after the write, so stale indexes are exercised too.
#include <filesystem>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"
#include "storage/log_entry_format.h"
#include "storage/log_test_util.h"
#include "storage/partition_log.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::CopyDir;
using ::raftlog::storage::testing::DecodeAll;
using ::raftlog::storage::testing::ListFiles;
using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::ReadFileBytes;
using ::raftlog::storage::testing::TempDir;
using ::raftlog::storage::testing::TestOptions;
using ::raftlog::storage::testing::WriteFileBytes;

enum class Tail { kPlain, kZeros, kGarbage };

class LogCrashTest : public ::testing::TestWithParam<Tail> {};

std::string ActiveLogName(const std::string& dir) {
  std::string last;
  for (const std::string& f : ListFiles(dir)) {
    if (f.ends_with(".log")) last = f;
  }
  return last;
}

TEST_P(LogCrashTest, EveryCutOfTheLastWriteRecoversTheSyncedPrefix) {
  const Tail tail = GetParam();
  TempDir dir;
  FaultInjectingEnv env;
  env.SetSkipSyncs(true);  // durability is simulated by the file copies below
  int64_t now = 1'000'000;
  PartitionLogOptions options = TestOptions(&env, &now);
  options.preallocate = (tail == Tail::kZeros);

  // Synced part: batches with values "v<i>-<j>", a kRaft entry, several segments.
  std::vector<std::string> values;
  RaftIndex synced_last;
  int batches = 0;
  std::vector<std::vector<uint8_t>> last_write = {MakeBatch(2, 9000, 900), MakeBatch(1, 9001, 901)};
  const uint64_t last_write_bytes =
      2 * kFrameHeaderSize + last_write[0].size() + last_write[1].size();
  {
    absl::StatusOr<std::unique_ptr<PartitionLog>> log = PartitionLog::Open(dir.path(), options);
    ASSERT_TRUE(log.ok()) << log.status();
    auto append_batch = [&](int records) {
      std::vector<uint8_t> b = MakeBatch(records, 1000 + batches, batches);
      for (int j = 0; j < records; ++j) values.push_back(absl::StrFormat("v%d-%d", batches, j));
      ++batches;
      ASSERT_TRUE(
          (*log)->Append(AppendEntry{(*log)->last_index() + 1, Term(3), EntryType::kData, b}).ok());
    };
    for (int i = 0; i < 14; ++i) append_batch(1 + i % 3);
    std::vector<uint8_t> cfg = {'c'};
    ASSERT_TRUE(
        (*log)->Append(AppendEntry{(*log)->last_index() + 1, Term(3), EntryType::kRaft, cfg}).ok());
    // Leave room so the last write does not roll.
    for (;;) {
      const uint64_t before = (*log)->segment_count();
      append_batch(1);
      if ((*log)->segment_count() != before) break;  // a fresh active segment
    }
    ASSERT_TRUE((*log)->Sync().ok());
    ASSERT_GT((*log)->segment_count(), 2u);
    synced_last = (*log)->last_index();
    ASSERT_EQ((*log)->flushed_index(), synced_last);
  }
  const std::string snapshot = dir.path() + "-synced";
  CopyDir(dir.path(), snapshot);
  const std::string active = ActiveLogName(dir.path());
  const std::string stem = active.substr(0, 20);
  const uint64_t pre = [&] {
    std::vector<uint8_t> d = ReadFileBytes(dir.file(active));
    // With preallocation the file is longer than its data: find the data end.
    uint64_t end = 0;
    while (end + kFrameHeaderSize <= d.size() &&
           !IsZeroHeader(std::span<const uint8_t>(d.data() + end, kFrameHeaderSize))) {
      end += DecodeFrameHeader(std::span<const uint8_t>(d.data() + end, kFrameHeaderSize))
                 ->frame_size();
    }
    return end;
  }();
  {
    absl::StatusOr<std::unique_ptr<PartitionLog>> log = PartitionLog::Open(dir.path(), options);
    ASSERT_TRUE(log.ok()) << log.status();
    const size_t segs = (*log)->segment_count();
    std::vector<AppendEntry> group = {{synced_last + 1, Term(3), EntryType::kData, last_write[0]},
                                      {synced_last + 2, Term(3), EntryType::kData, last_write[1]}};
    ASSERT_TRUE((*log)->Append(group).ok());
    ASSERT_EQ((*log)->segment_count(), segs);
  }
  std::vector<uint8_t> post = ReadFileBytes(dir.file(active));
  post.resize(pre + last_write_bytes);
  const std::vector<uint8_t> post_index = ReadFileBytes(dir.file(stem + ".index"));
  const std::vector<uint8_t> post_time = ReadFileBytes(dir.file(stem + ".timeindex"));
  const uint64_t first_frame_end = pre + kFrameHeaderSize + last_write[0].size();

  for (uint64_t p = pre; p <= post.size(); ++p) {
    SCOPED_TRACE(absl::StrFormat("cut at byte %d (write spans [%d, %d))", p, pre, post.size()));
    TempDir crash;
    CopyDir(snapshot, crash.path());
    std::vector<uint8_t> file(post.begin(), post.begin() + p);
    if (tail == Tail::kZeros) file.resize(options.segment_bytes, 0);
    if (tail == Tail::kGarbage) file.resize(post.size(), 0xA5);
    WriteFileBytes(crash.file(active), file);
    if (p % 2 == 1) {
      WriteFileBytes(crash.file(stem + ".index"), post_index);
      WriteFileBytes(crash.file(stem + ".timeindex"), post_time);
    }
    OpenReport report;
    absl::StatusOr<std::unique_ptr<PartitionLog>> log =
        PartitionLog::Open(crash.path(), options, &report);
    ASSERT_TRUE(log.ok()) << log.status();
    // Complete frames of the unsynced write may survive; partial ones never.
    // (A frame whose lost bytes happen to equal the filler is complete.)
    uint64_t intact = p;
    while (intact < post.size() && intact < file.size() && file[intact] == post[intact]) ++intact;
    RaftIndex expect_last = synced_last;
    std::vector<std::string> expect_values = values;
    if (intact >= first_frame_end) {
      expect_last = synced_last + 1;
      expect_values.insert(expect_values.end(), {"v900-0", "v900-1"});
    }
    if (intact == post.size()) {
      expect_last = synced_last + 2;
      expect_values.push_back("v901-0");
    }
    ASSERT_EQ((*log)->last_index(), expect_last)
        << "intact to " << intact << ", first frame ends at " << first_frame_end << "; "
        << (report.notes.empty() ? "" : report.notes.back());
    absl::StatusOr<ReadResult> r = (*log)->Read(Offset(0), ReadOptions{.max_bytes = 1 << 24});
    ASSERT_TRUE(r.ok()) << r.status();
    testing::DecodedRecords d = DecodeAll(r->batches);
    ASSERT_EQ(d.values.size(), expect_values.size());
    for (size_t i = 0; i < d.values.size(); ++i) {
      ASSERT_EQ(d.offsets[i], static_cast<int64_t>(i));
      ASSERT_EQ(d.values[i].substr(0, expect_values[i].size()), expect_values[i]);
    }
    ASSERT_TRUE((*log)->ReadEntries(RaftIndex(1), expect_last + 1).ok());
    // Appendable afterwards at the right index and offset, and it survives.
    std::vector<uint8_t> b = MakeBatch(1, 9999, 999);
    absl::StatusOr<AppendResult> a =
        (*log)->Append(AppendEntry{expect_last + 1, Term(4), EntryType::kData, b});
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->first_offset, Offset(static_cast<int64_t>(expect_values.size())));
    log->reset();
    log = PartitionLog::Open(crash.path(), options, &report);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_EQ((*log)->last_index(), expect_last + 1);
    ASSERT_EQ((*log)->last_term(), Term(4));
  }
  std::filesystem::remove_all(snapshot);
}

INSTANTIATE_TEST_SUITE_P(Tails, LogCrashTest,
                         ::testing::Values(Tail::kPlain, Tail::kZeros, Tail::kGarbage),
                         [](const ::testing::TestParamInfo<Tail>& i) {
                           switch (i.param) {
                             case Tail::kPlain:
                               return "Plain";
                             case Tail::kZeros:
                               return "PreallocatedZeros";
                             case Tail::kGarbage:
                               return "Garbage";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace raftlog::storage
