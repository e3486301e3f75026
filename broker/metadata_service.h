// MetadataService: the raftlog.metadata.v1.MetadataService gRPC service
// (proto/raftlog/metadata/v1/metadata_service.proto) of one raftlogd, and the
// same operations as in-process C++ calls (the node's own registration and
// heartbeat loop uses those).
//
// ROUTING (LeaderRouter, broker/leader_router.h): on the metadata group's
// leader an operation runs in the local Controller (broker/controller.h).
// Elsewhere it is forwarded ONCE to the leader's address (from the peer
// address map) over a gRPC stub per peer, created lazily and reused, with
// the caller's deadline and the request metadata "x-raftlog-forwarded: 1".
// A forwarded request never travels further: if it reaches a non-leader
// (leadership moved) it is answered UNAVAILABLE "not the metadata leader;
// leader is N at ADDR". No leader known is UNAVAILABLE "metadata leader
// unknown (election in progress?)". When the leader is known, the gRPC
// answer to an UNAVAILABLE carries its address in the trailing metadata
// "raftlog-leader-address".
//
// A local attempt that finds leadership gone before proposing anything
// (Controller's NotLeaderError) may still be forwarded once: nothing was
// written, so no write can happen twice.
//
// THREADS: the gRPC methods run on gRPC's synchronous server threads and
// block while the operation (or the forwarded call) runs, bounded by the
// call's deadline (default and maximum 10 s unless configured). All methods
// are thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/controller.h"
#include "broker/leader_router.h"
#include "broker/metadata_state_machine.h"
#include "broker/node.h"
#include "raftlog/metadata/v1/metadata_service.grpc.pb.h"

namespace raftlog::broker {

struct MetadataServiceOptions {
  ControllerOptions controller;
  // Every metadata voter's client address (host:port), this node's included;
  // NodeConfig::peers.
  std::map<raft::NodeId, std::string> peer_addresses;
  // Deadline of a call that comes without one (and the cap of any deadline).
  std::chrono::milliseconds default_timeout{10000};
};

// How one in-process call is made (deadline, forwarded mark).
using MetadataCallOptions = LeaderCallOptions;

class MetadataService final : public mdpb::MetadataService::Service {
 public:
  // `node` must outlive the service. `state` is the node's metadata state
  // machine (OpenMetadataHost's), or null until SetState() gives it (for a
  // service registered with the gRPC server before Node::Start). Starts the
  // controller's liveness thread; the destructor joins it.
  MetadataService(Node* node, MetadataStateMachine* state, MetadataServiceOptions options);
  ~MetadataService() override;

  void SetState(MetadataStateMachine* state) { controller_.SetState(state); }
  // Changes (or adds) a peer's address; tests that bind port 0 learn theirs late.
  void SetPeerAddress(raft::NodeId id, std::string address);
  Controller& controller() { return controller_; }

  // ---- in-process API: local on the leader, else forwarded once ----
  absl::StatusOr<mdpb::RegisterBrokerResponse> RegisterBroker(
      const mdpb::RegisterBrokerRequest& req, const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::BrokerHeartbeatResponse> BrokerHeartbeat(
      const mdpb::BrokerHeartbeatRequest& req, const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::ListBrokersResponse> ListBrokers(const mdpb::ListBrokersRequest& req,
                                                        const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::GetMetadataResponse> GetMetadata(const mdpb::GetMetadataRequest& req,
                                                        const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::CreateTopicResponse> CreateTopic(const mdpb::CreateTopicRequest& req,
                                                        const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::DeleteTopicResponse> DeleteTopic(const mdpb::DeleteTopicRequest& req,
                                                        const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::ListTopicsResponse> ListTopics(const mdpb::ListTopicsRequest& req,
                                                      const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::DescribeTopicResponse> DescribeTopic(const mdpb::DescribeTopicRequest& req,
                                                            const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::AlterTopicConfigResponse> AlterTopicConfig(
      const mdpb::AlterTopicConfigRequest& req, const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::CreatePartitionsResponse> CreatePartitions(
      const mdpb::CreatePartitionsRequest& req, const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::FetchOffsetsResponse> FetchOffsets(const mdpb::FetchOffsetsRequest& req,
                                                          const MetadataCallOptions& opts = {});
  absl::StatusOr<mdpb::AllocateProducerIdsResponse> AllocateProducerIds(
      const mdpb::AllocateProducerIdsRequest& req, const MetadataCallOptions& opts = {});

  // ---- gRPC ----
  grpc::Status RegisterBroker(grpc::ServerContext* ctx, const mdpb::RegisterBrokerRequest* req,
                              mdpb::RegisterBrokerResponse* resp) override;
  grpc::Status BrokerHeartbeat(grpc::ServerContext* ctx, const mdpb::BrokerHeartbeatRequest* req,
                               mdpb::BrokerHeartbeatResponse* resp) override;
  grpc::Status ListBrokers(grpc::ServerContext* ctx, const mdpb::ListBrokersRequest* req,
                           mdpb::ListBrokersResponse* resp) override;
  grpc::Status GetMetadata(grpc::ServerContext* ctx, const mdpb::GetMetadataRequest* req,
                           mdpb::GetMetadataResponse* resp) override;
  grpc::Status CreateTopic(grpc::ServerContext* ctx, const mdpb::CreateTopicRequest* req,
                           mdpb::CreateTopicResponse* resp) override;
  grpc::Status DeleteTopic(grpc::ServerContext* ctx, const mdpb::DeleteTopicRequest* req,
                           mdpb::DeleteTopicResponse* resp) override;
  grpc::Status ListTopics(grpc::ServerContext* ctx, const mdpb::ListTopicsRequest* req,
                          mdpb::ListTopicsResponse* resp) override;
  grpc::Status DescribeTopic(grpc::ServerContext* ctx, const mdpb::DescribeTopicRequest* req,
                             mdpb::DescribeTopicResponse* resp) override;
  grpc::Status AlterTopicConfig(grpc::ServerContext* ctx, const mdpb::AlterTopicConfigRequest* req,
                                mdpb::AlterTopicConfigResponse* resp) override;
  grpc::Status CreatePartitions(grpc::ServerContext* ctx, const mdpb::CreatePartitionsRequest* req,
                                mdpb::CreatePartitionsResponse* resp) override;
  grpc::Status FetchOffsets(grpc::ServerContext* ctx, const mdpb::FetchOffsetsRequest* req,
                            mdpb::FetchOffsetsResponse* resp) override;
  grpc::Status AllocateProducerIds(grpc::ServerContext* ctx,
                                   const mdpb::AllocateProducerIdsRequest* req,
                                   mdpb::AllocateProducerIdsResponse* resp) override;

 private:
  using Router = LeaderRouter<mdpb::MetadataService>;
  template <typename Req, typename Resp>
  using LocalOp = absl::StatusOr<Resp> (Controller::*)(const Req&, Deadline);

  // Local (in the controller) or forwarded to the leader.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Route(const Req& req, const MetadataCallOptions& opts,
                             LocalOp<Req, Resp> local,
                             grpc::Status (Router::Stub::*remote)(grpc::ClientContext*, const Req&,
                                                                  Resp*));

  Router router_;
  Controller controller_;  // last: its thread stops before the rest goes
};

}  // namespace raftlog::broker
