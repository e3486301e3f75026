// raftlogctl cluster status: brokers (registration, fencing, reachability,
// heartbeat age), the metadata leader, replicas and leaders per node, and
// partitions without a leader or with fewer in-sync replicas than replicas.
//
// Sources: ListBrokers and GetMetadata (metadata leader, linearizable), then
// NodeAdmin.Status of every registered broker (reachability, and each led
// partition's followers). A replica is in sync when its leader reports it
// caught up (lag 0) and recently active, the rule AdminClient::DescribeTopic
// uses; a partition whose leader could not be asked counts as
// under-replicated with unknown in-sync replicas.
//
// The command succeeds (exit 0) whenever the status could be read; "healthy"
// in the JSON says whether anything is wrong.
#include <algorithm>
#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "client/admin_client.h"

namespace raftlog::cli {
namespace {

using client::AdminClient;
namespace mdpb = client::mdpb;
namespace nodepb = client::nodepb;

struct NodeView {
  uint64_t id = 0;
  std::string address;
  bool fenced = false;
  bool reachable = false;
  std::optional<int64_t> heartbeat_age_ms;
  std::string metadata_role = "unknown";
  int replicas = 0;
  int leaders = 0;
  std::string error;  // why Status failed
};

struct PartitionIssue {
  std::string topic;
  int32_t partition = 0;
  uint64_t leader = 0;
  std::vector<uint64_t> replicas;
  std::optional<std::vector<uint64_t>> in_sync;  // unset: the leader could not be asked
};

std::string RoleName(nodepb::Role r) {
  switch (r) {
    case nodepb::ROLE_LEADER:
      return "leader";
    case nodepb::ROLE_FOLLOWER:
      return "follower";
    case nodepb::ROLE_CANDIDATE:
    case nodepb::ROLE_PRE_CANDIDATE:
      return "candidate";
    default:
      return "unknown";
  }
}

int RunStatus(const Env& env) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  AdminClient admin(*cluster);
  absl::StatusOr<mdpb::ListBrokersResponse> brokers = admin.ListBrokers();
  if (!brokers.ok()) return Fail(brokers.status());
  absl::StatusOr<mdpb::GetMetadataResponse> md = admin.GetMetadata();
  if (!md.ok()) return Fail(md.status());

  Progress progress;
  std::map<uint64_t, NodeView> nodes;
  std::map<uint64_t, nodepb::StatusResponse> statuses;
  std::string cluster_id;
  for (const mdpb::Broker& b : brokers->brokers()) {
    NodeView& n = nodes[b.node_id()];
    n.id = b.node_id();
    n.address = b.addresses().empty() ? "" : b.addresses(0);
    n.fenced = b.fenced();
    if (auto it = brokers->heartbeat_age_ms().find(b.node_id());
        it != brokers->heartbeat_age_ms().end()) {
      n.heartbeat_age_ms = it->second;
    }
    if (n.address.empty()) continue;
    progress.Update("asking node " + std::to_string(n.id) + " (" + n.address + ")", true);
    nodepb::StatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::min(env.timeout, std::chrono::milliseconds(5000)));
    grpc::Status s = (*cluster)->At(n.address).admin->Status(&ctx, nodepb::StatusRequest(), &resp);
    n.reachable = s.ok();
    if (!s.ok()) {
      n.error = s.error_message();
      continue;
    }
    if (cluster_id.empty()) cluster_id = resp.cluster_id();
    for (const nodepb::GroupStatus& g : resp.groups()) {
      if (g.group() == 0) n.metadata_role = RoleName(g.role());
    }
    statuses[n.id] = std::move(resp);
  }
  progress.Clear();

  int partitions = 0;
  int leaderless = 0;
  std::vector<PartitionIssue> issues;
  for (const mdpb::TopicMetadata& t : md->topics()) {
    for (const mdpb::PartitionMetadata& p : t.partitions()) {
      ++partitions;
      for (uint64_t r : p.replicas()) nodes[r].replicas++;
      PartitionIssue issue{
          t.name(), p.partition(), p.leader(), {p.replicas().begin(), p.replicas().end()}, {}};
      if (p.leader() == 0) {
        ++leaderless;
        issues.push_back(std::move(issue));
        continue;
      }
      nodes[p.leader()].leaders++;
      if (auto it = statuses.find(p.leader()); it != statuses.end()) {
        for (const nodepb::GroupStatus& g : it->second.groups()) {
          if (g.group() != p.group_id() || g.role() != nodepb::ROLE_LEADER) continue;
          std::vector<uint64_t> in_sync{p.leader()};
          for (const nodepb::FollowerProgress& f : g.followers()) {
            if (f.lag() == 0 && f.recent_active()) in_sync.push_back(f.node());
          }
          std::sort(in_sync.begin(), in_sync.end());
          issue.in_sync = std::move(in_sync);
        }
      }
      if (!issue.in_sync.has_value() || issue.in_sync->size() < issue.replicas.size()) {
        issues.push_back(std::move(issue));
      }
    }
  }
  int alive = 0;
  for (const auto& [id, n] : nodes) alive += (!n.fenced && n.reachable) ? 1 : 0;
  const int under_replicated = static_cast<int>(issues.size()) - leaderless;
  const bool healthy =
      alive == static_cast<int>(nodes.size()) && issues.empty() && md->metadata_leader() != 0;
  const auto status_of = [](const NodeView& n) {
    return n.fenced ? std::string("fenced") : n.reachable ? "alive" : "unreachable";
  };

