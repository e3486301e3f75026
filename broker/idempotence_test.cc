// Idempotent producers on three in-process nodes: a retried batch is
// answered with its original offsets and stored once — when the first
// attempt is committed, still pending, timed out but alive, on a new leader
// after the old one died, and after every node restarted — a request that
// repeats a prefix and adds new batches stores only the new ones, and
// out-of-order sequences and fenced epochs are refused.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "broker/local_cluster_test_util.h"
#include "broker/node.h"
#include "gtest/gtest.h"
#include "storage/record_batch_builder.h"
#include "storage/record_batch_reader.h"

namespace raftlog::broker {
namespace {

using testing::LocalCluster;
using testing::WaitFor;
using namespace std::chrono_literals;

constexpr GroupId kGroup = 1;

// A batch of `records` records from producer `pid`/`epoch` starting at
// sequence `seq`.
std::string Batch(int64_t pid, int16_t epoch, int32_t seq, int records) {
  storage::BatchBuilder b;
  b.set_producer(pid, epoch, seq);
  for (int i = 0; i < records; ++i) {
    const std::string v = "p" + std::to_string(pid) + "-s" + std::to_string(seq + i);
    b.Add(std::nullopt, v, 1000 + i);
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = b.Build();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return std::string(bytes->begin(), bytes->end());
}

class IdempotenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Elections take 0.6-1.2 s: a leader cut off for a few hundred ms keeps
    // its leadership, so its proposals stay pending, not lost.
    c_.Tweak([](NodeOptions& o) { o.election_ticks = 60; });
    for (uint64_t id = 1; id <= 3; ++id) c_.Start(id);
    c_.EnsureGroupEverywhere(kGroup);
    leader_ = c_.WaitForLeader(kGroup);
  }

  absl::StatusOr<ProposeResult> Propose(uint64_t on, std::vector<std::string> batches,
                                        std::chrono::milliseconds timeout = 10s) {
    auto p = std::make_shared<std::promise<absl::StatusOr<ProposeResult>>>();
    auto f = p->get_future();
    c_.node(on)->Propose(
        kGroup, std::move(batches), [p](auto r) { p->set_value(std::move(r)); }, timeout);
    if (f.wait_for(20s) != std::future_status::ready) return absl::DeadlineExceededError("hung");
    return f.get();
  }

  // Retries while the (new) leader is not ready; returns the first other answer.
  absl::StatusOr<ProposeResult> ProposeWhenReady(std::vector<std::string> batches) {
    absl::StatusOr<ProposeResult> r = absl::UnavailableError("not tried");
    for (int i = 0; i < 200; ++i) {
      leader_ = c_.WaitForLeader(kGroup);
      r = Propose(leader_, batches);
      if (!absl::IsUnavailable(r.status()) && !absl::IsFailedPrecondition(r.status())) return r;
      std::this_thread::sleep_for(50ms);
    }
    return r;
  }

  // Records committed on node `id`.
  size_t CommittedRecords(uint64_t id) {
    std::string bytes = c_.Committed(id, kGroup);
    size_t n = 0;
    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    while (!rest.empty()) {
      absl::StatusOr<size_t> size = storage::BatchSize(rest);
      if (!size.ok()) break;
      absl::StatusOr<std::vector<storage::Record>> r = storage::DecodeBatch(rest.first(*size));
      EXPECT_TRUE(r.ok());
      n += r.ok() ? r->size() : 0;
      rest = rest.subspan(*size);
    }
    return n;
  }

  LocalCluster c_{3};
  uint64_t leader_ = 0;
};

TEST_F(IdempotenceTest, ARetryOfACommittedBatchGetsItsOffsetsAndIsStoredOnce) {
  absl::StatusOr<ProposeResult> a = Propose(leader_, {Batch(7, 0, 0, 3)});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->base_offsets, std::vector<int64_t>{0});
  absl::StatusOr<ProposeResult> again = Propose(leader_, {Batch(7, 0, 0, 3)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->base_offsets, std::vector<int64_t>{0});
  // A repeated prefix plus a new batch: only the new one is stored.
  absl::StatusOr<ProposeResult> mixed = Propose(leader_, {Batch(7, 0, 0, 3), Batch(7, 0, 3, 2)});
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->base_offsets, (std::vector<int64_t>{0, 3}));
  ASSERT_TRUE(WaitFor([&] { return c_.node(leader_)->FindGroup(kGroup)->high_watermark() == 5; }));
  EXPECT_EQ(CommittedRecords(leader_), 5u);
}

