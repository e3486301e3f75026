// Controller: the leader side of the metadata service (issue 5). On the node
// that leads the metadata group (group 0) it turns MetadataService requests
// into MetadataCommands proposed on group 0 (choosing what apply must not:
// topic ids, replica placement, clock times), answers reads from the local
// MetadataStateMachine behind a ReadIndex barrier (linearizable), and keeps
// broker liveness KRaft style.
//
// LIVENESS: heartbeats are not logged. The controller keeps each broker's
// last heartbeat time in memory (steady clock); a liveness thread, every
// check_period, proposes FenceBroker for every unfenced broker silent for
// longer than session_timeout. When this node becomes leader (a new term)
// every registered broker gets a full session timeout of grace, since the
// previous leader's memory is lost. A heartbeat of a registered, unfenced
// broker with the current epoch is answered from local state (no log entry,
// no ReadIndex round); any other answer (unknown broker, stale epoch:
// register again) is decided after a ReadIndex barrier. A fenced broker's
// heartbeat is proposed as a BrokerHeartbeat command, which unfences it.
//
// NOT LEADER: every method may find that this node does not lead group 0
// (or stopped leading while it ran); it then returns NotLeaderError() and
// nothing was proposed, so the caller (MetadataService) may forward the
// request to the leader.
//
// THREADS: every public method is thread-safe and blocks the calling thread
// (a gRPC server thread or the node's registration loop, never the node's
// loop thread) at most until its deadline plus a short grace. Destruction
// stops and joins the liveness thread promptly (its waits are sliced).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/metadata_state_machine.h"
#include "broker/node.h"
#include "raftlog/metadata/v1/metadata.pb.h"
#include "raftlog/metadata/v1/metadata_service.pb.h"

