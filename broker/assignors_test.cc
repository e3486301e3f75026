// Assignors: Kafka's documented examples for range and roundrobin, balance
// and stickiness of sticky, and for every assignor over random inputs the
// invariants of assignors.h (each partition of a subscribed topic to exactly
// one subscribed member, nothing else, determinism whatever the input order).
#include "broker/assignors.h"

#include <algorithm>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

AssignorMember M(std::string id, std::vector<std::string> topics, TopicAssignment owned = {}) {
  return AssignorMember{std::move(id), std::move(topics), std::move(owned)};
}

GroupAssignment MustAssign(const std::string& a, const std::vector<AssignorMember>& members,
                           const std::map<std::string, int32_t>& counts) {
  absl::StatusOr<GroupAssignment> r = Assign(a, members, counts);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : GroupAssignment{};
}

size_t Count(const TopicAssignment& t) {
  size_t n = 0;
  for (const auto& [topic, ps] : t) n += ps.size();
  return n;
}

// Checks the invariants of assignors.h.
void ExpectValid(const GroupAssignment& a, const std::vector<AssignorMember>& members,
                 const std::map<std::string, int32_t>& counts) {
  std::map<std::string, std::set<std::string>> subs;
  std::set<std::string> subscribed;
  for (const auto& m : members) {
    subs[m.member_id] = std::set<std::string>(m.topics.begin(), m.topics.end());
    subscribed.insert(m.topics.begin(), m.topics.end());
  }
  ASSERT_EQ(a.size(), members.size());
  std::set<std::pair<std::string, int32_t>> seen;
  for (const auto& [member, topics] : a) {
    ASSERT_TRUE(subs.count(member)) << member;
    for (const auto& [topic, parts] : topics) {
      EXPECT_TRUE(subs[member].count(topic)) << member << " got unsubscribed " << topic;
      for (int32_t p : parts) {
        EXPECT_TRUE(seen.emplace(topic, p).second) << topic << "-" << p << " assigned twice";
        EXPECT_LT(p, counts.at(topic));
      }
    }
  }
  size_t expected = 0;
  for (const std::string& t : subscribed) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) expected += it->second;
  }
  EXPECT_EQ(seen.size(), expected);
}

TEST(AssignorsTest, RangeKafkaExample) {
  // RangeAssignor's javadoc: C0 and C1 on t0 and t1 with 3 partitions each.
  GroupAssignment a = MustAssign(kRangeAssignor, {M("C1", {"t0", "t1"}), M("C0", {"t0", "t1"})},
                                 {{"t0", 3}, {"t1", 3}});
  EXPECT_EQ(a["C0"], (TopicAssignment{{"t0", {0, 1}}, {"t1", {0, 1}}}));
  EXPECT_EQ(a["C1"], (TopicAssignment{{"t0", {2}}, {"t1", {2}}}));
}

TEST(AssignorsTest, RangeMoreMembersThanPartitions) {
  GroupAssignment a =
      MustAssign(kRangeAssignor, {M("a", {"t"}), M("b", {"t"}), M("c", {"t"})}, {{"t", 2}});
  EXPECT_EQ(a["a"], (TopicAssignment{{"t", {0}}}));
  EXPECT_EQ(a["b"], (TopicAssignment{{"t", {1}}}));
  EXPECT_THAT(a["c"], IsEmpty());
}

TEST(AssignorsTest, RoundRobinKafkaExamples) {
  // Identical subscriptions.
  GroupAssignment a = MustAssign(
      kRoundRobinAssignor, {M("C0", {"t0", "t1"}), M("C1", {"t0", "t1"})}, {{"t0", 3}, {"t1", 3}});
  EXPECT_EQ(a["C0"], (TopicAssignment{{"t0", {0, 2}}, {"t1", {1}}}));
  EXPECT_EQ(a["C1"], (TopicAssignment{{"t0", {1}}, {"t1", {0, 2}}}));
  // RoundRobinAssignor's javadoc with different subscriptions.
  GroupAssignment b = MustAssign(
      kRoundRobinAssignor, {M("C2", {"t0", "t1", "t2"}), M("C0", {"t0"}), M("C1", {"t0", "t1"})},
      {{"t0", 1}, {"t1", 2}, {"t2", 3}});
  EXPECT_EQ(b["C0"], (TopicAssignment{{"t0", {0}}}));
  EXPECT_EQ(b["C1"], (TopicAssignment{{"t1", {0}}}));
  EXPECT_EQ(b["C2"], (TopicAssignment{{"t1", {1}}, {"t2", {0, 1, 2}}}));
}

