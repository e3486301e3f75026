// Tests of PartitionLog's steady-state behaviour: append, reads, roll,
// truncation, prefix drops, retention, timestamp lookup, fsync policies and
// group commit, write/fsync failures. Recovery is in log_recovery_test.cc,
// crash cuts in log_crash_test.cc.
#include "storage/partition_log.h"

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/big_endian.h"
#include "storage/fault_env.h"
#include "storage/log_entry_format.h"
#include "storage/log_test_util.h"
#include "storage/record_batch_header.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::DecodeAll;
using ::raftlog::storage::testing::FileSize;
using ::raftlog::storage::testing::ListFiles;
using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::SegmentLogPath;
using ::raftlog::storage::testing::TempDir;
using ::raftlog::storage::testing::TestOptions;
using ::testing::HasSubstr;

class PartitionLogTest : public ::testing::Test {
 protected:
  PartitionLogTest() { env_.SetSkipSyncs(true); }

  std::unique_ptr<PartitionLog> OpenLog(OpenReport* report = nullptr) {
    absl::StatusOr<std::unique_ptr<PartitionLog>> log =
        PartitionLog::Open(dir_.path(), options_, report);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  // Appends one data batch of `records` records at the next index.
  AppendResult AppendData(PartitionLog* log, int records, int64_t ts = 1000, int64_t term = 1,
                          int tag = 0) {
    std::vector<uint8_t> b = MakeBatch(records, ts, tag);
    absl::StatusOr<AppendResult> r =
        log->Append(AppendEntry{log->last_index() + 1, Term(term), EntryType::kData, b});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AppendResult{};
  }

  absl::StatusOr<AppendResult> AppendRaft(PartitionLog* log, int64_t term, std::string bytes) {
    std::vector<uint8_t> p(bytes.begin(), bytes.end());
    return log->Append(AppendEntry{log->last_index() + 1, Term(term), EntryType::kRaft, p});
  }

  TempDir dir_;
  FaultInjectingEnv env_;
  int64_t now_ms_ = 1'000'000;
  PartitionLogOptions options_ = TestOptions(&env_, &now_ms_);
};

TEST_F(PartitionLogTest, EmptyLogAccessors) {
  auto log = OpenLog();
  EXPECT_EQ(log->first_index(), RaftIndex(1));
  EXPECT_EQ(log->last_index(), RaftIndex(0));
  EXPECT_EQ(log->last_term(), Term(0));
  EXPECT_EQ(log->next_offset(), Offset(0));
  EXPECT_EQ(log->log_start_offset(), Offset(0));
  EXPECT_EQ(*log->TermAt(RaftIndex(0)), Term(0));
  EXPECT_THAT(ListFiles(dir_.path()),
              ::testing::ElementsAre("00000000000000000000.index", "00000000000000000000.log",
                                     "00000000000000000000.timeindex"));
}

TEST_F(PartitionLogTest, AppendAssignsDenseOffsetsAndReadReturnsStoredBytes) {
  auto log = OpenLog();
  AppendResult a = AppendData(log.get(), 3);
  EXPECT_EQ(a.first_index, RaftIndex(1));
  EXPECT_EQ(a.first_offset, Offset(0));
  EXPECT_EQ(a.next_offset, Offset(3));
  ASSERT_TRUE(AppendRaft(log.get(), 1, "noop").ok());
  AppendResult b = AppendData(log.get(), 2, 1000, 1, 7);
  EXPECT_EQ(b.first_index, RaftIndex(3));
  EXPECT_EQ(b.first_offset, Offset(3));
  EXPECT_EQ(b.next_offset, Offset(5));
  EXPECT_EQ(log->next_offset(), Offset(5));

  absl::StatusOr<ReadResult> r = log->Read(Offset(0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch_count, 2);
  EXPECT_EQ(r->next_offset, Offset(5));
  EXPECT_EQ(r->log_end_offset, Offset(5));
  testing::DecodedRecords d = DecodeAll(r->batches);
  EXPECT_THAT(d.offsets, ::testing::ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(d.values[3].substr(0, 5), "v7-0.");
  // Stored bytes equal the appended bytes except the patched base offset.
  std::vector<uint8_t> second = MakeBatch(2, 1000, 7);
  SetBaseOffset(second, 3);
  std::vector<uint8_t> tail(r->batches.end() - second.size(), r->batches.end());
  EXPECT_EQ(tail, second);
}

TEST_F(PartitionLogTest, ReadFromMidBatchOffsetReturnsWholeBatch) {
  auto log = OpenLog();
  AppendData(log.get(), 4);
  AppendData(log.get(), 4);
  absl::StatusOr<ReadResult> r = log->Read(Offset(6));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->batch_count, 1);
  EXPECT_THAT(DecodeAll(r->batches).offsets, ::testing::ElementsAre(4, 5, 6, 7));
}

TEST_F(PartitionLogTest, ReadMaxBytesReturnsWholeBatchesAndAtLeastOne) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) AppendData(log.get(), 2);
  const size_t batch_size = MakeBatch(2, 1000).size();
  absl::StatusOr<ReadResult> r = log->Read(Offset(0), ReadOptions{.max_bytes = 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->batch_count, 1);
  EXPECT_EQ(r->batches.size(), batch_size);
  r = log->Read(Offset(0), ReadOptions{.max_bytes = batch_size * 3 - 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->batch_count, 2);
  EXPECT_EQ(r->next_offset, Offset(4));
  r = log->Read(Offset(0), ReadOptions{.max_bytes = batch_size * 3});
  EXPECT_EQ(r->batch_count, 3);
  // max_offset (high watermark) bounds the result to whole batches below it.
  r = log->Read(Offset(0), ReadOptions{.max_offset = Offset(5)});
  EXPECT_EQ(r->batch_count, 2);
  EXPECT_EQ(r->next_offset, Offset(4));
}

TEST_F(PartitionLogTest, ReadOutsideTheLogIsOutOfRangeNamingTheBound) {
  auto log = OpenLog();
  AppendData(log.get(), 3);
  absl::StatusOr<ReadResult> r = log->Read(Offset(3));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->batch_count, 0);
  EXPECT_TRUE(r->batches.empty());
  r = log->Read(Offset(4));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("log end offset 3"));
  ASSERT_TRUE(log->DropPrefixBeforeOffset(Offset(2)).ok());
  r = log->Read(Offset(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("log start offset 2"));
}

TEST_F(PartitionLogTest, AppendValidatesIndexTermAndPayload) {
  auto log = OpenLog();
  AppendData(log.get(), 1, 1000, 3);
  std::vector<uint8_t> b = MakeBatch(1, 1000);
  absl::StatusOr<AppendResult> r =
      log->Append(AppendEntry{RaftIndex(3), Term(3), EntryType::kData, b});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not contiguous"));
  r = log->Append(AppendEntry{RaftIndex(2), Term(2), EntryType::kData, b});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("below previous term"));
  std::vector<uint8_t> junk = {1, 2, 3};
  r = log->Append(AppendEntry{RaftIndex(2), Term(3), EntryType::kData, junk});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // A bad entry in a group rejects the whole group before anything is written.
  std::vector<AppendEntry> group = {{RaftIndex(2), Term(3), EntryType::kData, b},
                                    {RaftIndex(3), Term(2), EntryType::kData, b}};
  r = log->Append(group);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->last_index(), RaftIndex(1));
  EXPECT_EQ(log->next_offset(), Offset(1));
}

