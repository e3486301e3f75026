// GroupCoordinator (the pure membership state machine) driven with a fake
// clock: one member then three joining (generations grow, assignments are
// disjoint and cover every partition), sync/heartbeat errors, session
// expiry, leave, rebalance timeout removing stragglers, generation-fenced
// commits and the simple-consumer rule, a failover to a new instance (old
// members must rejoin, ids are not reissued), partition-count changes,
// assignor negotiation, describe/list/delete.
#include "broker/group_coordinator.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftlog::broker {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

class GroupCoordinatorTest : public ::testing::Test {
 protected:
  GroupCoordinatorTest() { coord_ = Make("t1"); }

  static std::unique_ptr<GroupCoordinator> Make(const std::string& prefix) {
    GroupCoordinatorOptions o;
    o.min_session_timeout = 100ms;
    o.member_id_prefix = prefix;
    auto c = std::make_unique<GroupCoordinator>(o);
    c->UpdateTopics({{"orders", 6}, {"audit", 2}}, CoordinatorTime{});
    return c;
  }

  JoinParams Params(const std::string& member_id, std::vector<std::string> topics = {"orders"},
                    std::vector<std::string> assignors = {"range"}) {
    JoinParams p;
    p.group_id = "g";
    p.member_id = member_id;
    p.client_id = "client";
    p.host = "127.0.0.1";
    p.topics = std::move(topics);
    p.assignors = std::move(assignors);
    p.session_timeout = 3000ms;
    p.rebalance_timeout = 5000ms;
    return p;
  }

  // Starts a join; the slot receives the answer when it comes.
  std::shared_ptr<std::optional<JoinResult>> StartJoin(const JoinParams& p,
                                                       std::string* id = nullptr) {
    auto slot = std::make_shared<std::optional<JoinResult>>();
    std::string assigned = coord_->Join(p, now_, [slot](JoinResult r) {
      ASSERT_FALSE(slot->has_value()) << "join answered twice";
      *slot = std::move(r);
    });
    if (id != nullptr) *id = assigned;
    return slot;
  }

  // A join expected to be answered at once.
  JoinResult JoinNow(const JoinParams& p) {
    auto slot = StartJoin(p);
    EXPECT_TRUE(slot->has_value()) << "join of " << p.member_id << " is waiting";
    return slot->has_value() ? **slot : JoinResult{};
  }

  TopicAssignment SyncOk(const std::string& member, int32_t generation) {
    SyncResult s = coord_->Sync("g", member, generation, now_);
    EXPECT_TRUE(s.result.ok()) << s.result.message;
    return s.assignment;
  }

  void Advance(std::chrono::milliseconds d) {
    now_ += d;
    coord_->Tick(now_);
  }

  apipb::GroupState State() { return coord_->Describe("g")->state; }

  std::unique_ptr<GroupCoordinator> coord_;
  CoordinatorTime now_ = CoordinatorTime{} + 1h;
};

// Every partition of "orders" exactly once over the members' assignments.
void ExpectCover(const std::vector<TopicAssignment>& parts, int32_t partitions) {
  std::multiset<int32_t> seen;
  for (const auto& a : parts) {
    for (const auto& [topic, ps] : a) {
      EXPECT_EQ(topic, "orders");
      seen.insert(ps.begin(), ps.end());
    }
  }
  std::multiset<int32_t> want;
  for (int32_t p = 0; p < partitions; ++p) want.insert(p);
  EXPECT_EQ(seen, want);
}

