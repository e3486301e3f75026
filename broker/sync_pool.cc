// SyncPool: see sync_pool.h.
#include "broker/sync_pool.h"

namespace raftlog::broker {

SyncPool::SyncPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

SyncPool::~SyncPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void SyncPool::RunAll(std::vector<std::function<void()>>& jobs) {
  if (jobs.empty()) return;
  if (jobs.size() == 1 || workers_.empty()) {
    for (auto& j : jobs) j();
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    jobs_ = &jobs;
    next_ = 0;
    finished_ = 0;
    ++round_;
  }
  work_cv_.notify_all();
  Drain();
  std::unique_lock<std::mutex> l(mu_);
  done_cv_.wait(l, [&] { return finished_ == jobs.size(); });
  jobs_ = nullptr;
}

void SyncPool::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  while (jobs_ != nullptr && next_ < jobs_->size()) {
    std::function<void()>& job = (*jobs_)[next_++];
    l.unlock();
    job();
    l.lock();
    if (++finished_ == jobs_->size()) done_cv_.notify_all();
  }
}

void SyncPool::WorkerLoop() {
  uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || (round_ != seen && jobs_ != nullptr); });
      if (stop_) return;
      seen = round_;
    }
    Drain();
  }
}

}  // namespace raftlog::broker