TEST_F(PartitionLogTest, RaftEntriesTakeNoOffsetsAndReadEntriesReturnsAll) {
  auto log = OpenLog();
  ASSERT_TRUE(AppendRaft(log.get(), 1, "noop").ok());
  AppendData(log.get(), 2, 1000, 1);
  ASSERT_TRUE(AppendRaft(log.get(), 2, "config").ok());
  AppendData(log.get(), 3, 1000, 2);
  EXPECT_EQ(log->last_index(), RaftIndex(4));
  EXPECT_EQ(log->next_offset(), Offset(5));
  absl::StatusOr<std::vector<LogEntry>> es = log->ReadEntries(RaftIndex(1), RaftIndex(5));
  ASSERT_TRUE(es.ok()) << es.status();
  ASSERT_EQ(es->size(), 4u);
  EXPECT_EQ((*es)[0].type, EntryType::kRaft);
  EXPECT_EQ(std::string((*es)[0].payload.begin(), (*es)[0].payload.end()), "noop");
  EXPECT_EQ((*es)[1].first_offset, Offset(0));
  EXPECT_EQ((*es)[1].next_offset, Offset(2));
  EXPECT_EQ((*es)[2].term, Term(2));
  EXPECT_EQ((*es)[2].first_offset, Offset(2));
  EXPECT_EQ((*es)[2].next_offset, Offset(2));
  EXPECT_EQ((*es)[3].index, RaftIndex(4));
  EXPECT_EQ(*log->TermAt(RaftIndex(2)), Term(1));
  EXPECT_EQ(*log->TermAt(RaftIndex(3)), Term(2));
  EXPECT_EQ(log->TermAt(RaftIndex(5)).status().code(), absl::StatusCode::kOutOfRange);
  // max_bytes: at least one entry, then stop before exceeding.
  es = log->ReadEntries(RaftIndex(1), RaftIndex(5), 1);
  ASSERT_TRUE(es.ok());
  EXPECT_EQ(es->size(), 1u);
  EXPECT_EQ(log->ReadEntries(RaftIndex(2), RaftIndex(6)).status().code(),
            absl::StatusCode::kOutOfRange);
}

