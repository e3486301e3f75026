// A process killed (SIGKILL) while its log holds appends in a write-behind
// buffer: what it Synced, and what a prefix drop or a suffix truncation made
// durable, must be there on reopen, and the log must open (a crash may take
// only the held appends: a torn tail, never a log start beyond the end).
// The child process does the writes and kills itself; the test reopens.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/log_test_util.h"
#include "storage/partition_log.h"

namespace raftlog::storage {
namespace {

using ::raftlog::storage::testing::MakeBatch;
using ::raftlog::storage::testing::TempDir;

// `segment_bytes`: 4 KiB rolls every ~12 entries (seal syncs), 1 MiB never.
PartitionLogOptions BufferedOptions(uint64_t segment_bytes = 1 << 20) {
  PartitionLogOptions o;
  o.fsync_policy = FsyncPolicy::kNever;
  o.segment_bytes = segment_bytes;
  o.write_buffer_bytes = 1 << 20;
  return o;
}

// Appends entries last+1..upto of `term`, one small batch each, tagged by index.
bool AppendUpTo(PartitionLog& log, int64_t upto, int64_t term) {
  while (log.last_index().value() < upto) {
    const RaftIndex i = log.last_index() + 1;
    const std::vector<uint8_t> b =
        MakeBatch(2, 1'700'000'000'000, static_cast<int>(i.value() + 1000 * term), 100);
    if (!log.Append(AppendEntry{i, Term(term), EntryType::kData, b}).ok()) return false;
  }
  return true;
}

// Runs `body` on the log in a child process that then dies by SIGKILL
// (exit code 2 if a step failed first).
void RunAndKill(const std::string& dir, const PartitionLogOptions& options,
                const std::function<bool(PartitionLog&)>& body) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<PartitionLog>> log = PartitionLog::Open(dir, options);
    if (!log.ok() || !body(**log)) ::_exit(2);
    ::raise(SIGKILL);
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child failed a step before the kill (status " << status << ")";
}

// The term of every entry in [from, to], read back.
std::vector<int64_t> TermsOf(const PartitionLog& log, int64_t from, int64_t to) {
  absl::StatusOr<std::vector<LogEntry>> es = log.ReadEntries(RaftIndex(from), RaftIndex(to + 1));
  EXPECT_TRUE(es.ok()) << es.status();
  std::vector<int64_t> terms;
  if (es.ok()) {
    for (const LogEntry& e : *es) terms.push_back(e.term.value());
  }
  return terms;
}

TEST(WriteBehindCrashTest, SyncedAppendsSurviveAndHeldOnesMayNot) {
  TempDir dir;
  RunAndKill(dir.path(), BufferedOptions(4096), [](PartitionLog& log) {
    return AppendUpTo(log, 40, 1) && log.Sync().ok() && AppendUpTo(log, 60, 1);
  });
  absl::StatusOr<std::unique_ptr<PartitionLog>> log =
      PartitionLog::Open(dir.path(), BufferedOptions());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_GE((*log)->last_index().value(), 40);
  EXPECT_GT((*log)->segment_count(), 3u);
  EXPECT_LT((*log)->last_index().value(), 60) << "the held appends reached the file anyway";
  EXPECT_EQ(TermsOf(**log, 1, 40), std::vector<int64_t>(40, 1));
}

TEST(WriteBehindCrashTest, APrefixDropMakesTheEntriesItKeepsDurableFirst) {
  TempDir dir;
  RunAndKill(dir.path(), BufferedOptions(), [](PartitionLog& log) {
    // 1-10 synced; 11-30 held; the start moves to 25 (as a snapshot at 24
    // would); 31-35 held.
    return AppendUpTo(log, 10, 1) && log.Sync().ok() && AppendUpTo(log, 30, 1) &&
           log.DropPrefixBeforeIndex(RaftIndex(25)).ok() && AppendUpTo(log, 35, 1);
  });
  absl::StatusOr<std::unique_ptr<PartitionLog>> log =
      PartitionLog::Open(dir.path(), BufferedOptions());
  ASSERT_TRUE(log.ok()) << log.status();  // was: "log start beyond the log end"
  EXPECT_EQ((*log)->first_index().value(), 25);
  EXPECT_GE((*log)->last_index().value(), 30);
  EXPECT_EQ(TermsOf(**log, 25, 30), std::vector<int64_t>(6, 1));
}

TEST(WriteBehindCrashTest, ASuffixTruncationIsDurableOnReturn) {
  TempDir dir;
  RunAndKill(dir.path(), BufferedOptions(), [](PartitionLog& log) {
    // 1-20 synced, 21-30 held; cut back to 25 (a conflict); 26-28 of term 2 held.
    return AppendUpTo(log, 20, 1) && log.Sync().ok() && AppendUpTo(log, 30, 1) &&
           log.TruncateSuffix(RaftIndex(25)).ok() && AppendUpTo(log, 28, 2);
  });
  absl::StatusOr<std::unique_ptr<PartitionLog>> log =
      PartitionLog::Open(dir.path(), BufferedOptions());
  ASSERT_TRUE(log.ok()) << log.status();
  const int64_t last = (*log)->last_index().value();
  ASSERT_GE(last, 25);
  ASSERT_LE(last, 28);
  std::vector<int64_t> expect(25, 1);
  for (int64_t i = 26; i <= last; ++i) expect.push_back(2);  // never a cut term-1 entry
  EXPECT_EQ(TermsOf(**log, 1, last), expect);
}

}  // namespace
}  // namespace raftlog::storage
