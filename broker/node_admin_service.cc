// NodeAdminService: see node_admin_service.h.
#include "broker/node_admin_service.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/strings/str_format.h"
#include "broker/grpc_status.h"

namespace raftlog::broker {
namespace {

namespace pb = raftlog::node::v1;

pb::Role ToProto(raft::Role r) {
  switch (r) {
    case raft::Role::kLeader:
      return pb::ROLE_LEADER;
    case raft::Role::kCandidate:
      return pb::ROLE_CANDIDATE;
    case raft::Role::kPreCandidate:
      return pb::ROLE_PRE_CANDIDATE;
    case raft::Role::kFollower:
      break;
  }
  return pb::ROLE_FOLLOWER;
}

void FillGroup(const GroupStatusInfo& g, pb::GroupStatus* out) {
  out->set_group(g.group);
  out->set_role(ToProto(g.raft.role));
  out->set_term(g.raft.term.value());
  out->set_leader(g.raft.leader.value());
  out->set_commit_index(g.raft.commit.value());
  out->set_applied_index(g.raft.applied.value());
  out->set_first_index(g.first_index.value());
  out->set_last_index(g.raft.last_index.value());
  out->set_recovering(g.raft.recovering);
  for (raft::NodeId v : g.raft.conf_state.voters) out->add_voters(v.value());
  for (const FollowerStatus& f : g.followers) {
    pb::FollowerProgress* p = out->add_followers();
    p->set_node(f.node.value());
    p->set_match_index(f.progress.match.value());
    p->set_next_index(f.progress.next.value());
    p->set_lag(f.lag);
    p->set_state(std::string(raft::ProgressStateName(f.progress.state)));
    p->set_recent_active(f.progress.recent_active);
  }
  out->set_log_start_offset(g.log_start_offset);
  out->set_high_watermark(g.high_watermark);
  out->set_log_end_offset(g.log_end_offset);
}

}  // namespace

NodeAdminService::NodeAdminService(Node* node, NodeIdentity identity,
                                   std::function<std::vector<PeerStats>()> peer_stats)
    : node_(node), identity_(std::move(identity)), peer_stats_(std::move(peer_stats)) {}

grpc::Status NodeAdminService::Refuse() const {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "node is shutting down; retry on another node");
}

grpc::Status NodeAdminService::NotLeader(grpc::ServerContextBase* ctx,
                                         const absl::Status& s) const {
  if (std::optional<raft::NodeId> leader = raft::LeaderHint(s)) {
    auto it = identity_.peer_addresses.find(*leader);
    if (it != identity_.peer_addresses.end()) {
      ctx->AddTrailingMetadata("raftlog-leader-address", it->second);
    }
  }
  return ToGrpcStatus(s);
}

grpc::Status NodeAdminService::Status(grpc::ServerContext*, const pb::StatusRequest* req,
                                      pb::StatusResponse* resp) {
  resp->set_node(node_->id().value());
  resp->set_cluster_id(identity_.cluster_id);
  resp->set_address(identity_.advertised_address);
  const std::vector<GroupId> groups(req->groups().begin(), req->groups().end());
  absl::StatusOr<std::vector<GroupStatusInfo>> status = node_->Status(groups);
  if (!status.ok()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "node is starting (recovering its groups) or stopping");
  }
  for (const GroupStatusInfo& g : *status) FillGroup(g, resp->add_groups());
  if (peer_stats_) {
    for (const PeerStats& p : peer_stats_()) {
      pb::PeerStatus* out = resp->add_peers();
      out->set_node(p.id.value());
      out->set_address(p.address);
      out->set_connected(p.connected);
      out->set_batches_sent(p.batches_sent);
      out->set_messages_dropped(p.messages_dropped);
    }
  }
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::EnsureGroup(grpc::ServerContext*, const pb::EnsureGroupRequest* req,
                                           pb::EnsureGroupResponse* resp) {
  if (draining_.load()) return Refuse();
  std::vector<raft::NodeId> voters;
  for (uint64_t v : req->voters()) voters.push_back(raft::NodeId(v));
  absl::StatusOr<bool> created = node_->EnsureGroup(req->group(), std::move(voters));
  if (!created.ok()) return ToGrpcStatus(created.status());
  resp->set_created(*created);
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::RemoveGroup(grpc::ServerContext*, const pb::RemoveGroupRequest* req,
                                           pb::RemoveGroupResponse*) {
  if (draining_.load()) return Refuse();
  return ToGrpcStatus(node_->RemoveGroup(req->group()));
}

grpc::ServerUnaryReactor* NodeAdminService::Propose(grpc::CallbackServerContext* ctx,
                                                    const pb::ProposeRequest* req,
                                                    pb::ProposeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (draining_.load()) {
    reactor->Finish(Refuse());
    return reactor;
  }
  if (req->group() == kMetadataGroup) {
    // Metadata commands carry choices only the controller makes (ids,
    // placement, times): they enter the log through MetadataService alone.
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "group 0 is the metadata group: change metadata through "
                                 "raftlog.metadata.v1.MetadataService"));
    return reactor;
  }
  // The node fails a proposal that is not committed in time; keep that
  // within the caller's deadline (and at most 30 s).
  const auto now = std::chrono::system_clock::now();
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(ctx->deadline() - now);
  timeout = std::clamp(timeout, std::chrono::milliseconds(1), std::chrono::milliseconds(30000));
  std::vector<std::string> entries(req->entries().begin(), req->entries().end());
  node_->Propose(
      req->group(), std::move(entries),
      [this, ctx, reactor, resp](absl::StatusOr<ProposeResult> r) {
        // On the node's loop thread; Finish only queues the answer.
        if (!r.ok()) {
          reactor->Finish(NotLeader(ctx, r.status()));
          return;
        }
        for (raft::LogIndex i : r->indexes) resp->add_indexes(i.value());
        for (int64_t o : r->base_offsets) resp->add_base_offsets(o);
        reactor->Finish(grpc::Status::OK);
      },
      timeout);
  return reactor;
}

