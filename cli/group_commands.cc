// raftlogctl group list|describe|reset-offsets|delete.
//
// reset-offsets follows kafka-consumer-groups: the group must have no active
// members; the plan (current and new offset per partition) is always shown,
// and committed only with --execute.
//
// list shows the groups the coordinator holds in memory and every group with
// committed offsets (EMPTY); delete removes a group without members together
// with its committed offsets (Kafka's DeleteGroups).
#include <iostream>
#include <set>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "cli/commands.h"
#include "cli/group_reset.h"
#include "client/admin_client.h"

namespace raftlog::cli {
namespace {

using client::AdminClient;
using client::TopicPartition;
namespace apipb = client::apipb;

std::string StateName(apipb::GroupState s) {
  std::string name = apipb::GroupState_Name(s);
  if (absl::StartsWith(name, "GROUP_STATE_")) name = name.substr(12);
  return absl::AsciiStrToLower(name);
}

std::string AssignmentText(const apipb::GroupMember& m) {
  std::string out;
  for (const apipb::TopicPartitions& t : m.assignment()) {
    std::string parts;
    for (int32_t p : t.partitions()) parts += (parts.empty() ? "" : ",") + std::to_string(p);
    out += (out.empty() ? "" : " ") + t.topic() + ":" + parts;
  }
  return out.empty() ? "-" : out;
}

Json NullIfNegative(int64_t v) { return v < 0 ? Json(nullptr) : Json(v); }

int RunList(const Env& env) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<apipb::ListGroupsResponse> groups = admin.ListGroups();
  if (!groups.ok()) return Fail(groups.status());
  if (absl::Status e = client::ApiError(groups->error(), groups->error_message()); !e.ok()) {
    return Fail(e);
  }
  if (env.format == Format::kJson) {
    Json a = Json::array();
    for (const apipb::GroupListing& g : groups->groups()) {
      a.push_back({{"group", g.group_id()},
                   {"state", StateName(g.state())},
                   {"members", g.members()},
                   {"assignor", g.assignor()},
                   {"generation", g.generation()}});
    }
    std::cout << Dump(a) << std::endl;
    return kExitOk;
  }
  Table table({"GROUP", "STATE", "MEMBERS", "ASSIGNOR", "GENERATION"});
  for (const apipb::GroupListing& g : groups->groups()) {
    table.AddRow({Cell(g.group_id()), StateName(g.state()), std::to_string(g.members()),
                  g.assignor().empty() ? "-" : g.assignor(), std::to_string(g.generation())});
  }
  std::cout << table.Render() << std::flush;
  return kExitOk;
}

int RunDescribe(const Env& env, const std::string& group) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<apipb::DescribeGroupResponse> d = admin.DescribeGroup(group);
  if (!d.ok()) return Fail(d.status());
  if (d->state() == apipb::GROUP_STATE_DEAD) {
    return Fail(absl::NotFoundError("group \"" + group +
                                    "\" does not exist (no members, no committed offsets)"));
  }
  int64_t total_lag = 0;
  for (const apipb::PartitionLag& p : d->offsets()) total_lag += std::max<int64_t>(p.lag(), 0);
  if (env.format == Format::kJson) {
    Json j;
    j["group"] = d->group_id();
    j["state"] = StateName(d->state());
    j["assignor"] = d->assignor();
    j["generation"] = d->generation();
    j["leader"] = d->leader_id();
    Json members = Json::array();
    for (const apipb::GroupMember& m : d->members()) {
      Json mj;
      mj["member_id"] = m.member_id();
      mj["client_id"] = m.client_id();
      mj["host"] = m.host();
      mj["topics"] = Json(std::vector<std::string>(m.topics().begin(), m.topics().end()));
      Json assignment = Json::array();
      for (const apipb::TopicPartitions& t : m.assignment()) {
        assignment.push_back(
            {{"topic", t.topic()},
             {"partitions", std::vector<int32_t>(t.partitions().begin(), t.partitions().end())}});
      }
      mj["assignment"] = std::move(assignment);
      members.push_back(std::move(mj));
    }
    j["members"] = std::move(members);
    Json offsets = Json::array();
    for (const apipb::PartitionLag& p : d->offsets()) {
      offsets.push_back(
          {{"topic", p.topic()},
           {"partition", p.partition()},
           {"committed_offset", NullIfNegative(p.committed_offset())},
           {"latest_offset", NullIfNegative(p.high_watermark())},
           {"lag", NullIfNegative(p.lag())},
           {"member_id", p.member_id().empty() ? Json(nullptr) : Json(p.member_id())}});
    }
    j["offsets"] = std::move(offsets);
    j["total_lag"] = total_lag;
    std::cout << Dump(j) << std::endl;
    return kExitOk;
  }
  std::cout << "Group:      " << Cell(d->group_id()) << "\n"
            << "State:      " << StateName(d->state()) << "\n"
            << "Assignor:   " << (d->assignor().empty() ? "-" : d->assignor()) << "\n"
            << "Generation: " << d->generation() << "\n"
            << "Members:    " << d->members_size() << "\n"
            << "Total lag:  " << total_lag << "\n\n";
  if (d->members_size() > 0) {
    Table members({"MEMBER", "CLIENT", "HOST", "ASSIGNMENT"});
    for (const apipb::GroupMember& m : d->members()) {
      members.AddRow({Cell(m.member_id()) + (m.member_id() == d->leader_id() ? " (leader)" : ""),
                      Cell(m.client_id()), Cell(m.host()), AssignmentText(m)});
    }
    std::cout << members.Render() << "\n";
  }
  Table offsets({"TOPIC", "PARTITION", "COMMITTED", "LATEST", "LAG", "MEMBER"});
  const auto num = [](int64_t v) { return v < 0 ? std::string("-") : std::to_string(v); };
  for (const apipb::PartitionLag& p : d->offsets()) {
    offsets.AddRow({p.topic(), std::to_string(p.partition()), num(p.committed_offset()),
                    num(p.high_watermark()), num(p.lag()),
                    p.member_id().empty() ? "-" : Cell(p.member_id())});
  }
  std::cout << offsets.Render() << std::flush;
  return kExitOk;
}

