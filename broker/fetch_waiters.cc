// FetchWaiters: see fetch_waiters.h.
#include "broker/fetch_waiters.h"

#include <algorithm>
#include <utility>

namespace raftlog::broker {

FetchWaiters::FetchWaiters(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { Work(); });
}

FetchWaiters::~FetchWaiters() { Stop(); }

void FetchWaiters::Notify(GroupId group) {
  std::lock_guard<std::mutex> l(mu_);
  last_notified_[group] = ++sequence_;
  auto [begin, end] = by_group_.equal_range(group);
  if (begin == end) return;
  std::vector<uint64_t> ids;
  for (auto it = begin; it != end; ++it) ids.push_back(it->second);
  for (uint64_t id : ids) FireLocked(id);
  cv_.notify_all();
}

uint64_t FetchWaiters::Ticket() {
  std::lock_guard<std::mutex> l(mu_);
  return sequence_;
}

bool FetchWaiters::Wait(uint64_t ticket, const std::vector<GroupId>& groups,
                        Clock::time_point deadline, std::function<void()> wake) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return false;
  const bool missed = std::any_of(groups.begin(), groups.end(), [&](GroupId g) {
    auto it = last_notified_.find(g);
    return it != last_notified_.end() && it->second > ticket;
  });
  if (missed || deadline <= Clock::now()) {
    ready_.push_back(std::move(wake));
  } else {
    const uint64_t id = next_id_++;
    for (GroupId g : groups) by_group_.emplace(g, id);
    by_deadline_.emplace(deadline, id);
    waiters_.emplace(id, Waiter{groups, deadline, std::move(wake)});
  }
  cv_.notify_all();
  return true;
}

void FetchWaiters::FireLocked(uint64_t id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Waiter& w = it->second;
  for (GroupId g : w.groups) {
    auto [begin, end] = by_group_.equal_range(g);
    for (auto b = begin; b != end; ++b) {
      if (b->second == id) {
        by_group_.erase(b);
        break;
      }
    }
  }
  by_deadline_.erase({w.deadline, id});
  ready_.push_back(std::move(w.wake));
  waiters_.erase(it);
}

void FetchWaiters::Work() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    if (!ready_.empty()) {
      std::function<void()> wake = std::move(ready_.front());
      ready_.pop_front();
      l.unlock();
      wake();
      wake = nullptr;  // release captures outside the lock
      l.lock();
      continue;
    }
    if (stopping_ && waiters_.empty()) return;
    if (by_deadline_.empty()) {
      cv_.wait(l);
      continue;
    }
    const Clock::time_point next = by_deadline_.begin()->first;
    if (next > Clock::now()) {
      cv_.wait_until(l, next);
      continue;
    }
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= Clock::now()) {
      FireLocked(by_deadline_.begin()->second);
    }
  }
}

void FetchWaiters::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    while (!waiters_.empty()) FireLocked(waiters_.begin()->first);
    cv_.notify_all();
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

size_t FetchWaiters::waiting() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiters_.size();
}

}  // namespace raftlog::broker
