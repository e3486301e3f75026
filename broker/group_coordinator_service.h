// GroupCoordinatorService: the raftlog.api.v1.GroupCoordinator gRPC service
// (proto/raftlog/api/v1/groups.proto) of one raftlogd, and the same
// operations as in-process C++ calls.
//
// ONE COORDINATOR, ON THE METADATA LEADER: the membership state machine
// (GroupCoordinator, group_coordinator.h) lives on the node that leads the
// metadata group; every other node forwards calls there once (LeaderRouter,
// leader_router.h: same rules, header and trailer as MetadataService).
// Membership is soft state: when this node gains leadership it starts a NEW
// GroupCoordinator (member ids prefixed with node id and term, so an id is
// never reissued) that knows no members; when it loses leadership (or the
// term changes) it drops it, answering waiting joins NOT_COORDINATOR.
// Committed offsets are durable: OffsetCommit is fenced by the coordinator
// (generation, member id) and then written through the Controller's
// CommitOffsets (a metadata log entry); OffsetFetch reads them back (Raft
// ReadIndex). A group exists for ListGroups / DescribeGroup while the
// coordinator holds it in memory OR it has committed offsets (state EMPTY,
// read behind a ReadIndex barrier, so it survives failovers and covers
// groups used only with manual assignment + commit).
//
// DELETE (Kafka's DeleteGroups): refused with NON_EMPTY_GROUP while the
// group has members; else it deletes every committed offset of the group
// (one DeleteGroupOffsets metadata entry) and forgets it in memory;
// GROUP_ID_NOT_FOUND if it had neither. While a delete runs, the group's
// joins and commits are answered NOT_COORDINATOR (retriable), and the delete
// first waits (until its deadline) for the commits already fenced to finish,
// so every commit validated before the delete is ordered before it in the
// metadata log (or lost with its leader's term: a new leader's entries
// follow all it keeps), never after it: a delete leaves no half of a group.
// After the delete the group is unknown: a commit of an old member or
// generation gets UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION like any commit to
// an unknown group (member ids are never reissued); a simple-consumer commit
// (no member, generation -1) starts the group again, as in Kafka, and a
// join starts it again at generation 1.
//
// BACKGROUND: a thread, every tick_period, checks leadership, ticks the
// coordinator (session expiry, rebalance and sync deadlines) and, every
// topic_refresh_period, feeds it the topics' partition counts (so that a
// CreatePartitions rebalances the subscribed groups). A JoinGroup naming a
// topic the coordinator has not seen refreshes them first.
//
// THREADS: gRPC's synchronous server threads. JoinGroup BLOCKS its thread
// until the rebalance completes or the call's deadline (capped at
// default_timeout) is near; then it answers REBALANCE_IN_PROGRESS with the
// member id, and the client joins again with it (its place in the rebalance
// is kept). So at most one server thread per member waiting in a rebalance;
// no other call waits on group state. All methods are thread-safe; the
// coordinator is serialised by one mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/group_coordinator.h"
#include "broker/leader_router.h"
#include "broker/metadata_service.h"
#include "broker/node.h"
#include "raftlog/api/v1/groups.grpc.pb.h"

namespace raftlog::broker {

// (topic, partition).
using PartitionKey = std::pair<std::string, int32_t>;
// High watermarks of the given partitions (for DescribeGroup's lag); a
// partition missing from the answer has an unknown high watermark.
using HighWatermarkFn = std::function<absl::StatusOr<std::map<PartitionKey, int64_t>>(
    const std::vector<PartitionKey>& partitions, Deadline deadline)>;

struct GroupCoordinatorServiceOptions {
  // Timeouts and bounds; member_id_prefix is replaced per leadership term.
  GroupCoordinatorOptions coordinator;
  // Every metadata voter's client address (host:port), this node's included.
  std::map<raft::NodeId, std::string> peer_addresses;
  // Deadline of a call that comes without one, and the cap of any deadline
  // (so also the longest a JoinGroup waits before answering
  // REBALANCE_IN_PROGRESS).
  std::chrono::milliseconds default_timeout{30000};
  std::chrono::milliseconds tick_period{100};
  std::chrono::milliseconds topic_refresh_period{1000};
  // Null: DescribeGroup reports lag -1 (unknown).
  HighWatermarkFn high_watermarks;
  // Tests only: called with the group id by every OffsetCommit the
  // coordinator has fenced, just before its metadata write (so a test can
  // hold a commit in flight).
  std::function<void(const std::string& group)> before_commit_write;
};

class GroupCoordinatorService final : public apipb::GroupCoordinator::Service {
 public:
  // `node` and `metadata` (the node's MetadataService, whose Controller
  // commits and reads offsets and topics) must outlive the service. Starts
  // the background thread; the destructor joins it and answers waiting joins.
  GroupCoordinatorService(Node* node, MetadataService* metadata,
                          GroupCoordinatorServiceOptions options);
  ~GroupCoordinatorService() override;
  GroupCoordinatorService(const GroupCoordinatorService&) = delete;
  GroupCoordinatorService& operator=(const GroupCoordinatorService&) = delete;

  // Changes (or adds) a peer's address; tests that bind port 0 learn theirs late.
  void SetPeerAddress(raft::NodeId id, std::string address);
  // For raftlogd to wire the data service in once it exists.
  void SetHighWatermarks(HighWatermarkFn fn);
  // Stops the background thread, answers every waiting JoinGroup
  // NOT_COORDINATOR and refuses later calls (UNAVAILABLE). Call it before
  // shutting the gRPC server down, so that no handler is left waiting in a
  // rebalance. Idempotent; the destructor calls it.
  void Shutdown();
  // One round of the background work (leadership check, topics, Tick); the
  // thread's body, public for tests.
  void RunPeriodicWork();

