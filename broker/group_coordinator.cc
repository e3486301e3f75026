// GroupCoordinator: see group_coordinator.h.
#include "broker/group_coordinator.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace raftlog::broker {
namespace {

GroupResult Error(apipb::ErrorCode code, std::string message) {
  return GroupResult{code, std::move(message)};
}

GroupResult UnknownMember(const std::string& group_id, const std::string& member_id) {
  return Error(apipb::UNKNOWN_MEMBER_ID,
               absl::StrCat("member \"", member_id, "\" is not in group \"", group_id,
                            "\" (expired, left, or the coordinator changed): join again"));
}

std::vector<std::string> KnownOnly(const std::vector<std::string>& assignors) {
  std::vector<std::string> out;
  for (const std::string& a : assignors) {
    if (IsKnownAssignor(a) && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

}  // namespace

GroupCoordinator::GroupCoordinator(GroupCoordinatorOptions options)
    : options_(std::move(options)) {}

GroupResult GroupCoordinator::ValidateGroupId(const std::string& group_id) {
  if (group_id.empty() || group_id.size() > 255 || group_id.find('\0') != std::string::npos) {
    return Error(apipb::INVALID_GROUP_ID, "group id must be 1..255 characters without NUL");
  }
  return {};
}

GroupCoordinator::Group* GroupCoordinator::Find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : &it->second;
}

GroupResult GroupCoordinator::CheckMember(Group* g, const std::string& group_id,
                                          const std::string& member_id, int32_t generation) {
  if (g == nullptr || g->members.count(member_id) == 0) return UnknownMember(group_id, member_id);
  if (generation != g->generation) {
    return Error(apipb::ILLEGAL_GENERATION,
                 absl::StrFormat("generation %d is not group \"%s\"'s current generation %d: "
                                 "join again",
                                 generation, group_id, g->generation));
  }
  return {};
}

std::string GroupCoordinator::Join(const JoinParams& p, CoordinatorTime now, JoinCallback done) {
  auto refuse = [&](GroupResult r) {
    JoinResult j;
    j.result = std::move(r);
    j.member_id = p.member_id;
    done(std::move(j));
    return std::string();
  };
  if (GroupResult r = ValidateGroupId(p.group_id); !r.ok()) return refuse(r);
  const std::chrono::milliseconds session =
      p.session_timeout.count() == 0 ? options_.default_session_timeout : p.session_timeout;
  if (session < options_.min_session_timeout || session > options_.max_session_timeout) {
    return refuse(Error(apipb::INVALID_SESSION_TIMEOUT,
                        absl::StrFormat("session timeout %d ms outside [%d, %d] ms",
                                        session.count(), options_.min_session_timeout.count(),
                                        options_.max_session_timeout.count())));
  }
  const std::chrono::milliseconds rebalance =
      p.rebalance_timeout.count() <= 0 ? options_.default_rebalance_timeout : p.rebalance_timeout;
  const std::vector<std::string> assignors = KnownOnly(p.assignors);
  if (assignors.empty()) {
    return refuse(Error(apipb::INCONSISTENT_GROUP_PROTOCOL,
                        absl::StrFormat("no supported assignor among the member's (supported: "
                                        "%s, %s, %s)",
                                        kRangeAssignor, kRoundRobinAssignor, kStickyAssignor)));
  }
  Group* g = Find(p.group_id);
  if (!p.member_id.empty() && (g == nullptr || g->members.count(p.member_id) == 0)) {
    return refuse(UnknownMember(p.group_id, p.member_id));
  }
  if (g == nullptr) {
    g = &groups_[p.group_id];
    g->id = p.group_id;
  }
  // Every member must keep an assignor in common with all the others.
  const size_t others = g->members.size() - g->members.count(p.member_id);
  if (others > 0) {
    const std::set<std::string> common = CommonAssignors(*g, p.member_id);
    if (std::none_of(assignors.begin(), assignors.end(),
                     [&](const std::string& a) { return common.count(a) > 0; })) {
      return refuse(Error(apipb::INCONSISTENT_GROUP_PROTOCOL,
                          absl::StrCat("none of the member's assignors is supported by every "
                                       "member of group \"",
                                       p.group_id, "\"")));
    }
  }

  std::string member_id = p.member_id;
  bool changed = false;
  if (member_id.empty()) {
    do {  // a client id can be anything: never reuse a present member's id
      member_id = absl::StrCat(p.client_id.empty() ? "member" : p.client_id, "-",
                               options_.member_id_prefix, "-", next_member_++);
    } while (g->members.count(member_id) > 0);
    Member& m = g->members[member_id];
    m.info.member_id = member_id;
    m.info.client_id = p.client_id;
    changed = true;
  }
  Member& m = g->members.at(member_id);
  if (m.info.topics != p.topics || m.info.assignors != assignors) changed = true;
  m.info.host = p.host;
  m.info.topics = p.topics;
  m.info.assignors = assignors;
  m.session_timeout = session;
  m.rebalance_timeout = rebalance;
  m.last_heard = now;

  if (!changed && (g->state == apipb::GROUP_STATE_COMPLETING_REBALANCE ||
                   g->state == apipb::GROUP_STATE_STABLE)) {
    // A rejoin that changes nothing (e.g. a retry after a lost answer): the
    // current generation stands.
    done(CurrentJoinResult(*g, member_id));
    return member_id;
  }
  if (m.awaiting_join) {
    JoinResult superseded;
    superseded.result = Error(apipb::REBALANCE_IN_PROGRESS, "superseded by a newer JoinGroup");
    superseded.member_id = member_id;
    std::exchange(m.awaiting_join, nullptr)(std::move(superseded));
  }
  m.awaiting_join = std::move(done);
  if (g->state != apipb::GROUP_STATE_PREPARING_REBALANCE) {
    PrepareRebalance(*g, now);
  } else {
    MaybeCompleteJoin(*g, now);
  }
  return member_id;
}

SyncResult GroupCoordinator::Sync(const std::string& group_id, const std::string& member_id,
                                  int32_t generation, CoordinatorTime now) {
  SyncResult out;
  Group* g = Find(group_id);
  out.result = CheckMember(g, group_id, member_id, generation);
  if (!out.result.ok()) return out;
  if (g->state == apipb::GROUP_STATE_PREPARING_REBALANCE) {
    out.result = Error(apipb::REBALANCE_IN_PROGRESS, "the group is rebalancing: join again");
    return out;
  }
  Member& m = g->members.at(member_id);
  m.last_heard = now;
  m.synced = true;
  out.assignment = m.info.assignment;
  out.assignor = g->assignor;
  if (g->state == apipb::GROUP_STATE_COMPLETING_REBALANCE &&
      std::all_of(g->members.begin(), g->members.end(),
                  [](const auto& kv) { return kv.second.synced; })) {
    g->state = apipb::GROUP_STATE_STABLE;
  }
  return out;
}

GroupResult GroupCoordinator::Heartbeat(const std::string& group_id, const std::string& member_id,
                                        int32_t generation, CoordinatorTime now) {
  Group* g = Find(group_id);
  GroupResult r = CheckMember(g, group_id, member_id, generation);
  if (g != nullptr && g->members.count(member_id)) g->members.at(member_id).last_heard = now;
  if (!r.ok()) return r;
  if (g->state == apipb::GROUP_STATE_PREPARING_REBALANCE) {
    return Error(apipb::REBALANCE_IN_PROGRESS, "the group is rebalancing: join again");
  }
  return {};
}

GroupResult GroupCoordinator::Leave(const std::string& group_id, const std::string& member_id,
                                    CoordinatorTime now) {
  Group* g = Find(group_id);
  if (g == nullptr || g->members.count(member_id) == 0) return UnknownMember(group_id, member_id);
  RemoveMember(*g, member_id, now, "left the group");
  return {};
}

GroupResult GroupCoordinator::ValidateCommit(const std::string& group_id,
                                             const std::string& member_id, int32_t generation,
                                             CoordinatorTime now) {
  if (GroupResult r = ValidateGroupId(group_id); !r.ok()) return r;
  Group* g = Find(group_id);
  if (member_id.empty() && generation < 0) {
    if (g == nullptr || g->members.empty()) return {};  // simple consumer
    return Error(apipb::UNKNOWN_MEMBER_ID,
                 absl::StrCat("group \"", group_id,
                              "\" has active members: a commit without member id and "
                              "generation is only allowed while it has none"));
  }
  if (g == nullptr && member_id.empty()) {
    return Error(apipb::ILLEGAL_GENERATION,
                 absl::StrFormat("group \"%s\" has no generation %d", group_id, generation));
  }
  GroupResult r = CheckMember(g, group_id, member_id, generation);
  if (!r.ok()) return r;
  g->members.at(member_id).last_heard = now;
  if (g->state == apipb::GROUP_STATE_COMPLETING_REBALANCE) {
    // As in Kafka: the member has not synced this generation's assignment.
    return Error(apipb::REBALANCE_IN_PROGRESS, "the group is completing a rebalance: sync first");
  }
  // PreparingRebalance is allowed: members commit before they rejoin.
  return {};
}

GroupResult GroupCoordinator::Delete(const std::string& group_id) {
  Group* g = Find(group_id);
  if (g == nullptr) {
    return Error(apipb::GROUP_ID_NOT_FOUND, absl::StrCat("unknown group \"", group_id, "\""));
  }
  if (!g->members.empty()) {
    return Error(apipb::NON_EMPTY_GROUP,
                 absl::StrFormat("group \"%s\" has %d members", group_id, g->members.size()));
  }
  groups_.erase(group_id);
  return {};
}

std::optional<GroupDescription> GroupCoordinator::Describe(const std::string& group_id) const {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return std::nullopt;
  return DescribeGroup(it->second, true);
}

std::vector<GroupDescription> GroupCoordinator::List() const {
  std::vector<GroupDescription> out;
  for (const auto& [id, g] : groups_) out.push_back(DescribeGroup(g, false));
  return out;
}

void GroupCoordinator::Tick(CoordinatorTime now) {
  for (auto& [id, g] : groups_) {
    // Session expiry (a member waiting in JoinGroup is alive).
    std::vector<std::string> expired;
    for (const auto& [mid, m] : g.members) {
      if (!m.awaiting_join && now - m.last_heard > m.session_timeout) expired.push_back(mid);
    }
    for (const std::string& mid : expired) {
      if (g.members.count(mid)) RemoveMember(g, mid, now, "session timed out");
    }
    if (g.state == apipb::GROUP_STATE_PREPARING_REBALANCE && now >= g.deadline) {
      // Stragglers that did not rejoin in time are removed.
      for (auto it = g.members.begin(); it != g.members.end();) {
        it = it->second.awaiting_join ? std::next(it) : g.members.erase(it);
      }
      CompleteJoin(g, now);
    } else if (g.state == apipb::GROUP_STATE_COMPLETING_REBALANCE && now >= g.deadline) {
      std::vector<std::string> unsynced;
      for (const auto& [mid, m] : g.members) {
        if (!m.synced) unsynced.push_back(mid);
      }
      for (const std::string& mid : unsynced) {
        if (g.members.count(mid)) RemoveMember(g, mid, now, "did not sync in time");
      }
    }
  }
}

void GroupCoordinator::UpdateTopics(std::map<std::string, int32_t> partition_counts,
                                    CoordinatorTime now) {
  topics_ = std::move(partition_counts);
  for (auto& [id, g] : groups_) {
    if (g.state != apipb::GROUP_STATE_STABLE &&
        g.state != apipb::GROUP_STATE_COMPLETING_REBALANCE) {
      continue;
    }
    if (SubscribedCounts(g) != g.assigned_counts) {
      PrepareRebalance(g, now);
    }
  }
}

void GroupCoordinator::SeedGeneration(const std::string& group_id, int32_t floor) {
  if (!ValidateGroupId(group_id).ok()) return;
  Group& g = groups_[group_id];
  g.id = group_id;
  if (g.state == apipb::GROUP_STATE_EMPTY) g.generation = std::max(g.generation, floor);
}

void GroupCoordinator::FailAll(apipb::ErrorCode error, const std::string& message) {
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g.members) {
      if (!m.awaiting_join) continue;
      JoinResult r;
      r.result = Error(error, message);
      r.member_id = mid;
      std::exchange(m.awaiting_join, nullptr)(std::move(r));
    }
  }
}