struct ResetOpts {
  std::string group;
  std::vector<std::string> topics;
  bool all_topics = false;
  bool to_earliest = false;
  bool to_latest = false;
  int64_t to_offset = -1;
  int64_t to_timestamp = -1;
  int64_t shift_by = 0;
  bool shift_given = false;
  bool execute = false;
};

int RunReset(const Env& env, const ResetOpts& o) {
  const int modes =
      o.to_earliest + o.to_latest + (o.to_offset >= 0) + (o.to_timestamp >= 0) + o.shift_given;
  if (modes != 1) {
    return UsageError(
        "reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset, "
        "--to-timestamp, --shift-by");
  }
  if (o.topics.empty() == !o.all_topics) {
    return UsageError("reset-offsets: give --topic T (repeatable) or --all-topics");
  }
  ResetMode mode = ResetMode::kEarliest;
  int64_t value = 0;
  if (o.to_latest) mode = ResetMode::kLatest;
  if (o.to_offset >= 0) mode = ResetMode::kOffset, value = o.to_offset;
  if (o.to_timestamp >= 0) mode = ResetMode::kTimestamp;
  if (o.shift_given) mode = ResetMode::kShiftBy, value = o.shift_by;
  std::vector<TopicSpec> specs;
  for (const std::string& t : o.topics) {
    absl::StatusOr<TopicSpec> s = ParseTopicSpec(t);
    if (!s.ok()) return UsageError(std::string(s.status().message()));
    specs.push_back(*std::move(s));
  }

  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<apipb::DescribeGroupResponse> d = admin.DescribeGroup(o.group);
  if (!d.ok()) return Fail(d.status());
  if (d->members_size() > 0) {
    return Fail(absl::FailedPreconditionError(
        "group \"" + o.group + "\" has " + std::to_string(d->members_size()) +
        " active member(s); offsets can only be reset while it is inactive (stop its consumers)"));
  }
  absl::StatusOr<std::map<TopicPartition, int64_t>> committed = admin.FetchGroupOffsets(o.group);
  if (!committed.ok()) return Fail(committed.status());

  std::set<TopicPartition> tps;
  if (o.all_topics) {
    for (const auto& [tp, offset] : *committed) tps.insert(tp);
    if (tps.empty()) {
      return Fail(absl::NotFoundError("group \"" + o.group + "\" has no committed offsets"));
    }
  } else {
    std::vector<std::string> names;
    for (const TopicSpec& s : specs) names.push_back(s.topic);
    absl::StatusOr<client::mdpb::GetMetadataResponse> md = admin.GetMetadata(names);
    if (!md.ok()) return Fail(md.status());
    std::map<std::string, int32_t> counts;
    for (const auto& t : md->topics()) counts[t.name()] = t.partitions_size();
    for (const TopicSpec& s : specs) {
      const int32_t n = counts[s.topic];
      if (s.partitions.empty()) {
        for (int32_t p = 0; p < n; ++p) tps.insert({s.topic, p});
      }
      for (int32_t p : s.partitions) {
        if (p >= n) {
          return Fail(absl::NotFoundError("topic \"" + s.topic + "\" has no partition " +
                                          std::to_string(p)));
        }
        tps.insert({s.topic, p});
      }
    }
  }
  const std::vector<TopicPartition> list(tps.begin(), tps.end());
  absl::StatusOr<std::map<TopicPartition, int64_t>> earliest =
      admin.ListOffsets(list, client::OffsetQuery::kEarliest);
  if (!earliest.ok()) return Fail(earliest.status());
  absl::StatusOr<std::map<TopicPartition, int64_t>> latest =
      admin.ListOffsets(list, client::OffsetQuery::kLatest);
  if (!latest.ok()) return Fail(latest.status());
  std::map<TopicPartition, int64_t> at_time;
  if (mode == ResetMode::kTimestamp) {
    absl::StatusOr<std::map<TopicPartition, int64_t>> t =
        admin.ListOffsets(list, client::OffsetQuery::kTimestamp, o.to_timestamp);
    if (!t.ok()) return Fail(t.status());
    at_time = *std::move(t);
  }

  std::map<TopicPartition, int64_t> plan;
  Table table({"GROUP", "TOPIC", "PARTITION", "CURRENT", "NEW"});
  Json rows = Json::array();
  for (const TopicPartition& tp : list) {
    PartitionOffsets p;
    if (auto it = committed->find(tp); it != committed->end()) p.committed = it->second;
    p.earliest = earliest->at(tp);
    p.latest = latest->at(tp);
    if (auto it = at_time.find(tp); it != at_time.end()) p.at_timestamp = it->second;
    absl::StatusOr<int64_t> n = NewOffset(mode, value, p);
    if (!n.ok()) {
      return Fail(absl::Status(n.status().code(), tp.topic + "-" + std::to_string(tp.partition) +
                                                      ": " + std::string(n.status().message())));
    }
    plan[tp] = *n;
    table.AddRow({Cell(o.group), tp.topic, std::to_string(tp.partition),
                  p.committed ? std::to_string(*p.committed) : "-", std::to_string(*n)});
    rows.push_back({{"topic", tp.topic},
                    {"partition", tp.partition},
                    {"current_offset", p.committed ? Json(*p.committed) : Json(nullptr)},
                    {"new_offset", *n}});
  }
  if (o.execute) {
    if (absl::Status s = admin.CommitGroupOffsets(o.group, plan); !s.ok()) return Fail(s);
  }
  if (env.format == Format::kJson) {
    Json j;
    j["group"] = o.group;
    j["executed"] = o.execute;
    j["offsets"] = std::move(rows);
    std::cout << Dump(j) << std::endl;
  } else {
    std::cout << table.Render() << std::flush;
  }
  std::cerr << (o.execute ? "Committed the new offsets."
                          : "Dry run: nothing was changed; add --execute to commit these offsets.")
            << std::endl;
  return kExitOk;
}

