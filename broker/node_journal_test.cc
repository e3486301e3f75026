// NodeJournal: records round-trip across files and restarts; a torn tail of
// the newest file is cut, damage in an older file is DataLoss; Restart
// removes replayed files; rotation and removal of old files.
#include "broker/node_journal.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "broker/broker_test_util.h"
#include "gtest/gtest.h"
#include "storage/fault_env.h"

namespace raftlog::broker {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Term;
using testing::TempDir;

std::vector<Entry> Entries(uint64_t first, int n, uint64_t term = 1) {
  std::vector<Entry> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Entry{Term(term), LogIndex(first + i),
                        i % 3 == 2 ? EntryType::kNoop : EntryType::kNormal,
                        i % 3 == 2 ? "" : "data-" + std::to_string(first + i)});
  }
  return out;
}

std::vector<std::string> JournalFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(NodeJournalTest, RecordsRoundTripAcrossRotationAndRestart) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  auto j = NodeJournal::Restart(env, dir.path());
  ASSERT_TRUE(j.ok()) << j.status();
  (*j)->AddEntries(7, Entries(1, 5));
  (*j)->AddEntries(9, Entries(1, 2, 3));
  ASSERT_TRUE((*j)->Sync().ok());
  auto old = (*j)->Rotate();
  ASSERT_TRUE(old.ok());
  (*j)->AddGroupRemoved(9);
  (*j)->AddEntries(7, Entries(6, 1, 2));
  ASSERT_TRUE((*j)->Sync().ok());
  EXPECT_FALSE((*j)->HasPending());

  JournalReadReport report;
  auto recs = NodeJournal::ReadAll(env, dir.path(), &report);
  ASSERT_TRUE(recs.ok()) << recs.status();
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ(report.files, 2);
  EXPECT_TRUE(report.torn_tail.empty());
  EXPECT_EQ((*recs)[0].group, 7u);
  EXPECT_EQ((*recs)[0].entries, Entries(1, 5));
  EXPECT_EQ((*recs)[1].entries, Entries(1, 2, 3));
  EXPECT_EQ((*recs)[2].kind, JournalRecord::Kind::kGroupRemoved);
  EXPECT_EQ((*recs)[2].group, 9u);
  EXPECT_EQ((*recs)[3].entries, Entries(6, 1, 2));

  // Removing the rotated file leaves only the newer records.
  ASSERT_TRUE((*j)->RemoveFilesUpTo(*old).ok());
  recs = NodeJournal::ReadAll(env, dir.path(), nullptr);
  ASSERT_TRUE(recs.ok());
  EXPECT_EQ(recs->size(), 2u);

  // Restart deletes what was read and starts a new, empty file.
  j->reset();
  auto j2 = NodeJournal::Restart(env, dir.path());
  ASSERT_TRUE(j2.ok());
  EXPECT_EQ(JournalFiles(dir.path()).size(), 1u);
  recs = NodeJournal::ReadAll(env, dir.path(), nullptr);
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->empty());
}

TEST(NodeJournalTest, TornTailOfTheNewestFileIsCutAtEveryLength) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  auto j = NodeJournal::Restart(env, dir.path());
  ASSERT_TRUE(j.ok());
  (*j)->AddEntries(1, Entries(1, 3));
  ASSERT_TRUE((*j)->Sync().ok());
  const uint64_t good = (*j)->current_file_bytes();
  (*j)->AddEntries(1, Entries(4, 3));
  ASSERT_TRUE((*j)->Sync().ok());
  const uint64_t full = (*j)->current_file_bytes();
  const std::string file = JournalFiles(dir.path()).back();
  for (uint64_t len = full - 1; len >= good; --len) {
    std::filesystem::resize_file(file, len);
    JournalReadReport report;
    auto recs = NodeJournal::ReadAll(env, dir.path(), &report);
    ASSERT_TRUE(recs.ok()) << "len " << len << ": " << recs.status();
    ASSERT_EQ(recs->size(), 1u) << "len " << len;
    EXPECT_EQ(report.torn_tail.empty(), len == good) << "len " << len;
  }
  // A crash can also leave the file longer than what was written, the rest
  // zeros (ext4 writeback): still a torn tail, never data.
  std::filesystem::resize_file(file, good + 4096);
  JournalReadReport report;
  auto recs = NodeJournal::ReadAll(env, dir.path(), &report);
  ASSERT_TRUE(recs.ok()) << recs.status();
  EXPECT_EQ(recs->size(), 1u);
  EXPECT_FALSE(report.torn_tail.empty());
}

TEST(NodeJournalTest, DamageInAnOlderFileIsDataLossNotACut) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  auto j = NodeJournal::Restart(env, dir.path());
  ASSERT_TRUE(j.ok());
  (*j)->AddEntries(1, Entries(1, 3));
  ASSERT_TRUE((*j)->Sync().ok());
  ASSERT_TRUE((*j)->Rotate().ok());
  (*j)->AddEntries(1, Entries(4, 1));
  ASSERT_TRUE((*j)->Sync().ok());
  const std::string older = JournalFiles(dir.path()).front();
  {
    std::fstream f(older, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x7f');
  }
  auto recs = NodeJournal::ReadAll(env, dir.path(), nullptr);
  ASSERT_FALSE(recs.ok());
  EXPECT_EQ(recs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(recs.status().message().find(older), std::string::npos) << recs.status();
}

TEST(NodeJournalTest, ForeignFilesAreRefused) {
  TempDir dir;
  std::ofstream(dir.path() + "/notes.txt") << "hello";
  auto recs = NodeJournal::ReadAll(storage::Env::Posix(), dir.path(), nullptr);
  ASSERT_FALSE(recs.ok());
  EXPECT_NE(recs.status().message().find("notes.txt"), std::string::npos);
}

TEST(NodeJournalTest, FailedSyncIsPermanent) {
  TempDir dir;
  storage::FaultInjectingEnv env;
  auto j = NodeJournal::Restart(&env, dir.path());
  ASSERT_TRUE(j.ok());
  env.FailNthSync(1);
  (*j)->AddEntries(1, Entries(1, 1));
  EXPECT_FALSE((*j)->Sync().ok());
  (*j)->AddEntries(1, Entries(2, 1));
  EXPECT_FALSE((*j)->Sync().ok());  // never retried
  EXPECT_FALSE((*j)->Rotate().ok());
}

}  // namespace
}  // namespace raftlog::broker
