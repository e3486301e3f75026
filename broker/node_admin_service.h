// NodeAdminService: the raftlog.node.v1.NodeAdmin gRPC service of one
// raftlogd (proto/raftlog/node/v1/node.proto) over a Node: status of every
// group, group creation/removal, proposals, committed reads, leadership
// transfer, log compaction.
//
// Errors: not-leader answers are FAILED_PRECONDITION "not leader; leader is
// N" (raft::LeaderHint parses it) with the leader's address in the trailing
// metadata key "raftlog-leader-address" when known. A proposal not committed
// within the call's deadline (at most 30 s) is DEADLINE_EXCEEDED and its
// outcome is unknown. While draining (SIGTERM) work is refused with
// UNAVAILABLE; Status keeps answering.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "broker/node.h"
#include "broker/transport.h"
#include "raftlog/node/v1/node.grpc.pb.h"

namespace raftlog::broker {

struct NodeIdentity {
  std::string cluster_id;
  std::string advertised_address;
  std::map<raft::NodeId, std::string> peer_addresses;  // for leader hints
  std::string directory_id;
  // The data directory existed before this start (DataDir::is_new() false).
  bool directory_had_data = false;
};

// Propose uses gRPC's callback API: a waiting proposal holds no server
// thread (it is answered from the node's loop when it commits), so many
// concurrent proposals cost no thread each; the other methods are quick and
// stay synchronous.
class NodeAdminService final : public raftlog::node::v1::NodeAdmin::WithCallbackMethod_Propose<
                                   raftlog::node::v1::NodeAdmin::Service> {
 public:
  // `node` must outlive the service; `peer_stats` may be empty.
  NodeAdminService(Node* node, NodeIdentity identity,
                   std::function<std::vector<PeerStats>()> peer_stats);

  // Refuse new work from now on (SIGTERM).
  void StartDraining() { draining_.store(true); }

  grpc::Status Status(grpc::ServerContext* ctx, const node::v1::StatusRequest* req,
                      node::v1::StatusResponse* resp) override;
  grpc::Status EnsureGroup(grpc::ServerContext* ctx, const node::v1::EnsureGroupRequest* req,
                           node::v1::EnsureGroupResponse* resp) override;
  grpc::Status RemoveGroup(grpc::ServerContext* ctx, const node::v1::RemoveGroupRequest* req,
                           node::v1::RemoveGroupResponse* resp) override;
  grpc::ServerUnaryReactor* Propose(grpc::CallbackServerContext* ctx,
                                    const node::v1::ProposeRequest* req,
                                    node::v1::ProposeResponse* resp) override;
  grpc::Status Read(grpc::ServerContext* ctx, const node::v1::ReadRequest* req,
                    node::v1::ReadResponse* resp) override;
  grpc::Status TransferLeader(grpc::ServerContext* ctx, const node::v1::TransferLeaderRequest* req,
                              node::v1::TransferLeaderResponse* resp) override;
  grpc::Status CompactLog(grpc::ServerContext* ctx, const node::v1::CompactLogRequest* req,
                          node::v1::CompactLogResponse* resp) override;
  grpc::Status Identity(grpc::ServerContext* ctx, const node::v1::IdentityRequest* req,
                        node::v1::IdentityResponse* resp) override;
  grpc::Status LogChecksum(grpc::ServerContext* ctx, const node::v1::LogChecksumRequest* req,
                           node::v1::LogChecksumResponse* resp) override;

 private:
  grpc::Status Refuse() const;
  // FAILED_PRECONDITION not-leader status for `group`, with the address hint.
  grpc::Status NotLeader(grpc::ServerContextBase* ctx, const absl::Status& s) const;

  Node* node_;
  NodeIdentity identity_;
  std::function<std::vector<PeerStats>()> peer_stats_;
  std::atomic<bool> draining_{false};
};

}  // namespace raftlog::broker