TEST_F(GroupCoordinatorTest, OneMemberThenThree) {
  JoinResult a = JoinNow(Params(""));
  ASSERT_TRUE(a.result.ok()) << a.result.message;
  EXPECT_EQ(a.generation, 1);
  EXPECT_EQ(a.leader_id, a.member_id);
  EXPECT_EQ(a.assignor, "range");
  EXPECT_EQ(State(), apipb::GROUP_STATE_COMPLETING_REBALANCE);
  EXPECT_EQ(SyncOk(a.member_id, 1), (TopicAssignment{{"orders", {0, 1, 2, 3, 4, 5}}}));
  EXPECT_EQ(State(), apipb::GROUP_STATE_STABLE);
  EXPECT_TRUE(coord_->Heartbeat("g", a.member_id, 1, now_).ok());

  // Two new members: they wait until the first one rejoins.
  std::string b_id, c_id;
  auto b = StartJoin(Params(""), &b_id);
  auto c = StartJoin(Params(""), &c_id);
  EXPECT_FALSE(b->has_value());
  EXPECT_FALSE(c->has_value());
  EXPECT_NE(b_id, c_id);
  EXPECT_EQ(State(), apipb::GROUP_STATE_PREPARING_REBALANCE);
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::REBALANCE_IN_PROGRESS);
  // The old generation may still commit while preparing (before rejoining).
  EXPECT_TRUE(coord_->ValidateCommit("g", a.member_id, 1, now_).ok());
  auto a2 = StartJoin(Params(a.member_id));
  ASSERT_TRUE(a2->has_value() && b->has_value() && c->has_value());
  for (const auto* r : {&**a2, &**b, &**c}) {
    EXPECT_TRUE(r->result.ok()) << r->result.message;
    EXPECT_EQ(r->generation, 2);
    EXPECT_EQ(r->leader_id, a.member_id);
    EXPECT_EQ(r->members.size(), 3u);
  }
  EXPECT_EQ((*b)->member_id, b_id);
  std::vector<TopicAssignment> parts;
  for (const std::string& id : {a.member_id, b_id, c_id}) {
    TopicAssignment t = SyncOk(id, 2);
    EXPECT_EQ(t["orders"].size(), 2u) << id;
    parts.push_back(t);
  }
  ExpectCover(parts, 6);
  EXPECT_EQ(State(), apipb::GROUP_STATE_STABLE);
  // The old generation is fenced now.
  EXPECT_EQ(coord_->ValidateCommit("g", a.member_id, 1, now_).error, apipb::ILLEGAL_GENERATION);
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::ILLEGAL_GENERATION);
  EXPECT_EQ(coord_->Sync("g", a.member_id, 1, now_).result.error, apipb::ILLEGAL_GENERATION);
  EXPECT_TRUE(coord_->ValidateCommit("g", a.member_id, 2, now_).ok());
}

TEST_F(GroupCoordinatorTest, ErrorsForUnknownMembersAndRebalances) {
  EXPECT_EQ(coord_->Heartbeat("g", "nobody", 1, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(JoinNow(Params("nobody")).result.error, apipb::UNKNOWN_MEMBER_ID);
  JoinResult a = JoinNow(Params(""));
  EXPECT_EQ(coord_->Sync("g", "nobody", 1, now_).result.error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->Leave("g", "nobody", now_).error, apipb::UNKNOWN_MEMBER_ID);
  // Commit before syncing: REBALANCE_IN_PROGRESS (Kafka's CompletingRebalance rule).
  EXPECT_EQ(coord_->ValidateCommit("g", a.member_id, 1, now_).error, apipb::REBALANCE_IN_PROGRESS);
  SyncOk(a.member_id, 1);
  auto b = StartJoin(Params(""));
  EXPECT_EQ(coord_->Sync("g", a.member_id, 1, now_).result.error, apipb::REBALANCE_IN_PROGRESS);
  // Bad inputs.
  JoinParams bad = Params("");
  bad.group_id = "";
  EXPECT_EQ(JoinNow(bad).result.error, apipb::INVALID_GROUP_ID);
  bad = Params("");
  bad.session_timeout = 10ms;
  EXPECT_EQ(JoinNow(bad).result.error, apipb::INVALID_SESSION_TIMEOUT);
  bad = Params("", {"orders"}, {"cooperative-magic"});
  EXPECT_EQ(JoinNow(bad).result.error, apipb::INCONSISTENT_GROUP_PROTOCOL);
  bad = Params("", {"orders"}, {"roundrobin"});  // a and b support only range
  EXPECT_EQ(JoinNow(bad).result.error, apipb::INCONSISTENT_GROUP_PROTOCOL);
}

TEST_F(GroupCoordinatorTest, SessionTimeoutRemovesSilentMemberAndRebalances) {
  JoinResult a = JoinNow(Params(""));
  std::string b_id;
  auto b = StartJoin(Params(""), &b_id);
  auto a2 = StartJoin(Params(a.member_id));
  ASSERT_TRUE(b->has_value() && a2->has_value());
  SyncOk(a.member_id, 2);
  SyncOk(b_id, 2);
  // a heartbeats, b stays silent.
  for (int i = 0; i < 3; ++i) {
    Advance(1000ms);
    EXPECT_TRUE(coord_->Heartbeat("g", a.member_id, 2, now_).ok());
  }
  Advance(100ms);  // b silent for 3.1 s > 3 s
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 2, now_).error, apipb::REBALANCE_IN_PROGRESS);
  EXPECT_EQ(coord_->Heartbeat("g", b_id, 2, now_).error, apipb::UNKNOWN_MEMBER_ID);
  JoinResult a3 = JoinNow(Params(a.member_id));
  EXPECT_EQ(a3.generation, 3);
  EXPECT_EQ(a3.members.size(), 1u);
  EXPECT_EQ(SyncOk(a.member_id, 3)["orders"].size(), 6u);
}