// Read (one pread per segment, refilled when a batch runs past the first
// guess) and ReadView against the documented rules, for every start offset
// and several budgets, with kRaft entries between batches, batches far larger
// than the sparse index interval, and several segments.
TEST_F(PartitionLogTest, ReadAndReadViewFollowTheRulesForEveryStartAndBudget) {
  options_.segment_bytes = 24 << 10;
  auto log = OpenLog();
  struct Stored {
    int64_t base, next;
    std::vector<uint8_t> bytes;
  };
  std::vector<Stored> stored;
  for (int i = 0; i < 40; ++i) {
    if (i % 7 == 3) {
      ASSERT_TRUE(AppendRaft(log.get(), 1, "config").ok());
    }
    // Every 9th batch is ~24 KiB: bigger than the first pread of a lookup.
    const size_t value_bytes = i % 9 == 4 ? 6000 : static_cast<size_t>(20 + 37 * (i % 5));
    std::vector<uint8_t> b = MakeBatch(1 + i % 4, 1000 + i, i, value_bytes);
    absl::StatusOr<AppendResult> r =
        log->Append(AppendEntry{log->last_index() + 1, Term(1), EntryType::kData, b});
    ASSERT_TRUE(r.ok()) << r.status();
    SetBaseOffset(b, r->first_offset.value());
    stored.push_back({r->first_offset.value(), r->next_offset.value(), std::move(b)});
  }
  ASSERT_GT(log->segment_count(), 2u);
  const int64_t end = log->next_offset().value();
  for (int64_t from = 0; from <= end; ++from) {
    for (size_t max_bytes :
         {size_t{1}, size_t{300}, size_t{5000}, size_t{40000}, size_t{1} << 20}) {
      for (std::optional<Offset> max_offset :
           {std::optional<Offset>(), std::optional(Offset(end - 5))}) {
        SCOPED_TRACE(absl::StrFormat("from %d max_bytes %d max_offset %d", from, max_bytes,
                                     max_offset.value_or(Offset(-1)).value()));
        const int64_t limit = max_offset ? std::min(max_offset->value(), end) : end;
        std::vector<uint8_t> expect;
        int count = 0;
        int64_t next = from;
        for (const Stored& b : stored) {
          if (from >= limit) break;
          if (b.next <= from) continue;
          if (b.next > limit || (count > 0 && expect.size() + b.bytes.size() > max_bytes)) break;
          expect.insert(expect.end(), b.bytes.begin(), b.bytes.end());
          ++count;
          next = b.next;
          if (expect.size() >= max_bytes || next >= limit) break;
        }
        const ReadOptions ro{.max_bytes = max_bytes, .max_offset = max_offset};
        absl::StatusOr<ReadResult> r = log->Read(Offset(from), ro);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_EQ(r->batch_count, count);
        EXPECT_EQ(r->next_offset, Offset(next));
        EXPECT_EQ(r->log_end_offset, Offset(end));
        ASSERT_EQ(r->batches, expect);
        absl::StatusOr<BatchView> v = log->ReadView(Offset(from), ro);
        ASSERT_TRUE(v.ok()) << v.status();
        BatchView moved = std::move(*v);  // spans stay valid across a move
        std::vector<uint8_t> joined;
        for (std::span<const uint8_t> b : moved.batches)
          joined.insert(joined.end(), b.begin(), b.end());
        EXPECT_EQ(joined, expect);
        EXPECT_EQ(moved.batches_bytes, expect.size());
        EXPECT_EQ(moved.next_offset, Offset(next));
      }
    }
  }
}

TEST_F(PartitionLogTest, TrustBatchCrcStoresTheSameBytesAndSurvivesReopen) {
  std::vector<std::vector<uint8_t>> files[2];
  for (bool trust : {false, true}) {
    TempDir dir;
    options_.trust_batch_crc = trust;
    auto log = PartitionLog::Open(dir.path(), options_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 30; ++i) {
      std::vector<uint8_t> b = MakeBatch(1 + i % 3, 1000 + i, i, 40);
      ASSERT_TRUE(
          (*log)->Append(AppendEntry{(*log)->last_index() + 1, Term(1), EntryType::kData, b}).ok());
    }
    log->reset();
    OpenReport report;
    log = PartitionLog::Open(dir.path(), options_, &report);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ(report.truncated_bytes, 0u);
    EXPECT_EQ((*log)->next_offset(), Offset(60));
    absl::StatusOr<ReadResult> r = (*log)->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(DecodeAll(r->batches).offsets.size(), 60u);
    for (const std::string& f : ListFiles(dir.path())) {
      if (f.ends_with(".log")) files[trust].push_back(testing::ReadFileBytes(dir.file(f)));
    }
  }
  EXPECT_EQ(files[0], files[1]);  // derived frame CRCs equal computed ones
}

TEST_F(PartitionLogTest, RollsBySizeAndReadsAcrossSegments) {
  auto log = OpenLog();
  for (int i = 0; i < 60; ++i) AppendData(log.get(), 3, 1000 + i, 1, i);
  EXPECT_GT(log->segment_count(), 3u);
  std::vector<std::string> files = ListFiles(dir_.path());
  EXPECT_EQ(files.size(), log->segment_count() * 3);
  for (const std::string& f : files) {
    if (f.ends_with(".log")) {
      EXPECT_LE(FileSize(dir_.file(f)), options_.segment_bytes);
    }
  }
  // Every segment but the first starts with a data batch at its base offset.
  absl::StatusOr<ReadResult> r = log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20});
  ASSERT_TRUE(r.ok());
  testing::DecodedRecords d = DecodeAll(r->batches);
  ASSERT_EQ(d.offsets.size(), 180u);
  for (int i = 0; i < 180; ++i) EXPECT_EQ(d.offsets[i], i);
  for (int i = 0; i < 60; ++i) {
    absl::StatusOr<ReadResult> one = log->Read(Offset(3 * i + 1), ReadOptions{.max_bytes = 1});
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(DecodeAll(one->batches).offsets.front(), 3 * i);
  }
}

