// Partition assignors: see assignors.h.
#include "broker/assignors.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace raftlog::broker {
namespace {

using TopicPartition = std::pair<std::string, int32_t>;

// Members sorted by id, each with its subscription as a set.
struct Sorted {
  std::vector<std::string> ids;
  std::map<std::string, std::set<std::string>> subscriptions;
  std::map<std::string, const AssignorMember*> by_id;
};

int32_t CountOf(const std::map<std::string, int32_t>& counts, const std::string& topic) {
  auto it = counts.find(topic);
  return it == counts.end() ? 0 : std::max<int32_t>(it->second, 0);
}

// Every partition of every subscribed topic, in (topic, partition) order.
std::vector<TopicPartition> AllPartitions(const Sorted& s,
                                          const std::map<std::string, int32_t>& counts) {
  std::set<std::string> topics;
  for (const auto& [id, subs] : s.subscriptions) topics.insert(subs.begin(), subs.end());
  std::vector<TopicPartition> all;
  for (const std::string& t : topics) {
    for (int32_t p = 0; p < CountOf(counts, t); ++p) all.emplace_back(t, p);
  }
  return all;
}

GroupAssignment Empty(const Sorted& s) {
  GroupAssignment out;
  for (const std::string& id : s.ids) out[id];
  return out;
}

void SortAll(GroupAssignment& a) {
  for (auto& [id, topics] : a) {
    for (auto& [t, parts] : topics) std::sort(parts.begin(), parts.end());
  }
}

GroupAssignment Range(const Sorted& s, const std::map<std::string, int32_t>& counts) {
  GroupAssignment out = Empty(s);
  std::map<std::string, std::vector<std::string>> members_of;  // topic -> sorted members
  for (const std::string& id : s.ids) {
    for (const std::string& t : s.subscriptions.at(id)) members_of[t].push_back(id);
  }
  for (const auto& [topic, members] : members_of) {
    const int32_t n = CountOf(counts, topic);
    if (n == 0) continue;
    const int32_t c = static_cast<int32_t>(members.size());
    const int32_t per = n / c;
    const int32_t extra = n % c;
    for (int32_t i = 0; i < c; ++i) {
      const int32_t start = per * i + std::min(i, extra);
      const int32_t len = per + (i < extra ? 1 : 0);
      if (len == 0) continue;
      std::vector<int32_t>& parts = out[members[i]][topic];
      for (int32_t p = start; p < start + len; ++p) parts.push_back(p);
    }
  }
  return out;
}

GroupAssignment RoundRobin(const Sorted& s, const std::map<std::string, int32_t>& counts) {
  GroupAssignment out = Empty(s);
  if (s.ids.empty()) return out;
  size_t next = 0;  // the circular iterator over the sorted members
  for (const auto& [topic, partition] : AllPartitions(s, counts)) {
    // Some member subscribes to `topic` (AllPartitions only lists those).
    while (s.subscriptions.at(s.ids[next % s.ids.size()]).count(topic) == 0) ++next;
    out[s.ids[next % s.ids.size()]][topic].push_back(partition);
    ++next;
  }
  return out;
}

GroupAssignment Sticky(const Sorted& s, const std::map<std::string, int32_t>& counts) {
  GroupAssignment out = Empty(s);
  const std::vector<TopicPartition> all = AllPartitions(s, counts);
  if (s.ids.empty() || all.empty()) return out;
  // Each member's fair share of what it can read: with identical
  // subscriptions this is floor/ceil of partitions / members.
  std::map<std::string, size_t> load;
  std::map<std::string, size_t> quota;
  {
    const size_t m = s.ids.size();
    const size_t base = all.size() / m;
    const size_t extra = all.size() % m;
    // Members that held more before get the "+1" slots first, so a member
    // with ceil partitions keeps them all.
    std::vector<std::string> by_owned = s.ids;
    std::stable_sort(by_owned.begin(), by_owned.end(), [&](const auto& a, const auto& b) {
      size_t na = 0, nb = 0;
      for (const auto& [t, ps] : s.by_id.at(a)->owned) na += ps.size();
      for (const auto& [t, ps] : s.by_id.at(b)->owned) nb += ps.size();
      return na > nb;
    });
    for (size_t i = 0; i < m; ++i) quota[by_owned[i]] = base + (i < extra ? 1 : 0);
  }
  std::set<TopicPartition> taken;
  const std::set<TopicPartition> valid(all.begin(), all.end());
  // 1. Keep previously owned partitions, in (topic, partition) order, up to quota.
  for (const std::string& id : s.ids) {
    const std::set<std::string>& subs = s.subscriptions.at(id);
    for (const auto& [topic, parts] : s.by_id.at(id)->owned) {
      if (subs.count(topic) == 0) continue;
      std::vector<int32_t> sorted = parts;
      std::sort(sorted.begin(), sorted.end());
      for (int32_t p : sorted) {
        const TopicPartition tp(topic, p);
        if (load[id] >= quota[id]) break;
        if (valid.count(tp) == 0 || !taken.insert(tp).second) continue;
        out[id][topic].push_back(p);
        ++load[id];
      }
    }
  }
  // 2. Deal the rest to the least-loaded subscribed member (ties: lowest id).
  for (const TopicPartition& tp : all) {
    if (taken.count(tp)) continue;
    const std::string* best = nullptr;
    for (const std::string& id : s.ids) {
      if (s.subscriptions.at(id).count(tp.first) == 0) continue;
      if (best == nullptr || load[id] < load[*best]) best = &id;
    }
    out[*best][tp.first].push_back(tp.second);
    ++load[*best];
  }
  return out;
}

}  // namespace

bool IsKnownAssignor(const std::string& name) {
  return name == kRangeAssignor || name == kRoundRobinAssignor || name == kStickyAssignor;
}

absl::StatusOr<GroupAssignment> Assign(const std::string& assignor,
                                       const std::vector<AssignorMember>& members,
                                       const std::map<std::string, int32_t>& partition_counts) {
  Sorted s;
  for (const AssignorMember& m : members) {
    if (!s.by_id.emplace(m.member_id, &m).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate member id \"", m.member_id, "\""));
    }
    s.ids.push_back(m.member_id);
    s.subscriptions[m.member_id] = std::set<std::string>(m.topics.begin(), m.topics.end());
  }
  std::sort(s.ids.begin(), s.ids.end());
  GroupAssignment out;
  if (assignor == kRangeAssignor) {
    out = Range(s, partition_counts);
  } else if (assignor == kRoundRobinAssignor) {
    out = RoundRobin(s, partition_counts);
  } else if (assignor == kStickyAssignor) {
    out = Sticky(s, partition_counts);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown assignor \"", assignor, "\""));
  }
  SortAll(out);
  return out;
}

}  // namespace raftlog::broker
