// GroupCoordinatorService: see group_coordinator_service.h.
#include "broker/group_coordinator_service.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "broker/controller.h"
#include "glog/logging.h"

namespace raftlog::broker {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A JoinGroup (or a DeleteGroup waiting for commits) answers this long before
// its deadline, so that the answer (maybe through a forwarding node) arrives
// in time.
constexpr std::chrono::milliseconds kAnswerMargin{200};

template <typename Resp>
void SetError(Resp* resp, const GroupResult& r) {
  resp->set_error(r.error);
  resp->set_error_message(r.message);
}

template <typename Resp>
void SetError(Resp* resp, apipb::ErrorCode code, std::string message) {
  resp->set_error(code);
  resp->set_error_message(std::move(message));
}

void ToProto(const TopicAssignment& a,
             google::protobuf::RepeatedPtrField<apipb::TopicPartitions>* out) {
  for (const auto& [topic, parts] : a) {
    apipb::TopicPartitions* tp = out->Add();
    tp->set_topic(topic);
    tp->mutable_partitions()->Add(parts.begin(), parts.end());
  }
}

void ToProto(const GroupMemberInfo& m, bool with_assignment, apipb::GroupMember* out) {
  out->set_member_id(m.member_id);
  out->set_client_id(m.client_id);
  out->set_host(m.host);
  for (const std::string& t : m.topics) out->add_topics(t);
  if (with_assignment) ToProto(m.assignment, out->mutable_assignment());
}

// A committed-offsets store failure as a response error, or nullopt when it
// must stay a gRPC status (leadership lost: the router may forward; other
// infrastructure errors).
std::optional<apipb::ErrorCode> OffsetErrorCode(const absl::Status& s) {
  if (IsNotLeaderError(s)) return std::nullopt;
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return apipb::UNKNOWN_TOPIC_OR_PARTITION;
    case absl::StatusCode::kInvalidArgument:
      return apipb::INVALID_REQUEST;
    case absl::StatusCode::kDeadlineExceeded:
      return apipb::REQUEST_TIMED_OUT;
    default:
      return std::nullopt;
  }
}

// Where a waiting JoinGroup's answer lands (the coordinator may call it
// after the waiter gave up: it is shared).
class JoinWaiter {
 public:
  void Set(JoinResult r) {
    std::lock_guard<std::mutex> l(mu_);
    result_ = std::move(r);
    cv_.notify_all();
  }
  std::optional<JoinResult> WaitUntil(Deadline deadline) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_until(l, deadline, [&] { return result_.has_value(); });
    return result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<JoinResult> result_;
};

GroupResult BeingDeleted(const std::string& group_id) {
  return GroupResult{apipb::NOT_COORDINATOR,
                     absl::StrCat("group \"", group_id, "\" is being deleted: retry")};
}

apipb::PartitionLag NewRow(const PartitionKey& k) {
  apipb::PartitionLag row;
  row.set_topic(k.first);
  row.set_partition(k.second);
  row.set_committed_offset(-1);
  row.set_high_watermark(-1);
  row.set_lag(-1);
  return row;
}

}  // namespace

GroupCoordinatorService::GroupCoordinatorService(Node* node, MetadataService* metadata,
                                                 GroupCoordinatorServiceOptions options)
    : node_(node),
      metadata_(metadata),
      options_(std::move(options)),
      router_(node, LeaderRouterOptions{kMetadataGroup, options_.peer_addresses,
                                        options_.default_timeout, &IsNotLeaderError}),
      high_watermarks_(options_.high_watermarks) {
  background_ = std::thread([this] { BackgroundLoop(); });
}

GroupCoordinatorService::~GroupCoordinatorService() { Shutdown(); }

void GroupCoordinatorService::Shutdown() {
  std::thread background;
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    stopping_ = true;
    background = std::move(background_);  // a second caller finds nothing to join
  }
  stop_cv_.notify_all();
  if (background.joinable()) background.join();
  std::lock_guard<std::mutex> l(mu_);
  shut_down_ = true;
  DropCoordinatorLocked("the node is shutting down");
}

void GroupCoordinatorService::SetPeerAddress(raft::NodeId id, std::string address) {
  router_.SetPeerAddress(id, std::move(address));
}