TEST_F(PartitionLogTest, OneGroupAppendRollsAsManyTimesAsNeeded) {
  auto log = OpenLog();
  std::vector<std::vector<uint8_t>> batches;
  std::vector<AppendEntry> group;
  for (int i = 0; i < 30; ++i) batches.push_back(MakeBatch(2, 1000, i, 40));
  for (int i = 0; i < 30; ++i) {
    group.push_back({RaftIndex(1 + i), Term(1), EntryType::kData, batches[i]});
  }
  absl::StatusOr<AppendResult> r = log->Append(group);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->next_offset, Offset(60));
  EXPECT_GT(log->segment_count(), 3u);
  for (const std::string& f : ListFiles(dir_.path())) {
    if (f.ends_with(".log")) {
      EXPECT_LE(FileSize(dir_.file(f)), options_.segment_bytes) << f;
    }
  }
  log.reset();
  log = OpenLog();
  EXPECT_EQ(
      DecodeAll(log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20})->batches).offsets.size(),
      60u);
}

TEST_F(PartitionLogTest, RollsByAgeWithInjectedClock) {
  options_.segment_ms = 60'000;
  options_.segment_bytes = 1 << 20;
  auto log = OpenLog();
  AppendData(log.get(), 1);
  now_ms_ += 59'999;
  AppendData(log.get(), 1);
  EXPECT_EQ(log->segment_count(), 1u);
  now_ms_ += 1;
  AppendData(log.get(), 1);
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_TRUE(std::filesystem::exists(SegmentLogPath(dir_.path(), 2)));
}

TEST_F(PartitionLogTest, NeverRollsASegmentWithoutData) {
  auto log = OpenLog();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(AppendRaft(log.get(), 1, std::string(200, 'c')).ok());
  EXPECT_EQ(log->segment_count(), 1u);  // no data: rolling would reuse the name
  AppendData(log.get(), 1);
  AppendData(log.get(), 1);
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_TRUE(std::filesystem::exists(SegmentLogPath(dir_.path(), 1)));
}

TEST_F(PartitionLogTest, TruncateSuffixWithinAndAcrossSegments) {
  auto log = OpenLog();
  for (int i = 0; i < 40; ++i) AppendData(log.get(), 2, 1000, 1, i);
  const size_t segs = log->segment_count();
  ASSERT_GT(segs, 2u);
  ASSERT_TRUE(log->TruncateSuffix(RaftIndex(38)).ok());
  EXPECT_EQ(log->last_index(), RaftIndex(38));
  EXPECT_EQ(log->next_offset(), Offset(76));
  ASSERT_TRUE(log->TruncateSuffix(RaftIndex(5)).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(log->last_index(), RaftIndex(5));
  EXPECT_EQ(log->next_offset(), Offset(10));
  EXPECT_EQ(log->flushed_index(), RaftIndex(5));
  EXPECT_EQ(ListFiles(dir_.path()).size(), 3u);
  // New entries of a later term take the freed indexes and offsets.
  AppendResult r = AppendData(log.get(), 3, 1000, 2, 99);
  EXPECT_EQ(r.first_index, RaftIndex(6));
  EXPECT_EQ(r.first_offset, Offset(10));
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->last_index(), RaftIndex(6));
  EXPECT_EQ(log->last_term(), Term(2));
  absl::StatusOr<ReadResult> rd = log->Read(Offset(10));
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(DecodeAll(rd->batches).values.front().substr(0, 6), "v99-0.");
  // Truncating everything leaves an empty, appendable log.
  ASSERT_TRUE(log->TruncateSuffix(RaftIndex(0)).ok());
  EXPECT_EQ(log->next_offset(), Offset(0));
  EXPECT_EQ(AppendData(log.get(), 1, 1000, 3).first_index, RaftIndex(1));
}

TEST_F(PartitionLogTest, DropPrefixBeforeOffsetSurvivesRestart) {
  auto log = OpenLog();
  for (int i = 0; i < 40; ++i) AppendData(log.get(), 2, 1000, 1 + i / 10);
  const size_t segs = log->segment_count();
  ASSERT_TRUE(log->DropPrefixBeforeOffset(Offset(41)).ok());
  EXPECT_LT(log->segment_count(), segs);
  EXPECT_EQ(log->log_start_offset(), Offset(41));
  EXPECT_EQ(log->first_index(), RaftIndex(21));  // the batch holding offset 41
  EXPECT_EQ(*log->TermAt(RaftIndex(20)), Term(2));
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->log_start_offset(), Offset(41));
  EXPECT_EQ(log->first_index(), RaftIndex(21));
  EXPECT_EQ(*log->TermAt(RaftIndex(20)), Term(2));
  EXPECT_EQ(log->Read(Offset(40)).status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<ReadResult> r = log->Read(Offset(41), ReadOptions{.max_bytes = 1});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(DecodeAll(r->batches).offsets, ::testing::ElementsAre(40, 41));
  EXPECT_EQ(log->ReadEntries(RaftIndex(20), RaftIndex(22)).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(log->TruncateSuffix(RaftIndex(10)).code(), absl::StatusCode::kOutOfRange);
}

TEST_F(PartitionLogTest, DropPrefixBeforeIndexForSnapshots) {
  auto log = OpenLog();
  for (int i = 0; i < 30; ++i) {
    if (i % 5 == 0) {
      ASSERT_TRUE(AppendRaft(log.get(), 1 + i / 10, "cfg").ok());
    }
    AppendData(log.get(), 1, 1000, 1 + i / 10);
  }
  const RaftIndex last = log->last_index();
  ASSERT_TRUE(log->DropPrefixBeforeIndex(RaftIndex(20)).ok());
  EXPECT_EQ(log->first_index(), RaftIndex(20));
  absl::StatusOr<Term> t19 = log->TermAt(RaftIndex(19));
  ASSERT_TRUE(t19.ok());
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->first_index(), RaftIndex(20));
  EXPECT_EQ(*log->TermAt(RaftIndex(19)), *t19);
  EXPECT_EQ(log->TermAt(RaftIndex(18)).status().code(), absl::StatusCode::kOutOfRange);
  // Dropping everything: the log is empty but keeps its position.
  ASSERT_TRUE(log->DropPrefixBeforeIndex(last + 1).ok());
  EXPECT_EQ(log->first_index(), last + 1);
  EXPECT_EQ(log->last_index(), last);
  EXPECT_EQ(log->log_start_offset(), log->next_offset());
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->first_index(), last + 1);
  EXPECT_EQ(log->log_start_offset(), Offset(30));
  AppendResult r = AppendData(log.get(), 1, 1000, 5);
  EXPECT_EQ(r.first_index, last + 1);
  EXPECT_EQ(r.first_offset, Offset(30));
}