TEST_F(GroupCoordinatorTest, RebalanceTimeoutRemovesStragglers) {
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  std::string b_id;
  auto b = StartJoin(Params(""), &b_id);
  // a keeps heartbeating (so its session lives) but never rejoins.
  for (int i = 0; i < 5; ++i) {
    Advance(900ms);
    EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::REBALANCE_IN_PROGRESS);
    EXPECT_FALSE(b->has_value());
  }
  Advance(600ms);  // 5.1 s > the 5 s rebalance timeout
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ((*b)->generation, 2);
  EXPECT_EQ((*b)->leader_id, b_id);
  EXPECT_EQ((*b)->members.size(), 1u);
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::UNKNOWN_MEMBER_ID);
}

TEST_F(GroupCoordinatorTest, MemberThatNeverSyncsIsRemoved) {
  JoinResult a = JoinNow(Params(""));
  std::string b_id;
  auto b = StartJoin(Params(""), &b_id);
  StartJoin(Params(a.member_id));
  SyncOk(b_id, 2);
  for (int i = 0; i < 5; ++i) {
    Advance(1000ms);
    coord_->Heartbeat("g", a.member_id, 2, now_);
    coord_->Heartbeat("g", b_id, 2, now_);
  }
  Advance(100ms);
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 2, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->Heartbeat("g", b_id, 2, now_).error, apipb::REBALANCE_IN_PROGRESS);
}

TEST_F(GroupCoordinatorTest, LeaveRebalancesAtOnceAndLastLeaveEmptiesTheGroup) {
  JoinResult a = JoinNow(Params(""));
  std::string b_id;
  auto b = StartJoin(Params(""), &b_id);
  StartJoin(Params(a.member_id));
  SyncOk(a.member_id, 2);
  SyncOk(b_id, 2);
  EXPECT_TRUE(coord_->Leave("g", b_id, now_).ok());
  EXPECT_EQ(State(), apipb::GROUP_STATE_PREPARING_REBALANCE);
  JoinResult a3 = JoinNow(Params(a.member_id));
  EXPECT_EQ(a3.generation, 3);
  EXPECT_EQ(SyncOk(a.member_id, 3)["orders"].size(), 6u);
  EXPECT_TRUE(coord_->Leave("g", a.member_id, now_).ok());
  EXPECT_EQ(State(), apipb::GROUP_STATE_EMPTY);
  EXPECT_EQ(coord_->Describe("g")->generation, 4);
  // A member waiting in JoinGroup that leaves gets UNKNOWN_MEMBER_ID.
  JoinResult c = JoinNow(Params(""));
  std::string d_id;
  auto d = StartJoin(Params(""), &d_id);
  ASSERT_FALSE(d->has_value());
  EXPECT_TRUE(coord_->Leave("g", d_id, now_).ok());
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->result.error, apipb::UNKNOWN_MEMBER_ID);
  // c was the only one left and had not rejoined: c's rejoin completes it.
  EXPECT_EQ(JoinNow(Params(c.member_id)).generation, 6);
}

