// MetadataService: see metadata_service.h.
#include "broker/metadata_service.h"

#include <utility>

#include "grpcpp/grpcpp.h"

namespace raftlog::broker {

MetadataService::MetadataService(Node* node, MetadataStateMachine* state,
                                 MetadataServiceOptions options)
    : router_(node, LeaderRouterOptions{kMetadataGroup, std::move(options.peer_addresses),
                                        options.default_timeout, &IsNotLeaderError}),
      controller_(node, state, options.controller) {}

MetadataService::~MetadataService() = default;

void MetadataService::SetPeerAddress(raft::NodeId id, std::string address) {
  router_.SetPeerAddress(id, std::move(address));
}

template <typename Req, typename Resp>
absl::StatusOr<Resp> MetadataService::Route(
    const Req& req, const MetadataCallOptions& opts, LocalOp<Req, Resp> local,
    grpc::Status (Router::Stub::*remote)(grpc::ClientContext*, const Req&, Resp*)) {
  return router_.Route(
      req, opts, [&](Deadline deadline) { return (controller_.*local)(req, deadline); }, remote);
}

// ---- in-process API ----

#define RAFTLOG_METADATA_OP(Name, Req, Resp)                                                 \
  absl::StatusOr<mdpb::Resp> MetadataService::Name(const mdpb::Req& req,                     \
                                                   const MetadataCallOptions& opts) {        \
    return Route<mdpb::Req, mdpb::Resp>(req, opts, &Controller::Name, &Router::Stub::Name);  \
  }                                                                                          \
  grpc::Status MetadataService::Name(grpc::ServerContext* ctx, const mdpb::Req* req,         \
                                     mdpb::Resp* resp) {                                     \
    return router_.Serve(ctx, resp,                                                          \
                         [&](const MetadataCallOptions& opts) { return Name(*req, opts); }); \
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
RAFTLOG_METADATA_OP(FetchOffsets, FetchOffsetsRequest, FetchOffsetsResponse)
RAFTLOG_METADATA_OP(AllocateProducerIds, AllocateProducerIdsRequest, AllocateProducerIdsResponse)

#undef RAFTLOG_METADATA_OP

}  // namespace raftlog::broker