void GroupCoordinatorService::SetHighWatermarks(HighWatermarkFn fn) {
  std::lock_guard<std::mutex> l(mu_);
  high_watermarks_ = std::move(fn);
}

// ------------------------------------------------------------ coordinator

template <typename F>
auto GroupCoordinatorService::WithCoordinator(F&& f)
    -> absl::StatusOr<decltype(f(std::declval<GroupCoordinator&>()))> {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<GroupCoordinator*> c = CoordinatorLocked();
  if (!c.ok()) return c.status();
  return f(**c);
}

uint64_t GroupCoordinatorService::LeaderTerm() {
  absl::StatusOr<std::vector<GroupStatusInfo>> s = node_->Status({kMetadataGroup});
  if (!s.ok() || s->size() != 1 || (*s)[0].raft.role != raft::Role::kLeader) return 0;
  return (*s)[0].raft.term.value();
}

absl::StatusOr<GroupCoordinator*> GroupCoordinatorService::CoordinatorLocked() {
  if (shut_down_) return absl::UnavailableError("the node is shutting down");
  absl::StatusOr<bool> here = router_.LeadsHere();
  if (!here.ok() || !*here) {
    DropCoordinatorLocked("this node no longer leads the metadata group");
    return NotLeaderError();
  }
  if (coordinator_ == nullptr) {
    const uint64_t term = LeaderTerm();
    if (term == 0) return NotLeaderError();
    GroupCoordinatorOptions o = options_.coordinator;
    o.member_id_prefix = absl::StrCat("n", node_->id().value(), "t", term);
    coordinator_ = std::make_unique<GroupCoordinator>(std::move(o));
    coordinator_term_ = term;
    next_topic_refresh_ = {};
    LOG(INFO) << "group coordinator: started for metadata term " << term
              << " (members of earlier coordinators must join again)";
  }
  return coordinator_.get();
}

void GroupCoordinatorService::DropCoordinatorLocked(const std::string& why) {
  if (coordinator_ == nullptr) return;
  coordinator_->FailAll(apipb::NOT_COORDINATOR,
                        absl::StrCat("the group coordinator moved (", why, "): join again"));
  coordinator_.reset();
  LOG(INFO) << "group coordinator: stopped (" << why << ")";
}

absl::Status GroupCoordinatorService::RefreshTopics(Deadline deadline) {
  absl::StatusOr<mdpb::ListTopicsResponse> topics =
      metadata_->controller().ListTopics(mdpb::ListTopicsRequest(), deadline);
  if (!topics.ok()) return topics.status();
  std::map<std::string, int32_t> counts;
  for (const mdpb::Topic& t : topics->topics()) counts[t.name()] = t.partition_count();
  std::lock_guard<std::mutex> l(mu_);
  const SteadyClock::time_point now = SteadyClock::now();
  next_topic_refresh_ = now + options_.topic_refresh_period;
  if (coordinator_ != nullptr) coordinator_->UpdateTopics(std::move(counts), now);
  return absl::OkStatus();
}

void GroupCoordinatorService::RunPeriodicWork() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (coordinator_ == nullptr) return;  // created by the first call that needs it
  }
  const uint64_t term = LeaderTerm();
  bool refresh = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (coordinator_ != nullptr && term != coordinator_term_) {
      DropCoordinatorLocked(term == 0 ? "this node no longer leads the metadata group"
                                      : "a new metadata leadership term");
    }
    if (coordinator_ == nullptr) return;
    const SteadyClock::time_point now = SteadyClock::now();
    coordinator_->Tick(now);
    refresh = now >= next_topic_refresh_;
  }
  if (refresh) {
    absl::Status s =
        RefreshTopics(std::chrono::system_clock::now() +
                      std::min(options_.default_timeout, std::chrono::milliseconds(5000)));
    if (!s.ok()) LOG(WARNING) << "group coordinator: cannot read topics: " << s;
  }
}

void GroupCoordinatorService::BackgroundLoop() {
  std::unique_lock<std::mutex> l(stop_mu_);
  while (!stopping_) {
    l.unlock();
    RunPeriodicWork();
    l.lock();
    stop_cv_.wait_for(l, options_.tick_period, [&] { return stopping_; });
  }
}

