// GroupCoordinator: the consumer-group membership state machine (Kafka's
// GroupCoordinator phases, server-side assignment). Pure: no threads, no
// clock (every call gets `now`), no I/O, no gRPC. The gRPC service
// (group_coordinator_service.h) owns one instance per metadata-leadership
// term, serialises calls to it, ticks it, feeds it topic partition counts
// and persists offsets; this class only decides.
//
// STATES (per group, as in Kafka):
//   Empty               no members. A join moves it to PreparingRebalance.
//   PreparingRebalance  waiting until every member has (re)joined or the
//                       rebalance deadline (start + the largest member
//                       rebalance timeout) passes; then members that did not
//                       join are removed, the generation is bumped, the
//                       assignment computed, and every waiting JoinGroup is
//                       answered: -> CompletingRebalance (or Empty if no one
//                       is left).
//   CompletingRebalance members fetch their assignment (SyncGroup); once all
//                       have -> Stable. Members that do not sync within the
//                       rebalance timeout are removed (-> PreparingRebalance).
//   Stable              heartbeats OK. A new member, a member that changes its
//                       subscription or assignors, a leave, a session expiry
//                       or a partition-count change of a subscribed topic
//                       -> PreparingRebalance (heartbeats then answer
//                       REBALANCE_IN_PROGRESS so members rejoin).
//   Dead                only reported by Describe for unknown groups.
//
// INVARIANTS:
//   - generation only grows; each completed rebalance bumps it by one. A new
//     instance starts a group at the generation its committed offsets
//     recorded (SeedGeneration, called by the service), so generations keep
//     growing across failovers as far as commits show them.
//   - In CompletingRebalance and Stable every member's assignment is the one
//     computed for the current generation; the assignments are disjoint and
//     cover every partition of every subscribed topic (assignors.h).
//   - All members share at least one known assignor (a join that would break
//     this is refused with INCONSISTENT_GROUP_PROTOCOL).
//   - A member waiting in JoinGroup has its callback stored; every stored
//     callback is called exactly once (completion, removal, a newer join of
//     the same member, or FailAll).
//   - Member ids are "<client_id>-<member_id_prefix>-<n>": unique per
//     instance, and across instances when the prefix is (the service uses
//     the leadership term and node id), so an id from an old coordinator is
//     never reissued.
//
// CALLBACKS are called synchronously from inside the call that completes
// the join (Join, Leave, Tick, UpdateTopics, FailAll, ...), after the group
// state is updated; they must not call back into the coordinator.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker/assignors.h"
#include "raftlog/api/v1/errors.pb.h"
#include "raftlog/api/v1/groups.pb.h"

namespace raftlog::broker {

namespace apipb = ::raftlog::api::v1;

struct GroupCoordinatorOptions {
  // Allowed session timeouts (Kafka: group.min/max.session.timeout.ms).
  std::chrono::milliseconds min_session_timeout{1000};
  std::chrono::milliseconds max_session_timeout{30 * 60 * 1000};
  // Used when a join says 0.
  std::chrono::milliseconds default_session_timeout{10000};
  std::chrono::milliseconds default_rebalance_timeout{60000};
  // Makes member ids unique across coordinator instances.
  std::string member_id_prefix = "c";
};

using CoordinatorTime = std::chrono::steady_clock::time_point;

struct GroupMemberInfo {
  std::string member_id;
  std::string client_id;
  std::string host;
  std::vector<std::string> topics;     // subscription, as sent
  std::vector<std::string> assignors;  // known ones, in preference order
  TopicAssignment assignment;          // of the current generation (or the last one)
};

// The outcome of a call: error NONE or a group-protocol error with a message.
struct GroupResult {
  apipb::ErrorCode error = apipb::ERROR_NONE;
  std::string message;
  bool ok() const { return error == apipb::ERROR_NONE; }
};

struct JoinParams {
  std::string group_id;
  std::string member_id;  // "" = new member
  std::string client_id;
  std::string host;
  std::vector<std::string> topics;
  std::vector<std::string> assignors;
  std::chrono::milliseconds session_timeout{0};    // 0 = default
  std::chrono::milliseconds rebalance_timeout{0};  // 0 = default
};

struct JoinResult {
  GroupResult result;
  int32_t generation = -1;
  std::string member_id;
  std::string leader_id;
  std::string assignor;
  std::vector<GroupMemberInfo> members;  // sorted by id
};
using JoinCallback = std::function<void(JoinResult)>;

struct SyncResult {
  GroupResult result;
  TopicAssignment assignment;
  std::string assignor;
};

struct GroupDescription {
  std::string group_id;
  apipb::GroupState state = apipb::GROUP_STATE_DEAD;
  std::string assignor;
  int32_t generation = 0;
  std::string leader_id;
  int32_t member_count = 0;
  std::vector<GroupMemberInfo> members;  // sorted by id (empty from List())
};

class GroupCoordinator {
 public:
  explicit GroupCoordinator(GroupCoordinatorOptions options);
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Joins (or rejoins) a group. `done` is called exactly once: at once
  // (errors; a rejoin with unchanged subscription while the group is not
  // rebalancing returns the current generation) or when the rebalance
  // completes. Returns the member id (assigned here for a new member; "" if
  // refused), so a caller whose wait times out can tell the client.
  std::string Join(const JoinParams& params, CoordinatorTime now, JoinCallback done);
  SyncResult Sync(const std::string& group_id, const std::string& member_id, int32_t generation,
                  CoordinatorTime now);
  GroupResult Heartbeat(const std::string& group_id, const std::string& member_id,
                        int32_t generation, CoordinatorTime now);
  GroupResult Leave(const std::string& group_id, const std::string& member_id, CoordinatorTime now);
  // May this member commit offsets now (Kafka's fencing)? Counts as a
  // heartbeat. member_id "" + generation < 0: simple consumer, allowed only
  // while the group has no members.
  GroupResult ValidateCommit(const std::string& group_id, const std::string& member_id,
                             int32_t generation, CoordinatorTime now);
  // Forgets an Empty group; GROUP_ID_NOT_FOUND / NON_EMPTY_GROUP otherwise.
  GroupResult Delete(const std::string& group_id);

