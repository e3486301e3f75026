// Unit tests for the linearizability checker: hand-made histories that are
// linearizable must pass, the classic anomalies must fail with an explanation
// that names the offending operation, and a hopeless search must say
// "unknown" instead of hanging.
#include "tests/sim/linearizability.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace raftlog::sim {
namespace {

using ::testing::HasSubstr;
constexpr int64_t kNever = KvOp::kNeverCompleted;

LinearizabilityVerdict Verdict(const std::vector<KvOp>& h) {
  return CheckKvLinearizable(h).verdict;
}

TEST(LinearizabilityTest, EmptyHistoryIsLinearizable) {
  EXPECT_EQ(Verdict({}), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, SequentialPutGet) {
  std::vector<KvOp> h = {
      MakeGet(1, "k", std::nullopt, 0, 1), MakePut(1, "k", "a", 2, 3), MakeGet(1, "k", "a", 4, 5),
      MakePut(1, "k", "b", 6, 7),          MakeGet(1, "k", "b", 8, 9),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, ConcurrentReadMaySeeOldOrNew) {
  // put(b) overlaps both reads: one sees a, a later one sees b. Fine.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(2, "k", "b", 2, 10),
      MakeGet(3, "k", "a", 3, 4),
      MakeGet(3, "k", "b", 5, 6),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, ConcurrentReadsDisagreeingOnOrderAreFine) {
  // Two concurrent puts; reads after both completed must agree, reads during
  // may each see either.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 10), MakePut(2, "k", "b", 0, 10),  MakeGet(3, "k", "b", 1, 2),
      MakeGet(4, "k", "a", 3, 4),  MakeGet(3, "k", "a", 11, 12),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, StaleReadFails) {
  // b was acknowledged before the read began, yet the read returns a.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(1, "k", "b", 2, 3),
      MakeGet(2, "k", "a", 4, 5),
  };
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_THAT(r.explanation, HasSubstr("key \"k\""));
  EXPECT_THAT(r.explanation,
              HasSubstr("c2 get(k) -> a [4, 5]: reads \"a\" but the register holds \"b\""));
}

TEST(LinearizabilityTest, LostWriteFails) {
  // An acknowledged write is not visible afterwards: the read sees absent.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakeGet(2, "k", std::nullopt, 2, 3),
  };
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_THAT(r.explanation, HasSubstr("reads absent but the register holds \"a\""));
}

TEST(LinearizabilityTest, ReadOfNeverWrittenValueFails) {
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 5),
      MakeGet(2, "k", "zzz", 1, 6),
  };
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_THAT(r.explanation, HasSubstr("reads \"zzz\""));
}

TEST(LinearizabilityTest, ReadValueBeforeItsWriteWasInvokedFails) {
  // The read completed before the put was even invoked.
  std::vector<KvOp> h = {
      MakeGet(2, "k", "a", 0, 1),
      MakePut(1, "k", "a", 2, 3),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kNotLinearizable);
}

TEST(LinearizabilityTest, RealTimeOrderViolationAcrossReadersFails) {
  // Reader 2 saw the new value, then (strictly later) reader 3 saw the old
  // one while the write was still in flight: that is a new-old inversion.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(1, "k", "b", 2, 100),
      MakeGet(2, "k", "b", 3, 4),
      MakeGet(3, "k", "a", 5, 6),
  };
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_THAT(r.explanation, HasSubstr("c3 get(k) -> a"));
}

TEST(LinearizabilityTest, SameReadsOverlappingAreFine) {
  // Same as above but the two reads overlap: b-then-a is impossible, a-then-b
  // is possible because the reads are concurrent.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(1, "k", "b", 2, 100),
      MakeGet(2, "k", "b", 3, 6),
      MakeGet(3, "k", "a", 5, 7),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, PendingWriteMayTakeEffectLate) {
  // The put never completed (timed out) yet its value is read much later.
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),   MakePut(2, "k", "b", 2, kNever), MakeGet(3, "k", "a", 10, 11),
      MakeGet(3, "k", "b", 50, 51), MakeGet(3, "k", "b", 60, 61),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, PendingWriteMayNeverTakeEffect) {
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(2, "k", "b", 2, kNever),
      MakeGet(3, "k", "a", 100, 101),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, PendingWriteCannotTakeEffectBeforeInvocation) {
  std::vector<KvOp> h = {
      MakeGet(3, "k", "b", 0, 1),
      MakePut(2, "k", "b", 2, kNever),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kNotLinearizable);
}

TEST(LinearizabilityTest, PendingWriteTakesEffectOnlyOnce) {
  // b appears, is overwritten by c, then b appears again: a single write of
  // b cannot explain both reads.
  std::vector<KvOp> h = {
      MakePut(2, "k", "b", 0, kNever),
      MakeGet(3, "k", "b", 10, 11),
      MakePut(1, "k", "c", 12, 13),
      MakeGet(3, "k", "b", 14, 15),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kNotLinearizable);
}