grpc::Status NodeAdminService::Read(grpc::ServerContext* ctx, const pb::ReadRequest* req,
                                    pb::ReadResponse* resp) {
  std::shared_ptr<RaftGroup> g = node_->FindGroup(req->group());
  if (!g) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrFormat("group %d is not hosted here", req->group()));
  }
  const storage::PartitionLog* log = g->partition_log();
  if (log == nullptr) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the metadata group has no records to read");
  }
  if (!g->is_leader()) {
    const raft::NodeId leader = g->leader();
    return NotLeader(ctx, absl::FailedPreconditionError(
                              leader == raft::kNoNode
                                  ? std::string("not leader; leader unknown")
                                  : absl::StrFormat("not leader; leader is %d", leader.value())));
  }
  const int64_t hw = g->high_watermark();
  const int64_t start = log->log_start_offset().value();
  resp->set_high_watermark(hw);
  resp->set_log_start_offset(start);
  resp->set_next_offset(req->offset());
  // At or beyond the high watermark but within the log: nothing committed
  // yet, an empty answer, never "out of range" (a consumer must not reset
  // because a new leader's commit index lags: PITFALLS #11).
  if (req->offset() >= hw && req->offset() <= log->next_offset().value()) return grpc::Status::OK;
  if (req->offset() < start || req->offset() > hw) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrFormat("offset %d is out of range; earliest %d, latest %d",
                                        req->offset(), start, hw));
  }
  storage::ReadOptions o;
  o.max_bytes = req->max_bytes() == 0 ? (1u << 20) : req->max_bytes();
  o.max_offset = storage::Offset(hw);
  absl::StatusOr<storage::BatchView> v = log->ReadView(storage::Offset(req->offset()), o);
  if (!v.ok()) return ToGrpcStatus(v.status());
  std::string* out = resp->mutable_batches();
  out->reserve(v->batches_bytes);
  for (std::span<const uint8_t> b : v->batches) {
    out->append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  resp->set_next_offset(v->next_offset.value());
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::TransferLeader(grpc::ServerContext* ctx,
                                              const pb::TransferLeaderRequest* req,
                                              pb::TransferLeaderResponse*) {
  if (draining_.load()) return Refuse();
  absl::Status s = node_->TransferLeader(req->group(), raft::NodeId(req->to_node()));
  return s.ok() ? grpc::Status::OK : NotLeader(ctx, s);
}

grpc::Status NodeAdminService::CompactLog(grpc::ServerContext*, const pb::CompactLogRequest* req,
                                          pb::CompactLogResponse* resp) {
  if (draining_.load()) return Refuse();
  absl::StatusOr<raft::LogIndex> first =
      node_->CompactLog(req->group(), raft::LogIndex(req->up_to_index()));
  if (!first.ok()) return ToGrpcStatus(first.status());
  resp->set_first_index(first->value());
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::LogChecksum(grpc::ServerContext*, const pb::LogChecksumRequest* req,
                                           pb::LogChecksumResponse* resp) {
  if (draining_.load()) return Refuse();
  absl::StatusOr<broker::LogChecksum> sum = node_->LogChecksumOf(
      req->group(), raft::LogIndex(req->from_index()), raft::LogIndex(req->to_index()));
  if (!sum.ok()) return ToGrpcStatus(sum.status());
  resp->set_from_index(sum->from.value());
  resp->set_to_index(sum->to.value());
  resp->set_entries(sum->entries);
  resp->set_crc32c(sum->crc32c);
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::Identity(grpc::ServerContext*, const pb::IdentityRequest*,
                                        pb::IdentityResponse* resp) {
  resp->set_node(node_->id().value());
  resp->set_cluster_id(identity_.cluster_id);
  resp->set_directory_id(identity_.directory_id);
  resp->set_recovering(node_->recovering());
  // "Has data" means: this cluster may hold acknowledged entries a node on an
  // empty directory could have had. Any entry in any hosted group counts, not
  // only a known commit: a follower can hold entries the leader has already
  // committed before it learns the new commit index (the wiped-node test saw
  // a peer whose metadata group had not yet committed answer "no data").
  bool has_data = identity_.directory_had_data;
  absl::StatusOr<std::vector<GroupStatusInfo>> groups = node_->Status({});
  resp->set_started(groups.ok());
  if (groups.ok()) {
    for (const GroupStatusInfo& g : *groups) {
      if (g.raft.last_index.value() > 0 || g.raft.commit.value() > 0) has_data = true;
    }
  }
  resp->set_has_data(has_data);
  return grpc::Status::OK;
}

}  // namespace raftlog::broker