  // nullopt for a group this coordinator does not know.
  std::optional<GroupDescription> Describe(const std::string& group_id) const;
  std::vector<GroupDescription> List() const;  // by id, members left empty

  // Expires silent members and overdue rebalances/syncs.
  void Tick(CoordinatorTime now);
  // The current partition count of every topic. A change for a topic that a
  // Stable/CompletingRebalance group subscribes to starts a rebalance.
  void UpdateTopics(std::map<std::string, int32_t> partition_counts, CoordinatorTime now);
  const std::map<std::string, int32_t>& topics() const { return topics_; }
  bool KnowsGroup(const std::string& group_id) const { return groups_.count(group_id) > 0; }
  // Makes an unknown (or Empty) group's generation at least `floor`, so that
  // a new coordinator continues the generations recorded with the group's
  // committed offsets instead of starting again at 1.
  void SeedGeneration(const std::string& group_id, int32_t floor);
  bool KnowsTopic(const std::string& topic) const { return topics_.count(topic) > 0; }
  // Answers every waiting join with `error` (the coordinator is going away).
  void FailAll(apipb::ErrorCode error, const std::string& message);

  // Group ids must be 1..255 characters without '\0'.
  static GroupResult ValidateGroupId(const std::string& group_id);

 private:
  struct Member {
    GroupMemberInfo info;
    std::chrono::milliseconds session_timeout{0};
    std::chrono::milliseconds rebalance_timeout{0};
    CoordinatorTime last_heard{};
    JoinCallback awaiting_join;  // set while its JoinGroup waits
    bool synced = false;         // fetched this generation's assignment
  };
  struct Group {
    std::string id;
    apipb::GroupState state = apipb::GROUP_STATE_EMPTY;
    int32_t generation = 0;
    std::string leader_id;
    std::string assignor;
    std::map<std::string, Member> members;
    CoordinatorTime deadline{};  // of the rebalance (Preparing) or the syncs (Completing)
    // Partition counts of the subscribed topics the assignment was made with.
    std::map<std::string, int32_t> assigned_counts;
  };

  Group* Find(const std::string& group_id);
  // Error for a member call on an unknown group / member / generation.
  GroupResult CheckMember(Group* g, const std::string& group_id, const std::string& member_id,
                          int32_t generation);
  void PrepareRebalance(Group& g, CoordinatorTime now);
  // Completes the rebalance if every member has joined.
  void MaybeCompleteJoin(Group& g, CoordinatorTime now);
  void CompleteJoin(Group& g, CoordinatorTime now);
  // Removes a member (answering its waiting join with UNKNOWN_MEMBER_ID) and
  // moves the group on.
  void RemoveMember(Group& g, const std::string& member_id, CoordinatorTime now,
                    const std::string& reason);
  JoinResult CurrentJoinResult(const Group& g, const std::string& member_id) const;
  std::chrono::milliseconds RebalanceTimeout(const Group& g) const;
  std::map<std::string, int32_t> SubscribedCounts(const Group& g) const;
  // The first assignor in the leader's list that every member supports.
  std::string ChooseAssignor(const Group& g) const;
  std::set<std::string> CommonAssignors(const Group& g, const std::string& except_member) const;
  GroupDescription DescribeGroup(const Group& g, bool with_members) const;

  const GroupCoordinatorOptions options_;
  std::map<std::string, Group> groups_;
  std::map<std::string, int32_t> topics_;
  uint64_t next_member_ = 1;
};

}  // namespace raftlog::broker