TEST_F(PartitionLogTest, ResetToRestartsAnEmptyLogAtASnapshot) {
  auto log = OpenLog();
  for (int i = 0; i < 20; ++i) AppendData(log.get(), 2);
  ASSERT_TRUE(log->ResetTo(RaftIndex(101), Term(7), Offset(500)).ok());
  EXPECT_EQ(log->last_index(), RaftIndex(100));
  EXPECT_EQ(log->last_term(), Term(7));
  EXPECT_EQ(*log->TermAt(RaftIndex(100)), Term(7));
  EXPECT_EQ(log->next_offset(), Offset(500));
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->first_index(), RaftIndex(101));
  EXPECT_EQ(log->last_term(), Term(7));
  EXPECT_EQ(log->segment_count(), 1u);
  AppendResult r = AppendData(log.get(), 2, 1000, 7);
  EXPECT_EQ(r.first_index, RaftIndex(101));
  EXPECT_EQ(r.first_offset, Offset(500));
  EXPECT_TRUE(std::filesystem::exists(SegmentLogPath(dir_.path(), 500)));
}

TEST_F(PartitionLogTest, RetentionBySizeDeletesOldestWholeSegmentsNeverActive) {
  options_.retention_bytes = 4096;
  auto log = OpenLog();
  for (int i = 0; i < 100; ++i) AppendData(log.get(), 2);
  const size_t segs = log->segment_count();
  ASSERT_GT(segs, 4u);
  // Nothing may go beyond the upper bound.
  absl::StatusOr<int> n = log->ApplyRetention(Offset(0));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  n = log->ApplyRetention(log->next_offset());
  ASSERT_TRUE(n.ok());
  EXPECT_GT(*n, 0);
  EXPECT_EQ(log->segment_count(), segs - *n);
  EXPECT_GE(log->size_bytes(), 4096u);
  EXPECT_GT(log->log_start_offset(), Offset(0));
  const Offset start = log->log_start_offset();
  EXPECT_TRUE(log->Read(start).ok());
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->log_start_offset(), start);
  // A huge retention of bytes never deletes the active segment.
  options_.retention_bytes = 0;
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log->ApplyRetention(log->next_offset()).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(ListFiles(dir_.path()).size(), 4u);  // active segment + checkpoint
  EXPECT_TRUE(log->Read(log->log_start_offset()).ok());
}