// ------------------------------------------------------------ leader side

absl::StatusOr<apipb::JoinGroupResponse> GroupCoordinatorService::LocalJoin(
    const apipb::JoinGroupRequest& req, Deadline deadline) {
  absl::StatusOr<std::pair<bool, bool>> unknown = WithCoordinator([&](GroupCoordinator& c) {
    return std::make_pair(std::any_of(req.topics().begin(), req.topics().end(),
                                      [&](const std::string& t) { return !c.KnowsTopic(t); }),
                          !c.KnowsGroup(req.group_id()));
  });
  if (!unknown.ok()) return unknown.status();
  if (unknown->first) {
    // A topic created since the last refresh (or one that does not exist:
    // the member then gets no partitions of it until it appears).
    absl::Status s = RefreshTopics(deadline);
    if (IsNotLeaderError(s)) return s;
  }
  if (unknown->second && GroupCoordinator::ValidateGroupId(req.group_id()).ok()) {
    // New to this coordinator: continue the generations its commits recorded.
    apipb::OffsetFetchRequest f;
    f.set_group_id(req.group_id());
    absl::StatusOr<apipb::OffsetFetchResponse> committed = LocalFetch(f, deadline);
    if (!committed.ok()) return committed.status();
    int32_t floor = 0;
    for (const apipb::CommittedPartitionOffset& o : committed->offsets()) {
      floor = std::max(floor, o.generation());
    }
    absl::Status seeded = WithCoordinator([&](GroupCoordinator& c) {
                            c.SeedGeneration(req.group_id(), floor);
                            return true;
                          }).status();
    if (!seeded.ok()) return seeded;
  }
  JoinParams p;
  p.group_id = req.group_id();
  p.member_id = req.member_id();
  p.client_id = req.client_id();
  p.host = req.client_host();
  p.topics.assign(req.topics().begin(), req.topics().end());
  p.assignors.assign(req.assignors().begin(), req.assignors().end());
  p.session_timeout = std::chrono::milliseconds(req.session_timeout_ms());  // < 0 is refused
  p.rebalance_timeout = std::chrono::milliseconds(std::max(req.rebalance_timeout_ms(), 0));
  auto waiter = std::make_shared<JoinWaiter>();
  bool being_deleted = false;
  absl::StatusOr<std::string> member_id = WithCoordinator([&](GroupCoordinator& c) {
    if (deletes_running_.count(req.group_id()) > 0) {
      being_deleted = true;
      return std::string();
    }
    return c.Join(p, SteadyClock::now(), [waiter](JoinResult r) { waiter->Set(std::move(r)); });
  });
  if (!member_id.ok()) return member_id.status();
  apipb::JoinGroupResponse resp;
  if (being_deleted) {
    SetError(&resp, BeingDeleted(req.group_id()));
    resp.set_member_id(req.member_id());
    return resp;
  }
  std::optional<JoinResult> r = waiter->WaitUntil(deadline - kAnswerMargin);
  if (!r.has_value()) {
    SetError(&resp, apipb::REBALANCE_IN_PROGRESS,
             "the rebalance was still in progress at the call's deadline: join again with "
             "this member id");
    resp.set_member_id(*member_id);
    return resp;
  }
  SetError(&resp, r->result);
  resp.set_generation(r->generation);
  resp.set_member_id(r->member_id);
  resp.set_leader_id(r->leader_id);
  resp.set_assignor(r->assignor);
  for (const GroupMemberInfo& m : r->members) ToProto(m, false, resp.add_members());
  return resp;
}

