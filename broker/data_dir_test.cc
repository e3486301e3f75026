// Tests of DataDir: identity creation and checks, corruption, foreign
// directories and the exclusive lock (PITFALLS #14, #15).
#include "broker/data_dir.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/crc32c.h"

namespace raftlog::broker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/data_dir_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    path_ = root_ + "/a/b/node";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_;
  std::string path_;
};

TEST_F(DataDirTest, FreshCreateWritesIdentityAndLock) {
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE((*dir)->is_new());
  EXPECT_EQ((*dir)->path(), path_);
  EXPECT_EQ((*dir)->cluster_id(), "raftlog");
  EXPECT_EQ((*dir)->node_id(), raft::NodeId(1));
  EXPECT_THAT((*dir)->directory_id(), MatchesRegex("[0-9a-f]{32}"));
  const std::string meta = ReadFile(path_ + "/node.meta");
  EXPECT_THAT(meta, AllOf(HasSubstr("format_version=1\n"), HasSubstr("cluster_id=raftlog\n"),
                          HasSubstr("node_id=1\n"),
                          HasSubstr("directory_id=" + (*dir)->directory_id() + "\n"),
                          HasSubstr("created_at=")));
  EXPECT_THAT(meta, MatchesRegex("(.|\n)*\ncrc32c=[0-9a-f]{8}\n"));
  EXPECT_EQ(ReadFile(path_ + "/LOCK"), std::to_string(::getpid()) + "\n");
  EXPECT_FALSE(std::filesystem::exists(path_ + "/node.meta.tmp"));
}

TEST_F(DataDirTest, ReopenKeepsDirectoryId) {
  std::string id;
  {
    absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(2));
    ASSERT_TRUE(dir.ok()) << dir.status();
    id = (*dir)->directory_id();
  }
  absl::StatusOr<std::unique_ptr<DataDir>> dir =
      DataDir::Open(path_ + "/", "raftlog", raft::NodeId(2));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_FALSE((*dir)->is_new());
  EXPECT_EQ((*dir)->directory_id(), id);
  EXPECT_EQ((*dir)->path(), path_);  // Trailing slash dropped.
}

TEST_F(DataDirTest, DirectoryIdsDiffer) {
  absl::StatusOr<std::unique_ptr<DataDir>> a = DataDir::Open(path_, "c", raft::NodeId(1));
  absl::StatusOr<std::unique_ptr<DataDir>> b =
      DataDir::Open(root_ + "/other", "c", raft::NodeId(1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->directory_id(), (*b)->directory_id());
}

TEST_F(DataDirTest, ClusterIdMismatchRefused) {
  ASSERT_TRUE(DataDir::Open(path_, "alpha", raft::NodeId(1)).ok());
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "beta", raft::NodeId(1));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dir.status().message(),
            "data directory " + path_ +
                " belongs to cluster alpha, this node is configured for cluster beta; refusing to "
                "start rather than mix data");
  // The failed Open released the lock; the right identity still opens.
  EXPECT_TRUE(DataDir::Open(path_, "alpha", raft::NodeId(1)).ok());
}

TEST_F(DataDirTest, NodeIdMismatchRefused) {
  ASSERT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(2));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(),
              AllOf(HasSubstr("belongs to node 1, this node is configured as node 2"),
                    HasSubstr("refusing to start")));
}

TEST_F(DataDirTest, EveryByteFlipInMetaIsDataLoss) {
  ASSERT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
  const std::string meta_path = path_ + "/node.meta";
  const std::string good = ReadFile(meta_path);
  ASSERT_GT(good.size(), 50u);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    WriteFile(meta_path, bad);
    absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
    ASSERT_FALSE(dir.ok()) << "byte " << i;
    EXPECT_EQ(dir.status().code(), absl::StatusCode::kDataLoss) << "byte " << i << dir.status();
    EXPECT_THAT(dir.status().message(), HasSubstr(meta_path)) << "byte " << i;
  }
  WriteFile(meta_path, good);
  EXPECT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
}

