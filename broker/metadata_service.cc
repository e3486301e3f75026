// MetadataService: see metadata_service.h.
#include "broker/metadata_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "broker/grpc_status.h"
#include "grpcpp/grpcpp.h"

namespace raftlog::broker {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

bool IsForwarded(const grpc::ServerContext& ctx) {
  auto range = ctx.client_metadata().equal_range(kForwardedHeader);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == "1") return true;
  }
  return false;
}

}  // namespace

MetadataService::MetadataService(Node* node, MetadataStateMachine* state,
                                 MetadataServiceOptions options)
    : node_(node),
      default_timeout_(options.default_timeout),
      peer_addresses_(std::move(options.peer_addresses)),
      controller_(node, state, options.controller) {}

MetadataService::~MetadataService() = default;

void MetadataService::SetPeerAddress(raft::NodeId id, std::string address) {
  std::lock_guard<std::mutex> l(mu_);
  peer_addresses_[id] = std::move(address);
}

std::string MetadataService::AddressOf(raft::NodeId id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = peer_addresses_.find(id);
  return it == peer_addresses_.end() ? std::string("(address unknown)") : it->second;
}

std::shared_ptr<MetadataService::Stub> MetadataService::StubFor(raft::NodeId id,
                                                                std::string* address) {
  std::lock_guard<std::mutex> l(mu_);
  auto a = peer_addresses_.find(id);
  if (a == peer_addresses_.end()) return nullptr;
  *address = a->second;
  PeerStub& p = stubs_[id];
  if (p.stub == nullptr || p.address != a->second) {
    // Channels connect lazily and reconnect by themselves; one per peer.
    p.address = a->second;
    p.stub =
        std::make_shared<Stub>(grpc::CreateChannel(a->second, grpc::InsecureChannelCredentials()));
  }
  return p.stub;
}

Deadline MetadataService::EffectiveDeadline(Deadline requested) const {
  const Deadline cap = std::chrono::system_clock::now() + default_timeout_;
  if (requested == Deadline{}) return cap;
  return std::min(requested, cap);
}

template <typename Req, typename Resp>
absl::StatusOr<Resp> MetadataService::Route(const Req& req, const MetadataCallOptions& opts,
                                            LocalOp<Req, Resp> local, RemoteOp<Req, Resp> remote) {
  const Deadline deadline = EffectiveDeadline(opts.deadline);
  std::shared_ptr<RaftGroup> group = node_->FindGroup(kMetadataGroup);
  if (group == nullptr) {
    return absl::UnavailableError(
        "this node does not host the metadata group (yet): it is starting or misconfigured");
  }
  if (group->is_leader()) {
    absl::StatusOr<Resp> r = (controller_.*local)(req, deadline);
    // Leadership left before anything was proposed: forwarding is safe.
    if (!IsNotLeaderError(r.status())) return r;
  }
  const raft::NodeId leader = group->leader();
  if (leader == raft::kNoNode || leader == node_->id()) {
    return absl::UnavailableError("metadata leader unknown (election in progress?)");
  }
  if (opts.forwarded) {
    return absl::UnavailableError(absl::StrFormat("not the metadata leader; leader is %d at %s",
                                                  leader.value(), AddressOf(leader)));
  }
  std::string address;
  std::shared_ptr<Stub> stub = StubFor(leader, &address);
  if (stub == nullptr) {
    return absl::UnavailableError(absl::StrFormat(
        "not the metadata leader; leader is %d, whose address this node does not know",
        leader.value()));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  ctx.AddMetadata(kForwardedHeader, "1");
  Resp resp;
  grpc::Status s = (stub.get()->*remote)(&ctx, req, &resp);
  if (s.ok()) return resp;
  absl::Status st = FromGrpc(s);
  if (st.code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrFormat("forwarded to metadata leader %d at %s: %s",
                                                  leader.value(), address, st.message()));
  }
  return st;
}

template <typename Req, typename Resp>
grpc::Status MetadataService::Serve(grpc::ServerContext* ctx, const Req* req, Resp* resp,
                                    InProcessOp<Req, Resp> op) {
  MetadataCallOptions opts;
  // No deadline from the client shows as a far-future one; Route caps it.
  opts.deadline = ctx->deadline();
  opts.forwarded = IsForwarded(*ctx);
  absl::StatusOr<Resp> r = (this->*op)(*req, opts);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kUnavailable) {
      std::shared_ptr<RaftGroup> group = node_->FindGroup(kMetadataGroup);
      const raft::NodeId leader = group ? group->leader() : raft::kNoNode;
      if (leader != raft::kNoNode) {
        std::lock_guard<std::mutex> l(mu_);
        auto it = peer_addresses_.find(leader);
        if (it != peer_addresses_.end())
          ctx->AddTrailingMetadata(kLeaderAddressTrailer, it->second);
      }
    }
    return ToGrpcStatus(r.status());
  }
  *resp = *std::move(r);
  return grpc::Status::OK;
}

// ---- in-process API ----

#define RAFTLOG_METADATA_OP(Name, Req, Resp)                                          \
  absl::StatusOr<mdpb::Resp> MetadataService::Name(const mdpb::Req& req,              \
                                                   const MetadataCallOptions& opts) { \
    return Route<mdpb::Req, mdpb::Resp>(req, opts, &Controller::Name, &Stub::Name);   \
  }                                                                                   \
  grpc::Status MetadataService::Name(grpc::ServerContext* ctx, const mdpb::Req* req,  \
                                     mdpb::Resp* resp) {                              \
    return Serve<mdpb::Req, mdpb::Resp>(ctx, req, resp, &MetadataService::Name);      \
  }

RAFTLOG_METADATA_OP(RegisterBroker, RegisterBrokerRequest, RegisterBrokerResponse)
RAFTLOG_METADATA_OP(BrokerHeartbeat, BrokerHeartbeatRequest, BrokerHeartbeatResponse)
RAFTLOG_METADATA_OP(ListBrokers, ListBrokersRequest, ListBrokersResponse)
RAFTLOG_METADATA_OP(GetMetadata, GetMetadataRequest, GetMetadataResponse)
RAFTLOG_METADATA_OP(CreateTopic, CreateTopicRequest, CreateTopicResponse)
RAFTLOG_METADATA_OP(DeleteTopic, DeleteTopicRequest, DeleteTopicResponse)
RAFTLOG_METADATA_OP(ListTopics, ListTopicsRequest, ListTopicsResponse)
RAFTLOG_METADATA_OP(DescribeTopic, DescribeTopicRequest, DescribeTopicResponse)
RAFTLOG_METADATA_OP(AlterTopicConfig, AlterTopicConfigRequest, AlterTopicConfigResponse)
RAFTLOG_METADATA_OP(CreatePartitions, CreatePartitionsRequest, CreatePartitionsResponse)
RAFTLOG_METADATA_OP(CommitOffsets, CommitOffsetsRequest, CommitOffsetsResponse)
RAFTLOG_METADATA_OP(FetchOffsets, FetchOffsetsRequest, FetchOffsetsResponse)
RAFTLOG_METADATA_OP(AllocateProducerIds, AllocateProducerIdsRequest, AllocateProducerIdsResponse)

#undef RAFTLOG_METADATA_OP

}  // namespace raftlog::broker