// ------------------------------------------------------------------ internals

void GroupCoordinator::PrepareRebalance(Group& g, CoordinatorTime now) {
  g.state = apipb::GROUP_STATE_PREPARING_REBALANCE;
  g.deadline = now + RebalanceTimeout(g);
  for (auto& [mid, m] : g.members) m.synced = false;
  MaybeCompleteJoin(g, now);
}

void GroupCoordinator::MaybeCompleteJoin(Group& g, CoordinatorTime now) {
  if (g.state != apipb::GROUP_STATE_PREPARING_REBALANCE) return;
  for (const auto& [mid, m] : g.members) {
    if (!m.awaiting_join) return;
  }
  CompleteJoin(g, now);
}

void GroupCoordinator::CompleteJoin(Group& g, CoordinatorTime now) {
  ++g.generation;
  if (g.members.empty()) {
    g.state = apipb::GROUP_STATE_EMPTY;
    g.leader_id.clear();
    g.assignor.clear();
    g.assigned_counts.clear();
    return;
  }
  if (g.members.count(g.leader_id) == 0) g.leader_id = g.members.begin()->first;
  g.assignor = ChooseAssignor(g);
  std::vector<AssignorMember> in;
  for (const auto& [mid, m] : g.members) {
    in.push_back(AssignorMember{mid, m.info.topics, m.info.assignment});
  }
  g.assigned_counts = SubscribedCounts(g);
  absl::StatusOr<GroupAssignment> a = Assign(g.assignor, in, topics_);
  // Assign fails only for an unknown assignor or duplicate ids, which the
  // invariants exclude; an empty assignment is then the safe answer.
  for (auto& [mid, m] : g.members) {
    m.info.assignment = a.ok() ? (*a)[mid] : TopicAssignment{};
    m.synced = false;
    m.last_heard = now;
  }
  g.state = apipb::GROUP_STATE_COMPLETING_REBALANCE;
  g.deadline = now + RebalanceTimeout(g);
  std::vector<std::pair<JoinCallback, JoinResult>> answers;
  for (auto& [mid, m] : g.members) {
    if (m.awaiting_join) {
      answers.emplace_back(std::exchange(m.awaiting_join, nullptr), CurrentJoinResult(g, mid));
    }
  }
  for (auto& [cb, r] : answers) cb(std::move(r));
}