TEST(LinearizabilityTest, CasSemantics) {
  std::vector<KvOp> ok = {
      MakeCas(1, "k", std::nullopt, "a", CasOutcome::kSwapped, 0, 1),
      MakeCas(2, "k", std::nullopt, "b", CasOutcome::kNotSwapped, 2, 3),
      MakeCas(2, "k", "a", "c", CasOutcome::kSwapped, 4, 5),
      MakeGet(1, "k", "c", 6, 7),
  };
  EXPECT_EQ(Verdict(ok), LinearizabilityVerdict::kLinearizable);

  std::vector<KvOp> two_winners = {
      MakePut(1, "k", "a", 0, 1),
      MakeCas(2, "k", "a", "b", CasOutcome::kSwapped, 2, 10),
      MakeCas(3, "k", "a", "c", CasOutcome::kSwapped, 2, 10),
  };
  EXPECT_EQ(Verdict(two_winners), LinearizabilityVerdict::kNotLinearizable);

  // A failed cas must have seen a value other than its expected one; a
  // pending put of an unobserved value is the only way to explain it.
  std::vector<KvOp> needs_pending = {
      MakePut(1, "k", "a", 0, 1),
      MakePut(2, "k", "x", 2, kNever),
      MakeCas(3, "k", "a", "c", CasOutcome::kNotSwapped, 5, 6),
  };
  EXPECT_EQ(Verdict(needs_pending), LinearizabilityVerdict::kLinearizable);
  needs_pending.erase(needs_pending.begin() + 1);
  EXPECT_EQ(Verdict(needs_pending), LinearizabilityVerdict::kNotLinearizable);
}

TEST(LinearizabilityTest, PendingCasMayGoEitherWay) {
  std::vector<KvOp> h = {
      MakePut(1, "k", "a", 0, 1),
      MakeCas(2, "k", "a", "b", CasOutcome::kUnknown, 2, kNever),
      MakeGet(3, "k", "a", 3, 4),
      MakeGet(3, "k", "b", 5, 6),
  };
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kLinearizable);
}

TEST(LinearizabilityTest, KeysAreIndependent) {
  std::vector<KvOp> h = {
      MakePut(1, "x", "a", 0, 1), MakePut(1, "y", "b", 2, 3), MakeGet(2, "x", "a", 4, 5),
      MakeGet(2, "y", std::nullopt, 6, 7),  // lost write on y only
  };
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_THAT(r.explanation, HasSubstr("key \"y\""));
}

TEST(LinearizabilityTest, BudgetExhaustionReportsUnknown) {
  // Many concurrent writes with a final impossible read: the search must
  // explore a large space, and a tiny budget makes it give up.
  std::vector<KvOp> h;
  for (int i = 0; i < 10; ++i) h.push_back(MakePut(i, "k", "v" + std::to_string(i), 0, 100));
  h.push_back(MakeGet(99, "k", "never", 101, 102));
  LinearizabilityOptions tiny;
  tiny.max_steps_per_key = 50;
  LinearizabilityResult r = CheckKvLinearizable(h, tiny);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kUnknown);
  EXPECT_THAT(r.explanation, HasSubstr("k"));
  // With the default budget memoization settles it.
  EXPECT_EQ(Verdict(h), LinearizabilityVerdict::kNotLinearizable);
}

TEST(LinearizabilityTest, ManyUnobservedPendingWritesStayCheap) {
  // 40 timed-out puts nobody ever reads. A failed cas needs one of them to
  // have taken effect; which one does not matter, and the search must not
  // try all 2^40 subsets to find that out.
  std::vector<KvOp> h = {MakePut(1, "k", "a", 0, 1)};
  for (int i = 0; i < 40; ++i) {
    h.push_back(MakePut(100 + i, "k", "lost" + std::to_string(i), 2 + i, kNever));
  }
  h.push_back(MakeCas(2, "k", "a", "c", CasOutcome::kNotSwapped, 50, 51));
  h.push_back(MakePut(3, "k", "d", 70, 71));
  h.push_back(MakeGet(3, "k", "d", 72, 73));
  LinearizabilityResult ok = CheckKvLinearizable(h);
  EXPECT_EQ(ok.verdict, LinearizabilityVerdict::kLinearizable);
  EXPECT_LT(ok.steps, 10000);
  // Now a read after the failed cas sees "a" again: no single junk write
  // can explain both, whichever of the 40 it is.
  h.push_back(MakeGet(4, "k", "a", 52, 53));
  LinearizabilityResult bad = CheckKvLinearizable(h);
  EXPECT_EQ(bad.verdict, LinearizabilityVerdict::kNotLinearizable);
  EXPECT_LT(bad.steps, 100000);
}