TEST_F(GroupCoordinatorTest, CommitsAreFencedAndSimpleConsumersNeedAnEmptyGroup) {
  // No group yet: a simple consumer may commit, a "member" may not.
  EXPECT_TRUE(coord_->ValidateCommit("g", "", -1, now_).ok());
  EXPECT_EQ(coord_->ValidateCommit("g", "", 3, now_).error, apipb::ILLEGAL_GENERATION);
  EXPECT_EQ(coord_->ValidateCommit("g", "ghost", 3, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->ValidateCommit("", "", -1, now_).error, apipb::INVALID_GROUP_ID);
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  EXPECT_EQ(coord_->ValidateCommit("g", "", -1, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->ValidateCommit("g", a.member_id, 0, now_).error, apipb::ILLEGAL_GENERATION);
  EXPECT_TRUE(coord_->ValidateCommit("g", a.member_id, 1, now_).ok());
  EXPECT_TRUE(coord_->Leave("g", a.member_id, now_).ok());
  EXPECT_TRUE(coord_->ValidateCommit("g", "", -1, now_).ok());
  EXPECT_EQ(coord_->ValidateCommit("g", a.member_id, 1, now_).error, apipb::UNKNOWN_MEMBER_ID);
}

TEST_F(GroupCoordinatorTest, CommitsCountAsHeartbeats) {
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  for (int i = 0; i < 5; ++i) {
    Advance(2000ms);
    EXPECT_TRUE(coord_->ValidateCommit("g", a.member_id, 1, now_).ok()) << i;
  }
}

TEST_F(GroupCoordinatorTest, FailoverToANewInstanceMakesMembersRejoin) {
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  std::string b_id;
  auto waiting = StartJoin(Params(""), &b_id);
  ASSERT_FALSE(waiting->has_value());
  // The old coordinator goes away: waiting joins are told.
  coord_->FailAll(apipb::NOT_COORDINATOR, "leadership lost");
  ASSERT_TRUE(waiting->has_value());
  EXPECT_EQ((*waiting)->result.error, apipb::NOT_COORDINATOR);

  coord_ = Make("t2");
  coord_->SeedGeneration("g", 1);  // the service does this from committed offsets
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->Sync("g", a.member_id, 1, now_).result.error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(coord_->ValidateCommit("g", a.member_id, 1, now_).error, apipb::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(JoinNow(Params(a.member_id)).result.error, apipb::UNKNOWN_MEMBER_ID);
  JoinResult fresh = JoinNow(Params(""));
  ASSERT_TRUE(fresh.result.ok());
  EXPECT_NE(fresh.member_id, a.member_id);  // the prefix differs per instance
  EXPECT_NE(fresh.member_id.find("-t2-"), std::string::npos) << fresh.member_id;
  EXPECT_EQ(fresh.generation, 2);
  EXPECT_EQ(SyncOk(fresh.member_id, fresh.generation)["orders"].size(), 6u);
}

TEST_F(GroupCoordinatorTest, PartitionCountChangeTriggersRebalance) {
  JoinResult a = JoinNow(Params("", {"orders", "audit"}));
  EXPECT_EQ(SyncOk(a.member_id, 1),
            (TopicAssignment{{"audit", {0, 1}}, {"orders", {0, 1, 2, 3, 4, 5}}}));
  // A change of a topic nobody subscribes to changes nothing.
  coord_->UpdateTopics({{"orders", 6}, {"audit", 2}, {"other", 9}}, now_);
  EXPECT_EQ(State(), apipb::GROUP_STATE_STABLE);
  coord_->UpdateTopics({{"orders", 8}, {"audit", 2}, {"other", 9}}, now_);
  EXPECT_EQ(State(), apipb::GROUP_STATE_PREPARING_REBALANCE);
  EXPECT_EQ(coord_->Heartbeat("g", a.member_id, 1, now_).error, apipb::REBALANCE_IN_PROGRESS);
  JoinResult again = JoinNow(Params(a.member_id, {"orders", "audit"}));
  EXPECT_EQ(again.generation, 2);
  EXPECT_EQ(SyncOk(a.member_id, 2)["orders"], (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  SyncOk(a.member_id, 2);
  // A subscribed topic that is created later also counts.
  JoinResult b = JoinNow(Params(a.member_id, {"later"}));
  EXPECT_EQ(b.generation, 3);
  EXPECT_EQ(SyncOk(a.member_id, 3), TopicAssignment{});
  coord_->UpdateTopics({{"orders", 8}, {"audit", 2}, {"later", 1}}, now_);
  EXPECT_EQ(State(), apipb::GROUP_STATE_PREPARING_REBALANCE);
  EXPECT_EQ(JoinNow(Params(a.member_id, {"later"})).generation, 4);
  EXPECT_EQ(SyncOk(a.member_id, 4), (TopicAssignment{{"later", {0}}}));
}

TEST_F(GroupCoordinatorTest, SubscriptionChangeRebalancesAndUnchangedRejoinDoesNot) {
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  // Same subscription again (a retry): same generation at once.
  JoinResult same = JoinNow(Params(a.member_id));
  EXPECT_EQ(same.generation, 1);
  EXPECT_EQ(State(), apipb::GROUP_STATE_STABLE);
  // A new subscription: a new generation with the new topic.
  JoinResult changed = JoinNow(Params(a.member_id, {"audit"}));
  EXPECT_EQ(changed.generation, 2);
  EXPECT_EQ(SyncOk(a.member_id, 2), (TopicAssignment{{"audit", {0, 1}}}));
}

TEST_F(GroupCoordinatorTest, AssignorIsTheLeadersFirstCommonChoice) {
  JoinResult a = JoinNow(Params("", {"orders"}, {"sticky", "roundrobin", "range"}));
  EXPECT_EQ(a.assignor, "sticky");
  SyncOk(a.member_id, 1);
  std::string b_id;
  auto b = StartJoin(Params("", {"orders"}, {"range", "roundrobin"}), &b_id);
  JoinResult a2 = JoinNow(Params(a.member_id, {"orders"}, {"sticky", "roundrobin", "range"}));
  EXPECT_EQ(a2.assignor, "roundrobin");
  EXPECT_EQ(SyncOk(a.member_id, 2), (TopicAssignment{{"orders", {0, 2, 4}}}));
  EXPECT_EQ(SyncOk(b_id, 2), (TopicAssignment{{"orders", {1, 3, 5}}}));
}

TEST_F(GroupCoordinatorTest, StickyKeepsPartitionsAcrossGenerations) {
  const std::vector<std::string> sticky{"sticky"};
  JoinResult a = JoinNow(Params("", {"orders"}, sticky));
  SyncOk(a.member_id, 1);
  std::string b_id;
  auto b = StartJoin(Params("", {"orders"}, sticky), &b_id);
  StartJoin(Params(a.member_id, {"orders"}, sticky));
  TopicAssignment a_parts = SyncOk(a.member_id, 2);
  EXPECT_EQ(a_parts["orders"].size(), 3u);
  SyncOk(b_id, 2);
  std::string c_id;
  StartJoin(Params("", {"orders"}, sticky), &c_id);
  StartJoin(Params(a.member_id, {"orders"}, sticky));
  StartJoin(Params(b_id, {"orders"}, sticky));
  TopicAssignment a3 = SyncOk(a.member_id, 3);
  ASSERT_EQ(a3["orders"].size(), 2u);
  for (int32_t p : a3["orders"]) EXPECT_THAT(a_parts["orders"], ::testing::Contains(p));
}

TEST_F(GroupCoordinatorTest, DescribeListDelete) {
  EXPECT_FALSE(coord_->Describe("g").has_value());
  EXPECT_EQ(coord_->Delete("g").error, apipb::GROUP_ID_NOT_FOUND);
  JoinResult a = JoinNow(Params(""));
  SyncOk(a.member_id, 1);
  std::optional<GroupDescription> d = coord_->Describe("g");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->state, apipb::GROUP_STATE_STABLE);
  EXPECT_EQ(d->assignor, "range");
  EXPECT_EQ(d->generation, 1);
  ASSERT_EQ(d->members.size(), 1u);
  EXPECT_EQ(d->members[0].client_id, "client");
  EXPECT_EQ(d->members[0].host, "127.0.0.1");
  EXPECT_EQ(d->members[0].assignment["orders"].size(), 6u);
  std::vector<GroupDescription> all = coord_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].member_count, 1);
  EXPECT_EQ(coord_->Delete("g").error, apipb::NON_EMPTY_GROUP);
  ASSERT_TRUE(coord_->Leave("g", a.member_id, now_).ok());
  EXPECT_TRUE(coord_->Delete("g").ok());
  EXPECT_TRUE(coord_->List().empty());
}

}  // namespace
}  // namespace raftlog::broker