  // ---- in-process API: local on the metadata leader, else forwarded once ----
  absl::StatusOr<apipb::JoinGroupResponse> JoinGroup(const apipb::JoinGroupRequest& req,
                                                     const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::SyncGroupResponse> SyncGroup(const apipb::SyncGroupRequest& req,
                                                     const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::HeartbeatResponse> Heartbeat(const apipb::HeartbeatRequest& req,
                                                     const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::LeaveGroupResponse> LeaveGroup(const apipb::LeaveGroupRequest& req,
                                                       const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::OffsetCommitResponse> OffsetCommit(const apipb::OffsetCommitRequest& req,
                                                           const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::OffsetFetchResponse> OffsetFetch(const apipb::OffsetFetchRequest& req,
                                                         const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::DescribeGroupResponse> DescribeGroup(const apipb::DescribeGroupRequest& req,
                                                             const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::ListGroupsResponse> ListGroups(const apipb::ListGroupsRequest& req,
                                                       const LeaderCallOptions& opts = {});
  absl::StatusOr<apipb::DeleteGroupResponse> DeleteGroup(const apipb::DeleteGroupRequest& req,
                                                         const LeaderCallOptions& opts = {});

  // ---- gRPC ----
  grpc::Status JoinGroup(grpc::ServerContext* ctx, const apipb::JoinGroupRequest* req,
                         apipb::JoinGroupResponse* resp) override;
  grpc::Status SyncGroup(grpc::ServerContext* ctx, const apipb::SyncGroupRequest* req,
                         apipb::SyncGroupResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const apipb::HeartbeatRequest* req,
                         apipb::HeartbeatResponse* resp) override;
  grpc::Status LeaveGroup(grpc::ServerContext* ctx, const apipb::LeaveGroupRequest* req,
                          apipb::LeaveGroupResponse* resp) override;
  grpc::Status OffsetCommit(grpc::ServerContext* ctx, const apipb::OffsetCommitRequest* req,
                            apipb::OffsetCommitResponse* resp) override;
  grpc::Status OffsetFetch(grpc::ServerContext* ctx, const apipb::OffsetFetchRequest* req,
                           apipb::OffsetFetchResponse* resp) override;
  grpc::Status DescribeGroup(grpc::ServerContext* ctx, const apipb::DescribeGroupRequest* req,
                             apipb::DescribeGroupResponse* resp) override;
  grpc::Status ListGroups(grpc::ServerContext* ctx, const apipb::ListGroupsRequest* req,
                          apipb::ListGroupsResponse* resp) override;
  grpc::Status DeleteGroup(grpc::ServerContext* ctx, const apipb::DeleteGroupRequest* req,
                           apipb::DeleteGroupResponse* resp) override;

 private:
  using Router = LeaderRouter<apipb::GroupCoordinator>;

  // The leader-side operations (run by the router on the metadata leader).
  absl::StatusOr<apipb::JoinGroupResponse> LocalJoin(const apipb::JoinGroupRequest& req,
                                                     Deadline deadline);
  absl::StatusOr<apipb::OffsetCommitResponse> LocalCommit(const apipb::OffsetCommitRequest& req,
                                                          Deadline deadline);
  absl::StatusOr<apipb::OffsetFetchResponse> LocalFetch(const apipb::OffsetFetchRequest& req,
                                                        Deadline deadline);
  absl::StatusOr<apipb::DescribeGroupResponse> LocalDescribe(const apipb::DescribeGroupRequest& req,
                                                             Deadline deadline);
  absl::StatusOr<apipb::ListGroupsResponse> LocalList(Deadline deadline);
  absl::StatusOr<apipb::DeleteGroupResponse> LocalDelete(const apipb::DeleteGroupRequest& req,
                                                         Deadline deadline);
  // The end of a fenced commit / of a delete of `group`. Require mu_.
  void EndCommitLocked(const std::string& group);
  void EndDeleteLocked(const std::string& group);
  // Runs `f(coordinator)` under the lock; NotLeaderError if this node does
  // not lead the metadata group.
  template <typename F>
  auto WithCoordinator(F&& f) -> absl::StatusOr<decltype(f(std::declval<GroupCoordinator&>()))>;
  // The coordinator of the current leadership (created on first use).
  // Requires mu_.
  absl::StatusOr<GroupCoordinator*> CoordinatorLocked();
  // Drops the coordinator (answers its waiting joins). Requires mu_.
  void DropCoordinatorLocked(const std::string& why);
  // The metadata group's term on this node, 0 if it is not leader.
  uint64_t LeaderTerm();
  // Reads every topic's partition count (ReadIndex) and gives them to the
  // coordinator.
  absl::Status RefreshTopics(Deadline deadline);
  void BackgroundLoop();

  Node* const node_;
  MetadataService* const metadata_;
  const GroupCoordinatorServiceOptions options_;
  Router router_;

  std::mutex mu_;  // guards everything below
  std::unique_ptr<GroupCoordinator> coordinator_;
  uint64_t coordinator_term_ = 0;
  HighWatermarkFn high_watermarks_;
  std::chrono::steady_clock::time_point next_topic_refresh_{};
  bool shut_down_ = false;
  // Per group: commits fenced by the coordinator whose metadata write has
  // not returned yet, and deletes running (their joins and commits are
  // refused). Entries are erased at zero. Kept across coordinators.
  std::map<std::string, int> commits_in_flight_;
  std::map<std::string, int> deletes_running_;
  std::condition_variable commit_ended_;  // with mu_: a commits_in_flight_ count fell

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;   // guarded by stop_mu_
  std::thread background_;  // last: starts after everything else is built
};

}  // namespace raftlog::broker
