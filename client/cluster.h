// Cluster: a client's connection to a raftlog cluster. It keeps one gRPC
// channel per broker address (with stubs for every service), the cluster
// metadata (brokers, topics, partitions, leaders; GetMetadata) cached and
// refreshed on demand, and runs "any broker" calls: metadata, admin and
// consumer-group requests may go to any node (it forwards them to the
// metadata leader), so they are tried on the known brokers in turn, and
// retried while the cluster answers UNAVAILABLE (no leader yet).
//
// ERRORS: a cluster that cannot be reached fails with UNAVAILABLE naming
// every address tried and the last error. Server errors come back with the
// server's message (absl codes mirror gRPC codes).
//
// THREADS: every method is thread-safe; stubs returned stay valid for the
// Cluster's lifetime (channels are never dropped).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client_options.h"
#include "grpcpp/grpcpp.h"
#include "raftlog/api/v1/data.grpc.pb.h"
#include "raftlog/api/v1/groups.grpc.pb.h"
#include "raftlog/metadata/v1/metadata_service.grpc.pb.h"
#include "raftlog/node/v1/node.grpc.pb.h"

namespace raftlog::client {

namespace apipb = ::raftlog::api::v1;
namespace mdpb = ::raftlog::metadata::v1;
namespace nodepb = ::raftlog::node::v1;

struct PartitionInfo {
  int32_t partition = 0;
  uint64_t group_id = 0;
  std::vector<uint64_t> replicas;  // replicas[0] is the preferred leader
  uint64_t leader = 0;             // 0 = unknown
  std::vector<uint64_t> offline_replicas;
};

struct TopicInfo {
  std::string name;
  std::string topic_id;
  std::vector<PartitionInfo> partitions;  // partitions[i].partition == i
};

struct ClusterMetadata {
  std::map<uint64_t, std::string> broker_addresses;  // by node id
  std::set<uint64_t> fenced;
  uint64_t metadata_leader = 0;
  std::map<std::string, TopicInfo> topics;
  std::chrono::steady_clock::time_point fetched_at;

  const TopicInfo* Topic(const std::string& name) const;
  // The leader's node id and address, or NotFound/Unavailable.
  absl::StatusOr<std::pair<uint64_t, std::string>> Leader(const TopicPartition& tp) const;
};

// The stubs of one broker address (one channel).
struct BrokerStubs {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<mdpb::MetadataService::Stub> metadata;
  std::unique_ptr<apipb::DataService::Stub> data;
  std::unique_ptr<apipb::GroupCoordinator::Stub> groups;
  std::unique_ptr<nodepb::NodeAdmin::Stub> admin;
};

// absl::Status from a gRPC status (same code, the server's message).
absl::Status FromGrpc(const grpc::Status& s);

class Cluster {
 public:
  // Checks that some bootstrap broker answers (GetMetadata); the error names
  // every address tried. InvalidArgument for an empty or malformed list.
  static absl::StatusOr<std::shared_ptr<Cluster>> Connect(ClientOptions options);

  const ClientOptions& options() const { return options_; }

  // The cached metadata, refreshed if older than metadata_max_age or if
  // `refresh` (after NOT_LEADER, an unknown topic...).
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> Metadata(bool refresh = false);
  // Marks the cache stale: the next Metadata() fetches.
  void InvalidateMetadata();

  // Stubs for `address` (host:port), created once.
  BrokerStubs& At(const std::string& address);

  // Runs `rpc` on some broker: the metadata leader first when known, then
  // every known broker and bootstrap address; retries UNAVAILABLE (also
  // "no metadata leader yet") until retry_timeout. Other errors return at
  // once.
  template <typename Req, typename Resp, typename Rpc>
  absl::StatusOr<Resp> CallAny(Rpc rpc, const Req& req);

  // CallAny for one MetadataService / GroupCoordinator method.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> CallMetadata(
      grpc::Status (mdpb::MetadataService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
      const Req& req) {
    return CallAny<Req, Resp>([method](BrokerStubs& b, grpc::ClientContext* ctx, const Req& r,
                                       Resp* out) { return ((*b.metadata).*method)(ctx, r, out); },
                              req);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> CallGroups(grpc::Status (apipb::GroupCoordinator::Stub::*method)(
                                      grpc::ClientContext*, const Req&, Resp*),
                                  const Req& req) {
    return CallAny<Req, Resp>([method](BrokerStubs& b, grpc::ClientContext* ctx, const Req& r,
                                       Resp* out) { return ((*b.groups).*method)(ctx, r, out); },
                              req);
  }

  // A fresh context with the request deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  explicit Cluster(ClientOptions options) : options_(std::move(options)) {}
  // Addresses to try, best first.
  std::vector<std::string> CandidateAddresses();
  absl::StatusOr<mdpb::GetMetadataResponse> FetchMetadata();

  const ClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<BrokerStubs>> stubs_;
  std::shared_ptr<const ClusterMetadata> metadata_;
  bool stale_ = true;
};

// ---- implementation of the template ----

template <typename Req, typename Resp, typename Rpc>
absl::StatusOr<Resp> Cluster::CallAny(Rpc rpc, const Req& req) {
  const auto deadline = std::chrono::steady_clock::now() + options_.retry_timeout;
  std::vector<std::string> tried;
  absl::Status last = absl::UnavailableError("no broker address configured");
  while (true) {
    for (const std::string& address : CandidateAddresses()) {
      BrokerStubs& b = At(address);
      auto ctx = NewContext();
      Resp resp;
      grpc::Status s = rpc(b, ctx.get(), req, &resp);
      if (s.ok()) return resp;
      last = FromGrpc(s);
      if (!absl::IsUnavailable(last)) return last;
      if (std::find(tried.begin(), tried.end(), address) == tried.end()) tried.push_back(address);
    }
    if (std::chrono::steady_clock::now() + options_.retry_backoff >= deadline) break;
    std::this_thread::sleep_for(options_.retry_backoff);
  }
  std::string list;
  for (const std::string& a : tried) list += (list.empty() ? "" : ", ") + a;
  return absl::UnavailableError("no raftlog broker answered (tried " + list +
                                "): " + std::string(last.message()));
}

}  // namespace raftlog::client
