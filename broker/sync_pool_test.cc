// SyncPool: every job of a round runs exactly once, in parallel, and RunAll
// returns only when all have finished; rounds can follow each other.
#include "broker/sync_pool.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

TEST(SyncPoolTest, RunsEveryJobOnceAndWaitsForAll) {
  SyncPool pool(4);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> ran(37);
    std::vector<std::function<void()>> jobs;
    for (size_t i = 0; i < ran.size(); ++i) jobs.push_back([&ran, i] { ran[i]++; });
    pool.RunAll(jobs);
    for (size_t i = 0; i < ran.size(); ++i) ASSERT_EQ(ran[i].load(), 1) << "job " << i;
  }
}

TEST(SyncPoolTest, BlockingJobsOverlap) {
  // 8 jobs that each sleep 50 ms finish in far less than 400 ms on 8 threads:
  // the pool exists so that fsyncs of many groups wait on the disk together.
  SyncPool pool(8);
  std::atomic<int> concurrent{0}, peak{0};
  std::vector<std::function<void()>> jobs;
  for (int i = 0; i < 8; ++i) {
    jobs.push_back([&] {
      const int now = ++concurrent;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      --concurrent;
    });
  }
  pool.RunAll(jobs);
  EXPECT_GE(peak.load(), 2);
  EXPECT_EQ(concurrent.load(), 0);
}

TEST(SyncPoolTest, SingleThreadPoolRunsInline) {
  SyncPool pool(1);
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  std::vector<std::function<void()>> jobs{[&] { ran_on = std::this_thread::get_id(); }};
  pool.RunAll(jobs);
  EXPECT_EQ(ran_on, caller);
}

}  // namespace
}  // namespace raftlog::broker