namespace raftlog::broker {

// A call's deadline (gRPC deadlines are system_clock).
using Deadline = std::chrono::system_clock::time_point;

struct ControllerOptions {
  // A broker silent for longer than this is fenced (Kafka's
  // broker.session.timeout.ms).
  std::chrono::milliseconds session_timeout{9000};
  // How often the liveness thread looks for silent brokers; 0 = a quarter of
  // session_timeout, within [10 ms, 2 s].
  std::chrono::milliseconds check_period{0};
};

// The status a Controller method returns when this node does not lead the
// metadata group: UNAVAILABLE "not the metadata leader" (nothing proposed).
absl::Status NotLeaderError();
bool IsNotLeaderError(const absl::Status& s);

class Controller {
 public:
  // `node` must outlive the controller; `state` is the metadata group's state
  // machine on this node (null until the node has opened it: SetState).
  // Starts the liveness thread.
  Controller(Node* node, MetadataStateMachine* state, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // For a service built before Node::Start opened the metadata group.
  void SetState(MetadataStateMachine* state) { state_.store(state, std::memory_order_release); }

  std::chrono::milliseconds session_timeout() const { return options_.session_timeout; }
  // This node leads group 0 (a snapshot: it may change at any time).
  bool IsLeader() const;

  // ---- the operations (leader side; see metadata_service.proto) ----
  absl::StatusOr<mdpb::RegisterBrokerResponse> RegisterBroker(
      const mdpb::RegisterBrokerRequest& req, Deadline deadline);
  absl::StatusOr<mdpb::BrokerHeartbeatResponse> BrokerHeartbeat(
      const mdpb::BrokerHeartbeatRequest& req, Deadline deadline);
  absl::StatusOr<mdpb::ListBrokersResponse> ListBrokers(const mdpb::ListBrokersRequest& req,
                                                        Deadline deadline);
  absl::StatusOr<mdpb::GetMetadataResponse> GetMetadata(const mdpb::GetMetadataRequest& req,
                                                        Deadline deadline);
  absl::StatusOr<mdpb::CreateTopicResponse> CreateTopic(const mdpb::CreateTopicRequest& req,
                                                        Deadline deadline);
  absl::StatusOr<mdpb::DeleteTopicResponse> DeleteTopic(const mdpb::DeleteTopicRequest& req,
                                                        Deadline deadline);
  absl::StatusOr<mdpb::ListTopicsResponse> ListTopics(const mdpb::ListTopicsRequest& req,
                                                      Deadline deadline);
  absl::StatusOr<mdpb::DescribeTopicResponse> DescribeTopic(const mdpb::DescribeTopicRequest& req,
                                                            Deadline deadline);
  absl::StatusOr<mdpb::AlterTopicConfigResponse> AlterTopicConfig(
      const mdpb::AlterTopicConfigRequest& req, Deadline deadline);
  absl::StatusOr<mdpb::CreatePartitionsResponse> CreatePartitions(
      const mdpb::CreatePartitionsRequest& req, Deadline deadline);
  absl::StatusOr<mdpb::CommitOffsetsResponse> CommitOffsets(const mdpb::CommitOffsetsRequest& req,
                                                            Deadline deadline);
  absl::StatusOr<mdpb::FetchOffsetsResponse> FetchOffsets(const mdpb::FetchOffsetsRequest& req,
                                                          Deadline deadline);
  // Deletes every committed offset of `group` (one DeleteGroupOffsets
  // entry) and returns how many there were when it applied. For the group
  // coordinator, which checks first that the group has no members; not a
  // MetadataService call.
  absl::StatusOr<int64_t> DeleteGroupOffsets(const std::string& group, Deadline deadline);
  // Every group with committed offsets, by id, read behind a ReadIndex
  // barrier like FetchOffsets (for the coordinator's ListGroups).
  absl::StatusOr<std::vector<CommittedGroup>> ListCommittedGroups(Deadline deadline);
  absl::StatusOr<mdpb::AllocateProducerIdsResponse> AllocateProducerIds(
      const mdpb::AllocateProducerIdsRequest& req, Deadline deadline);

  // Runs one liveness check now (the thread's body; public for tests).
  void CheckLiveness();

 private:
  // The state machine, or Unavailable while it is not open.
  absl::StatusOr<MetadataStateMachine*> State() const;
  // Proposes `cmd` on group 0 and waits for its apply outcome; the state
  // machine's rejection is returned as the error. `cancel` (may be null)
  // abandons the wait early (outcome unknown).
  absl::StatusOr<ApplyResult> Commit(const mdpb::MetadataCommand& cmd, Deadline deadline,
                                     const std::atomic<bool>* cancel = nullptr);
  // Returns once the local state machine reflects every write committed
  // before the call (Raft ReadIndex), then the state to read.
  absl::StatusOr<MetadataStateMachine*> Barrier(Deadline deadline);
  // Registered, unfenced broker ids, ascending.
  static std::vector<uint64_t> LiveBrokers(const std::vector<mdpb::Broker>& brokers);
  void RecordHeartbeat(uint64_t node_id);
  // Takes the partition leaderships a heartbeat reports (higher term wins;
  // groups the node no longer reports are forgotten for it).
  void RecordLeadership(const mdpb::BrokerHeartbeatRequest& req);
  void LivenessLoop();

  Node* const node_;
  std::atomic<MetadataStateMachine*> state_;
  const ControllerOptions options_;

  std::mutex mu_;  // guards the liveness state below
  // Term in which this node last led group 0 (0 = not leading when last
  // checked) and when the liveness check first saw that term.
  uint64_t leader_term_ = 0;
  std::chrono::steady_clock::time_point leader_since_;
  std::map<uint64_t, std::chrono::steady_clock::time_point> last_heartbeat_;  // by node id
  struct Leadership {
    uint64_t node = 0;
    uint64_t term = 0;
  };
  std::map<uint64_t, Leadership> leaders_;  // by partition group id, from heartbeats

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  std::thread liveness_;
};

}  // namespace raftlog::broker
