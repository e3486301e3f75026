// SyncPool: a fixed set of worker threads that run one round of jobs (the
// Ready persistence of many Raft groups: writes and fsyncs) in parallel and
// return when all are done. fsync is I/O-bound, so more workers than cores
// let the device see many flushes at once; with one job the caller runs it
// itself (no hand-off latency). The calling thread also takes jobs.
//
// Invariant: RunAll is called by one thread at a time (the node's loop).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace raftlog::broker {

class SyncPool {
 public:
  explicit SyncPool(int threads);  // threads >= 1 (workers besides the caller: threads - 1)
  ~SyncPool();
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  // Runs every job, on the workers and the calling thread; returns when all
  // have finished.
  void RunAll(std::vector<std::function<void()>>& jobs);

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  void WorkerLoop();
  // Takes and runs jobs of the current round until none is left.
  void Drain();

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::vector<std::function<void()>>* jobs_ = nullptr;  // current round
  size_t next_ = 0;                                     // next job to take
  size_t finished_ = 0;                                 // jobs finished this round
  uint64_t round_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace raftlog::broker
