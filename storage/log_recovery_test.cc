// Recovery on open: missing, stale and garbage indexes, torn and corrupt
// tails, corruption inside sealed segments (reported on read with file and
// byte position), foreign and orphan files, crash leftovers.
#include "storage/log_recovery.h"

#include <filesystem>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"
#include "storage/log_entry_format.h"
#include "storage/log_test_util.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::DecodeAll;
using ::raftlog::storage::testing::FileSize;
using ::raftlog::storage::testing::FlipByte;
using ::raftlog::storage::testing::ListFiles;
using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::ReadFileBytes;
using ::raftlog::storage::testing::TempDir;
using ::raftlog::storage::testing::TestOptions;
using ::raftlog::storage::testing::TruncateFile;
using ::raftlog::storage::testing::WriteFileBytes;
using ::testing::HasSubstr;

class LogRecoveryTest : public ::testing::Test {
 protected:
  LogRecoveryTest() { env_.SetSkipSyncs(true); }

  absl::StatusOr<std::unique_ptr<PartitionLog>> Open(OpenReport* report = nullptr) {
    return PartitionLog::Open(dir_.path(), options_, report);
  }

  // Writes `n` batches of 2 records (tags 0..n-1) with a kRaft entry every 7th.
  void Fill(int n) {
    auto log = Open();
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < n; ++i) {
      if (i % 7 == 3) {
        std::vector<uint8_t> p = {'c', 'f', 'g'};
        ASSERT_TRUE(
            (*log)
                ->Append(AppendEntry{(*log)->last_index() + 1, Term(1), EntryType::kRaft, p})
                .ok());
      }
      std::vector<uint8_t> b = MakeBatch(2, 1000 + i, i);
      ASSERT_TRUE(
          (*log)->Append(AppendEntry{(*log)->last_index() + 1, Term(1), EntryType::kData, b}).ok());
    }
    last_index_ = (*log)->last_index();
    segments_ = (*log)->segment_count();
  }

  // Every record 0..2n-1 readable with its value.
  void ExpectAllRecords(PartitionLog* log, int n) {
    absl::StatusOr<ReadResult> r = log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 24});
    ASSERT_TRUE(r.ok()) << r.status();
    testing::DecodedRecords d = DecodeAll(r->batches);
    ASSERT_EQ(d.offsets.size(), static_cast<size_t>(2 * n));
    for (int i = 0; i < 2 * n; ++i) {
      EXPECT_EQ(d.offsets[i], i);
      EXPECT_EQ(d.values[i].substr(0, absl::StrFormat("v%d-%d", i / 2, i % 2).size()),
                absl::StrFormat("v%d-%d", i / 2, i % 2));
    }
  }

  std::string SegFile(int index_in_order, const char* ext) {
    std::vector<std::string> logs;
    for (const std::string& f : ListFiles(dir_.path())) {
      if (f.ends_with(".log")) logs.push_back(f.substr(0, 20));
    }
    if (index_in_order < 0) index_in_order += static_cast<int>(logs.size());
    return dir_.file(logs.at(index_in_order) + ext);
  }

  TempDir dir_;
  FaultInjectingEnv env_;
  int64_t now_ms_ = 1'000'000;
  PartitionLogOptions options_ = TestOptions(&env_, &now_ms_);
  RaftIndex last_index_;
  size_t segments_ = 0;
};

TEST_F(LogRecoveryTest, CleanReopenKeepsEverythingAndRebuildsNothing) {
  Fill(40);
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ(report.indexes_rebuilt, 0) << report.notes.front();
  EXPECT_EQ((*log)->last_index(), last_index_);
  EXPECT_EQ((*log)->segment_count(), segments_);
  ExpectAllRecords(log->get(), 40);
}

TEST_F(LogRecoveryTest, MissingIndexesAreRebuilt) {
  Fill(40);
  ASSERT_GT(segments_, 2u);
  std::filesystem::remove(SegFile(0, ".index"));
  std::filesystem::remove(SegFile(1, ".timeindex"));
  std::filesystem::remove(SegFile(-1, ".index"));
  std::filesystem::remove(SegFile(-1, ".timeindex"));
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_GE(report.indexes_rebuilt, 3);
  EXPECT_EQ((*log)->last_index(), last_index_);
  ExpectAllRecords(log->get(), 40);
  EXPECT_EQ(**(*log)->OffsetForTimestamp(1000 + 20), Offset(40));
  EXPECT_TRUE(std::filesystem::exists(SegFile(0, ".index")));
  // A second open finds them valid.
  log->reset();
  report = OpenReport{};
  log = Open(&report);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(report.indexes_rebuilt, 0);
}

