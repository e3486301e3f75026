// Unit tests for the simulated network: partition shapes cut exactly the
// links they should, delivery is ordered and deterministic per seed, and
// loss/duplication/delay behave as configured.
#include "tests/sim/sim_network.h"

#include <gtest/gtest.h>

namespace raftlog::sim {
namespace {

const std::vector<uint64_t> kFive = {1, 2, 3, 4, 5};

TEST(SimNetworkTest, PartitionCutsAcrossGroupsOnly) {
  std::mt19937_64 rng(1);
  SimNetwork<int> net(&rng);
  net.Partition({{1, 2, 3}, {4, 5}}, kFive);
  EXPECT_TRUE(net.Connected(1, 2));
  EXPECT_TRUE(net.Connected(3, 1));
  EXPECT_TRUE(net.Connected(4, 5));
  EXPECT_FALSE(net.Connected(1, 4));
  EXPECT_FALSE(net.Connected(5, 3));
  EXPECT_EQ(net.cut_links(), 12u);  // 3*2 pairs, both directions.
  net.Heal();
  EXPECT_TRUE(net.Connected(1, 4));
  EXPECT_EQ(net.cut_links(), 0u);
}

TEST(SimNetworkTest, NodesOutsideEveryGroupAreIsolated) {
  std::mt19937_64 rng(1);
  SimNetwork<int> net(&rng);
  net.Partition({{1, 2}, {3, 4}}, kFive);
  for (uint64_t n : {1, 2, 3, 4}) {
    EXPECT_FALSE(net.Connected(5, n));
    EXPECT_FALSE(net.Connected(n, 5));
  }
}

TEST(SimNetworkTest, BridgeIsNotTransitive) {
  std::mt19937_64 rng(1);
  SimNetwork<int> net(&rng);
  net.Bridge({1, 2}, {4, 5});  // 3 is the bridge.
  EXPECT_TRUE(net.Connected(1, 3));
  EXPECT_TRUE(net.Connected(3, 5));
  EXPECT_TRUE(net.Connected(1, 2));
  EXPECT_FALSE(net.Connected(1, 4));
  EXPECT_FALSE(net.Connected(5, 2));
}

TEST(SimNetworkTest, IsolateAndOneWayCuts) {
  std::mt19937_64 rng(1);
  SimNetwork<int> net(&rng);
  net.Isolate(2, kFive);
  EXPECT_FALSE(net.Connected(2, 1));
  EXPECT_FALSE(net.Connected(1, 2));
  EXPECT_TRUE(net.Connected(1, 3));
  net.Heal();
  net.Cut(1, 2);
  EXPECT_FALSE(net.Connected(1, 2));
  EXPECT_TRUE(net.Connected(2, 1));
  EXPECT_TRUE(net.Connected(1, 1));
}

TEST(SimNetworkTest, DeliversInTimeOrderAndDropsOverCutLinks) {
  std::mt19937_64 rng(7);
  SimNetwork<int> net(&rng);
  net.set_faults({.drop_ppm = 0, .duplicate_ppm = 0, .min_delay = 1, .max_delay = 5});
  for (int i = 0; i < 50; ++i) net.Send(1, 2, i, 0);
  net.Send(1, 3, 1000, 0);
  net.Cut(1, 3);  // cut after send: dropped at delivery.
  std::vector<int> got;
  for (uint64_t t = 0; t <= 5; ++t) {
    for (auto& d : net.TakeDue(t)) {
      EXPECT_GE(t, 1u);
      got.push_back(d.msg);
    }
  }
  EXPECT_EQ(got.size(), 50u);
  EXPECT_EQ(net.in_flight(), 0u);
  // Random delays reorder: not all in send order (50 messages over 5 slots).
  EXPECT_FALSE(std::is_sorted(got.begin(), got.end()));
  EXPECT_EQ(net.dropped(), 1u);
}

TEST(SimNetworkTest, SameSeedSameSchedule) {
  auto run = [](uint64_t seed) {
    std::mt19937_64 rng(seed);
    SimNetwork<int> net(&rng);
    net.set_faults({.drop_ppm = 200'000, .duplicate_ppm = 100'000, .min_delay = 1, .max_delay = 9});
    std::vector<int> got;
    for (int t = 0; t < 100; ++t) {
      net.Send(1 + t % 3, 1 + (t + 1) % 3, t, t);
      for (auto& d : net.TakeDue(t)) got.push_back(d.msg);
    }
    return got;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(SimNetworkTest, LossAndDuplicationRatesRoughlyAsConfigured) {
  std::mt19937_64 rng(3);
  SimNetwork<int> net(&rng);
  net.set_faults({.drop_ppm = 100'000, .duplicate_ppm = 100'000, .min_delay = 1, .max_delay = 1});
  for (int i = 0; i < 10000; ++i) net.Send(1, 2, i, 0);
  EXPECT_NEAR(static_cast<double>(net.dropped()), 1000, 200);
  EXPECT_NEAR(static_cast<double>(net.duplicated()), 900, 200);
  EXPECT_EQ(net.TakeDue(1).size(), 10000 - net.dropped() + net.duplicated());
}

TEST(SimNetworkTest, CrashedNodeLosesItsTraffic) {
  std::mt19937_64 rng(3);
  SimNetwork<int> net(&rng);
  net.set_faults({.min_delay = 3, .max_delay = 3});
  net.Send(1, 2, 1, 0);
  net.Send(2, 3, 2, 0);
  net.Send(3, 1, 3, 0);
  net.DropNode(2);
  auto due = net.TakeDue(3);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].msg, 3);
}

}  // namespace
}  // namespace raftlog::sim
