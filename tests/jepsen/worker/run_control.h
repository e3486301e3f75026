// RunControl: how a workload mode of jepsen_worker learns that it must stop
// starting operations (--duration-ms elapsed, SIGTERM/SIGINT) and how long it
// may still drain (--drain-ms), plus a Pacer for --rate.
//
// INVARIANTS: once Stopping() is true it stays true; every wait here ends by
// the time given or at RequestStop(), whichever is first, so a mode's loop
// that waits only through these is bounded.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace raftlog::jepsen {

using Clock = std::chrono::steady_clock;

class RunControl {
 public:
  RunControl(std::chrono::milliseconds duration, std::chrono::milliseconds drain)
      : start_(Clock::now()), stop_at_(start_ + duration), drain_(drain) {}

  // When new operations stop (unless a signal comes first).
  Clock::time_point stop_at() const { return stop_at_; }

  bool Stopping() const { return stopping_.load(); }
  // Idempotent; the first reason is kept. Wakes every SleepUntil.
  void RequestStop(const std::string& reason) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_.load()) return;
      reason_ = reason;
      drain_deadline_ = Clock::now() + drain_;
      stopping_.store(true);
    }
    cv_.notify_all();
  }
  std::string stop_reason() const {
    std::lock_guard<std::mutex> l(mu_);
    return reason_;
  }
  // When draining ends (valid once Stopping()).
  Clock::time_point drain_deadline() const {
    std::lock_guard<std::mutex> l(mu_);
    return drain_deadline_;
  }

  // Sleeps until `t`, the stop time or RequestStop(); false when stopping.
  bool SleepUntil(Clock::time_point t) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_until(l, std::min(t, stop_at_), [&] { return stopping_.load(); });
    if (Clock::now() >= stop_at_ && !stopping_.load()) {
      l.unlock();
      RequestStop("duration elapsed");
      return false;
    }
    return !stopping_.load();
  }
  bool SleepFor(std::chrono::milliseconds d) { return SleepUntil(Clock::now() + d); }

 private:
  const Clock::time_point start_;
  const Clock::time_point stop_at_;
  const std::chrono::milliseconds drain_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::string reason_;
  Clock::time_point drain_deadline_{};
};

// Spaces operations `1/rate` apart; after a stall it does not burst to
// catch up by more than one second's worth.
class Pacer {
 public:
  explicit Pacer(double rate)
      : interval_(
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate))),
        next_(Clock::now()) {}

  // Waits for the next slot; false when the run is stopping.
  bool Wait(RunControl& control) {
    const Clock::time_point now = Clock::now();
    if (next_ < now - std::chrono::seconds(1)) next_ = now - std::chrono::seconds(1);
    if (!control.SleepUntil(next_)) return false;
    next_ += interval_;
    return true;
  }

 private:
  const Clock::duration interval_;
  Clock::time_point next_;
};

}  // namespace raftlog::jepsen