void GroupCoordinator::RemoveMember(Group& g, const std::string& member_id, CoordinatorTime now,
                                    const std::string& reason) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  JoinCallback waiting = std::exchange(it->second.awaiting_join, nullptr);
  g.members.erase(it);
  if (waiting) {
    JoinResult r;
    r.result = Error(apipb::UNKNOWN_MEMBER_ID, absl::StrCat("member ", member_id, " ", reason));
    r.member_id = member_id;
    waiting(std::move(r));
  }
  switch (g.state) {
    case apipb::GROUP_STATE_STABLE:
    case apipb::GROUP_STATE_COMPLETING_REBALANCE:
      PrepareRebalance(g, now);
      break;
    case apipb::GROUP_STATE_PREPARING_REBALANCE:
      MaybeCompleteJoin(g, now);
      break;
    default:
      break;
  }
}

JoinResult GroupCoordinator::CurrentJoinResult(const Group& g, const std::string& member_id) const {
  JoinResult r;
  r.generation = g.generation;
  r.member_id = member_id;
  r.leader_id = g.leader_id;
  r.assignor = g.assignor;
  for (const auto& [mid, m] : g.members) {
    GroupMemberInfo info = m.info;
    info.assignment.clear();
    r.members.push_back(std::move(info));
  }
  return r;
}

