// Tests of the raft-state file: round trip, atomic replace, and that every
// kind of damage is DataLoss, never "missing".
#include "broker/raft_state_file.h"

#include <filesystem>
#include <fstream>

#include "broker/broker_test_util.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using testing::TempDir;

RaftState Sample() {
  RaftState s;
  s.hard_state = {raft::Term(7), raft::NodeId(2), raft::LogIndex(41)};
  s.snapshot_index = raft::LogIndex(30);
  s.snapshot_term = raft::Term(5);
  s.snapshot_next_offset = storage::Offset(1234);
  s.conf_state.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  s.conf_state.learners = {raft::NodeId(9)};
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(RaftStateFileTest, MissingFileIsNullopt) {
  TempDir dir;
  auto s = ReadRaftState(storage::Env::Posix(), dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->has_value());
}

TEST(RaftStateFileTest, RoundTripAndReplace) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  ASSERT_TRUE(WriteRaftState(env, dir.path(), Sample()).ok());
  auto s = ReadRaftState(env, dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ(**s, Sample());

  RaftState next = Sample();
  next.hard_state.commit = raft::LogIndex(99);
  next.conf_state.learners.clear();
  ASSERT_TRUE(WriteRaftState(env, dir.path(), next).ok());
  s = ReadRaftState(env, dir.path());
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ(**s, next);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/raft-state.tmp"));
}

TEST(RaftStateFileTest, EveryFlippedByteIsDataLoss) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  ASSERT_TRUE(WriteRaftState(env, dir.path(), Sample()).ok());
  const std::string path = dir.path() + "/" + kRaftStateFileName;
  const std::string good = ReadAll(path);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    WriteAll(path, bad);
    auto s = ReadRaftState(env, dir.path());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(RaftStateFileTest, TruncatedOrEmptyFileIsDataLoss) {
  TempDir dir;
  storage::Env* env = storage::Env::Posix();
  ASSERT_TRUE(WriteRaftState(env, dir.path(), Sample()).ok());
  const std::string path = dir.path() + "/" + kRaftStateFileName;
  const std::string good = ReadAll(path);
  for (size_t len : {size_t{0}, size_t{4}, size_t{67}, good.size() - 1}) {
    WriteAll(path, good.substr(0, len));
    auto s = ReadRaftState(env, dir.path());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << "length " << len;
  }
  WriteAll(path, good + "x");
  EXPECT_EQ(ReadRaftState(env, dir.path()).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace raftlog::broker