TEST(LinearizabilityTest, LongSequentialHistoryIsFast) {
  std::vector<KvOp> h;
  for (int i = 0; i < 2000; ++i) {
    h.push_back(MakePut(1, "k", "v" + std::to_string(i), 4 * i, 4 * i + 1));
    h.push_back(MakeGet(2, "k", "v" + std::to_string(i), 4 * i + 2, 4 * i + 3));
  }
  LinearizabilityResult r = CheckKvLinearizable(h);
  EXPECT_EQ(r.verdict, LinearizabilityVerdict::kLinearizable);
  EXPECT_LE(r.steps, 8000);
}

// Reference verdict by brute force: every order of every op (pending ones
// included; "never took effect" is the same as "took effect last"), every
// outcome of every unknown cas.
bool BruteForceLinearizable(const std::vector<KvOp>& h) {
  std::vector<int> order(h.size());
  for (size_t i = 0; i < h.size(); ++i) order[i] = static_cast<int>(i);
  do {
    bool real_time_ok = true;
    for (size_t a = 0; a < order.size() && real_time_ok; ++a) {
      for (size_t b = a + 1; b < order.size(); ++b) {
        if (h[order[b]].complete < h[order[a]].invoke) real_time_ok = false;
      }
    }
    if (!real_time_ok) continue;
    const int unknown_bits = 1 << h.size();
    for (int outcomes = 0; outcomes < unknown_bits; ++outcomes) {
      std::map<std::string, std::optional<std::string>> state;
      bool ok = true;
      for (int i : order) {
        const KvOp& op = h[i];
        std::optional<std::string>& v = state[op.key];
        if (op.kind == KvOpKind::kPut) {
          v = op.value;
        } else if (op.kind == KvOpKind::kGet) {
          if (op.completed() && op.read != v) ok = false;
        } else {
          CasOutcome o = op.completed() ? op.cas_outcome : CasOutcome::kUnknown;
          if (o == CasOutcome::kUnknown) {
            o = (outcomes >> i) & 1 ? CasOutcome::kSwapped : CasOutcome::kNotSwapped;
          }
          if ((o == CasOutcome::kSwapped) != (v == op.expected)) ok = false;
          if (o == CasOutcome::kSwapped) v = op.value;
        }
        if (!ok) break;
      }
      if (ok) return true;
    }
  } while (std::next_permutation(order.begin(), order.end()));
  return false;
}

TEST(LinearizabilityTest, AgreesWithBruteForceOnRandomHistories) {
  std::mt19937_64 rng(12345);
  int linearizable = 0;
  int not_linearizable = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<KvOp> h;
    const int n = 2 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      const int64_t invoke = static_cast<int64_t>(rng() % 10);
      const int64_t complete =
          rng() % 4 == 0 ? KvOp::kNeverCompleted : invoke + 1 + static_cast<int64_t>(rng() % 6);
      const std::string key = rng() % 4 == 0 ? "y" : "x";
      auto val = [&]() -> std::optional<std::string> {
        if (rng() % 4 == 0) return std::nullopt;
        return "v" + std::to_string(rng() % 3);
      };
      switch (rng() % 3) {
        case 0:
          h.push_back(MakePut(i, key, "v" + std::to_string(rng() % 3), invoke, complete));
          break;
        case 1:
          h.push_back(MakeGet(i, key, val(), invoke, complete));
          break;
        default:
          h.push_back(MakeCas(i, key, val(), "v" + std::to_string(rng() % 3),
                              rng() % 2 ? CasOutcome::kSwapped : CasOutcome::kNotSwapped, invoke,
                              complete));
          break;
      }
    }
    const bool expected = BruteForceLinearizable(h);
    const LinearizabilityVerdict v = Verdict(h);
    ASSERT_NE(v, LinearizabilityVerdict::kUnknown);
    std::string dump;
    for (const KvOp& op : h) dump += "  " + op.Describe() + "\n";
    ASSERT_EQ(v == LinearizabilityVerdict::kLinearizable, expected) << "trial " << trial << ":\n"
                                                                    << dump;
    (expected ? linearizable : not_linearizable)++;
  }
  // Both verdicts well represented, or the comparison proves little.
  EXPECT_GT(linearizable, 300);
  EXPECT_GT(not_linearizable, 300);
}

TEST(LinearizabilityTest, DescribeFormats) {
  EXPECT_EQ(MakePut(3, "k1", "v7", 10, 25).Describe(), "c3 put(k1, v7) [10, 25]");
  EXPECT_EQ(MakeGet(1, "k", std::nullopt, 1, 2).Describe(), "c1 get(k) -> absent [1, 2]");
  EXPECT_EQ(MakePut(3, "k", "v", 10, kNever).Describe(), "c3 put(k, v) [10, ?]");
}

}  // namespace
}  // namespace raftlog::sim