std::chrono::milliseconds GroupCoordinator::RebalanceTimeout(const Group& g) const {
  std::chrono::milliseconds t{0};
  for (const auto& [mid, m] : g.members) t = std::max(t, m.rebalance_timeout);
  return t;
}

std::map<std::string, int32_t> GroupCoordinator::SubscribedCounts(const Group& g) const {
  std::map<std::string, int32_t> out;
  for (const auto& [mid, m] : g.members) {
    for (const std::string& t : m.info.topics) {
      auto it = topics_.find(t);
      out[t] = it == topics_.end() ? 0 : it->second;
    }
  }
  return out;
}

std::set<std::string> GroupCoordinator::CommonAssignors(const Group& g,
                                                        const std::string& except_member) const {
  std::optional<std::set<std::string>> common;
  for (const auto& [mid, m] : g.members) {
    if (mid == except_member) continue;
    std::set<std::string> mine(m.info.assignors.begin(), m.info.assignors.end());
    if (!common) {
      common = std::move(mine);
      continue;
    }
    std::set<std::string> both;
    std::set_intersection(common->begin(), common->end(), mine.begin(), mine.end(),
                          std::inserter(both, both.end()));
    common = std::move(both);
  }
  return common.value_or(std::set<std::string>{});
}

std::string GroupCoordinator::ChooseAssignor(const Group& g) const {
  const std::set<std::string> common = CommonAssignors(g, "");
  for (const std::string& a : g.members.at(g.leader_id).info.assignors) {
    if (common.count(a)) return a;
  }
  return kRangeAssignor;  // unreachable while the invariant holds
}

GroupDescription GroupCoordinator::DescribeGroup(const Group& g, bool with_members) const {
  GroupDescription d;
  d.group_id = g.id;
  d.state = g.state;
  d.assignor = g.assignor;
  d.generation = g.generation;
  d.leader_id = g.leader_id;
  d.member_count = static_cast<int32_t>(g.members.size());
  if (with_members) {
    for (const auto& [mid, m] : g.members) d.members.push_back(m.info);
  }
  return d;
}

}  // namespace raftlog::broker