TEST_F(DataDirTest, EmptyOrTruncatedMetaIsDataLossNotAbsent) {
  ASSERT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
  const std::string meta_path = path_ + "/node.meta";
  const std::string good = ReadFile(meta_path);
  for (size_t len : {size_t{0}, size_t{1}, good.size() / 2, good.size() - 1}) {
    WriteFile(meta_path, good.substr(0, len));
    absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
    ASSERT_FALSE(dir.ok()) << len;
    EXPECT_EQ(dir.status().code(), absl::StatusCode::kDataLoss) << len;
    EXPECT_EQ(ReadFile(meta_path), good.substr(0, len)) << "file must not be rewritten";
  }
}

TEST_F(DataDirTest, NewerFormatVersionRefused) {
  // A well-formed file (valid CRC) of an unknown version, as a newer raftlogd would write.
  ASSERT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
  const std::string meta_path = path_ + "/node.meta";
  std::string text = ReadFile(meta_path);
  text = "format_version=2" + text.substr(text.find('\n'));
  text = text.substr(0, text.rfind("crc32c="));
  char crc[16];
  std::snprintf(crc, sizeof(crc), "%08x", storage::Crc32c(text.data(), text.size()));
  WriteFile(meta_path, text + "crc32c=" + crc + "\n");
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(), HasSubstr("format_version 2 is not supported"));
}

TEST_F(DataDirTest, ForeignNonEmptyDirectoryRefused) {
  ASSERT_TRUE(std::filesystem::create_directories(path_ + "/groups"));
  WriteFile(path_ + "/00000000000000000000.log", "someone's data");
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.status().message(),
              AllOf(HasSubstr("data directory " + path_ + " is not empty but has no node.meta"),
                    HasSubstr("00000000000000000000.log, groups")));
  EXPECT_FALSE(std::filesystem::exists(path_ + "/node.meta"));
}

TEST_F(DataDirTest, LeftoverTempMetaFromACrashIsIgnored) {
  ASSERT_TRUE(std::filesystem::create_directories(path_));
  WriteFile(path_ + "/node.meta.tmp", "format_version=1\ncluster_id=half-writ");
  WriteFile(path_ + "/LOCK", "12345\n");
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE((*dir)->is_new());
  EXPECT_FALSE(std::filesystem::exists(path_ + "/node.meta.tmp"));
}

TEST_F(DataDirTest, SecondOpenWhileFirstAliveRefused) {
  absl::StatusOr<std::unique_ptr<DataDir>> first = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<DataDir>> second =
      DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "data directory " + path_ +
                                           " is in use by another raftlogd (pid " +
                                           std::to_string(::getpid()) + ")");
  // Even with a different identity the lock is checked first.
  EXPECT_THAT(DataDir::Open(path_, "other", raft::NodeId(9)).status().message(),
              HasSubstr("is in use by another raftlogd"));
  first->reset();
  EXPECT_TRUE(DataDir::Open(path_, "raftlog", raft::NodeId(1)).ok());
}

TEST_F(DataDirTest, SubdirectoryPaths) {
  absl::StatusOr<std::unique_ptr<DataDir>> dir = DataDir::Open(path_, "raftlog", raft::NodeId(1));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ((*dir)->GroupDir(42), path_ + "/groups/00000000000000000042");
  EXPECT_EQ((*dir)->GroupDir(UINT64_MAX), path_ + "/groups/18446744073709551615");
  EXPECT_EQ((*dir)->MetadataDir(), path_ + "/metadata");
}

TEST_F(DataDirTest, BadArguments) {
  WriteFile(root_ + "/file", "x");
  absl::StatusOr<std::unique_ptr<DataDir>> dir =
      DataDir::Open(root_ + "/file", "raftlog", raft::NodeId(1));
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(dir.status().message(), HasSubstr(root_ + "/file"));
  EXPECT_EQ(DataDir::Open(path_, "raftlog", raft::kNoNode).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DataDir::Open(path_, "bad\nid", raft::NodeId(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DataDir::Open("", "raftlog", raft::NodeId(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace raftlog::broker