TEST_F(PartitionLogTest, RetentionByAgeUsesNewestTimestampOfSegment) {
  options_.retention_ms = 10'000;
  auto log = OpenLog();
  for (int i = 0; i < 60; ++i) AppendData(log.get(), 2, /*ts=*/100'000 + i * 1000);
  const size_t segs = log->segment_count();
  ASSERT_GT(segs, 3u);
  now_ms_ = 100'000 + 60 * 1000;  // segments whose newest batch is > 10 s old go
  absl::StatusOr<int> n = log->ApplyRetention(log->next_offset());
  ASSERT_TRUE(n.ok());
  EXPECT_GT(*n, 0);
  EXPECT_LT(static_cast<size_t>(*n), segs);
  // The first remaining record is at most 10 s older than "now" (modulo one segment).
  absl::StatusOr<ReadResult> r = log->Read(log->log_start_offset(), ReadOptions{.max_bytes = 1});
  ASSERT_TRUE(r.ok());
  now_ms_ += 1'000'000;
  n = log->ApplyRetention(log->next_offset());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(log->segment_count(), 1u);
}

TEST_F(PartitionLogTest, OffsetForTimestampFindsFirstBatchAtOrAfter) {
  auto log = OpenLog();
  for (int i = 0; i < 50; ++i) AppendData(log.get(), 2, /*ts=*/10'000 + i * 100);
  ASSERT_GT(log->segment_count(), 2u);
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::optional<Offset>> o = log->OffsetForTimestamp(10'000 + i * 100);
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(o->has_value());
    EXPECT_EQ(**o, Offset(2 * i)) << i;
    o = log->OffsetForTimestamp(10'000 + i * 100 - 50);
    EXPECT_EQ(**o, Offset(2 * i)) << i;
  }
  EXPECT_EQ(**log->OffsetForTimestamp(0), Offset(0));
  EXPECT_FALSE(log->OffsetForTimestamp(10'000 + 50 * 100)->has_value());
  // Still right after a restart (indexes reloaded or rebuilt).
  log.reset();
  log = OpenLog();
  EXPECT_EQ(**log->OffsetForTimestamp(10'000 + 33 * 100), Offset(66));
}

TEST_F(PartitionLogTest, GroupCommitOneSyncForManyAppends) {
  options_.segment_bytes = 1 << 20;
  auto log = OpenLog();
  const int64_t before = env_.syncs();
  for (int i = 0; i < 20; ++i) AppendData(log.get(), 1);
  EXPECT_EQ(env_.syncs(), before);
  EXPECT_EQ(log->flushed_index(), RaftIndex(0));
  EXPECT_EQ(log->flushed_offset(), Offset(0));
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(env_.syncs(), before + 1);
  EXPECT_EQ(log->flushed_index(), RaftIndex(20));
  EXPECT_EQ(log->flushed_offset(), Offset(20));
  ASSERT_TRUE(log->Sync().ok());  // nothing new: no fsync
  EXPECT_EQ(env_.syncs(), before + 1);
  // A group append is one write of the data file and one index write.
  std::vector<std::vector<uint8_t>> batches;
  std::vector<AppendEntry> group;
  for (int i = 0; i < 5; ++i) batches.push_back(MakeBatch(2, 1000));
  for (int i = 0; i < 5; ++i) {
    group.push_back({RaftIndex(21 + i), Term(1), EntryType::kData, batches[i]});
  }
  const int64_t writes = env_.writes();
  absl::StatusOr<AppendResult> r = log->Append(group);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(env_.writes() - writes, 2);
  EXPECT_EQ(r->first_offset, Offset(20));
  EXPECT_EQ(r->next_offset, Offset(30));
}

TEST_F(PartitionLogTest, FsyncEveryAppendAndInterval) {
  options_.segment_bytes = 1 << 20;
  options_.fsync_policy = FsyncPolicy::kEveryAppend;
  auto log = OpenLog();
  int64_t before = env_.syncs();
  AppendData(log.get(), 1);
  AppendData(log.get(), 1);
  EXPECT_EQ(env_.syncs(), before + 2);
  EXPECT_EQ(log->flushed_index(), RaftIndex(2));
  log.reset();
  options_.fsync_policy = FsyncPolicy::kInterval;
  options_.fsync_interval_ms = 100;
  log = OpenLog();
  before = env_.syncs();
  AppendData(log.get(), 1);
  now_ms_ += 50;
  AppendData(log.get(), 1);
  EXPECT_EQ(env_.syncs(), before);
  EXPECT_TRUE(log->MaybeSync().ok());
  EXPECT_EQ(env_.syncs(), before);
  EXPECT_EQ(log->flushed_index(), RaftIndex(2));
  now_ms_ += 50;
  AppendData(log.get(), 1);
  EXPECT_EQ(env_.syncs(), before + 1);
  EXPECT_EQ(log->flushed_index(), RaftIndex(5));
  AppendData(log.get(), 1);
  now_ms_ += 100;
  EXPECT_TRUE(log->MaybeSync().ok());
  EXPECT_EQ(log->flushed_index(), RaftIndex(6));
}

TEST_F(PartitionLogTest, FailedFsyncIsFatalAndNeverRetried) {
  options_.fsync_policy = FsyncPolicy::kEveryAppend;
  auto log = OpenLog();
  AppendData(log.get(), 1);
  env_.FailNthSync(1);
  std::vector<uint8_t> b = MakeBatch(1, 1000);
  absl::StatusOr<AppendResult> r =
      log->Append(AppendEntry{RaftIndex(2), Term(1), EntryType::kData, b});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(log->health().ok());
  EXPECT_EQ(log->flushed_index(), RaftIndex(1));
  const int64_t syncs = env_.syncs();
  EXPECT_FALSE(log->Sync().ok());
  EXPECT_EQ(env_.syncs(), syncs);  // no retry
  EXPECT_FALSE(log->Read(Offset(0)).ok());
  EXPECT_FALSE(log->Append(AppendEntry{RaftIndex(3), Term(1), EntryType::kData, b}).ok());
  EXPECT_FALSE(log->TruncateSuffix(RaftIndex(1)).ok());
  // Reopening recovers what is on disk.
  log.reset();
  log = OpenLog();
  EXPECT_GE(log->last_index(), RaftIndex(1));
  EXPECT_TRUE(log->Read(Offset(0)).ok());
}

TEST_F(PartitionLogTest, FailedFsyncWhileSealingOnRollIsFatal) {
  auto log = OpenLog();  // fsync policy kNever: only the roll syncs
  AppendData(log.get(), 2);
  env_.FailNthSync(1);
  absl::Status last;
  for (int i = 0; i < 40 && last.ok(); ++i) {
    std::vector<uint8_t> b = MakeBatch(2, 1000);
    last = log->Append(AppendEntry{log->last_index() + 1, Term(1), EntryType::kData, b}).status();
  }
  EXPECT_FALSE(last.ok());
  EXPECT_FALSE(log->health().ok());
  EXPECT_EQ(log->segment_count(), 1u);  // the next segment was never created
  EXPECT_FALSE(log->Read(Offset(0)).ok());
}

// Append writes each frame as head + payload with one gather write: the
// .log file must hold exactly the contiguous EncodeFrame bytes (the on-disk
// format is unchanged), for data and kRaft entries appended one by one and
// several per call.
TEST_F(PartitionLogTest, GatherWrittenFramesAreTheEncodedFrames) {
  options_.segment_bytes = 1 << 20;  // one segment
  auto log = OpenLog();
  std::vector<uint8_t> want;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<AppendEntry> group;
  Offset next(0);
  for (int i = 0; i < 12; ++i) {
    const bool raft = i % 4 == 3;
    payloads.push_back(raft ? std::vector<uint8_t>(static_cast<size_t>(i * 100), 0x5A)
                            : MakeBatch(1 + i % 3, 1000 + i, i, 50 * static_cast<size_t>(i)));
  }
  for (int i = 0; i < 12; ++i) {
    const bool raft = i % 4 == 3;
    FrameHeader h;
    h.index = RaftIndex(i + 1);
    h.term = Term(1);
    h.type = raft ? EntryType::kRaft : EntryType::kData;
    h.payload_length = static_cast<uint32_t>(payloads[i].size());
    h.base_offset = next;
    if (!raft) {
      h.offset_count = static_cast<uint32_t>(1 + i % 3);
      h.max_timestamp = 1000 + i;
    }
    next = next + h.offset_count;
    EncodeFrame(h, payloads[i], &want);
    AppendEntry e{RaftIndex(i + 1), Term(1), h.type, payloads[i]};
    if (i < 6) {
      ASSERT_TRUE(log->Append(e).ok());
    } else {
      group.push_back(e);
    }
  }
  ASSERT_TRUE(log->Append(group).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(testing::ReadFileBytes(SegmentLogPath(dir_.path(), 0)), want);
  // Unchanged by the append: the caller's payload keeps its base offset 0.
  EXPECT_EQ(LoadBigEndian<int64_t>(payloads[11 - 3].data()), 0);
}

// The Env's gather write: many pieces (more than one pwritev's worth), empty
// pieces, at an offset inside an existing file.
TEST(EnvTest, PosixWritevWritesTheConcatenationAtThePosition) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<File>> f = Env::Posix()->OpenFile(dir.file("x"), true);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Write(0, std::vector<uint8_t>(10, 0xFF)).ok());
  std::vector<std::vector<uint8_t>> parts;
  std::vector<uint8_t> want(10, 0xFF);
  want.resize(5);  // the gather write starts at byte 5
  for (int i = 0; i < 150; ++i) {
    parts.push_back(std::vector<uint8_t>(static_cast<size_t>(i % 5 == 0 ? 0 : i), uint8_t(i)));
    want.insert(want.end(), parts.back().begin(), parts.back().end());
  }
  std::vector<std::span<const uint8_t>> pieces(parts.begin(), parts.end());
  ASSERT_TRUE((*f)->Writev(5, pieces).ok());
  EXPECT_EQ(testing::ReadFileBytes(dir.file("x")), want);
  EXPECT_TRUE((*f)->Writev(0, {}).ok());  // nothing to write
  EXPECT_EQ(testing::ReadFileBytes(dir.file("x")), want);
}

// A failing Writev counts as one write and leaves exactly the requested
// prefix of the concatenation, even across pieces.
TEST(EnvTest, FaultInjectedWritevWritesOnlyThePrefix) {
  TempDir dir;
  FaultInjectingEnv env;
  absl::StatusOr<std::unique_ptr<File>> f = env.OpenFile(dir.file("x"), true);
  ASSERT_TRUE(f.ok()) << f.status();
  const std::vector<uint8_t> a(10, 1), b(10, 2), c(10, 3);
  const std::vector<std::span<const uint8_t>> pieces = {a, b, c};
  env.FailNthWrite(1, absl::InternalError("boom"), /*prefix_bytes=*/15);
  EXPECT_EQ((*f)->Writev(0, pieces).code(), absl::StatusCode::kInternal);
  std::vector<uint8_t> want(a);
  want.insert(want.end(), b.begin(), b.begin() + 5);
  EXPECT_EQ(testing::ReadFileBytes(dir.file("x")), want);
  EXPECT_EQ(env.writes(), 1);
  env.SetDiskFull(true, /*prefix_bytes=*/100);  // more than the data: all of it, then ENOSPC
  EXPECT_EQ((*f)->Writev(0, pieces).code(), absl::StatusCode::kResourceExhausted);
  env.SetDiskFull(false);
  ASSERT_TRUE((*f)->Writev(30, pieces).ok());
  EXPECT_EQ(env.writes(), 3);
  EXPECT_EQ(FileSize(dir.file("x")), 60u);
}

TEST_F(PartitionLogTest, DiskFullLeavesNothingHalfWritten) {
  auto log = OpenLog();
  AppendData(log.get(), 2);
  const uint64_t size = FileSize(SegmentLogPath(dir_.path(), 0));
  env_.SetDiskFull(true, /*prefix_bytes=*/30);  // a short write, then ENOSPC
  std::vector<uint8_t> b = MakeBatch(2, 1000);
  absl::StatusOr<AppendResult> r =
      log->Append(AppendEntry{RaftIndex(2), Term(1), EntryType::kData, b});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(log->health().ok());  // not fatal: the write was undone
  EXPECT_EQ(FileSize(SegmentLogPath(dir_.path(), 0)), size);
  EXPECT_EQ(log->last_index(), RaftIndex(1));
  EXPECT_EQ(log->next_offset(), Offset(2));
  env_.SetDiskFull(false);
  r = log->Append(AppendEntry{RaftIndex(2), Term(1), EntryType::kData, b});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first_offset, Offset(2));
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->last_index(), RaftIndex(2));
  EXPECT_THAT(DecodeAll(log->Read(Offset(0))->batches).offsets, ::testing::ElementsAre(0, 1, 2, 3));
}

TEST_F(PartitionLogTest, WriteErrorWhoseUndoFailsIsFatal) {
  auto log = OpenLog();
  AppendData(log.get(), 2);
  env_.SetDiskFull(true, /*prefix_bytes=*/20);
  env_.SetTruncateFails(true);
  std::vector<uint8_t> b = MakeBatch(2, 1000);
  absl::StatusOr<AppendResult> r =
      log->Append(AppendEntry{RaftIndex(2), Term(1), EntryType::kData, b});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(log->health().ok());  // a half frame may be on disk: stop here
  env_.SetDiskFull(false);
  env_.SetTruncateFails(false);
  EXPECT_FALSE(log->Append(AppendEntry{RaftIndex(2), Term(1), EntryType::kData, b}).ok());
  // Recovery cuts the half-written frame.
  log.reset();
  OpenReport report;
  log = OpenLog(&report);
  EXPECT_EQ(log->last_index(), RaftIndex(1));
  EXPECT_GT(report.truncated_bytes, 0u);
  EXPECT_EQ(AppendData(log.get(), 1).first_offset, Offset(2));
}

TEST_F(PartitionLogTest, WriteFailureAfterRollUndoesTheWholeGroup) {
  auto log = OpenLog();
  for (int i = 0; i < 10; ++i) AppendData(log.get(), 2, 1000, 1, i);
  const size_t segs = log->segment_count();
  const RaftIndex last = log->last_index();
  std::vector<std::vector<uint8_t>> batches;
  std::vector<AppendEntry> group;
  for (int i = 0; i < 40; ++i) batches.push_back(MakeBatch(2, 1000, 0, 64));
  for (int i = 0; i < 40; ++i) {
    group.push_back({last + 1 + i, Term(1), EntryType::kData, batches[i]});
  }
  // Fail the data write into the segment created by a roll mid-group.
  env_.FailNthWrite(4, absl::ResourceExhaustedError("injected ENOSPC"), 10);
  absl::StatusOr<AppendResult> r = log->Append(group);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(log->health().ok());
  EXPECT_EQ(log->last_index(), last);
  EXPECT_EQ(log->next_offset(), Offset(20));
  EXPECT_EQ(log->segment_count(), segs);
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->last_index(), last);
  r = log->Append(group);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first_offset, Offset(20));
}

TEST_F(PartitionLogTest, ConcurrentReadersWhileAppending) {
  options_.segment_bytes = 16 << 10;
  auto log = OpenLog();
  AppendData(log.get(), 1);
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<ReadResult> r = log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20});
        // A read is one consistent snapshot: it reaches the end it reports.
        if (!r.ok() || r->next_offset != r->log_end_offset) errors.fetch_add(1);
        // (OutOfRange only if a truncation ran between the two calls.)
        absl::StatusOr<Term> t = log->TermAt(log->last_index());
        if (!t.ok() && !absl::IsOutOfRange(t.status())) errors.fetch_add(1);
      }
    });
  }
  std::thread syncer([&] {
    while (!stop.load()) {
      if (!log->Sync().ok()) errors.fetch_add(1);
    }
  });
  for (int i = 0; i < 300; ++i) AppendData(log.get(), 2);
  ASSERT_TRUE(log->TruncateSuffix(RaftIndex(100)).ok());
  for (int i = 0; i < 50; ++i) AppendData(log.get(), 2, 1000, 2);
  stop = true;
  for (auto& t : readers) t.join();
  syncer.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(log->flushed_index(), log->last_index());
}