absl::StatusOr<apipb::OffsetCommitResponse> GroupCoordinatorService::LocalCommit(
    const apipb::OffsetCommitRequest& req, Deadline deadline) {
  apipb::OffsetCommitResponse resp;
  if (req.offsets().empty()) {
    SetError(&resp, apipb::INVALID_REQUEST, "an offset commit needs at least one partition");
    return resp;
  }
  absl::StatusOr<GroupResult> fenced = WithCoordinator([&](GroupCoordinator& c) {
    if (deletes_running_.count(req.group_id()) > 0) return BeingDeleted(req.group_id());
    GroupResult v =
        c.ValidateCommit(req.group_id(), req.member_id(), req.generation(), SteadyClock::now());
    // Until its write returns, a delete of the group waits for this commit.
    if (v.ok()) ++commits_in_flight_[req.group_id()];
    return v;
  });
  if (!fenced.ok()) return fenced.status();
  if (!fenced->ok()) {
    SetError(&resp, *fenced);
    return resp;
  }
  mdpb::CommitOffsetsRequest c;
  c.set_group(req.group_id());
  c.set_generation(req.generation());
  for (const apipb::OffsetCommitPartition& o : req.offsets()) {
    mdpb::OffsetCommitEntry* e = c.add_entries();
    e->set_topic(o.topic());
    e->set_partition(o.partition());
    e->set_offset(o.offset());
    e->set_metadata(o.metadata());
  }
  if (options_.before_commit_write) options_.before_commit_write(req.group_id());
  absl::StatusOr<mdpb::CommitOffsetsResponse> r =
      metadata_->controller().CommitOffsets(c, deadline);
  {
    std::lock_guard<std::mutex> l(mu_);
    EndCommitLocked(req.group_id());
  }
  if (!r.ok()) {
    std::optional<apipb::ErrorCode> code = OffsetErrorCode(r.status());
    if (!code.has_value()) return r.status();
    SetError(&resp, *code, std::string(r.status().message()));
  }
  return resp;
}

absl::StatusOr<apipb::OffsetFetchResponse> GroupCoordinatorService::LocalFetch(
    const apipb::OffsetFetchRequest& req, Deadline deadline) {
  apipb::OffsetFetchResponse resp;
  if (GroupResult v = GroupCoordinator::ValidateGroupId(req.group_id()); !v.ok()) {
    SetError(&resp, v);
    return resp;
  }
  mdpb::FetchOffsetsRequest f;
  f.set_group(req.group_id());
  *f.mutable_topics() = req.topics();
  absl::StatusOr<mdpb::FetchOffsetsResponse> r = metadata_->controller().FetchOffsets(f, deadline);
  if (!r.ok()) {
    std::optional<apipb::ErrorCode> code = OffsetErrorCode(r.status());
    if (!code.has_value()) return r.status();
    SetError(&resp, *code, std::string(r.status().message()));
    return resp;
  }
  for (const mdpb::CommittedOffset& o : r->offsets()) {
    apipb::CommittedPartitionOffset* out = resp.add_offsets();
    out->set_topic(o.topic());
    out->set_partition(o.partition());
    out->set_offset(o.offset());
    out->set_metadata(o.metadata());
    out->set_commit_time_ms(o.commit_time_ms());
    out->set_generation(o.generation());
  }
  return resp;
}