int RunDelete(const Env& env, const std::string& group) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  if (absl::Status s = admin.DeleteGroup(group); !s.ok()) return Fail(s);
  if (env.format == Format::kJson) {
    std::cout << Dump(Json{{"deleted", group}}) << std::endl;
  } else {
    std::cout << "Deleted group " << group << std::endl;
  }
  return kExitOk;
}

}  // namespace

void AddGroupCommands(CLI::App& app, Registry& r) {
  CLI::App* group = app.add_subcommand("group", "List, describe, reset and delete consumer groups");
  group->require_subcommand(1);

  AddLeaf(group, r, "list",
          "List the consumer groups (active ones and those with committed offsets)",
          "raftlogctl group list --format json", [](const Env& env) { return RunList(env); });

  auto describe = std::make_shared<std::string>();
  CLI::App* d = AddLeaf(group, r, "describe",
                        "Show a group's members, their assignment, committed offsets and lag",
                        "raftlogctl group describe billing --format json",
                        [describe](const Env& env) { return RunDescribe(env, *describe); });
  d->add_option("group", *describe, "group id")->required();

  auto reset = std::make_shared<ResetOpts>();
  CLI::App* x =
      AddLeaf(group, r, "reset-offsets",
              "Plan (default) or --execute new committed offsets for an inactive group",
              "raftlogctl group reset-offsets billing --topic orders --to-earliest --execute",
              [reset](const Env& env) { return RunReset(env, *reset); });
  x->add_option("group", reset->group, "group id")->required();
  x->add_option("-t,--topic", reset->topics,
                "topic to reset, all partitions or some (orders:0,2); repeatable")
      ->allow_extra_args(false);
  x->add_flag("--all-topics", reset->all_topics, "every topic the group committed offsets for");
  x->add_flag("--to-earliest", reset->to_earliest, "to each partition's log start");
  x->add_flag("--to-latest", reset->to_latest, "to each partition's end (skip everything)");
  x->add_option("--to-offset", reset->to_offset, "to this offset (clamped to the log)")
      ->check(CLI::NonNegativeNumber);
  x->add_option("--to-timestamp", reset->to_timestamp,
                "to the first record at or after MS (ms since epoch)")
      ->check(CLI::NonNegativeNumber)
      ->option_text("MS");
  x->add_option("--shift-by", reset->shift_by, "move the committed offsets by N (may be < 0)")
      ->each([reset](const std::string&) { reset->shift_given = true; });
  x->add_flag("--execute", reset->execute, "commit the new offsets (default: dry run)");

  auto del = std::make_shared<std::string>();
  CLI::App* y = AddLeaf(
      group, r, "delete", "Delete a group without active members, with its committed offsets",
      "raftlogctl group delete billing", [del](const Env& env) { return RunDelete(env, *del); });
  y->add_option("group", *del, "group id")->required();
}

}  // namespace raftlog::cli
