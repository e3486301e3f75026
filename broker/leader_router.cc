// LeaderRouter: see leader_router.h.
#include "broker/leader_router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace raftlog::broker {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

LeaderRouterBase::LeaderRouterBase(Node* node, LeaderRouterOptions options)
    : node_(node),
      group_(options.group),
      default_timeout_(options.default_timeout),
      forwardable_(std::move(options.forwardable)),
      peer_addresses_(std::move(options.peer_addresses)) {}

void LeaderRouterBase::SetPeerAddress(raft::NodeId id, std::string address) {
  std::lock_guard<std::mutex> l(mu_);
  peer_addresses_[id] = std::move(address);
}

Deadline LeaderRouterBase::EffectiveDeadline(Deadline requested) const {
  const Deadline cap = std::chrono::system_clock::now() + default_timeout_;
  if (requested == Deadline{}) return cap;
  return std::min(requested, cap);
}

LeaderCallOptions LeaderRouterBase::CallOptionsOf(const grpc::ServerContext& ctx) {
  LeaderCallOptions opts;
  // No deadline from the client shows as a far-future one; Route caps it.
  opts.deadline = ctx.deadline();
  auto range = ctx.client_metadata().equal_range(kForwardedHeader);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == "1") opts.forwarded = true;
  }
  return opts;
}

absl::StatusOr<bool> LeaderRouterBase::LeadsHere() const {
  std::shared_ptr<RaftGroup> group = node_->FindGroup(group_);
  if (group == nullptr) {
    return absl::UnavailableError(
        "this node does not host the metadata group (yet): it is starting or misconfigured");
  }
  return group->is_leader();
}

absl::StatusOr<std::pair<raft::NodeId, std::string>> LeaderRouterBase::ForwardTarget(
    bool forwarded) {
  std::shared_ptr<RaftGroup> group = node_->FindGroup(group_);
  const raft::NodeId leader = group ? group->leader() : raft::kNoNode;
  if (leader == raft::kNoNode || leader == node_->id()) {
    return absl::UnavailableError("metadata leader unknown (election in progress?)");
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = peer_addresses_.find(leader);
  if (forwarded) {
    return absl::UnavailableError(
        absl::StrFormat("not the metadata leader; leader is %d at %s", leader.value(),
                        it == peer_addresses_.end() ? "(address unknown)" : it->second));
  }
  if (it == peer_addresses_.end()) {
    return absl::UnavailableError(absl::StrFormat(
        "not the metadata leader; leader is %d, whose address this node does not know",
        leader.value()));
  }
  return std::make_pair(leader, it->second);
}

void LeaderRouterBase::PrepareForward(grpc::ClientContext* ctx, Deadline deadline) {
  ctx->set_deadline(deadline);
  ctx->AddMetadata(kForwardedHeader, "1");
}

absl::Status LeaderRouterBase::ForwardFailure(const grpc::Status& s, raft::NodeId leader,
                                              const std::string& address) {
  absl::Status st = FromGrpc(s);
  if (st.code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrFormat("forwarded to metadata leader %d at %s: %s",
                                                  leader.value(), address, st.message()));
  }
  return st;
}

grpc::Status LeaderRouterBase::ToServerStatus(grpc::ServerContext* ctx, const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnavailable) {
    std::shared_ptr<RaftGroup> group = node_->FindGroup(group_);
    const raft::NodeId leader = group ? group->leader() : raft::kNoNode;
    if (leader != raft::kNoNode) {
      std::lock_guard<std::mutex> l(mu_);
      auto it = peer_addresses_.find(leader);
      if (it != peer_addresses_.end()) ctx->AddTrailingMetadata(kLeaderAddressTrailer, it->second);
    }
  }
  return ToGrpcStatus(s);
}

}  // namespace raftlog::broker