absl::StatusOr<apipb::DescribeGroupResponse> GroupCoordinatorService::LocalDescribe(
    const apipb::DescribeGroupRequest& req, Deadline deadline) {
  apipb::DescribeGroupResponse resp;
  resp.set_group_id(req.group_id());
  if (GroupResult v = GroupCoordinator::ValidateGroupId(req.group_id()); !v.ok()) {
    SetError(&resp, v);
    return resp;
  }
  absl::StatusOr<std::optional<GroupDescription>> d =
      WithCoordinator([&](GroupCoordinator& c) { return c.Describe(req.group_id()); });
  if (!d.ok()) return d.status();
  apipb::OffsetFetchRequest f;
  f.set_group_id(req.group_id());
  absl::StatusOr<apipb::OffsetFetchResponse> offsets = LocalFetch(f, deadline);
  if (!offsets.ok()) return offsets.status();
  if (offsets->error() != apipb::ERROR_NONE) {
    SetError(&resp, offsets->error(), offsets->error_message());
    return resp;
  }
  std::map<PartitionKey, apipb::PartitionLag> rows;
  int32_t committed_generation = 0;
  for (const apipb::CommittedPartitionOffset& o : offsets->offsets()) {
    const PartitionKey k(o.topic(), o.partition());
    rows.emplace(k, NewRow(k)).first->second.set_committed_offset(o.offset());
    committed_generation = std::max(committed_generation, o.generation());
  }
  if (d->has_value()) {
    const GroupDescription& g = **d;
    resp.set_state(g.state);
    resp.set_assignor(g.assignor);
    resp.set_generation(g.generation);
    resp.set_leader_id(g.leader_id);
    for (const GroupMemberInfo& m : g.members) {
      ToProto(m, true, resp.add_members());
      for (const auto& [topic, parts] : m.assignment) {
        for (int32_t p : parts) {
          const PartitionKey k(topic, p);
          rows.emplace(k, NewRow(k)).first->second.set_member_id(m.member_id);
        }
      }
    }
  } else {
    // Not in memory (failover, or offsets committed without joining): EMPTY
    // with the generation its commits recorded (as a join would seed it),
    // DEAD if it has no offsets either.
    resp.set_state(rows.empty() ? apipb::GROUP_STATE_DEAD : apipb::GROUP_STATE_EMPTY);
    resp.set_generation(committed_generation);
  }
  HighWatermarkFn hwm_fn;
  {
    std::lock_guard<std::mutex> l(mu_);
    hwm_fn = high_watermarks_;
  }
  if (hwm_fn && !rows.empty()) {
    std::vector<PartitionKey> keys;
    for (const auto& [k, row] : rows) keys.push_back(k);
    absl::StatusOr<std::map<PartitionKey, int64_t>> hwm = hwm_fn(keys, deadline);
    if (hwm.ok()) {
      for (auto& [k, row] : rows) {
        auto it = hwm->find(k);
        if (it == hwm->end()) continue;
        row.set_high_watermark(it->second);
        if (row.committed_offset() >= 0) {
          row.set_lag(std::max<int64_t>(it->second - row.committed_offset(), 0));
        }
      }
    } else {
      LOG(WARNING) << "group coordinator: no high watermarks for group " << req.group_id() << ": "
                   << hwm.status();
    }
  }
  for (auto& [k, row] : rows) *resp.add_offsets() = std::move(row);
  return resp;
}

absl::StatusOr<apipb::ListGroupsResponse> GroupCoordinatorService::LocalList(Deadline deadline) {
  absl::StatusOr<std::vector<GroupDescription>> in_memory =
      WithCoordinator([&](GroupCoordinator& c) { return c.List(); });
  if (!in_memory.ok()) return in_memory.status();
  apipb::ListGroupsResponse resp;
  absl::StatusOr<std::vector<CommittedGroup>> committed =
      metadata_->controller().ListCommittedGroups(deadline);
  if (!committed.ok()) {
    std::optional<apipb::ErrorCode> code = OffsetErrorCode(committed.status());
    if (!code.has_value()) return committed.status();
    SetError(&resp, *code, std::string(committed.status().message()));
    return resp;
  }
  std::map<std::string, apipb::GroupListing> listed;
  for (const GroupDescription& g : *in_memory) {
    apipb::GroupListing& out = listed[g.group_id];
    out.set_group_id(g.group_id);
    out.set_state(g.state);
    out.set_assignor(g.assignor);
    out.set_generation(g.generation);
    out.set_members(g.member_count);
  }
  for (const CommittedGroup& g : *committed) {
    if (listed.count(g.group) > 0) continue;  // memory knows better
    apipb::GroupListing& out = listed[g.group];
    out.set_group_id(g.group);
    out.set_state(apipb::GROUP_STATE_EMPTY);
    out.set_generation(std::max(g.max_generation, 0));
  }
  for (auto& [id, g] : listed) *resp.add_groups() = std::move(g);
  return resp;
}