TEST_F(PartitionLogTest, PreallocatedSegmentsAreCutWhenSealedAndReopenCleanly) {
  options_.preallocate = true;
  auto log = OpenLog();
  for (int i = 0; i < 40; ++i) AppendData(log.get(), 2, 1000, 1, i);
  ASSERT_GT(log->segment_count(), 1u);
  uint64_t total = 0;
  for (const std::string& f : ListFiles(dir_.path())) {
    if (f.ends_with(".log")) total += FileSize(dir_.file(f));
  }
  // Sealed segments hold exactly their frames; the active one is preallocated.
  EXPECT_EQ(
      total - log->size_bytes() +
          [&] {
            uint64_t active = 0;
            for (const std::string& f : ListFiles(dir_.path())) {
              if (f.ends_with(".log")) active = FileSize(dir_.file(f));  // last in name order
            }
            return active;
          }(),
      options_.segment_bytes + (total - log->size_bytes()));
  const RaftIndex last = log->last_index();
  log.reset();  // no clean-shutdown step: the zero tail is what a crash leaves too
  OpenReport report;
  log = OpenLog(&report);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ(log->last_index(), last);
  EXPECT_EQ(AppendData(log.get(), 1).first_offset, Offset(80));
  EXPECT_EQ(
      DecodeAll(log->Read(Offset(0), ReadOptions{.max_bytes = 1 << 20})->batches).offsets.size(),
      81u);
}

}  // namespace
}  // namespace raftlog::storage