TEST(AssignorsTest, UnknownTopicsAndAssignor) {
  GroupAssignment a = MustAssign(kRangeAssignor, {M("a", {"missing"}), M("b", {"t"})}, {{"t", 1}});
  EXPECT_THAT(a["a"], IsEmpty());
  EXPECT_EQ(a["b"], (TopicAssignment{{"t", {0}}}));
  EXPECT_FALSE(Assign("cooperative-magic", {M("a", {"t"})}, {{"t", 1}}).ok());
  EXPECT_FALSE(Assign(kRangeAssignor, {M("a", {"t"}), M("a", {"t"})}, {{"t", 1}}).ok());
}

TEST(AssignorsTest, StickyIsBalancedAndKeepsOwnedPartitions) {
  const std::map<std::string, int32_t> counts{{"t", 6}, {"u", 3}};
  // Three members from scratch: 3 each.
  std::vector<AssignorMember> three{M("a", {"t", "u"}), M("b", {"t", "u"}), M("c", {"t", "u"})};
  GroupAssignment first = MustAssign(kStickyAssignor, three, counts);
  ExpectValid(first, three, counts);
  for (const auto& [m, t] : first) EXPECT_EQ(Count(t), 3u) << m;

  // c leaves: a and b keep all they had, c's 3 partitions are split 2/1.
  std::vector<AssignorMember> two{M("a", {"t", "u"}, first["a"]), M("b", {"t", "u"}, first["b"])};
  GroupAssignment second = MustAssign(kStickyAssignor, two, counts);
  ExpectValid(second, two, counts);
  for (const std::string id : {"a", "b"}) {
    for (const auto& [topic, parts] : first[id]) {
      for (int32_t p : parts) {
        EXPECT_THAT(second[id][topic], ::testing::Contains(p)) << id << " lost " << topic << p;
      }
    }
  }
  EXPECT_EQ(Count(second["a"]) + Count(second["b"]), 9u);
  EXPECT_LE(std::max(Count(second["a"]), Count(second["b"])) -
                std::min(Count(second["a"]), Count(second["b"])),
            1u);

  // d joins: it gets 3 (9 / 3), taken from the others' surplus only; a and
  // b keep 3 of theirs each.
  std::vector<AssignorMember> again{M("a", {"t", "u"}, second["a"]),
                                    M("b", {"t", "u"}, second["b"]), M("d", {"t", "u"})};
  GroupAssignment third = MustAssign(kStickyAssignor, again, counts);
  ExpectValid(third, again, counts);
  for (const auto& [m, t] : third) EXPECT_EQ(Count(t), 3u) << m;
  for (const std::string id : {"a", "b"}) {
    for (const auto& [topic, parts] : third[id]) {
      for (int32_t p : parts) EXPECT_THAT(second[id][topic], ::testing::Contains(p));
    }
  }
}

TEST(AssignorsTest, RandomInputsKeepInvariantsAndAreDeterministic) {
  std::mt19937 rng(42);
  const std::vector<std::string> topics{"a", "b", "c", "d"};
  for (int round = 0; round < 200; ++round) {
    std::map<std::string, int32_t> counts;
    for (const std::string& t : topics) counts[t] = static_cast<int32_t>(rng() % 7);
    std::vector<AssignorMember> members;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      AssignorMember m;
      m.member_id = "m" + std::to_string(i);
      for (const std::string& t : topics) {
        if (rng() % 2) m.topics.push_back(t);
      }
      if (rng() % 3 == 0) m.topics.push_back("nonexistent");
      members.push_back(m);
    }
    for (const char* a : {kRangeAssignor, kRoundRobinAssignor, kStickyAssignor}) {
      // Feed sticky some owned partitions (possibly stale or conflicting).
      std::vector<AssignorMember> in = members;
      if (std::string(a) == kStickyAssignor) {
        for (auto& m : in) {
          if (rng() % 2) m.owned["a"] = {0, 1, 9};
          if (rng() % 2) m.owned["b"] = {2};
        }
      }
      GroupAssignment out = MustAssign(a, in, counts);
      ExpectValid(out, in, counts);
      std::vector<AssignorMember> shuffled = in;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      EXPECT_EQ(MustAssign(a, shuffled, counts), out) << a << " round " << round;
      if (std::string(a) != kRangeAssignor) {
        // Identical subscriptions => counts within one of each other.
        bool identical = true;
        for (const auto& m : in) identical = identical && m.topics == in[0].topics;
        if (identical) {
          size_t lo = SIZE_MAX, hi = 0;
          for (const auto& [m, t] : out) {
            lo = std::min(lo, Count(t));
            hi = std::max(hi, Count(t));
          }
          EXPECT_LE(hi - lo, 1u) << a << " round " << round;
        }
      }
    }
  }
}

}  // namespace
}  // namespace raftlog::broker