  if (env.format == Format::kJson) {
    Json j;
    j["cluster_id"] = cluster_id;
    j["metadata_leader"] = md->metadata_leader() == 0 ? Json(nullptr) : Json(md->metadata_leader());
    j["healthy"] = healthy;
    Json ns = Json::array();
    for (const auto& [id, n] : nodes) {
      Json nj;
      nj["node_id"] = id;
      nj["address"] = n.address;
      nj["status"] = status_of(n);
      nj["fenced"] = n.fenced;
      nj["reachable"] = n.reachable;
      nj["heartbeat_age_ms"] = n.heartbeat_age_ms ? Json(*n.heartbeat_age_ms) : Json(nullptr);
      nj["metadata_leader"] = id == md->metadata_leader();
      nj["metadata_role"] = n.metadata_role;
      nj["replicas"] = n.replicas;
      nj["leaders"] = n.leaders;
      if (!n.error.empty()) nj["error"] = n.error;
      ns.push_back(std::move(nj));
    }
    j["nodes"] = std::move(ns);
    Json ps;
    ps["total"] = partitions;
    ps["leaderless"] = leaderless;
    ps["under_replicated"] = under_replicated;
    Json list = Json::array();
    for (const PartitionIssue& i : issues) {
      list.push_back({{"topic", i.topic},
                      {"partition", i.partition},
                      {"leader", i.leader == 0 ? Json(nullptr) : Json(i.leader)},
                      {"replicas", IdArray(i.replicas)},
                      {"in_sync", i.in_sync ? IdArray(*i.in_sync) : Json(nullptr)}});
    }
    ps["problems"] = std::move(list);
    j["partitions"] = std::move(ps);
    std::cout << Dump(j) << std::endl;
    return kExitOk;
  }
  std::string leader_text = "none (election in progress?)";
  if (auto it = nodes.find(md->metadata_leader()); it != nodes.end()) {
    leader_text = "node " + std::to_string(it->first) + " (" + it->second.address + ")";
  }
  std::cout << "Cluster:         " << (cluster_id.empty() ? "-" : cluster_id) << "\n"
            << "Metadata leader: " << leader_text << "\n"
            << "Brokers:         " << nodes.size() << " registered, " << alive << " alive\n"
            << "Partitions:      " << partitions << " (" << leaderless << " without leader, "
            << under_replicated << " under-replicated)\n"
            << "Healthy:         " << (healthy ? "yes" : "NO") << "\n\n";
  Table table({"NODE", "ADDRESS", "STATUS", "HEARTBEAT-AGE", "METADATA", "REPLICAS", "LEADERS"});
  for (const auto& [id, n] : nodes) {
    table.AddRow({std::to_string(id), n.address.empty() ? "-" : n.address, status_of(n),
                  n.heartbeat_age_ms ? std::to_string(*n.heartbeat_age_ms) + "ms" : "-",
                  n.metadata_role, std::to_string(n.replicas), std::to_string(n.leaders)});
  }
  std::cout << table.Render();
  if (!issues.empty()) {
    Table bad({"TOPIC", "PARTITION", "LEADER", "REPLICAS", "IN-SYNC"});
    for (const PartitionIssue& i : issues) {
      bad.AddRow({i.topic, std::to_string(i.partition),
                  i.leader == 0 ? "none" : std::to_string(i.leader), JoinIds(i.replicas),
                  i.in_sync ? JoinIds(*i.in_sync) : "unknown"});
    }
    std::cout << "\nPartitions without a leader or under-replicated:\n" << bad.Render();
  }
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace

void AddClusterCommands(CLI::App& app, Registry& r) {
  CLI::App* cluster = app.add_subcommand("cluster", "Cluster-wide status");
  cluster->require_subcommand(1);
  AddLeaf(cluster, r, "status",
          "Nodes and their liveness, the metadata leader, partitions and leaders per node, "
          "under-replicated partitions",
          "raftlogctl cluster status --format json", [](const Env& env) { return RunStatus(env); });
}

}  // namespace raftlog::cli
