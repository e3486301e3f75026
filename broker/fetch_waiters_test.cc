// FetchWaiters: a waiter fires once when one of its groups is notified, at
// its deadline when nothing comes, at once when a notification slipped in
// between its ticket and its registration, and on Stop; after Stop, Wait
// refuses.
#include "broker/fetch_waiters.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using namespace std::chrono_literals;
using Clock = FetchWaiters::Clock;

// A wake-up that can be awaited from the test thread.
struct Fired {
  std::shared_ptr<std::promise<void>> p = std::make_shared<std::promise<void>>();
  std::shared_future<void> f = p->get_future().share();
  std::shared_ptr<std::atomic<int>> count = std::make_shared<std::atomic<int>>(0);
  std::function<void()> Callback() {
    return [p = p, count = count] {
      if (count->fetch_add(1) == 0) p->set_value();
    };
  }
  bool WaitFor(std::chrono::milliseconds d) { return f.wait_for(d) == std::future_status::ready; }
};

TEST(FetchWaitersTest, NotifyOfOneOfItsGroupsWakesTheWaiterOnce) {
  FetchWaiters w;
  Fired a, b;
  const uint64_t t = w.Ticket();
  ASSERT_TRUE(w.Wait(t, {1, 2}, Clock::now() + 30s, a.Callback()));
  ASSERT_TRUE(w.Wait(t, {3}, Clock::now() + 30s, b.Callback()));
  EXPECT_EQ(w.waiting(), 2u);
  w.Notify(7);  // nobody waits on 7
  EXPECT_FALSE(a.WaitFor(20ms));
  w.Notify(2);
  ASSERT_TRUE(a.WaitFor(5s));
  w.Notify(1);
  w.Notify(2);
  EXPECT_EQ(w.waiting(), 1u);
  EXPECT_FALSE(b.WaitFor(20ms));
  w.Stop();
  EXPECT_EQ(*a.count, 1);
  EXPECT_EQ(*b.count, 1);  // Stop fired it
}

TEST(FetchWaitersTest, DeadlineFiresWhenNothingComes) {
  FetchWaiters w;
  Fired a;
  ASSERT_TRUE(w.Wait(w.Ticket(), {1}, Clock::now() + 50ms, a.Callback()));
  ASSERT_TRUE(a.WaitFor(5s));
  EXPECT_EQ(w.waiting(), 0u);
}

TEST(FetchWaitersTest, ANotificationAfterTheTicketIsNotLost) {
  FetchWaiters w;
  const uint64_t t = w.Ticket();
  w.Notify(4);  // between the read and the registration
  Fired a;
  ASSERT_TRUE(w.Wait(t, {4}, Clock::now() + 30s, a.Callback()));
  ASSERT_TRUE(a.WaitFor(5s));
  // A notification of another group does not count.
  Fired b;
  const uint64_t t2 = w.Ticket();
  w.Notify(5);
  ASSERT_TRUE(w.Wait(t2, {4}, Clock::now() + 30s, b.Callback()));
  EXPECT_FALSE(b.WaitFor(20ms));
  EXPECT_EQ(w.waiting(), 1u);
}

TEST(FetchWaitersTest, AfterStopWaitRefuses) {
  FetchWaiters w;
  w.Stop();
  Fired a;
  EXPECT_FALSE(w.Wait(w.Ticket(), {1}, Clock::now() + 30s, a.Callback()));
  EXPECT_EQ(*a.count, 0);
  w.Stop();  // idempotent
}

}  // namespace
}  // namespace raftlog::broker