TEST_F(LogRecoveryTest, GarbageAndStaleIndexesAreRebuilt) {
  Fill(40);
  // Garbage in a sealed index, a too-long active index, a partial entry.
  WriteFileBytes(SegFile(0, ".index"), std::vector<uint8_t>(48, 0x77));
  std::vector<uint8_t> active = ReadFileBytes(SegFile(-1, ".index"));
  std::vector<uint8_t> stale = active;
  for (int i = 0; i < 3; ++i) {  // entries pointing beyond the data
    std::vector<uint8_t> e(24, 0);
    e[7] = 0xff;
    e[15] = static_cast<uint8_t>(200 + i);
    stale.insert(stale.end(), e.begin(), e.end());
  }
  stale.push_back(1);
  WriteFileBytes(SegFile(-1, ".index"), stale);
  WriteFileBytes(SegFile(1, ".timeindex"), std::vector<uint8_t>(13, 0x01));
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_GE(report.indexes_rebuilt, 3);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ((*log)->last_index(), last_index_);
  ExpectAllRecords(log->get(), 40);
  EXPECT_EQ(ReadFileBytes(SegFile(-1, ".index")), active);
}

TEST_F(LogRecoveryTest, StaleActiveIndexFromBeforeATruncationIsNotTrusted) {
  Fill(10);
  const std::vector<uint8_t> long_index = ReadFileBytes(SegFile(-1, ".index"));
  {
    auto log = Open();
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->TruncateSuffix(last_index_ - 4).ok());
    // Different entries (term 2, other sizes) at the same indexes.
    for (int i = 0; i < 4; ++i) {
      std::vector<uint8_t> b = MakeBatch(1 + i, 5000, 100 + i, 30);
      ASSERT_TRUE(
          (*log)->Append(AppendEntry{(*log)->last_index() + 1, Term(2), EntryType::kData, b}).ok());
    }
  }
  WriteFileBytes(SegFile(-1, ".index"), long_index);  // index of the old tail
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->last_index(), last_index_);
  EXPECT_EQ((*log)->last_term(), Term(2));
  absl::StatusOr<std::vector<LogEntry>> es =
      (*log)->ReadEntries(RaftIndex(1), (*log)->last_index() + 1);
  ASSERT_TRUE(es.ok()) << es.status();
  EXPECT_EQ(es->back().term, Term(2));
}

TEST_F(LogRecoveryTest, TornTailIsCut) {
  Fill(12);
  const std::string active = SegFile(-1, ".log");
  const uint64_t size = FileSize(active);
  TruncateFile(active, size - 5);
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->last_index(), last_index_ - 1);
  EXPECT_GT(report.truncated_bytes, 0u);
  EXPECT_THAT(report.notes.back(), HasSubstr("cut torn tail"));
  ExpectAllRecords(log->get(), 11);
  EXPECT_LT(FileSize(active), size - 5);
  std::vector<uint8_t> b = MakeBatch(2, 2000, 11);
  absl::StatusOr<AppendResult> r =
      (*log)->Append(AppendEntry{last_index_, Term(1), EntryType::kData, b});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first_offset, Offset(22));
  ExpectAllRecords(log->get(), 12);
}

TEST_F(LogRecoveryTest, CorruptTailCrcIsCut) {
  Fill(12);
  const std::string active = SegFile(-1, ".log");
  FlipByte(active, FileSize(active) - 3);  // inside the last batch's payload
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->last_index(), last_index_ - 1);
  EXPECT_THAT(report.notes.back(), HasSubstr("CRC mismatch"));
  ExpectAllRecords(log->get(), 11);
}

TEST_F(LogRecoveryTest, ValidFrameThatDoesNotChainIsDataLossNotATornTail) {
  Fill(12);
  const std::string active = SegFile(-1, ".log");
  std::vector<uint8_t> bytes = ReadFileBytes(active);
  const size_t frame = kFrameHeaderSize + MakeBatch(2, 1011, 11).size();
  ASSERT_GT(bytes.size(), frame);
  // Repeat the last frame: whole and CRC-valid, but a Raft index already used.
  bytes.insert(bytes.end(), bytes.end() - frame, bytes.end());
  WriteFileBytes(active, bytes);
  auto log = Open();
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("does not continue the log"));
  EXPECT_EQ(FileSize(active), bytes.size());  // nothing cut
}

