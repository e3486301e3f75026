// raftlogctl topic create|list|describe|delete|alter-config|add-partitions.
//
// Writes (create, add-partitions) wait, by default, until every partition
// has an elected leader (bounded by --timeout; a partition still without
// one is reported as a warning, not a failure: the topic exists), so that a
// script can produce right after `topic create`.
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "client/admin_client.h"

namespace raftlog::cli {
namespace {

using client::AdminClient;
using client::mdpb::TopicDescription;

std::string ConfigsText(const google::protobuf::Map<std::string, std::string>& configs) {
  std::map<std::string, std::string> sorted(configs.begin(), configs.end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

Json ConfigsJson(const google::protobuf::Map<std::string, std::string>& configs) {
  std::map<std::string, std::string> sorted(configs.begin(), configs.end());
  Json j = Json::object();
  for (const auto& [k, v] : sorted) j[k] = v;
  return j;
}

Json TopicJson(const client::mdpb::Topic& t) {
  Json j;
  j["name"] = t.name();
  j["topic_id"] = HexEncode(t.topic_id());
  j["partition_count"] = t.partition_count();
  j["replication_factor"] = t.replication_factor();
  j["configs"] = ConfigsJson(t.configs());
  return j;
}

Json DescriptionJson(const TopicDescription& d) {
  Json j = TopicJson(d.topic());
  j["effective_configs"] = ConfigsJson(d.effective_configs());
  Json parts = Json::array();
  for (const client::mdpb::Partition& p : d.topic().partitions()) {
    parts.push_back({{"partition", p.partition()},
                     {"replicas", IdArray({p.replicas().begin(), p.replicas().end()})}});
  }
  j["partitions"] = std::move(parts);
  return j;
}

std::string AssignmentTable(const client::mdpb::Topic& t) {
  Table table({"PARTITION", "REPLICAS"});
  for (const client::mdpb::Partition& p : t.partitions()) {
    table.AddRow(
        {std::to_string(p.partition()), JoinIds({p.replicas().begin(), p.replicas().end()})});
  }
  return table.Render();
}

// Waits until every partition of `name` has a leader; returns how many
// still have none when `timeout` passed.
int WaitForLeaders(AdminClient& admin, const std::string& name, std::chrono::milliseconds timeout) {
  Progress progress;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int missing = -1;
  while (true) {
    absl::StatusOr<client::mdpb::GetMetadataResponse> md = admin.GetMetadata({name});
    if (md.ok() && md->topics_size() == 1) {
      missing = 0;
      for (const auto& p : md->topics(0).partitions()) missing += p.leader() == 0 ? 1 : 0;
      progress.Update("waiting for partition leaders: " +
                      std::to_string(md->topics(0).partitions_size() - missing) + "/" +
                      std::to_string(md->topics(0).partitions_size()) + " elected");
    }
    if (missing == 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  progress.Clear();
  return missing;
}

void WarnLeaderless(const std::string& name, int missing) {
  if (missing != 0) {
    std::cerr << "raftlogctl: warning: "
              << (missing < 0 ? std::string("some") : std::to_string(missing))
              << " partition(s) of \"" << name << "\" have no leader yet" << std::endl;
  }
}

struct CreateOpts {
  std::string name;
  int32_t partitions = 1;
  int32_t replicas = 0;
  std::vector<std::string> configs;
  bool no_wait = false;
};

int RunCreate(const Env& env, const CreateOpts& o) {
  absl::StatusOr<std::map<std::string, std::string>> configs = ParseKeyValues(o.configs);
  if (!configs.ok()) return UsageError("--config: " + std::string(configs.status().message()));
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<TopicDescription> d =
      admin.CreateTopic(o.name, o.partitions, o.replicas, *configs);
  if (!d.ok()) return Fail(d.status());
  if (!o.no_wait) WarnLeaderless(o.name, WaitForLeaders(admin, o.name, env.timeout));
  if (env.format == Format::kJson) {
    std::cout << Dump(DescriptionJson(*d)) << std::endl;
  } else {
    std::cout << "Created topic " << o.name << ": " << d->topic().partition_count()
              << " partition(s), replication factor " << d->topic().replication_factor() << "\n\n"
              << AssignmentTable(d->topic()) << std::flush;
  }
  return kExitOk;
}

int RunList(const Env& env) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<std::vector<client::mdpb::Topic>> topics = admin.ListTopics();
  if (!topics.ok()) return Fail(topics.status());
  if (env.format == Format::kJson) {
    Json a = Json::array();
    for (const auto& t : *topics) a.push_back(TopicJson(t));
    std::cout << Dump(a) << std::endl;
    return kExitOk;
  }
  Table table({"NAME", "PARTITIONS", "REPLICATION", "CONFIGS"});
  for (const auto& t : *topics) {
    table.AddRow({t.name(), std::to_string(t.partition_count()),
                  std::to_string(t.replication_factor()), ConfigsText(t.configs())});
  }
  std::cout << table.Render() << std::flush;
  return kExitOk;
}

Json OffsetJson(int64_t o) { return o < 0 ? Json(nullptr) : Json(o); }
std::string OffsetText(int64_t o) { return o < 0 ? "-" : std::to_string(o); }

int RunDescribe(const Env& env, const std::string& name) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<client::TopicDetails> d = admin.DescribeTopic(name);
  if (!d.ok()) return Fail(d.status());
  const client::mdpb::Topic& t = d->description.topic();
  if (env.format == Format::kJson) {
    Json j = TopicJson(t);
    j["effective_configs"] = ConfigsJson(d->description.effective_configs());
    Json parts = Json::array();
    for (const client::PartitionDetails& p : d->partitions) {
      Json pj;
      pj["partition"] = p.partition;
      pj["leader"] = p.leader == 0 ? Json(nullptr) : Json(p.leader);
      pj["replicas"] = IdArray(p.replicas);
      pj["in_sync"] = IdArray(p.in_sync);
      pj["under_replicated"] = p.in_sync.size() < p.replicas.size();
      pj["earliest_offset"] = OffsetJson(p.earliest_offset);
      pj["latest_offset"] = OffsetJson(p.latest_offset);
      parts.push_back(std::move(pj));
    }
    j["partitions"] = std::move(parts);
    std::cout << Dump(j) << std::endl;
    return kExitOk;
  }
  std::cout << "Topic:              " << t.name() << "\n"
            << "Id:                 " << HexEncode(t.topic_id()) << "\n"
            << "Partitions:         " << t.partition_count() << "\n"
            << "Replication factor: " << t.replication_factor() << "\n"
            << "Configs:            " << ConfigsText(t.configs()) << "\n\n";
  Table table({"PARTITION", "LEADER", "REPLICAS", "IN-SYNC", "EARLIEST", "LATEST"});
  for (const client::PartitionDetails& p : d->partitions) {
    table.AddRow({std::to_string(p.partition), p.leader == 0 ? "-" : std::to_string(p.leader),
                  JoinIds(p.replicas), JoinIds(p.in_sync), OffsetText(p.earliest_offset),
                  OffsetText(p.latest_offset)});
  }
  std::cout << table.Render() << std::flush;
  return kExitOk;
}

int RunDelete(const Env& env, const std::string& name) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  if (absl::Status s = admin.DeleteTopic(name); !s.ok()) return Fail(s);
  if (env.format == Format::kJson) {
    std::cout << Dump(Json{{"deleted", name}}) << std::endl;
  } else {
    std::cout << "Deleted topic " << name << std::endl;
  }
  return kExitOk;
}

struct AlterOpts {
  std::string name;
  std::vector<std::string> set;
  std::vector<std::string> del;
};

int RunAlterConfig(const Env& env, const AlterOpts& o) {
  if (o.set.empty() && o.del.empty()) return UsageError("alter-config: give --set and/or --delete");
  absl::StatusOr<std::map<std::string, std::string>> set = ParseKeyValues(o.set);
  if (!set.ok()) return UsageError("--set: " + std::string(set.status().message()));
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<TopicDescription> d = admin.AlterTopicConfig(o.name, *set, o.del);
  if (!d.ok()) return Fail(d.status());
  if (env.format == Format::kJson) {
    std::cout << Dump(DescriptionJson(*d)) << std::endl;
    return kExitOk;
  }
  Table table({"KEY", "VALUE", "SOURCE"});
  std::map<std::string, std::string> effective(d->effective_configs().begin(),
                                               d->effective_configs().end());
  for (const auto& [k, v] : effective) {
    table.AddRow({k, Cell(v), d->topic().configs().count(k) ? "topic" : "default"});
  }
  std::cout << "Updated configs of topic " << o.name << "\n\n" << table.Render() << std::flush;
  return kExitOk;
}

struct AddPartitionsOpts {
  std::string name;
  int32_t total = 0;
  int32_t num = 0;
  bool no_wait = false;
};

int RunAddPartitions(const Env& env, const AddPartitionsOpts& o) {
  if ((o.total > 0) == (o.num > 0)) return UsageError("add-partitions: give one of --total, --num");
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  int32_t total = o.total;
  if (o.num > 0) {
    absl::StatusOr<client::mdpb::GetMetadataResponse> md = admin.GetMetadata({o.name});
    if (!md.ok()) return Fail(md.status());
    total = md->topics(0).partitions_size() + o.num;
  }
  absl::StatusOr<TopicDescription> d = admin.CreatePartitions(o.name, total);
  if (!d.ok()) return Fail(d.status());
  if (!o.no_wait) WarnLeaderless(o.name, WaitForLeaders(admin, o.name, env.timeout));
  if (env.format == Format::kJson) {
    std::cout << Dump(DescriptionJson(*d)) << std::endl;
  } else {
    std::cout << "Topic " << o.name << " now has " << d->topic().partition_count()
              << " partitions\n\n"
              << AssignmentTable(d->topic()) << std::flush;
  }
  return kExitOk;
}

}  // namespace

void AddTopicCommands(CLI::App& app, Registry& r) {
  CLI::App* topic = app.add_subcommand("topic", "Create, list, describe, change and delete topics");
  topic->require_subcommand(1);

  auto create = std::make_shared<CreateOpts>();
  CLI::App* c =
      AddLeaf(topic, r, "create", "Create a topic",
              "raftlogctl topic create orders --partitions 6 --replicas 3 -c retention.ms=86400000",
              [create](const Env& env) { return RunCreate(env, *create); });
  c->add_option("name", create->name, "topic name")->required();
  c->add_option("-p,--partitions", create->partitions, "number of partitions (default 1)")
      ->check(CLI::Range(1, 10000));
  c->add_option("-r,--replicas", create->replicas,
                "replication factor (default: min(3, live brokers))")
      ->check(CLI::Range(1, 1000));
  c->add_option("-c,--config", create->configs,
                "topic config key=value (repeatable): retention.ms, retention.bytes, "
                "segment.bytes, segment.ms, cleanup.policy, max.message.bytes")
      ->allow_extra_args(false);
  c->add_flag("--no-wait", create->no_wait, "do not wait for the partitions' leaders");

  AddLeaf(topic, r, "list", "List topics", "raftlogctl topic list --format json",
          [](const Env& env) { return RunList(env); });

  auto describe = std::make_shared<std::string>();
  CLI::App* d = AddLeaf(
      topic, r, "describe",
      "Show a topic's configs and each partition's leader, replicas, in-sync replicas and offsets",
      "raftlogctl topic describe orders --format json",
      [describe](const Env& env) { return RunDescribe(env, *describe); });
  d->add_option("name", *describe, "topic name")->required();

  auto del = std::make_shared<std::string>();
  CLI::App* x = AddLeaf(topic, r, "delete", "Delete a topic and all its records",
                        "raftlogctl topic delete orders",
                        [del](const Env& env) { return RunDelete(env, *del); });
  x->add_option("name", *del, "topic name")->required();

  auto alter = std::make_shared<AlterOpts>();
  CLI::App* a = AddLeaf(topic, r, "alter-config", "Set or reset topic configs (atomically)",
                        "raftlogctl topic alter-config orders --set retention.ms=3600000 "
                        "--delete segment.bytes",
                        [alter](const Env& env) { return RunAlterConfig(env, *alter); });
  a->add_option("name", alter->name, "topic name")->required();
  a->add_option("--set", alter->set, "key=value to set (repeatable)")->allow_extra_args(false);
  a->add_option("--delete", alter->del, "key to reset to its default (repeatable)")
      ->allow_extra_args(false);

  auto add = std::make_shared<AddPartitionsOpts>();
  CLI::App* p = AddLeaf(topic, r, "add-partitions", "Grow a topic's partition count",
                        "raftlogctl topic add-partitions orders --total 12",
                        [add](const Env& env) { return RunAddPartitions(env, *add); });
  p->add_option("name", add->name, "topic name")->required();
  p->add_option("--total", add->total, "the new total partition count")
      ->check(CLI::Range(1, 10000));
  p->add_option("--num", add->num, "how many partitions to add")->check(CLI::Range(1, 10000));
  p->add_flag("--no-wait", add->no_wait, "do not wait for the new partitions' leaders");
}

}  // namespace raftlog::cli
