// LeaderRouter: runs a request on the leader of one Raft group (the metadata
// group), for the gRPC services whose work happens there (MetadataService,
// GroupCoordinatorService).
//
// ROUTING: on the group's leader the operation runs locally. Elsewhere it is
// forwarded ONCE to the leader's address (from the peer address map) over a
// gRPC stub per peer, created lazily and reused, with the caller's deadline
// and the request metadata "x-raftlog-forwarded: 1". A forwarded request
// never travels further: if it reaches a non-leader (leadership moved) it is
// answered UNAVAILABLE "not the metadata leader; leader is N at ADDR". No
// leader known is UNAVAILABLE "metadata leader unknown (election in
// progress?)". Serve() adds, to a gRPC answer with UNAVAILABLE, the leader's
// address in the trailing metadata "raftlog-leader-address" when known.
//
// A local attempt that fails with a status `Options::forwardable` accepts
// (the local side found leadership gone before doing anything) may still be
// forwarded once: nothing was done, so nothing can happen twice.
//
// DEADLINES: a call without a deadline gets now + default_timeout; longer
// deadlines are capped to that.
//
// THREADS: thread-safe; Route blocks the calling thread for the local
// operation or the forwarded call, bounded by the deadline.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/grpc_status.h"
#include "broker/node.h"
#include "grpcpp/grpcpp.h"

namespace raftlog::broker {

// The request metadata key that marks a forwarded request.
inline constexpr char kForwardedHeader[] = "x-raftlog-forwarded";
// The trailing metadata key naming the metadata leader's address.
inline constexpr char kLeaderAddressTrailer[] = "raftlog-leader-address";

// A call's deadline (gRPC deadlines are system_clock; same alias as controller.h).
using Deadline = std::chrono::system_clock::time_point;

// How one in-process call is made.
struct LeaderCallOptions {
  // Absolute deadline; the default (epoch) means now + default_timeout.
  Deadline deadline{};
  // The request was forwarded here by another node: never forward it again.
  bool forwarded = false;
};

struct LeaderRouterOptions {
  GroupId group = kMetadataGroup;
  // Every voter's client address (host:port), this node's included.
  std::map<raft::NodeId, std::string> peer_addresses;
  // Deadline of a call that comes without one (and the cap of any deadline).
  std::chrono::milliseconds default_timeout{10000};
  // A local failure after which forwarding is safe (nothing was done); null
  // = never forward after a local attempt.
  std::function<bool(const absl::Status&)> forwardable;
};

// The non-template part: addresses, leadership, messages.
class LeaderRouterBase {
 public:
  LeaderRouterBase(Node* node, LeaderRouterOptions options);

  void SetPeerAddress(raft::NodeId id, std::string address);
  Deadline EffectiveDeadline(Deadline requested) const;
  // Deadline and forwarded mark of a gRPC call.
  static LeaderCallOptions CallOptionsOf(const grpc::ServerContext& ctx);
  // This node leads the group; UNAVAILABLE if it does not host it (yet).
  absl::StatusOr<bool> LeadsHere() const;
  // Converts a failed in-process answer for gRPC, adding the leader-address
  // trailer to UNAVAILABLE.
  grpc::Status ToServerStatus(grpc::ServerContext* ctx, const absl::Status& s);

 protected:
  // The leader to forward to (its id and address), or the UNAVAILABLE answer.
  absl::StatusOr<std::pair<raft::NodeId, std::string>> ForwardTarget(bool forwarded);
  bool Forwardable(const absl::Status& s) const { return forwardable_ && forwardable_(s); }
  static void PrepareForward(grpc::ClientContext* ctx, Deadline deadline);
  static absl::Status ForwardFailure(const grpc::Status& s, raft::NodeId leader,
                                     const std::string& address);

  Node* const node_;
  const GroupId group_;
  const std::chrono::milliseconds default_timeout_;
  const std::function<bool(const absl::Status&)> forwardable_;
  std::mutex mu_;  // guards peer_addresses_ (and the stubs of LeaderRouter)
  std::map<raft::NodeId, std::string> peer_addresses_;
};

// Routing for one gRPC service (`Service` is the generated service class,
// e.g. mdpb::MetadataService); keeps one stub per peer.
template <typename Service>
class LeaderRouter : public LeaderRouterBase {
 public:
  using Stub = typename Service::Stub;
  using LeaderRouterBase::LeaderRouterBase;

  // Local-or-forward (see the file comment). `local(deadline)` runs the
  // operation here; `remote` is the stub method forwarding it.
  template <typename Req, typename Resp, typename Local>
  absl::StatusOr<Resp> Route(const Req& req, const LeaderCallOptions& opts, Local&& local,
                             grpc::Status (Stub::*remote)(grpc::ClientContext*, const Req&,
                                                          Resp*)) {
    const Deadline deadline = EffectiveDeadline(opts.deadline);
    absl::StatusOr<bool> here = LeadsHere();
    if (!here.ok()) return here.status();
    if (*here) {
      absl::StatusOr<Resp> r = local(deadline);
      if (r.ok() || !Forwardable(r.status())) return r;
    }
    absl::StatusOr<std::pair<raft::NodeId, std::string>> target = ForwardTarget(opts.forwarded);
    if (!target.ok()) return target.status();
    std::shared_ptr<Stub> stub = StubFor(target->first, target->second);
    grpc::ClientContext ctx;
    PrepareForward(&ctx, deadline);
    Resp resp;
    grpc::Status s = (stub.get()->*remote)(&ctx, req, &resp);
    if (s.ok()) return resp;
    return ForwardFailure(s, target->first, target->second);
  }

  // A gRPC method body: options from `ctx`, then `op(opts)` (usually the
  // in-process API, which calls Route), then the answer or the error.
  template <typename Resp, typename Op>
  grpc::Status Serve(grpc::ServerContext* ctx, Resp* resp, Op&& op) {
    absl::StatusOr<Resp> r = op(CallOptionsOf(*ctx));
    if (!r.ok()) return ToServerStatus(ctx, r.status());
    *resp = *std::move(r);
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<Stub> StubFor(raft::NodeId id, const std::string& address) {
    std::lock_guard<std::mutex> l(mu_);
    PeerStub& p = stubs_[id];
    if (p.stub == nullptr || p.address != address) {
      // Channels connect lazily and reconnect by themselves; one per peer.
      p.address = address;
      p.stub =
          std::make_shared<Stub>(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    }
    return p.stub;
  }

  struct PeerStub {
    std::string address;
    std::shared_ptr<Stub> stub;
  };
  std::map<raft::NodeId, PeerStub> stubs_;  // guarded by mu_
};

}  // namespace raftlog::broker
