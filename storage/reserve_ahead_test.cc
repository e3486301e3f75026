// Tests of PartitionLogOptions::reserve_ahead_bytes: with fsync policy kNever
// or kInterval the active segment's disk blocks are reserved ahead of its end
// (fallocate KEEP_SIZE), the file size stays the data's, sealing and
// truncation release the unused rest, and a log closed (or crashed) with a
// reservation reopens with nothing cut. kEveryAppend reserves nothing.
#include <sys/stat.h>

#include "gtest/gtest.h"
#include "storage/fault_env.h"
#include "storage/log_test_util.h"
#include "storage/partition_log.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::DecodeAll;
using ::raftlog::storage::testing::FileSize;
using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::SegmentLogPath;
using ::raftlog::storage::testing::TempDir;
using ::raftlog::storage::testing::TestOptions;

constexpr uint64_t kReserve = 512 << 10;

// Bytes of disk (or tmpfs pages) the file holds, reserved ones included.
uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

class ReserveAheadTest : public ::testing::Test {
 protected:
  ReserveAheadTest() {
    env_.SetSkipSyncs(true);
    options_.segment_bytes = 4 << 20;
    options_.index_interval_bytes = 4096;
    options_.reserve_ahead_bytes = kReserve;
  }

  std::unique_ptr<PartitionLog> OpenLog(OpenReport* report = nullptr) {
    absl::StatusOr<std::unique_ptr<PartitionLog>> log =
        PartitionLog::Open(dir_.path(), options_, report);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  void Append(PartitionLog* log, int tag) {
    std::vector<uint8_t> b = MakeBatch(3, 1000 + tag, tag);
    absl::StatusOr<AppendResult> r =
        log->Append(AppendEntry{log->last_index() + 1, Term(1), EntryType::kData, b});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  TempDir dir_;
  FaultInjectingEnv env_;
  int64_t now_ms_ = 1'000'000;
  PartitionLogOptions options_ = TestOptions(&env_, &now_ms_);
};

TEST_F(ReserveAheadTest, ReservesBlocksAheadWithoutChangingTheFileSize) {
  auto log = OpenLog();
  Append(log.get(), 0);
  const std::string path = SegmentLogPath(dir_.path(), 0);
  EXPECT_EQ(FileSize(path), log->size_bytes());
  EXPECT_GE(AllocatedBytes(path), kReserve);
  // The next step is taken only when an append passes the reserved end.
  while (log->size_bytes() <= kReserve) Append(log.get(), 1);
  EXPECT_EQ(FileSize(path), log->size_bytes());
  EXPECT_GE(AllocatedBytes(path), 2 * kReserve);
  EXPECT_LT(AllocatedBytes(path), 3 * kReserve);
}

TEST_F(ReserveAheadTest, NothingIsReservedWithFsyncPerAppend) {
  options_.fsync_policy = FsyncPolicy::kEveryAppend;
  auto log = OpenLog();
  Append(log.get(), 0);
  EXPECT_LT(AllocatedBytes(SegmentLogPath(dir_.path(), 0)), kReserve);
}

TEST_F(ReserveAheadTest, AWriteBehindBufferPassesTheReservationToTheFile) {
  options_.write_buffer_bytes = 64 << 10;
  auto log = OpenLog();
  Append(log.get(), 0);
  ASSERT_TRUE(log->Sync().ok());
  const std::string path = SegmentLogPath(dir_.path(), 0);
  EXPECT_EQ(FileSize(path), log->size_bytes());
  EXPECT_GE(AllocatedBytes(path), kReserve);
}

TEST_F(ReserveAheadTest, SealingReleasesTheUnusedReservation) {
  options_.segment_ms = 1000;  // roll by age: the sealed segment is nearly empty
  auto log = OpenLog();
  Append(log.get(), 0);
  const std::string first = SegmentLogPath(dir_.path(), 0);
  ASSERT_GE(AllocatedBytes(first), kReserve);
  now_ms_ += 1000;
  Append(log.get(), 1);
  ASSERT_EQ(log->segment_count(), 2u);
  EXPECT_LT(AllocatedBytes(first), 64u << 10);
  EXPECT_GE(AllocatedBytes(SegmentLogPath(dir_.path(), 3)), kReserve);
}

TEST_F(ReserveAheadTest, TruncateSuffixReleasesTheReservation) {
  auto log = OpenLog();
  for (int i = 0; i < 4; ++i) Append(log.get(), i);
  ASSERT_TRUE(log->TruncateSuffix(RaftIndex(2)).ok());
  const std::string path = SegmentLogPath(dir_.path(), 0);
  EXPECT_EQ(FileSize(path), log->size_bytes());
  EXPECT_LT(AllocatedBytes(path), 64u << 10);
  Append(log.get(), 9);  // reserves again
  EXPECT_GE(AllocatedBytes(path), kReserve);
}

TEST_F(ReserveAheadTest, ALogLeftWithAReservationReopensWithNothingCut) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) Append(log.get(), i);
  ASSERT_TRUE(log->Sync().ok());
  log.reset();  // no clean-shutdown step: the reservation is what a crash leaves too
  const std::string path = SegmentLogPath(dir_.path(), 0);
  ASSERT_GE(AllocatedBytes(path), kReserve);
  OpenReport report;
  log = OpenLog(&report);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_TRUE(report.notes.empty());
  EXPECT_EQ(log->last_index(), RaftIndex(5));
  Append(log.get(), 5);
  EXPECT_EQ(FileSize(path), log->size_bytes());
  absl::StatusOr<ReadResult> r = log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(DecodeAll(r->batches).offsets.size(), 18u);
}

}  // namespace
}  // namespace raftlog::storage