TEST_F(LogRecoveryTest, CorruptByteInSealedSegmentIsDataLossOnReadWithFileAndPosition) {
  Fill(40);
  const std::string sealed = SegFile(1, ".log");
  const uint64_t pos = FileSize(sealed) / 2;
  FlipByte(sealed, pos);
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();  // sealed segments are not scanned on open
  EXPECT_EQ((*log)->last_index(), last_index_);
  absl::StatusOr<ReadResult> r = (*log)->Read(Offset(0), ReadOptions{.max_bytes = 1 << 24});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr(sealed));
  EXPECT_THAT(r.status().message(), HasSubstr("at byte"));
  // Reads before the damage still work; the damage is never "end of log".
  EXPECT_TRUE((*log)->Read(Offset(0), ReadOptions{.max_bytes = 1}).ok());
  EXPECT_FALSE((*log)->ReadEntries(RaftIndex(1), (*log)->last_index() + 1).ok());
}

TEST_F(LogRecoveryTest, CorruptSealedSegmentIsNeverCutWhenItsIndexMustBeRebuilt) {
  Fill(40);
  const std::string sealed = SegFile(1, ".log");
  const uint64_t size = FileSize(sealed);
  FlipByte(sealed, size / 2);
  std::filesystem::remove(SegFile(1, ".index"));
  auto log = Open();
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr(sealed));
  EXPECT_EQ(FileSize(sealed), size);  // untouched, for repair from a peer
}

TEST_F(LogRecoveryTest, ForeignFilesAreReportedAndKept) {
  Fill(3);
  WriteFileBytes(dir_.file("notes.txt"), {'h', 'i'});
  WriteFileBytes(dir_.file("123.log"), {'x'});
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(report.foreign_files, ::testing::UnorderedElementsAre("notes.txt", "123.log"));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("notes.txt")));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("123.log")));
  ExpectAllRecords(log->get(), 3);
}

TEST_F(LogRecoveryTest, CrashLeftoversAreCleanedUp) {
  Fill(12);
  // Orphan indexes, an empty next segment (crash during roll), a temp checkpoint.
  WriteFileBytes(dir_.file("00000000000000009999.index"), {});
  WriteFileBytes(dir_.file("00000000000000009999.timeindex"), {});
  WriteFileBytes(dir_.file("00000000000000000024.log"), {});
  WriteFileBytes(dir_.file("log-start.checkpoint.tmp"), {1, 2});
  OpenReport report;
  auto log = Open(&report);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_FALSE(std::filesystem::exists(dir_.file("00000000000000009999.index")));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("00000000000000000024.log")));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("log-start.checkpoint.tmp")));
  EXPECT_EQ((*log)->last_index(), last_index_);
  ExpectAllRecords(log->get(), 12);
  std::vector<uint8_t> b = MakeBatch(2, 2000, 12);
  ASSERT_TRUE((*log)->Append(AppendEntry{last_index_ + 1, Term(1), EntryType::kData, b}).ok());
  ExpectAllRecords(log->get(), 13);
}

TEST_F(LogRecoveryTest, CorruptCheckpointIsDataLossNotAbsence) {
  Fill(12);
  {
    auto log = Open();
    ASSERT_TRUE((*log)->DropPrefixBeforeOffset(Offset(4)).ok());
  }
  FlipByte(dir_.file("log-start.checkpoint"), 10);
  auto log = Open();
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(LogRecoveryTest, InterruptedDropPrefixFinishesOnOpen) {
  Fill(40);
  ASSERT_GT(segments_, 3u);
  // The checkpoint was written, the old segments not yet deleted.
  const std::string saved = dir_.path() + "-saved";
  testing::CopyDir(dir_.path(), saved);
  {
    auto log = Open();
    ASSERT_TRUE((*log)->DropPrefixBeforeOffset(Offset(60)).ok());
  }
  std::vector<uint8_t> ckpt = ReadFileBytes(dir_.file("log-start.checkpoint"));
  std::filesystem::remove_all(dir_.path());
  std::filesystem::rename(saved, dir_.path());
  WriteFileBytes(dir_.file("log-start.checkpoint"), ckpt);
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->log_start_offset(), Offset(60));
  EXPECT_LT((*log)->segment_count(), segments_);
  EXPECT_EQ((*log)->Read(Offset(59)).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE((*log)->Read(Offset(60)).ok());
}

}  // namespace
}  // namespace raftlog::storage