absl::StatusOr<apipb::DeleteGroupResponse> GroupCoordinatorService::LocalDelete(
    const apipb::DeleteGroupRequest& req, Deadline deadline) {
  apipb::DeleteGroupResponse resp;
  const std::string& group = req.group_id();
  if (GroupResult v = GroupCoordinator::ValidateGroupId(group); !v.ok()) {
    SetError(&resp, v);
    return resp;
  }
  bool in_memory = false;
  absl::StatusOr<GroupResult> begun = WithCoordinator([&](GroupCoordinator& c) -> GroupResult {
    std::optional<GroupDescription> d = c.Describe(group);
    if (d.has_value() && d->member_count > 0) {
      return GroupResult{apipb::NON_EMPTY_GROUP,
                         absl::StrFormat("group \"%s\" has %d active member%s", group,
                                         d->member_count, d->member_count == 1 ? "" : "s")};
    }
    in_memory = d.has_value();
    ++deletes_running_[group];  // from now on its joins and commits are refused
    return {};
  });
  if (!begun.ok()) return begun.status();
  if (!begun->ok()) {
    SetError(&resp, *begun);
    return resp;
  }
  {
    // Commits fenced before the delete began go first (see the header).
    std::unique_lock<std::mutex> l(mu_);
    if (!commit_ended_.wait_until(l, deadline - kAnswerMargin,
                                  [&] { return commits_in_flight_.count(group) == 0; })) {
      EndDeleteLocked(group);
      SetError(&resp, apipb::REQUEST_TIMED_OUT,
               absl::StrCat("offset commits of group \"", group,
                            "\" were still in flight at the deadline; nothing was deleted"));
      return resp;
    }
  }
  absl::StatusOr<int64_t> deleted = metadata_->controller().DeleteGroupOffsets(group, deadline);
  {
    std::lock_guard<std::mutex> l(mu_);
    EndDeleteLocked(group);
    if (deleted.ok() && coordinator_ != nullptr) {
      // Joins were refused meanwhile, so it is still empty (or unknown).
      std::optional<GroupDescription> d = coordinator_->Describe(group);
      if (d.has_value() && d->member_count == 0) coordinator_->Delete(group);
    }
  }
  if (!deleted.ok()) {
    std::optional<apipb::ErrorCode> code = OffsetErrorCode(deleted.status());
    if (!code.has_value()) return deleted.status();
    SetError(&resp, *code, std::string(deleted.status().message()));
    return resp;
  }
  if (!in_memory && *deleted == 0) {
    SetError(&resp, apipb::GROUP_ID_NOT_FOUND,
             absl::StrCat("group \"", group, "\" has no members and no committed offsets"));
  }
  return resp;
}

void GroupCoordinatorService::EndCommitLocked(const std::string& group) {
  auto it = commits_in_flight_.find(group);
  if (it == commits_in_flight_.end()) return;
  if (--it->second == 0) {
    commits_in_flight_.erase(it);
    commit_ended_.notify_all();
  }
}

void GroupCoordinatorService::EndDeleteLocked(const std::string& group) {
  auto it = deletes_running_.find(group);
  if (it != deletes_running_.end() && --it->second == 0) deletes_running_.erase(it);
}

// ------------------------------------------------------------ in-process API

absl::StatusOr<apipb::JoinGroupResponse> GroupCoordinatorService::JoinGroup(
    const apipb::JoinGroupRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalJoin(req, d); }, &Router::Stub::JoinGroup);
}

absl::StatusOr<apipb::SyncGroupResponse> GroupCoordinatorService::SyncGroup(
    const apipb::SyncGroupRequest& req, const LeaderCallOptions& opts) {
  auto local = [&](Deadline) -> absl::StatusOr<apipb::SyncGroupResponse> {
    absl::StatusOr<SyncResult> r = WithCoordinator([&](GroupCoordinator& c) {
      return c.Sync(req.group_id(), req.member_id(), req.generation(), SteadyClock::now());
    });
    if (!r.ok()) return r.status();
    apipb::SyncGroupResponse resp;
    SetError(&resp, r->result);
    ToProto(r->assignment, resp.mutable_assignment());
    resp.set_assignor(r->assignor);
    return resp;
  };
  return router_.Route(req, opts, local, &Router::Stub::SyncGroup);
}

absl::StatusOr<apipb::HeartbeatResponse> GroupCoordinatorService::Heartbeat(
    const apipb::HeartbeatRequest& req, const LeaderCallOptions& opts) {
  auto local = [&](Deadline) -> absl::StatusOr<apipb::HeartbeatResponse> {
    absl::StatusOr<GroupResult> r = WithCoordinator([&](GroupCoordinator& c) {
      return c.Heartbeat(req.group_id(), req.member_id(), req.generation(), SteadyClock::now());
    });
    if (!r.ok()) return r.status();
    apipb::HeartbeatResponse resp;
    SetError(&resp, *r);
    return resp;
  };
  return router_.Route(req, opts, local, &Router::Stub::Heartbeat);
}

