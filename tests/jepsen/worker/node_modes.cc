// jepsen_worker's one-shot modes: each prints one JSON object on stdout and
// exits 0, or prints "jepsen_worker: <mode>: <CODE>: <message>" on stderr and
// exits 1 (UNIMPLEMENTED from a node without the RPC included).
//   status           NodeAdmin.Status of --node (all groups, or --group only)
//   checksum         NodeAdmin.LogChecksum of --node for Raft group --group
//                    over [--from, --to] (defaults: the node's first index and
//                    commit index, from a Status call made first anyway to
//                    learn the node id)
//   transfer-leader  NodeAdmin.TransferLeader(--group, --to) sent to --node
//   metadata         GetMetadata (any broker of --bootstrap) for --topic (every
//                    topic without it): partitions and brokers
// The node calls use a channel of their own (not the client's Cluster): they
// must work on a node cut off from the metadata leader. Each call has the
// --timeout-ms deadline and is not retried.
#include <cstdio>
#include <iostream>

#include "client/admin_client.h"
#include "grpcpp/grpcpp.h"
#include "raftlog/node/v1/node.grpc.pb.h"
#include "tests/jepsen/worker/modes.h"
#include "tests/jepsen/worker/outcome.h"

namespace raftlog::jepsen {

namespace {

namespace nodepb = ::raftlog::node::v1;
namespace mdpb = ::raftlog::metadata::v1;

std::string RoleName(nodepb::Role r) {
  switch (r) {
    case nodepb::ROLE_LEADER:
      return "leader";
    case nodepb::ROLE_FOLLOWER:
      return "follower";
    case nodepb::ROLE_CANDIDATE:
      return "candidate";
    case nodepb::ROLE_PRE_CANDIDATE:
      return "pre-candidate";
    default:
      return "unknown";
  }
}

std::unique_ptr<nodepb::NodeAdmin::Stub> NodeStub(const WorkerOptions& o) {
  return nodepb::NodeAdmin::NewStub(
      grpc::CreateChannel(o.node, grpc::InsecureChannelCredentials()));
}

void Deadline(grpc::ClientContext& ctx, const WorkerOptions& o) {
  ctx.set_deadline(std::chrono::system_clock::now() + o.node_timeout);
}

int Fail(const WorkerOptions& o, const absl::Status& s) {
  std::fprintf(stderr, "jepsen_worker: %s: %s\n", o.mode_name.c_str(), ErrorString(s).c_str());
  return 1;
}

int Print(const Json& j) {
  std::cout << j.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
  return 0;
}

absl::StatusOr<nodepb::StatusResponse> NodeStatus(const WorkerOptions& o,
                                                  nodepb::NodeAdmin::Stub& stub,
                                                  std::optional<uint64_t> group) {
  nodepb::StatusRequest req;
  if (group) req.add_groups(*group);
  nodepb::StatusResponse resp;
  grpc::ClientContext ctx;
  Deadline(ctx, o);
  grpc::Status s = stub.Status(&ctx, req, &resp);
  if (!s.ok()) return client::FromGrpc(s);
  return resp;
}

}  // namespace

int RunStatus(const WorkerOptions& o) {
  auto stub = NodeStub(o);
  std::optional<uint64_t> group;
  if (!o.group.empty()) group = o.raft_group();
  absl::StatusOr<nodepb::StatusResponse> r = NodeStatus(o, *stub, group);
  if (!r.ok()) return Fail(o, r.status());
  Json groups = Json::array();
  for (const nodepb::GroupStatus& g : r->groups()) {
    Json voters = Json::array();
    for (uint64_t v : g.voters()) voters.push_back(v);
    groups.push_back(Json{{"group", g.group()},
                          {"role", static_cast<int>(g.role())},
                          {"role_name", RoleName(g.role())},
                          {"term", g.term()},
                          {"leader", g.leader()},
                          {"commit_index", g.commit_index()},
                          {"first_index", g.first_index()},
                          {"last_index", g.last_index()},
                          {"applied_index", g.applied_index()},
                          {"high_watermark", g.high_watermark()},
                          {"log_start_offset", g.log_start_offset()},
                          {"log_end_offset", g.log_end_offset()},
                          {"voters", voters}});
  }
  Json peers = Json::array();
  for (const nodepb::PeerStatus& p : r->peers()) {
    peers.push_back(
        Json{{"node", p.node()}, {"address", p.address()}, {"connected", p.connected()}});
  }
  return Print(Json{{"node", r->node()},
                    {"address", r->address()},
                    {"cluster_id", r->cluster_id()},
                    {"groups", groups},
                    {"peers", peers}});
}

int RunChecksum(const WorkerOptions& o) {
  auto stub = NodeStub(o);
  const uint64_t group = o.raft_group();
  absl::StatusOr<nodepb::StatusResponse> st = NodeStatus(o, *stub, group);
  if (!st.ok()) return Fail(o, st.status());
  uint64_t from = o.from.value_or(0), to = o.to.value_or(0);
  if (!o.from || !o.to) {
    if (st->groups_size() != 1 || st->groups(0).group() != group) {
      return Fail(o, absl::NotFoundError("node " + o.node + " has no replica of group " +
                                         std::to_string(group)));
    }
    if (!o.from) from = st->groups(0).first_index();
    if (!o.to) to = st->groups(0).commit_index();
  }
  nodepb::LogChecksumRequest req;
  req.set_group(group);
  req.set_from_index(from);
  req.set_to_index(to);
  nodepb::LogChecksumResponse resp;
  grpc::ClientContext ctx;
  Deadline(ctx, o);
  if (grpc::Status s = stub->LogChecksum(&ctx, req, &resp); !s.ok()) {
    return Fail(o, client::FromGrpc(s));
  }
  return Print(Json{{"node", st->node()},
                    {"address", o.node},
                    {"group", group},
                    {"from_index", resp.from_index()},
                    {"to_index", resp.to_index()},
                    {"entries", resp.entries()},
                    {"crc32c", resp.crc32c()}});
}

int RunTransferLeader(const WorkerOptions& o) {
  auto stub = NodeStub(o);
  nodepb::TransferLeaderRequest req;
  req.set_group(o.raft_group());
  req.set_to_node(*o.to);
  nodepb::TransferLeaderResponse resp;
  grpc::ClientContext ctx;
  Deadline(ctx, o);
  if (grpc::Status s = stub->TransferLeader(&ctx, req, &resp); !s.ok()) {
    return Fail(o, client::FromGrpc(s));
  }
  return Print(Json{{"address", o.node}, {"group", o.raft_group()}, {"to", *o.to}});
}

int RunMetadata(const WorkerOptions& o) {
  client::ClientOptions co = o.ClientOptions();
  co.request_timeout = o.node_timeout;
  co.retry_timeout = o.node_timeout;
  absl::StatusOr<std::shared_ptr<client::Cluster>> cluster = client::Cluster::Connect(co);
  if (!cluster.ok()) return Fail(o, cluster.status());
  client::AdminClient admin(*cluster);
  std::vector<std::string> topics;
  if (!o.topic.empty()) topics.push_back(o.topic);
  absl::StatusOr<mdpb::GetMetadataResponse> md = admin.GetMetadata(topics);
  if (!md.ok()) return Fail(o, md.status());
  Json partitions = Json::array();
  for (const mdpb::TopicMetadata& t : md->topics()) {
    for (const mdpb::PartitionMetadata& p : t.partitions()) {
      Json replicas = Json::array(), offline = Json::array();
      for (uint64_t r : p.replicas()) replicas.push_back(r);
      for (uint64_t r : p.offline_replicas()) offline.push_back(r);
      partitions.push_back(Json{{"topic", t.name()},
                                {"partition", p.partition()},
                                {"group_id", p.group_id()},
                                {"leader", p.leader()},
                                {"leader_term", p.leader_term()},
                                {"replicas", replicas},
                                {"offline_replicas", offline}});
    }
  }
  Json brokers = Json::array();
  for (const mdpb::Broker& b : md->brokers()) {
    brokers.push_back(Json{{"id", b.node_id()},
                           {"address", b.addresses().empty() ? "" : b.addresses(0)},
                           {"fenced", b.fenced()}});
  }
  return Print(Json{{"partitions", partitions},
                    {"brokers", brokers},
                    {"metadata_leader", md->metadata_leader()}});
}

}  // namespace raftlog::jepsen
