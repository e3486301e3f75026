// Cluster: a client's connection to a raftlog cluster. It keeps one gRPC
// channel per broker address (with stubs for every service), the cluster
// metadata (brokers, topics, partitions, leaders; GetMetadata) cached and
// refreshed on demand, and runs "any broker" calls: metadata, admin and
// consumer-group requests may go to any node (it forwards them to the
// metadata leader), so they are tried on the known brokers in turn, and
// retried while the cluster answers UNAVAILABLE (no leader yet) or does not
// answer at all (DEADLINE_EXCEEDED: a paused or partitioned node).
//
// ATTEMPTS: each attempt of an any-broker call has its own deadline,
// attempt_timeout (capped by request_timeout and by what is left of the
// call's retry budget), so one silent broker costs one attempt, not the
// whole budget. A broker that let an attempt time out is "suspect" for a
// while: later calls try it last, until it answers again.
//
// RETRIES AND OUTCOMES: a retried request may have been applied by the
// attempt that timed out (the answer was lost, not the request). Nodes
// forward any-broker calls to the single metadata leader, which applies
// each request at most once per attempt, so a retry is safe but may see the
// first attempt's effect: CreateTopic answering ALREADY_EXISTS, DeleteTopic
// NOT_FOUND... CallControl::outcome_unknown tells the caller, which then
// checks what is there (AdminClient does).
//
// ERRORS: a cluster that cannot be reached fails with UNAVAILABLE (or
// DEADLINE_EXCEEDED when the last attempt timed out) naming every address
// tried and the last error. Server errors come back with the server's
// message (absl codes mirror gRPC codes).
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

// Per-call options of Cluster::CallAny.
struct CallControl {
  // When the whole call (every attempt and back-off) gives up; default now +
  // retry_timeout.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Set to true when some attempt timed out: the request may have been
  // applied even though no answer came (see RETRIES AND OUTCOMES).
  bool* outcome_unknown = nullptr;

  // Default deadline, reporting to `*flag`.
  static CallControl Tracking(bool* flag) {
    CallControl c;
    c.outcome_unknown = flag;
    return c;
  }
};

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

  // The cached metadata without fetching (null before the first fetch),
  // whatever its age.
  std::shared_ptr<const ClusterMetadata> CachedMetadata();
  // The cached metadata if Metadata(false) would return it without a call
  // (not stale, not older than metadata_max_age); else null.
  std::shared_ptr<const ClusterMetadata> FreshCachedMetadata();
  // Metadata() that gives up (DeadlineExceeded or the last error) at
  // `deadline` instead of after retry_timeout.
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> MetadataBefore(
      bool refresh, std::chrono::steady_clock::time_point deadline);

  // Runs `rpc` on some broker: the metadata leader first when known, then
  // every known broker and bootstrap address (suspects last); retries
  // UNAVAILABLE (also "no metadata leader yet") and DEADLINE_EXCEEDED (no
  // answer: next broker) until the call's deadline. Other errors return at
  // once. `rpc` gets a context whose deadline is the attempt's; it may set
  // a longer one (JoinGroup waits for the rebalance).
  template <typename Req, typename Resp, typename Rpc>
  absl::StatusOr<Resp> CallAny(Rpc rpc, const Req& req, CallControl control = {});

  // CallAny for one MetadataService / GroupCoordinator method.
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> CallMetadata(
      grpc::Status (mdpb::MetadataService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
      const Req& req, CallControl control = {}) {
    return CallAny<Req, Resp>([method](BrokerStubs& b, grpc::ClientContext* ctx, const Req& r,
                                       Resp* out) { return ((*b.metadata).*method)(ctx, r, out); },
                              req, control);
  }
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> CallGroups(grpc::Status (apipb::GroupCoordinator::Stub::*method)(
                                      grpc::ClientContext*, const Req&, Resp*),
                                  const Req& req, CallControl control = {}) {
    return CallAny<Req, Resp>([method](BrokerStubs& b, grpc::ClientContext* ctx, const Req& r,
                                       Resp* out) { return ((*b.groups).*method)(ctx, r, out); },
                              req, control);
  }

  // A fresh context with the request deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // A fresh context with one attempt's deadline (attempt_timeout, at most
  // request_timeout), for quick reads of one broker that the caller
  // retries: a silent broker costs one attempt.
  std::unique_ptr<grpc::ClientContext> NewAttemptContext() const;

 private:
  explicit Cluster(ClientOptions options) : options_(std::move(options)) {}
  // Addresses to try, best first (suspects last).
  std::vector<std::string> CandidateAddresses();
  // An attempt on `address` timed out / got an answer.
  void MarkSuspect(const std::string& address);
  void MarkAnswered(const std::string& address);
  absl::StatusOr<mdpb::GetMetadataResponse> FetchMetadata(CallControl control);

  const ClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<BrokerStubs>> stubs_;
  std::shared_ptr<const ClusterMetadata> metadata_;
  bool stale_ = true;
  // Addresses whose last attempt timed out, until when they are tried last.
  std::map<std::string, std::chrono::steady_clock::time_point> suspect_until_;
};

// ---- implementation of the template ----

template <typename Req, typename Resp, typename Rpc>
absl::StatusOr<Resp> Cluster::CallAny(Rpc rpc, const Req& req, CallControl control) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      control.deadline.value_or(Clock::now() + options_.retry_timeout);
  std::vector<std::string> tried;
  absl::Status last =
      absl::DeadlineExceededError("the call's deadline passed before any broker was asked");
  while (true) {
    for (const std::string& address : CandidateAddresses()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      BrokerStubs& b = At(address);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::min({options_.attempt_timeout, options_.request_timeout, left}));
      Resp resp;
      grpc::Status s = rpc(b, &ctx, req, &resp);
      if (std::find(tried.begin(), tried.end(), address) == tried.end()) tried.push_back(address);
      if (s.ok()) {
        MarkAnswered(address);
        return resp;
      }
      last = FromGrpc(s);
      if (absl::IsDeadlineExceeded(last)) {
        // No answer in time: the broker may be paused or cut off (or slow:
        // then the request may still be applied; see RETRIES AND OUTCOMES).
        if (control.outcome_unknown != nullptr) *control.outcome_unknown = true;
        MarkSuspect(address);
        continue;
      }
      if (!absl::IsUnavailable(last)) return last;
    }
    if (Clock::now() + options_.retry_backoff >= deadline) break;
    std::this_thread::sleep_for(options_.retry_backoff);
  }
  std::string list;
  for (const std::string& a : tried) list += (list.empty() ? "" : ", ") + a;
  const std::string message =
      "no raftlog broker answered (tried " + list + "): " + std::string(last.message());
  if (absl::IsDeadlineExceeded(last)) return absl::DeadlineExceededError(message);
  return absl::UnavailableError(message);
}

}  // namespace raftlog::client