absl::StatusOr<apipb::LeaveGroupResponse> GroupCoordinatorService::LeaveGroup(
    const apipb::LeaveGroupRequest& req, const LeaderCallOptions& opts) {
  auto local = [&](Deadline) -> absl::StatusOr<apipb::LeaveGroupResponse> {
    absl::StatusOr<GroupResult> r = WithCoordinator([&](GroupCoordinator& c) {
      return c.Leave(req.group_id(), req.member_id(), SteadyClock::now());
    });
    if (!r.ok()) return r.status();
    apipb::LeaveGroupResponse resp;
    SetError(&resp, *r);
    return resp;
  };
  return router_.Route(req, opts, local, &Router::Stub::LeaveGroup);
}

absl::StatusOr<apipb::OffsetCommitResponse> GroupCoordinatorService::OffsetCommit(
    const apipb::OffsetCommitRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalCommit(req, d); }, &Router::Stub::OffsetCommit);
}

absl::StatusOr<apipb::OffsetFetchResponse> GroupCoordinatorService::OffsetFetch(
    const apipb::OffsetFetchRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalFetch(req, d); }, &Router::Stub::OffsetFetch);
}

absl::StatusOr<apipb::DescribeGroupResponse> GroupCoordinatorService::DescribeGroup(
    const apipb::DescribeGroupRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalDescribe(req, d); }, &Router::Stub::DescribeGroup);
}

absl::StatusOr<apipb::ListGroupsResponse> GroupCoordinatorService::ListGroups(
    const apipb::ListGroupsRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalList(d); }, &Router::Stub::ListGroups);
}

absl::StatusOr<apipb::DeleteGroupResponse> GroupCoordinatorService::DeleteGroup(
    const apipb::DeleteGroupRequest& req, const LeaderCallOptions& opts) {
  return router_.Route(
      req, opts, [&](Deadline d) { return LocalDelete(req, d); }, &Router::Stub::DeleteGroup);
}

// ------------------------------------------------------------ gRPC

grpc::Status GroupCoordinatorService::JoinGroup(grpc::ServerContext* ctx,
                                                const apipb::JoinGroupRequest* req,
                                                apipb::JoinGroupResponse* resp) {
  apipb::JoinGroupRequest r = *req;
  if (!Router::CallOptionsOf(*ctx).forwarded) r.set_client_host(ctx->peer());
  return router_.Serve(ctx, resp, [&](const LeaderCallOptions& o) { return JoinGroup(r, o); });
}

#define RAFTLOG_GROUP_OP(Name, Req, Resp)                                                       \
  grpc::Status GroupCoordinatorService::Name(grpc::ServerContext* ctx, const apipb::Req* req,   \
                                             apipb::Resp* resp) {                               \
    return router_.Serve(ctx, resp, [&](const LeaderCallOptions& o) { return Name(*req, o); }); \
  }

RAFTLOG_GROUP_OP(SyncGroup, SyncGroupRequest, SyncGroupResponse)
RAFTLOG_GROUP_OP(Heartbeat, HeartbeatRequest, HeartbeatResponse)
RAFTLOG_GROUP_OP(LeaveGroup, LeaveGroupRequest, LeaveGroupResponse)
RAFTLOG_GROUP_OP(OffsetCommit, OffsetCommitRequest, OffsetCommitResponse)
RAFTLOG_GROUP_OP(OffsetFetch, OffsetFetchRequest, OffsetFetchResponse)
RAFTLOG_GROUP_OP(DescribeGroup, DescribeGroupRequest, DescribeGroupResponse)
RAFTLOG_GROUP_OP(ListGroups, ListGroupsRequest, ListGroupsResponse)
RAFTLOG_GROUP_OP(DeleteGroup, DeleteGroupRequest, DeleteGroupResponse)

#undef RAFTLOG_GROUP_OP

}  // namespace raftlog::broker
