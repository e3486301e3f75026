// Tests of the empty-directory start-up rule and the recovery marker
// (startup_probe.h); the probing itself runs in the raftlogd integration test
// (WipedNodeRecoversWithoutVotingUntilCaughtUp and every fresh cluster).
#include "broker/startup_probe.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using raft::NodeId;

TEST(StartupProbeTest, APeerWithDataMeansTheDiskWasLost) {
  EXPECT_EQ(DecideEmptyDirectoryStart(3, {{NodeId(2), true}}), EmptyDirectoryStart::kReplacement);
  EXPECT_EQ(DecideEmptyDirectoryStart(3, {{NodeId(2), false}, {NodeId(3), true}}),
            EmptyDirectoryStart::kReplacement);
  EXPECT_EQ(DecideEmptyDirectoryStart(5, {{NodeId(4), true}}), EmptyDirectoryStart::kReplacement);
}

TEST(StartupProbeTest, AMajorityWithoutDataIsANewCluster) {
  EXPECT_EQ(DecideEmptyDirectoryStart(3, {{NodeId(2), false}}), EmptyDirectoryStart::kNewCluster);
  EXPECT_EQ(DecideEmptyDirectoryStart(3, {{NodeId(2), false}, {NodeId(3), false}}),
            EmptyDirectoryStart::kNewCluster);
  EXPECT_EQ(DecideEmptyDirectoryStart(5, {{NodeId(2), false}, {NodeId(5), false}}),
            EmptyDirectoryStart::kNewCluster);
}

TEST(StartupProbeTest, TooFewAnswersDecideNothing) {
  EXPECT_EQ(DecideEmptyDirectoryStart(3, {}), std::nullopt);
  EXPECT_EQ(DecideEmptyDirectoryStart(5, {{NodeId(2), false}}), std::nullopt);
}

TEST(StartupProbeTest, MarkerIsWrittenFoundAndRemoved) {
  const std::string dir = ::testing::TempDir() + "startup_probe_marker";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_EQ(RecoveringMarkerExists(dir).value(), false);
  ASSERT_TRUE(WriteRecoveringMarker(dir).ok());
  EXPECT_EQ(RecoveringMarkerExists(dir).value(), true);
  ASSERT_TRUE(RemoveRecoveringMarker(dir).ok());
  EXPECT_EQ(RecoveringMarkerExists(dir).value(), false);
  EXPECT_TRUE(RemoveRecoveringMarker(dir).ok());  // idempotent
  EXPECT_FALSE(WriteRecoveringMarker(dir + "/missing/sub").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raftlog::broker
