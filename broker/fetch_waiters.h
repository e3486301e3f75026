// FetchWaiters: where long-poll fetches wait for new committed data. A
// waiting fetch holds no thread: it registers a wake-up for the partition
// groups it reads and a deadline; when the high watermark of one of them
// advances (Notify, called from the Node's on_high_watermark hook on the
// loop thread) or the deadline passes, the wake-up runs on this object's
// own worker thread(s), where the fetch reads the logs again and answers or
// waits again. Reading never happens on the node's loop thread.
//
// NO LOST WAKE-UP: a fetch takes a Ticket() BEFORE it reads the high
// watermarks; Wait(ticket, ...) fires at once if any of its groups was
// notified after that ticket, so an advance between the read and the
// registration is never missed.
//
// INVARIANTS: every registered wake-up runs exactly once (notified,
// deadline, or Stop); after Stop() Wait refuses (returns false) and the
// caller answers at once.
//
// THREADS: Notify is cheap and never blocks on a wake-up (it only queues);
// Wait and Ticket from any thread; wake-ups run on the worker threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/transport.h"

namespace raftlog::broker {

class FetchWaiters {
 public:
  using Clock = std::chrono::steady_clock;

  explicit FetchWaiters(int threads = 1);
  ~FetchWaiters();  // Stop()s.
  FetchWaiters(const FetchWaiters&) = delete;
  FetchWaiters& operator=(const FetchWaiters&) = delete;

  // The high watermark of `group` advanced. Any thread; never blocks long.
  void Notify(GroupId group);

  // A position in the stream of notifications, taken before reading.
  uint64_t Ticket();

  // Runs `wake` once, on a worker thread, when one of `groups` is notified
  // after `ticket` (at once if that already happened) or at `deadline`.
  // False (and `wake` is dropped) once stopped.
  bool Wait(uint64_t ticket, const std::vector<GroupId>& groups, Clock::time_point deadline,
            std::function<void()> wake);

  // Runs every pending wake-up now, then joins the workers. Idempotent.
  void Stop();

  size_t waiting() const;  // registered, not yet fired (tests)

 private:
  struct Waiter {
    std::vector<GroupId> groups;
    Clock::time_point deadline;
    std::function<void()> wake;
  };
  // Moves waiter `id` to the ready queue. Requires mu_.
  void FireLocked(uint64_t id);
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t sequence_ = 0;                                // notifications so far
  std::unordered_map<GroupId, uint64_t> last_notified_;  // group -> sequence of its last Notify
  uint64_t next_id_ = 1;
  std::map<uint64_t, Waiter> waiters_;                   // by id
  std::unordered_multimap<GroupId, uint64_t> by_group_;  // group -> waiter ids
  std::set<std::pair<Clock::time_point, uint64_t>> by_deadline_;
  std::deque<std::function<void()>> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace raftlog::broker