TEST_F(IdempotenceTest, OutOfOrderSequencesAndFencedEpochsAreRefused) {
  ASSERT_TRUE(Propose(leader_, {Batch(7, 1, 0, 3)}).ok());
  absl::StatusOr<ProposeResult> gap = Propose(leader_, {Batch(7, 1, 10, 1)});
  EXPECT_TRUE(absl::IsOutOfRange(gap.status())) << gap.status();
  EXPECT_NE(gap.status().message().find("OUT_OF_ORDER_SEQUENCE_NUMBER"), std::string::npos);
  absl::StatusOr<ProposeResult> fenced = Propose(leader_, {Batch(7, 0, 3, 1)});
  EXPECT_TRUE(absl::IsPermissionDenied(fenced.status())) << fenced.status();
  // Other producers and non-idempotent batches are unaffected.
  EXPECT_TRUE(Propose(leader_, {Batch(8, 0, 0, 1)}).ok());
  EXPECT_TRUE(Propose(leader_, {Batch(-1, -1, -1, 1)}).ok());
}

TEST_F(IdempotenceTest, ARetryWhileTheFirstAttemptIsPendingWaitsForIt) {
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader_) c_.Cut(leader_, id);
  }
  auto first =
      std::async(std::launch::async, [&] { return Propose(leader_, {Batch(5, 0, 0, 2)}); });
  std::this_thread::sleep_for(100ms);
  auto retry =
      std::async(std::launch::async, [&] { return Propose(leader_, {Batch(5, 0, 0, 2)}); });
  std::this_thread::sleep_for(100ms);
  c_.HealAll();
  absl::StatusOr<ProposeResult> a = first.get(), b = retry.get();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->base_offsets, b->base_offsets);
  ASSERT_TRUE(WaitFor([&] { return c_.node(leader_)->FindGroup(kGroup)->high_watermark() == 2; }));
  EXPECT_EQ(CommittedRecords(leader_), 2u);
}

TEST_F(IdempotenceTest, ARetryAfterATimeoutIsNotStoredWhileTheFirstMayStillCommit) {
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != leader_) c_.Cut(leader_, id);
  }
  absl::StatusOr<ProposeResult> timed_out = Propose(leader_, {Batch(5, 0, 0, 2)}, 200ms);
  EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out.status())) << timed_out.status();
  absl::StatusOr<ProposeResult> early = Propose(leader_, {Batch(5, 0, 0, 2)});
  EXPECT_TRUE(absl::IsUnavailable(early.status())) << early.status();
  c_.HealAll();
  absl::StatusOr<ProposeResult> later = ProposeWhenReady({Batch(5, 0, 0, 2)});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->base_offsets, std::vector<int64_t>{0});
  ASSERT_TRUE(WaitFor([&] { return c_.node(leader_)->FindGroup(kGroup)->high_watermark() == 2; }));
  EXPECT_EQ(CommittedRecords(leader_), 2u);
}

TEST_F(IdempotenceTest, ANewLeaderRecognisesARetry) {
  ASSERT_TRUE(Propose(leader_, {Batch(9, 0, 0, 4)}).ok());
  const uint64_t old = leader_;
  ASSERT_TRUE(WaitFor([&] {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (c_.node(id)->FindGroup(kGroup)->high_watermark() != 4) return false;
    }
    return true;
  }));
  c_.Kill(old);
  absl::StatusOr<ProposeResult> retry = ProposeWhenReady({Batch(9, 0, 0, 4)});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_NE(leader_, old);
  EXPECT_EQ(retry->base_offsets, std::vector<int64_t>{0});
  absl::StatusOr<ProposeResult> next = ProposeWhenReady({Batch(9, 0, 4, 1)});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->base_offsets, std::vector<int64_t>{4});
}

TEST_F(IdempotenceTest, AfterEveryNodeRestartedARetryIsStillRecognised) {
  ASSERT_TRUE(Propose(leader_, {Batch(3, 0, 0, 2), Batch(3, 0, 2, 2)}).ok());
  ASSERT_TRUE(WaitFor([&] {
    for (uint64_t id = 1; id <= 3; ++id) {
      if (c_.node(id)->FindGroup(kGroup)->high_watermark() != 4) return false;
    }
    return true;
  }));
  for (uint64_t id = 1; id <= 3; ++id) c_.Kill(id);
  for (uint64_t id = 1; id <= 3; ++id) c_.Start(id);
  absl::StatusOr<ProposeResult> retry = ProposeWhenReady({Batch(3, 0, 2, 2)});
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->base_offsets, std::vector<int64_t>{2});
  EXPECT_EQ(CommittedRecords(leader_), 4u);
}

}  // namespace
}  // namespace raftlog::broker
