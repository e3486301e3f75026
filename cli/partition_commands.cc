// raftlogctl partition transfer-leader TOPIC -p P --to NODE: asks the
// partition's current leader (NodeAdmin.TransferLeader with the partition's
// Raft group id from GetMetadata) to hand leadership to NODE, then waits
// (unless --no-wait) until NODE reports itself leader of the group, asking
// again every second (a transfer to a lagging replica may time out inside
// Raft) until --timeout.
//
// NOTE: raftlogd hands leadership back to each partition's preferred
// replica (replicas[0]) every leader-rebalance-interval-ms (default 5 s;
// 0 disables it), so a transfer away from the preferred replica lasts only
// until then on such clusters.
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "client/admin_client.h"

namespace raftlog::cli {
namespace {

namespace mdpb = client::mdpb;
namespace nodepb = client::nodepb;
using Clock = std::chrono::steady_clock;

struct TransferOpts {
  std::string topic;
  int32_t partition = 0;
  uint64_t to = 0;
  bool no_wait = false;
};

struct Where {
  uint64_t group_id = 0;
  uint64_t leader = 0;
  std::vector<uint64_t> replicas;
  std::map<uint64_t, std::string> addresses;
};

absl::StatusOr<Where> Locate(client::AdminClient& admin, const TransferOpts& o) {
  absl::StatusOr<mdpb::GetMetadataResponse> md = admin.GetMetadata({o.topic});
  if (!md.ok()) return md.status();
  const mdpb::TopicMetadata& t = md->topics(0);
  if (o.partition >= t.partitions_size()) {
    return absl::NotFoundError("topic \"" + o.topic + "\" has no partition " +
                               std::to_string(o.partition) + " (it has " +
                               std::to_string(t.partitions_size()) + ")");
  }
  const mdpb::PartitionMetadata& p = t.partitions(o.partition);
  Where w;
  w.group_id = p.group_id();
  w.leader = p.leader();
  w.replicas.assign(p.replicas().begin(), p.replicas().end());
  for (const mdpb::Broker& b : md->brokers()) {
    if (!b.addresses().empty()) w.addresses[b.node_id()] = b.addresses(0);
  }
  return w;
}

// The role node `node` reports for `group` (nullopt when it cannot be asked),
// and the leader it knows.
std::optional<nodepb::GroupStatus> GroupOn(client::Cluster& cluster, const std::string& address,
                                           uint64_t group) {
  nodepb::StatusRequest req;
  req.add_groups(group);
  nodepb::StatusResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  if (!cluster.At(address).admin->Status(&ctx, req, &resp).ok() || resp.groups_size() != 1) {
    return std::nullopt;
  }
  return resp.groups(0);
}

int RunTransfer(const Env& env, const TransferOpts& o) {
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = env.Connect();
  if (!cluster.ok()) return Fail(cluster.status());
  client::AdminClient admin(*cluster);
  absl::StatusOr<Where> w = Locate(admin, o);
  if (!w.ok()) return Fail(w.status());
  const std::string name = o.topic + "-" + std::to_string(o.partition);
  if (std::find(w->replicas.begin(), w->replicas.end(), o.to) == w->replicas.end()) {
    return Fail(absl::InvalidArgumentError("node " + std::to_string(o.to) +
                                           " is not a replica of " + name + " (replicas " +
                                           JoinIds(w->replicas) + ")"));
  }
  auto target = w->addresses.find(o.to);
  if (target == w->addresses.end()) {
    return Fail(absl::NotFoundError("node " + std::to_string(o.to) + " has no known address"));
  }
  const uint64_t previous = w->leader;
  const auto report = [&](uint64_t leader) {
    if (env.format == Format::kJson) {
      std::cout << Dump(Json{{"topic", o.topic},
                             {"partition", o.partition},
                             {"group_id", w->group_id},
                             {"previous_leader", previous == 0 ? Json(nullptr) : Json(previous)},
                             {"leader", leader == 0 ? Json(nullptr) : Json(leader)},
                             {"waited", !o.no_wait}})
                << std::endl;
    } else if (previous == o.to) {
      std::cout << "Node " << o.to << " already leads " << name << std::endl;
    } else if (o.no_wait) {
      std::cout << "Asked node " << previous << " to hand " << name << " to node " << o.to
                << std::endl;
    } else {
      std::cout << "Leadership of " << name << " moved from node " << previous << " to node "
                << o.to << std::endl;
    }
    return kExitOk;
  };
  if (previous == o.to) return report(o.to);

  Progress progress;
  const Clock::time_point deadline = Clock::now() + env.timeout;
  Clock::time_point next_ask{};
  uint64_t leader = previous;
  absl::Status last = absl::UnavailableError(name + " has no leader");
  bool asked = false;
  while (Clock::now() < deadline) {
    std::optional<nodepb::GroupStatus> on_target = GroupOn(**cluster, target->second, w->group_id);
    if (on_target && on_target->role() == nodepb::ROLE_LEADER) return report(o.to);
    if (on_target && on_target->leader() != 0) leader = on_target->leader();
    if (asked && o.no_wait) return report(leader);
    if (Clock::now() >= next_ask && leader != 0) {
      auto from = w->addresses.find(leader);
      if (from != w->addresses.end()) {
        nodepb::TransferLeaderRequest req;
        req.set_group(w->group_id);
        req.set_to_node(o.to);
        nodepb::TransferLeaderResponse resp;
        auto ctx = (*cluster)->NewContext();
        grpc::Status s = (*cluster)->At(from->second).admin->TransferLeader(ctx.get(), req, &resp);
        last = client::FromGrpc(s);
        // FAILED_PRECONDITION "not leader": leadership moved; ask the new one.
        if (!s.ok() && s.error_code() != grpc::StatusCode::FAILED_PRECONDITION &&
            s.error_code() != grpc::StatusCode::UNAVAILABLE) {
          return Fail(last);
        }
        asked = asked || s.ok();
        progress.Update("asked node " + std::to_string(leader) + " to hand " + name + " to node " +
                        std::to_string(o.to) + "; waiting");
      }
      next_ask = Clock::now() + std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  progress.Clear();
  return Fail(absl::DeadlineExceededError(
      "node " + std::to_string(o.to) + " did not become leader of " + name + " within " +
      std::to_string(env.timeout.count()) + " ms" +
      (last.ok() ? std::string() : " (last answer: " + std::string(last.message()) + ")")));
}

}  // namespace

void AddPartitionCommands(CLI::App& app, Registry& r) {
  CLI::App* partition = app.add_subcommand("partition", "Per-partition operations");
  partition->require_subcommand(1);
  auto o = std::make_shared<TransferOpts>();
  CLI::App* t = AddLeaf(
      partition, r, "transfer-leader",
      "Move one partition's leadership to another of its replicas (note: raftlogd moves it back "
      "to the preferred replica every leader-rebalance-interval-ms unless that is 0)",
      "raftlogctl partition transfer-leader orders --partition 2 --to 3",
      [o](const Env& env) { return RunTransfer(env, *o); });
  t->add_option("topic", o->topic, "topic name")->required();
  t->add_option("-p,--partition", o->partition, "partition number")
      ->required()
      ->check(CLI::NonNegativeNumber);
  t->add_option("--to", o->to, "node id to lead the partition")
      ->required()
      ->check(CLI::PositiveNumber);
  t->add_flag("--no-wait", o->no_wait, "return once the leader accepted the request");
}

}  // namespace raftlog::cli
